//! `/api/events`: a project's events, newest first, and one event.

use super::problem::ApiResult;
use super::security::ApiAuth;
use super::telemetry::{json_text, reader, Range};
use super::ApiTags;
use crate::domain::timeutil::format_rfc3339_ms;
use crate::service::events;
use crate::service::read;
use crate::state::SharedState;
use crate::store::{EventFilter, EventRow};
use poem::web::Data;
use poem::Request;
use poem_openapi::param::{Header, Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};

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

pub struct EventsApi;

#[OpenApi(tag = "ApiTags::Telemetry")]
#[allow(clippy::too_many_arguments)]
impl EventsApi {
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
        let range = Range::new(from, to, range, app, environment, release).params();
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
}
