//! Release artifacts (minified files, source maps, sources), stored compressed,
//! and the counts of frames each one mapped.

use super::audit::{audited, AuditRow};
use super::coordination::BUMP_CACHE_GENERATION;
use super::{on_db, Db, StoreResult};

/// An artifact without its content.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ArtifactRow {
    pub id: String,
    pub project_id: String,
    pub release: String,
    pub name: String,
    pub kind: String,
    pub size: i64,
    pub stored_size: i64,
    pub debug_id: Option<String>,
    pub sourcemap: Option<String>,
    pub has_sources_content: Option<i64>,
    pub created_at: i64,
    pub frames_mapped: i64,
    pub frames_failed: i64,
}

/// A file to store: its row and its compressed content.
#[derive(Debug, Clone)]
pub struct NewArtifact {
    pub row: ArtifactRow,
    pub content: Vec<u8>,
}

/// One release's artifacts in sum.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ArtifactReleaseRow {
    pub release: String,
    pub artifacts: i64,
    pub bytes: i64,
    pub frames_mapped: i64,
    pub frames_failed: i64,
    pub last_upload: i64,
}

/// Artifacts of all projects, for `/metrics`.
#[derive(Debug, Clone, Default, sqlx::FromRow)]
pub struct ArtifactTotals {
    pub artifacts: i64,
    pub bytes: i64,
    pub stored_bytes: i64,
}

const COLUMNS: &str =
    "id, project_id, release, name, kind, size, stored_size, debug_id, sourcemap, \
     has_sources_content, created_at, frames_mapped, frames_failed";

/// How many artifacts a project's index holds at most (the newest).
const INDEX_LIMIT: i64 = 20_000;

impl Db {
    /// Stores `files` in the release, replacing files of the same names, unless the
    /// release would then hold more than `max_release_bytes` (uncompressed): then
    /// nothing is stored and `Err` carries the size it would have reached.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn insert_artifacts(
        &self,
        project_id: &str,
        release: &str,
        files: &[NewArtifact],
        max_release_bytes: i64,
        audit: &[AuditRow],
    ) -> StoreResult<Result<(), i64>> {
        audited!(self, audit, |tx| {
            let kept: Vec<(String, i64)> = sqlx::query_as(
                "SELECT name, size FROM release_artifacts WHERE project_id = $1 AND release = $2",
            )
            .bind(project_id)
            .bind(release)
            .fetch_all(&mut *tx)
            .await?;
            let replaced = |name: &str| files.iter().any(|f| f.row.name == name);
            let total = kept
                .iter()
                .filter(|(name, _)| !replaced(name))
                .map(|(_, size)| size)
                .sum::<i64>()
                + files.iter().map(|f| f.row.size).sum::<i64>();
            if total > max_release_bytes {
                Err(total)
            } else {
                for f in files {
                    let r = &f.row;
                    sqlx::query(
                        "DELETE FROM release_artifacts WHERE project_id = $1 AND release = $2 AND name = $3",
                    )
                    .bind(project_id)
                    .bind(release)
                    .bind(&r.name)
                    .execute(&mut *tx)
                    .await?;
                    sqlx::query(
                        "INSERT INTO release_artifacts (id, project_id, release, name, kind, size, stored_size,
                             debug_id, sourcemap, has_sources_content, content, created_at)
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
                    )
                    .bind(&r.id)
                    .bind(project_id)
                    .bind(release)
                    .bind(&r.name)
                    .bind(&r.kind)
                    .bind(r.size)
                    .bind(r.stored_size)
                    .bind(&r.debug_id)
                    .bind(&r.sourcemap)
                    .bind(r.has_sources_content)
                    .bind(&f.content)
                    .bind(r.created_at)
                    .execute(&mut *tx)
                    .await?;
                }
                // Every process drops its index of the project's artifacts.
                sqlx::query(BUMP_CACHE_GENERATION).execute(&mut *tx).await?;
                Ok(())
            }
        })
    }

    /// A release's artifacts by name.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn release_artifacts(
        &self,
        project_id: &str,
        release: &str,
    ) -> StoreResult<Vec<ArtifactRow>> {
        on_db!(self, |pool| Ok(sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM release_artifacts
             WHERE project_id = $1 AND release = $2 ORDER BY name"
        ))
        .bind(project_id)
        .bind(release)
        .fetch_all(pool)
        .await?))
    }

    /// The project's releases that have artifacts, most recently uploaded first.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn artifact_releases(
        &self,
        project_id: &str,
    ) -> StoreResult<Vec<ArtifactReleaseRow>> {
        on_db!(self, |pool| Ok(sqlx::query_as(
            "SELECT release, CAST(COUNT(*) AS BIGINT) AS artifacts,
                    CAST(SUM(size) AS BIGINT) AS bytes,
                    CAST(SUM(frames_mapped) AS BIGINT) AS frames_mapped,
                    CAST(SUM(frames_failed) AS BIGINT) AS frames_failed,
                    CAST(MAX(created_at) AS BIGINT) AS last_upload
             FROM release_artifacts WHERE project_id = $1
             GROUP BY release ORDER BY last_upload DESC, release LIMIT 200"
        )
        .bind(project_id)
        .fetch_all(pool)
        .await?))
    }

    /// Every artifact of the project (without content), newest first: what the
    /// mapping index of a project is built from.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn project_artifacts(&self, project_id: &str) -> StoreResult<Vec<ArtifactRow>> {
        on_db!(self, |pool| Ok(sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM release_artifacts
             WHERE project_id = $1 ORDER BY created_at DESC, id LIMIT $2"
        ))
        .bind(project_id)
        .bind(INDEX_LIMIT)
        .fetch_all(pool)
        .await?))
    }

    /// The compressed content of one artifact.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn artifact_content(
        &self,
        project_id: &str,
        id: &str,
    ) -> StoreResult<Option<Vec<u8>>> {
        on_db!(self, |pool| Ok(sqlx::query_scalar(
            "SELECT content FROM release_artifacts WHERE project_id = $1 AND id = $2"
        )
        .bind(project_id)
        .bind(id)
        .fetch_optional(pool)
        .await?))
    }

    /// Deletes one artifact of the release, or all of them (`id` `None`).
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn delete_artifacts(
        &self,
        project_id: &str,
        release: &str,
        id: Option<&str>,
        audit: &[AuditRow],
    ) -> StoreResult<u64> {
        audited!(self, audit, |tx| {
            let deleted = sqlx::query(
                "DELETE FROM release_artifacts
                 WHERE project_id = $1 AND release = $2 AND ($3 IS NULL OR id = $3)",
            )
            .bind(project_id)
            .bind(release)
            .bind(id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if deleted > 0 {
                sqlx::query(BUMP_CACHE_GENERATION).execute(&mut *tx).await?;
            }
            deleted
        })
    }

    /// Adds frames mapped and failed to each artifact's counts.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn add_frame_counts(&self, counts: &[(String, i64, i64)]) -> StoreResult<()> {
        on_db!(self, |pool| {
            let mut tx = pool.begin().await?;
            for (id, mapped, failed) in counts {
                sqlx::query(
                    "UPDATE release_artifacts
                     SET frames_mapped = frames_mapped + $2, frames_failed = frames_failed + $3
                     WHERE id = $1",
                )
                .bind(id)
                .bind(mapped)
                .bind(failed)
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
        });
        Ok(())
    }

    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn artifact_totals(&self) -> StoreResult<ArtifactTotals> {
        on_db!(self, |pool| Ok(sqlx::query_as(
            "SELECT CAST(COUNT(*) AS BIGINT) AS artifacts,
                    CAST(COALESCE(SUM(size), 0) AS BIGINT) AS bytes,
                    CAST(COALESCE(SUM(stored_size), 0) AS BIGINT) AS stored_bytes
             FROM release_artifacts"
        )
        .fetch_one(pool)
        .await?))
    }

    /// Deletes the artifacts of the project's releases that were uploaded before
    /// `cutoff` and have had no event, error or session since.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn delete_stale_artifacts(&self, project_id: &str, cutoff: i64) -> StoreResult<u64> {
        on_db!(self, |pool| {
            let mut tx = pool.begin().await?;
            let deleted = sqlx::query(
                "DELETE FROM release_artifacts
                 WHERE project_id = $1 AND created_at < $2
                   AND release NOT IN (SELECT DISTINCT release FROM release_artifacts
                                       WHERE project_id = $1 AND created_at >= $2)
                   AND NOT EXISTS (SELECT 1 FROM error_occurrences o
                                   WHERE o.project_id = $1 AND o.release = release_artifacts.release
                                     AND o.timestamp >= $2)
                   AND NOT EXISTS (SELECT 1 FROM rollup_events_daily e
                                   WHERE e.project_id = $1 AND e.release = release_artifacts.release
                                     AND e.bucket >= $2)
                   AND NOT EXISTS (SELECT 1 FROM rollup_sessions_daily s
                                   WHERE s.project_id = $1 AND s.release = release_artifacts.release
                                     AND s.bucket >= $2)",
            )
            .bind(project_id)
            .bind(cutoff)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if deleted > 0 {
                sqlx::query(BUMP_CACHE_GENERATION).execute(&mut *tx).await?;
            }
            tx.commit().await?;
            Ok(deleted)
        })
    }
}
