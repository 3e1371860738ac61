use super::{on_db, Db, StoreResult};
use crate::domain::timerange::Granularity;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct JobRunRow {
    pub id: String,
    pub job: String,
    pub started_at: i64,
    pub finished_at: i64,
    pub rows_deleted: i64,
    pub dry_run: i64,
    pub details: Option<String>,
    /// The process that ran it (`None` for runs recorded before it was kept).
    pub instance: Option<String>,
}

/// The telemetry tables retention deletes from, row by row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retained {
    Events,
    ErrorOccurrences,
    Sessions,
}

impl Retained {
    pub const ALL: [Retained; 3] = [
        Retained::Events,
        Retained::ErrorOccurrences,
        Retained::Sessions,
    ];

    /// The table, and the time a row counts as old by.
    fn table_and_time(self) -> (&'static str, &'static str) {
        match self {
            Retained::Events => ("events", "timestamp"),
            Retained::ErrorOccurrences => ("error_occurrences", "timestamp"),
            Retained::Sessions => ("sessions", "COALESCE(ended_at, last_activity_at)"),
        }
    }
}

/// Roll-ups keyed by project, and those keyed by error group.
const PROJECT_ROLLUPS: [&str; 4] = [
    "rollup_events",
    "rollup_props",
    "rollup_vitals",
    "rollup_sessions",
];
const GROUP_ROLLUPS: [&str; 3] = [
    "rollup_errors",
    "rollup_error_users",
    "rollup_error_devices",
];

impl Db {
    /// Deletes a project's roll-up rows of buckets that ended before `cutoff`, one
    /// bucket per statement for project roll-ups and one group per statement for
    /// group roll-ups, so each transaction stays short. Returns the rows deleted.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn delete_expired_rollups(&self, project_id: &str, cutoff: i64) -> StoreResult<u64> {
        let mut deleted = 0;
        for g in [Granularity::Hour, Granularity::Day] {
            // Buckets still holding data newer than the cutoff are kept whole.
            let before = g.floor(cutoff);
            for base in PROJECT_ROLLUPS {
                let t = format!("{base}_{}", g.table_suffix());
                loop {
                    let oldest: Option<i64> = on_db!(self, |pool| sqlx::query_scalar(&format!(
                        "SELECT MIN(bucket) FROM {t} WHERE project_id = $1 AND bucket < $2"
                    ))
                    .bind(project_id)
                    .bind(before)
                    .fetch_one(pool)
                    .await?);
                    let Some(oldest) = oldest else { break };
                    let sql = format!("DELETE FROM {t} WHERE project_id = $1 AND bucket = $2");
                    deleted += on_db!(self, |pool| sqlx::query(&sql)
                        .bind(project_id)
                        .bind(oldest)
                        .execute(pool)
                        .await?
                        .rows_affected());
                    tokio::task::yield_now().await;
                }
            }
            let groups: Vec<String> = on_db!(self, |pool| sqlx::query_scalar(
                "SELECT id FROM error_groups WHERE project_id = $1 AND first_seen < $2",
            )
            .bind(project_id)
            .bind(before)
            .fetch_all(pool)
            .await?);
            for base in GROUP_ROLLUPS {
                let sql = format!(
                    "DELETE FROM {base}_{} WHERE group_id = $1 AND bucket < $2",
                    g.table_suffix()
                );
                for group in &groups {
                    deleted += on_db!(self, |pool| sqlx::query(&sql)
                        .bind(group)
                        .bind(before)
                        .execute(pool)
                        .await?
                        .rows_affected());
                }
            }
        }
        Ok(deleted)
    }

    /// Notifications older than `cutoff`, of every user.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn delete_old_notifications(&self, cutoff: i64) -> StoreResult<u64> {
        on_db!(self, |pool| Ok(sqlx::query(
            "DELETE FROM notifications WHERE created_at < $1"
        )
        .bind(cutoff)
        .execute(pool)
        .await?
        .rows_affected()))
    }

    /// (project id, plan) of every live project.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn project_plans(&self) -> StoreResult<Vec<(String, String)>> {
        on_db!(self, |pool| Ok(sqlx::query_as(
            "SELECT p.id, o.plan FROM projects p JOIN organizations o ON o.id = p.org_id
             WHERE p.deleted_at IS NULL AND o.deleted_at IS NULL ORDER BY p.id",
        )
        .fetch_all(pool)
        .await?))
    }

    /// What a run would delete for a project: rows older than `cutoff`, and the error
    /// groups left without an occurrence.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn count_expired(&self, project_id: &str, cutoff: i64) -> StoreResult<i64> {
        let mut total = 0;
        for (table, col) in Retained::ALL.map(Retained::table_and_time) {
            let sql = format!("SELECT COUNT(*) FROM {table} WHERE project_id = $1 AND {col} < $2");
            let n: i64 = on_db!(self, |pool| sqlx::query_scalar(&sql)
                .bind(project_id)
                .bind(cutoff)
                .fetch_one(pool)
                .await?);
            total += n;
        }
        // The groups the run deletes once their last expired occurrence is gone.
        let emptied: i64 = on_db!(self, |pool| sqlx::query_scalar(
            "SELECT COUNT(*) FROM error_groups WHERE project_id = $1 AND last_seen < $2
             AND NOT EXISTS (SELECT 1 FROM error_occurrences o
                             WHERE o.group_id = error_groups.id AND o.timestamp >= $2)",
        )
        .bind(project_id)
        .bind(cutoff)
        .fetch_one(pool)
        .await?);
        Ok(total + emptied)
    }

    /// Deletes at most `batch` expired rows from one table of a project. Small batches
    /// keep each transaction short so ingest commits never wait long behind it.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn delete_expired_batch(
        &self,
        table: Retained,
        project_id: &str,
        cutoff: i64,
        batch: i64,
    ) -> StoreResult<u64> {
        let (table, col) = table.table_and_time();
        let sql = format!(
            "DELETE FROM {table} WHERE id IN (SELECT id FROM {table} WHERE project_id = $1 AND {col} < $2 LIMIT $3)"
        );
        on_db!(self, |pool| Ok(sqlx::query(&sql)
            .bind(project_id)
            .bind(cutoff)
            .bind(batch)
            .execute(pool)
            .await?
            .rows_affected()))
    }

    /// Groups with no occurrence left, and whatever of their roll-ups is left.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn delete_empty_error_groups(
        &self,
        project_id: &str,
        cutoff: i64,
    ) -> StoreResult<u64> {
        let empty: Vec<String> = on_db!(self, |pool| sqlx::query_scalar(
            "SELECT id FROM error_groups WHERE project_id = $1 AND last_seen < $2
             AND NOT EXISTS (SELECT 1 FROM error_occurrences o WHERE o.group_id = error_groups.id)",
        )
        .bind(project_id)
        .bind(cutoff)
        .fetch_all(pool)
        .await?);
        for group in &empty {
            for g in [Granularity::Hour, Granularity::Day] {
                for base in GROUP_ROLLUPS {
                    let sql = format!(
                        "DELETE FROM {base}_{} WHERE group_id = $1",
                        g.table_suffix()
                    );
                    on_db!(self, |pool| {
                        sqlx::query(&sql).bind(group).execute(pool).await?;
                    });
                }
            }
            on_db!(self, |pool| {
                sqlx::query("DELETE FROM error_groups WHERE id = $1")
                    .bind(group)
                    .execute(pool)
                    .await?;
            });
        }
        Ok(empty.len() as u64)
    }

    /// The newest recorded run of `job` (dry runs excluded).
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn last_job_run(&self, job: &str) -> StoreResult<Option<JobRunRow>> {
        on_db!(self, |pool| {
            Ok(sqlx::query_as(
            "SELECT id, job, started_at, finished_at, rows_deleted, dry_run, details, instance FROM job_runs
             WHERE job = $1 AND dry_run = 0 ORDER BY started_at DESC LIMIT 1",
        )
        .bind(job)
        .fetch_optional(pool)
        .await?)
        })
    }

    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn record_job_run(&self, run: &JobRunRow) -> StoreResult<()> {
        on_db!(self, |pool| {
            sqlx::query(
                "INSERT INTO job_runs (id, job, started_at, finished_at, rows_deleted, dry_run, details, instance)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            )
            .bind(&run.id)
            .bind(&run.job)
            .bind(run.started_at)
            .bind(run.finished_at)
            .bind(run.rows_deleted)
            .bind(run.dry_run)
            .bind(&run.details)
            .bind(&run.instance)
            .execute(pool)
            .await?;
        });
        Ok(())
    }
}
