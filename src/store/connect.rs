//! Opening PostgreSQL: the pool's size and timeouts as settings, and a start-up
//! that waits for a database still coming up, saying each time why it could not
//! connect (refused, authentication, too many clients, unknown database).

use super::{StoreError, StoreResult, SLOW_STATEMENT};
use crate::config::PoolSettings;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPool, PgPoolOptions};
use sqlx::{ConnectOptions, Connection};
use std::str::FromStr;
use std::time::{Duration, Instant};

const POSTGRES_DEFAULT_MAX_CONNECTIONS: u32 = 16;

/// Opens the pool once PostgreSQL accepts a connection, retrying with backoff for
/// `connect_wait`; then fails with the cause of the last attempt.
#[tracing::instrument(level = "debug", skip_all)]
pub(super) async fn postgres(url: &str, s: &PoolSettings) -> StoreResult<PgPool> {
    let mut opts = PgConnectOptions::from_str(url)?
        .log_slow_statements(log::LevelFilter::Info, SLOW_STATEMENT);
    if s.pgbouncer {
        // PgBouncer hands each transaction any server connection and refuses unknown
        // start-up parameters; it carries the driver's prepared statements across
        // them itself (`max_prepared_statements`), so none are cached here.
        opts = opts.statement_cache_capacity(0);
    } else {
        // Counting distinct users over a year of roll-ups hashes or sorts a few
        // hundred thousand keys; the default 4 MB spills to disk. (These start-up
        // options also mark the pool as one whose sessions keep settings:
        // `sessions_keep_settings`.)
        opts = opts.options([("work_mem", "32MB")]);
    }
    let started = Instant::now();
    let mut delay = Duration::from_millis(250);
    loop {
        // One plain connection first: a pool reports every failure as a timeout.
        match PgConnection::connect_with(&opts).await {
            Ok(conn) => {
                let _ = conn.close().await;
                break;
            }
            Err(e) => {
                let cause = connect_cause(&e);
                if started.elapsed() + delay > s.connect_wait {
                    return Err(StoreError::Configuration(format!(
                        "cannot connect to PostgreSQL after {} s: {cause}",
                        started.elapsed().as_secs()
                    )));
                }
                tracing::warn!(%cause, retry_in_ms = delay.as_millis() as u64, "waiting for PostgreSQL");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(5));
            }
        }
    }
    Ok(PgPoolOptions::new()
        .max_connections(
            s.max_connections
                .unwrap_or(POSTGRES_DEFAULT_MAX_CONNECTIONS),
        )
        .min_connections(s.min_connections)
        .idle_timeout(s.idle_timeout)
        .acquire_timeout(s.acquire_timeout)
        .connect_with(opts)
        .await?)
}

/// Whether the pool's sessions may carry settings of their own (the ingest writer's
/// timeouts): not behind PgBouncer, whose transaction mode hands each transaction
/// any server connection — exactly the pools `postgres` gives start-up options.
pub(super) fn sessions_keep_settings(pool: &PgPool) -> bool {
    pool.connect_options().get_options().is_some()
}

/// Why a connection attempt failed, in the words an operator searches for.
fn connect_cause(e: &sqlx::Error) -> String {
    match e {
        sqlx::Error::Io(io) if io.kind() == std::io::ErrorKind::ConnectionRefused => {
            "connection refused (is PostgreSQL running, on this host and port?)".into()
        }
        sqlx::Error::Io(io) => format!("network error: {io}"),
        sqlx::Error::Database(db) => match db.code().as_deref() {
            Some("28P01") | Some("28000") => format!("authentication failed: {}", db.message()),
            Some("53300") => {
                "too many clients already (raise max_connections or lower DATABASE_MAX_CONNECTIONS)"
                    .into()
            }
            Some("3D000") => format!("unknown database: {}", db.message()),
            Some("57P03") => "the database is starting up".into(),
            _ => db.message().to_string(),
        },
        other => other.to_string(),
    }
}
