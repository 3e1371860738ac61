//! Whether this process can serve: what `/health` reports.

use crate::error::AppResult;
use crate::state::AppState;
use crate::store::JobClaimRow;
use std::time::{Duration, Instant};

/// How long the database may take to answer before it counts as unavailable.
const DATABASE_TIMEOUT: Duration = Duration::from_secs(2);

/// The database's answer to a trivial query: `Ok(latency in ms)` or why not.
#[tracing::instrument(skip_all)]
pub async fn database(state: &AppState) -> Result<f64, String> {
    let started = Instant::now();
    match tokio::time::timeout(DATABASE_TIMEOUT, state.db.ping()).await {
        Ok(Ok(())) => Ok((started.elapsed().as_secs_f64() * 1000.0 * 100.0).round() / 100.0),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!("no answer within {} s", DATABASE_TIMEOUT.as_secs())),
    }
}

/// The latest scheduled run of each job, by whichever process ran it.
#[tracing::instrument(skip_all)]
pub async fn last_job_runs(state: &AppState) -> AppResult<Vec<JobClaimRow>> {
    Ok(state.db.last_job_claims().await?)
}
