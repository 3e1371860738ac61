//! Settings: the user's own (profile, password, sessions, appearance, notifications,
//! personal tokens) and their organization's (organization, members and invites,
//! projects, API keys). Every form posts back here and redirects with a message; the
//! services check the roles, and the pages only offer what the role allows.

use crate::domain::notify::{Channels, Kind, Prefs};
use crate::domain::plans::Plan;
use crate::domain::rbac::Role;
use crate::error::{AppError, AppResult};
use crate::service::{auth, orgs, preferences, retention};
use crate::state::SharedState;
use crate::store::{
    ApiKeyRow, AuditRow, InviteRow, MemberRow, ProjectRow, TokenRow, UserSessionRow,
};
use crate::web::components::{count, csrf_field, empty, time};
use crate::web::context::{PageCtx, Session};
use crate::web::error::PageResult;
use crate::web::filters::Filters;
use crate::web::layout::{page as layout, Tab};
use crate::web::security;
use crate::web::{allow, html, see_other};
use maud::{html, Markup};
use poem::web::{Data, Form, Path};
use poem::{get, handler, post, Request, Route};
use serde::Deserialize;
use std::collections::HashMap;

pub fn routes() -> Route {
    Route::new()
        .at("/", allow(get(index), "GET, HEAD"))
        .at(
            "/profile",
            allow(get(profile).post(update_profile), "GET, HEAD, POST"),
        )
        .at("/password", allow(post(change_password), "POST"))
        .at(
            "/sessions/revoke-others",
            allow(post(revoke_other_sessions), "POST"),
        )
        .at("/sessions/:id/revoke", allow(post(revoke_session), "POST"))
        .at(
            "/appearance",
            allow(get(appearance).post(set_appearance), "GET, HEAD, POST"),
        )
        .at(
            "/notifications",
            allow(
                get(notification_prefs).post(set_notification_prefs),
                "GET, HEAD, POST",
            ),
        )
        .at(
            "/tokens",
            allow(get(tokens).post(create_token), "GET, HEAD, POST"),
        )
        .at("/tokens/:id/revoke", allow(post(revoke_token), "POST"))
        .at(
            "/organization",
            allow(get(organization).post(rename_org), "GET, HEAD, POST"),
        )
        .at("/organization/new", allow(post(create_org), "POST"))
        .at("/organization/delete", allow(post(delete_org), "POST"))
        .at("/organization/leave", allow(post(leave_org), "POST"))
        .at(
            "/members",
            allow(get(members_get).post(invite), "GET, HEAD, POST"),
        )
        .at("/members/:user_id/role", allow(post(set_role), "POST"))
        .at(
            "/members/:user_id/remove",
            allow(post(remove_member), "POST"),
        )
        .at("/invites/:id/revoke", allow(post(revoke_invite), "POST"))
        .at("/invites/:id/resend", allow(post(resend_invite), "POST"))
        .at(
            "/projects",
            allow(get(projects).post(create_project), "GET, HEAD, POST"),
        )
        .at("/projects/:id/rename", allow(post(rename_project), "POST"))
        .at("/projects/:id/delete", allow(post(delete_project), "POST"))
        .at(
            "/api-keys",
            allow(get(api_keys).post(create_api_key), "GET, HEAD, POST"),
        )
        .at("/api-keys/:id/revoke", allow(post(revoke_api_key), "POST"))
}

const ACCOUNT: [(&str, &str); 4] = [
    ("profile", "Profile and sessions"),
    ("appearance", "Appearance"),
    ("notifications", "Notifications"),
    ("tokens", "Personal tokens"),
];
const ORGANIZATION: [(&str, &str); 4] = [
    ("organization", "Organization"),
    ("members", "Members and invites"),
    ("projects", "Projects"),
    ("api-keys", "API keys"),
];

fn shell(ctx: &PageCtx, current: &str, title: &str, body: Markup) -> Markup {
    let link = |slug: &str, label: &str| {
        html! {
            @if slug == current {
                a href=(format!("/settings/{slug}")) aria-current="page" { (label) }
            } @else {
                a href=(format!("/settings/{slug}")) { (label) }
            }
        }
    };
    let content = html! {
        div class="page-head" { h1 { "Settings" } }
        div class="settings" {
            nav class="settings-nav" aria-label="Settings" {
                p class="small muted" { "Account" }
                @for (slug, label) in ACCOUNT { (link(slug, label)) }
                @if let Some(p) = &ctx.project {
                    p class="small muted" { (p.org_name) }
                    @for (slug, label) in ORGANIZATION { (link(slug, label)) }
                }
            }
            div class="settings-body" {
                h2 { (title) }
                (body)
            }
        }
    };
    layout(ctx, title, Tab::Settings, &Filters::default(), content)
}

/// Runs a settings change; a refusal the user can act on comes back as a message on
/// the page, anything else as an error page.
fn outcome<T>(
    state: &SharedState,
    req: &Request,
    result: AppResult<T>,
    ok: impl FnOnce(&T) -> String,
    back: &str,
) -> PageResult {
    match result {
        Ok(v) => security::flash(state, req, &ok(&v)),
        Err(
            e @ (AppError::Invalid { .. }
            | AppError::Forbidden { .. }
            | AppError::Conflict(_)
            | AppError::NotFound(_)),
        ) => security::flash_error(state, req, &e.to_string()),
        Err(e) => return Err(e.into()),
    }
    Ok(see_other(back))
}

fn role_of(ctx: &PageCtx) -> Option<Role> {
    ctx.project.as_ref().map(|p| p.role)
}

fn org_id(ctx: &PageCtx) -> PageResult<String> {
    Ok(ctx.project()?.org_id.clone())
}

#[derive(Deserialize)]
pub struct Posted {
    #[serde(default)]
    csrf: String,
    #[serde(flatten)]
    fields: HashMap<String, String>,
}

impl Posted {
    fn get(&self, name: &str) -> &str {
        self.fields.get(name).map_or("", |v| v.trim())
    }
}

#[handler]
pub fn index() -> poem::Response {
    see_other("/settings/profile")
}

// ---- profile, password, sessions ----

fn profile_view(ctx: &PageCtx, sessions: &[UserSessionRow]) -> Markup {
    shell(
        ctx,
        "profile",
        "Profile and sessions",
        html! {
            section class="card" {
                h3 class="card-title" { "Profile" }
                form class="stack" method="post" action="/settings/profile" {
                    (csrf_field(&ctx.csrf))
                    label { span class="label-text" { "Email" } input type="email" value=(ctx.who().email) disabled; }
                    label { span class="label-text" { "Name" } input type="text" name="name" value=(ctx.name.as_deref().unwrap_or("")) maxlength="120" autocomplete="name"; }
                    button class="btn btn-primary" type="submit" { "Save" }
                }
            }
            section class="card" {
                h3 class="card-title" { "Password" }
                form class="stack" method="post" action="/settings/password" {
                    (csrf_field(&ctx.csrf))
                    label { span class="label-text" { "Current password" } input type="password" name="current" autocomplete="current-password" required; }
                    label { span class="label-text" { "New password" } input type="password" name="new" autocomplete="new-password" minlength="10" required; span class="hint" { "At least 10 characters." } }
                    label class="checkbox" { input type="checkbox" name="keep_others" value="on"; span { "Keep my other sessions and personal tokens" } }
                    p class="hint" { "Unless you tick this, every other session is logged out and every personal token revoked, so nothing taken before the change keeps working." }
                    button class="btn btn-primary" type="submit" { "Change password" }
                }
            }
            section class="card" {
                div class="card-head" {
                    h3 class="card-title" { "Sessions" }
                    @if sessions.len() > 1 {
                        form class="inline" method="post" action="/settings/sessions/revoke-others" {
                            (csrf_field(&ctx.csrf))
                            button class="btn btn-small" type="submit" { "Log out everywhere else" }
                        }
                    }
                }
                div class="table-wrap" {
                    table class="table table-stack" {
                        thead { tr { th scope="col" { "Device" } th scope="col" { "Address" } th scope="col" { "Signed in" } th scope="col" { "Last active" } th scope="col" { span class="sr-only" { "Actions" } } } }
                        tbody {
                            @for s in sessions {
                                @let current = ctx.who().session_id.as_deref() == Some(s.id.as_str());
                                tr {
                                    td { @if current { span class="badge badge-good" { "This session" } " " } span class="truncate" { (s.user_agent.as_deref().unwrap_or("unknown")) } }
                                    td class="mono" { (s.ip.as_deref().unwrap_or("–")) }
                                    td { (time(s.created_at)) }
                                    td { (time(s.last_seen_at)) }
                                    td {
                                        @if !current {
                                            form class="inline" method="post" action=(format!("/settings/sessions/{}/revoke", s.id)) {
                                                (csrf_field(&ctx.csrf))
                                                button class="btn btn-small" type="submit" { "Log out" }
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

#[handler]
pub async fn profile(req: &Request, state: Data<&SharedState>) -> PageResult {
    let ctx = PageCtx::load(&state, req).await?;
    let sessions = auth::sessions(&state, ctx.who()).await?;
    Ok(html(profile_view(&ctx, &sessions)))
}

#[handler]
pub async fn update_profile(
    req: &Request,
    state: Data<&SharedState>,
    Form(f): Form<Posted>,
) -> PageResult {
    let s = Session::for_form(&state, req, &f.csrf).await?;
    let r = auth::update_name(&state, &s.who, Some(f.get("name"))).await;
    outcome(
        &state,
        req,
        r,
        |_| "Profile saved.".into(),
        "/settings/profile",
    )
}

#[handler]
pub async fn change_password(
    req: &Request,
    state: Data<&SharedState>,
    Form(f): Form<Posted>,
) -> PageResult {
    let s = Session::for_form(&state, req, &f.csrf).await?;
    let sign_out_others = f.get("keep_others") != "on";
    let r = auth::change_password(
        &state,
        &s.who,
        f.get("current"),
        f.get("new"),
        sign_out_others,
    )
    .await;
    outcome(
        &state,
        req,
        r,
        move |_| {
            if sign_out_others {
                "Password changed; your other sessions are logged out and your personal tokens revoked.".into()
            } else {
                "Password changed.".into()
            }
        },
        "/settings/profile",
    )
}

#[handler]
pub async fn revoke_session(
    req: &Request,
    state: Data<&SharedState>,
    Path(id): Path<String>,
    Form(f): Form<Posted>,
) -> PageResult {
    let s = Session::for_form(&state, req, &f.csrf).await?;
    let r = auth::revoke_session(&state, &s.who, &id).await;
    outcome(
        &state,
        req,
        r,
        |_| "That session is logged out.".into(),
        "/settings/profile",
    )
}

#[handler]
pub async fn revoke_other_sessions(
    req: &Request,
    state: Data<&SharedState>,
    Form(f): Form<Posted>,
) -> PageResult {
    let s = Session::for_form(&state, req, &f.csrf).await?;
    let r = auth::revoke_other_sessions(&state, &s.who).await;
    outcome(
        &state,
        req,
        r,
        |n| format!("{n} other sessions logged out."),
        "/settings/profile",
    )
}

// ---- appearance ----

#[handler]
pub async fn appearance(req: &Request, state: Data<&SharedState>) -> PageResult {
    let ctx = PageCtx::load(&state, req).await?;
    let choices = [
        (
            "system",
            "System",
            "Follows your device's light or dark setting.",
        ),
        ("light", "Light", "Dark text on a light background."),
        ("dark", "Dark", "Light text on a dark background."),
    ];
    Ok(html(shell(
        &ctx,
        "appearance",
        "Appearance",
        html! {
            form class="stack" method="post" action="/settings/appearance" {
                (csrf_field(&ctx.csrf))
                fieldset {
                    legend { "Theme" }
                    div class="radio-cards" {
                        @for (value, title, hint) in choices {
                            label class="radio-card" {
                                input type="radio" name="theme" value=(value) checked[ctx.theme == value] data-autosubmit;
                                span class="radio-title" { (title) }
                                span class="hint" { (hint) }
                            }
                        }
                    }
                }
                button class="btn btn-primary" type="submit" { "Save" }
            }
            p class="muted small" { "Kept with your account, on every device you log in from." }
        },
    )))
}

#[handler]
pub async fn set_appearance(
    req: &Request,
    state: Data<&SharedState>,
    Form(f): Form<Posted>,
) -> PageResult {
    let s = Session::for_form(&state, req, &f.csrf).await?;
    let r = preferences::set_theme(&state, &s.who, f.get("theme")).await;
    outcome(
        &state,
        req,
        r,
        |_| "Theme saved.".into(),
        "/settings/appearance",
    )
}

// ---- notifications ----

#[handler]
pub async fn notification_prefs(req: &Request, state: Data<&SharedState>) -> PageResult {
    let ctx = PageCtx::load(&state, req).await?;
    let prefs = preferences::get(&state, ctx.who()).await?.notifications;
    let mail = state.mailer.is_configured();
    Ok(html(shell(
        &ctx,
        "notifications",
        "Notifications",
        html! {
            p class="muted" { "About the projects of every organization you belong to." }
            form class="stack" method="post" action="/settings/notifications" {
                (csrf_field(&ctx.csrf))
                div class="table-wrap" {
                    table class="table table-stack" {
                        thead { tr { th scope="col" { "When" } th scope="col" { "In the bell" } th scope="col" { "By mail" } } }
                        tbody {
                            @for kind in Kind::ALL {
                                @let c = prefs.channels(kind);
                                tr {
                                    th scope="row" { (kind.label()) }
                                    td { label class="checkbox" { input type="checkbox" name=(format!("{}_bell", kind.as_str())) value="on" checked[c.bell]; span class="sr-only" { (kind.label()) " in the bell" } } }
                                    td { label class="checkbox" { input type="checkbox" name=(format!("{}_email", kind.as_str())) value="on" checked[c.email]; span class="sr-only" { (kind.label()) " by mail" } } }
                                }
                            }
                        }
                    }
                }
                @if !mail {
                    p class="hint" { "This server has no mail server configured (SMTP_URL), so mail is only written to its log." }
                }
                button class="btn btn-primary" type="submit" { "Save" }
            }
        },
    )))
}

#[handler]
pub async fn set_notification_prefs(
    req: &Request,
    state: Data<&SharedState>,
    Form(f): Form<Posted>,
) -> PageResult {
    let s = Session::for_form(&state, req, &f.csrf).await?;
    let mut prefs = Prefs::default();
    for kind in Kind::ALL {
        let on = |channel: &str| f.get(&format!("{}_{channel}", kind.as_str())) == "on";
        prefs.set(
            kind,
            Channels {
                bell: on("bell"),
                email: on("email"),
            },
        );
    }
    let r = preferences::set_notifications(&state, &s.who, prefs).await;
    outcome(
        &state,
        req,
        r,
        |_| "Notification settings saved.".into(),
        "/settings/notifications",
    )
}

// ---- personal tokens ----

fn tokens_view(ctx: &PageCtx, list: &[TokenRow], created: Option<&str>) -> Markup {
    shell(
        ctx,
        "tokens",
        "Personal tokens",
        html! {
            p class="muted" { "Tokens let scripts read the API as you, with your roles: send " code { "Authorization: Bearer <token>" } ". See " a href="/api/docs" { "the API reference" } "." }
            @if let Some(t) = created {
                div class="secret" {
                    p { strong { "Your new token" } " — shown only once; copy it now." }
                    code id="new-token" { (t) }
                    button class="btn btn-small copy" type="button" data-copy="#new-token" { "Copy" }
                }
            }
            section class="card" {
                h3 class="card-title" { "New token" }
                form class="stack" method="post" action="/settings/tokens" {
                    (csrf_field(&ctx.csrf))
                    label { span class="label-text" { "Name" } input type="text" name="name" required maxlength="120" placeholder="CI export"; }
                    label { span class="label-text" { "Expires after (days, optional)" } input type="number" name="days" min="1" max="3650"; }
                    button class="btn btn-primary" type="submit" { "Create token" }
                }
            }
            @if list.is_empty() {
                (empty("No tokens", "Create one for each script or tool, so that you can revoke them one by one.", html! {}))
            } @else {
                div class="table-wrap" {
                    table class="table table-stack" {
                        thead { tr { th scope="col" { "Name" } th scope="col" { "Token" } th scope="col" { "Created" } th scope="col" { "Last used" } th scope="col" { "Expires" } th scope="col" { span class="sr-only" { "Actions" } } } }
                        tbody {
                            @for t in list {
                                tr {
                                    td { (t.name) }
                                    td class="mono" { (t.prefix) "…" }
                                    td { (time(t.created_at)) }
                                    td { @if let Some(u) = t.last_used_at { (time(u)) } @else { "never" } }
                                    td { @if let Some(e) = t.expires_at { (time(e)) } @else { "never" } }
                                    td {
                                        form class="inline" method="post" action=(format!("/settings/tokens/{}/revoke", t.id)) data-confirm="Revoke this token? Scripts using it stop working." {
                                            (csrf_field(&ctx.csrf))
                                            button class="btn btn-small btn-danger" type="submit" { "Revoke" }
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

#[handler]
pub async fn tokens(req: &Request, state: Data<&SharedState>) -> PageResult {
    let ctx = PageCtx::load(&state, req).await?;
    let list = orgs::tokens(&state, ctx.who()).await?;
    Ok(html(tokens_view(&ctx, &list, None)))
}

fn days(text: &str) -> AppResult<Option<u32>> {
    if text.is_empty() {
        return Ok(None);
    }
    text.parse::<u32>()
        .ok()
        .filter(|d| (1..=3650).contains(d))
        .map(Some)
        .ok_or_else(|| AppError::invalid("days", "the expiry must be 1–3650 days"))
}

#[handler]
pub async fn create_token(
    req: &Request,
    state: Data<&SharedState>,
    Form(f): Form<Posted>,
) -> PageResult {
    let s = Session::for_form(&state, req, &f.csrf).await?;
    let created = match days(f.get("days")) {
        Ok(d) => orgs::create_token(&state, &s.who, f.get("name"), d, &s.meta(&state, req)).await,
        Err(e) => Err(e),
    };
    match created {
        Ok(t) => {
            let ctx = PageCtx::load(&state, req).await?;
            let list = orgs::tokens(&state, ctx.who()).await?;
            Ok(html(tokens_view(&ctx, &list, Some(&t.token))))
        }
        Err(e) => outcome(
            &state,
            req,
            Err::<(), _>(e),
            |_| String::new(),
            "/settings/tokens",
        ),
    }
}

#[handler]
pub async fn revoke_token(
    req: &Request,
    state: Data<&SharedState>,
    Path(id): Path<String>,
    Form(f): Form<Posted>,
) -> PageResult {
    let s = Session::for_form(&state, req, &f.csrf).await?;
    let r = orgs::revoke_token(&state, &s.who, &id, &s.meta(&state, req)).await;
    outcome(
        &state,
        req,
        r,
        |_| "Token revoked.".into(),
        "/settings/tokens",
    )
}

// ---- organization ----

fn audit_rows(rows: &[AuditRow]) -> Markup {
    html! {
        div class="table-wrap" {
            table class="table table-stack" {
                thead { tr { th scope="col" { "When" } th scope="col" { "Who" } th scope="col" { "What" } th scope="col" { "Target" } } }
                tbody {
                    @for a in rows {
                        tr {
                            td { (time(a.created_at)) }
                            td { (a.actor_email.as_deref().unwrap_or("–")) }
                            td class="mono" { (a.action) }
                            td class="mono" { span class="truncate" { (a.target.as_deref().unwrap_or("")) } }
                        }
                    }
                }
            }
        }
    }
}

#[handler]
pub async fn organization(req: &Request, state: Data<&SharedState>) -> PageResult {
    let ctx = PageCtx::load(&state, req).await?;
    let org_id = org_id(&ctx)?;
    let (org, role) = orgs::get_org(&state, ctx.who(), &org_id).await?;
    let plan = Plan::from_stored(&org.plan);
    let limits = plan.limits();
    let used = orgs::usage_this_month(&state, ctx.who(), &org_id).await?;
    let audit = if role == Role::Owner {
        orgs::audit_log(&state, ctx.who(), &org_id, None, 25).await?
    } else {
        Vec::new()
    };
    let retention = limits
        .retention_days
        .unwrap_or(state.config.retention.retention_days);
    let last_cleanup = retention::last_run(&state.db).await?;
    Ok(html(shell(
        &ctx,
        "organization",
        "Organization",
        html! {
            section class="card" {
                h3 class="card-title" { "Name" }
                @if role == Role::Owner {
                    form class="stack" method="post" action="/settings/organization" {
                        (csrf_field(&ctx.csrf))
                        input type="hidden" name="org" value=(org.id);
                        label { span class="label-text" { "Organization name" } input type="text" name="name" value=(org.name) required maxlength="120"; }
                        button class="btn btn-primary" type="submit" { "Rename" }
                    }
                } @else {
                    p { (org.name) " · your role: " span class="badge badge-role" { (role) } }
                }
            }
            section class="card" {
                h3 class="card-title" { "Plan and usage" }
                dl class="meta-list" {
                    dt { "Plan" } dd { (plan.as_str()) }
                    dt { "Ingest this month" } dd {
                        (count(used)) " units"
                        @if let Some(limit) = limits.monthly_units { " of " (count(limit)) }
                        @else { " (unlimited)" }
                    }
                    dt { "Data kept" } dd { (retention) " days" }
                dt { "Last clean-up" } dd {
                    @match &last_cleanup {
                        Some(run) => { (time(run.finished_at)) " · " (count(run.rows_deleted)) " rows deleted" }
                        None => { "not run yet (nightly at the time RETENTION_CRON sets)" }
                    }
                }
                }
            }
            @if role == Role::Owner {
                section class="card" {
                    h3 class="card-title" { "Recent activity" }
                    @if audit.is_empty() { p class="muted" { "Nothing yet." } } @else { (audit_rows(&audit)) }
                }
            }
            section class="card" {
                h3 class="card-title" { "Another organization" }
                form class="stack" method="post" action="/settings/organization/new" {
                    (csrf_field(&ctx.csrf))
                    label { span class="label-text" { "Name" } input type="text" name="name" required maxlength="120"; }
                    button class="btn" type="submit" { "Create organization" }
                }
            }
            section class="card" {
                h3 class="card-title" { "Leave or delete" }
                form class="inline" method="post" action="/settings/organization/leave" data-confirm="Leave this organization? You lose access to its projects." {
                    (csrf_field(&ctx.csrf))
                    input type="hidden" name="org" value=(org.id);
                    button class="btn" type="submit" { "Leave " (org.name) }
                }
                @if role == Role::Owner {
                    form class="stack" method="post" action="/settings/organization/delete" {
                        (csrf_field(&ctx.csrf))
                        input type="hidden" name="org" value=(org.id);
                        label { span class="label-text" { "Type the organization's name to delete it with its projects and keys" }
                            input type="text" name="confirm" required autocomplete="off"; }
                        button class="btn btn-danger" type="submit" { "Delete organization" }
                    }
                }
            }
        },
    )))
}

#[handler]
pub async fn rename_org(
    req: &Request,
    state: Data<&SharedState>,
    Form(f): Form<Posted>,
) -> PageResult {
    let s = Session::for_form(&state, req, &f.csrf).await?;
    let r = orgs::rename_org(
        &state,
        &s.who,
        f.get("org"),
        f.get("name"),
        &s.meta(&state, req),
    )
    .await;
    outcome(
        &state,
        req,
        r,
        |o| format!("Renamed to {}.", o.name),
        "/settings/organization",
    )
}

#[handler]
pub async fn create_org(
    req: &Request,
    state: Data<&SharedState>,
    Form(f): Form<Posted>,
) -> PageResult {
    let s = Session::for_form(&state, req, &f.csrf).await?;
    let r = orgs::create_org(&state, &s.who, f.get("name"), &s.meta(&state, req)).await;
    let ok = r.is_ok();
    let res = outcome(
        &state,
        req,
        r,
        |o| format!("Created {}; now add a project to it.", o.name),
        "/onboarding",
    )?;
    Ok(if ok {
        res
    } else {
        see_other("/settings/organization")
    })
}

#[handler]
pub async fn delete_org(
    req: &Request,
    state: Data<&SharedState>,
    Form(f): Form<Posted>,
) -> PageResult {
    let s = Session::for_form(&state, req, &f.csrf).await?;
    let (org, _) = orgs::get_org(&state, &s.who, f.get("org")).await?;
    if f.get("confirm") != org.name {
        security::flash_error(
            &state,
            req,
            "The name you typed does not match; nothing was deleted.",
        );
        return Ok(see_other("/settings/organization"));
    }
    let r = orgs::delete_org(&state, &s.who, &org.id, &s.meta(&state, req)).await;
    outcome(&state, req, r, |_| format!("{} is deleted.", org.name), "/")
}

#[handler]
pub async fn leave_org(
    req: &Request,
    state: Data<&SharedState>,
    Form(f): Form<Posted>,
) -> PageResult {
    let s = Session::for_form(&state, req, &f.csrf).await?;
    let user_id = s.who.user_id.clone();
    let r = orgs::remove_member(&state, &s.who, f.get("org"), &user_id, &s.meta(&state, req)).await;
    let ok = r.is_ok();
    let res = outcome(&state, req, r, |_| "You left the organization.".into(), "/")?;
    Ok(if ok {
        res
    } else {
        see_other("/settings/organization")
    })
}

// ---- members and invites ----

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
        orgs::invites(state, ctx.who(), &org_id).await?
    } else {
        Vec::new()
    };
    Ok(html(members_view(&ctx, &org_id, &members, &invites, link)))
}

#[handler]
pub async fn members_get(req: &Request, state: Data<&SharedState>) -> PageResult {
    members_page(&state, req, None).await
}

fn role_field(f: &Posted) -> AppResult<Role> {
    f.get("role")
        .parse::<Role>()
        .map_err(|m| AppError::invalid("role", m))
}

/// Invites and shows the link too, so an invite works without mail.
#[handler]
pub async fn invite(req: &Request, state: Data<&SharedState>, Form(f): Form<Posted>) -> PageResult {
    let s = Session::for_form(&state, req, &f.csrf).await?;
    let created = match role_field(&f) {
        Ok(role) => {
            orgs::invite(
                &state,
                &s.who,
                f.get("org"),
                f.get("email"),
                role,
                &s.meta(&state, req),
            )
            .await
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
        Err(e) => outcome(
            &state,
            req,
            Err::<(), _>(e),
            |_| String::new(),
            "/settings/members",
        ),
    }
}

#[handler]
pub async fn set_role(
    req: &Request,
    state: Data<&SharedState>,
    Path(user_id): Path<String>,
    Form(f): Form<Posted>,
) -> PageResult {
    let s = Session::for_form(&state, req, &f.csrf).await?;
    let r = match role_field(&f) {
        Ok(role) => {
            orgs::set_role(
                &state,
                &s.who,
                f.get("org"),
                &user_id,
                role,
                &s.meta(&state, req),
            )
            .await
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
pub async fn remove_member(
    req: &Request,
    state: Data<&SharedState>,
    Path(user_id): Path<String>,
    Form(f): Form<Posted>,
) -> PageResult {
    let s = Session::for_form(&state, req, &f.csrf).await?;
    let r = orgs::remove_member(&state, &s.who, f.get("org"), &user_id, &s.meta(&state, req)).await;
    outcome(
        &state,
        req,
        r,
        |_| "Member removed.".into(),
        "/settings/members",
    )
}

#[handler]
pub async fn revoke_invite(
    req: &Request,
    state: Data<&SharedState>,
    Path(id): Path<String>,
    Form(f): Form<Posted>,
) -> PageResult {
    let s = Session::for_form(&state, req, &f.csrf).await?;
    let r = orgs::revoke_invite(&state, &s.who, f.get("org"), &id, &s.meta(&state, req)).await;
    outcome(
        &state,
        req,
        r,
        |_| "Invite revoked.".into(),
        "/settings/members",
    )
}

#[handler]
pub async fn resend_invite(
    req: &Request,
    state: Data<&SharedState>,
    Path(id): Path<String>,
    Form(f): Form<Posted>,
) -> PageResult {
    let s = Session::for_form(&state, req, &f.csrf).await?;
    match orgs::resend_invite(&state, &s.who, f.get("org"), &id, &s.meta(&state, req)).await {
        Ok(c) => {
            security::flash(
                &state,
                req,
                &format!("A new link for {} replaces the old one.", c.invite.email),
            );
            members_page(&state, req, Some(&c.link)).await
        }
        Err(e) => outcome(
            &state,
            req,
            Err::<(), _>(e),
            |_| String::new(),
            "/settings/members",
        ),
    }
}

// ---- projects ----

fn projects_view(ctx: &PageCtx, org_id: &str, list: &[ProjectRow]) -> Markup {
    let editor = ctx.can_edit();
    let owner = ctx.is_owner();
    shell(
        ctx,
        "projects",
        "Projects",
        html! {
            @if editor {
                section class="card" {
                    h3 class="card-title" { "New project" }
                    form class="filters" method="post" action="/settings/projects" {
                        (csrf_field(&ctx.csrf))
                        input type="hidden" name="org" value=(org_id);
                        label class="field" { span { "Name" } input type="text" name="name" required maxlength="120"; }
                        button class="btn btn-primary" type="submit" { "Create project" }
                    }
                }
            }
            div class="table-wrap" {
                table class="table table-stack" {
                    thead { tr { th scope="col" { "Project" } th scope="col" { "Slug" } th scope="col" { "Id" } th scope="col" { "Created" } @if editor { th scope="col" { span class="sr-only" { "Actions" } } } } }
                    tbody {
                        @for p in list {
                            tr {
                                td { a href=(format!("/switch?project={}&to=/", p.id)) { (p.name) } }
                                td class="mono" { (p.slug) }
                                td class="mono small" { (p.id) }
                                td { (time(p.created_at)) }
                                @if editor {
                                    td {
                                        form class="inline" method="post" action=(format!("/settings/projects/{}/rename", p.id)) {
                                            (csrf_field(&ctx.csrf))
                                            label class="field" { span class="sr-only" { "New name of " (p.name) } input type="text" name="name" value=(p.name) required maxlength="120"; }
                                            button class="btn btn-small" type="submit" { "Rename" }
                                        }
                                        @if owner {
                                            " "
                                            form class="inline" method="post" action=(format!("/settings/projects/{}/delete", p.id)) data-confirm="Delete this project? Its keys stop working and its data is no longer shown." {
                                                (csrf_field(&ctx.csrf))
                                                button class="btn btn-small btn-danger" type="submit" { "Delete" }
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

#[handler]
pub async fn projects(req: &Request, state: Data<&SharedState>) -> PageResult {
    let ctx = PageCtx::load(&state, req).await?;
    let org_id = org_id(&ctx)?;
    let list = orgs::projects(&state, ctx.who(), &org_id).await?;
    Ok(html(projects_view(&ctx, &org_id, &list)))
}

#[handler]
pub async fn create_project(
    req: &Request,
    state: Data<&SharedState>,
    Form(f): Form<Posted>,
) -> PageResult {
    let s = Session::for_form(&state, req, &f.csrf).await?;
    let r = orgs::create_project(
        &state,
        &s.who,
        f.get("org"),
        f.get("name"),
        &s.meta(&state, req),
    )
    .await;
    outcome(
        &state,
        req,
        r,
        |p| format!("Project {} created; create an API key for it.", p.name),
        "/settings/projects",
    )
}

#[handler]
pub async fn rename_project(
    req: &Request,
    state: Data<&SharedState>,
    Path(id): Path<String>,
    Form(f): Form<Posted>,
) -> PageResult {
    let s = Session::for_form(&state, req, &f.csrf).await?;
    let r = orgs::rename_project(&state, &s.who, &id, f.get("name"), &s.meta(&state, req)).await;
    outcome(
        &state,
        req,
        r,
        |p| format!("Renamed to {}.", p.name),
        "/settings/projects",
    )
}

#[handler]
pub async fn delete_project(
    req: &Request,
    state: Data<&SharedState>,
    Path(id): Path<String>,
    Form(f): Form<Posted>,
) -> PageResult {
    let s = Session::for_form(&state, req, &f.csrf).await?;
    let r = orgs::delete_project(&state, &s.who, &id, &s.meta(&state, req)).await;
    outcome(
        &state,
        req,
        r,
        |_| "Project deleted.".into(),
        "/settings/projects",
    )
}

// ---- API keys ----

fn keys_view(ctx: &PageCtx, keys: Option<&[ApiKeyRow]>, created: Option<&str>) -> Markup {
    let project = ctx.project.as_ref();
    shell(
        ctx,
        "api-keys",
        "API keys",
        html! {
            p class="muted" {
                "Keys of the project " @if let Some(p) = project { strong { (p.name) } } " (switch project at the top). SDKs send with them; a key can only ingest, never read."
            }
            @if let Some(k) = created {
                div class="secret" {
                    p { strong { "Your new API key" } " — shown only once; copy it now." }
                    code id="new-key" { (k) }
                    button class="btn btn-small copy" type="button" data-copy="#new-key" { "Copy key" }
                }
            }
            @match keys {
                None => {
                    (empty("Only owners and editors manage keys", "Ask an owner or editor of this organization for an API key.", html! {}))
                }
                Some(keys) => {
                    section class="card" {
                        h3 class="card-title" { "New key" }
                        form class="filters" method="post" action="/settings/api-keys" {
                            (csrf_field(&ctx.csrf))
                            @if let Some(p) = project { input type="hidden" name="project" value=(p.id); }
                            label class="field" { span { "Label" } input type="text" name="label" maxlength="120" placeholder="web"; }
                            label class="field" { span { "Only for app (optional)" } input type="text" name="app" maxlength="128"; }
                            label class="field" { span { "Expires after days (optional)" } input type="number" name="days" min="1" max="3650"; }
                            button class="btn btn-primary" type="submit" { "Create key" }
                        }
                    }
                    @if keys.is_empty() {
                        (empty("No keys yet", "Create a key and put it into your app's SDK configuration.", html! { a class="btn" href="/onboarding" { "SDK setup" } }))
                    } @else {
                        div class="table-wrap" {
                            table class="table table-stack" {
                                thead { tr { th scope="col" { "Label" } th scope="col" { "Key" } th scope="col" { "App" } th scope="col" { "Created" } th scope="col" { "Last used" } th scope="col" { "Status" } th scope="col" { span class="sr-only" { "Actions" } } } }
                                tbody {
                                    @for k in keys {
                                        tr {
                                            td { (k.label.as_deref().unwrap_or("–")) }
                                            td class="mono small" { "tt_live_" (k.public_id) "_…" }
                                            td { (k.allowed_app.as_deref().unwrap_or("any")) }
                                            td { (time(k.created_at)) }
                                            td { @if let Some(u) = k.last_used_at { (time(u)) } @else { "never" } }
                                            td {
                                                @if k.revoked_at.is_some() { span class="badge badge-ignored" { "Revoked" } }
                                                @else if k.expires_at.is_some_and(|e| e <= crate::web::components::now_ms()) { span class="badge badge-ignored" { "Expired" } }
                                                @else { span class="badge badge-good" { "Active" } }
                                            }
                                            td {
                                                @if k.revoked_at.is_none() {
                                                    form class="inline" method="post" action=(format!("/settings/api-keys/{}/revoke", k.id)) data-confirm="Revoke this key? Apps sending with it are refused from now on." {
                                                        (csrf_field(&ctx.csrf))
                                                        input type="hidden" name="project" value=(k.project_id);
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
            }
        },
    )
}

async fn keys_page(state: &SharedState, req: &Request, created: Option<&str>) -> PageResult {
    let ctx = PageCtx::load(state, req).await?;
    let project = ctx.project()?.id.clone();
    let keys = if ctx.can_edit() {
        Some(orgs::api_keys(state, ctx.who(), &project).await?)
    } else {
        None
    };
    Ok(html(keys_view(&ctx, keys.as_deref(), created)))
}

#[handler]
pub async fn api_keys(req: &Request, state: Data<&SharedState>) -> PageResult {
    keys_page(&state, req, None).await
}

#[handler]
pub async fn create_api_key(
    req: &Request,
    state: Data<&SharedState>,
    Form(f): Form<Posted>,
) -> PageResult {
    let s = Session::for_form(&state, req, &f.csrf).await?;
    let label = Some(f.get("label")).filter(|l| !l.is_empty());
    let app = Some(f.get("app")).filter(|a| !a.is_empty());
    let created = match days(f.get("days")) {
        Ok(d) => {
            orgs::create_api_key(
                &state,
                &s.who,
                f.get("project"),
                label,
                app,
                d,
                &s.meta(&state, req),
            )
            .await
        }
        Err(e) => Err(e),
    };
    match created {
        Ok(k) => keys_page(&state, req, Some(&k.key)).await,
        Err(e) => outcome(
            &state,
            req,
            Err::<(), _>(e),
            |_| String::new(),
            "/settings/api-keys",
        ),
    }
}

#[handler]
pub async fn revoke_api_key(
    req: &Request,
    state: Data<&SharedState>,
    Path(id): Path<String>,
    Form(f): Form<Posted>,
) -> PageResult {
    let s = Session::for_form(&state, req, &f.csrf).await?;
    let r = orgs::revoke_api_key(&state, &s.who, f.get("project"), &id, &s.meta(&state, req)).await;
    outcome(
        &state,
        req,
        r,
        |_| "Key revoked.".into(),
        "/settings/api-keys",
    )
}
