//! Projects of an organization and their API keys, with the role checks of SPEC §4
//! and an audit entry for every change.

use crate::domain::dsn;
use crate::domain::rbac::Action;
use crate::error::{AppError, AppResult};
use crate::service::accounts::{self, CreatedKey};
use crate::service::orgs::{actor, entry, name_field, require, require_project};
use crate::service::principal::{Principal, RequestMeta};
use crate::state::AppState;
use crate::store::{ApiKeyRow, ProjectRow};

#[tracing::instrument(skip_all)]
pub async fn projects(
    state: &AppState,
    who: &Principal,
    org_id: &str,
) -> AppResult<Vec<ProjectRow>> {
    require(state, who, org_id, Action::Read).await?;
    Ok(state.db.projects_of_org(org_id).await?)
}

#[tracing::instrument(skip_all)]
pub async fn create_project(
    state: &AppState,
    who: &Principal,
    org_id: &str,
    name: &str,
    meta: &RequestMeta,
) -> AppResult<ProjectRow> {
    require(state, who, org_id, Action::Edit).await?;
    let by = actor(who, meta);
    let project =
        accounts::create_project_by(&state.db, &state.clock, org_id, name, Some(&by)).await?;
    Ok(project)
}

#[tracing::instrument(skip_all)]
pub async fn get_project(
    state: &AppState,
    who: &Principal,
    project_id: &str,
) -> AppResult<ProjectRow> {
    require_project(state, who, project_id, Action::Read).await
}

#[tracing::instrument(skip_all)]
pub async fn rename_project(
    state: &AppState,
    who: &Principal,
    project_id: &str,
    name: &str,
    meta: &RequestMeta,
) -> AppResult<ProjectRow> {
    let project = require_project(state, who, project_id, Action::Edit).await?;
    let name = name_field(name)?;
    let audit = entry(
        state,
        &project.org_id,
        who,
        meta,
        "project.rename",
        Some(project_id),
        Some(serde_json::json!({ "name": name })),
    );
    state.db.rename_project(project_id, &name, &[audit]).await?;
    Ok(ProjectRow { name, ..project })
}

#[tracing::instrument(skip_all)]
pub async fn delete_project(
    state: &AppState,
    who: &Principal,
    project_id: &str,
    meta: &RequestMeta,
) -> AppResult<()> {
    let project = require_project(state, who, project_id, Action::Administer).await?;
    let audit = entry(
        state,
        &project.org_id,
        who,
        meta,
        "project.delete",
        Some(project_id),
        None,
    );
    state
        .db
        .delete_project(project_id, state.clock.now_ms(), &[audit])
        .await?;
    Ok(())
}

/// The DSN of the key `public_id` of project `number`, as the Sentry SDKs take it:
/// this server's public URL (scheme, host, port, path prefix) with the key's public
/// id as user and the project number as last segment.
pub fn dsn(state: &AppState, public_id: &str, number: i64) -> String {
    dsn::build(&state.config.public_url(), public_id, number)
}

#[tracing::instrument(skip_all)]
pub async fn api_keys(
    state: &AppState,
    who: &Principal,
    project_id: &str,
) -> AppResult<Vec<ApiKeyRow>> {
    require_project(state, who, project_id, Action::Edit).await?;
    Ok(state.db.list_api_keys(project_id).await?)
}

#[tracing::instrument(skip_all)]
pub async fn create_api_key(
    state: &AppState,
    who: &Principal,
    project_id: &str,
    label: Option<&str>,
    app: Option<&str>,
    expires_in_days: Option<u32>,
    meta: &RequestMeta,
) -> AppResult<CreatedKey> {
    let project = require_project(state, who, project_id, Action::Edit).await?;
    let by = actor(who, meta);
    accounts::create_api_key_by(
        &state.db,
        &state.clock,
        project_id,
        label,
        app,
        expires_in_days,
        Some((&by, &project.org_id)),
    )
    .await
}

#[tracing::instrument(skip_all)]
pub async fn revoke_api_key(
    state: &AppState,
    who: &Principal,
    project_id: &str,
    key_id: &str,
    meta: &RequestMeta,
) -> AppResult<()> {
    let project = require_project(state, who, project_id, Action::Edit).await?;
    let not_found = || AppError::NotFound("no such API key".into());
    let (key_project, public_id) = state
        .db
        .api_key_project(key_id)
        .await?
        .ok_or_else(not_found)?;
    if key_project != project.id {
        return Err(not_found());
    }
    let audit = entry(
        state,
        &project.org_id,
        who,
        meta,
        "apikey.revoke",
        Some(&format!("tt_live_{public_id}")),
        None,
    );
    accounts::revoke_api_key_by(&state.db, &state.clock, key_id, &[audit]).await?;
    state.keys.forget(&public_id);
    Ok(())
}
