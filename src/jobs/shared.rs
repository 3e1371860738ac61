//! The watch each process keeps on what the others change: one statement every
//! few hundred milliseconds (`Db::shared_changes`). A moved cache generation (a
//! key revoked, a project or organization deleted, a plan or a project's alert
//! settings changed, artifacts uploaded, by any process or the CLI) drops the
//! cached keys, alert settings and artifact indexes; alerts waiting or deliveries
//! due wake the alert workers, for work no commit of this process woke them for
//! (other processes' alerts, retries).

use crate::state::SharedState;
use std::time::Duration;

const POLL: Duration = Duration::from_millis(400);

pub async fn watch(state: SharedState) {
    let mut seen: Option<i64> = None;
    let mut tick = tokio::time::interval(POLL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    while !state.db.is_closed() {
        tick.tick().await;
        match state.db.shared_changes(state.clock.now_ms()).await {
            Ok(changes) => {
                if seen.is_some_and(|before| before != changes.generation) {
                    state.keys.clear();
                    state.alerts.forget_all_settings();
                    state.sourcemaps.forget_indexes();
                }
                seen = Some(changes.generation);
                if changes.alerts_waiting {
                    state.alerts.wake_dispatcher();
                }
                if changes.deliveries_due {
                    state.alerts.wake_deliverer();
                }
            }
            // Without an answer the caches' own short lifetimes bound staleness.
            Err(e) => tracing::debug!(error = %e, "cannot read what other processes changed"),
        }
    }
}
