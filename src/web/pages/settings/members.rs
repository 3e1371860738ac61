//! Members of the organization, their roles, and the invites still pending.

use super::{org_id, outcome, refused, shell, trimmed, OrgForm};
use crate::domain::rbac::Role;
use crate::error::{AppError, AppResult};
use crate::service::invites;
use crate::service::orgs;
use crate::state::SharedState;
use crate::store::{InviteRow, MemberRow};
use crate::web::components::{csrf_field, time};
use crate::web::context::{PageCtx, Session};
use crate::web::error::PageResult;
use crate::web::{html, security};
use maud::{html, Markup};
use poem::web::{Data, Form, Path};
use poem::{handler, Request};
use serde::Deserialize;

fn role_of(ctx: &PageCtx) -> Option<Role> {
    ctx.project.as_ref().map(|p| p.role)
}

fn role_select(name: &str, selected: &str, label: &str) -> Markup {
    html! {
        label class="field" {
            span class="sr-only" { (label) }
            select name=(name) {
                @for r in ["VIEWER", "EDITOR", "OWNER"] { option value=(r) selected[r == selected] { (r) } }
            }
        }
    }
}

fn members_view(
    ctx: &PageCtx,
    org_id: &str,
    members: &[MemberRow],
    invites: &[InviteRow],
    link: Option<&str>,
) -> Markup {
    let owner = role_of(ctx) == Some(Role::Owner);
    shell(
        ctx,
        "members",
        "Members and invites",
        html! {
            p class="muted" { "OWNER: everything, including members and deleting the organization. EDITOR: projects, API keys, resolving errors. VIEWER: read only." }
            @if let Some(l) = link {
                div class="secret" {
                    p { strong { "Invite link" } " — send it to the invitee if the mail does not arrive. Valid 7 days, once." }
                    code id="invite-link" { (l) }
                    button class="btn btn-small copy" type="button" data-copy="#invite-link" { "Copy link" }
                }
            }
            @if owner {
                section class="card" {
                    h3 class="card-title" { "Invite someone" }
                    form class="filters" method="post" action="/settings/members" {
                        (csrf_field(&ctx.csrf))
                        input type="hidden" name="org" value=(org_id);
                        label class="field" { span { "Email" } input type="email" name="email" required; }
                        label class="field" { span { "Role" } select name="role" { @for r in ["VIEWER", "EDITOR", "OWNER"] { option value=(r) selected[r == "EDITOR"] { (r) } } } }
                        button class="btn btn-primary" type="submit" { "Send invite" }
                    }
                }
            }
            section class="card" {
                h3 class="card-title" { "Members" }
                div class="table-wrap" {
                    table class="table table-stack" {
                        thead { tr { th scope="col" { "Member" } th scope="col" { "Role" } th scope="col" { "Joined" } @if owner { th scope="col" { span class="sr-only" { "Actions" } } } } }
                        tbody {
                            @for m in members {
                                tr {
                                    td { (m.email) @if let Some(n) = &m.name { span class="muted" { " · " (n) } } }
                                    td {
                                        @if owner {
                                            form class="inline" method="post" action=(format!("/settings/members/{}/role", m.user_id)) {
                                                (csrf_field(&ctx.csrf))
                                                input type="hidden" name="org" value=(org_id);
                                                (role_select("role", &m.role, &format!("Role of {}", m.email)))
                                                button class="btn btn-small" type="submit" { "Change" }
                                            }
                                        } @else {
                                            span class="badge badge-role" { (m.role) }
                                        }
                                    }
                                    td { (time(m.created_at)) }
                                    @if owner {
                                        td {
                                            @if m.user_id != ctx.who().user_id {
                                                form class="inline" method="post" action=(format!("/settings/members/{}/remove", m.user_id)) data-confirm="Remove this member from the organization?" {
                                                    (csrf_field(&ctx.csrf))
                                                    input type="hidden" name="org" value=(org_id);
                                                    button class="btn btn-small btn-danger" type="submit" { "Remove" }
                                                }
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            @if owner {
                section class="card" {
                    h3 class="card-title" { "Pending invites" }
                    @if invites.is_empty() {
                        p class="muted" { "No pending invites." }
                    } @else {
                        div class="table-wrap" {
                            table class="table table-stack" {
                                thead { tr { th scope="col" { "Email" } th scope="col" { "Role" } th scope="col" { "Expires" } th scope="col" { span class="sr-only" { "Actions" } } } }
                                tbody {
                                    @for i in invites {
                                        tr {
                                            td { (i.email) }
                                            td { span class="badge badge-role" { (i.role) } }
                                            td { (time(i.expires_at)) }
                                            td {
                                                form class="inline" method="post" action=(format!("/settings/invites/{}/resend", i.id)) {
                                                    (csrf_field(&ctx.csrf))
                                                    input type="hidden" name="org" value=(org_id);
                                                    button class="btn btn-small" type="submit" { "Resend" }
                                                }
                                                " "
                                                form class="inline" method="post" action=(format!("/settings/invites/{}/revoke", i.id)) {
                                                    (csrf_field(&ctx.csrf))
                                                    input type="hidden" name="org" value=(org_id);
                                                    button class="btn btn-small btn-danger" type="submit" { "Revoke" }
                                                }
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        },
    )
}

async fn members_page(state: &SharedState, req: &Request, link: Option<&str>) -> PageResult {
    let ctx = PageCtx::load(state, req).await?;
    let org_id = org_id(&ctx)?;
    let members = orgs::members(state, ctx.who(), &org_id).await?;
    let invites = if role_of(&ctx) == Some(Role::Owner) {
        invites::invites(state, ctx.who(), &org_id).await?
    } else {
        Vec::new()
    };
    Ok(html(members_view(&ctx, &org_id, &members, &invites, link)))
}

#[handler]
pub(super) async fn members_get(req: &Request, state: Data<&SharedState>) -> PageResult {
    members_page(&state, req, None).await
}

fn parse_role(text: &str) -> AppResult<Role> {
    text.parse::<Role>()
        .map_err(|m| AppError::invalid("role", m))
}

#[derive(Deserialize)]
struct InviteForm {
    #[serde(default)]
    csrf: String,
    #[serde(default, deserialize_with = "trimmed")]
    org: String,
    #[serde(default, deserialize_with = "trimmed")]
    email: String,
    #[serde(default, deserialize_with = "trimmed")]
    role: String,
}

/// Invites and shows the link too, so an invite works without mail.
#[handler]
pub(super) async fn invite(
    req: &Request,
    state: Data<&SharedState>,
    Form(f): Form<InviteForm>,
) -> PageResult {
    let s = Session::for_form(&state, req, &f.csrf).await?;
    let created = match parse_role(&f.role) {
        Ok(role) => {
            invites::invite(&state, &s.who, &f.org, &f.email, role, &s.meta(&state, req)).await
        }
        Err(e) => Err(e),
    };
    match created {
        Ok(c) => {
            let note = if c.emailed {
                format!("Invite mailed to {}.", c.invite.email)
            } else {
                format!(
                    "Invite created for {}; no mail was sent, so pass on the link below.",
                    c.invite.email
                )
            };
            security::flash(&state, req, &note);
            members_page(&state, req, Some(&c.link)).await
        }
        Err(e) => refused(&state, req, e, "/settings/members"),
    }
}

#[derive(Deserialize)]
struct RoleForm {
    #[serde(default)]
    csrf: String,
    #[serde(default, deserialize_with = "trimmed")]
    org: String,
    #[serde(default, deserialize_with = "trimmed")]
    role: String,
}

#[handler]
pub(super) async fn set_role(
    req: &Request,
    state: Data<&SharedState>,
    Path(user_id): Path<String>,
    Form(f): Form<RoleForm>,
) -> PageResult {
    let s = Session::for_form(&state, req, &f.csrf).await?;
    let r = match parse_role(&f.role) {
        Ok(role) => {
            orgs::set_role(&state, &s.who, &f.org, &user_id, role, &s.meta(&state, req)).await
        }
        Err(e) => Err(e),
    };
    outcome(
        &state,
        req,
        r,
        |_| "Role changed.".into(),
        "/settings/members",
    )
}

#[handler]
pub(super) async fn remove_member(
    req: &Request,
    state: Data<&SharedState>,
    Path(user_id): Path<String>,
    Form(f): Form<OrgForm>,
) -> PageResult {
    let s = Session::for_form(&state, req, &f.csrf).await?;
    let r = orgs::remove_member(&state, &s.who, &f.org, &user_id, &s.meta(&state, req)).await;
    outcome(
        &state,
        req,
        r,
        |_| "Member removed.".into(),
        "/settings/members",
    )
}

#[handler]
pub(super) async fn revoke_invite(
    req: &Request,
    state: Data<&SharedState>,
    Path(id): Path<String>,
    Form(f): Form<OrgForm>,
) -> PageResult {
    let s = Session::for_form(&state, req, &f.csrf).await?;
    let r = invites::revoke_invite(&state, &s.who, &f.org, &id, &s.meta(&state, req)).await;
    outcome(
        &state,
        req,
        r,
        |_| "Invite revoked.".into(),
        "/settings/members",
    )
}

#[handler]
pub(super) async fn resend_invite(
    req: &Request,
    state: Data<&SharedState>,
    Path(id): Path<String>,
    Form(f): Form<OrgForm>,
) -> PageResult {
    let s = Session::for_form(&state, req, &f.csrf).await?;
    match invites::resend_invite(&state, &s.who, &f.org, &id, &s.meta(&state, req)).await {
        Ok(c) => {
            security::flash(
                &state,
                req,
                &format!("A new link for {} replaces the old one.", c.invite.email),
            );
            members_page(&state, req, Some(&c.link)).await
        }
        Err(e) => refused(&state, req, e, "/settings/members"),
    }
}
