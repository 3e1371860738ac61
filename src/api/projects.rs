//! An organization's projects and their API keys.

use super::context::caller;
use super::json::ApiJson;
use super::orgs::NameBody;
use super::problem::ApiResult;
use super::responses::{Created, NoContent};
use super::security::ApiAuth;
use super::ApiTags;
use crate::domain::timeutil::format_rfc3339_ms;
use crate::service::projects;
use crate::state::{AppState, SharedState};
use crate::store::{ApiKeyRow, ProjectRow};
use poem::web::Data;
use poem::Request;
use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};

#[derive(Debug, Object)]
pub struct Project {
    pub id: String,
    pub org_id: String,
    pub name: String,
    pub slug: String,
    pub created_at: String,
    /// The project's number: unique in the installation, never reused, and the last
    /// path segment of its keys' DSNs (the Sentry SDKs accept only digits there).
    pub number: i64,
}

impl From<ProjectRow> for Project {
    fn from(p: ProjectRow) -> Self {
        Project {
            id: p.id,
            org_id: p.org_id,
            name: p.name,
            slug: p.slug,
            created_at: format_rfc3339_ms(p.created_at),
            number: p.number,
        }
    }
}

#[derive(Debug, Object)]
pub struct NewKey {
    #[oai(validator(max_length = 120))]
    pub label: Option<String>,
    /// Accept only events whose `app` is this label.
    #[oai(validator(max_length = 128))]
    pub app: Option<String>,
    /// Days until the key stops working; none: it never expires.
    #[oai(validator(minimum(value = "1"), maximum(value = "3650")))]
    pub expires_in_days: Option<u32>,
}

#[derive(Debug, Object)]
pub struct CreatedKeyBody {
    pub id: String,
    /// The full key, shown only this once.
    pub key: String,
    pub prefix: String,
    /// The key's DSN, for the Sentry SDKs:
    /// `http(s)://<publicId>@<host>[/<prefix>]/<project number>`, built from the
    /// server's public URL. It holds no secret and is listed with the key again.
    pub dsn: String,
}

#[derive(Debug, Object)]
pub struct ApiKey {
    pub id: String,
    pub prefix: String,
    pub label: Option<String>,
    pub app: Option<String>,
    pub created_at: String,
    pub last_used_at: Option<String>,
    pub expires_at: Option<String>,
    pub revoked_at: Option<String>,
    /// The key's DSN, for the Sentry SDKs:
    /// `http(s)://<publicId>@<host>[/<prefix>]/<project number>`, built from the
    /// server's public URL. Listed for revoked and expired keys too; it sends only
    /// while the key is active.
    pub dsn: String,
}

impl ApiKey {
    fn new(state: &AppState, k: ApiKeyRow) -> Self {
        ApiKey {
            dsn: projects::dsn(state, &k.public_id, k.project_number),
            id: k.id,
            prefix: format!("tt_live_{}", k.public_id),
            label: k.label,
            app: k.allowed_app,
            created_at: format_rfc3339_ms(k.created_at),
            last_used_at: k.last_used_at.map(format_rfc3339_ms),
            expires_at: k.expires_at.map(format_rfc3339_ms),
            revoked_at: k.revoked_at.map(format_rfc3339_ms),
        }
    }
}

pub struct ProjectsApi;

#[OpenApi(tag = "ApiTags::Organizations")]
impl ProjectsApi {
    #[oai(path = "/api/orgs/:org_id/projects", method = "get")]
    async fn projects(
        &self,
        state: Data<&SharedState>,
        auth: ApiAuth,
        req: &Request,
        org_id: Path<String>,
    ) -> ApiResult<Json<Vec<Project>>> {
        let (who, _) = caller(&state, &auth, req).await?;
        Ok(Json(
            projects::projects(&state, &who, &org_id.0)
                .await?
                .into_iter()
                .map(Project::from)
                .collect(),
        ))
    }

    /// Create a project (EDITOR or OWNER); the plan bounds projects per organization.
    #[oai(path = "/api/orgs/:org_id/projects", method = "post")]
    async fn create_project(
        &self,
        state: Data<&SharedState>,
        auth: ApiAuth,
        req: &Request,
        org_id: Path<String>,
        body: ApiJson<NameBody>,
    ) -> ApiResult<Created<Project>> {
        let (who, meta) = caller(&state, &auth, req).await?;
        let body = body.parse()?;
        Ok(Created::Created(Json(
            projects::create_project(&state, &who, &org_id.0, &body.name, &meta)
                .await?
                .into(),
        )))
    }

    #[oai(path = "/api/projects/:project_id", method = "get")]
    async fn project(
        &self,
        state: Data<&SharedState>,
        auth: ApiAuth,
        req: &Request,
        project_id: Path<String>,
    ) -> ApiResult<Json<Project>> {
        let (who, _) = caller(&state, &auth, req).await?;
        Ok(Json(
            projects::get_project(&state, &who, &project_id.0)
                .await?
                .into(),
        ))
    }

    /// Rename a project (EDITOR or OWNER).
    #[oai(path = "/api/projects/:project_id", method = "patch")]
    async fn rename_project(
        &self,
        state: Data<&SharedState>,
        auth: ApiAuth,
        req: &Request,
        project_id: Path<String>,
        body: ApiJson<NameBody>,
    ) -> ApiResult<Json<Project>> {
        let (who, meta) = caller(&state, &auth, req).await?;
        let body = body.parse()?;
        Ok(Json(
            projects::rename_project(&state, &who, &project_id.0, &body.name, &meta)
                .await?
                .into(),
        ))
    }

    /// Delete a project (OWNER). Soft: its keys stop working at once.
    #[oai(path = "/api/projects/:project_id", method = "delete")]
    async fn delete_project(
        &self,
        state: Data<&SharedState>,
        auth: ApiAuth,
        req: &Request,
        project_id: Path<String>,
    ) -> ApiResult<NoContent> {
        let (who, meta) = caller(&state, &auth, req).await?;
        projects::delete_project(&state, &who, &project_id.0, &meta).await?;
        Ok(NoContent::NoContent)
    }

    /// A project's API keys, never their secrets (EDITOR or OWNER).
    #[oai(path = "/api/projects/:project_id/keys", method = "get")]
    async fn keys(
        &self,
        state: Data<&SharedState>,
        auth: ApiAuth,
        req: &Request,
        project_id: Path<String>,
    ) -> ApiResult<Json<Vec<ApiKey>>> {
        let (who, _) = caller(&state, &auth, req).await?;
        Ok(Json(
            projects::api_keys(&state, &who, &project_id.0)
                .await?
                .into_iter()
                .map(|k| ApiKey::new(&state, k))
                .collect(),
        ))
    }

    /// Create an API key (EDITOR or OWNER); the full key is shown once.
    #[oai(path = "/api/projects/:project_id/keys", method = "post")]
    async fn create_key(
        &self,
        state: Data<&SharedState>,
        auth: ApiAuth,
        req: &Request,
        project_id: Path<String>,
        body: ApiJson<NewKey>,
    ) -> ApiResult<Created<CreatedKeyBody>> {
        let (who, meta) = caller(&state, &auth, req).await?;
        let body = body.parse()?;
        let b = &body;
        let k = projects::create_api_key(
            &state,
            &who,
            &project_id.0,
            b.label.as_deref(),
            b.app.as_deref(),
            b.expires_in_days,
            &meta,
        )
        .await?;
        Ok(Created::Created(Json(CreatedKeyBody {
            dsn: projects::dsn(&state, &k.public_id, k.project_number),
            id: k.id,
            key: k.key,
            prefix: k.prefix,
        })))
    }

    /// Revoke an API key at once (EDITOR or OWNER).
    #[oai(path = "/api/projects/:project_id/keys/:key_id", method = "delete")]
    async fn revoke_key(
        &self,
        state: Data<&SharedState>,
        auth: ApiAuth,
        req: &Request,
        project_id: Path<String>,
        key_id: Path<String>,
    ) -> ApiResult<NoContent> {
        let (who, meta) = caller(&state, &auth, req).await?;
        projects::revoke_api_key(&state, &who, &project_id.0, &key_id.0, &meta).await?;
        Ok(NoContent::NoContent)
    }
}
