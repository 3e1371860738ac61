//! Upgrades that are safe by construction: before this binary migrates a database,
//! it refuses one written by a newer version (a downgrade), takes a consistent
//! backup of an existing SQLite database (`<data dir>/backups/pre-<version>-<time>.db`,
//! the last three kept), and on PostgreSQL names the `pg_dump` to run first and
//! asks for `--yes` before a migration that rewrites large tables.

use crate::error::{AppError, AppResult};
use crate::store::{Db, MigrationRef};
use std::path::{Path, PathBuf};

/// Pre-migration backups kept in `<data dir>/backups`.
pub const BACKUPS_KEPT: usize = 3;

/// A migration whose SQL carries this line rewrites tables that can be large; on
/// PostgreSQL it runs only with `--yes`.
pub const REWRITES_LARGE_TABLES: &str = "-- telemetry-tracker: rewrites large tables";

const VERSION: &str = env!("CARGO_PKG_VERSION");

pub struct Options<'a> {
    pub data_dir: &'a Path,
    /// `--no-backup`.
    pub backup: bool,
    /// `--yes`.
    pub confirmed: bool,
    pub now_ms: i64,
}

#[derive(Debug, Default)]
pub struct Migrated {
    /// Migrations applied now.
    pub applied: Vec<String>,
    /// The backup taken before them.
    pub backup: Option<PathBuf>,
}

fn named(m: &MigrationRef) -> String {
    format!("{:04}_{}", m.version, m.name.replace(' ', "_"))
}

/// Checks, backs up and migrates; a refusal says why and what to do.
#[tracing::instrument(skip_all)]
pub async fn migrate(db: &Db, options: &Options<'_>) -> AppResult<Migrated> {
    let state = db.schema_state().await?;
    if let Some(newest) = state.unknown.last() {
        let by = state
            .last_version
            .as_deref()
            .filter(|v| *v != VERSION)
            .map_or_else(
                || "a newer version of Telemetry Tracker".to_string(),
                |v| format!("Telemetry Tracker {v}"),
            );
        return Err(AppError::Conflict(format!(
            "this database was written by {by} (it has migration {}, which {VERSION} does not know); \
             run that version or a later one, or restore the backup taken before the upgrade \
             (docs/UPGRADING.md)",
            named(newest)
        )));
    }
    let existing = !state.applied.is_empty();
    let mut migrated = Migrated {
        applied: state.pending.iter().map(named).collect(),
        backup: None,
    };
    if existing && !state.pending.is_empty() {
        match db {
            Db::Sqlite(_) if options.backup => {
                migrated.backup = Some(backup_before(db, options).await?);
            }
            Db::Sqlite(_) => {
                tracing::warn!("migrating without a backup (--no-backup)");
            }
            Db::Postgres(_) => {
                tracing::warn!(
                    pending = %migrated.applied.join(", "),
                    "migrations pending; to be able to go back, stop every process and run \
                     `pg_dump --format=custom --file=telemetry-before-{VERSION}.dump \"$DATABASE_URL\"` first \
                     (docs/UPGRADING.md)"
                );
                let heavy: Vec<String> = state
                    .pending
                    .iter()
                    .filter(|m| m.sql.contains(REWRITES_LARGE_TABLES))
                    .map(named)
                    .collect();
                if !heavy.is_empty() && !options.confirmed {
                    return Err(AppError::Conflict(format!(
                        "migration {} rewrites large tables and can take long with every process stopped; \
                         take a pg_dump first, then run `telemetry-tracker migrate --yes`",
                        heavy.join(", ")
                    )));
                }
            }
        }
    }
    db.migrate().await?;
    // Best effort, and only when something changed: a read-only database (a fault
    // the server reports itself) must still open.
    if !migrated.applied.is_empty() || state.last_version.as_deref() != Some(VERSION) {
        if let Err(e) = db.record_app_version(VERSION, options.now_ms).await {
            tracing::warn!(error = %e, "cannot record this version in the database");
        }
    }
    if !migrated.applied.is_empty() {
        tracing::info!(applied = %migrated.applied.join(", "), "database migrated");
    }
    Ok(migrated)
}

/// A snapshot in `<data dir>/backups`, the newest [`BACKUPS_KEPT`] kept.
async fn backup_before(db: &Db, options: &Options<'_>) -> AppResult<PathBuf> {
    let dir = options.data_dir.join("backups");
    let file = super::backups::snapshot_into(
        db,
        &dir,
        ("pre", &format!("pre-{VERSION}")),
        BACKUPS_KEPT,
        options.now_ms,
    )
    .await?
    .ok_or_else(|| AppError::Internal("backups are SQLite snapshots".into()))?;
    tracing::info!(backup = %file.display(), "database backed up before migrating");
    Ok(file)
}
