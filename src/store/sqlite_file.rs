//! The SQLite file as the running server knows it. It is created only at start-up
//! (connections opened later never create one), and it is watched: deleted or
//! replaced under a running server, it is a fault to report, not a fresh install.

use super::faults::Fault;
use super::{Db, StoreResult};
use std::path::{Path, PathBuf};

/// The file a database was opened on: its path and, on Unix, its device and inode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileIdentity {
    pub path: PathBuf,
    id: (u64, u64),
}

impl FileIdentity {
    pub fn of(path: &Path) -> std::io::Result<FileIdentity> {
        let meta = std::fs::metadata(path)?;
        Ok(FileIdentity {
            path: path.to_path_buf(),
            id: identity(&meta),
        })
    }

    /// Whether the path still names the file that was opened.
    pub fn check(&self) -> Result<(), Fault> {
        match std::fs::metadata(&self.path) {
            Ok(meta) if identity(&meta) == self.id => Ok(()),
            _ => Err(Fault::Missing),
        }
    }
}

#[cfg(unix)]
fn identity(meta: &std::fs::Metadata) -> (u64, u64) {
    use std::os::unix::fs::MetadataExt;
    (meta.dev(), meta.ino())
}

#[cfg(not(unix))]
fn identity(meta: &std::fs::Metadata) -> (u64, u64) {
    (meta.len(), 0)
}

impl Db {
    /// The SQLite file behind the pool; `None` on PostgreSQL and in memory.
    pub async fn sqlite_file(&self) -> StoreResult<Option<FileIdentity>> {
        let Db::Sqlite(pool) = self else {
            return Ok(None);
        };
        let file = main_file(pool).await?;
        if file.is_empty() {
            return Ok(None);
        }
        Ok(FileIdentity::of(Path::new(&file)).ok())
    }
}

/// The path of the pool's database file ("" in memory).
pub(super) async fn main_file(pool: &sqlx::SqlitePool) -> StoreResult<String> {
    Ok(
        sqlx::query_scalar("SELECT file FROM pragma_database_list WHERE name = 'main'")
            .fetch_one(pool)
            .await?,
    )
}

/// Left in the data directory once a database was created there, so that a missing
/// database file is told apart from a first start.
pub const MARKER: &str = ".telemetry-tracker";

/// Why start-up must not create `file`: it is missing, but its data directory shows
/// a database lived there (the marker, or a WAL or shared-memory file left behind).
pub fn missing_database(file: &Path) -> Option<String> {
    if file.exists() {
        return None;
    }
    let dir = file.parent()?;
    let name = file.file_name()?.to_string_lossy().to_string();
    let evidence: Vec<String> = [
        MARKER.to_string(),
        format!("{name}-wal"),
        format!("{name}-shm"),
    ]
    .into_iter()
    .filter(|f| dir.join(f).exists())
    .collect();
    (!evidence.is_empty()).then(|| evidence.join(", "))
}

impl Db {
    /// Opens a SQLite file read-only (a backup to check before restoring it).
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn open_sqlite_read_only(path: &Path) -> StoreResult<Db> {
        let options = sqlx::sqlite::SqliteConnectOptions::new()
            .filename(path)
            .read_only(true)
            .create_if_missing(false);
        Ok(Db::Sqlite(
            sqlx::sqlite::SqlitePoolOptions::new()
                .max_connections(1)
                .connect_with(options)
                .await?,
        ))
    }

    /// SQLite's own check of every page and index: "ok", or what is wrong.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn integrity_check(&self) -> StoreResult<Option<String>> {
        let Db::Sqlite(pool) = self else {
            return Ok(None);
        };
        let answers: Vec<String> = sqlx::query_scalar("PRAGMA integrity_check")
            .fetch_all(pool)
            .await?;
        Ok(Some(answers.join("; ")))
    }
}
