use super::filters::{push_cursor, push_scope, Cursor, Scope};
use super::{on_db, Db, StoreResult};
use sqlx::QueryBuilder;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ErrorGroupRow {
    pub id: String,
    pub project_id: String,
    pub app: String,
    pub error_type: Option<String>,
    pub message: String,
    pub top_frame: Option<String>,
    pub status: String,
    pub first_seen: i64,
    pub last_seen: i64,
    pub occurrences: i64,
    pub last_environment: Option<String>,
    pub last_release: Option<String>,
    pub last_platform: Option<String>,
    pub resolved_at: Option<i64>,
    pub regressed_at: Option<i64>,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ErrorOccurrenceRow {
    pub id: String,
    pub group_id: String,
    pub app: String,
    pub message: String,
    pub stack: Option<String>,
    pub context: Option<String>,
    pub platform: Option<String>,
    pub environment: Option<String>,
    pub release: Option<String>,
    pub session_id: Option<String>,
    pub user_id: Option<String>,
    pub anonymous_id: Option<String>,
    pub sdk_version: Option<String>,
    pub timestamp: i64,
    pub device_browser: Option<String>,
    pub device_os: Option<String>,
    pub unhandled: i64,
}

pub(crate) const GROUP_COLUMNS: &str = "g.id, g.project_id, g.app, g.error_type, g.message, g.top_frame, g.status, g.first_seen, \
     g.last_seen, g.occurrences, g.last_environment, g.last_release, g.last_platform, g.resolved_at, g.regressed_at";
const OCCURRENCE_COLUMNS: &str =
    "o.id, o.group_id, o.app, o.message, o.stack, o.context, o.platform, o.environment, \
     o.release, o.session_id, o.user_id, o.anonymous_id, o.sdk_version, o.timestamp, \
     o.device_browser, o.device_os, o.unhandled";

impl Db {
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn error_group(
        &self,
        project_id: &str,
        id: &str,
    ) -> StoreResult<Option<ErrorGroupRow>> {
        let sql = format!(
            "SELECT {GROUP_COLUMNS} FROM error_groups g WHERE g.project_id = $1 AND g.id = $2"
        );
        on_db!(self, |pool| Ok(sqlx::query_as(&sql)
            .bind(project_id)
            .bind(id)
            .fetch_optional(pool)
            .await?))
    }

    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn occurrences_of_session(
        &self,
        project_id: &str,
        session_id: &str,
        limit: i64,
    ) -> StoreResult<Vec<ErrorOccurrenceRow>> {
        let sql = format!(
            "SELECT {OCCURRENCE_COLUMNS} FROM error_occurrences o WHERE o.project_id = $1 AND o.session_id = $2
             ORDER BY o.timestamp, o.id LIMIT $3"
        );
        on_db!(self, |pool| Ok(sqlx::query_as(&sql)
            .bind(project_id)
            .bind(session_id)
            .bind(limit)
            .fetch_all(pool)
            .await?))
    }

    /// A group's newest occurrences in scope, continuing before `before`.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn occurrences_in_scope(
        &self,
        scope: &Scope,
        group_id: &str,
        before: Option<&Cursor>,
        limit: i64,
    ) -> StoreResult<Vec<ErrorOccurrenceRow>> {
        on_db!(self, |pool| {
            let mut qb = QueryBuilder::new(format!(
                "SELECT {OCCURRENCE_COLUMNS} FROM error_occurrences o WHERE o.group_id = "
            ));
            qb.push_bind(group_id.to_string()).push(" AND");
            push_scope(&mut qb, scope, "o", "timestamp");
            push_cursor(&mut qb, before, "o", "timestamp");
            qb.push(" ORDER BY o.timestamp DESC, o.id DESC LIMIT ")
                .push_bind(limit);
            Ok(qb.build_query_as().fetch_all(pool).await?)
        })
    }

    /// Sets a group's status; `resolved_at` follows it. False when no such group.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn set_error_status(
        &self,
        project_id: &str,
        id: &str,
        status: &str,
        now: i64,
    ) -> StoreResult<bool> {
        on_db!(self, |pool| {
            let done = sqlx::query(
                "UPDATE error_groups SET status = $3,
                   resolved_at = CASE WHEN $3 = 'resolved' THEN $4 ELSE NULL END
                 WHERE project_id = $1 AND id = $2",
            )
            .bind(project_id)
            .bind(id)
            .bind(status)
            .bind(now)
            .execute(pool)
            .await?;
            Ok(done.rows_affected() == 1)
        })
    }
}
