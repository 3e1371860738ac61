//! The alert workers of each process: the fan-out of the outbox, the deliverer
//! and the spike watch. Every process runs them; the rows they claim make each
//! alert and each delivery one process's at a time.

use crate::service::{alert_watch, deliver, dispatch};
use crate::state::SharedState;
use std::time::Duration;

/// How often each worker looks for work nobody woke it for (alerts written by
/// other processes, retries coming due).
const POLL: Duration = Duration::from_secs(1);
/// How often the groups written since are checked for spikes.
const SPIKE_CHECK: Duration = Duration::from_secs(2);

/// Starts the workers; they end when the database is closed.
pub fn spawn(state: SharedState) {
    tokio::spawn(dispatcher(state.clone()));
    tokio::spawn(deliverer(state.clone()));
    tokio::spawn(spike_watch(state));
}

async fn dispatcher(state: SharedState) {
    while !state.db.is_closed() {
        match dispatch::dispatch_waiting(&state).await {
            // A full batch: more may wait.
            Ok(n) if n > 0 => continue,
            Ok(_) => {}
            Err(e) => tracing::debug!(error = %e, "alert fan-out skipped"),
        }
        state.alerts.dispatch_wanted(POLL).await;
    }
}

async fn deliverer(state: SharedState) {
    while !state.db.is_closed() {
        match deliver::deliver_due(&state).await {
            Ok(n) if n > 0 => continue,
            Ok(_) => {}
            Err(e) => tracing::debug!(error = %e, "deliveries skipped"),
        }
        state.alerts.delivery_wanted(POLL).await;
    }
}

async fn spike_watch(state: SharedState) {
    let mut tick = tokio::time::interval(SPIKE_CHECK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    while !state.db.is_closed() {
        tick.tick().await;
        if let Err(e) = alert_watch::evaluate_spikes(&state).await {
            tracing::debug!(error = %e, "spike check skipped");
        }
    }
}
