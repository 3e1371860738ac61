//! SQLite backups as an operation: consistent snapshots (`VACUUM INTO`) into the
//! `backups` directory beside the database — before migrations and on
//! `BACKUP_CRON` — each kind keeping its newest few; and restoring a snapshot after
//! checking it. PostgreSQL is backed up with its own tools (docs/OPERATIONS.md).

use crate::domain::timeutil::format_rfc3339_ms;
use crate::error::{AppError, AppResult};
use crate::store::Db;
use std::path::{Path, PathBuf};

/// Snapshots the SQLite database into `dir` as `<name>-<UTC time>.db`, then removes
/// the oldest `<family>-*.db` beyond `keep`. `None` on PostgreSQL.
#[tracing::instrument(skip_all)]
pub async fn snapshot_into(
    db: &Db,
    dir: &Path,
    (family, name): (&str, &str),
    keep: usize,
    now_ms: i64,
) -> AppResult<Option<PathBuf>> {
    if !matches!(db, Db::Sqlite(_)) {
        return Ok(None);
    }
    std::fs::create_dir_all(dir)
        .map_err(|e| AppError::Internal(format!("cannot create {}: {e}", dir.display())))?;
    let stamp: String = format_rfc3339_ms(now_ms)
        .chars()
        .filter(|c| c.is_ascii_digit() || *c == 'T')
        .take(15)
        .collect();
    let mut file = dir.join(format!("{name}-{stamp}Z.db"));
    for n in 2.. {
        if !file.exists() {
            break;
        }
        file = dir.join(format!("{name}-{stamp}Z-{n}.db"));
    }
    db.backup_sqlite(&file).await?;
    prune(dir, family, keep);
    Ok(Some(file))
}

/// Removes the oldest `<prefix>-*.db` in `dir` beyond `keep`.
fn prune(dir: &Path, prefix: &str, keep: usize) {
    let start = format!("{prefix}-");
    let mut found: Vec<(std::time::SystemTime, PathBuf)> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| e.path())
                .filter(|p| {
                    p.file_name()
                        .and_then(|n| n.to_str())
                        .is_some_and(|n| n.starts_with(&start) && n.ends_with(".db"))
                })
                .filter_map(|p| Some((p.metadata().ok()?.modified().ok()?, p)))
                .collect()
        })
        .unwrap_or_default();
    found.sort();
    let excess = found.len().saturating_sub(keep);
    for (_, old) in found.into_iter().take(excess) {
        if let Err(e) = std::fs::remove_file(&old) {
            tracing::warn!(file = %old.display(), error = %e, "cannot remove an old backup");
        }
    }
}

/// The `backups` directory beside the SQLite file; `None` on PostgreSQL.
pub async fn backups_dir(db: &Db) -> AppResult<Option<PathBuf>> {
    Ok(db
        .sqlite_file()
        .await?
        .and_then(|f| f.path.parent().map(|p| p.join("backups"))))
}

/// The `BACKUP_CRON` run: a snapshot, the newest `keep` kept.
#[tracing::instrument(skip_all)]
pub async fn scheduled(db: &Db, keep: usize, now_ms: i64) -> AppResult<PathBuf> {
    let dir = backups_dir(db).await?.ok_or_else(|| {
        AppError::Conflict("scheduled backups are SQLite snapshots; use pg_dump".into())
    })?;
    let file = snapshot_into(db, &dir, ("scheduled", "scheduled"), keep, now_ms)
        .await?
        .expect("a SQLite database");
    tracing::info!(backup = %file.display(), "scheduled backup written");
    Ok(file)
}

/// What a restore did.
#[derive(Debug)]
pub struct Restored {
    pub database: PathBuf,
    /// Where the database it replaced went.
    pub replaced: Option<PathBuf>,
    pub users: i64,
}

/// Puts the snapshot `from` in place of the database in `data_dir`, after checking
/// that it is an intact Telemetry Tracker database this version can open. An
/// existing database is replaced only with `force` (the server must be stopped),
/// and is kept beside it.
#[tracing::instrument(skip_all)]
pub async fn restore(
    from: &Path,
    data_dir: &Path,
    force: bool,
    now_ms: i64,
) -> AppResult<Restored> {
    if !from.is_file() {
        return Err(AppError::invalid(
            "from",
            format!("{} is not a file", from.display()),
        ));
    }
    let snapshot = Db::open_sqlite_read_only(from).await.map_err(|e| {
        AppError::invalid(
            "from",
            format!("{} cannot be opened as SQLite: {e}", from.display()),
        )
    })?;
    let checked = check_snapshot(&snapshot, from).await;
    snapshot.close().await;
    let users = checked?;
    let target = data_dir.join("telemetry.db");
    let mut replaced = None;
    if target.exists() {
        if !force {
            return Err(AppError::Conflict(format!(
                "{} exists; stop the server and pass --force to replace it (it is kept beside, renamed)",
                target.display()
            )));
        }
        let stamp: String = format_rfc3339_ms(now_ms)
            .chars()
            .filter(|c| c.is_ascii_digit() || *c == 'T')
            .take(15)
            .collect();
        let aside = data_dir.join(format!("telemetry.db.before-restore-{stamp}Z"));
        move_file(&target, &aside)?;
        for suffix in ["-wal", "-shm"] {
            let side = data_dir.join(format!("telemetry.db{suffix}"));
            if side.exists() {
                move_file(
                    &side,
                    &data_dir.join(format!("telemetry.db.before-restore-{stamp}Z{suffix}")),
                )?;
            }
        }
        replaced = Some(aside);
    }
    std::fs::create_dir_all(data_dir)
        .map_err(|e| AppError::Internal(format!("cannot create {}: {e}", data_dir.display())))?;
    // Copied beside, then renamed: the database appears whole or not at all.
    let partial = data_dir.join("telemetry.db.restoring");
    std::fs::copy(from, &partial)
        .and_then(|_| std::fs::File::open(&partial)?.sync_all())
        .map_err(|e| AppError::Internal(format!("cannot copy {}: {e}", from.display())))?;
    move_file(&partial, &target)?;
    let _ = std::fs::write(
        data_dir.join(crate::store::sqlite_file::MARKER),
        "A Telemetry Tracker database lives in this directory (telemetry.db).\n",
    );
    Ok(Restored {
        database: target,
        replaced,
        users,
    })
}

/// An intact database of ours that this version can open: its user count.
async fn check_snapshot(snapshot: &Db, from: &Path) -> AppResult<i64> {
    let integrity = snapshot
        .integrity_check()
        .await
        .map_err(|e| {
            AppError::invalid(
                "from",
                format!("{} is not a SQLite database: {e}", from.display()),
            )
        })?
        .unwrap_or_default();
    if integrity != "ok" {
        return Err(AppError::invalid(
            "from",
            format!(
                "{} failed SQLite's integrity check: {integrity}",
                from.display()
            ),
        ));
    }
    let state = snapshot.schema_state().await?;
    if state.applied.is_empty() {
        return Err(AppError::invalid(
            "from",
            format!(
                "{} is not a Telemetry Tracker database (no migrations)",
                from.display()
            ),
        ));
    }
    if let Some(newer) = state.unknown.last() {
        return Err(AppError::Conflict(format!(
            "{} was written by a newer version (migration {:04}_{}); restore it with that version",
            from.display(),
            newer.version,
            newer.name.replace(' ', "_")
        )));
    }
    Ok(snapshot.count_users().await?)
}

fn move_file(from: &Path, to: &Path) -> AppResult<()> {
    std::fs::rename(from, to).map_err(|e| {
        AppError::Internal(format!(
            "cannot move {} to {}: {e}",
            from.display(),
            to.display()
        ))
    })
}
