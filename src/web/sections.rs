//! Sections several pages show: the error-group and release tables and the web
//! vital cards.

use crate::domain::vitals;
use crate::service::analytics::{ReleaseItem, VitalSummary};
use crate::service::errors::GroupItem;
use crate::web::charts::{rating_bar, sparkline};
use crate::web::components::{count, rate, rating_badge, status_badge, time};
use crate::web::filters::Filters;
use maud::{html, Markup};

/// The error groups table of the Overview and the Errors page.
pub fn group_rows(groups: &[GroupItem], filters: &Filters, compact: bool) -> Markup {
    html! {
        div class="table-wrap" {
            table class="table" {
                thead { tr {
                    th scope="col" class="col-main" { "Error" }
                    th scope="col" class="num" { "Occurrences" }
                    th scope="col" class="num" { "Users" }
                    th scope="col" class="hide-sm" { "Trend" }
                    @if !compact {
                        th scope="col" class="hide-sm" { "First seen" }
                        th scope="col" class="hide-sm" { "Last seen" }
                        th scope="col" { "Status" }
                    }
                } }
                tbody {
                    @for g in groups {
                        tr {
                            td class="col-main" {
                                a class="row-link" href=(filters.link(&format!("/errors/{}", g.group.id), &[])) {
                                    @if let Some(t) = &g.group.error_type { strong { (t) } " " }
                                    span class="truncate" { (g.group.message) }
                                    span class="muted small truncate" {
                                        (g.group.app)
                                        @if let Some(frame) = &g.group.top_frame { " · " span class="mono" { (frame) } }
                                    }
                                }
                            }
                            td class="num" { (count(g.in_range)) }
                            td class="num" { (count(g.users)) }
                            td class="hide-sm" { (sparkline(&g.sparkline, &format!("{} occurrences in the range", count(g.in_range)))) }
                            @if !compact {
                                td class="hide-sm" { (time(g.group.first_seen)) }
                                td class="hide-sm" { (time(g.group.last_seen)) }
                                td { (status_badge(&g.group.status)) }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Releases with their activity and session health.
pub fn release_rows(releases: &[ReleaseItem], filters: &Filters) -> Markup {
    html! {
        div class="table-wrap" {
            table class="table" {
                thead { tr {
                    th scope="col" class="col-main" { "Release" }
                    th scope="col" class="num hide-sm" { "Events" }
                    th scope="col" class="num" { "Errors" }
                    th scope="col" class="num" { "Sessions" }
                    th scope="col" class="num" { abbr title="Sessions without an unhandled error" { "Crash-free" } }
                    th scope="col" class="num hide-sm" { abbr title="Sessions without any error" { "Error-free" } }
                } }
                tbody {
                    @for r in releases {
                        tr {
                            td class="col-main" { a href=(filters.link("/", &[("release", &r.release)])) class="mono" { (r.release) } }
                            td class="num hide-sm" { (count(r.events)) }
                            td class="num" { (count(r.errors)) }
                            td class="num" { (count(r.sessions.started)) }
                            td class="num" { (rate(r.sessions.crash_free_rate())) }
                            td class="num hide-sm" { (rate(r.sessions.error_free_rate())) }
                        }
                    }
                }
            }
        }
    }
}

/// One card per web vital: p75, rating and the share of each rating.
pub fn vital_cards(list: &[VitalSummary]) -> Markup {
    html! {
        div class="vitals" {
            @for v in list {
                div class="vital" {
                    div class="vital-name" { (v.metric) }
                    div class="vital-value" {
                        @match v.p75 {
                            Some(p) => { (vitals::format_value(v.metric, p)) }
                            None => { "–" }
                        }
                    }
                    (rating_badge(v.rating()))
                    @if v.samples > 0 {
                        (rating_bar(v.good, v.needs_improvement, v.poor))
                        div class="muted small" { "p75 of " (count(v.samples)) " samples" }
                    }
                }
            }
        }
    }
}
