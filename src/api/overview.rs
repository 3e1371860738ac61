//! `GET /api/overview`: the KPIs of a project over a range.

use super::problem::ApiResult;
use super::security::ApiAuth;
use super::telemetry::{reader, Range};
use super::ApiTags;
use crate::domain::timeutil::format_rfc3339_ms;
use crate::service::analytics;
use crate::service::read;
use crate::state::SharedState;
use poem::web::Data;
use poem::Request;
use poem_openapi::param::{Header, Query};
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};

#[derive(Debug, Object)]
pub struct Overview {
    pub from: String,
    pub to: String,
    pub events: i64,
    /// Error occurrences.
    pub errors: i64,
    /// Distinct users (user id, else anonymous id) who hit an error.
    pub affected_users: i64,
    pub sessions: i64,
    /// Sessions with at least one error, handled or not.
    pub errored_sessions: i64,
    /// Sessions with at least one unhandled error (reported by a global handler:
    /// `window.onerror`, `unhandledrejection`, `uncaughtException`).
    pub crashed_sessions: i64,
    /// Share of sessions without any error, 0–1; absent without sessions.
    #[oai(skip_serializing_if_is_none)]
    pub error_free_rate: Option<f64>,
    /// Share of sessions without an unhandled error, 0–1; absent without sessions.
    #[oai(skip_serializing_if_is_none)]
    pub crash_free_rate: Option<f64>,
}

pub struct OverviewApi;

#[OpenApi(tag = "ApiTags::Telemetry")]
#[allow(clippy::too_many_arguments)]
impl OverviewApi {
    /// KPIs for a time range: events, errors, affected users, sessions, crash-free rate.
    #[oai(path = "/api/overview", method = "get")]
    async fn overview(
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
    ) -> ApiResult<Json<Overview>> {
        let who = reader(&state, &auth, req, &project_header, &project_id).await?;
        let range = Range::new(from, to, range, app, environment, release).params();
        let scope = read::scope(&who.project_id, &range, state.clock.now_ms())?;
        let t = analytics::totals(&state, &scope).await?;
        Ok(Json(Overview {
            from: format_rfc3339_ms(scope.from),
            to: format_rfc3339_ms(scope.to),
            events: t.events,
            errors: t.errors,
            affected_users: t.affected_users,
            sessions: t.sessions.started,
            errored_sessions: t.sessions.errored,
            crashed_sessions: t.sessions.crashed,
            error_free_rate: t.sessions.error_free_rate(),
            crash_free_rate: t.sessions.crash_free_rate(),
        }))
    }
}
