//! What the dashboard's pages (and the read API's summaries) show: KPIs against the
//! previous period, chart series, top lists and breakdowns, all from the roll-ups,
//! plus the raw rows a page lists.

use crate::domain::sessions::SessionTally;
use crate::domain::timerange::Window;
use crate::domain::vitals;
use crate::error::AppResult;
use crate::service::errors::{self, GroupItem};
use crate::service::period::{chart_series, previous, Change};
use crate::state::AppState;
use crate::store::{Counted, EventFilter, EventRow, GroupListFilter, Scope};
use futures_util::TryFutureExt;
use std::collections::HashMap;

#[derive(Debug, Clone, Default)]
pub struct Totals {
    pub events: i64,
    pub errors: i64,
    pub affected_users: i64,
    pub sessions: SessionTally,
}

/// Events, errors, affected users and sessions in scope.
#[tracing::instrument(skip_all)]
pub async fn totals(state: &AppState, scope: &Scope) -> AppResult<Totals> {
    let db = &state.db;
    let (events, errors, affected_users, sessions) = futures_util::try_join!(
        db.rollup_event_total(scope, None),
        db.rollup_error_total(scope, None),
        db.rollup_affected_users(scope, None),
        db.rollup_session_totals(scope),
    )?;
    Ok(Totals {
        events,
        errors,
        affected_users,
        sessions,
    })
}

#[derive(Debug, Clone)]
pub struct ReleaseItem {
    pub release: String,
    pub events: i64,
    pub errors: i64,
    pub sessions: SessionTally,
}

#[derive(Debug, Clone)]
pub struct VitalSummary {
    pub metric: &'static str,
    pub samples: i64,
    pub p75: Option<f64>,
    pub good: i64,
    pub needs_improvement: i64,
    pub poor: i64,
    /// p75 per chart bucket (`None` where there were no samples).
    pub series: Vec<Option<f64>>,
}

impl VitalSummary {
    pub fn rating(&self) -> Option<&'static str> {
        self.p75.map(|v| vitals::rate(self.metric, v))
    }

    pub fn share(&self, n: i64) -> f64 {
        if self.samples == 0 {
            0.0
        } else {
            n as f64 / self.samples as f64 * 100.0
        }
    }
}

/// What the dashboard's Overview shows (the read API answers `/api/overview` from [`totals`]).
#[derive(Debug, Clone)]
pub struct OverviewPage {
    pub totals: Totals,
    pub previous: Totals,
    pub events_series: Vec<i64>,
    pub errors_series: Vec<i64>,
    pub top_errors: Vec<GroupItem>,
    pub releases: Vec<ReleaseItem>,
    pub vitals: Vec<VitalSummary>,
}

#[tracing::instrument(skip_all)]
pub async fn overview(state: &AppState, scope: &Scope, window: &Window) -> AppResult<OverviewPage> {
    let db = &state.db;
    let prev = previous(scope, window);
    let top_filter = GroupListFilter {
        limit: 5,
        ..Default::default()
    };
    let (totals, previous_totals, events, errors, top, releases, vitals) = futures_util::try_join!(
        totals(state, scope),
        totals(state, &prev),
        db.rollup_event_series(scope, None).err_into(),
        db.rollup_error_series(scope).err_into(),
        errors::list(state, scope, window, &top_filter),
        releases(state, scope),
        vitals(state, scope, window, false),
    )?;
    Ok(OverviewPage {
        totals,
        previous: previous_totals,
        events_series: chart_series(window, &events),
        errors_series: chart_series(window, &errors),
        top_errors: top.items,
        releases,
        vitals,
    })
}

/// Releases seen in scope, newest activity first by event count, at most 10.
#[tracing::instrument(skip_all)]
pub async fn releases(state: &AppState, scope: &Scope) -> AppResult<Vec<ReleaseItem>> {
    let db = &state.db;
    let (events, errors, sessions) = futures_util::try_join!(
        db.rollup_release_events(scope),
        db.rollup_release_errors(scope),
        db.rollup_release_sessions(scope),
    )?;
    let mut by_release: HashMap<String, ReleaseItem> = HashMap::new();
    fn item(map: &mut HashMap<String, ReleaseItem>, release: String) -> &mut ReleaseItem {
        map.entry(release.clone()).or_insert(ReleaseItem {
            release,
            events: 0,
            errors: 0,
            sessions: SessionTally::default(),
        })
    }
    for (r, n) in events {
        item(&mut by_release, r).events = n;
    }
    for (r, n) in errors {
        item(&mut by_release, r).errors = n;
    }
    for (r, tally) in sessions {
        item(&mut by_release, r).sessions = tally;
    }
    let mut list: Vec<ReleaseItem> = by_release
        .into_values()
        .filter(|r| !r.release.is_empty())
        .collect();
    list.sort_by(|a, b| {
        (b.events + b.errors + b.sessions.started)
            .cmp(&(a.events + a.errors + a.sessions.started))
            .then_with(|| b.release.cmp(&a.release))
    });
    list.truncate(10);
    Ok(list)
}

pub struct NameItem {
    pub name: String,
    pub count: i64,
    pub previous: i64,
    pub share: f64,
}

pub struct Breakdown {
    pub props: Vec<String>,
    pub prop: Option<String>,
    pub values: Vec<Counted<String>>,
}

pub struct Events {
    pub total: Change,
    pub names: Vec<NameItem>,
    /// The busiest names (at most five) and their chart series.
    pub series: Vec<(String, Vec<i64>)>,
    pub breakdown: Option<Breakdown>,
    pub list: Vec<EventRow>,
}

/// Names shown as their own line on the events chart.
const CHARTED_NAMES: usize = 5;

/// Event counts by name in scope (most frequent first), with the previous period.
#[tracing::instrument(skip_all)]
pub async fn event_names(
    state: &AppState,
    scope: &Scope,
    window: &Window,
) -> AppResult<Vec<NameItem>> {
    let db = &state.db;
    let prev = previous(scope, window);
    let (names, previous_names) =
        futures_util::try_join!(db.rollup_event_names(scope), db.rollup_event_names(&prev))?;
    let all: i64 = names.iter().map(|(_, n)| n).sum();
    let before: HashMap<String, i64> = previous_names.into_iter().collect();
    Ok(names
        .into_iter()
        .map(|(name, count)| NameItem {
            previous: before.get(&name).copied().unwrap_or(0),
            share: if all > 0 {
                count as f64 / all as f64 * 100.0
            } else {
                0.0
            },
            name,
            count,
        })
        .collect())
}

/// The values of property `prop` (or the first property) of events called `name`.
#[tracing::instrument(skip_all)]
pub async fn breakdown(
    state: &AppState,
    scope: &Scope,
    name: &str,
    prop: Option<&str>,
) -> AppResult<Breakdown> {
    let db = &state.db;
    let props = db.event_property_keys(&scope.project_id, name).await?;
    let chosen = prop
        .filter(|p| props.iter().any(|k| k == p))
        .or(props.first().map(String::as_str))
        .map(str::to_string);
    let values = match &chosen {
        Some(p) => db.rollup_property_values(scope, name, p, 20).await?,
        None => Vec::new(),
    };
    Ok(Breakdown {
        props,
        prop: chosen,
        values,
    })
}

/// Counts by name, the busiest names over time, a property breakdown of `name`
/// (by `prop`, or its first property) and a page of raw events.
#[tracing::instrument(skip_all)]
pub async fn events(
    state: &AppState,
    scope: &Scope,
    window: &Window,
    name: Option<&str>,
    prop: Option<&str>,
    list: &EventFilter,
) -> AppResult<Events> {
    let db = &state.db;
    let (names, rows) = futures_util::try_join!(
        event_names(state, scope, window),
        db.list_events(list).err_into(),
    )?;
    let charted: Vec<String> = match name {
        Some(n) => vec![n.to_string()],
        None => names
            .iter()
            .take(CHARTED_NAMES)
            .map(|n| n.name.clone())
            .collect(),
    };
    let series_rows = db.rollup_event_name_series(scope, &charted).await?;
    let series = charted
        .iter()
        .map(|n| {
            let rows: Vec<Counted<i64>> = series_rows
                .iter()
                .filter(|(_, name, _)| name == n)
                .map(|(b, _, c)| (*b, *c))
                .collect();
            (n.clone(), chart_series(window, &rows))
        })
        .collect();
    let breakdown = match name {
        None => None,
        Some(n) => Some(breakdown(state, scope, n, prop).await?),
    };
    let total = match name {
        Some(n) => names
            .iter()
            .find(|i| i.name == n)
            .map_or_else(Change::default, |i| Change::counts(i.count, i.previous)),
        None => Change::counts(
            names.iter().map(|i| i.count).sum(),
            names.iter().map(|i| i.previous).sum(),
        ),
    };
    Ok(Events {
        total,
        names,
        series,
        breakdown,
        list: rows,
    })
}

/// Per chart bucket: events, errors, sessions started, errored and crashed.
pub struct TimeSeries {
    pub events: Vec<i64>,
    pub errors: Vec<i64>,
    pub sessions: Vec<i64>,
    pub errored: Vec<i64>,
    pub crashed: Vec<i64>,
}

#[tracing::instrument(skip_all)]
pub async fn timeseries(state: &AppState, scope: &Scope, window: &Window) -> AppResult<TimeSeries> {
    let db = &state.db;
    let (events, errors, sessions) = futures_util::try_join!(
        db.rollup_event_series(scope, None),
        db.rollup_error_series(scope),
        db.rollup_session_series(scope),
    )?;
    let pick = |f: fn(&SessionTally) -> i64| -> Vec<i64> {
        let rows: Vec<Counted<i64>> = sessions.iter().map(|(b, t)| (*b, f(t))).collect();
        chart_series(window, &rows)
    };
    Ok(TimeSeries {
        events: chart_series(window, &events),
        errors: chart_series(window, &errors),
        sessions: pick(|t| t.started),
        errored: pick(|t| t.errored),
        crashed: pick(|t| t.crashed),
    })
}

/// Web vitals in scope; with `series`, also p75 per chart bucket.
#[tracing::instrument(skip_all)]
pub async fn vitals(
    state: &AppState,
    scope: &Scope,
    window: &Window,
    series: bool,
) -> AppResult<Vec<VitalSummary>> {
    let rows = state.db.rollup_vitals(scope).await?;
    let per_bucket = if series {
        state.db.rollup_vital_series(scope).await?
    } else {
        Vec::new()
    };
    let buckets = window.chart_buckets().len();
    Ok(vitals::METRICS
        .into_iter()
        .map(|metric| {
            let mine: Vec<&(String, String, i64, i64)> =
                rows.iter().filter(|r| r.0 == metric).collect();
            let by_rating =
                |rating: &str| -> i64 { mine.iter().filter(|r| r.1 == rating).map(|r| r.3).sum() };
            let bins: Vec<(i64, i64)> = mine.iter().map(|r| (r.2, r.3)).collect();
            let mut chart: Vec<Vec<(i64, i64)>> = vec![Vec::new(); buckets];
            for (bucket, m, bin, n) in &per_bucket {
                if m == metric {
                    if let Some(slot) = window.chart_index(*bucket).and_then(|i| chart.get_mut(i)) {
                        slot.push((*bin, *n));
                    }
                }
            }
            VitalSummary {
                metric,
                samples: bins.iter().map(|(_, n)| n).sum(),
                p75: vitals::quantile(metric, &bins, 0.75),
                good: by_rating("good"),
                needs_improvement: by_rating("needs-improvement"),
                poor: by_rating("poor"),
                series: if series {
                    chart
                        .iter()
                        .map(|b| vitals::quantile(metric, b, 0.75))
                        .collect()
                } else {
                    Vec::new()
                },
            }
        })
        .collect())
}

/// Whether the project has received anything yet (the first-run screens ask).
#[tracing::instrument(skip_all)]
pub async fn has_data(state: &AppState, project_id: &str) -> AppResult<bool> {
    Ok(state.db.project_has_data(project_id).await?)
}

/// The values the pickers offer for a project.
#[derive(Debug, Clone, Default)]
pub struct FilterOptions {
    pub apps: Vec<String>,
    pub environments: Vec<String>,
    pub releases: Vec<String>,
    /// Event names seen (the events page's picker).
    pub event_names: Vec<String>,
}

#[tracing::instrument(skip_all)]
pub async fn filter_options(state: &AppState, project_id: &str) -> AppResult<FilterOptions> {
    let db = &state.db;
    let (apps, environments, releases, event_names) = futures_util::try_join!(
        db.project_labels(project_id, "app"),
        db.project_labels(project_id, "environment"),
        db.project_labels(project_id, "release"),
        db.project_labels(project_id, "event"),
    )?;
    Ok(FilterOptions {
        apps,
        environments,
        releases,
        event_names,
    })
}
