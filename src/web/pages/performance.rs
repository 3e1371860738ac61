//! Performance: p75 and rating shares of each web vital, and p75 over time.

use crate::domain::vitals;
use crate::service::analytics::{self, VitalSummary};
use crate::state::SharedState;
use crate::web::charts::{time_chart, Series, Unit};
use crate::web::components::{count, empty, filter_bar, percent};
use crate::web::context::{PageCtx, Scoped};
use crate::web::error::PageResult;
use crate::web::filters::Filters;
use crate::web::html;
use crate::web::layout::{page as layout, Tab};
use crate::web::sections::vital_cards;
use maud::{html, Markup};
use poem::web::Data;
use poem::{handler, Request};

fn unit(metric: &str) -> Unit {
    if metric == "CLS" {
        Unit::Score
    } else {
        Unit::Millis
    }
}

fn view(
    ctx: &PageCtx,
    filters: &Filters,
    window: &crate::domain::timerange::Window,
    options: &analytics::FilterOptions,
    list: &[VitalSummary],
) -> Markup {
    let body = html! {
        div class="page-head" { h1 { "Performance" } }
        (filter_bar("/performance", filters, window, options, &[]))
        @if list.iter().all(|v| v.samples == 0) {
            (empty("No web vitals in this range", "In a browser, @telemetry-tracker/core reports Core Web Vitals (LCP, INP, CLS, FCP, TTFB) as $web_vital events on its own. They appear here once real users load your pages.", html! {
                a class="btn" href="/onboarding" { "SDK setup" }
            }))
        } @else {
            (vital_cards(list))
            section class="card" {
                div class="card-head" { h2 class="card-title" { "Ratings" } }
                div class="table-wrap" {
                    table class="table" {
                        thead { tr {
                            th scope="col" { "Metric" } th scope="col" class="num hide-sm" { "p75" } th scope="col" class="num hide-sm" { "Samples" }
                            th scope="col" class="num" { "Good" } th scope="col" class="num" { "Needs improvement" } th scope="col" class="num" { "Poor" }
                            th scope="col" class="hide-sm" { "Thresholds" }
                        } }
                        tbody {
                            @for v in list {
                                tr {
                                    th scope="row" { (v.metric) }
                                    td class="num hide-sm" { @match v.p75 { Some(p) => { (vitals::format_value(v.metric, p)) } None => { "–" } } }
                                    td class="num hide-sm" { (count(v.samples)) }
                                    td class="num" { (percent((v.samples > 0).then(|| v.share(v.good)))) }
                                    td class="num" { (percent((v.samples > 0).then(|| v.share(v.needs_improvement)))) }
                                    td class="num" { (percent((v.samples > 0).then(|| v.share(v.poor)))) }
                                    td class="muted small hide-sm" {
                                        @if let Some((good, poor)) = vitals::thresholds(v.metric) {
                                            "good ≤ " (vitals::format_value(v.metric, good)) ", poor > " (vitals::format_value(v.metric, poor))
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            div class="grid-2" {
                @for v in list.iter().filter(|v| v.samples > 0) {
                    @let series = Series { name: "p75", class: "s1", values: v.series.clone() };
                    section class="card" {
                        div class="card-head" { h2 class="card-title" { (v.metric) " p75 over time" } }
                        (time_chart(&format!("vital-{}", v.metric), &format!("{} p75 over time", v.metric), window, None, &[series], false, unit(v.metric)))
                    }
                }
            }
        }
    };
    layout(ctx, "Performance", Tab::Performance, filters, body)
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
    let (list, options) = futures_util::try_join!(
        analytics::vitals(&state, &scope, &window, true),
        analytics::filter_options(&state, project_id),
    )?;
    Ok(html(view(&ctx, &filters, &window, &options, &list)))
}
