//! Sessions: the list (duration, device, OS, country, activity) and one session's
//! timeline of events and errors.

use crate::service::analytics;
use crate::service::read;
use crate::service::sessions::{self, SessionDetail, SessionItem, Summary};
use crate::state::SharedState;
use crate::store::{ErrorOccurrenceRow, EventRow, SessionFilter, SessionRow};
use crate::web::charts::{time_chart, Series, Unit};
use crate::web::components::{
    clock, count, delta, delta_rate, duration, empty, filter_bar, kpi, pager, rate, time,
};
use crate::web::context::{query_param, PageCtx, Scoped};
use crate::web::error::{urlencode, PageResult};
use crate::web::filters::Filters;
use crate::web::html;
use crate::web::layout::{page as layout, Tab};
use maud::{html, Markup};
use poem::web::{Data, Path};
use poem::{handler, Request};

const PAGE_SIZE: i64 = 50;

fn who(s: &SessionRow) -> Markup {
    html! {
        @if let Some(email) = &s.user_email { (email) }
        @else if let Some(id) = s.user_id.as_deref().or(s.anonymous_id.as_deref()) { span class="mono" { (id.chars().take(12).collect::<String>()) @if id.chars().count() > 12 { "…" } } }
        @else { span class="muted" { "anonymous" } }
    }
}

fn list_view(
    ctx: &PageCtx,
    filters: &Filters,
    window: &crate::domain::timerange::Window,
    options: &analytics::FilterOptions,
    d: &Summary,
    rows: &[SessionItem],
    next: Option<String>,
) -> Markup {
    let started = Series::counts("Sessions", "s-sessions", &d.series);
    let errored = Series::counts("With errors", "s-ni", &d.errored_series);
    let crashed = Series::counts("Crashed", "s-errors", &d.crashed_series);
    let body = html! {
        div class="page-head" { h1 { "Sessions" } }
        (filter_bar("/sessions", filters, window, options, &[]))
        @if rows.is_empty() && d.now.started == 0 {
            (empty("No sessions in this range", "The SDKs start a session when your app starts (init) and end it when the user leaves; both show up here.", html! {
                a class="btn" href="/onboarding" { "SDK setup" }
            }))
        } @else {
            div class="kpis" {
                (kpi("Sessions", &count(d.now.started), delta(&d.started(), false), Some(&window.label())))
                (kpi("Crash-free sessions", &rate(d.now.crash_free_rate()), delta_rate(d.now.crash_free_rate(), d.before.crash_free_rate()), Some("without an unhandled error")))
                (kpi("Error-free sessions", &rate(d.now.error_free_rate()), delta_rate(d.now.error_free_rate(), d.before.error_free_rate()), Some("without any error")))
            }
            section class="card" {
                div class="card-head" { h2 class="card-title" { "Sessions over time" } }
                (time_chart("sessions", "Sessions started over time", window, Some(&started), &[errored, crashed], false, Unit::Count))
            }
            section class="card" {
                div class="card-head" { h2 class="card-title" { "Latest sessions" } }
                div class="table-wrap" {
                    table class="table" {
                        thead { tr {
                            th scope="col" { "Started" } th scope="col" class="col-main" { "User" } th scope="col" class="hide-sm" { "App" } th scope="col" class="num" { "Duration" }
                            th scope="col" class="hide-sm" { "Browser" } th scope="col" class="hide-sm" { "OS" } th scope="col" class="hide-sm" { "Country" }
                            th scope="col" class="num hide-sm" { "Events" } th scope="col" class="num hide-sm" { "Errors" } th scope="col" { "Status" }
                        } }
                        tbody {
                            @for item in rows {
                                @let s = &item.session;
                                tr {
                                    td { a class="row-link" href=(filters.link(&format!("/sessions/{}", urlencode(&s.id)), &[])) { (time(s.started_at)) } }
                                    td class="col-main" { span class="truncate" { (who(s)) } }
                                    td class="hide-sm" { span class="truncate" { (s.app) } }
                                    td class="num" { (duration(item.duration_ms())) }
                                    td class="hide-sm" { (s.device_browser.as_deref().unwrap_or("–")) }
                                    td class="hide-sm" { (s.device_os.as_deref().unwrap_or("–")) }
                                    td class="hide-sm" { (s.country.as_deref().unwrap_or("–")) }
                                    td class="num hide-sm" { (count(item.events)) }
                                    td class="num hide-sm" { (count(item.errors)) }
                                    td { (outcome(item)) }
                                }
                            }
                        }
                    }
                }
                (pager(None, next, ""))
            }
        }
    };
    layout(ctx, "Sessions", Tab::Sessions, filters, body)
}

#[handler]
pub async fn list(req: &Request, state: Data<&SharedState>) -> PageResult {
    let Scoped {
        ctx,
        filters,
        window,
        scope,
    } = Scoped::load(&state, req).await?;
    let project_id = scope.project_id.as_str();
    let list = SessionFilter {
        scope: scope.clone(),
        cursor: read::parse_cursor(query_param(req, "before").as_deref())?,
        limit: PAGE_SIZE,
    };
    let (data, items, options) = futures_util::try_join!(
        sessions::summary(&state, &scope, &window),
        sessions::list(&state, &list),
        analytics::filter_options(&state, project_id),
    )?;
    let next = (items.len() as i64 == PAGE_SIZE)
        .then(|| items.last())
        .flatten()
        .map(|i| {
            filters.link(
                "/sessions",
                &[(
                    "before",
                    &format!("{}.{}", i.session.started_at, i.session.id),
                )],
            )
        });
    Ok(html(list_view(
        &ctx, &filters, &window, &options, &data, &items, next,
    )))
}

/// Crashed (an unhandled error), with errors, ended or still active.
fn outcome(item: &SessionItem) -> Markup {
    html! {
        @if item.crashed() { span class="badge badge-poor" title="An unhandled error occurred" { "Crashed" } }
        @else if item.errored() { span class="badge badge-ni" title="Errors were reported and handled" { "Errors" } }
        @else if item.session.ended_at.is_some() { span class="badge badge-good" { "Ended" } }
        @else { span class="badge badge-neutral" { "Active" } }
    }
}

/// One moment of a session's timeline.
enum Moment<'a> {
    Event(&'a EventRow),
    Error(&'a ErrorOccurrenceRow),
}

impl Moment<'_> {
    fn at(&self) -> i64 {
        match self {
            Moment::Event(e) => e.timestamp,
            Moment::Error(e) => e.timestamp,
        }
    }
}

fn detail_view(ctx: &PageCtx, filters: &Filters, d: &SessionDetail) -> Markup {
    let item = &d.item;
    let s = &item.session;
    let mut moments: Vec<Moment<'_>> = d
        .events
        .iter()
        .map(Moment::Event)
        .chain(d.errors.iter().map(|o| Moment::Error(&o.row)))
        .collect();
    moments.sort_by_key(Moment::at);
    // Milliseconds only where two neighbours share a second.
    let second = |i: usize| moments.get(i).map(|m| m.at().div_euclid(1000));
    let millis: Vec<bool> = (0..moments.len())
        .map(|i| {
            let here = second(i);
            (i > 0 && second(i - 1) == here) || second(i + 1) == here
        })
        .collect();
    let body = html! {
        p { a href=(filters.link("/sessions", &[])) { "← Sessions" } }
        div class="page-head" {
            h1 { "Session " span class="mono" { (s.session_id.chars().take(13).collect::<String>()) } }
            (outcome(item))
        }
        dl class="meta-list" {
            dt { "User" } dd { (who(s)) }
            dt { "Started" } dd { (time(s.started_at)) }
            dt { "Ended" } dd { @if let Some(e) = s.ended_at { (time(e)) } @else { "still active" } }
            dt { "Duration" } dd { (duration(item.duration_ms())) @if s.ended_at.is_none() { span class="muted" { " so far" } } }
            dt { "Last activity" } dd { (time(item.last_activity_at)) }
            dt { "App" } dd { (s.app) }
            dt { "Release" } dd class="mono" { (s.release.as_deref().unwrap_or("–")) }
            dt { "Environment" } dd { (s.environment.as_deref().unwrap_or("–")) }
            dt { "Browser / OS" } dd { (s.device_browser.as_deref().unwrap_or("–")) " / " (s.device_os.as_deref().unwrap_or("–")) }
            dt { "Country" } dd { (s.country.as_deref().unwrap_or("–")) }
            dt { "SDK" } dd { (s.sdk_version.as_deref().unwrap_or("–")) }
            dt { "Session id" } dd class="mono" { (s.session_id) }
        }
        section class="card" {
            div class="card-head" { h2 class="card-title" { "Timeline" } span class="muted small" { (count(item.events)) " events · " (count(item.errors)) " errors" } }
            @if moments.is_empty() {
                p class="muted" { "No events or errors were recorded in this session." }
            } @else {
                ol class="timeline" {
                    @for (m, precise) in moments.iter().zip(&millis) {
                        @match m {
                            Moment::Event(e) => {
                                li class="tl-item tl-event" {
                                    (clock(e.timestamp, *precise)) " "
                                    span class="tl-kind" { "Event" } " "
                                    a class="mono" href=(format!("/events/{}", e.id)) { (e.name) }
                                    @if let Some(p) = e.properties.as_deref().filter(|p| *p != "{}") { " " span class="muted mono small truncate" { (p) } }
                                }
                            }
                            Moment::Error(o) => {
                                li class="tl-item tl-error" {
                                    (clock(o.timestamp, *precise)) " "
                                    span class="tl-kind" { @if o.unhandled != 0 { "Crash" } @else { "Error" } } " "
                                    a href=(format!("/errors/{}", o.group_id)) { (o.message) }
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    layout(ctx, "Session", Tab::Sessions, filters, body)
}

#[handler]
pub async fn detail(
    req: &Request,
    state: Data<&SharedState>,
    Path(id): Path<String>,
) -> PageResult {
    let ctx = PageCtx::load(&state, req).await?;
    let project_id = ctx.project()?.id.as_str();
    let filters = Filters::from_request(req);
    let d = sessions::detail(&state, project_id, &id).await?;
    Ok(html(detail_view(&ctx, &filters, &d)))
}
