//! Writes, every few seconds, how many frames each artifact mapped or failed to
//! map in this process (added to the totals, so every process adds its own).

use crate::state::SharedState;
use std::time::Duration;

const EVERY: Duration = Duration::from_secs(5);

pub async fn flush(state: SharedState) {
    let mut tick = tokio::time::interval(EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    while !state.db.is_closed() {
        tick.tick().await;
        crate::service::sourcemaps::flush_counts(&state).await;
    }
}
