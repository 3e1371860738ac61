//! Scheduled jobs: idle-session closing every minute, retention on `RETENTION_CRON`
//! and SQLite snapshots on `BACKUP_CRON` (`off` disables either), plus the watch on the database file; the
//! alert workers, the watch on what other processes change and the writer of
//! source-map frame counts (`alerts`, `shared`, `frame_counts`) start with the
//! state, in every process that serves.
//!
//! Every process schedules every job; each run is claimed in the database by
//! exactly one of them (the one whose claim of the run's scheduled time wins), and a
//! lock keeps runs of one job from overlapping, so N processes run a job once per
//! schedule.

pub mod alerts;
mod frame_counts;
mod shared;

use crate::service::{backups, retention};
use crate::state::SharedState;
use croner::parser::{CronParser, Seconds};
use croner::Cron;
use std::future::Future;
use std::time::Duration;
use tokio_cron_scheduler::{Job, JobScheduler};

/// Idle sessions are closed every minute, so "open" means active within the timeout.
const SESSION_CLOSE_CRON: &str = "0 * * * * *";
/// How often the SQLite file is checked for deletion or replacement.
const FILE_POLL: Duration = Duration::from_millis(250);

pub async fn start(state: SharedState) -> anyhow::Result<JobScheduler> {
    let scheduler = JobScheduler::new().await?;
    schedule(
        &scheduler,
        &state,
        "close-idle-sessions",
        SESSION_CLOSE_CRON,
        |state| async move {
            let closed = retention::close_idle_sessions(
                &state.db,
                &state.clock,
                state.config.retention.session_idle_minutes,
            )
            .await?;
            if closed > 0 {
                tracing::info!(closed, "closed idle sessions");
            }
            Ok(())
        },
    )
    .await?;
    match state.config.retention_schedule().map(str::to_string) {
        Some(cron) => {
            schedule(&scheduler, &state, "retention", &cron, |state| async move {
                let c = &state.config;
                let report = retention::run(
                    &state.db,
                    &state.clock,
                    c.retention.retention_days,
                    c.retention.session_idle_minutes,
                    false,
                    &state.instance,
                )
                .await?;
                tracing::info!(?report, "retention finished");
                Ok(())
            })
            .await?
        }
        None => tracing::info!("RETENTION_CRON is off: retention runs only from the CLI"),
    }
    if let Some(cron) = state.config.backup_schedule().map(str::to_string) {
        schedule(&scheduler, &state, "backup", &cron, |state| async move {
            let keep = state.config.backup_keep;
            backups::scheduled(&state.db, keep, state.clock.now_ms()).await?;
            Ok(())
        })
        .await?;
    }
    scheduler.start().await?;
    if let Ok(Some(file)) = state.db.sqlite_file().await {
        let _ = state.database_file.set(file);
        tokio::spawn(watch_database_file(state));
    }
    Ok(scheduler)
}

/// Adds `job` on `cron` (six fields, UTC), run through [`run_claimed`].
async fn schedule<F, Fut>(
    scheduler: &JobScheduler,
    state: &SharedState,
    name: &'static str,
    cron: &str,
    job: F,
) -> anyhow::Result<()>
where
    F: Fn(SharedState) -> Fut + Send + Sync + Clone + 'static,
    Fut: Future<Output = crate::error::AppResult<()>> + Send + 'static,
{
    let schedule = CronParser::builder()
        .seconds(Seconds::Required)
        .build()
        .parse(cron)
        .map_err(|e| anyhow::anyhow!("invalid schedule {cron:?} of {name}: {e}"))?;
    let job_state = state.clone();
    scheduler
        .add(Job::new_async(cron, move |_id, _lock| {
            let (state, schedule, job) = (job_state.clone(), schedule.clone(), job.clone());
            Box::pin(async move { run_claimed(&state, name, &schedule, job).await })
        })?)
        .await?;
    tracing::info!(job = name, %cron, "scheduled (UTC)");
    Ok(())
}

/// Runs `job` if this process wins the run scheduled at the latest tick of
/// `schedule`, under the job's lock, and records how it ended.
async fn run_claimed<F, Fut>(state: &SharedState, name: &'static str, schedule: &Cron, job: F)
where
    F: Fn(SharedState) -> Fut,
    Fut: Future<Output = crate::error::AppResult<()>>,
{
    let db = &state.db;
    // The scheduler fires at (or just after) the scheduled time, in every process.
    // Schedules have whole seconds; a fraction would make each process's tick its own.
    let now = chrono::Utc::now();
    let second = now - chrono::Duration::nanoseconds(i64::from(now.timestamp_subsec_nanos()));
    let Ok(tick) = schedule.find_previous_occurrence(&second, true) else {
        return;
    };
    let tick = tick.timestamp_millis();
    let lock = match db.try_lock_job(name).await {
        Ok(Some(lock)) => lock,
        Ok(None) => {
            tracing::info!(
                job = name,
                "an earlier run is still going; this one is skipped"
            );
            return;
        }
        Err(e) => {
            tracing::warn!(job = name, error = %e, "cannot take the job lock; run skipped");
            return;
        }
    };
    match db
        .claim_job_run(name, tick, &state.instance, state.clock.now_ms())
        .await
    {
        Ok(true) => {
            let outcome = job(state.clone()).await;
            if let Err(e) = &outcome {
                tracing::error!(job = name, error = %e, "job failed");
            }
            let finished = db
                .finish_job_run(name, tick, outcome.is_ok(), state.clock.now_ms())
                .await;
            if let Err(e) = finished {
                tracing::warn!(job = name, error = %e, "cannot record how the run ended");
            }
        }
        Ok(false) => tracing::debug!(job = name, tick, "run claimed by another process"),
        Err(e) => tracing::warn!(job = name, error = %e, "cannot claim the run; skipped"),
    }
    lock.release().await;
}

/// A SQLite file deleted or replaced under the running server would swallow every
/// write into an unlinked file: within a poll the server stops writing (its pools
/// close, so every route answers 503), says so once, and stays so until restarted
/// on a restored file.
async fn watch_database_file(state: SharedState) {
    let Some(file) = state.database_file.get().cloned() else {
        return;
    };
    let mut tick = tokio::time::interval(FILE_POLL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if state.db.is_closed() {
            return;
        }
        if file.check().is_err() {
            state
                .database_lost
                .store(true, std::sync::atomic::Ordering::SeqCst);
            tracing::error!(
                path = %file.path.display(),
                "the database file was deleted or replaced while serving: refusing every \
                 write until the server is restarted on a restored file (see docs/OPERATIONS.md)"
            );
            state.queue.close().await;
            state.db.close().await;
            return;
        }
    }
}
