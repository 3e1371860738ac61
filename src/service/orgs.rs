//! Organizations and their members, with the role checks of SPEC §4 and an audit
//! entry for every change; the checks and audit helpers invites, projects and
//! tokens share.

use crate::domain::rbac::{allows, Action, Role};
use crate::error::{AppError, AppResult};
use crate::mail::Email;
use crate::service::accounts::{self, Actor};
use crate::service::principal::{Principal, RequestMeta};
use crate::state::AppState;
use crate::store::{AuditRow, MemberRow, MyOrgRow, OrgRow, ProjectRow};

/// Sends mail; a failure is logged, never fatal to the request that caused it.
pub fn send_mail(state: &AppState, email: Email) {
    state.outbox.enqueue(email);
}

/// The caller's role in `org_id`, or 404 when they are not a member (a foreign
/// organization looks exactly like a missing one), or 403 when the role is too low.
#[tracing::instrument(skip_all)]
pub async fn require(
    state: &AppState,
    who: &Principal,
    org_id: &str,
    action: Action,
) -> AppResult<Role> {
    let role = state
        .db
        .member_role(org_id, &who.user_id)
        .await?
        .and_then(|r| r.parse::<Role>().ok())
        .ok_or_else(|| AppError::NotFound("no such organization".into()))?;
    if !allows(role, action) {
        return Err(AppError::forbidden(format!(
            "This needs the {} role or higher in the organization; you are {role}.",
            action.least_role()
        )));
    }
    Ok(role)
}

/// The project and the caller's role in its organization, checked for `action`.
#[tracing::instrument(skip_all)]
pub async fn require_project(
    state: &AppState,
    who: &Principal,
    project_id: &str,
    action: Action,
) -> AppResult<ProjectRow> {
    let project = state
        .db
        .project_by_id(project_id)
        .await?
        .ok_or_else(|| AppError::NotFound("no such project".into()))?;
    require(state, who, &project.org_id, action)
        .await
        .map_err(|e| match e {
            AppError::NotFound(_) => AppError::NotFound("no such project".into()),
            other => other,
        })?;
    Ok(project)
}

/// The audit entry of a change `who` makes, written in the change's transaction.
pub(crate) fn entry(
    state: &AppState,
    org_id: &str,
    who: &Principal,
    meta: &RequestMeta,
    action: &str,
    target: Option<&str>,
    details: Option<serde_json::Value>,
) -> AuditRow {
    actor(who, meta).entry(org_id, action, target, details, state.clock.now_ms())
}

pub(crate) fn actor<'a>(who: &'a Principal, meta: &'a RequestMeta) -> Actor<'a> {
    Actor {
        user_id: &who.user_id,
        ip: meta.ip.as_deref(),
    }
}

pub(crate) fn name_field(name: &str) -> AppResult<String> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 120 {
        return Err(AppError::invalid("name", "`name` must be 1–120 characters"));
    }
    Ok(name.to_string())
}

#[tracing::instrument(skip_all)]
pub async fn my_orgs(state: &AppState, who: &Principal) -> AppResult<Vec<MyOrgRow>> {
    Ok(state.db.orgs_of_user(&who.user_id).await?)
}

#[tracing::instrument(skip_all)]
pub async fn create_org(
    state: &AppState,
    who: &Principal,
    name: &str,
    meta: &RequestMeta,
) -> AppResult<OrgRow> {
    let by = actor(who, meta);
    accounts::create_org_by(
        &state.db,
        &state.clock,
        name,
        &who.email,
        crate::service::billing::new_org_plan(state),
        Some(&by),
    )
    .await
}

#[tracing::instrument(skip_all)]
pub async fn get_org(state: &AppState, who: &Principal, org_id: &str) -> AppResult<(OrgRow, Role)> {
    let role = require(state, who, org_id, Action::Read).await?;
    let org = state
        .db
        .org_by_id(org_id)
        .await?
        .ok_or_else(|| AppError::NotFound("no such organization".into()))?;
    Ok((org, role))
}

#[tracing::instrument(skip_all)]
pub async fn rename_org(
    state: &AppState,
    who: &Principal,
    org_id: &str,
    name: &str,
    meta: &RequestMeta,
) -> AppResult<OrgRow> {
    require(state, who, org_id, Action::Administer).await?;
    let name = name_field(name)?;
    let audit = entry(
        state,
        org_id,
        who,
        meta,
        "org.rename",
        Some(org_id),
        Some(serde_json::json!({ "name": name })),
    );
    state
        .db
        .rename_org(org_id, &name, &[audit])
        .await
        .map_err(|e| match AppError::from(e) {
            AppError::Conflict(_) => {
                AppError::Conflict(format!("an organization named {name:?} already exists"))
            }
            other => other,
        })?;
    Ok(get_org(state, who, org_id).await?.0)
}

#[tracing::instrument(skip_all)]
pub async fn delete_org(
    state: &AppState,
    who: &Principal,
    org_id: &str,
    meta: &RequestMeta,
) -> AppResult<()> {
    require(state, who, org_id, Action::Administer).await?;
    crate::service::billing::refuse_while_subscribed(state, org_id).await?;
    let audit = entry(state, org_id, who, meta, "org.delete", Some(org_id), None);
    state
        .db
        .delete_org(org_id, state.clock.now_ms(), &[audit])
        .await?;
    Ok(())
}

#[tracing::instrument(skip_all)]
pub async fn members(state: &AppState, who: &Principal, org_id: &str) -> AppResult<Vec<MemberRow>> {
    require(state, who, org_id, Action::Read).await?;
    Ok(state.db.list_members(org_id).await?)
}

fn last_owner() -> AppError {
    AppError::Conflict(
        "The last owner can neither leave nor be demoted; make someone else an owner first.".into(),
    )
}

#[tracing::instrument(skip_all)]
pub async fn set_role(
    state: &AppState,
    who: &Principal,
    org_id: &str,
    user_id: &str,
    role: Role,
    meta: &RequestMeta,
) -> AppResult<()> {
    require(state, who, org_id, Action::Administer).await?;
    let current = state
        .db
        .member_role(org_id, user_id)
        .await?
        .ok_or_else(|| AppError::NotFound("no such member".into()))?;
    let audit = entry(
        state,
        org_id,
        who,
        meta,
        "member.role",
        Some(user_id),
        Some(serde_json::json!({ "from": current, "to": role.as_str() })),
    );
    if state
        .db
        .set_member_role(org_id, user_id, role.as_str(), &[audit])
        .await?
        == 0
    {
        return Err(last_owner());
    }
    Ok(())
}

/// Removes a member (OWNER), or the caller leaves (any role).
#[tracing::instrument(skip_all)]
pub async fn remove_member(
    state: &AppState,
    who: &Principal,
    org_id: &str,
    user_id: &str,
    meta: &RequestMeta,
) -> AppResult<()> {
    let leaving = user_id == who.user_id;
    require(
        state,
        who,
        org_id,
        if leaving {
            Action::Read
        } else {
            Action::Administer
        },
    )
    .await?;
    state
        .db
        .member_role(org_id, user_id)
        .await?
        .ok_or_else(|| AppError::NotFound("no such member".into()))?;
    let action = if leaving {
        "member.leave"
    } else {
        "member.remove"
    };
    let audit = entry(state, org_id, who, meta, action, Some(user_id), None);
    if state.db.remove_member(org_id, user_id, &[audit]).await? == 0 {
        return Err(last_owner());
    }
    Ok(())
}

/// Units the organization's projects used this UTC month (READ).
#[tracing::instrument(skip_all)]
pub async fn usage_this_month(state: &AppState, who: &Principal, org_id: &str) -> AppResult<i64> {
    require(state, who, org_id, Action::Read).await?;
    let month = crate::domain::timeutil::month_key(state.clock.now_ms());
    let mut used = 0;
    for p in state.db.projects_of_org(org_id).await? {
        used += state.db.usage(&p.id, &month).await?;
    }
    Ok(used)
}

#[tracing::instrument(skip_all)]
pub async fn audit_log(
    state: &AppState,
    who: &Principal,
    org_id: &str,
    before: Option<i64>,
    limit: i64,
) -> AppResult<Vec<AuditRow>> {
    require(state, who, org_id, Action::Administer).await?;
    Ok(state.db.audit_log(org_id, before, limit).await?)
}
