//! Invitations into an organization: sent by mail (with the link also returned,
//! so a server without mail stays usable), previewed, accepted, revoked, resent.

use crate::domain::ids::new_id;
use crate::domain::rbac::{Action, Role};
use crate::domain::timeutil::DAY_MS;
use crate::error::{AppError, AppResult};
use crate::mail::templates;
use crate::service::accounts::{token_hash, Actor};
use crate::service::orgs::{entry, require, send_mail};
use crate::service::principal::{Principal, RequestMeta};
use crate::state::AppState;
use crate::store::{InviteRow, OrgRow};
use rand::RngCore;

const INVITE_TTL_MS: i64 = 7 * DAY_MS;

pub struct CreatedInvite {
    pub invite: InviteRow,
    /// The accept link; returned to the owner so a server without mail stays usable.
    pub link: String,
    pub emailed: bool,
}

fn invite_token() -> String {
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    format!("tti_{}", hex::encode(bytes))
}

fn invite_link(state: &AppState, token: &str) -> String {
    format!("{}/invite?token={token}", state.config.public_url())
}

async fn mail_invite(state: &AppState, who: &Principal, invite: &InviteRow, link: &str) -> bool {
    let org = state
        .db
        .org_by_id(&invite.org_id)
        .await
        .ok()
        .flatten()
        .map(|o| o.name)
        .unwrap_or_default();
    send_mail(
        state,
        templates::invite(&invite.email, &org, &who.email, &invite.role, link),
    );
    state.mailer.is_configured()
}

#[tracing::instrument(skip_all)]
pub async fn invite(
    state: &AppState,
    who: &Principal,
    org_id: &str,
    email: &str,
    role: Role,
    meta: &RequestMeta,
) -> AppResult<CreatedInvite> {
    require(state, who, org_id, Action::Administer).await?;
    let email = email.trim().to_lowercase();
    if !email.contains('@') || email.len() > 320 || email.contains(char::is_whitespace) {
        return Err(AppError::invalid(
            "email",
            "a valid email address is required",
        ));
    }
    if state
        .db
        .list_members(org_id)
        .await?
        .iter()
        .any(|m| m.email == email)
    {
        return Err(AppError::Conflict(format!("{email} is already a member")));
    }
    let now = state.clock.now_ms();
    let token = invite_token();
    let invite = InviteRow {
        id: new_id(),
        org_id: org_id.to_string(),
        email,
        role: role.as_str().to_string(),
        invited_by: Some(who.user_id.clone()),
        created_at: now,
        expires_at: now + INVITE_TTL_MS,
        accepted_at: None,
        revoked_at: None,
    };
    let audit = entry(
        state,
        org_id,
        who,
        meta,
        "invite.create",
        Some(&invite.email),
        Some(serde_json::json!({ "role": invite.role })),
    );
    state
        .db
        .insert_invite(&invite, &token_hash(&token), &[audit])
        .await?;
    let link = invite_link(state, &token);
    let emailed = mail_invite(state, who, &invite, &link).await;
    Ok(CreatedInvite {
        invite,
        link,
        emailed,
    })
}

#[tracing::instrument(skip_all)]
pub async fn invites(state: &AppState, who: &Principal, org_id: &str) -> AppResult<Vec<InviteRow>> {
    require(state, who, org_id, Action::Administer).await?;
    Ok(state.db.pending_invites(org_id).await?)
}

#[tracing::instrument(skip_all)]
pub async fn revoke_invite(
    state: &AppState,
    who: &Principal,
    org_id: &str,
    invite_id: &str,
    meta: &RequestMeta,
) -> AppResult<()> {
    require(state, who, org_id, Action::Administer).await?;
    let invite = state
        .db
        .invite_in_org(org_id, invite_id)
        .await?
        .ok_or_else(|| AppError::NotFound("no such invite".into()))?;
    let audit = entry(
        state,
        org_id,
        who,
        meta,
        "invite.revoke",
        Some(&invite.email),
        None,
    );
    if !state
        .db
        .revoke_invite(&invite.id, state.clock.now_ms(), &[audit])
        .await?
    {
        return Err(AppError::Conflict(
            "the invite was already accepted or revoked".into(),
        ));
    }
    Ok(())
}

/// A fresh link (the old one stops working) and another 7 days, mailed again.
#[tracing::instrument(skip_all)]
pub async fn resend_invite(
    state: &AppState,
    who: &Principal,
    org_id: &str,
    invite_id: &str,
    meta: &RequestMeta,
) -> AppResult<CreatedInvite> {
    require(state, who, org_id, Action::Administer).await?;
    let mut invite = state
        .db
        .invite_in_org(org_id, invite_id)
        .await?
        .ok_or_else(|| AppError::NotFound("no such invite".into()))?;
    let token = invite_token();
    invite.expires_at = state.clock.now_ms() + INVITE_TTL_MS;
    let audit = entry(
        state,
        org_id,
        who,
        meta,
        "invite.resend",
        Some(&invite.email),
        None,
    );
    if !state
        .db
        .renew_invite(&invite.id, &token_hash(&token), invite.expires_at, &[audit])
        .await?
    {
        return Err(AppError::Conflict(
            "the invite was already accepted or revoked".into(),
        ));
    }
    let link = invite_link(state, &token);
    let emailed = mail_invite(state, who, &invite, &link).await;
    Ok(CreatedInvite {
        invite,
        link,
        emailed,
    })
}

/// What an invite link offers, for the accept page.
#[tracing::instrument(skip_all)]
pub async fn invite_preview(state: &AppState, token: &str) -> AppResult<(InviteRow, OrgRow)> {
    let invite = state
        .db
        .invite_by_token(&token_hash(token.trim()), state.clock.now_ms())
        .await?
        .ok_or_else(|| {
            AppError::NotFound("This invite link is invalid, used or expired.".into())
        })?;
    let org = state.db.org_by_id(&invite.org_id).await?.ok_or_else(|| {
        AppError::NotFound("This invite link is invalid, used or expired.".into())
    })?;
    Ok((invite, org))
}

/// An existing, logged-in user accepts an invite addressed to their email.
#[tracing::instrument(skip_all)]
pub async fn accept_invite(
    state: &AppState,
    who: &Principal,
    token: &str,
    meta: &RequestMeta,
) -> AppResult<OrgRow> {
    let (invite, org) = invite_preview(state, token).await?;
    accept_invite_as(state, &invite, &who.user_id, &who.email, meta).await?;
    Ok(org)
}

#[tracing::instrument(skip_all)]
pub async fn accept_invite_as(
    state: &AppState,
    invite: &InviteRow,
    user_id: &str,
    email: &str,
    meta: &RequestMeta,
) -> AppResult<()> {
    if !invite.email.eq_ignore_ascii_case(email) {
        return Err(AppError::forbidden(format!(
            "This invite is for {}; log in with that address.",
            invite.email
        )));
    }
    let now = state.clock.now_ms();
    let by = Actor {
        user_id,
        ip: meta.ip.as_deref(),
    };
    let audit = by.entry(
        &invite.org_id,
        "invite.accept",
        Some(email),
        Some(serde_json::json!({ "role": invite.role })),
        now,
    );
    if !state
        .db
        .accept_invite(invite, user_id, now, &[audit])
        .await?
    {
        return Err(AppError::NotFound(
            "This invite link is invalid, used or expired.".into(),
        ));
    }
    Ok(())
}
