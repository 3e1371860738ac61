//! The signed-in page shell: top bar (project switcher, bell, user menu) and
//! section tabs around a page's body.

use crate::domain::timeutil::format_rfc3339_ms;
use crate::service::alerts::QuotaStanding;
use crate::web::components::{ago, count, csrf_field};
use crate::web::context::PageCtx;
use crate::web::filters::Filters;
use crate::web::shell::{head, LOGO};
use maud::{html, Markup, PreEscaped, DOCTYPE};

/// The sections in the tab bar.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tab {
    Overview,
    Errors,
    Events,
    Sessions,
    Performance,
    Settings,
    None,
}

const TABS: [(Tab, &str, &str); 6] = [
    (Tab::Overview, "Overview", "/"),
    (Tab::Errors, "Errors", "/errors"),
    (Tab::Events, "Events", "/events"),
    (Tab::Sessions, "Sessions", "/sessions"),
    (Tab::Performance, "Performance", "/performance"),
    (Tab::Settings, "Settings", "/settings"),
];

const BELL_ICON: &str = r##"<svg class="icon" viewBox="0 0 24 24" aria-hidden="true" focusable="false"><path d="M6 16V11a6 6 0 1 1 12 0v5l2 2H4zM10 20a2 2 0 0 0 4 0" fill="none" stroke="currentColor" stroke-width="1.8" stroke-linejoin="round"/></svg>"##;

/// A signed-in page: top bar, tabs, and `body` in the main area.
pub fn page(ctx: &PageCtx, title: &str, tab: Tab, filters: &Filters, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" data-theme=(ctx.theme) {
            (head(title))
            body {
                a class="skip" href="#main" { "Skip to content" }
                (topbar(ctx))
                nav class="tabs" aria-label="Sections" {
                    @for (t, label, path) in TABS {
                        @let href = if t == Tab::Settings { path.to_string() } else { filters.link(path, &[]) };
                        @if t == tab {
                            a class="tab" href=(href) aria-current="page" { (label) }
                        } @else {
                            a class="tab" href=(href) { (label) }
                        }
                    }
                }
                main id="main" class="page" {
                    @if let Some(f) = &ctx.flash {
                        @if f.error {
                            div class="notice notice-error" role="alert" { (f.text) }
                        } @else {
                            div class="notice notice-success" role="status" { (f.text) }
                        }
                    }
                    // The billing page says it in its own words.
                    @if ctx.past_due && !ctx.here.starts_with("/settings/billing") { (past_due_banner(ctx)) }
                    @for q in &ctx.quota { (quota_banner(q, ctx.billing)) }
                    (body)
                }
                footer class="foot muted" {
                    "Telemetry Tracker " (env!("CARGO_PKG_VERSION")) " · "
                    a href="/api/docs" { "API" } " · times in UTC"
                }
            }
        }
    }
}

/// Tells the organization's owners that its latest payment failed.
fn past_due_banner(ctx: &PageCtx) -> Markup {
    let org = ctx.project.as_ref().map_or("", |p| p.org_name.as_str());
    html! {
        div class="notice notice-error past-due-banner" role="alert" {
            strong { "The latest payment for " (org) " failed." }
            " Update the payment method before Stripe's retries run out, or the organization returns to the FREE plan. "
            a href="/settings/billing" { "Billing" }
        }
    }
}

/// Tells the organization's owners that a project is near or over its monthly
/// quota, with the way to a bigger plan when billing is on.
fn quota_banner(q: &QuotaStanding, billing: bool) -> Markup {
    let resets = format_rfc3339_ms(q.resets_at);
    let day = resets.get(..10).unwrap_or("");
    let used = html! { " (" (count(q.used)) " of " (count(q.limit)) " units, " (q.plan.as_str()) " plan)" };
    let reset = html! { "until the quota resets on " time datetime=(resets) { (day) } " (UTC)." };
    html! {
        @if q.exceeded() {
            div class="notice notice-error quota-banner" {
                strong { (q.project_name) " has used up its monthly quota" } (used)
                ": new data is refused " (reset) " "
                (quota_link(billing))
            }
        } @else {
            div class="notice notice-warn quota-banner" {
                strong { (q.project_name) " has used " (q.percent()) " % of its monthly quota" } (used)
                ". Once it is used up, new data is refused " (reset) " "
                (quota_link(billing))
            }
        }
    }
}

fn quota_link(billing: bool) -> Markup {
    html! {
        @if billing {
            a href="/settings/billing" { "Upgrade the plan" }
        } @else {
            a href="/settings/organization" { "Plan and usage" }
        }
    }
}

fn topbar(ctx: &PageCtx) -> Markup {
    html! {
        header class="topbar" {
            a class="brand" href="/" { (PreEscaped(LOGO)) span { "Telemetry Tracker" } }
            @if !ctx.projects.is_empty() {
                form class="switcher" method="get" action="/switch" {
                    label class="sr-only" for="project-switch" { "Project" }
                    select id="project-switch" name="project" data-autosubmit {
                        @for p in &ctx.projects {
                            @let selected = ctx.project.as_ref().is_some_and(|c| c.id == p.project.id);
                            option value=(p.project.id) selected[selected] {
                                (p.org_name) " / " (p.project.name)
                            }
                        }
                    }
                    input type="hidden" name="to" value=(ctx.here);
                    button class="btn btn-small" type="submit" { "Go" }
                }
            }
            div class="topbar-actions" {
                (bell(ctx))
                details class="user-menu" {
                    summary {
                        span class="avatar" aria-hidden="true" { (initials(ctx.display_name())) }
                        span class="user-name" { (ctx.display_name()) }
                        span class="sr-only" { " (account menu)" }
                    }
                    div class="menu-panel" {
                        p class="menu-head muted" { (ctx.who().email) }
                        a href="/settings/profile" { "Profile and sessions" }
                        a href="/settings/appearance" { "Appearance" }
                        a href="/settings/notifications" { "Notifications" }
                        a href="/settings/tokens" { "Personal tokens" }
                        a href="/onboarding" { "Set up a project" }
                        form method="post" action="/logout" {
                            (csrf_field(&ctx.csrf))
                            button class="linklike" type="submit" { "Log out" }
                        }
                    }
                }
            }
        }
    }
}

fn initials(name: &str) -> String {
    name.split(|c: char| c.is_whitespace() || c == '.' || c == '@')
        .filter(|w| !w.is_empty())
        .take(2)
        .filter_map(|w| w.chars().next())
        .flat_map(char::to_uppercase)
        .collect()
}

fn bell(ctx: &PageCtx) -> Markup {
    let shown = if ctx.unread > 9 {
        "9+".to_string()
    } else {
        ctx.unread.to_string()
    };
    let label = match ctx.unread {
        0 => "Notifications, none unread".to_string(),
        _ => format!("Notifications, {shown} unread"),
    };
    html! {
        details class="bell" {
            summary aria-label=(label) {
                (PreEscaped(BELL_ICON))
                @if ctx.unread > 0 {
                    span class="bell-count" { (shown) }
                }
            }
            div class="menu-panel bell-panel" {
                div class="menu-head" {
                    strong { "Notifications" }
                    @if ctx.unread > 0 {
                        form method="post" action="/notifications/read-all" {
                            (csrf_field(&ctx.csrf))
                            input type="hidden" name="to" value=(ctx.here);
                            button class="btn btn-ghost btn-small" type="submit" { "Mark all read" }
                        }
                    }
                }
                @if ctx.notifications.is_empty() {
                    p class="muted bell-empty" { "No notifications yet. New error groups, regressions, spikes and quota warnings of your projects appear here." }
                } @else {
                    ul class="notif-list" {
                        @for n in &ctx.notifications {
                            li class=(if n.read_at.is_none() { "notif unread" } else { "notif" }) {
                                a href=(format!("/notifications/{}", n.id)) {
                                    span class="notif-title" {
                                        @if n.read_at.is_none() { span class="sr-only" { "Unread: " } }
                                        (n.title)
                                    }
                                    span class="notif-meta muted" {
                                        (n.body.as_deref().unwrap_or("")) " · "
                                        time datetime=(format_rfc3339_ms(n.created_at)) { (ago(n.created_at)) }
                                    }
                                }
                            }
                        }
                    }
                }
                a class="menu-foot" href="/notifications" { "All notifications" }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::initials;

    #[test]
    fn initials_of_names_and_addresses() {
        assert_eq!(initials("Ada Lovelace"), "AL");
        assert_eq!(initials("ada@example.com"), "AE");
        assert_eq!(initials(""), "");
    }
}
