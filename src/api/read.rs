//! The read API: overview, events, errors and sessions of one project.

use super::json::ApiJson;
use super::problem::ApiResult;
use super::security::ApiAuth;
use super::ApiTags;
use crate::domain::grouping::parse_stack;
use crate::domain::timeutil::format_rfc3339_ms;
use crate::http::request::meta;
use crate::service::analytics;
use crate::service::errors::{self, GroupItem};
use crate::service::events;
use crate::service::read::{self, RangeParams, Reader};
use crate::service::sessions::{self, SessionItem};
use crate::state::SharedState;
use crate::store::{
    ErrorGroupRow, ErrorOccurrenceRow, EventFilter, EventRow, GroupListFilter, GroupOrder,
    SessionFilter,
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
    /// Most recently seen first (the default).
    LastSeen,
    /// Most occurrences over the group's lifetime first.
    Occurrences,
    /// Most occurrences inside the range first.
    InRange,
    /// Newest group first.
    FirstSeen,
}

impl ErrorSortParam {
    fn order(self) -> GroupOrder {
        match self {
            ErrorSortParam::LastSeen => GroupOrder::LastSeen,
            ErrorSortParam::Occurrences => GroupOrder::Total,
            ErrorSortParam::InRange => GroupOrder::Count,
            ErrorSortParam::FirstSeen => GroupOrder::FirstSeen,
        }
    }
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

/// A group as lists show it: with its numbers inside the range.
#[derive(Debug, Object)]
pub struct ErrorGroupItem {
    #[oai(flatten)]
    pub group: ErrorGroup,
    /// Occurrences inside the range and filters.
    pub occurrences_in_range: i64,
    /// Distinct users (user id, else anonymous id) it reached inside the range.
    pub affected_users: i64,
}

impl From<GroupItem> for ErrorGroupItem {
    fn from(i: GroupItem) -> Self {
        ErrorGroupItem {
            occurrences_in_range: i.in_range,
            affected_users: i.users,
            group: i.group.into(),
        }
    }
}

#[derive(Debug, Object)]
pub struct ErrorGroupPage {
    pub items: Vec<ErrorGroupItem>,
    /// Groups matching in all (every page).
    pub total: i64,
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
    /// Reported by a global handler (`context.source` `window.onerror`,
    /// `unhandledrejection`, `unhandledRejection` or `uncaughtException`): nobody caught it.
    pub unhandled: bool,
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
            unhandled: r.unhandled != 0,
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
    /// Occurrences inside the range and filters.
    pub occurrences_in_range: i64,
    /// Distinct users (user id, else anonymous id) it reached inside the range.
    pub affected_users: i64,
    /// Inside the range, newest first, at most 20.
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
        let rows = events::list(&state, &filter).await?;
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
        let row = events::get(&state, &who.project_id, &id.0).await?;
        Ok(Json(row.into()))
    }

    /// Error groups with occurrences in the range, with their occurrences and affected
    /// users in it; by last seen (default), lifetime or in-range occurrences, or newest.
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
        /// Case-insensitive text the message or error type contains.
        query: Query<Option<String>>,
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
        let range = Range::new(from, to, range, app, environment, release).params();
        let window = read::window(&range, state.clock.now_ms())?;
        let scope = read::scope_in(&who.project_id, &window, &range)?;
        let filter = GroupListFilter {
            status: status.0.map(|s| s.as_str().to_string()),
            query: read::label("query", query.0.as_deref())?,
            order: sort.0.unwrap_or(ErrorSortParam::LastSeen).order(),
            offset: read::parse_offset(cursor.0.as_deref())?,
            limit: read::limit(limit.0)?,
        };
        let page = errors::list(&state, &scope, &window, &filter).await?;
        let next_cursor = read::next_offset(&filter, page.items.len(), page.total);
        Ok(Json(ErrorGroupPage {
            items: page.items.into_iter().map(ErrorGroupItem::from).collect(),
            total: page.total,
            next_cursor,
        }))
    }

    /// One error group with its numbers in the range (default: the last 30 days) and
    /// its most recent occurrences there, with their stacks.
    #[oai(path = "/api/errors/:id", method = "get")]
    async fn error(
        &self,
        state: Data<&SharedState>,
        auth: ApiAuth,
        req: &Request,
        #[oai(name = "X-Project-Id")] project_header: Header<Option<String>>,
        project_id: Query<Option<String>>,
        id: Path<String>,
        from: Query<Option<String>>,
        to: Query<Option<String>>,
        range: Query<Option<String>>,
        app: Query<Option<String>>,
        environment: Query<Option<String>>,
        release: Query<Option<String>>,
    ) -> ApiResult<Json<ErrorGroupDetail>> {
        let who = reader(&state, &auth, req, &project_header, &project_id).await?;
        let range = Range::new(from, to, range, app, environment, release).params();
        let window = read::window(&range, state.clock.now_ms())?;
        let scope = read::scope_in(&who.project_id, &window, &range)?;
        let d = errors::detail(&state, &scope, &window, &id.0, None).await?;
        Ok(Json(ErrorGroupDetail {
            group: d.group.into(),
            occurrences_in_range: d.in_range,
            affected_users: d.users,
            recent_occurrences: d
                .occurrences
                .into_iter()
                .map(ErrorOccurrence::from)
                .collect(),
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
        let group = errors::set_status(&state, &who, &id.0, body.status.as_str()).await?;
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
