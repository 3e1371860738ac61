//! The read API behind the dashboard's charts and breakdowns: time series, counts by
//! event name, property breakdowns, web vitals and the values the filters offer; and
//! the signed-in user's notifications.

use super::problem::ApiResult;
use super::security::ApiAuth;
use super::telemetry::{reader, Range};
use super::ApiTags;
use crate::domain::timerange::Window;
use crate::domain::timeutil::format_rfc3339_ms;
use crate::service::analytics;
use crate::service::read;
use crate::state::SharedState;
use crate::store::Scope;
use poem::web::Data;
use poem::Request;
use poem_openapi::param::{Header, Query};
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};

#[derive(Debug, Object)]
pub struct TimeBucket {
    /// Start of the bucket (UTC).
    pub start: String,
    pub events: i64,
    /// Error occurrences.
    pub errors: i64,
    /// Sessions started.
    pub sessions: i64,
    /// Of those, sessions with at least one error, handled or not.
    pub errored_sessions: i64,
    /// Of those, sessions with at least one unhandled error.
    pub crashed_sessions: i64,
}

#[derive(Debug, Object)]
pub struct TimeSeries {
    pub from: String,
    pub to: String,
    /// Width of each bucket in milliseconds: an hour up to 2 days, 6 hours up to 7 days,
    /// a day up to 92 days, weeks beyond.
    pub bucket_ms: i64,
    pub buckets: Vec<TimeBucket>,
}

#[derive(Debug, Object)]
pub struct NameCount {
    pub name: String,
    pub count: i64,
    /// Count in the window of the same length just before.
    pub previous: i64,
    /// Share of all events in the range, in percent.
    pub share: f64,
}

#[derive(Debug, Object)]
pub struct EventNames {
    pub items: Vec<NameCount>,
}

#[derive(Debug, Object)]
pub struct ValueCount {
    /// The value as text; `(other values)` gathers values beyond 100 per name,
    /// property and day.
    pub value: String,
    pub count: i64,
}

#[derive(Debug, Object)]
pub struct PropertyBreakdown {
    pub name: String,
    /// Every property seen on events of this name.
    pub properties: Vec<String>,
    /// The property broken down (the one asked for, else the first).
    pub property: Option<String>,
    /// Most frequent first, at most 20.
    pub values: Vec<ValueCount>,
}

#[derive(Debug, Object)]
pub struct Vital {
    /// LCP, INP, CLS, FCP or TTFB.
    pub metric: String,
    pub samples: i64,
    /// 75th percentile (milliseconds; unitless for CLS), within ±2.5 %.
    pub p75: Option<f64>,
    /// Rating of the p75: good, needs-improvement or poor.
    pub rating: Option<String>,
    pub good: i64,
    pub needs_improvement: i64,
    pub poor: i64,
}

#[derive(Debug, Object)]
pub struct Performance {
    pub vitals: Vec<Vital>,
}

#[derive(Debug, Object)]
pub struct FilterOptions {
    pub apps: Vec<String>,
    pub environments: Vec<String>,
    pub releases: Vec<String>,
    pub event_names: Vec<String>,
}

pub struct AnalyticsApi;

/// The caller's project (checked), and the window and scope of the range parameters.
async fn scoped(
    state: &SharedState,
    auth: &ApiAuth,
    req: &Request,
    header: &Header<Option<String>>,
    query: &Query<Option<String>>,
    range: Range,
) -> ApiResult<(Window, Scope)> {
    let who = reader(state, auth, req, header, query).await?;
    let p = range.params();
    let window = read::window(&p, state.clock.now_ms())?;
    let scope = read::scope_in(&who.project_id, &window, &p)?;
    Ok((window, scope))
}

/// Charts and breakdowns of a project, with the same authentication, project choice
/// and range parameters as the other telemetry routes.
#[OpenApi(tag = "ApiTags::Telemetry")]
#[allow(clippy::too_many_arguments)]
impl AnalyticsApi {
    /// Events, errors, and sessions started, errored and crashed per time bucket.
    #[oai(path = "/api/timeseries", method = "get")]
    async fn timeseries(
        &self,
        state: Data<&SharedState>,
        auth: ApiAuth,
        req: &Request,
        #[oai(name = "X-Project-Id")] project_header: Header<Option<String>>,
        project_id: Query<Option<String>>,
        from: Query<Option<String>>,
        to: Query<Option<String>>,
        range: Query<Option<String>>,
        app: Query<Option<String>>,
        environment: Query<Option<String>>,
        release: Query<Option<String>>,
    ) -> ApiResult<Json<TimeSeries>> {
        let range = Range::new(from, to, range, app, environment, release);
        let (window, scope) =
            scoped(&state, &auth, req, &project_header, &project_id, range).await?;
        let s = analytics::timeseries(&state, &scope, &window).await?;
        Ok(Json(TimeSeries {
            from: format_rfc3339_ms(window.from),
            to: format_rfc3339_ms(window.to),
            bucket_ms: window.chart_step(),
            buckets: window
                .chart_buckets()
                .into_iter()
                .enumerate()
                .map(|(i, start)| TimeBucket {
                    start: format_rfc3339_ms(start),
                    events: s.events[i],
                    errors: s.errors[i],
                    sessions: s.sessions[i],
                    errored_sessions: s.errored[i],
                    crashed_sessions: s.crashed[i],
                })
                .collect(),
        }))
    }

    /// Event counts by name, with the previous period and each name's share.
    #[oai(path = "/api/events/names", method = "get")]
    async fn event_names(
        &self,
        state: Data<&SharedState>,
        auth: ApiAuth,
        req: &Request,
        #[oai(name = "X-Project-Id")] project_header: Header<Option<String>>,
        project_id: Query<Option<String>>,
        from: Query<Option<String>>,
        to: Query<Option<String>>,
        range: Query<Option<String>>,
        app: Query<Option<String>>,
        environment: Query<Option<String>>,
        release: Query<Option<String>>,
    ) -> ApiResult<Json<EventNames>> {
        let range = Range::new(from, to, range, app, environment, release);
        let (window, scope) =
            scoped(&state, &auth, req, &project_header, &project_id, range).await?;
        let names = analytics::event_names(&state, &scope, &window).await?;
        Ok(Json(EventNames {
            items: names
                .into_iter()
                .map(|n| NameCount {
                    name: n.name,
                    count: n.count,
                    previous: n.previous,
                    share: n.share,
                })
                .collect(),
        }))
    }

    /// How the values of one property of events called `name` split.
    #[oai(path = "/api/events/properties", method = "get")]
    async fn event_properties(
        &self,
        state: Data<&SharedState>,
        auth: ApiAuth,
        req: &Request,
        #[oai(name = "X-Project-Id")] project_header: Header<Option<String>>,
        project_id: Query<Option<String>>,
        name: Query<String>,
        property: Query<Option<String>>,
        from: Query<Option<String>>,
        to: Query<Option<String>>,
        range: Query<Option<String>>,
        app: Query<Option<String>>,
        environment: Query<Option<String>>,
        release: Query<Option<String>>,
    ) -> ApiResult<Json<PropertyBreakdown>> {
        let range = Range::new(from, to, range, app, environment, release);
        let (_, scope) = scoped(&state, &auth, req, &project_header, &project_id, range).await?;
        let name = read::label("name", Some(&name.0))?
            .ok_or_else(|| crate::error::AppError::invalid("name", "`name` must not be empty"))?;
        let b = analytics::breakdown(&state, &scope, &name, property.0.as_deref()).await?;
        Ok(Json(PropertyBreakdown {
            name,
            properties: b.props,
            property: b.prop,
            values: b
                .values
                .into_iter()
                .map(|(value, count)| ValueCount { value, count })
                .collect(),
        }))
    }

    /// p75 and rating shares of each web vital.
    #[oai(path = "/api/performance", method = "get")]
    async fn performance(
        &self,
        state: Data<&SharedState>,
        auth: ApiAuth,
        req: &Request,
        #[oai(name = "X-Project-Id")] project_header: Header<Option<String>>,
        project_id: Query<Option<String>>,
        from: Query<Option<String>>,
        to: Query<Option<String>>,
        range: Query<Option<String>>,
        app: Query<Option<String>>,
        environment: Query<Option<String>>,
        release: Query<Option<String>>,
    ) -> ApiResult<Json<Performance>> {
        let range = Range::new(from, to, range, app, environment, release);
        let (window, scope) =
            scoped(&state, &auth, req, &project_header, &project_id, range).await?;
        let list = analytics::vitals(&state, &scope, &window, false).await?;
        Ok(Json(Performance {
            vitals: list
                .into_iter()
                .map(|v| Vital {
                    metric: v.metric.to_string(),
                    samples: v.samples,
                    p75: v.p75,
                    rating: v.rating().map(str::to_string),
                    good: v.good,
                    needs_improvement: v.needs_improvement,
                    poor: v.poor,
                })
                .collect(),
        }))
    }

    /// The apps, environments, releases and event names the project has seen.
    #[oai(path = "/api/filter-options", method = "get")]
    async fn filter_options(
        &self,
        state: Data<&SharedState>,
        auth: ApiAuth,
        req: &Request,
        #[oai(name = "X-Project-Id")] project_header: Header<Option<String>>,
        project_id: Query<Option<String>>,
    ) -> ApiResult<Json<FilterOptions>> {
        let who = reader(&state, &auth, req, &project_header, &project_id).await?;
        let o = analytics::filter_options(&state, &who.project_id).await?;
        Ok(Json(FilterOptions {
            apps: o.apps,
            environments: o.environments,
            releases: o.releases,
            event_names: o.event_names,
        }))
    }
}
