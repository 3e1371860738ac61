//! Sessions: the list (duration, device, OS, country, activity) and one session's
//! timeline of events and errors.

use crate::service::analytics::{self, Sessions};
use crate::service::read;
use crate::state::SharedState;
use crate::store::{ErrorOccurrenceRow, EventRow, SessionFilter, SessionRow};
use crate::web::charts::{time_chart, Series};
use crate::web::components::{
    count, delta, delta_points, duration, empty, filter_bar, kpi, pager, percent, time,
};
use crate::web::context::{query_param, PageCtx, Scoped};
use crate::web::error::{urlencode, PageResult, WebError};
use crate::web::filters::Filters;
use crate::web::html;
use crate::web::layout::{page as layout, Tab};
use maud::{html, Markup};
use poem::web::{Data, Path};
use poem::{handler, Request};

const PAGE_SIZE: i64 = 50;

fn session_duration(s: &SessionRow) -> i64 {
    (s.ended_at.unwrap_or(s.last_activity_at) - s.started_at).max(0)
}

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
    d: &Sessions,
    next: Option<String>,
) -> Markup {
    let started = Series::counts("Sessions", "s-sessions", &d.series);
    let crashed = Series::counts("With errors", "s-errors", &d.crashed_series);
    let body = html! {
        div class="page-head" { h1 { "Sessions" } }
        (filter_bar("/sessions", filters, window, options, &[]))
        @if d.list.is_empty() && d.total.current == 0.0 {
            (empty("No sessions in this range", "The SDKs start a session when your app starts (init) and end it when the user leaves; both show up here.", html! {
                a class="btn" href="/onboarding" { "SDK setup" }
            }))
        } @else {
            div class="kpis" {
                (kpi("Sessions", &count(d.total.current as i64), delta(&d.total, false), Some(&window.label())))
                (kpi("Crash-free sessions", &percent(d.crash_free.0), delta_points(d.crash_free.0, d.crash_free.1), Some("sessions without an error")))
            }
            section class="card" {
                div class="card-head" { h2 class="card-title" { "Sessions over time" } }
                (time_chart("sessions", "Sessions started over time", window, Some(&started), &[crashed], false, ""))
            }
            section class="card" {
                div class="card-head" { h2 class="card-title" { "Latest sessions" } }
                div class="table-wrap" {
                    table class="table" {
                        thead { tr {
                            th scope="col" { "Started" } th scope="col" { "User" } th scope="col" class="num" { "Duration" }
                            th scope="col" class="hide-sm" { "Browser" } th scope="col" class="hide-sm" { "OS" } th scope="col" class="hide-sm" { "Country" }
                            th scope="col" class="num hide-sm" { "Events" } th scope="col" class="num hide-sm" { "Errors" } th scope="col" { "Status" }
                        } }
                        tbody {
                            @for item in &d.list {
                                @let s = &item.session;
                                tr {
                                    td { a class="row-link" href=(filters.link(&format!("/sessions/{}", urlencode(&s.id)), &[])) { (time(s.started_at)) } }
                                    td { span class="truncate" { (who(s)) } }
                                    td class="num" { (duration(session_duration(s))) }
                                    td class="hide-sm" { (s.device_browser.as_deref().unwrap_or("–")) }
                                    td class="hide-sm" { (s.device_os.as_deref().unwrap_or("–")) }
                                    td class="hide-sm" { (s.country.as_deref().unwrap_or("–")) }
                                    td class="num hide-sm" { (count(item.events)) }
                                    td class="num hide-sm" { (count(item.errors)) }
                                    td {
                                        @if s.has_error != 0 { span class="badge badge-poor" { "Crashed" } }
                                        @else if s.ended_at.is_some() { span class="badge badge-good" { "Ended" } }
                                        @else { span class="badge badge-neutral" { "Active" } }
                                    }
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
    let (data, options) = futures_util::try_join!(
        analytics::sessions(&state, &scope, &window, &list),
        analytics::filter_options(&state, project_id),
    )?;
    let next = (data.list.len() as i64 == PAGE_SIZE)
        .then(|| data.list.last())
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
        &ctx, &filters, &window, &options, &data, next,
    )))
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

fn detail_view(
    ctx: &PageCtx,
    filters: &Filters,
    s: &SessionRow,
    events: &[EventRow],
    errors: &[ErrorOccurrenceRow],
) -> Markup {
    let mut moments: Vec<Moment<'_>> = events
        .iter()
        .map(Moment::Event)
        .chain(errors.iter().map(Moment::Error))
        .collect();
    moments.sort_by_key(Moment::at);
    let body = html! {
        p { a href=(filters.link("/sessions", &[])) { "← Sessions" } }
        div class="page-head" {
            h1 { "Session " span class="mono" { (s.session_id.chars().take(13).collect::<String>()) } }
            @if s.has_error != 0 { span class="badge badge-poor" { "Crashed" } }
        }
        dl class="meta-list" {
            dt { "User" } dd { (who(s)) }
            dt { "Started" } dd { (time(s.started_at)) }
            dt { "Ended" } dd { @if let Some(e) = s.ended_at { (time(e)) } @else { "still active" } }
            dt { "Duration" } dd { (duration(session_duration(s))) }
            dt { "App" } dd { (s.app) }
            dt { "Release" } dd class="mono" { (s.release.as_deref().unwrap_or("–")) }
            dt { "Environment" } dd { (s.environment.as_deref().unwrap_or("–")) }
            dt { "Browser / OS" } dd { (s.device_browser.as_deref().unwrap_or("–")) " / " (s.device_os.as_deref().unwrap_or("–")) }
            dt { "Country" } dd { (s.country.as_deref().unwrap_or("–")) }
            dt { "SDK" } dd { (s.sdk_version.as_deref().unwrap_or("–")) }
            dt { "Session id" } dd class="mono" { (s.session_id) }
        }
        section class="card" {
            div class="card-head" { h2 class="card-title" { "Timeline" } span class="muted small" { (count(events.len() as i64)) " events · " (count(errors.len() as i64)) " errors" } }
            @if moments.is_empty() {
                p class="muted" { "No events or errors were recorded in this session." }
            } @else {
                ol class="timeline" {
                    @for m in &moments {
                        @match m {
                            Moment::Event(e) => {
                                li class="tl-item tl-event" {
                                    (time(e.timestamp)) " "
                                    span class="tl-kind" { "Event" } " "
                                    a class="mono" href=(format!("/events/{}", e.id)) { (e.name) }
                                    @if let Some(p) = e.properties.as_deref().filter(|p| *p != "{}") { " " span class="muted mono small truncate" { (p) } }
                                }
                            }
                            Moment::Error(o) => {
                                li class="tl-item tl-error" {
                                    (time(o.timestamp)) " "
                                    span class="tl-kind" { "Error" } " "
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
    let session = state
        .db
        .session_by_ref(project_id, read::path_id("session", &id)?)
        .await?
        .ok_or_else(|| WebError::NotFound("This session does not exist in this project.".into()))?;
    let (events, errors) = futures_util::try_join!(
        state
            .db
            .events_of_session(project_id, &session.session_id, 1000),
        state
            .db
            .occurrences_of_session(project_id, &session.session_id, 200),
    )?;
    Ok(html(detail_view(
        &ctx, &filters, &session, &events, &errors,
    )))
}
