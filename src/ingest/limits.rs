//! Per-project ingest limits that hold for the whole deployment: the plan's request
//! rate (tokens leased from a shared rate in the database) and the app labels a
//! project has used (known in memory, a new one under a cap reserved in the
//! database).

use crate::clock::Clock;
use crate::store::{Db, StoreResult};
use dashmap::DashMap;
use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Mutex;

/// Tokens of a lease not handed out within this are given up, so a process that
/// went quiet does not hold on to a share of the rate.
const LEASE_LIFETIME: Duration = Duration::from_secs(1);

#[derive(Default)]
struct Lease {
    tokens: u32,
    expires: Option<Instant>,
    /// The shared rate had nothing left: refused here until then, no query.
    refused_until: Option<Instant>,
}

/// The plan's requests per second (burst = 2 × rps) for all processes together.
/// Each process takes a tenth of a second's tokens at a time from the project's
/// shared rate and hands them out itself: one statement per lease, not per
/// request, and none at all for plans without a rate limit.
#[derive(Default)]
pub struct RpsLimiter {
    leases: DashMap<String, Arc<Mutex<Lease>>>,
}

impl RpsLimiter {
    /// Takes one token for the project; on refusal, the seconds until one frees up.
    pub async fn take(
        &self,
        db: &Db,
        clock: &Clock,
        project_id: &str,
        rps: u32,
    ) -> StoreResult<Result<(), u64>> {
        let lease = match self.leases.get(project_id) {
            Some(lease) => Arc::clone(&lease),
            None => Arc::clone(&self.leases.entry(project_id.to_string()).or_default()),
        };
        let mut lease = lease.lock().await;
        let now = Instant::now();
        if lease.tokens > 0 && lease.expires.is_some_and(|e| e > now) {
            lease.tokens -= 1;
            return Ok(Ok(()));
        }
        if let Some(until) = lease.refused_until.filter(|u| *u > now) {
            return Ok(Err(whole_seconds(until - now)));
        }
        let rps = rps.max(1);
        let interval_us = 1_000_000 / i64::from(rps);
        let burst_us = 2 * i64::from(rps) * interval_us;
        let now_us = clock.now_us();
        let got = db
            .take_rate_lease(project_id, now_us, interval_us, burst_us, (rps / 10).max(1))
            .await?;
        if got.granted == 0 {
            let wait =
                Duration::from_micros((got.tat_us + interval_us - burst_us - now_us).max(1) as u64);
            *lease = Lease {
                refused_until: Some(now + wait),
                ..Lease::default()
            };
            return Ok(Err(whole_seconds(wait)));
        }
        *lease = Lease {
            tokens: got.granted - 1,
            expires: Some(now + LEASE_LIFETIME),
            refused_until: None,
        };
        Ok(Ok(()))
    }
}

/// A `Retry-After` value: whole seconds, at least one.
fn whole_seconds(wait: Duration) -> u64 {
    wait.as_secs_f64().ceil().max(1.0) as u64
}

/// The distinct app labels of each project, loaded once from the database.
#[derive(Default)]
pub struct AppLabels {
    known: DashMap<String, HashSet<String>>,
}

pub enum AppCheck {
    /// Labels not seen before in this project (to be recorded with the write).
    Accepted(Vec<String>),
    /// The plan's cap would be passed.
    OverCap,
}

impl AppLabels {
    /// Admits `apps` for a project under `cap`. Labels this process has seen pass
    /// without a query; a new one under a cap is reserved in the database, so that
    /// all processes together keep to the cap.
    pub async fn admit(
        &self,
        db: &Db,
        project_id: &str,
        apps: &[&str],
        cap: Option<usize>,
        now: i64,
    ) -> StoreResult<AppCheck> {
        if !self.known.contains_key(project_id) {
            let stored: HashSet<String> = db.project_apps(project_id).await?.into_iter().collect();
            self.known.entry(project_id.to_string()).or_insert(stored);
        }
        let mut new: Vec<String> = {
            let known = self.known.entry(project_id.to_string()).or_default();
            apps.iter()
                .filter(|a| !known.contains(**a))
                .map(|a| a.to_string())
                .collect()
        };
        new.sort_unstable();
        new.dedup();
        if new.is_empty() {
            return Ok(AppCheck::Accepted(new));
        }
        if let Some(cap) = cap {
            let Some(all) = db.reserve_apps(project_id, &new, cap, now).await? else {
                return Ok(AppCheck::OverCap);
            };
            let mut known = self.known.entry(project_id.to_string()).or_default();
            known.extend(all);
            return Ok(AppCheck::Accepted(new));
        }
        self.known
            .entry(project_id.to_string())
            .or_default()
            .extend(new.iter().cloned());
        Ok(AppCheck::Accepted(new))
    }
}
