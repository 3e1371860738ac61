//! Retention: delete telemetry older than each plan keeps, in small batches, and
//! close sessions left open past the idle timeout. Each run is recorded.

use crate::clock::Clock;
use crate::domain::ids::new_id;
use crate::domain::plans::Plan;
use crate::domain::timeutil::{DAY_MS, MINUTE_MS};
use crate::error::AppResult;
use crate::store::{Db, JobRunRow, Retained};

const BATCH: i64 = 5_000;
/// Records of who ran which scheduled job run are kept this long.
const JOB_CLAIM_DAYS: i64 = 7;
/// Days the property values a day kept are remembered (late events are accepted
/// up to 30 days).
const PROP_VALUE_DAYS: i64 = 31;
/// Bell notifications are kept this long, read or not.
const NOTIFICATION_DAYS: i64 = 90;
/// Alerts, their deliveries and the delivery log are kept as long as the bell's.
const ALERT_DAYS: i64 = NOTIFICATION_DAYS;

#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct RetentionReport {
    pub dry_run: bool,
    pub projects: usize,
    pub rows_deleted: i64,
    /// Roll-up rows of expired buckets (not in `rows_deleted`).
    pub rollup_rows_deleted: u64,
    pub notifications_deleted: u64,
    /// Release artifacts of releases without events for the retention period.
    pub artifacts_deleted: u64,
    pub sessions_closed: u64,
    pub duration_ms: i64,
}

#[tracing::instrument(skip_all)]
pub async fn run(
    db: &Db,
    clock: &Clock,
    self_hosted_days: u32,
    idle_minutes: u32,
    dry_run: bool,
    instance: &str,
) -> AppResult<RetentionReport> {
    let started = clock.now_ms();
    let mut report = RetentionReport {
        dry_run,
        ..Default::default()
    };
    let projects = db.project_plans().await?;
    report.projects = projects.len();
    for (project_id, plan) in &projects {
        let days = Plan::from_stored(plan)
            .limits()
            .retention_days
            .unwrap_or(self_hosted_days);
        let cutoff = started - i64::from(days) * DAY_MS;
        if dry_run {
            report.rows_deleted += db.count_expired(project_id, cutoff).await?;
            continue;
        }
        report.rollup_rows_deleted += db.delete_expired_rollups(project_id, cutoff).await?;
        for table in Retained::ALL {
            loop {
                let n = db
                    .delete_expired_batch(table, project_id, cutoff, BATCH)
                    .await?;
                report.rows_deleted += n as i64;
                if (n as i64) < BATCH {
                    break;
                }
                // Let queued ingest commits in between batches.
                tokio::task::yield_now().await;
            }
        }
        report.rows_deleted += db.delete_empty_error_groups(project_id, cutoff).await? as i64;
        report.artifacts_deleted += db.delete_stale_artifacts(project_id, cutoff).await?;
    }
    if !dry_run {
        report.sessions_closed = close_idle_sessions(db, clock, idle_minutes).await?;
        report.notifications_deleted = db
            .delete_old_notifications(started - NOTIFICATION_DAYS * DAY_MS)
            .await?;
        db.delete_old_job_claims(started - JOB_CLAIM_DAYS * DAY_MS)
            .await?;
        db.delete_old_alerts(started - ALERT_DAYS * DAY_MS).await?;
        // Events may arrive up to 30 days late: their day's kept values are kept
        // as long, then the cap has nothing more to decide.
        db.delete_old_prop_values(started - PROP_VALUE_DAYS * DAY_MS)
            .await?;
        db.optimize().await?;
    }
    let finished = clock.now_ms();
    report.duration_ms = finished - started;
    db.record_job_run(&JobRunRow {
        id: new_id(),
        job: "retention".into(),
        started_at: started,
        finished_at: finished,
        rows_deleted: report.rows_deleted,
        dry_run: i64::from(dry_run),
        details: serde_json::to_string(&report).ok(),
        instance: Some(instance.to_string()),
    })
    .await?;
    Ok(report)
}

/// The latest run of the retention job, by whichever process ran it.
#[tracing::instrument(skip_all)]
pub async fn last_run(db: &Db) -> AppResult<Option<JobRunRow>> {
    Ok(db.last_job_run("retention").await?)
}

/// Closes sessions without activity for `idle_minutes` at their last activity.
#[tracing::instrument(skip_all)]
pub async fn close_idle_sessions(db: &Db, clock: &Clock, idle_minutes: u32) -> AppResult<u64> {
    let cutoff = clock.now_ms() - i64::from(idle_minutes) * MINUTE_MS;
    let mut closed = 0;
    loop {
        let n = db.close_idle_sessions(cutoff, BATCH).await?;
        closed += n;
        if (n as i64) < BATCH {
            return Ok(closed);
        }
    }
}
