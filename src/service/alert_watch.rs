//! Deciding the alerts ingest does not decide itself: spikes, from the groups each
//! commit touched (never a query per error), and quota crossings, from the usage
//! counter a request has just moved. What a process remembers here only saves
//! work; the statements that write the alerts decide, once for the deployment.

use crate::domain::alerts::{AlertKind, AlertSettings, SPIKE_FOLLOW_UP_MS};
use crate::error::AppResult;
use crate::service::alerts::settings_of;
use crate::state::AppState;
use crate::store::{SpikeRecord, WriteSummary};
use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::{Duration, Instant};
use tokio::sync::Notify;

/// How long settings read for the hot paths are trusted at most: a change is
/// seen at once by the process that made it and within the cache watch's poll by
/// the others (`jobs::watch_caches`); this bounds it without the watch.
const SETTINGS_TTL: Duration = Duration::from_secs(10);
/// A group evaluated without a spike is looked at again after this (ms, on the
/// application's clock), at the soonest, whatever number of errors arrives
/// meanwhile.
const RECHECK_QUIET_MS: i64 = 5_000;
/// A spiking group is looked at this often (follow-ups, and to note that the
/// spike goes on).
const RECHECK_SPIKING_MS: i64 = 60_000;

/// Groups remembered before the stale ones are forgotten.
const FORGET_ABOVE: usize = 10_000;
/// Occurrences of a group counted at most (the largest threshold).
const COUNT_CAP: i64 = 100_000;

/// The alert workers' shared state in one process.
#[derive(Default)]
pub struct AlertWork {
    dispatch: Notify,
    deliver: Notify,
    /// Groups with new occurrences since the last evaluation → their project.
    touched: Mutex<HashMap<String, String>>,
    /// When each group was last evaluated (application clock), and whether it
    /// was spiking.
    evaluated: Mutex<HashMap<String, (i64, bool)>>,
    settings: Mutex<HashMap<String, (AlertSettings, Instant)>>,
    /// (project, month, kind) whose quota alert is written.
    quota_done: Mutex<HashSet<(String, String, AlertKind)>>,
}

impl AlertWork {
    /// After a commit: new and regressed groups are in the outbox already.
    pub fn on_commit(&self, summary: &WriteSummary) {
        if !summary.touched_groups.is_empty() {
            let mut touched = self.touched.lock().unwrap_or_else(|e| e.into_inner());
            for (project, group) in &summary.touched_groups {
                touched.insert(group.clone(), project.clone());
            }
        }
        if !summary.new_groups.is_empty() || !summary.regressed_groups.is_empty() {
            self.dispatch.notify_one();
        }
    }

    pub fn wake_dispatcher(&self) {
        self.dispatch.notify_one();
    }

    pub fn wake_deliverer(&self) {
        self.deliver.notify_one();
    }

    /// Waits for a wake-up or `at_most`.
    pub async fn dispatch_wanted(&self, at_most: Duration) {
        let _ = tokio::time::timeout(at_most, self.dispatch.notified()).await;
    }

    pub async fn delivery_wanted(&self, at_most: Duration) {
        let _ = tokio::time::timeout(at_most, self.deliver.notified()).await;
    }

    pub fn forget_settings(&self, project_id: &str) {
        self.settings
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(project_id);
    }

    /// Another process changed some project's settings.
    pub fn forget_all_settings(&self) {
        self.settings
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }

    fn take_touched(&self) -> HashMap<String, String> {
        std::mem::take(&mut *self.touched.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

async fn cached_settings(state: &AppState, project_id: &str) -> AppResult<AlertSettings> {
    let work = &state.alerts;
    if let Some((s, at)) = work
        .settings
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get(project_id)
    {
        if at.elapsed() < SETTINGS_TTL {
            return Ok(*s);
        }
    }
    let settings = settings_of(state, project_id).await?;
    work.settings
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(project_id.to_string(), (settings, Instant::now()));
    Ok(settings)
}

/// Looks at the groups that had occurrences since the last call and records the
/// spikes among them; returns how many alerts it wrote.
#[tracing::instrument(skip_all)]
pub async fn evaluate_spikes(state: &AppState) -> AppResult<usize> {
    let touched = state.alerts.take_touched();
    if touched.is_empty() {
        return Ok(0);
    }
    let mut by_project: HashMap<String, Vec<String>> = HashMap::new();
    let now = state.clock.now_ms();
    {
        let mut evaluated = state
            .alerts
            .evaluated
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        // What is older than any recheck interval decides nothing any more.
        if evaluated.len() > FORGET_ABOVE {
            evaluated.retain(|_, (at, _)| now - *at < RECHECK_SPIKING_MS);
        }
        let mut later = state
            .alerts
            .touched
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        for (group, project) in touched {
            let due = match evaluated.get(&group) {
                Some((at, spiking)) => {
                    now - at
                        >= if *spiking {
                            RECHECK_SPIKING_MS
                        } else {
                            RECHECK_QUIET_MS
                        }
                }
                None => true,
            };
            if due {
                by_project.entry(project).or_default().push(group);
            } else {
                // Not yet: kept for the evaluation after next.
                later.insert(group, project);
            }
        }
    }
    let mut alerted = 0;
    for (project_id, groups) in by_project {
        let settings = cached_settings(state, &project_id).await?;
        if !settings.spike.enabled {
            continue;
        }
        let rule = settings.spike;
        let since = now - rule.window_minutes * 60_000;
        let refs: Vec<&str> = groups.iter().map(String::as_str).collect();
        // Counted up to the largest threshold: a quiet group stops below its own
        // anyway, and a spiking one's alert tells how many there were.
        let counts = state.db.recent_occurrences(&refs, since, COUNT_CAP).await?;
        for (group, count) in counts {
            let spiking = count >= rule.threshold;
            state
                .alerts
                .evaluated
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(group.clone(), (now, spiking));
            if !spiking {
                continue;
            }
            let record = state
                .db
                .record_spike(
                    &project_id,
                    &group,
                    count,
                    rule.window_minutes,
                    SPIKE_FOLLOW_UP_MS,
                    now,
                )
                .await?;
            if let SpikeRecord::Alerted { follow_up } = record {
                tracing::warn!(project = %project_id, %group, count, follow_up, "error group spiking");
                alerted += 1;
            }
        }
    }
    if alerted > 0 {
        state.alerts.wake_dispatcher();
    }
    Ok(alerted)
}

/// After a request moved the project's usage for `month` to `used` of `limit`:
/// writes the quota-near alert once the project's percentage is reached.
#[tracing::instrument(skip_all)]
pub async fn usage_moved(state: &AppState, project_id: &str, month: &str, used: i64, limit: i64) {
    // Below the lowest percentage anyone can set, nothing to look up.
    if limit <= 0 || used * 100 < limit * 50 {
        return;
    }
    quota_alert(state, AlertKind::QuotaNear, project_id, month, |s| {
        used * 100 >= limit * s.quota.near_percent
    })
    .await;
}

/// After a request was refused for the quota.
#[tracing::instrument(skip_all)]
pub async fn quota_refused(state: &AppState, project_id: &str, month: &str) {
    quota_alert(state, AlertKind::QuotaExceeded, project_id, month, |_| true).await;
}

async fn quota_alert(
    state: &AppState,
    kind: AlertKind,
    project_id: &str,
    month: &str,
    crossed: impl Fn(&AlertSettings) -> bool,
) {
    let key = (project_id.to_string(), month.to_string(), kind);
    if state
        .alerts
        .quota_done
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .contains(&key)
    {
        return;
    }
    let outcome = async {
        let settings = cached_settings(state, project_id).await?;
        if !settings.quota.enabled || !crossed(&settings) {
            return Ok(false);
        }
        let written = state
            .db
            .insert_quota_alert(kind, project_id, month, state.clock.now_ms())
            .await?;
        if written {
            tracing::warn!(project = %project_id, month, kind = kind.as_str(), "quota alert");
            state.alerts.wake_dispatcher();
        }
        AppResult::Ok(true)
    }
    .await;
    match outcome {
        Ok(true) => {
            state
                .alerts
                .quota_done
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(key);
        }
        Ok(false) => {}
        // The request is answered all the same; the next one tries again.
        Err(e) => tracing::warn!(error = %e, "cannot record the quota alert"),
    }
}
