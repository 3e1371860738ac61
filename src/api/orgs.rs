//! Organizations, members, invites, the audit log, projects and API keys.

use super::context::caller;
use super::json::ApiJson;
use super::problem::ApiResult;
use super::responses::{Created, NoContent};
use super::security::ApiAuth;
use super::ApiTags;
use crate::domain::rbac::Role;
use crate::domain::timeutil::format_rfc3339_ms;
use crate::service::invites;
use crate::service::orgs;
use crate::service::projects;
use crate::state::SharedState;
use crate::store::{ApiKeyRow, AuditRow, InviteRow, MemberRow, OrgRow, ProjectRow};
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

fn org(o: OrgRow, role: Option<Role>) -> Org {
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
pub struct InviteBody {
    #[oai(validator(max_length = 254))]
    pub email: String,
    pub role: RoleName,
}

#[derive(Debug, Object)]
pub struct Invite {
    pub id: String,
    pub email: String,
    pub role: String,
    pub created_at: String,
    pub expires_at: String,
}

impl From<InviteRow> for Invite {
    fn from(i: InviteRow) -> Self {
        Invite {
            id: i.id,
            email: i.email,
            role: i.role,
            created_at: format_rfc3339_ms(i.created_at),
            expires_at: format_rfc3339_ms(i.expires_at),
        }
    }
}

#[derive(Debug, Object)]
pub struct CreatedInvite {
    pub invite: Invite,
    /// Whether the invite was emailed.
    pub emailed: bool,
    /// The accept link, returned when the server cannot send mail so the owner can pass it on.
    pub link: Option<String>,
}

fn created_invite(c: invites::CreatedInvite) -> CreatedInvite {
    CreatedInvite {
        invite: c.invite.into(),
        link: (!c.emailed).then_some(c.link),
        emailed: c.emailed,
    }
}

#[derive(Debug, Object)]
pub struct InvitePreview {
    pub org_name: String,
    pub email: String,
    pub role: String,
    pub expires_at: String,
}

#[derive(Debug, Object)]
pub struct AcceptBody {
    #[oai(validator(max_length = 200))]
    pub token: String,
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

#[derive(Debug, Object)]
pub struct Project {
    pub id: String,
    pub org_id: String,
    pub name: String,
    pub slug: String,
    pub created_at: String,
}

impl From<ProjectRow> for Project {
    fn from(p: ProjectRow) -> Self {
        Project {
            id: p.id,
            org_id: p.org_id,
            name: p.name,
            slug: p.slug,
            created_at: format_rfc3339_ms(p.created_at),
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
}

impl From<ApiKeyRow> for ApiKey {
    fn from(k: ApiKeyRow) -> Self {
        ApiKey {
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

pub struct OrgsApi;

#[OpenApi(tag = "ApiTags::Organizations")]
#[allow(clippy::too_many_arguments)]
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

    /// Pending invites (OWNER).
    #[oai(path = "/api/orgs/:org_id/invites", method = "get")]
    async fn invites(
        &self,
        state: Data<&SharedState>,
        auth: ApiAuth,
        req: &Request,
        org_id: Path<String>,
    ) -> ApiResult<Json<Vec<Invite>>> {
        let (who, _) = caller(&state, &auth, req).await?;
        Ok(Json(
            invites::invites(&state, &who, &org_id.0)
                .await?
                .into_iter()
                .map(Invite::from)
                .collect(),
        ))
    }

    /// Invite by email (OWNER): a single-use link valid for 7 days.
    #[oai(path = "/api/orgs/:org_id/invites", method = "post")]
    async fn invite(
        &self,
        state: Data<&SharedState>,
        auth: ApiAuth,
        req: &Request,
        org_id: Path<String>,
        body: ApiJson<InviteBody>,
    ) -> ApiResult<Created<CreatedInvite>> {
        let (who, meta) = caller(&state, &auth, req).await?;
        let body = body.parse()?;
        let c = invites::invite(
            &state,
            &who,
            &org_id.0,
            &body.email,
            body.role.into(),
            &meta,
        )
        .await?;
        Ok(Created::Created(Json(created_invite(c))))
    }

    /// Revoke a pending invite (OWNER).
    #[oai(path = "/api/orgs/:org_id/invites/:invite_id", method = "delete")]
    async fn revoke_invite(
        &self,
        state: Data<&SharedState>,
        auth: ApiAuth,
        req: &Request,
        org_id: Path<String>,
        invite_id: Path<String>,
    ) -> ApiResult<NoContent> {
        let (who, meta) = caller(&state, &auth, req).await?;
        invites::revoke_invite(&state, &who, &org_id.0, &invite_id.0, &meta).await?;
        Ok(NoContent::NoContent)
    }

    /// Send a pending invite again with a fresh link and 7 more days (OWNER).
    #[oai(path = "/api/orgs/:org_id/invites/:invite_id/resend", method = "post")]
    async fn resend_invite(
        &self,
        state: Data<&SharedState>,
        auth: ApiAuth,
        req: &Request,
        org_id: Path<String>,
        invite_id: Path<String>,
    ) -> ApiResult<Json<CreatedInvite>> {
        let (who, meta) = caller(&state, &auth, req).await?;
        Ok(Json(created_invite(
            invites::resend_invite(&state, &who, &org_id.0, &invite_id.0, &meta).await?,
        )))
    }

    /// What an invite link offers (no login needed; the token is the secret).
    #[oai(path = "/api/invites/:token", method = "get")]
    async fn invite_preview(
        &self,
        state: Data<&SharedState>,
        token: Path<String>,
    ) -> ApiResult<Json<InvitePreview>> {
        let (invite, o) = invites::invite_preview(&state, &token.0).await?;
        Ok(Json(InvitePreview {
            org_name: o.name,
            email: invite.email,
            role: invite.role,
            expires_at: format_rfc3339_ms(invite.expires_at),
        }))
    }

    /// Accept an invite as the logged-in user (its email must match). New users
    /// accept by registering with `invite_token`.
    #[oai(path = "/api/invites/accept", method = "post")]
    async fn accept_invite(
        &self,
        state: Data<&SharedState>,
        auth: ApiAuth,
        req: &Request,
        body: ApiJson<AcceptBody>,
    ) -> ApiResult<Json<Org>> {
        let (who, meta) = caller(&state, &auth, req).await?;
        let body = body.parse()?;
        let o = invites::accept_invite(&state, &who, &body.token, &meta).await?;
        let (o, role) = orgs::get_org(&state, &who, &o.id).await?;
        Ok(Json(org(o, Some(role))))
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
                .map(ApiKey::from)
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
