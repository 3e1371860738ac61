use super::filters::{push_cursor, push_list, push_scope, Cursor, Scope};
use super::{on_db, Db, StoreResult};
use sqlx::QueryBuilder;
use std::collections::HashMap;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SessionRow {
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
    pub started_at: i64,
    pub ended_at: Option<i64>,
    pub last_activity_at: i64,
    pub has_error: i64,
    pub has_crash: i64,
}

#[derive(Debug, Clone, Default)]
pub struct SessionFilter {
    pub scope: Scope,
    pub cursor: Option<Cursor>,
    pub limit: i64,
}

const COLUMNS: &str = "s.id, s.session_id, s.app, s.platform, s.environment, s.release, s.user_id, s.user_email, \
     s.anonymous_id, s.country, s.device_browser, s.device_os, s.sdk_version, s.started_at, s.ended_at, s.last_activity_at, s.has_error, s.has_crash";

impl Db {
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn list_sessions(&self, f: &SessionFilter) -> StoreResult<Vec<SessionRow>> {
        on_db!(self, |pool| {
            let mut qb = QueryBuilder::new(format!("SELECT {COLUMNS} FROM sessions s WHERE"));
            push_scope(&mut qb, &f.scope, "s", "started_at");
            push_cursor(&mut qb, f.cursor.as_ref(), "s", "started_at");
            qb.push(" ORDER BY s.started_at DESC, s.id DESC LIMIT ")
                .push_bind(f.limit);
            Ok(qb.build_query_as().fetch_all(pool).await?)
        })
    }

    /// A session by its row id or by the client's `session_id` (two indexed lookups:
    /// an `OR` of both would scan the table).
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn session_by_ref(
        &self,
        project_id: &str,
        reference: &str,
    ) -> StoreResult<Option<SessionRow>> {
        for col in ["id", "session_id"] {
            let sql = format!(
                "SELECT {COLUMNS} FROM sessions s WHERE s.project_id = $1 AND s.{col} = $2"
            );
            let found: Option<SessionRow> = on_db!(self, |pool| sqlx::query_as(&sql)
                .bind(project_id)
                .bind(reference)
                .fetch_optional(pool)
                .await?);
            if found.is_some() {
                return Ok(found);
            }
        }
        Ok(None)
    }

    /// Closes sessions idle since before `cutoff` at their last activity (the latest of
    /// their own activity and their events). Returns how many were closed.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn close_idle_sessions(&self, cutoff: i64, limit: i64) -> StoreResult<u64> {
        on_db!(self, |pool| {
            let done = sqlx::query(
                "UPDATE sessions SET ended_at = COALESCE(
                   (SELECT CASE WHEN MAX(e.timestamp) > sessions.last_activity_at THEN MAX(e.timestamp)
                           ELSE sessions.last_activity_at END
                    FROM events e WHERE e.project_id = sessions.project_id AND e.session_id = sessions.session_id),
                   sessions.last_activity_at)
                 WHERE id IN (SELECT s.id FROM sessions s WHERE s.ended_at IS NULL AND s.last_activity_at < $1
                   AND NOT EXISTS (SELECT 1 FROM events e WHERE e.project_id = s.project_id
                                   AND e.session_id = s.session_id AND e.timestamp >= $1)
                   LIMIT $2)",
            )
            .bind(cutoff)
            .bind(limit)
            .execute(pool)
            .await?;
            Ok(done.rows_affected())
        })
    }
}

/// What a session's events and errors add to it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SessionActivity {
    pub events: i64,
    pub errors: i64,
    /// The newest event or error, if any.
    pub last_at: Option<i64>,
}

impl Db {
    /// The activity of each of the given sessions.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn session_activity(
        &self,
        project_id: &str,
        session_ids: &[String],
    ) -> StoreResult<HashMap<String, SessionActivity>> {
        let mut out: HashMap<String, SessionActivity> = HashMap::new();
        if session_ids.is_empty() {
            return Ok(out);
        }
        for (table, errors) in [("events", false), ("error_occurrences", true)] {
            let rows: Vec<(String, i64, i64)> = on_db!(self, |pool| {
                let mut qb = QueryBuilder::new(format!(
                    "SELECT t.session_id, COUNT(*), MAX(t.timestamp) FROM {table} t WHERE t.project_id = "
                ));
                qb.push_bind(project_id.to_string())
                    .push(" AND t.session_id IN ");
                push_list(&mut qb, session_ids.iter().cloned());
                qb.push(" GROUP BY t.session_id");
                qb.build_query_as().fetch_all(pool).await?
            });
            for (id, n, last) in rows {
                let entry = out.entry(id).or_default();
                if errors {
                    entry.errors = n;
                } else {
                    entry.events = n;
                }
                entry.last_at = entry.last_at.max(Some(last));
            }
        }
        Ok(out)
    }

    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn session_exists(&self, project_id: &str, session_id: &str) -> StoreResult<bool> {
        on_db!(self, |pool| {
            let found: Option<i64> = sqlx::query_scalar(
                "SELECT CAST(1 AS BIGINT) FROM sessions WHERE project_id = $1 AND session_id = $2",
            )
            .bind(project_id)
            .bind(session_id)
            .fetch_optional(pool)
            .await?;
            Ok(found.is_some())
        })
    }
}
