//! Per-project ingest limits: the plan's requests-per-second token bucket (held by
//! each process) and the app labels a project has used (known in memory, a new one
//! under a cap reserved in the database, so the cap holds for all processes).

use crate::store::{Db, StoreResult};
use dashmap::DashMap;
use std::collections::HashSet;
use std::time::Instant;

struct Bucket {
    tokens: f64,
    last: Instant,
}

#[derive(Default)]
pub struct RpsLimiter {
    buckets: DashMap<String, Bucket>,
}

impl RpsLimiter {
    /// Takes one token from the project's bucket (burst = 2 × rps). On refusal returns
    /// the seconds until a token is available.
    pub fn take(&self, project_id: &str, rps: u32) -> Result<(), u64> {
        let rps = f64::from(rps.max(1));
        let capacity = 2.0 * rps;
        let now = Instant::now();
        let mut bucket = self
            .buckets
            .entry(project_id.to_string())
            .or_insert_with(|| Bucket {
                tokens: capacity,
                last: now,
            });
        let refill = now.duration_since(bucket.last).as_secs_f64() * rps;
        bucket.tokens = (bucket.tokens + refill).min(capacity);
        bucket.last = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            Err(((1.0 - bucket.tokens) / rps).ceil().max(1.0) as u64)
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_allows_burst_then_refuses_with_retry_after() {
        let limiter = RpsLimiter::default();
        for _ in 0..4 {
            assert!(limiter.take("p", 2).is_ok());
        }
        let retry = limiter.take("p", 2).unwrap_err();
        assert!(retry >= 1);
        assert!(limiter.take("other", 2).is_ok());
    }
}
