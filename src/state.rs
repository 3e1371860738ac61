use crate::clock::Clock;
use crate::config::ServeConfig;
use crate::ingest::keys::KeyCache;
use crate::ingest::limits::{AppLabels, RpsLimiter};
use crate::ingest::pipeline::IngestQueue;
use crate::mail::Mailer;
use crate::ratelimit::{IpLimiter, LoginThrottle};
use crate::store::Db;
use std::sync::Arc;

/// Everything a request handler or job needs, shared behind an `Arc`.
pub struct AppState {
    pub db: Db,
    /// Names this process in job records and logs (`TELEMETRY_INSTANCE_ID`, else
    /// host and process id).
    pub instance: String,
    pub config: ServeConfig,
    pub clock: Clock,
    pub keys: KeyCache,
    pub rps: RpsLimiter,
    pub apps: AppLabels,
    pub ip_limits: IpLimiter,
    /// Failed sign-ins per account, address and pair of both.
    pub login_failures: LoginThrottle,
    pub mailer: Mailer,
    /// Outgoing mail, sent in the background.
    pub outbox: crate::mail::Outbox,
    pub queue: IngestQueue,
    /// Refused requests by reason, for `/metrics`.
    pub refusals: Arc<crate::http::refusals::Refusals>,
    /// The SQLite file the server opened (set when its watcher starts).
    pub database_file: std::sync::OnceLock<crate::store::sqlite_file::FileIdentity>,
    /// Set, for good, when that file was deleted or replaced while serving.
    pub database_lost: std::sync::atomic::AtomicBool,
    /// Sends webhook requests (SSRF-checked).
    pub webhooks: crate::webhook::WebhookClient,
    /// Calls Stripe; `None` when billing is off.
    pub stripe: Option<crate::stripe::StripeClient>,
    /// Artifact indexes and decoded source maps of this process.
    pub sourcemaps: crate::service::sourcemaps::SourceMaps,
    /// Sentry envelope items received, by type and outcome.
    pub sentry_items: crate::service::sentry::ItemCounts,
    /// Project ids by project number (numbers are never reused).
    pub sentry_projects: dashmap::DashMap<i64, String>,
    /// What the alert workers of this process share.
    pub alerts: Arc<crate::service::alert_watch::AlertWork>,
}

pub type SharedState = Arc<AppState>;

impl AppState {
    /// Closes every database connection, the ingest writer's included.
    pub async fn close(&self) {
        self.queue.close().await;
        self.outbox.flush().await;
        self.db.close().await;
    }
}
