//! Settings → Instance (administrators only): the server at a glance, the
//! registration policy, a test mail, the users, and the instance audit log. The
//! same service functions as `/api/admin/*`.

use super::{outcome, shell, trimmed, CsrfForm};
use crate::service::admin::{self, Actor, AdminUser, InstanceSettings, Overview};
use crate::state::SharedState;
use crate::store::InstanceAuditRow;
use crate::web::components::{byte_size, csrf_field, time};
use crate::web::context::{query_param, PageCtx, Session};
use crate::web::error::PageResult;
use crate::web::{html, see_other};
use maud::{html, Markup};
use poem::web::{Data, Form, Path};
use poem::{handler, Request};
use serde::Deserialize;

const BACK: &str = "/settings/instance";
const AUDIT_SHOWN: i64 = 20;

fn overview_card(o: &Overview, ctx: &PageCtx) -> Markup {
    html! {
        section class="card" {
            h3 class="card-title" { "Server" }
            dl class="meta-list" {
                dt { "Version" } dd class="mono" { (o.version) }
                dt { "Database" } dd {
                    (if o.backend == "sqlite" { "SQLite" } else { "PostgreSQL" })
                    @if let Some(b) = o.database_bytes { ", " (byte_size(b)) }
                }
                @if let Some(dir) = &o.data_dir {
                    dt { "Data directory" } dd {
                        span class="mono" { (dir) }
                        @if let Some(free) = o.data_dir_free_bytes { " — " (byte_size(free as i64)) " free" }
                    }
                }
                dt { "Ingest queue" } dd { (o.queue_depth) " waiting" }
                dt { "Users, organizations, projects" } dd { (o.users) ", " (o.organizations) ", " (o.projects) }
                dt { "Mail" } dd {
                    @if o.mail_configured { "sent through SMTP_URL" } @else { "not configured: written to the server's log" }
                }
            }
            form class="inline-form" method="post" action="/settings/instance/test-email" {
                (csrf_field(&ctx.csrf))
                label { span class="label-text" { "Send a test mail to" } input type="email" name="to" required maxlength="254" value=(ctx.who().email); }
                button class="btn" type="submit" { "Send test mail" }
            }
            @if !o.jobs.is_empty() {
                h4 class="small" { "Latest job runs" }
                div class="table-wrap" {
                    table class="table table-stack" {
                        thead { tr { th scope="col" { "Job" } th scope="col" { "Started" } th scope="col" { "Outcome" } th scope="col" { "Process" } } }
                        tbody {
                            @for j in &o.jobs {
                                tr {
                                    td class="mono" { (j.job) }
                                    td { (time(j.started_at)) }
                                    td { @match j.ok { Some(1) => "succeeded", Some(_) => "failed", None => "running or interrupted" } }
                                    td class="mono small" { (j.instance) }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn registration_card(s: &InstanceSettings, ctx: &PageCtx) -> Markup {
    html! {
        section class="card" {
            h3 class="card-title" { "Registration" }
            @if s.locked_by_env {
                p class="muted" {
                    "Set by " code { "TELEMETRY_ALLOW_REGISTRATION" } " in the server's environment: sign-up is "
                    strong { (if s.registration_open { "open to anyone" } else { "by invite only" }) }
                    ". Unset it to choose here."
                }
            } @else {
                form class="stack" method="post" action="/settings/instance/registration" {
                    (csrf_field(&ctx.csrf))
                    fieldset {
                        legend class="label-text" { "Who can create an account" }
                        label class="checkbox" {
                            input type="radio" name="registration" value="invite_only" checked[!s.registration_open];
                            " Only people invited to an organization"
                        }
                        label class="checkbox" {
                            input type="radio" name="registration" value="open" checked[s.registration_open];
                            " Anyone (they confirm their address by mail)"
                        }
                    }
                    button class="btn btn-primary" type="submit" { "Save" }
                }
            }
        }
    }
}

fn user_row(u: &AdminUser, ctx: &PageCtx) -> Markup {
    let r = &u.row;
    let action = |path: &str| format!("/settings/instance/users/{}/{path}", r.id);
    let me = r.id == ctx.who().user_id;
    html! {
        tr {
            td {
                span class="truncate" { (r.email) }
                @if let Some(n) = &r.name { div class="small muted" { (n) } }
            }
            td {
                @if r.is_admin != 0 { span class="badge badge-good" { "Administrator" } " " }
                @if r.disabled_at.is_some() { span class="badge badge-poor" { "Disabled" } }
            }
            td class="small" {
                @if u.orgs.is_empty() { "–" }
                @for (i, (_, name, role)) in u.orgs.iter().enumerate() {
                    @if i > 0 { ", " }
                    (name) span class="muted" { " (" (role.to_lowercase()) ")" }
                }
            }
            td { (time(r.created_at)) }
            td { @if let Some(at) = r.last_login_at { (time(at)) } @else { "never" } }
            td class="actions" {
                form class="inline" method="post" action=(action("admin")) {
                    (csrf_field(&ctx.csrf))
                    @if r.is_admin != 0 {
                        input type="hidden" name="admin" value="off";
                        button class="btn btn-small" type="submit" { (if me { "Step down" } else { "Remove administrator" }) }
                    } @else if r.disabled_at.is_none() {
                        input type="hidden" name="admin" value="on";
                        button class="btn btn-small" type="submit" { "Make administrator" }
                    }
                }
                @if r.disabled_at.is_some() {
                    form class="inline" method="post" action=(action("enable")) {
                        (csrf_field(&ctx.csrf))
                        button class="btn btn-small" type="submit" { "Enable" }
                    }
                } @else if !me {
                    form class="inline" method="post" action=(action("disable")) data-confirm=(format!("Disable {}? Their sessions end and their tokens stop working at once.", r.email)) {
                        (csrf_field(&ctx.csrf))
                        button class="btn btn-small" type="submit" { "Disable" }
                    }
                }
                @if !me {
                    form class="inline" method="post" action=(action("delete")) data-confirm=(format!("Delete {} for good?", r.email)) {
                        (csrf_field(&ctx.csrf))
                        button class="btn btn-small btn-danger" type="submit" { "Delete" }
                    }
                }
            }
        }
    }
}

fn users_card(page: &admin::UserPage, search: &str, ctx: &PageCtx) -> Markup {
    html! {
        section class="card" {
            h3 class="card-title" { "Users" }
            form class="inline-form" method="get" action=(BACK) role="search" {
                label { span class="label-text" { "Find by email or name" } input type="search" name="q" value=(search) maxlength="254"; }
                button class="btn" type="submit" { "Search" }
            }
            @if page.users.is_empty() {
                p class="muted" { "No user matches." }
            } @else {
                div class="table-wrap" {
                    table class="table table-stack" {
                        thead { tr {
                            th scope="col" { "User" } th scope="col" { "Status" } th scope="col" { "Organizations" }
                            th scope="col" { "Created" } th scope="col" { "Last sign-in" } th scope="col" { span class="sr-only" { "Actions" } }
                        } }
                        tbody { @for u in &page.users { (user_row(u, ctx)) } }
                    }
                }
            }
            @if let Some(next) = &page.next {
                p { a href=(format!("{BACK}?q={}&after={}", urlencoded(search), urlencoded(next))) { "Next users →" } }
            }
        }
    }
}

fn urlencoded(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

fn audit_card(log: &[InstanceAuditRow]) -> Markup {
    html! {
        section class="card" {
            h3 class="card-title" { "Audit log" }
            @if log.is_empty() {
                p class="muted" { "No administrative change yet." }
            } @else {
                div class="table-wrap" {
                    table class="table table-stack" {
                        thead { tr { th scope="col" { "When" } th scope="col" { "Who" } th scope="col" { "What" } th scope="col" { "Of" } } }
                        tbody {
                            @for e in log {
                                tr {
                                    td { (time(e.created_at)) }
                                    td { (e.actor_email.as_deref().unwrap_or(if e.actor_id.is_none() { "command line" } else { "deleted user" })) }
                                    td class="mono small" { (e.action) }
                                    td { (e.target.as_deref().unwrap_or("–")) }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

#[handler]
pub(super) async fn instance(req: &Request, state: Data<&SharedState>) -> PageResult {
    let ctx = PageCtx::load(&state, req).await?;
    let who = ctx.who();
    let search = query_param(req, "q").unwrap_or_default();
    let after = query_param(req, "after");
    let (settings, overview, users, log) = futures_util::try_join!(
        admin::settings(&state, who),
        admin::overview(&state, who),
        admin::users(
            &state,
            who,
            Some(&search),
            after.as_deref(),
            admin::USERS_PER_PAGE
        ),
        admin::audit_log(&state, who, None, AUDIT_SHOWN),
    )?;
    Ok(html(shell(
        &ctx,
        "instance",
        "Instance",
        html! {
            p class="muted" { "What you change here applies to the whole server. See docs/ADMIN.md." }
            (overview_card(&overview, &ctx))
            (registration_card(&settings, &ctx))
            (users_card(&users, &search, &ctx))
            (audit_card(&log))
        },
    )))
}

#[derive(Deserialize)]
struct RegistrationForm {
    #[serde(default)]
    csrf: String,
    #[serde(default, deserialize_with = "trimmed")]
    registration: String,
}

#[handler]
pub(super) async fn set_registration(
    req: &Request,
    state: Data<&SharedState>,
    Form(f): Form<RegistrationForm>,
) -> PageResult {
    let s = Session::for_form(&state, req, &f.csrf).await?;
    let open = f.registration == "open";
    let r = admin::set_registration(&state, &s.who, &s.meta(&state, req), open).await;
    outcome(
        &state,
        req,
        r,
        |s| {
            if s.registration_open {
                "Sign-up is open to anyone.".into()
            } else {
                "Sign-up is by invite only.".into()
            }
        },
        BACK,
    )
}

#[derive(Deserialize)]
struct TestMailForm {
    #[serde(default)]
    csrf: String,
    #[serde(default, deserialize_with = "trimmed")]
    to: String,
}

#[handler]
pub(super) async fn test_email(
    req: &Request,
    state: Data<&SharedState>,
    Form(f): Form<TestMailForm>,
) -> PageResult {
    let s = Session::for_form(&state, req, &f.csrf).await?;
    match admin::test_email(&state, &s.who, &s.meta(&state, req), &f.to).await {
        Ok(m) if m.sent => crate::web::security::flash(
            &state,
            req,
            &format!(
                "Test mail sent to {}; the server answered: {}",
                f.to, m.detail
            ),
        ),
        Ok(m) => crate::web::security::flash_error(&state, req, &format!("Not sent: {}", m.detail)),
        Err(e) => return outcome(&state, req, Err::<(), _>(e), |_| String::new(), BACK),
    }
    Ok(see_other(BACK))
}

#[derive(Deserialize)]
struct AdminForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    admin: String,
}

#[handler]
pub(super) async fn set_admin(
    req: &Request,
    state: Data<&SharedState>,
    Path(id): Path<String>,
    Form(f): Form<AdminForm>,
) -> PageResult {
    let s = Session::for_form(&state, req, &f.csrf).await?;
    let meta = s.meta(&state, req);
    let on = f.admin == "on";
    let r = admin::set_admin(
        &state.db,
        &state.clock,
        &Actor::Admin(&s.who, &meta),
        &id,
        on,
    )
    .await;
    outcome(
        &state,
        req,
        r,
        |u| {
            if on {
                format!("{} is an administrator.", u.row.email)
            } else {
                format!("{} is no longer an administrator.", u.row.email)
            }
        },
        BACK,
    )
}

#[handler]
pub(super) async fn disable(
    req: &Request,
    state: Data<&SharedState>,
    Path(id): Path<String>,
    Form(f): Form<CsrfForm>,
) -> PageResult {
    let s = Session::for_form(&state, req, &f.csrf).await?;
    let meta = s.meta(&state, req);
    let r = admin::disable(&state.db, &state.clock, &Actor::Admin(&s.who, &meta), &id).await;
    outcome(
        &state,
        req,
        r,
        |u| {
            format!(
                "{} is disabled; their sessions and tokens no longer work.",
                u.row.email
            )
        },
        BACK,
    )
}

#[handler]
pub(super) async fn enable(
    req: &Request,
    state: Data<&SharedState>,
    Path(id): Path<String>,
    Form(f): Form<CsrfForm>,
) -> PageResult {
    let s = Session::for_form(&state, req, &f.csrf).await?;
    let meta = s.meta(&state, req);
    let r = admin::enable(&state.db, &state.clock, &Actor::Admin(&s.who, &meta), &id).await;
    outcome(
        &state,
        req,
        r,
        |u| format!("{} is enabled; they can sign in again.", u.row.email),
        BACK,
    )
}

#[handler]
pub(super) async fn delete(
    req: &Request,
    state: Data<&SharedState>,
    Path(id): Path<String>,
    Form(f): Form<CsrfForm>,
) -> PageResult {
    let s = Session::for_form(&state, req, &f.csrf).await?;
    let r = admin::delete(&state, &s.who, &s.meta(&state, req), &id).await;
    outcome(&state, req, r, |_| "User deleted.".into(), BACK)
}
