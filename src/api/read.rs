//! The read API: overview, events, errors and sessions of one project.

use super::context::meta;
use super::json::ApiJson;
use super::problem::{ApiError, ApiResult};
use super::security::ApiAuth;
use super::ApiTags;
use crate::domain::grouping::parse_stack;
use crate::domain::timeutil::format_rfc3339_ms;
use crate::error::AppError;
use crate::service::read::{self, RangeParams, Reader};
use crate::state::SharedState;
use crate::store::{
    ErrorGroupRow, ErrorListFilter, ErrorOccurrenceRow, ErrorSort, EventFilter, EventRow,
    SessionFilter, SessionRow,
};
use poem::web::Data;
use poem::Request;
use poem_openapi::param::{Header, Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{Enum, Object, OpenApi};

fn json_text(text: Option<String>) -> Option<serde_json::Value> {
    text.and_then(|t| serde_json::from_str(&t).ok())
}

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
    pub crashed_sessions: i64,
    /// Share of sessions without an error occurrence, 0–1; absent without sessions.
    #[oai(skip_serializing_if_is_none)]
    pub crash_free_rate: Option<f64>,
}

#[derive(Debug, Object)]
pub struct Event {
    pub id: String,
    pub app: String,
    pub name: String,
    pub platform: Option<String>,
    pub environment: Option<String>,
    pub release: Option<String>,
    pub user_id: Option<String>,
    pub session_id: Option<String>,
    pub anonymous_id: Option<String>,
    pub sdk_version: Option<String>,
    pub properties: Option<serde_json::Value>,
    pub timestamp: String,
    pub received_at: String,
}

impl From<EventRow> for Event {
    fn from(r: EventRow) -> Self {
        Event {
            id: r.id,
            app: r.app,
            name: r.name,
            platform: r.platform,
            environment: r.environment,
            release: r.release,
            user_id: r.user_id,
            session_id: r.session_id,
            anonymous_id: r.anonymous_id,
            sdk_version: r.sdk_version,
            properties: json_text(r.properties),
            timestamp: format_rfc3339_ms(r.timestamp),
            received_at: format_rfc3339_ms(r.received_at),
        }
    }
}

#[derive(Debug, Object)]
pub struct EventPage {
    pub items: Vec<Event>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

#[derive(Debug, Clone, Copy, Enum, PartialEq, Eq)]
#[oai(rename_all = "lowercase")]
pub enum ErrorStatus {
    Unresolved,
    Resolved,
    Ignored,
}

impl ErrorStatus {
    fn as_str(self) -> &'static str {
        match self {
            ErrorStatus::Unresolved => "unresolved",
            ErrorStatus::Resolved => "resolved",
            ErrorStatus::Ignored => "ignored",
        }
    }
}

#[derive(Debug, Clone, Copy, Enum, PartialEq, Eq)]
#[oai(rename_all = "snake_case")]
pub enum ErrorSortParam {
    LastSeen,
    Occurrences,
}

#[derive(Debug, Object)]
pub struct ErrorGroup {
    pub id: String,
    pub app: String,
    /// TypeError, ReferenceError, … when known.
    pub error_type: Option<String>,
    pub message: String,
    /// Top in-app frame, "function (file)".
    pub top_frame: Option<String>,
    pub status: String,
    pub first_seen: String,
    pub last_seen: String,
    /// All-time occurrence count.
    pub occurrences: i64,
    pub last_environment: Option<String>,
    pub last_release: Option<String>,
    pub last_platform: Option<String>,
    pub resolved_at: Option<String>,
    /// When a resolved group last occurred again.
    pub regressed_at: Option<String>,
}

impl From<ErrorGroupRow> for ErrorGroup {
    fn from(r: ErrorGroupRow) -> Self {
        ErrorGroup {
            id: r.id,
            app: r.app,
            error_type: r.error_type,
            message: r.message,
            top_frame: r.top_frame,
            status: r.status,
            first_seen: format_rfc3339_ms(r.first_seen),
            last_seen: format_rfc3339_ms(r.last_seen),
            occurrences: r.occurrences,
            last_environment: r.last_environment,
            last_release: r.last_release,
            last_platform: r.last_platform,
            resolved_at: r.resolved_at.map(format_rfc3339_ms),
            regressed_at: r.regressed_at.map(format_rfc3339_ms),
        }
    }
}

#[derive(Debug, Object)]
pub struct ErrorGroupPage {
    pub items: Vec<ErrorGroup>,
    pub next_cursor: Option<String>,
}

#[derive(Debug, Object)]
pub struct StackFrame {
    pub function: Option<String>,
    pub file: String,
    pub line: Option<u32>,
    pub column: Option<u32>,
    pub in_app: bool,
}

#[derive(Debug, Object)]
pub struct ErrorOccurrence {
    pub id: String,
    pub message: String,
    pub stack: Option<String>,
    /// The stack parsed into frames (in-app ones flagged).
    pub frames: Vec<StackFrame>,
    pub context: Option<serde_json::Value>,
    pub platform: Option<String>,
    pub environment: Option<String>,
    pub release: Option<String>,
    pub session_id: Option<String>,
    pub user_id: Option<String>,
    pub anonymous_id: Option<String>,
    pub sdk_version: Option<String>,
    pub timestamp: String,
}

impl From<ErrorOccurrenceRow> for ErrorOccurrence {
    fn from(r: ErrorOccurrenceRow) -> Self {
        let frames = r
            .stack
            .as_deref()
            .map(parse_stack)
            .unwrap_or_default()
            .into_iter()
            .map(|f| StackFrame {
                function: f.function,
                file: f.file,
                line: f.line,
                column: f.column,
                in_app: f.in_app,
            })
            .collect();
        ErrorOccurrence {
            id: r.id,
            message: r.message,
            stack: r.stack,
            frames,
            context: json_text(r.context),
            platform: r.platform,
            environment: r.environment,
            release: r.release,
            session_id: r.session_id,
            user_id: r.user_id,
            anonymous_id: r.anonymous_id,
            sdk_version: r.sdk_version,
            timestamp: format_rfc3339_ms(r.timestamp),
        }
    }
}

#[derive(Debug, Object)]
pub struct ErrorGroupDetail {
    pub group: ErrorGroup,
    pub affected_users: i64,
    /// Newest first, at most 20.
    pub recent_occurrences: Vec<ErrorOccurrence>,
}

#[derive(Debug, Object)]
pub struct ErrorStatusChange {
    pub status: ErrorStatus,
}

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
    /// `ended_at − started_at` for ended sessions, else up to the last activity.
    pub duration_ms: i64,
}

impl From<SessionRow> for Session {
    fn from(r: SessionRow) -> Self {
        let end = r.ended_at.unwrap_or(r.last_activity_at);
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
            duration_ms: (end - r.started_at).max(0),
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

pub struct ReadApi;

/// Time range and label filters shared by every list.
pub(super) struct Range {
    from: Query<Option<String>>,
    to: Query<Option<String>>,
    range: Query<Option<String>>,
    app: Query<Option<String>>,
    environment: Query<Option<String>>,
    release: Query<Option<String>>,
}

impl Range {
    pub(super) fn new(
        from: Query<Option<String>>,
        to: Query<Option<String>>,
        range: Query<Option<String>>,
        app: Query<Option<String>>,
        environment: Query<Option<String>>,
        release: Query<Option<String>>,
    ) -> Range {
        Range {
            from,
            to,
            range,
            app,
            environment,
            release,
        }
    }

    pub(super) fn params(self) -> RangeParams {
        RangeParams {
            from: self.from.0,
            to: self.to.0,
            range: self.range.0,
            app: self.app.0,
            environment: self.environment.0,
            release: self.release.0,
        }
    }
}

pub(super) async fn reader(
    state: &SharedState,
    auth: &ApiAuth,
    req: &Request,
    header: &Header<Option<String>>,
    query: &Query<Option<String>>,
) -> ApiResult<Reader> {
    let project = header.0.as_deref().or(query.0.as_deref());
    let meta = meta(state, req);
    Ok(read::authorize(state, auth.credential(), &meta, project).await?)
}

/// Read telemetry of a project. Authenticate with a personal access token; choose the
/// project with the `X-Project-Id` header or the `project_id` query parameter.
/// Lists take `from`/`to` (RFC 3339, `YYYY-MM-DD` or Unix ms) or `range` (1h, 24h,
/// 7d, 14d, 30d, 90d, 1y or `<n>h`/`<n>d`/`<n>w`; default 30d), widened to whole UTC
/// hours (up to 7 days) or days (longer); `app`, `environment`, `release`; and
/// paginate with `cursor`.
#[OpenApi(tag = "ApiTags::Telemetry")]
#[allow(clippy::too_many_arguments)]
impl ReadApi {
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
        let range = Range {
            from,
            to,
            range,
            app,
            environment,
            release,
        }
        .params();
        let scope = read::scope(&who.project_id, &range, state.clock.now_ms())?;
        let o = read::overview(&state, &scope).await?;
        Ok(Json(Overview {
            from: format_rfc3339_ms(o.from),
            to: format_rfc3339_ms(o.to),
            events: o.events,
            errors: o.errors,
            affected_users: o.affected_users,
            sessions: o.sessions,
            crashed_sessions: o.crashed_sessions,
            crash_free_rate: o.crash_free_rate(),
        }))
    }

    /// Events, newest first.
    #[oai(path = "/api/events", method = "get")]
    async fn events(
        &self,
        state: Data<&SharedState>,
        auth: ApiAuth,
        req: &Request,
        #[oai(name = "X-Project-Id")] project_header: Header<Option<String>>,
        project_id: Query<Option<String>>,
        name: Query<Option<String>>,
        from: Query<Option<String>>,
        to: Query<Option<String>>,
        range: Query<Option<String>>,
        app: Query<Option<String>>,
        environment: Query<Option<String>>,
        release: Query<Option<String>>,
        cursor: Query<Option<String>>,
        #[oai(validator(minimum(value = "1"), maximum(value = "500")))] limit: Query<Option<i64>>,
    ) -> ApiResult<Json<EventPage>> {
        let who = reader(&state, &auth, req, &project_header, &project_id).await?;
        let range = Range {
            from,
            to,
            range,
            app,
            environment,
            release,
        }
        .params();
        let filter = EventFilter {
            scope: read::scope(&who.project_id, &range, state.clock.now_ms())?,
            name: read::label("name", name.0.as_deref())?,
            cursor: read::parse_cursor(cursor.0.as_deref())?,
            limit: read::limit(limit.0)?,
        };
        let rows = state.db.list_events(&filter).await?;
        let next_cursor = read::next_cursor(
            rows.len(),
            filter.limit,
            rows.last().map(|r| (r.timestamp, r.id.as_str())),
        );
        Ok(Json(EventPage {
            items: rows.into_iter().map(Event::from).collect(),
            next_cursor,
        }))
    }

    /// One event.
    #[oai(path = "/api/events/:id", method = "get")]
    async fn event(
        &self,
        state: Data<&SharedState>,
        auth: ApiAuth,
        req: &Request,
        #[oai(name = "X-Project-Id")] project_header: Header<Option<String>>,
        project_id: Query<Option<String>>,
        id: Path<String>,
    ) -> ApiResult<Json<Event>> {
        let who = reader(&state, &auth, req, &project_header, &project_id).await?;
        let row = state
            .db
            .event_by_id(&who.project_id, read::path_id("event", &id.0)?)
            .await?;
        row.map(|r| Json(r.into()))
            .ok_or_else(|| AppError::NotFound(format!("no event {:?}", id.0)).into())
    }

    /// Error groups seen in the range, by last seen (default) or occurrences.
    #[oai(path = "/api/errors", method = "get")]
    async fn errors(
        &self,
        state: Data<&SharedState>,
        auth: ApiAuth,
        req: &Request,
        #[oai(name = "X-Project-Id")] project_header: Header<Option<String>>,
        project_id: Query<Option<String>>,
        status: Query<Option<ErrorStatus>>,
        sort: Query<Option<ErrorSortParam>>,
        from: Query<Option<String>>,
        to: Query<Option<String>>,
        range: Query<Option<String>>,
        app: Query<Option<String>>,
        environment: Query<Option<String>>,
        release: Query<Option<String>>,
        cursor: Query<Option<String>>,
        #[oai(validator(minimum(value = "1"), maximum(value = "500")))] limit: Query<Option<i64>>,
    ) -> ApiResult<Json<ErrorGroupPage>> {
        let who = reader(&state, &auth, req, &project_header, &project_id).await?;
        let range = Range {
            from,
            to,
            range,
            app,
            environment,
            release,
        }
        .params();
        let sort = match sort.0 {
            Some(ErrorSortParam::Occurrences) => ErrorSort::Occurrences,
            _ => ErrorSort::LastSeen,
        };
        let filter = ErrorListFilter {
            scope: read::scope(&who.project_id, &range, state.clock.now_ms())?,
            status: status.0.map(|s| s.as_str().to_string()),
            sort,
            cursor: read::parse_cursor(cursor.0.as_deref())?,
            limit: read::limit(limit.0)?,
        };
        let rows = state.db.list_error_groups(&filter).await?;
        let next_cursor = read::next_cursor(
            rows.len(),
            filter.limit,
            rows.last().map(|r| {
                (
                    if sort == ErrorSort::Occurrences {
                        r.occurrences
                    } else {
                        r.last_seen
                    },
                    r.id.as_str(),
                )
            }),
        );
        Ok(Json(ErrorGroupPage {
            items: rows.into_iter().map(ErrorGroup::from).collect(),
            next_cursor,
        }))
    }

    /// One error group with its most recent occurrences and their stacks.
    #[oai(path = "/api/errors/:id", method = "get")]
    async fn error(
        &self,
        state: Data<&SharedState>,
        auth: ApiAuth,
        req: &Request,
        #[oai(name = "X-Project-Id")] project_header: Header<Option<String>>,
        project_id: Query<Option<String>>,
        id: Path<String>,
    ) -> ApiResult<Json<ErrorGroupDetail>> {
        let who = reader(&state, &auth, req, &project_header, &project_id).await?;
        let group = state
            .db
            .error_group(&who.project_id, read::path_id("error group", &id.0)?)
            .await?
            .ok_or_else(|| {
                ApiError::from(AppError::NotFound(format!("no error group {:?}", id.0)))
            })?;
        let affected_users = state
            .db
            .group_affected_users(&who.project_id, &group.id)
            .await?;
        let recent = state
            .db
            .recent_occurrences(&who.project_id, &group.id, 20)
            .await?;
        Ok(Json(ErrorGroupDetail {
            group: group.into(),
            affected_users,
            recent_occurrences: recent.into_iter().map(ErrorOccurrence::from).collect(),
        }))
    }

    /// Resolve, ignore or unresolve an error group (OWNER or EDITOR).
    #[oai(path = "/api/errors/:id", method = "patch")]
    async fn set_error_status(
        &self,
        state: Data<&SharedState>,
        auth: ApiAuth,
        req: &Request,
        #[oai(name = "X-Project-Id")] project_header: Header<Option<String>>,
        project_id: Query<Option<String>>,
        id: Path<String>,
        body: ApiJson<ErrorStatusChange>,
    ) -> ApiResult<Json<ErrorGroup>> {
        let who = reader(&state, &auth, req, &project_header, &project_id).await?;
        let body = body.parse()?;
        let group = read::set_error_status(&state, &who, &id.0, body.status.as_str()).await?;
        Ok(Json(group.into()))
    }

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
        let range = Range {
            from,
            to,
            range,
            app,
            environment,
            release,
        }
        .params();
        let filter = SessionFilter {
            scope: read::scope(&who.project_id, &range, state.clock.now_ms())?,
            cursor: read::parse_cursor(cursor.0.as_deref())?,
            limit: read::limit(limit.0)?,
        };
        let rows = state.db.list_sessions(&filter).await?;
        let next_cursor = read::next_cursor(
            rows.len(),
            filter.limit,
            rows.last().map(|r| (r.started_at, r.id.as_str())),
        );
        Ok(Json(SessionPage {
            items: rows.into_iter().map(Session::from).collect(),
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
        let session = state
            .db
            .session_by_ref(&who.project_id, read::path_id("session", &id.0)?)
            .await?
            .ok_or_else(|| ApiError::from(AppError::NotFound(format!("no session {:?}", id.0))))?;
        let events = state
            .db
            .events_of_session(&who.project_id, &session.session_id, 1000)
            .await?;
        let errors = state
            .db
            .occurrences_of_session(&who.project_id, &session.session_id, 200)
            .await?;
        Ok(Json(SessionDetail {
            session: session.into(),
            events: events.into_iter().map(Event::from).collect(),
            errors: errors.into_iter().map(ErrorOccurrence::from).collect(),
        }))
    }
}
