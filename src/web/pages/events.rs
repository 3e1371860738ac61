//! Events: counts by name over time, a property breakdown for a chosen name, and the
//! raw list; and one event with its properties.

use crate::ingest::rollup::OTHER_VALUE;
use crate::service::analytics::{self, Events, FilterOptions};
use crate::service::events;
use crate::service::period::Change;
use crate::service::read;
use crate::state::SharedState;
use crate::store::{EventFilter, EventRow};
use crate::web::charts::{time_chart, Series, Unit};
use crate::web::components::{
    breakdown, count, delta, empty, filter_bar, kpi, pager, pretty_json, time,
};
use crate::web::context::{query_param, PageCtx, Scoped};
use crate::web::error::{urlencode, PageResult};
use crate::web::filters::Filters;
use crate::web::html;
use crate::web::layout::{page as layout, Tab};
use maud::{html, Markup};
use poem::web::{Data, Path};
use poem::{handler, Request};

const PAGE_SIZE: i64 = 25;
const SERIES_CLASSES: [&str; 5] = ["s1", "s2", "s3", "s4", "s5"];

struct EventsView<'a> {
    filters: &'a Filters,
    window: &'a crate::domain::timerange::Window,
    options: &'a FilterOptions,
    names: &'a [String],
    name: Option<&'a str>,
    data: &'a Events,
    next: Option<String>,
}

pub fn event_rows(rows: &[EventRow], filters: &Filters) -> Markup {
    html! {
        div class="table-wrap" {
            table class="table" {
                thead { tr {
                    th scope="col" { "Time" } th scope="col" { "Name" } th scope="col" class="hide-sm" { "App" }
                    th scope="col" class="hide-sm" { "Environment" } th scope="col" class="hide-sm" { "Release" } th scope="col" { "User" }
                } }
                tbody {
                    @for e in rows {
                        tr {
                            td { a class="row-link" href=(filters.link(&format!("/events/{}", e.id), &[])) { (time(e.timestamp)) } }
                            td class="mono" { (e.name) }
                            td class="hide-sm" { (e.app) }
                            td class="hide-sm" { (e.environment.as_deref().unwrap_or("–")) }
                            td class="mono hide-sm" { (e.release.as_deref().unwrap_or("–")) }
                            td class="mono" { span class="truncate" { (e.user_id.as_deref().or(e.anonymous_id.as_deref()).unwrap_or("–")) } }
                        }
                    }
                }
            }
        }
    }
}

fn view(ctx: &PageCtx, v: &EventsView<'_>) -> Markup {
    let d = v.data;
    let name = v.name.unwrap_or("");
    let series: Vec<Series<'_>> = d
        .series
        .iter()
        .zip(SERIES_CLASSES)
        .map(|((n, values), class)| Series::counts(n, class, values))
        .collect();
    let body = html! {
        div class="page-head" { h1 { "Events" } }
        (filter_bar("/events", v.filters, v.window, v.options, &[("name", name)]))
        form class="filters" method="get" action="/events" {
            @for (k, val) in v.filters.pairs() { input type="hidden" name=(k) value=(val); }
            label class="field" {
                span { "Event name" }
                select name="name" data-autosubmit {
                    option value="" selected[v.name.is_none()] { "All events" }
                    @for n in v.names { option value=(n) selected[v.name == Some(n.as_str())] { (n) } }
                }
            }
            button class="btn" type="submit" { "Show" }
        }
        @if d.names.is_empty() && d.list.is_empty() {
            (empty("No events in this range", "Events your apps send with trackEvent (and the SDKs' own $screen, $request and $web_vital) are counted here.", html! {
                a class="btn" href="/onboarding" { "SDK setup" }
            }))
        } @else {
            div class="kpis" {
                (kpi(if v.name.is_some() { "Events of this name" } else { "Events" }, &count(d.total.current as i64), delta(&d.total, false), Some(&v.window.label())))
                (kpi("Distinct names", &count(d.names.len() as i64), html! {}, None))
            }
            section class="card" {
                div class="card-head" { h2 class="card-title" { @if v.name.is_some() { "Over time" } @else { "Busiest events over time" } } }
                (time_chart("names", "Events by name over time", v.window, None, &series, false, Unit::Count))
            }
            div class="grid-2" {
                section class="card" {
                    div class="card-head" { h2 class="card-title" { "By name" } }
                    div class="table-wrap" {
                        table class="table" {
                            thead { tr {
                                th scope="col" class="col-main" { "Name" } th scope="col" class="num" { "Count" }
                                th scope="col" class="num" { "Share" } th scope="col" class="num" { "Change" }
                            } }
                            tbody {
                                @for n in d.names.iter().take(50) {
                                    tr {
                                        td class="col-main" { a class="mono truncate" href=(v.filters.link("/events", &[("name", &n.name)])) { (n.name) } }
                                        td class="num" { (count(n.count)) }
                                        td class="num" { (format!("{:.1} %", n.share)) }
                                        td class="num" { (delta(&Change::counts(n.count, n.previous), false)) }
                                    }
                                }
                            }
                        }
                    }
                }
                section class="card" {
                    div class="card-head" { h2 class="card-title" { "Property breakdown" } }
                    @match (&d.breakdown, v.name) {
                        (Some(b), Some(n)) => {
                            @if b.props.is_empty() {
                                p class="muted" { "Events named " code { (n) } " carry no string, number or boolean properties." }
                            } @else {
                                form class="filters" method="get" action="/events" {
                                    @for (k, val) in v.filters.pairs() { input type="hidden" name=(k) value=(val); }
                                    input type="hidden" name="name" value=(n);
                                    label class="field" {
                                        span { "Property" }
                                        select name="prop" data-autosubmit {
                                            @for p in &b.props { option value=(p) selected[b.prop.as_deref() == Some(p.as_str())] { (p) } }
                                        }
                                    }
                                    button class="btn" type="submit" { "Break down" }
                                }
                                (breakdown(&b.values, "(empty)"))
                                @if b.values.iter().any(|(value, _)| value == OTHER_VALUE) {
                                    p class="card-note muted" { "Each property keeps up to 100 distinct values per day; the rest are counted as “" (OTHER_VALUE) "”." }
                                }
                            }
                        }
                        _ => {
                            p class="muted" { "Choose an event name to see how its property values split." }
                        }
                    }
                }
            }
            section class="card" {
                div class="card-head" { h2 class="card-title" { "Latest events" } }
                @if d.list.is_empty() {
                    p class="muted" { "No events match." }
                } @else {
                    (event_rows(&d.list, v.filters))
                    (pager(None, v.next.clone(), ""))
                }
            }
        }
    };
    layout(ctx, "Events", Tab::Events, v.filters, body)
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
    let name = read::label("name", query_param(req, "name").as_deref())?;
    let prop = query_param(req, "prop");
    let list = EventFilter {
        scope: scope.clone(),
        name: name.clone(),
        cursor: read::parse_cursor(query_param(req, "before").as_deref())?,
        limit: PAGE_SIZE,
    };
    let (data, options) = futures_util::try_join!(
        analytics::events(
            &state,
            &scope,
            &window,
            name.as_deref(),
            prop.as_deref(),
            &list
        ),
        analytics::filter_options(&state, project_id),
    )?;
    let next = (data.list.len() as i64 == PAGE_SIZE)
        .then(|| data.list.last())
        .flatten()
        .map(|e| {
            filters.link(
                "/events",
                &[
                    ("name", name.as_deref().unwrap_or("")),
                    ("before", &format!("{}.{}", e.timestamp, e.id)),
                ],
            )
        });
    Ok(html(view(
        &ctx,
        &EventsView {
            filters: &filters,
            window: &window,
            options: &options,
            names: &options.event_names,
            name: name.as_deref(),
            data: &data,
            next,
        },
    )))
}

fn detail_view(ctx: &PageCtx, filters: &Filters, e: &EventRow) -> Markup {
    let props = e.properties.as_deref().map(pretty_json);
    let body = html! {
        p { a href=(filters.link("/events", &[("name", &e.name)])) { "← Events named " (e.name) } }
        div class="page-head" { h1 class="mono" { (e.name) } }
        dl class="meta-list" {
            dt { "Time" } dd { (time(e.timestamp)) }
            dt { "Received" } dd { (time(e.received_at)) }
            dt { "App" } dd { (e.app) }
            dt { "Platform" } dd { (e.platform.as_deref().unwrap_or("–")) }
            dt { "Environment" } dd { (e.environment.as_deref().unwrap_or("–")) }
            dt { "Release" } dd class="mono" { (e.release.as_deref().unwrap_or("–")) }
            dt { "User" } dd class="mono" { (e.user_id.as_deref().unwrap_or("–")) }
            dt { "Anonymous id" } dd class="mono" { (e.anonymous_id.as_deref().unwrap_or("–")) }
            dt { "Session" } dd class="mono" {
                @if let Some(s) = &e.session_id { a href=(format!("/sessions/{}", urlencode(s))) { (s) } } @else { "–" }
            }
            dt { "SDK" } dd { (e.sdk_version.as_deref().unwrap_or("–")) }
        }
        section class="card" {
            div class="card-head" { h2 class="card-title" { "Properties" } }
            @match props {
                Some(p) => { pre class="raw-stack" tabindex="0" { (p) } }
                None => { p class="muted" { "This event has no properties." } }
            }
        }
    };
    layout(ctx, &e.name, Tab::Events, filters, body)
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
    let event = events::get(&state, project_id, &id).await?;
    Ok(html(detail_view(&ctx, &filters, &event)))
}
