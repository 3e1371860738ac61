//! Telemetry Tracker: error tracking, product-analytics events and session telemetry
//! in one binary.

pub mod api;
pub mod cli;
pub mod clock;
pub mod config;
pub mod domain;
pub mod error;
pub mod http;
pub mod ingest;
pub mod jobs;
pub mod mail;
pub mod ratelimit;
pub mod server;
pub mod service;
pub mod state;
pub mod store;
pub mod stripe;
pub mod web;
pub mod webhook;

use crate::clock::Clock;
use crate::config::{DbConfig, LogFormat, ServeConfig};
use crate::ingest::pipeline::{IngestQueue, WriterSettings};
use crate::state::{AppState, SharedState};
use std::sync::Arc;
use std::time::Duration;

pub fn init_tracing(json: bool, default_level: &str) {
    // The scheduler narrates its own start-up at INFO; the jobs log one line each.
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new(format!("{default_level},tokio_cron_scheduler=warn"))
    });
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = if json {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}

/// Builds the shared state on an open, migrated database and starts the writer.
pub fn build_state(
    db: store::Db,
    config: ServeConfig,
    clock: Clock,
    mailer: mail::Mailer,
) -> SharedState {
    let outbox = mail::Outbox::start(mailer.clone());
    let alerts = Arc::new(service::alert_watch::AlertWork::default());
    let after_commit = alerts.clone();
    let queue = IngestQueue::start(
        db.clone(),
        clock.clone(),
        WriterSettings {
            capacity: config.ingest_queue_capacity,
            max_bytes: config.ingest_queue_max_mb as usize * 1024 * 1024,
            group_max: config.ingest_group_max,
            group_wait: Duration::from_millis(config.ingest_group_wait_ms),
        },
        Arc::new(move |summary: store::WriteSummary| {
            for (project, group) in &summary.new_groups {
                tracing::info!(%project, %group, "new error group");
            }
            for (project, group) in &summary.regressed_groups {
                tracing::warn!(%project, %group, "resolved error group occurred again (regression)");
            }
            // Their alerts are in the outbox already; the workers take it from here.
            after_commit.on_commit(&summary);
        }),
    );
    let instance = config.instance_id.clone().unwrap_or_else(default_instance);
    let config_allow_private = config.webhook_allow_private;
    let sourcemaps = service::sourcemaps::SourceMaps::new(config.sourcemaps.clone());
    let stripe = config.stripe.billing().map(stripe::StripeClient::new);
    let state = Arc::new(AppState {
        db,
        instance,
        config,
        clock,
        keys: Default::default(),
        rps: Default::default(),
        apps: Default::default(),
        ip_limits: Default::default(),
        login_failures: Default::default(),
        mailer,
        outbox,
        queue,
        refusals: Default::default(),
        database_file: Default::default(),
        database_lost: Default::default(),
        webhooks: webhook::WebhookClient::new(config_allow_private),
        stripe,
        sourcemaps,
        sentry_items: Default::default(),
        sentry_projects: Default::default(),
        alerts,
    });
    jobs::alerts::spawn(state.clone());
    state
}

/// `host:pid`, unique among the processes of a deployment.
pub fn default_instance() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into());
    format!("{host}:{}", std::process::id())
}

/// `serve`: validate settings, open and migrate the database, start jobs, serve.
pub async fn run_server(db_cfg: DbConfig, config: ServeConfig) -> anyhow::Result<()> {
    init_tracing(config.log_format == LogFormat::Json, "info");
    let problems = config.problems();
    if !problems.is_empty() {
        anyhow::bail!("invalid settings:\n  {}", problems.join("\n  "));
    }
    let mailer = mail::Mailer::from_config(
        config.smtp_url.as_deref().filter(|u| !u.trim().is_empty()),
        &config.email_from,
    )?;
    let db = cli::open_db(&db_cfg).await?;
    if config.backup_schedule().is_some() && matches!(db, store::Db::Postgres(_)) {
        anyhow::bail!(
            "BACKUP_CRON takes SQLite snapshots; on PostgreSQL schedule pg_dump instead (docs/OPERATIONS.md)"
        );
    }
    let state = build_state(db, config, Clock::default(), mailer);
    let _scheduler = jobs::start(state.clone()).await?;
    server::serve(state.clone()).await?;
    state.close().await;
    Ok(())
}
