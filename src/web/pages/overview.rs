//! Overview: the project's KPIs against the previous period, the event trend, top
//! errors, releases and web vitals.

use crate::service::analytics::{self, OverviewPage};
use crate::service::period::Change;
use crate::state::SharedState;
use crate::web::charts::{time_chart, Series, Unit};
use crate::web::components::{count, delta, delta_rate, empty, filter_bar, kpi, rate};
use crate::web::context::{query_param, PageCtx, Scoped, Session};
use crate::web::error::{is_local_path, PageResult};
use crate::web::filters::Filters;
use crate::web::layout::{page as layout, Tab};
use crate::web::sections::{group_rows, release_rows, vital_cards};
use crate::web::security::{self, PROJECT_COOKIE};
use crate::web::{html, see_other};
use maud::{html, Markup};
use poem::web::Data;
use poem::{handler, Request};

struct OverviewView<'a> {
    filters: &'a Filters,
    window: &'a crate::domain::timerange::Window,
    options: &'a analytics::FilterOptions,
    data: &'a OverviewPage,
    has_data: bool,
}

fn view(ctx: &PageCtx, v: &OverviewView<'_>) -> Markup {
    let d = v.data;
    let t = &d.totals;
    let p = &d.previous;
    let events = Series::counts("Events", "s-events", &d.events_series);
    let errors = Series::counts("Errors", "s-errors", &d.errors_series);
    let body = html! {
        div class="page-head" {
            h1 { "Overview" }
            @if let Some(project) = &ctx.project { p class="muted" { (project.org_name) " / " (project.name) " · " (v.window.label()) } }
        }
        (filter_bar("/", v.filters, v.window, v.options, &[]))
        @if !v.has_data {
            (empty("No data yet", "This project has not received anything. Create an API key and send a first event from your app or with curl.", html! {
                a class="btn btn-primary" href="/onboarding" { "Set up the SDK" }
                " " a class="btn" href="/settings/api-keys" { "API keys" }
            }))
        } @else {
            div class="kpis" {
                (kpi("Events", &count(t.events), delta(&Change::counts(t.events, p.events), false), None))
                (kpi("Errors", &count(t.errors), delta(&Change::counts(t.errors, p.errors), true), None))
                (kpi("Affected users", &count(t.affected_users), delta(&Change::counts(t.affected_users, p.affected_users), true), Some("distinct users with an error")))
                (kpi("Sessions", &count(t.sessions.started), delta(&Change::counts(t.sessions.started, p.sessions.started), false), None))
                (kpi("Crash-free sessions", &rate(t.sessions.crash_free_rate()), delta_rate(t.sessions.crash_free_rate(), p.sessions.crash_free_rate()), Some("without an unhandled error")))
                (kpi("Error-free sessions", &rate(t.sessions.error_free_rate()), delta_rate(t.sessions.error_free_rate(), p.sessions.error_free_rate()), Some("without any error")))
            }
            section class="card" {
                div class="card-head" { h2 class="card-title" { "Events and errors" } }
                @if t.events + t.errors == 0 {
                    p class="muted" { "Nothing in this range. Try a longer range." }
                } @else {
                    (time_chart("trend", "Events and errors over time", v.window, Some(&events), &[errors], true, Unit::Count))
                }
            }
            section class="card" {
                    div class="card-head" {
                        h2 class="card-title" { "Top errors" }
                        a class="card-actions" href=(v.filters.link("/errors", &[])) { "All errors" }
                    }
                    @if d.top_errors.is_empty() {
                        (empty("No errors in this range", "Errors your apps report show up here, grouped by cause.", html! {}))
                    } @else {
                        (group_rows(&d.top_errors, v.filters, true))
                    }
            }
            section class="card" {
                    div class="card-head" { h2 class="card-title" { "Releases" } }
                    @if d.releases.is_empty() {
                        (empty("No releases seen", "Send `release` with your events, errors and sessions to compare versions.", html! {}))
                    } @else {
                        (release_rows(&d.releases, v.filters))
                    }
            }
            section class="card" {
                div class="card-head" {
                    h2 class="card-title" { "Web vitals (p75)" }
                    a class="card-actions" href=(v.filters.link("/performance", &[])) { "Performance" }
                }
                @if d.vitals.iter().all(|x| x.samples == 0) {
                    (empty("No web vitals in this range", "The browser SDK reports Core Web Vitals as $web_vital events once it runs on a page.", html! {}))
                } @else {
                    (vital_cards(&d.vitals))
                }
            }
        }
    };
    layout(ctx, "Overview", Tab::Overview, v.filters, body)
}

#[handler]
pub async fn page(req: &Request, state: Data<&SharedState>) -> PageResult {
    let Scoped {
        ctx,
        filters,
        window,
        scope,
    } = Scoped::load(&state, req).await?;
    let project_id = scope.project_id.as_str();
    let (data, options, has_data) = futures_util::try_join!(
        analytics::overview(&state, &scope, &window),
        analytics::filter_options(&state, project_id),
        analytics::has_data(&state, project_id),
    )?;
    Ok(html(view(
        &ctx,
        &OverviewView {
            filters: &filters,
            window: &window,
            options: &options,
            data: &data,
            has_data,
        },
    )))
}

/// `/switch?project=…&to=…`: remembers the chosen project and goes back.
#[handler]
pub async fn switch_project(req: &Request, state: Data<&SharedState>) -> PageResult {
    let s = Session::require(&state, req).await?;
    let project = query_param(req, "project").unwrap_or_default();
    crate::service::projects::get_project(&state, &s.who, &project).await?;
    req.cookie().add(security::cookie(
        &state,
        PROJECT_COOKIE,
        &project,
        400 * 86_400,
    ));
    // Back to the same page, minus its old project and item (they belonged to the other project).
    let to = query_param(req, "to")
        .filter(|t| is_local_path(t))
        .unwrap_or_else(|| "/".into());
    let path = to.split('?').next().unwrap_or("/");
    let section = path
        .split('/')
        .nth(1)
        .map_or("/".to_string(), |s| format!("/{s}"));
    Ok(see_other(if section == "/settings" {
        path
    } else {
        &section
    }))
}
