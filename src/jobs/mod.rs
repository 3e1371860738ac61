//! Scheduled jobs inside the process: idle-session closing every minute and
//! retention on `RETENTION_CRON` (`off` disables it).

use crate::service::retention;
use crate::state::SharedState;
use tokio_cron_scheduler::{Job, JobScheduler};

/// Idle sessions are closed every minute, so "open" means active within the timeout.
const SESSION_CLOSE_CRON: &str = "0 * * * * *";

pub async fn start(state: SharedState) -> anyhow::Result<JobScheduler> {
    let scheduler = JobScheduler::new().await?;
    let job_state = state.clone();
    scheduler
        .add(Job::new_async(SESSION_CLOSE_CRON, move |_id, _lock| {
            let state = job_state.clone();
            Box::pin(async move {
                match retention::close_idle_sessions(
                    &state.db,
                    &state.clock,
                    state.config.retention.session_idle_minutes,
                )
                .await
                {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(closed = n, "closed idle sessions"),
                    Err(e) => tracing::warn!(error = %e, "closing idle sessions failed"),
                }
            })
        })?)
        .await?;
    tracing::info!(
        idle_minutes = state.config.retention.session_idle_minutes,
        "idle-session closing scheduled every minute"
    );
    match state.config.retention_schedule().map(str::to_string) {
        Some(cron) => add_retention(&scheduler, state, &cron).await?,
        None => tracing::info!("RETENTION_CRON is off: retention runs only from the CLI"),
    }
    scheduler.start().await?;
    Ok(scheduler)
}

async fn add_retention(
    scheduler: &JobScheduler,
    state: SharedState,
    cron: &str,
) -> anyhow::Result<()> {
    let job_state = state.clone();
    scheduler
        .add(Job::new_async(cron, move |_id, _lock| {
            let state = job_state.clone();
            Box::pin(async move {
                let c = &state.config;
                match retention::run(
                    &state.db,
                    &state.clock,
                    c.retention.retention_days,
                    c.retention.session_idle_minutes,
                    false,
                )
                .await
                {
                    Ok(report) => tracing::info!(?report, "retention finished"),
                    Err(e) => tracing::error!(error = %e, "retention failed"),
                }
            })
        })?)
        .await?;
    tracing::info!(%cron, "retention scheduled (UTC)");
    Ok(())
}
