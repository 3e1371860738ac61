use crate::clock::Clock;
use crate::config::ServeConfig;
use crate::ingest::keys::KeyCache;
use crate::ingest::limits::{AppLabels, RpsLimiter};
use crate::ingest::pipeline::IngestQueue;
use crate::mail::Mailer;
use crate::ratelimit::{FailureThrottle, IpLimiter};
use crate::store::Db;
use std::sync::Arc;

/// Everything a request handler or job needs, shared behind an `Arc`.
pub struct AppState {
    pub db: Db,
    pub config: ServeConfig,
    pub clock: Clock,
    pub keys: KeyCache,
    pub rps: RpsLimiter,
    pub apps: AppLabels,
    pub ip_limits: IpLimiter,
    /// Failed logins per account and per address.
    pub login_failures: FailureThrottle,
    pub mailer: Mailer,
    pub queue: IngestQueue,
}

pub type SharedState = Arc<AppState>;

impl AppState {
    /// Closes every database connection, the ingest writer's included.
    pub async fn close(&self) {
        self.queue.close().await;
        self.db.close().await;
    }
}
