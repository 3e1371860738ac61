//! Organizations, their members and their audit log.

use super::context::caller;
use super::json::ApiJson;
use super::problem::ApiResult;
use super::responses::{Created, NoContent};
use super::security::ApiAuth;
use super::ApiTags;
use crate::domain::rbac::Role;
use crate::domain::timeutil::format_rfc3339_ms;
use crate::service::orgs;
use crate::state::SharedState;
use crate::store::{AuditRow, MemberRow, OrgRow};
use poem::web::Data;
use poem::Request;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{Enum, Object, OpenApi};

#[derive(Debug, Clone, Copy, Enum)]
#[oai(rename_all = "UPPERCASE")]
pub enum RoleName {
    Owner,
    Editor,
    Viewer,
}

impl From<RoleName> for Role {
    fn from(r: RoleName) -> Role {
        match r {
            RoleName::Owner => Role::Owner,
            RoleName::Editor => Role::Editor,
            RoleName::Viewer => Role::Viewer,
        }
    }
}

#[derive(Debug, Object)]
pub struct Org {
    pub id: String,
    pub name: String,
    pub plan: String,
    pub created_at: String,
    /// The caller's role, when known.
    pub role: Option<String>,
}

pub(super) fn org(o: OrgRow, role: Option<Role>) -> Org {
    Org {
        id: o.id,
        name: o.name,
        plan: o.plan,
        created_at: format_rfc3339_ms(o.created_at),
        role: role.map(|r| r.as_str().to_string()),
    }
}

#[derive(Debug, Object)]
pub struct NameBody {
    /// 1–120 characters (surrounding spaces are trimmed).
    #[oai(validator(min_length = 1, max_length = 120))]
    pub name: String,
}

#[derive(Debug, Object)]
pub struct Member {
    pub user_id: String,
    pub email: String,
    pub name: Option<String>,
    pub role: String,
    pub joined_at: String,
}

impl From<MemberRow> for Member {
    fn from(m: MemberRow) -> Self {
        Member {
            user_id: m.user_id,
            email: m.email,
            name: m.name,
            role: m.role,
            joined_at: format_rfc3339_ms(m.created_at),
        }
    }
}

#[derive(Debug, Object)]
pub struct RoleBody {
    pub role: RoleName,
}

#[derive(Debug, Object)]
pub struct AuditEntry {
    pub id: String,
    pub action: String,
    pub actor_id: Option<String>,
    pub actor_email: Option<String>,
    pub target: Option<String>,
    pub details: Option<serde_json::Value>,
    pub ip: Option<String>,
    pub created_at: String,
}

impl From<AuditRow> for AuditEntry {
    fn from(a: AuditRow) -> Self {
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

#[derive(Debug, Object)]
pub struct AuditPage {
    pub items: Vec<AuditEntry>,
    /// Pass as `before` for the next page; absent on the last page.
    pub next_before: Option<i64>,
}

pub struct OrgsApi;

#[OpenApi(tag = "ApiTags::Organizations")]
impl OrgsApi {
    /// Organizations the caller belongs to, with their role.
    #[oai(path = "/api/orgs", method = "get")]
    async fn list(
        &self,
        state: Data<&SharedState>,
        auth: ApiAuth,
        req: &Request,
    ) -> ApiResult<Json<Vec<Org>>> {
        let (who, _) = caller(&state, &auth, req).await?;
        let rows = orgs::my_orgs(&state, &who).await?;
        Ok(Json(
            rows.into_iter()
                .map(|o| {
                    let role = o.role.parse().ok();
                    org(
                        OrgRow {
                            id: o.id,
                            name: o.name,
                            plan: o.plan,
                            created_at: o.created_at,
                        },
                        role,
                    )
                })
                .collect(),
        ))
    }

    /// Create an organization; the caller becomes its OWNER.
    #[oai(path = "/api/orgs", method = "post")]
    async fn create(
        &self,
        state: Data<&SharedState>,
        auth: ApiAuth,
        req: &Request,
        body: ApiJson<NameBody>,
    ) -> ApiResult<Created<Org>> {
        let (who, meta) = caller(&state, &auth, req).await?;
        let body = body.parse()?;
        let o = orgs::create_org(&state, &who, &body.name, &meta).await?;
        Ok(Created::Created(Json(org(o, Some(Role::Owner)))))
    }

    #[oai(path = "/api/orgs/:org_id", method = "get")]
    async fn get(
        &self,
        state: Data<&SharedState>,
        auth: ApiAuth,
        req: &Request,
        org_id: Path<String>,
    ) -> ApiResult<Json<Org>> {
        let (who, _) = caller(&state, &auth, req).await?;
        let (o, role) = orgs::get_org(&state, &who, &org_id.0).await?;
        Ok(Json(org(o, Some(role))))
    }

    /// Rename (OWNER).
    #[oai(path = "/api/orgs/:org_id", method = "patch")]
    async fn rename(
        &self,
        state: Data<&SharedState>,
        auth: ApiAuth,
        req: &Request,
        org_id: Path<String>,
        body: ApiJson<NameBody>,
    ) -> ApiResult<Json<Org>> {
        let (who, meta) = caller(&state, &auth, req).await?;
        let body = body.parse()?;
        let o = orgs::rename_org(&state, &who, &org_id.0, &body.name, &meta).await?;
        Ok(Json(org(o, Some(Role::Owner))))
    }

    /// Delete (OWNER). Soft: its projects and keys stop working at once.
    #[oai(path = "/api/orgs/:org_id", method = "delete")]
    async fn delete(
        &self,
        state: Data<&SharedState>,
        auth: ApiAuth,
        req: &Request,
        org_id: Path<String>,
    ) -> ApiResult<NoContent> {
        let (who, meta) = caller(&state, &auth, req).await?;
        orgs::delete_org(&state, &who, &org_id.0, &meta).await?;
        Ok(NoContent::NoContent)
    }

    #[oai(path = "/api/orgs/:org_id/members", method = "get")]
    async fn members(
        &self,
        state: Data<&SharedState>,
        auth: ApiAuth,
        req: &Request,
        org_id: Path<String>,
    ) -> ApiResult<Json<Vec<Member>>> {
        let (who, _) = caller(&state, &auth, req).await?;
        Ok(Json(
            orgs::members(&state, &who, &org_id.0)
                .await?
                .into_iter()
                .map(Member::from)
                .collect(),
        ))
    }

    /// Change a member's role (OWNER). The last owner cannot be demoted.
    #[oai(path = "/api/orgs/:org_id/members/:user_id", method = "patch")]
    async fn set_role(
        &self,
        state: Data<&SharedState>,
        auth: ApiAuth,
        req: &Request,
        org_id: Path<String>,
        user_id: Path<String>,
        body: ApiJson<RoleBody>,
    ) -> ApiResult<NoContent> {
        let (who, meta) = caller(&state, &auth, req).await?;
        let body = body.parse()?;
        orgs::set_role(&state, &who, &org_id.0, &user_id.0, body.role.into(), &meta).await?;
        Ok(NoContent::NoContent)
    }

    /// Remove a member (OWNER), or yourself (leave). The last owner cannot leave.
    #[oai(path = "/api/orgs/:org_id/members/:user_id", method = "delete")]
    async fn remove(
        &self,
        state: Data<&SharedState>,
        auth: ApiAuth,
        req: &Request,
        org_id: Path<String>,
        user_id: Path<String>,
    ) -> ApiResult<NoContent> {
        let (who, meta) = caller(&state, &auth, req).await?;
        orgs::remove_member(&state, &who, &org_id.0, &user_id.0, &meta).await?;
        Ok(NoContent::NoContent)
    }

    /// Leave the organization.
    #[oai(path = "/api/orgs/:org_id/leave", method = "post")]
    async fn leave(
        &self,
        state: Data<&SharedState>,
        auth: ApiAuth,
        req: &Request,
        org_id: Path<String>,
    ) -> ApiResult<NoContent> {
        let (who, meta) = caller(&state, &auth, req).await?;
        let me = who.user_id.clone();
        orgs::remove_member(&state, &who, &org_id.0, &me, &meta).await?;
        Ok(NoContent::NoContent)
    }

    /// Who did what, newest first (OWNER).
    #[oai(path = "/api/orgs/:org_id/audit-log", method = "get")]
    async fn audit_log(
        &self,
        state: Data<&SharedState>,
        auth: ApiAuth,
        req: &Request,
        org_id: Path<String>,
        before: Query<Option<i64>>,
        #[oai(validator(minimum(value = "1"), maximum(value = "500")))] limit: Query<Option<i64>>,
    ) -> ApiResult<Json<AuditPage>> {
        let (who, _) = caller(&state, &auth, req).await?;
        let limit = crate::service::read::limit(limit.0)?;
        let rows = orgs::audit_log(&state, &who, &org_id.0, before.0, limit).await?;
        let next_before = (rows.len() as i64 == limit)
            .then(|| rows.last().map(|r| r.created_at))
            .flatten();
        Ok(Json(AuditPage {
            items: rows.into_iter().map(AuditEntry::from).collect(),
            next_before,
        }))
    }
}
