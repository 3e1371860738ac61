//! Scheduled jobs inside the process, from config strings (empty = off).

use crate::service::retention;
use crate::state::SharedState;
use tokio_cron_scheduler::{Job, JobScheduler};

pub async fn start(state: SharedState) -> anyhow::Result<Option<JobScheduler>> {
    let cron = state.config.retention_cron.trim().to_string();
    if cron.is_empty() {
        tracing::info!("retention schedule is empty: retention will not run automatically");
        return Ok(None);
    }
    let scheduler = JobScheduler::new().await?;
    let job_state = state.clone();
    scheduler
        .add(Job::new_async(cron.as_str(), move |_id, _lock| {
            let state = job_state.clone();
            Box::pin(async move {
                let c = &state.config;
                match retention::run(
                    &state.db,
                    &state.clock,
                    c.retention_days,
                    c.session_idle_minutes,
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
    scheduler.start().await?;
    tracing::info!(%cron, "retention scheduled (UTC)");
    Ok(Some(scheduler))
}
