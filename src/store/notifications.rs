//! The bell: notifications per user.

use super::{on_db, Db, StoreResult};
use sqlx::QueryBuilder;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct NotificationRow {
    pub id: String,
    pub user_id: String,
    pub project_id: String,
    pub kind: String,
    pub title: String,
    pub body: Option<String>,
    pub target: Option<String>,
    pub created_at: i64,
    pub read_at: Option<i64>,
}

const COLUMNS: &str =
    "n.id, n.user_id, n.project_id, n.kind, n.title, n.body, n.target, n.created_at, n.read_at";

/// Only notifications of projects the user can still see: membership is checked on
/// every read, so leaving an organization also hides its notifications.
const VISIBLE: &str = "FROM notifications n
     JOIN projects p ON p.id = n.project_id AND p.deleted_at IS NULL
     JOIN organizations o ON o.id = p.org_id AND o.deleted_at IS NULL
     JOIN memberships m ON m.org_id = p.org_id AND m.user_id = n.user_id
     WHERE n.user_id = ";

impl Db {
    /// A user's newest notifications, unread ones only when asked.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn notifications_of(
        &self,
        user_id: &str,
        unread_only: bool,
        limit: i64,
    ) -> StoreResult<Vec<NotificationRow>> {
        on_db!(self, |pool| {
            let mut qb = QueryBuilder::new(format!("SELECT {COLUMNS} {VISIBLE}"));
            qb.push_bind(user_id.to_string());
            if unread_only {
                qb.push(" AND n.read_at IS NULL");
            }
            qb.push(" ORDER BY n.created_at DESC, n.id DESC LIMIT ")
                .push_bind(limit);
            Ok(qb.build_query_as().fetch_all(pool).await?)
        })
    }

    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn unread_notifications(&self, user_id: &str) -> StoreResult<i64> {
        on_db!(self, |pool| {
            let mut qb = QueryBuilder::new(format!("SELECT COUNT(*) {VISIBLE}"));
            qb.push_bind(user_id.to_string())
                .push(" AND n.read_at IS NULL");
            Ok(qb.build_query_scalar().fetch_one(pool).await?)
        })
    }

    /// Marks one of the user's notifications read and returns it (`None`: not theirs).
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn mark_notification_read(
        &self,
        user_id: &str,
        id: &str,
        now: i64,
    ) -> StoreResult<Option<NotificationRow>> {
        on_db!(self, |pool| {
            let mut qb = QueryBuilder::new(format!("SELECT {COLUMNS} {VISIBLE}"));
            qb.push_bind(user_id.to_string())
                .push(" AND n.id = ")
                .push_bind(id.to_string());
            let found: Option<NotificationRow> = qb.build_query_as().fetch_optional(pool).await?;
            if found.is_some() {
                sqlx::query("UPDATE notifications SET read_at = $3 WHERE user_id = $1 AND id = $2 AND read_at IS NULL")
                    .bind(user_id)
                    .bind(id)
                    .bind(now)
                    .execute(pool)
                    .await?;
            }
            Ok(found)
        })
    }

    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn mark_all_notifications_read(&self, user_id: &str, now: i64) -> StoreResult<u64> {
        on_db!(self, |pool| Ok(sqlx::query(
            "UPDATE notifications SET read_at = $2 WHERE user_id = $1 AND read_at IS NULL",
        )
        .bind(user_id)
        .bind(now)
        .execute(pool)
        .await?
        .rows_affected()))
    }
}
