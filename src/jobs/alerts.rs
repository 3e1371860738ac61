//! The alert workers of each process: the fan-out of the outbox, the deliverer
//! and the spike watch, with the watch on what other processes change. Every process runs them; the rows they claim make each
//! alert and each delivery one process's at a time.

use crate::service::{alert_watch, deliver, dispatch};
use crate::state::SharedState;
use std::time::Duration;

/// How often the groups written since are checked for spikes.
const SPIKE_CHECK: Duration = Duration::from_secs(2);
/// A worker nobody woke (`jobs::shared` does when there is work) looks anyway
/// after this.
const IDLE: Duration = Duration::from_secs(60);

/// Starts the workers and the watch that wakes them; they end when the database
/// is closed.
pub fn spawn(state: SharedState) {
    tokio::spawn(super::shared::watch(state.clone()));
    tokio::spawn(super::frame_counts::flush(state.clone()));
    tokio::spawn(dispatcher(state.clone()));
    tokio::spawn(deliverer(state.clone()));
    tokio::spawn(spike_watch(state));
}

async fn dispatcher(state: SharedState) {
    while !state.db.is_closed() {
        state.alerts.dispatch_wanted(IDLE).await;
        // Until a claim finds nothing more to do.
        loop {
            match dispatch::dispatch_waiting(&state).await {
                Ok(n) if n > 0 => {}
                Ok(_) => break,
                Err(e) => {
                    tracing::debug!(error = %e, "alert fan-out skipped");
                    break;
                }
            }
        }
    }
}

async fn deliverer(state: SharedState) {
    while !state.db.is_closed() {
        state.alerts.delivery_wanted(IDLE).await;
        loop {
            match deliver::deliver_due(&state).await {
                Ok(n) if n > 0 => {}
                Ok(_) => break,
                Err(e) => {
                    tracing::debug!(error = %e, "deliveries skipped");
                    break;
                }
            }
        }
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
