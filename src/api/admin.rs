//! `/api/admin/*`: instance administration (administrators only; docs/ADMIN.md).

use super::context::caller;
use super::json::ApiJson;
use super::orgs::{AuditEntry, AuditPage, RoleName};
use super::problem::ApiResult;
use super::responses::NoContent;
use super::security::ApiAuth;
use super::ApiTags;
use crate::domain::timeutil::format_rfc3339_ms;
use crate::service::admin::{self, Actor, AdminUser, InstanceSettings};
use crate::state::SharedState;
use crate::store::InstanceAuditRow;
use poem::web::Data;
use poem::Request;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{Enum, Object, OpenApi};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum Registration {
    /// Only people with an invite can sign up.
    InviteOnly,
    /// Anyone can sign up (confirming their address by mail).
    Open,
}

#[derive(Debug, Object)]
pub struct AdminSettings {
    pub registration: Registration,
    /// `TELEMETRY_ALLOW_REGISTRATION` is set in the server's environment and decides
    /// the registration policy; it cannot be changed here.
    pub registration_locked_by_env: bool,
}

impl From<InstanceSettings> for AdminSettings {
    fn from(s: InstanceSettings) -> Self {
        AdminSettings {
            registration: if s.registration_open {
                Registration::Open
            } else {
                Registration::InviteOnly
            },
            registration_locked_by_env: s.locked_by_env,
        }
    }
}

#[derive(Debug, Object)]
pub struct AdminSettingsChange {
    pub registration: Option<Registration>,
}

#[derive(Debug, Object)]
pub struct UserOrg {
    pub id: String,
    pub name: String,
    pub role: RoleName,
}

#[derive(Debug, Object)]
pub struct AdminUserBody {
    pub id: String,
    pub email: String,
    pub name: Option<String>,
    pub created_at: String,
    pub last_login_at: Option<String>,
    pub organizations: Vec<UserOrg>,
    pub disabled: bool,
    pub disabled_at: Option<String>,
    pub administrator: bool,
}

impl From<AdminUser> for AdminUserBody {
    fn from(u: AdminUser) -> Self {
        let r = u.row;
        AdminUserBody {
            id: r.id,
            email: r.email,
            name: r.name,
            created_at: format_rfc3339_ms(r.created_at),
            last_login_at: r.last_login_at.map(format_rfc3339_ms),
            organizations: u
                .orgs
                .into_iter()
                .map(|(id, name, role)| UserOrg {
                    id,
                    name,
                    role: match role.as_str() {
                        "OWNER" => RoleName::Owner,
                        "EDITOR" => RoleName::Editor,
                        _ => RoleName::Viewer,
                    },
                })
                .collect(),
            disabled: r.disabled_at.is_some(),
            disabled_at: r.disabled_at.map(format_rfc3339_ms),
            administrator: r.is_admin != 0,
        }
    }
}

#[derive(Debug, Object)]
pub struct AdminUserPage {
    pub items: Vec<AdminUserBody>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

#[derive(Debug, Object)]
pub struct AdminUserChange {
    pub administrator: Option<bool>,
}

#[derive(Debug, Object)]
pub struct TestEmail {
    #[oai(validator(min_length = 3, max_length = 254))]
    pub to: String,
}

#[derive(Debug, Object)]
pub struct TestEmailResult {
    /// Whether the SMTP server accepted the message.
    pub sent: bool,
    /// The SMTP server's answer, or why the message was not sent.
    pub detail: String,
}

#[derive(Debug, Object)]
pub struct JobRun {
    pub job: String,
    /// When its latest scheduled run started.
    pub started_at: String,
    /// The process (instance id) that ran it.
    pub instance: String,
}

#[derive(Debug, Object)]
pub struct AdminOverview {
    pub version: String,
    /// `sqlite` or `postgres`.
    pub backend: String,
    /// As the database counts it; absent when it could not be read.
    pub database_bytes: Option<i64>,
    /// The SQLite file's directory; absent on PostgreSQL.
    pub data_dir: Option<String>,
    pub data_dir_free_bytes: Option<u64>,
    /// Ingest requests of this process waiting for the writer.
    pub ingest_queue_depth: u64,
    pub jobs: Vec<JobRun>,
    /// Whether mail leaves the server (`SMTP_URL`), rather than going to its log.
    pub mail_configured: bool,
    pub users: i64,
    pub organizations: i64,
    pub projects: i64,
}

impl From<InstanceAuditRow> for AuditEntry {
    fn from(a: InstanceAuditRow) -> Self {
        AuditEntry {
            id: a.id,
            action: a.action,
            actor_id: a.actor_id,
            actor_email: a.actor_email,
            target: a.target,
            details: a.details.and_then(|d| serde_json::from_str(&d).ok()),
            ip: a.ip,
            created_at: format_rfc3339_ms(a.created_at),
        }
    }
}

pub struct AdminApi;

#[OpenApi(tag = "ApiTags::Administration")]
impl AdminApi {
    /// The instance's settings: the registration policy.
    #[oai(path = "/api/admin/settings", method = "get")]
    async fn settings(
        &self,
        state: Data<&SharedState>,
        auth: ApiAuth,
        req: &Request,
    ) -> ApiResult<Json<AdminSettings>> {
        let (who, _) = caller(&state, &auth, req).await?;
        Ok(Json(admin::settings(&state, &who).await?.into()))
    }

    /// Change the registration policy (`409` while `TELEMETRY_ALLOW_REGISTRATION`
    /// decides it).
    #[oai(path = "/api/admin/settings", method = "patch")]
    async fn change_settings(
        &self,
        state: Data<&SharedState>,
        auth: ApiAuth,
        req: &Request,
        body: ApiJson<AdminSettingsChange>,
    ) -> ApiResult<Json<AdminSettings>> {
        let (who, meta) = caller(&state, &auth, req).await?;
        let body = body.parse()?;
        let settings = match body.registration {
            Some(r) => {
                admin::set_registration(&state, &who, &meta, r == Registration::Open).await?
            }
            None => admin::settings(&state, &who).await?,
        };
        Ok(Json(settings.into()))
    }

    /// Users by email; `q` matches part of the email or name.
    #[oai(path = "/api/admin/users", method = "get")]
    async fn users(
        &self,
        state: Data<&SharedState>,
        auth: ApiAuth,
        req: &Request,
        #[oai(validator(max_length = 254))] q: Query<Option<String>>,
        #[oai(validator(max_length = 254))] cursor: Query<Option<String>>,
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))] limit: Query<Option<i64>>,
    ) -> ApiResult<Json<AdminUserPage>> {
        let (who, _) = caller(&state, &auth, req).await?;
        let limit = limit.0.unwrap_or(admin::USERS_PER_PAGE);
        let page = admin::users(&state, &who, q.0.as_deref(), cursor.0.as_deref(), limit).await?;
        Ok(Json(AdminUserPage {
            items: page.users.into_iter().map(AdminUserBody::from).collect(),
            next_cursor: page.next,
        }))
    }

    /// Make a user an administrator, or no longer one (`409` for the last one).
    #[oai(path = "/api/admin/users/:id", method = "patch")]
    async fn change_user(
        &self,
        state: Data<&SharedState>,
        auth: ApiAuth,
        req: &Request,
        id: Path<String>,
        body: ApiJson<AdminUserChange>,
    ) -> ApiResult<Json<AdminUserBody>> {
        let (who, meta) = caller(&state, &auth, req).await?;
        let body = body.parse()?;
        let user = match body.administrator {
            Some(admin) => {
                admin::set_admin(
                    &state.db,
                    &state.clock,
                    &Actor::Admin(&who, &meta),
                    &id.0,
                    admin,
                )
                .await?
            }
            None => admin::user_by_id(&state, &who, &id.0).await?,
        };
        Ok(Json(user.into()))
    }

    /// Delete a user (`409` while it is the last owner of an organization, named in
    /// the answer, or the last administrator).
    #[oai(path = "/api/admin/users/:id", method = "delete")]
    async fn delete_user(
        &self,
        state: Data<&SharedState>,
        auth: ApiAuth,
        req: &Request,
        id: Path<String>,
    ) -> ApiResult<NoContent> {
        let (who, meta) = caller(&state, &auth, req).await?;
        admin::delete(&state, &who, &meta, &id.0).await?;
        Ok(NoContent::NoContent)
    }

    /// Disable a user: every session and token stops working at once and signing in
    /// is refused (`409` for the last administrator).
    #[oai(path = "/api/admin/users/:id/disable", method = "post")]
    async fn disable_user(
        &self,
        state: Data<&SharedState>,
        auth: ApiAuth,
        req: &Request,
        id: Path<String>,
    ) -> ApiResult<Json<AdminUserBody>> {
        let (who, meta) = caller(&state, &auth, req).await?;
        Ok(Json(
            admin::disable(&state.db, &state.clock, &Actor::Admin(&who, &meta), &id.0)
                .await?
                .into(),
        ))
    }

    /// Enable a disabled user again.
    #[oai(path = "/api/admin/users/:id/enable", method = "post")]
    async fn enable_user(
        &self,
        state: Data<&SharedState>,
        auth: ApiAuth,
        req: &Request,
        id: Path<String>,
    ) -> ApiResult<Json<AdminUserBody>> {
        let (who, meta) = caller(&state, &auth, req).await?;
        Ok(Json(
            admin::enable(&state.db, &state.clock, &Actor::Admin(&who, &meta), &id.0)
                .await?
                .into(),
        ))
    }

    /// Send a test mail; answers what the SMTP server said.
    #[oai(path = "/api/admin/test-email", method = "post")]
    async fn test_email(
        &self,
        state: Data<&SharedState>,
        auth: ApiAuth,
        req: &Request,
        body: ApiJson<TestEmail>,
    ) -> ApiResult<Json<TestEmailResult>> {
        let (who, meta) = caller(&state, &auth, req).await?;
        let body = body.parse()?;
        let outcome = admin::test_email(&state, &who, &meta, &body.to).await?;
        Ok(Json(TestEmailResult {
            sent: outcome.sent,
            detail: outcome.detail,
        }))
    }

    /// The server at a glance: version, database, disk, queue, jobs, mail, counts.
    #[oai(path = "/api/admin/overview", method = "get")]
    async fn overview(
        &self,
        state: Data<&SharedState>,
        auth: ApiAuth,
        req: &Request,
    ) -> ApiResult<Json<AdminOverview>> {
        let (who, _) = caller(&state, &auth, req).await?;
        let o = admin::overview(&state, &who).await?;
        Ok(Json(AdminOverview {
            version: o.version.into(),
            backend: o.backend.into(),
            database_bytes: o.database_bytes,
            data_dir: o.data_dir,
            data_dir_free_bytes: o.data_dir_free_bytes,
            ingest_queue_depth: o.queue_depth,
            jobs: o
                .jobs
                .into_iter()
                .map(|j| JobRun {
                    job: j.job,
                    started_at: format_rfc3339_ms(j.started_at),
                    instance: j.instance,
                })
                .collect(),
            mail_configured: o.mail_configured,
            users: o.users,
            organizations: o.organizations,
            projects: o.projects,
        }))
    }

    /// The administrators' changes, newest first.
    #[oai(path = "/api/admin/audit-log", method = "get")]
    async fn audit_log(
        &self,
        state: Data<&SharedState>,
        auth: ApiAuth,
        req: &Request,
        before: Query<Option<i64>>,
        #[oai(validator(minimum(value = "1"), maximum(value = "500")))] limit: Query<Option<i64>>,
    ) -> ApiResult<Json<AuditPage>> {
        let (who, _) = caller(&state, &auth, req).await?;
        let limit = crate::service::read::limit(limit.0)?;
        let rows = admin::audit_log(&state, &who, before.0, limit).await?;
        let next_before = (rows.len() as i64 == limit)
            .then(|| rows.last().map(|r| r.created_at))
            .flatten();
        Ok(Json(AuditPage {
            items: rows.into_iter().map(AuditEntry::from).collect(),
            next_before,
        }))
    }
}
