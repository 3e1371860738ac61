use super::filters::{in_json_list, json_list, push_cursor, push_scope, Cursor, Scope};
use super::{on_db, Db, StoreResult};
use sqlx::QueryBuilder;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct EventRow {
    pub id: String,
    pub project_id: String,
    pub app: String,
    pub name: String,
    pub platform: Option<String>,
    pub environment: Option<String>,
    pub release: Option<String>,
    pub user_id: Option<String>,
    pub session_id: Option<String>,
    pub anonymous_id: Option<String>,
    pub sdk_version: Option<String>,
    pub properties: Option<String>,
    pub timestamp: i64,
    pub received_at: i64,
}

#[derive(Debug, Clone, Default)]
pub struct EventFilter {
    pub scope: Scope,
    pub name: Option<String>,
    pub cursor: Option<Cursor>,
    pub limit: i64,
}

const COLUMNS: &str =
    "e.id, e.project_id, e.app, e.name, e.platform, e.environment, e.release, e.user_id, \
     e.session_id, e.anonymous_id, e.sdk_version, e.properties, e.timestamp, e.received_at";

impl Db {
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn list_events(&self, f: &EventFilter) -> StoreResult<Vec<EventRow>> {
        on_db!(self, |pool| {
            let mut qb = QueryBuilder::new(format!("SELECT {COLUMNS} FROM events e WHERE"));
            push_scope(&mut qb, &f.scope, "e", "timestamp");
            if let Some(name) = &f.name {
                qb.push(" AND e.name = ").push_bind(name.clone());
            }
            push_cursor(&mut qb, f.cursor.as_ref(), "e", "timestamp");
            qb.push(" ORDER BY e.timestamp DESC, e.id DESC LIMIT ")
                .push_bind(f.limit);
            Ok(qb.build_query_as().fetch_all(pool).await?)
        })
    }

    /// `$feedback` events (Sentry user feedback) about any of `event_ids` (the SDKs'
    /// ids of error occurrences), sent at or after `since`, newest first.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn feedback_about(
        &self,
        project_id: &str,
        event_ids: &[&str],
        since: i64,
        limit: i64,
    ) -> StoreResult<Vec<EventRow>> {
        if event_ids.is_empty() {
            return Ok(Vec::new());
        }
        let postgres = matches!(self, Db::Postgres(_));
        let about = if postgres {
            "(e.properties::json ->> 'event_id')"
        } else {
            "json_extract(e.properties, '$.event_id')"
        };
        let sql = format!(
            "SELECT {COLUMNS} FROM events e WHERE e.project_id = $1 AND e.name = '$feedback' \
             AND e.timestamp >= $2 AND {} ORDER BY e.timestamp DESC, e.id DESC LIMIT $4",
            in_json_list(about, 3, postgres)
        );
        on_db!(self, |pool| Ok(sqlx::query_as(&sql)
            .bind(project_id)
            .bind(since)
            .bind(json_list(event_ids.iter().copied()))
            .bind(limit)
            .fetch_all(pool)
            .await?))
    }

    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn event_by_id(&self, project_id: &str, id: &str) -> StoreResult<Option<EventRow>> {
        let sql = format!("SELECT {COLUMNS} FROM events e WHERE e.project_id = $1 AND e.id = $2");
        on_db!(self, |pool| Ok(sqlx::query_as(&sql)
            .bind(project_id)
            .bind(id)
            .fetch_optional(pool)
            .await?))
    }

    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn events_of_session(
        &self,
        project_id: &str,
        session_id: &str,
        limit: i64,
    ) -> StoreResult<Vec<EventRow>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM events e WHERE e.project_id = $1 AND e.session_id = $2
             ORDER BY e.timestamp, e.id LIMIT $3"
        );
        on_db!(self, |pool| Ok(sqlx::query_as(&sql)
            .bind(project_id)
            .bind(session_id)
            .bind(limit)
            .fetch_all(pool)
            .await?))
    }
}
