//! Reads of the roll-ups: every count, series and breakdown the dashboard and the
//! read API show. Each query sums pre-aggregated rows of one granularity, so its
//! cost follows the number of buckets in the range, not the number of events.

use super::errors::{ErrorGroupRow, GROUP_COLUMNS};
use super::filters::{push_labels, push_list, push_rollup_scope, Scope};
use super::{on_db, Db, StoreResult};
use crate::domain::sessions::SessionTally;
use sqlx::QueryBuilder;

/// A label or bucket with its count.
pub type Counted<T> = (T, i64);

/// What the error-group list is ordered by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum GroupOrder {
    /// Occurrences inside the range.
    #[default]
    Count,
    LastSeen,
    FirstSeen,
    /// Occurrences over the group's lifetime.
    Total,
}

#[derive(Debug, Clone, Default)]
pub struct GroupListFilter {
    pub status: Option<String>,
    /// Case-insensitive substring of the message or error type.
    pub query: Option<String>,
    pub order: GroupOrder,
    pub offset: i64,
    pub limit: i64,
}

/// A group with its occurrences inside the range and the number of groups listed.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct GroupInRange {
    #[sqlx(flatten)]
    pub group: ErrorGroupRow,
    pub in_range: i64,
    pub total_groups: i64,
}

/// A breakdown of a group's occurrences.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupDimension {
    Release,
    Environment,
    App,
    Browser,
    Os,
}

fn table(base: &str, scope: &Scope) -> String {
    format!("{base}_{}", scope.granularity.table_suffix())
}

/// `LIKE` pattern matching `text` anywhere, with its wildcards escaped.
fn contains_pattern(text: &str) -> String {
    let escaped = text
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    format!("%{escaped}%")
}

impl Db {
    /// Events in scope, optionally of one name.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn rollup_event_total(&self, s: &Scope, name: Option<&str>) -> StoreResult<i64> {
        on_db!(self, |pool| {
            let mut qb = QueryBuilder::new(format!(
                "SELECT CAST(COALESCE(SUM(r.count), 0) AS BIGINT) FROM {} r WHERE r.project_id = ",
                table("rollup_events", s)
            ));
            qb.push_bind(s.project_id.clone()).push(" AND");
            push_rollup_scope(&mut qb, s, "r");
            if let Some(name) = name {
                qb.push(" AND r.name = ").push_bind(name.to_string());
            }
            Ok(qb.build_query_scalar().fetch_one(pool).await?)
        })
    }

    /// Events per roll-up bucket, optionally of one name.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn rollup_event_series(
        &self,
        s: &Scope,
        name: Option<&str>,
    ) -> StoreResult<Vec<Counted<i64>>> {
        on_db!(self, |pool| {
            let mut qb = QueryBuilder::new(format!(
                "SELECT r.bucket, CAST(SUM(r.count) AS BIGINT) FROM {} r WHERE r.project_id = ",
                table("rollup_events", s)
            ));
            qb.push_bind(s.project_id.clone()).push(" AND");
            push_rollup_scope(&mut qb, s, "r");
            if let Some(name) = name {
                qb.push(" AND r.name = ").push_bind(name.to_string());
            }
            qb.push(" GROUP BY r.bucket ORDER BY r.bucket");
            Ok(qb.build_query_as().fetch_all(pool).await?)
        })
    }

    /// Event names in scope with their counts, most frequent first.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn rollup_event_names(&self, s: &Scope) -> StoreResult<Vec<Counted<String>>> {
        self.rollup_event_column(s, "name").await
    }

    /// Releases in scope with their event counts.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn rollup_release_events(&self, s: &Scope) -> StoreResult<Vec<Counted<String>>> {
        self.rollup_event_column(s, "release").await
    }

    async fn rollup_event_column(&self, s: &Scope, col: &str) -> StoreResult<Vec<Counted<String>>> {
        on_db!(self, |pool| {
            let mut qb = QueryBuilder::new(format!(
                "SELECT r.{col}, CAST(SUM(r.count) AS BIGINT) AS n FROM {} r WHERE r.project_id = ",
                table("rollup_events", s)
            ));
            qb.push_bind(s.project_id.clone()).push(" AND");
            push_rollup_scope(&mut qb, s, "r");
            qb.push(format!(" GROUP BY r.{col} ORDER BY n DESC, r.{col}"));
            Ok(qb.build_query_as().fetch_all(pool).await?)
        })
    }

    /// (bucket, name, count) for the given names.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn rollup_event_name_series(
        &self,
        s: &Scope,
        names: &[String],
    ) -> StoreResult<Vec<(i64, String, i64)>> {
        if names.is_empty() {
            return Ok(Vec::new());
        }
        on_db!(self, |pool| {
            let mut qb = QueryBuilder::new(format!(
                "SELECT r.bucket, r.name, CAST(SUM(r.count) AS BIGINT) FROM {} r WHERE r.project_id = ",
                table("rollup_events", s)
            ));
            qb.push_bind(s.project_id.clone()).push(" AND");
            push_rollup_scope(&mut qb, s, "r");
            qb.push(" AND r.name IN ");
            push_list(&mut qb, names.iter().cloned());
            qb.push(" GROUP BY r.bucket, r.name ORDER BY r.bucket");
            Ok(qb.build_query_as().fetch_all(pool).await?)
        })
    }

    /// Property names ever seen on events called `name`.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn event_property_keys(
        &self,
        project_id: &str,
        name: &str,
    ) -> StoreResult<Vec<String>> {
        on_db!(self, |pool| {
            Ok(sqlx::query_scalar(
            "SELECT prop FROM event_property_keys WHERE project_id = $1 AND name = $2 ORDER BY prop LIMIT 200",
        )
        .bind(project_id)
        .bind(name)
        .fetch_all(pool)
        .await?)
        })
    }

    /// Values of property `prop` on events called `name`, most frequent first.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn rollup_property_values(
        &self,
        s: &Scope,
        name: &str,
        prop: &str,
        limit: i64,
    ) -> StoreResult<Vec<Counted<String>>> {
        on_db!(self, |pool| {
            let mut qb = QueryBuilder::new(format!(
                "SELECT r.value, CAST(SUM(r.count) AS BIGINT) AS n FROM {} r WHERE r.project_id = ",
                table("rollup_props", s)
            ));
            qb.push_bind(s.project_id.clone())
                .push(" AND r.name = ")
                .push_bind(name.to_string())
                .push(" AND r.prop = ")
                .push_bind(prop.to_string())
                .push(" AND");
            push_rollup_scope(&mut qb, s, "r");
            qb.push(" GROUP BY r.value ORDER BY n DESC, r.value LIMIT ")
                .push_bind(limit);
            Ok(qb.build_query_as().fetch_all(pool).await?)
        })
    }

    /// Joins the project's error groups that can have occurrences in scope to the
    /// error roll-up `base` aliased `r`, and opens the WHERE clause.
    fn push_group_join<'a, DB>(qb: &mut QueryBuilder<'a, DB>, s: &Scope, base: &str)
    where
        DB: sqlx::Database,
        String: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
        i64: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
    {
        qb.push(format!(
            " FROM error_groups g JOIN {} r ON r.group_id = g.id WHERE g.project_id = ",
            table(base, s)
        ))
        .push_bind(s.project_id.clone())
        .push(" AND g.last_seen >= ")
        .push_bind(s.from)
        .push(" AND");
        push_rollup_scope(qb, s, "r");
    }

    /// Error occurrences in scope, optionally of one group.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn rollup_error_total(&self, s: &Scope, group_id: Option<&str>) -> StoreResult<i64> {
        on_db!(self, |pool| {
            let mut qb = QueryBuilder::new("SELECT CAST(COALESCE(SUM(r.count), 0) AS BIGINT)");
            Self::push_group_join(&mut qb, s, "rollup_errors");
            if let Some(g) = group_id {
                qb.push(" AND g.id = ").push_bind(g.to_string());
            }
            Ok(qb.build_query_scalar().fetch_one(pool).await?)
        })
    }

    /// Error occurrences per roll-up bucket.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn rollup_error_series(&self, s: &Scope) -> StoreResult<Vec<Counted<i64>>> {
        on_db!(self, |pool| {
            let mut qb = QueryBuilder::new("SELECT r.bucket, CAST(SUM(r.count) AS BIGINT)");
            Self::push_group_join(&mut qb, s, "rollup_errors");
            qb.push(" GROUP BY r.bucket ORDER BY r.bucket");
            Ok(qb.build_query_as().fetch_all(pool).await?)
        })
    }

    /// Distinct users (user id, else anonymous id) who hit an error in scope.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn rollup_affected_users(
        &self,
        s: &Scope,
        group_id: Option<&str>,
    ) -> StoreResult<i64> {
        on_db!(self, |pool| {
            let mut qb = QueryBuilder::new("SELECT COUNT(DISTINCT r.identity)");
            Self::push_group_join(&mut qb, s, "rollup_error_users");
            if let Some(g) = group_id {
                qb.push(" AND g.id = ").push_bind(g.to_string());
            }
            Ok(qb.build_query_scalar().fetch_one(pool).await?)
        })
    }

    /// Releases in scope with their error occurrences.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn rollup_release_errors(&self, s: &Scope) -> StoreResult<Vec<Counted<String>>> {
        on_db!(self, |pool| {
            let mut qb = QueryBuilder::new("SELECT r.release, CAST(SUM(r.count) AS BIGINT) AS n");
            Self::push_group_join(&mut qb, s, "rollup_errors");
            qb.push(" GROUP BY r.release ORDER BY n DESC");
            Ok(qb.build_query_as().fetch_all(pool).await?)
        })
    }

    /// Error groups with occurrences in scope, with those counts, one page of them.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn rollup_error_groups(
        &self,
        s: &Scope,
        f: &GroupListFilter,
    ) -> StoreResult<Vec<GroupInRange>> {
        let order = match f.order {
            GroupOrder::Count => "c.n DESC, g.last_seen DESC",
            GroupOrder::LastSeen => "g.last_seen DESC",
            GroupOrder::FirstSeen => "g.first_seen DESC",
            GroupOrder::Total => "g.occurrences DESC",
        };
        on_db!(self, |pool| {
            let mut qb = QueryBuilder::new(format!(
                "SELECT {GROUP_COLUMNS}, c.n AS in_range, COUNT(*) OVER () AS total_groups
                 FROM error_groups g JOIN (SELECT r.group_id, CAST(SUM(r.count) AS BIGINT) AS n"
            ));
            Self::push_group_join(&mut qb, s, "rollup_errors");
            if let Some(status) = &f.status {
                qb.push(" AND g.status = ").push_bind(status.clone());
            }
            if let Some(q) = &f.query {
                let pattern = contains_pattern(q);
                // Case-insensitive: SQLite's LIKE is (for ASCII letters); PostgreSQL's ILIKE
                // is (for every letter).
                let like = if matches!(self, Db::Postgres(_)) {
                    "ILIKE"
                } else {
                    "LIKE"
                };
                qb.push(format!(" AND (g.message {like} "))
                    .push_bind(pattern.clone())
                    .push(format!(
                        " ESCAPE '\\' OR COALESCE(g.error_type, '') {like} "
                    ))
                    .push_bind(pattern)
                    .push(" ESCAPE '\\')");
            }
            qb.push(format!(
                " GROUP BY r.group_id) c ON c.group_id = g.id ORDER BY {order}, g.id DESC LIMIT "
            ))
            .push_bind(f.limit)
            .push(" OFFSET ")
            .push_bind(f.offset);
            Ok(qb.build_query_as().fetch_all(pool).await?)
        })
    }

    /// (group id, bucket, occurrences) for the given groups, for their sparklines.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn rollup_group_series(
        &self,
        s: &Scope,
        group_ids: &[String],
    ) -> StoreResult<Vec<(String, i64, i64)>> {
        if group_ids.is_empty() {
            return Ok(Vec::new());
        }
        on_db!(self, |pool| {
            let mut qb = QueryBuilder::new(format!(
                "SELECT r.group_id, r.bucket, CAST(SUM(r.count) AS BIGINT) FROM {} r WHERE",
                table("rollup_errors", s)
            ));
            push_rollup_scope(&mut qb, s, "r");
            qb.push(" AND r.group_id IN ");
            push_list(&mut qb, group_ids.iter().cloned());
            qb.push(" GROUP BY r.group_id, r.bucket");
            Ok(qb.build_query_as().fetch_all(pool).await?)
        })
    }

    /// (group id, distinct users) in scope for the given groups.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn rollup_group_users(
        &self,
        s: &Scope,
        group_ids: &[String],
    ) -> StoreResult<Vec<Counted<String>>> {
        if group_ids.is_empty() {
            return Ok(Vec::new());
        }
        on_db!(self, |pool| {
            let mut qb = QueryBuilder::new(format!(
                "SELECT r.group_id, COUNT(DISTINCT r.identity) FROM {} r WHERE",
                table("rollup_error_users", s)
            ));
            push_rollup_scope(&mut qb, s, "r");
            qb.push(" AND r.group_id IN ");
            push_list(&mut qb, group_ids.iter().cloned());
            qb.push(" GROUP BY r.group_id");
            Ok(qb.build_query_as().fetch_all(pool).await?)
        })
    }

    /// A group's occurrences in scope split by one dimension, largest first. Browser
    /// and OS come from the occurrences' sessions and ignore the label filters.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn rollup_group_breakdown(
        &self,
        s: &Scope,
        group_id: &str,
        dim: GroupDimension,
    ) -> StoreResult<Vec<Counted<String>>> {
        let (base, col) = match dim {
            GroupDimension::Release => ("rollup_errors", "release"),
            GroupDimension::Environment => ("rollup_errors", "environment"),
            GroupDimension::App => ("rollup_errors", "app"),
            GroupDimension::Browser => ("rollup_error_devices", "browser"),
            GroupDimension::Os => ("rollup_error_devices", "os"),
        };
        on_db!(self, |pool| {
            let mut qb = QueryBuilder::new(format!(
                "SELECT r.{col}, CAST(SUM(r.count) AS BIGINT) AS n FROM {} r WHERE r.group_id = ",
                table(base, s)
            ));
            qb.push_bind(group_id.to_string())
                .push(" AND r.bucket >= ")
                .push_bind(s.from)
                .push(" AND r.bucket < ")
                .push_bind(s.to);
            if base == "rollup_errors" {
                push_labels(&mut qb, s, "r");
            }
            qb.push(format!(" GROUP BY r.{col} ORDER BY n DESC LIMIT 20"));
            Ok(qb.build_query_as().fetch_all(pool).await?)
        })
    }

    /// Sessions started in scope, counted by outcome.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn rollup_session_totals(&self, s: &Scope) -> StoreResult<SessionTally> {
        let rows = self.rollup_sessions_by::<i64>(s, None).await?;
        Ok(rows.into_iter().next().map(|(_, t)| t).unwrap_or_default())
    }

    /// Sessions per roll-up bucket, by outcome.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn rollup_session_series(&self, s: &Scope) -> StoreResult<Vec<(i64, SessionTally)>> {
        self.rollup_sessions_by(s, Some("bucket")).await
    }

    /// Sessions per release in scope, by outcome.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn rollup_release_sessions(
        &self,
        s: &Scope,
    ) -> StoreResult<Vec<(String, SessionTally)>> {
        self.rollup_sessions_by(s, Some("release")).await
    }

    /// Session tallies in scope, per value of `column` or (`None`, with a key of 0)
    /// in all.
    async fn rollup_sessions_by<K>(
        &self,
        s: &Scope,
        column: Option<&str>,
    ) -> StoreResult<Vec<(K, SessionTally)>>
    where
        K: for<'r> sqlx::Decode<'r, sqlx::Sqlite>
            + sqlx::Type<sqlx::Sqlite>
            + for<'r> sqlx::Decode<'r, sqlx::Postgres>
            + sqlx::Type<sqlx::Postgres>
            + Send
            + Unpin,
    {
        let key = column.map_or("CAST(0 AS BIGINT)".to_string(), |c| format!("r.{c}"));
        let rows: Vec<(K, i64, i64, i64)> = on_db!(self, |pool| {
            let mut qb = QueryBuilder::new(format!(
                "SELECT {key}, CAST(COALESCE(SUM(r.sessions), 0) AS BIGINT),
                        CAST(COALESCE(SUM(r.errored), 0) AS BIGINT), CAST(COALESCE(SUM(r.crashed), 0) AS BIGINT)
                 FROM {} r WHERE r.project_id = ",
                table("rollup_sessions", s)
            ));
            qb.push_bind(s.project_id.clone()).push(" AND");
            push_rollup_scope(&mut qb, s, "r");
            if let Some(c) = column {
                qb.push(format!(" GROUP BY r.{c} ORDER BY r.{c}"));
            }
            qb.build_query_as().fetch_all(pool).await?
        });
        Ok(rows
            .into_iter()
            .map(|(k, started, errored, crashed)| {
                (
                    k,
                    SessionTally {
                        started,
                        errored,
                        crashed,
                    },
                )
            })
            .collect())
    }

    /// Web-vital histograms in scope: (metric, rating, bin, count).
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn rollup_vitals(&self, s: &Scope) -> StoreResult<Vec<(String, String, i64, i64)>> {
        on_db!(self, |pool| {
            let mut qb = QueryBuilder::new(format!(
                "SELECT r.metric, r.rating, r.bin, CAST(SUM(r.count) AS BIGINT) FROM {} r WHERE r.project_id = ",
                table("rollup_vitals", s)
            ));
            qb.push_bind(s.project_id.clone()).push(" AND");
            push_rollup_scope(&mut qb, s, "r");
            qb.push(" GROUP BY r.metric, r.rating, r.bin");
            Ok(qb.build_query_as().fetch_all(pool).await?)
        })
    }

    /// Web-vital histograms per roll-up bucket: (bucket, metric, bin, count).
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn rollup_vital_series(
        &self,
        s: &Scope,
    ) -> StoreResult<Vec<(i64, String, i64, i64)>> {
        on_db!(self, |pool| {
            let mut qb = QueryBuilder::new(format!(
                "SELECT r.bucket, r.metric, r.bin, CAST(SUM(r.count) AS BIGINT) FROM {} r WHERE r.project_id = ",
                table("rollup_vitals", s)
            ));
            qb.push_bind(s.project_id.clone()).push(" AND");
            push_rollup_scope(&mut qb, s, "r");
            qb.push(" GROUP BY r.bucket, r.metric, r.bin");
            Ok(qb.build_query_as().fetch_all(pool).await?)
        })
    }

    /// Every value of a label kind (app, environment, release, event) ever seen.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn project_labels(&self, project_id: &str, kind: &str) -> StoreResult<Vec<String>> {
        on_db!(self, |pool| {
            Ok(sqlx::query_scalar(
            "SELECT value FROM project_labels WHERE project_id = $1 AND kind = $2 ORDER BY value LIMIT 500",
        )
        .bind(project_id)
        .bind(kind)
        .fetch_all(pool)
        .await?)
        })
    }

    /// Whether the project has received anything at all.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn project_has_data(&self, project_id: &str) -> StoreResult<bool> {
        on_db!(self, |pool| {
            let found: Option<i64> = sqlx::query_scalar(
                "SELECT CAST(1 AS BIGINT) FROM project_labels WHERE project_id = $1 LIMIT 1",
            )
            .bind(project_id)
            .fetch_optional(pool)
            .await?;
            Ok(found.is_some())
        })
    }
}
