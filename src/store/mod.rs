//! All SQL lives in this module tree: one file per aggregate. Nothing outside `store`
//! imports `sqlx`. The same SQL text serves both backends wherever the dialects agree;
//! where they differ the two variants sit side by side in the same function.

mod admin;
mod alerts;
mod api_keys;
mod array_write;
mod artifacts;
mod audit;
mod auth;
mod billing;
mod connect;
mod coordination;
mod direct_write;
mod errors;
mod events;
pub mod faults;
mod filters;
mod ingest_write;
mod invites;
mod job_runs;
mod limits;
mod members;
mod notifications;
mod orgs;
mod projects;
mod rollup_write;
mod rollups;
mod schema;
mod sessions;
pub mod sqlite_file;
mod tokens;
mod usage;
mod users;
mod webhooks;

pub use admin::{AdminUserRow, InstanceAudit, InstanceAuditRow, UserMembershipRow};
pub use alerts::{AlertRecipientRow, AlertRow, NewDelivery, SpikeRecord};
pub use api_keys::{ApiKeyAuthRow, ApiKeyRow, NewApiKey};
pub use artifacts::{ArtifactReleaseRow, ArtifactRow, ArtifactTotals, NewArtifact};
pub use audit::AuditRow;
pub use auth::{NewUserSession, SignOut, SignupRow, UserSessionRow};
pub use billing::{StripeEventOutcome, StripeEventRecord};
pub use coordination::{JobClaimRow, JobLock, SharedChanges};
pub use direct_write::DirectWriter;
pub use errors::{ErrorGroupRow, ErrorOccurrenceRow};
pub use events::{EventFilter, EventRow};
pub use filters::{Cursor, Scope};
pub use ingest_write::{
    ErrorOccurrenceWrite, EventWrite, IngestWrite, SessionState, SessionWrite, WriteItem,
    WriteOutcome, WriteSummary, WriterConnection,
};
pub use invites::InviteRow;
pub use job_runs::{JobRunRow, Retained};
pub use limits::{PropDay, RateLease};
pub use members::{MemberRow, MyOrgRow};
pub use notifications::NotificationRow;
pub use orgs::OrgRow;
pub use projects::{ProjectAccessRow, ProjectRow, UserProjectRow};
pub use rollup_write::{
    EventCountKey, EventRollups, Labels, NewLabel, NewPropKey, PropCountKey, VitalCountKey,
};
pub use rollups::{Counted, GroupDimension, GroupInRange, GroupListFilter, GroupOrder};
pub use schema::{MigrationRef, SchemaState};
pub use sessions::{SessionActivity, SessionFilter, SessionRow};
pub use tokens::{NewPersonalToken, TokenAuthRow, TokenRow};
pub use usage::OwnedUsageRow;
pub use users::UserRow;
pub use webhooks::{AttemptRecord, AttemptRow, DueDelivery, WebhookRow};

use sqlx::postgres::PgPool;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::ConnectOptions;
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

static SQLITE_MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// Statements slower than this are logged at info level (background WAL
/// checkpoints under heavy ingest routinely are, harmlessly).
const SLOW_STATEMENT: Duration = Duration::from_secs(1);

/// How long a SQLite connection waits for another's write lock.
const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(10);
/// Page cache per SQLite connection, in KiB (`PRAGMA cache_size` takes it negative).
const SQLITE_CACHE_KIB: u32 = 8192;
/// WAL size (pages) at which the ingest writer checkpoints after its commit.
const WRITER_CHECKPOINT_PAGES: u32 = 8192;
const WAL_SIZE_LIMIT_BYTES: u64 = 64 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("a row with the same unique key already exists")]
    Conflict,
    /// A fault that clears by itself (see `faults`): answered 503, retried.
    #[error("{}: {detail}", fault.describe())]
    Unavailable {
        fault: faults::Fault,
        detail: String,
    },
    #[error("database error: {0}")]
    Database(sqlx::Error),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("database error: {0}")]
    Direct(rusqlite::Error),
    #[error("{0}")]
    Configuration(String),
}

impl StoreError {
    /// Unique violations become `Conflict` so services can answer 409, and
    /// transient faults `Unavailable` so they answer 503, instead of 500.
    pub(crate) fn classify(err: sqlx::Error) -> StoreError {
        if let sqlx::Error::Database(db) = &err {
            if db.is_unique_violation() {
                return StoreError::Conflict;
            }
        }
        match faults::of_sqlx(&err) {
            Some(fault) => StoreError::Unavailable {
                fault,
                detail: err.to_string(),
            },
            None => StoreError::Database(err),
        }
    }

    /// The transient fault behind this error, if it is one.
    pub fn fault(&self) -> Option<faults::Fault> {
        match self {
            StoreError::Unavailable { fault, .. } => Some(*fault),
            _ => None,
        }
    }
}

pub type StoreResult<T> = Result<T, StoreError>;

pub use crate::config::{PoolSettings, SyncMode};

/// The database, SQLite or PostgreSQL, behind one handle. Each backend keeps its
/// native pool so bulk paths (multi-row inserts) stay fast.
#[derive(Clone, Debug)]
pub enum Db {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// Runs `$body` once per backend with `$pool` bound to that backend's pool, so SQL is
/// written once and type-checked against both drivers.
macro_rules! on_db {
    ($db:expr, |$pool:ident| $body:expr) => {
        match $db {
            $crate::store::Db::Sqlite($pool) => $body,
            $crate::store::Db::Postgres($pool) => $body,
        }
    };
}
pub(crate) use on_db;

impl Db {
    /// Opens the database named by `url`, or the default SQLite file in `data_dir`,
    /// with the default pool settings.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn connect(url: Option<&str>, data_dir: &Path, sync: SyncMode) -> StoreResult<Db> {
        Self::connect_with(url, data_dir, sync, &PoolSettings::default()).await
    }

    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn connect_with(
        url: Option<&str>,
        data_dir: &Path,
        sync: SyncMode,
        pool: &PoolSettings,
    ) -> StoreResult<Db> {
        match url {
            Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
                Ok(Db::Postgres(connect::postgres(url, pool).await?))
            }
            Some(url) => {
                let opts = SqliteConnectOptions::from_str(url)?;
                Self::open_sqlite(opts, sync, pool).await
            }
            None => {
                std::fs::create_dir_all(data_dir).map_err(|e| {
                    sqlx::Error::Configuration(
                        format!("cannot create data directory {}: {e}", data_dir.display()).into(),
                    )
                })?;
                let opts = SqliteConnectOptions::new().filename(data_dir.join("telemetry.db"));
                Self::open_sqlite(opts, sync, pool).await
            }
        }
    }

    async fn open_sqlite(
        opts: SqliteConnectOptions,
        sync: SyncMode,
        settings: &PoolSettings,
    ) -> StoreResult<Db> {
        let opts = opts
            .log_slow_statements(log::LevelFilter::Info, SLOW_STATEMENT)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(match sync {
                SyncMode::Normal => SqliteSynchronous::Normal,
                SyncMode::Full => SqliteSynchronous::Full,
            })
            .busy_timeout(SQLITE_BUSY_TIMEOUT)
            .foreign_keys(true)
            .pragma("cache_size", format!("-{SQLITE_CACHE_KIB}"))
            // Checkpoints run from a background task (`checkpoint`), and on the ingest
            // writer's connection once the WAL has grown (`for_writer`).
            .pragma("wal_autocheckpoint", "0")
            // A WAL that grew during a burst is cut back to this size once it restarts.
            .pragma("journal_size_limit", WAL_SIZE_LIMIT_BYTES.to_string())
            .pragma("temp_store", "memory");
        // The file is created here, at start-up, or never: a connection opened while
        // serving (the pool grows, a connection is replaced) must fail on a deleted
        // file rather than create an empty, unmigrated one.
        let in_memory = opts.get_filename().as_os_str().is_empty()
            || opts.get_filename().to_string_lossy().contains(":memory:")
            || opts
                .get_filename()
                .to_string_lossy()
                .starts_with("file::memory:");
        if !in_memory {
            use sqlx::Connection;
            sqlx::SqliteConnection::connect_with(&opts.clone().create_if_missing(true))
                .await?
                .close()
                .await?;
        }
        let opts = opts.create_if_missing(in_memory);
        let pool = SqlitePoolOptions::new()
            .max_connections(settings.max_connections.unwrap_or(8))
            .min_connections(settings.min_connections.max(1))
            .idle_timeout(settings.idle_timeout)
            .acquire_timeout(settings.acquire_timeout.max(SQLITE_BUSY_TIMEOUT))
            .connect_with(opts)
            .await?;
        Ok(Db::Sqlite(pool))
    }

    pub fn backend(&self) -> &'static str {
        match self {
            Db::Sqlite(_) => "sqlite",
            Db::Postgres(_) => "postgres",
        }
    }

    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn migrate(&self) -> StoreResult<()> {
        match self {
            Db::Sqlite(pool) => SQLITE_MIGRATOR.run(pool).await?,
            Db::Postgres(pool) => POSTGRES_MIGRATOR.run(pool).await?,
        }
        Ok(())
    }

    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn ping(&self) -> StoreResult<()> {
        on_db!(self, |pool| {
            sqlx::query("SELECT 1").execute(pool).await?;
        });
        Ok(())
    }

    /// A consistent snapshot of a SQLite database into `out` (`VACUUM INTO`).
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn backup_sqlite(&self, out: &Path) -> StoreResult<bool> {
        match self {
            Db::Sqlite(pool) => {
                sqlx::query("VACUUM INTO $1")
                    .bind(out.to_string_lossy().to_string())
                    .execute(pool)
                    .await?;
                Ok(true)
            }
            Db::Postgres(_) => Ok(false),
        }
    }

    /// The handle the ingest writer commits through. On SQLite it is a pool of one
    /// connection of its own: SQLite has one writer at a time anyway, and a single
    /// connection keeps its worker thread and page cache warm between commits.
    pub fn for_writer(&self) -> Db {
        match self {
            Db::Sqlite(pool) => {
                // The background checkpoints alone cannot keep the WAL bounded: under
                // steady ingest new frames arrive while they run, so it is never fully
                // copied back and never restarts. The writer's connections (this one
                // and `DirectWriter`) make nearly every write, so a checkpoint they run
                // between their own commits completes, and the next commit starts the
                // WAL over. Most pages are copied by then.
                let opts = (*pool.connect_options())
                    .clone()
                    .pragma("wal_autocheckpoint", WRITER_CHECKPOINT_PAGES.to_string());
                Db::Sqlite(
                    SqlitePoolOptions::new()
                        .max_connections(1)
                        .acquire_timeout(Duration::from_secs(10))
                        // Each commit would otherwise first ping the connection's
                        // worker thread: a second round trip for nothing.
                        .test_before_acquire(false)
                        .connect_lazy_with(opts),
                )
            }
            Db::Postgres(_) => self.clone(),
        }
    }

    /// Moves committed WAL pages into the SQLite database file without blocking the
    /// writer (PASSIVE), so the WAL stays small. A no-op on PostgreSQL.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn checkpoint(&self) -> StoreResult<()> {
        if let Db::Sqlite(pool) = self {
            sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
                .execute(pool)
                .await?;
        }
        Ok(())
    }

    /// Refreshes the statistics the query planner uses: SQLite's `PRAGMA optimize`
    /// (it only analyzes what changed a lot), PostgreSQL's `ANALYZE` (autovacuum does
    /// it too, where it is on). Also makes cached plans of grown tables be redone.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn optimize(&self) -> StoreResult<()> {
        let sql = match self {
            Db::Sqlite(_) => "PRAGMA optimize",
            Db::Postgres(_) => "ANALYZE",
        };
        on_db!(self, |pool| {
            sqlx::query(sql).execute(pool).await?;
        });
        Ok(())
    }

    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn close(&self) {
        on_db!(self, |pool| pool.close().await)
    }

    pub fn is_closed(&self) -> bool {
        on_db!(self, |pool| pool.is_closed())
    }
}
