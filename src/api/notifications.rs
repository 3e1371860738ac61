//! `/api/notifications`: the signed-in user's bell.

use super::context::caller;
use super::json::ApiJson;
use super::problem::ApiResult;
use super::security::ApiAuth;
use super::ApiTags;
use crate::domain::timeutil::format_rfc3339_ms;
use crate::service::notifications;
use crate::state::SharedState;
use crate::store::NotificationRow;
use poem::web::Data;
use poem::Request;
use poem_openapi::param::Query;
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};

#[derive(Debug, Object)]
pub struct Notification {
    pub id: String,
    pub project_id: String,
    /// new_issue or regression.
    pub kind: String,
    pub title: String,
    pub body: Option<String>,
    /// Dashboard path it points to.
    pub target: Option<String>,
    pub created_at: String,
    pub read: bool,
}

impl From<NotificationRow> for Notification {
    fn from(n: NotificationRow) -> Self {
        Notification {
            id: n.id,
            project_id: n.project_id,
            kind: n.kind,
            title: n.title,
            body: n.body,
            target: n.target,
            created_at: format_rfc3339_ms(n.created_at),
            read: n.read_at.is_some(),
        }
    }
}

#[derive(Debug, Object)]
pub struct Notifications {
    pub unread: i64,
    /// Newest first, at most 100.
    pub items: Vec<Notification>,
}

#[derive(Debug, Object)]
pub struct MarkRead {
    /// Notifications to mark read.
    #[oai(default, validator(max_items = 500))]
    pub ids: Vec<String>,
    /// Mark every notification read.
    #[oai(default)]
    pub all: bool,
}

#[derive(Debug, Object)]
pub struct Marked {
    pub marked: u64,
}

pub struct NotificationsApi;

/// The signed-in user's notifications (the dashboard's bell).
#[OpenApi(tag = "ApiTags::Accounts")]
impl NotificationsApi {
    /// Newest notifications first, with the number unread.
    #[oai(path = "/api/notifications", method = "get")]
    async fn list(
        &self,
        state: Data<&SharedState>,
        auth: ApiAuth,
        req: &Request,
        /// Only unread ones.
        #[oai(default)]
        unread: Query<bool>,
    ) -> ApiResult<Json<Notifications>> {
        let (who, _) = caller(&state, &auth, req).await?;
        let (count, _) = notifications::bell(&state, &who).await?;
        let items = notifications::list(&state, &who, unread.0).await?;
        Ok(Json(Notifications {
            unread: count,
            items: items.into_iter().map(Notification::from).collect(),
        }))
    }

    /// Marks the given notifications, or all of them, read.
    #[oai(path = "/api/notifications/read", method = "post")]
    async fn mark_read(
        &self,
        state: Data<&SharedState>,
        auth: ApiAuth,
        req: &Request,
        body: ApiJson<MarkRead>,
    ) -> ApiResult<Json<Marked>> {
        let (who, _) = caller(&state, &auth, req).await?;
        let body = body.parse()?;
        let marked = if body.all {
            notifications::mark_all_read(&state, &who).await?
        } else {
            notifications::mark_read(&state, &who, &body.ids).await?
        };
        Ok(Json(Marked { marked }))
    }
}
