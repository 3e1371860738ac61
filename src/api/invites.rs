//! Invites to an organization: sending, revoking and resending them (OWNER), and
//! previewing and accepting one from its link.

use super::context::caller;
use super::json::ApiJson;
use super::orgs::{org, Org, RoleName};
use super::problem::ApiResult;
use super::responses::{Created, NoContent};
use super::security::ApiAuth;
use super::ApiTags;
use crate::domain::timeutil::format_rfc3339_ms;
use crate::service::invites;
use crate::service::orgs;
use crate::state::SharedState;
use crate::store::InviteRow;
use poem::web::Data;
use poem::Request;
use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};

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

pub struct InvitesApi;

#[OpenApi(tag = "ApiTags::Organizations")]
impl InvitesApi {
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
}
