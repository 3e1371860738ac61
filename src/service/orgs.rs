//! Organizations, members, invites, projects, API keys and personal tokens, with
//! the role checks of SPEC §4 and an audit entry for every change.

use crate::domain::ids::new_id;
use crate::domain::plans::Plan;
use crate::domain::rbac::{allows, Action, Role};
use crate::domain::timeutil::DAY_MS;
use crate::error::{AppError, AppResult};
use crate::mail::{templates, Email};
use crate::service::accounts::{self, token_hash, Actor, CreatedKey, CreatedToken};
use crate::service::principal::{Principal, RequestMeta};
use crate::state::AppState;
use crate::store::{
    ApiKeyRow, AuditRow, InviteRow, MemberRow, MyOrgRow, OrgRow, ProjectRow, TokenRow,
};
use rand::RngCore;

const INVITE_TTL_MS: i64 = 7 * DAY_MS;

/// Sends mail; a failure is logged, never fatal to the request that caused it.
pub fn send_mail(state: &AppState, email: Email) {
    state.outbox.enqueue(email);
}

/// The caller's role in `org_id`, or 404 when they are not a member (a foreign
/// organization looks exactly like a missing one), or 403 when the role is too low.
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
fn entry(
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

fn actor<'a>(who: &'a Principal, meta: &'a RequestMeta) -> Actor<'a> {
    Actor {
        user_id: &who.user_id,
        ip: meta.ip.as_deref(),
    }
}

fn name_field(name: &str) -> AppResult<String> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 120 {
        return Err(AppError::invalid("name", "`name` must be 1–120 characters"));
    }
    Ok(name.to_string())
}

pub async fn my_orgs(state: &AppState, who: &Principal) -> AppResult<Vec<MyOrgRow>> {
    Ok(state.db.orgs_of_user(&who.user_id).await?)
}

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
        Plan::SelfHosted,
        Some(&by),
    )
    .await
}

pub async fn get_org(state: &AppState, who: &Principal, org_id: &str) -> AppResult<(OrgRow, Role)> {
    let role = require(state, who, org_id, Action::Read).await?;
    let org = state
        .db
        .org_by_id(org_id)
        .await?
        .ok_or_else(|| AppError::NotFound("no such organization".into()))?;
    Ok((org, role))
}

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

pub async fn delete_org(
    state: &AppState,
    who: &Principal,
    org_id: &str,
    meta: &RequestMeta,
) -> AppResult<()> {
    require(state, who, org_id, Action::Administer).await?;
    let audit = entry(state, org_id, who, meta, "org.delete", Some(org_id), None);
    state
        .db
        .delete_org(org_id, state.clock.now_ms(), &[audit])
        .await?;
    Ok(())
}

pub async fn members(state: &AppState, who: &Principal, org_id: &str) -> AppResult<Vec<MemberRow>> {
    require(state, who, org_id, Action::Read).await?;
    Ok(state.db.list_members(org_id).await?)
}

fn last_owner() -> AppError {
    AppError::Conflict(
        "The last owner can neither leave nor be demoted; make someone else an owner first.".into(),
    )
}

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

pub async fn invites(state: &AppState, who: &Principal, org_id: &str) -> AppResult<Vec<InviteRow>> {
    require(state, who, org_id, Action::Administer).await?;
    Ok(state.db.pending_invites(org_id).await?)
}

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

/// Units the organization's projects used this UTC month (READ).
pub async fn usage_this_month(state: &AppState, who: &Principal, org_id: &str) -> AppResult<i64> {
    require(state, who, org_id, Action::Read).await?;
    let month = crate::domain::timeutil::month_key(state.clock.now_ms());
    let mut used = 0;
    for p in state.db.projects_of_org(org_id).await? {
        used += state.db.usage(&p.id, &month).await?;
    }
    Ok(used)
}

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

pub async fn projects(
    state: &AppState,
    who: &Principal,
    org_id: &str,
) -> AppResult<Vec<ProjectRow>> {
    require(state, who, org_id, Action::Read).await?;
    Ok(state.db.projects_of_org(org_id).await?)
}

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

pub async fn get_project(
    state: &AppState,
    who: &Principal,
    project_id: &str,
) -> AppResult<ProjectRow> {
    require_project(state, who, project_id, Action::Read).await
}

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

pub async fn api_keys(
    state: &AppState,
    who: &Principal,
    project_id: &str,
) -> AppResult<Vec<ApiKeyRow>> {
    require_project(state, who, project_id, Action::Edit).await?;
    Ok(state.db.list_api_keys(project_id).await?)
}

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

pub async fn tokens(state: &AppState, who: &Principal) -> AppResult<Vec<TokenRow>> {
    Ok(state.db.list_personal_tokens(&who.user_id).await?)
}

pub async fn create_token(
    state: &AppState,
    who: &Principal,
    name: &str,
    expires_in_days: Option<u32>,
    meta: &RequestMeta,
) -> AppResult<CreatedToken> {
    let orgs = state.db.orgs_of_user(&who.user_id).await?;
    let by = actor(who, meta);
    accounts::create_token_by(
        &state.db,
        &state.clock,
        &who.email,
        Some(name),
        expires_in_days,
        Some((&by, &orgs)),
    )
    .await
}

pub async fn revoke_token(
    state: &AppState,
    who: &Principal,
    id: &str,
    meta: &RequestMeta,
) -> AppResult<()> {
    let audit: Vec<AuditRow> = state
        .db
        .orgs_of_user(&who.user_id)
        .await?
        .iter()
        .map(|org| entry(state, &org.id, who, meta, "token.revoke", Some(id), None))
        .collect();
    if !state
        .db
        .revoke_personal_token(&who.user_id, id, state.clock.now_ms(), &audit)
        .await?
    {
        return Err(AppError::NotFound("no such token".into()));
    }
    Ok(())
}
