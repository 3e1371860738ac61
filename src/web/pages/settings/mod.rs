//! Settings: the user's own (profile, password, sessions, appearance, notifications,
//! personal tokens), their organization's (organization, members and invites,
//! projects, API keys, releases with source maps, alerts and webhooks), and for
//! administrators the instance's. Every form
//! posts back here and redirects with a message; the services check the roles, and
//! the pages only offer what the role allows.

mod account;
mod alerts;
mod billing;
mod instance;
mod keys;
mod members;
mod organization;
mod projects;
mod releases;
mod tokens;

use crate::domain::rbac::Role;
use crate::error::{AppError, AppResult};
use crate::state::SharedState;
use crate::web::context::PageCtx;
use crate::web::error::PageResult;
use crate::web::filters::Filters;
use crate::web::layout::{page as layout, Tab};
use crate::web::{allow, security, see_other};
use maud::{html, Markup};
use poem::{get, handler, post, Request, Route};
use serde::{Deserialize, Deserializer};

pub fn routes() -> Route {
    Route::new()
        .at("/", allow(get(index), "GET, HEAD"))
        .at(
            "/profile",
            allow(
                get(account::profile).post(account::update_profile),
                "GET, HEAD, POST",
            ),
        )
        .at("/password", allow(post(account::change_password), "POST"))
        .at(
            "/sessions/revoke-others",
            allow(post(account::revoke_other_sessions), "POST"),
        )
        .at(
            "/sessions/:id/revoke",
            allow(post(account::revoke_session), "POST"),
        )
        .at(
            "/appearance",
            allow(
                get(account::appearance).post(account::set_appearance),
                "GET, HEAD, POST",
            ),
        )
        .at(
            "/notifications",
            allow(
                get(account::notification_prefs).post(account::set_notification_prefs),
                "GET, HEAD, POST",
            ),
        )
        .at(
            "/tokens",
            allow(
                get(tokens::tokens).post(tokens::create_token),
                "GET, HEAD, POST",
            ),
        )
        .at(
            "/tokens/:id/revoke",
            allow(post(tokens::revoke_token), "POST"),
        )
        .at(
            "/organization",
            allow(
                get(organization::organization).post(organization::rename_org),
                "GET, HEAD, POST",
            ),
        )
        .at(
            "/organization/new",
            allow(post(organization::create_org), "POST"),
        )
        .at(
            "/organization/delete",
            allow(post(organization::delete_org), "POST"),
        )
        .at(
            "/organization/leave",
            allow(post(organization::leave_org), "POST"),
        )
        .at(
            "/members",
            allow(
                get(members::members_get).post(members::invite),
                "GET, HEAD, POST",
            ),
        )
        .at(
            "/members/:user_id/role",
            allow(post(members::set_role), "POST"),
        )
        .at(
            "/members/:user_id/remove",
            allow(post(members::remove_member), "POST"),
        )
        .at(
            "/invites/:id/revoke",
            allow(post(members::revoke_invite), "POST"),
        )
        .at(
            "/invites/:id/resend",
            allow(post(members::resend_invite), "POST"),
        )
        .at(
            "/projects",
            allow(
                get(projects::projects).post(projects::create_project),
                "GET, HEAD, POST",
            ),
        )
        .at(
            "/projects/:id/rename",
            allow(post(projects::rename_project), "POST"),
        )
        .at(
            "/projects/:id/delete",
            allow(post(projects::delete_project), "POST"),
        )
        .at(
            "/api-keys",
            allow(
                get(keys::api_keys).post(keys::create_api_key),
                "GET, HEAD, POST",
            ),
        )
        .at(
            "/api-keys/:id/revoke",
            allow(post(keys::revoke_api_key), "POST"),
        )
        .at("/releases", allow(get(releases::releases), "GET, HEAD"))
        .at(
            "/alerts",
            allow(
                get(alerts::alerts_get).post(alerts::save_settings),
                "GET, HEAD, POST",
            ),
        )
        .at(
            "/alerts/webhooks",
            allow(
                get(alerts::to_alerts).post(alerts::create_webhook),
                "GET, HEAD, POST",
            ),
        )
        .at(
            "/alerts/webhooks/:id/test",
            allow(post(alerts::test_webhook), "POST"),
        )
        .at(
            "/alerts/webhooks/:id/remove",
            allow(post(alerts::remove_webhook), "POST"),
        )
        .at("/billing", allow(get(billing::billing_get), "GET, HEAD"))
        .at("/billing/checkout", allow(post(billing::checkout), "POST"))
        .at("/billing/portal", allow(post(billing::portal), "POST"))
        .at("/instance", allow(get(instance::instance), "GET, HEAD"))
        .at(
            "/instance/registration",
            allow(post(instance::set_registration), "POST"),
        )
        .at(
            "/instance/test-email",
            allow(post(instance::test_email), "POST"),
        )
        .at(
            "/instance/users/:id/admin",
            allow(post(instance::set_admin), "POST"),
        )
        .at(
            "/instance/users/:id/disable",
            allow(post(instance::disable), "POST"),
        )
        .at(
            "/instance/users/:id/enable",
            allow(post(instance::enable), "POST"),
        )
        .at(
            "/instance/users/:id/delete",
            allow(post(instance::delete), "POST"),
        )
}

#[handler]
fn index() -> poem::Response {
    see_other("/settings/profile")
}

const ACCOUNT: [(&str, &str); 4] = [
    ("profile", "Profile and sessions"),
    ("appearance", "Appearance"),
    ("notifications", "Notifications"),
    ("tokens", "Personal tokens"),
];
const ORGANIZATION: [(&str, &str); 6] = [
    ("organization", "Organization"),
    ("members", "Members and invites"),
    ("projects", "Projects"),
    ("api-keys", "API keys"),
    ("releases", "Releases"),
    ("alerts", "Alerts"),
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
                    @if ctx.billing && p.role == Role::Owner { (link("billing", "Billing")) }
                }
                @if ctx.who().is_admin {
                    p class="small muted" { "Server" }
                    (link("instance", "Instance"))
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

/// `outcome` for the changes that answer success with a page of their own (a secret
/// shown once) rather than a redirect.
fn refused(state: &SharedState, req: &Request, e: AppError, back: &str) -> PageResult {
    outcome(state, req, Err::<(), _>(e), |_| String::new(), back)
}

fn org_id(ctx: &PageCtx) -> PageResult<String> {
    Ok(ctx.project()?.org_id.clone())
}

/// An optional expiry in days, as the token and key forms ask for it.
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

/// Every field but the CSRF token is read without its surrounding spaces, so that a
/// stray space typed or pasted around a name, id or number is not part of it.
fn trimmed<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let text = String::deserialize(d)?;
    Ok(text.trim().to_owned())
}

// Each field defaults to empty: a form posted without it gets the section's own
// message about the value rather than the extractor's bare 400.

#[derive(Deserialize)]
struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

#[derive(Deserialize)]
struct NameForm {
    #[serde(default)]
    csrf: String,
    #[serde(default, deserialize_with = "trimmed")]
    name: String,
}

#[derive(Deserialize)]
struct OrgForm {
    #[serde(default)]
    csrf: String,
    #[serde(default, deserialize_with = "trimmed")]
    org: String,
}

#[derive(Deserialize)]
struct OrgNameForm {
    #[serde(default)]
    csrf: String,
    #[serde(default, deserialize_with = "trimmed")]
    org: String,
    #[serde(default, deserialize_with = "trimmed")]
    name: String,
}
