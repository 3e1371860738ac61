//! Whether this process can serve: what `/health` reports. The write path is what
//! matters (every acknowledged event is written first), so the answer is red when
//! writes fail, when no connection comes within the timeout, when the SQLite file
//! is gone or replaced, or when the ingest writer stops making progress — and green
//! again by itself once the fault clears.

use crate::error::AppResult;
use crate::state::AppState;
use crate::store::faults::Fault;
use crate::store::{JobClaimRow, StoreError};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// How long each check may take before the database counts as unavailable.
const CHECK_TIMEOUT: Duration = Duration::from_secs(2);
/// A successful commit this recent proves the write path; older, a probe does.
const RECENT_WRITE_MS: i64 = 10_000;
/// A failed commit newer than any success decides for this long.
const FAILURE_FRESH_MS: i64 = 5_000;
/// Work waiting this long without the writer finishing any commit is a stall.
const STALL_MS: i64 = 10_000;

/// What `/health` says about the database.
#[derive(Debug, Clone, PartialEq)]
pub enum Database {
    /// Reads and writes work; the read took this many milliseconds.
    Ok { latency_ms: f64 },
    /// `HEALTH_CHECK_DATABASE` is off.
    Unchecked,
    /// Why the server cannot serve, in a few words.
    Error(String),
}

#[tracing::instrument(skip_all)]
pub async fn database(state: &AppState) -> Database {
    if !state.config.health_check_database {
        return Database::Unchecked;
    }
    match check(state).await {
        Ok(latency_ms) => Database::Ok { latency_ms },
        Err(reason) => Database::Error(reason),
    }
}

async fn check(state: &AppState) -> Result<f64, String> {
    if state.database_lost.load(Ordering::SeqCst) {
        return Err("the database file was deleted or replaced while serving".into());
    }
    if let Some(file) = state.database_file.get() {
        file.check().map_err(|f| f.describe().to_string())?;
    }
    let started = Instant::now();
    within(state.db.ping()).await?;
    let latency_ms = (started.elapsed().as_secs_f64() * 1000.0 * 100.0).round() / 100.0;

    let stats = &state.queue.stats;
    let now = state.clock.now_ms();
    let last_ok = stats.last_commit_ok_ms.load(Ordering::Relaxed);
    let last_progress = last_ok.max(stats.last_commit_failed_ms.load(Ordering::Relaxed));
    let waiting_since = stats.waiting_since_ms.load(Ordering::Relaxed);
    if waiting_since > 0 && now - waiting_since.max(last_progress) > STALL_MS {
        return Err("the ingest writer is not making progress".into());
    }
    // The writer's own commits say most about the write path: a failure newer than
    // any success is the answer while it is fresh (clients retry, so a healed
    // database soon shows a success); after that, or without recent writes, a probe.
    let last_failed = stats.last_commit_failed_ms.load(Ordering::Relaxed);
    if last_failed > last_ok && now - last_failed < FAILURE_FRESH_MS {
        let fault = stats.last_fault.lock().ok().and_then(|f| *f);
        return Err(fault.unwrap_or(Fault::Unreachable).describe().to_string());
    }
    if now - last_ok > RECENT_WRITE_MS {
        within(state.db.probe_write()).await?;
    }
    Ok(latency_ms)
}

async fn within(
    check: impl std::future::Future<Output = Result<(), StoreError>>,
) -> Result<(), String> {
    match tokio::time::timeout(CHECK_TIMEOUT, check).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(e.fault().map_or_else(
            || "the database refused the check".to_string(),
            |f| f.describe().to_string(),
        )),
        Err(_) => Err(format!(
            "{} (no answer within {} s)",
            Fault::Unreachable.describe(),
            CHECK_TIMEOUT.as_secs()
        )),
    }
}

/// The latest scheduled run of each job, by whichever process ran it.
#[tracing::instrument(skip_all)]
pub async fn last_job_runs(state: &AppState) -> AppResult<Vec<JobClaimRow>> {
    Ok(state.db.last_job_claims().await?)
}
