//! `/api/errors`: a project's error groups, one group with its recent occurrences,
//! and its status.

use super::events::Event;
use super::json::ApiJson;
use super::problem::ApiResult;
use super::security::ApiAuth;
use super::telemetry::{json_text, reader, Range};
use super::ApiTags;
use crate::domain::timeutil::format_rfc3339_ms;
use crate::service::errors::{self, GroupItem};
use crate::service::read;
use crate::service::sourcemaps::{MappedFrame, Occurrence};
use crate::state::SharedState;
use crate::store::{ErrorGroupRow, GroupListFilter, GroupOrder};
use poem::web::Data;
use poem::Request;
use poem_openapi::param::{Header, Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{Enum, Object, OpenApi};

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

/// Where a frame came from in the code the developer wrote (its source map).
#[derive(Debug, Object)]
pub struct OriginalLocation {
    pub function: Option<String>,
    /// The source's path as the map names it.
    pub filename: String,
    pub lineno: u32,
    pub colno: u32,
    /// Up to 5 lines before `context_line` (empty without `sourcesContent`).
    pub pre_context: Vec<String>,
    pub context_line: Option<String>,
    /// Up to 5 lines after `context_line`.
    pub post_context: Vec<String>,
}

/// The lines around a frame as the SDK sent them (the Sentry SDKs read them from
/// the code that ran).
#[derive(Debug, Object)]
pub struct SentSource {
    pub pre_context: Vec<String>,
    pub context_line: String,
    pub post_context: Vec<String>,
}

/// One frame, most recent call first: as reported, and mapped when a source map
/// of the release covers it.
#[derive(Debug, Object)]
pub struct StackFrame {
    pub function: Option<String>,
    /// The file (URL or path) as reported, without line and column.
    pub filename: String,
    pub lineno: Option<u32>,
    pub colno: Option<u32>,
    pub in_app: bool,
    /// Whether `original` is known.
    pub mapped: bool,
    pub original: Option<OriginalLocation>,
    /// Why the frame is not mapped; on a mapped frame, why its source context is
    /// missing (the map has no `sourcesContent`).
    pub not_mapped_reason: Option<String>,
    /// Source lines the SDK sent with the frame, if it did.
    pub sdk_source: Option<SentSource>,
}

impl From<MappedFrame> for StackFrame {
    fn from(f: MappedFrame) -> Self {
        let in_app = f.in_app();
        StackFrame {
            function: f.raw.function,
            filename: f.raw.file,
            lineno: f.raw.line,
            colno: f.raw.column,
            in_app,
            mapped: f.original.is_some(),
            original: f.original.map(|o| OriginalLocation {
                function: o.function,
                filename: o.filename,
                lineno: o.lineno,
                colno: o.colno,
                pre_context: o.pre_context,
                context_line: o.context_line,
                post_context: o.post_context,
            }),
            not_mapped_reason: f.reason,
            sdk_source: f.sent.map(|s| SentSource {
                pre_context: s.pre_context,
                context_line: s.context_line,
                post_context: s.post_context,
            }),
        }
    }
}

#[derive(Debug, Object)]
pub struct ErrorOccurrence {
    pub id: String,
    pub message: String,
    pub stack: Option<String>,
    /// The stack parsed into frames, most recent call first, mapped through the
    /// release's source maps where they exist.
    pub frames: Vec<StackFrame>,
    pub context: Option<serde_json::Value>,
    /// Reported by a global handler (`context.source` `window.onerror`,
    /// `unhandledrejection`, `unhandledRejection` or `uncaughtException`), or sent by a
    /// Sentry SDK with `mechanism.handled: false`: nobody caught it.
    pub unhandled: bool,
    pub platform: Option<String>,
    pub environment: Option<String>,
    pub release: Option<String>,
    pub session_id: Option<String>,
    pub user_id: Option<String>,
    pub anonymous_id: Option<String>,
    pub sdk_version: Option<String>,
    /// Browser and operating system, as the SDK reported them or as read from the
    /// request's `User-Agent`.
    pub device_browser: Option<String>,
    pub device_os: Option<String>,
    pub timestamp: String,
}

impl From<Occurrence> for ErrorOccurrence {
    fn from(o: Occurrence) -> Self {
        let r = o.row;
        ErrorOccurrence {
            id: r.id,
            message: r.message,
            stack: r.stack,
            frames: o.frames.into_iter().map(StackFrame::from).collect(),
            context: json_text(r.context),
            unhandled: r.unhandled != 0,
            platform: r.platform,
            environment: r.environment,
            release: r.release,
            session_id: r.session_id,
            user_id: r.user_id,
            anonymous_id: r.anonymous_id,
            sdk_version: r.sdk_version,
            device_browser: r.device_browser,
            device_os: r.device_os,
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
    /// `$feedback` events (user feedback sent through a Sentry SDK) about those
    /// occurrences, newest first: `properties` has `message`, `name`, `email`, `url`
    /// and the `event_id` of the occurrence.
    pub feedback: Vec<Event>,
}

#[derive(Debug, Object)]
pub struct ErrorStatusChange {
    pub status: ErrorStatus,
}

pub struct ErrorsApi;

#[OpenApi(tag = "ApiTags::Telemetry")]
#[allow(clippy::too_many_arguments)]
impl ErrorsApi {
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
            feedback: d.feedback.into_iter().map(Event::from).collect(),
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
}
