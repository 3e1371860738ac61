//! `/api/sessions`: a project's sessions, newest first, and one session with its
//! events and errors.

use super::errors::ErrorOccurrence;
use super::events::Event;
use super::problem::ApiResult;
use super::security::ApiAuth;
use super::telemetry::{reader, Range};
use super::ApiTags;
use crate::domain::timeutil::format_rfc3339_ms;
use crate::service::read;
use crate::service::sessions::{self, SessionItem};
use crate::state::SharedState;
use crate::store::SessionFilter;
use poem::web::Data;
use poem::Request;
use poem_openapi::param::{Header, Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};

#[derive(Debug, Object)]
pub struct Session {
    pub id: String,
    pub session_id: String,
    pub app: String,
    pub platform: Option<String>,
    pub environment: Option<String>,
    pub release: Option<String>,
    pub user_id: Option<String>,
    pub user_email: Option<String>,
    pub anonymous_id: Option<String>,
    pub country: Option<String>,
    pub device_browser: Option<String>,
    pub device_os: Option<String>,
    pub sdk_version: Option<String>,
    pub started_at: String,
    pub ended_at: Option<String>,
    /// The latest of the session's own updates, its events and its errors.
    pub last_activity_at: String,
    /// `ended_at − started_at` for ended sessions, `last_activity_at − started_at`
    /// for open ones.
    pub duration_ms: i64,
    /// Events recorded in the session.
    pub event_count: i64,
    /// Error occurrences recorded in the session.
    pub error_count: i64,
    /// At least one error, handled or not, occurred in the session.
    pub errored: bool,
    /// At least one unhandled error occurred in the session.
    pub crashed: bool,
}

impl From<SessionItem> for Session {
    fn from(item: SessionItem) -> Self {
        let duration_ms = item.duration_ms();
        let (errored, crashed) = (item.errored(), item.crashed());
        let r = item.session;
        Session {
            id: r.id,
            session_id: r.session_id,
            app: r.app,
            platform: r.platform,
            environment: r.environment,
            release: r.release,
            user_id: r.user_id,
            user_email: r.user_email,
            anonymous_id: r.anonymous_id,
            country: r.country,
            device_browser: r.device_browser,
            device_os: r.device_os,
            sdk_version: r.sdk_version,
            started_at: format_rfc3339_ms(r.started_at),
            ended_at: r.ended_at.map(format_rfc3339_ms),
            last_activity_at: format_rfc3339_ms(item.last_activity_at),
            duration_ms,
            event_count: item.events,
            error_count: item.errors,
            errored,
            crashed,
        }
    }
}

#[derive(Debug, Object)]
pub struct SessionPage {
    pub items: Vec<Session>,
    pub next_cursor: Option<String>,
}

#[derive(Debug, Object)]
pub struct SessionDetail {
    pub session: Session,
    pub events: Vec<Event>,
    pub errors: Vec<ErrorOccurrence>,
}

pub struct SessionsApi;

#[OpenApi(tag = "ApiTags::Telemetry")]
#[allow(clippy::too_many_arguments)]
impl SessionsApi {
    /// Sessions started in the range, newest first.
    #[oai(path = "/api/sessions", method = "get")]
    async fn sessions(
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
        cursor: Query<Option<String>>,
        #[oai(validator(minimum(value = "1"), maximum(value = "500")))] limit: Query<Option<i64>>,
    ) -> ApiResult<Json<SessionPage>> {
        let who = reader(&state, &auth, req, &project_header, &project_id).await?;
        let range = Range::new(from, to, range, app, environment, release).params();
        let filter = SessionFilter {
            scope: read::scope(&who.project_id, &range, state.clock.now_ms())?,
            cursor: read::parse_cursor(cursor.0.as_deref())?,
            limit: read::limit(limit.0)?,
        };
        let items = sessions::list(&state, &filter).await?;
        let next_cursor = read::next_cursor(
            items.len(),
            filter.limit,
            items
                .last()
                .map(|i| (i.session.started_at, i.session.id.as_str())),
        );
        Ok(Json(SessionPage {
            items: items.into_iter().map(Session::from).collect(),
            next_cursor,
        }))
    }

    /// One session (by id or the SDK's session_id) with its events and errors.
    #[oai(path = "/api/sessions/:id", method = "get")]
    async fn session(
        &self,
        state: Data<&SharedState>,
        auth: ApiAuth,
        req: &Request,
        #[oai(name = "X-Project-Id")] project_header: Header<Option<String>>,
        project_id: Query<Option<String>>,
        id: Path<String>,
    ) -> ApiResult<Json<SessionDetail>> {
        let who = reader(&state, &auth, req, &project_header, &project_id).await?;
        let d = sessions::detail(&state, &who.project_id, &id.0).await?;
        Ok(Json(SessionDetail {
            session: d.item.into(),
            events: d.events.into_iter().map(Event::from).collect(),
            errors: d.errors.into_iter().map(ErrorOccurrence::from).collect(),
        }))
    }
}
