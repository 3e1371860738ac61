//! Uploading, listing and deleting a release's artifacts.

use crate::config::SourcemapSettings;
use crate::domain::ids::new_id;
use crate::domain::rbac::Action;
use crate::domain::sourcemaps::{artifact_name, inspect, url_prefix};
use crate::error::{AppError, AppResult};
use crate::service::orgs::{entry, require_project};
use crate::service::principal::{Principal, RequestMeta};
use crate::state::AppState;
use crate::store::{ArtifactReleaseRow, ArtifactRow, AuditRow, Db, NewArtifact};
use std::io::Write;

/// Longest release name (as ingest accepts it).
const MAX_RELEASE: usize = 200;
/// Files per upload.
pub const MAX_FILES: usize = 1000;

/// One uploaded file: its URL path (the multipart part's filename) and bytes.
pub struct UploadFile {
    pub filename: String,
    pub bytes: Vec<u8>,
}

/// What an upload stored, and what the uploader should know about it.
pub struct Uploaded {
    pub artifacts: Vec<ArtifactRow>,
    pub warnings: Vec<String>,
}

/// Stores files of a release for a user with EDITOR or OWNER rights.
#[tracing::instrument(level = "debug", skip_all, fields(project = %project_id))]
pub async fn upload(
    state: &AppState,
    who: &Principal,
    project_id: &str,
    release: &str,
    prefix: Option<&str>,
    files: Vec<UploadFile>,
    meta: &RequestMeta,
) -> AppResult<Uploaded> {
    let project = require_project(state, who, project_id, Action::Edit).await?;
    let audit = entry(
        state,
        &project.org_id,
        who,
        meta,
        "artifacts.upload",
        Some(project_id),
        Some(serde_json::json!({ "release": release, "files": files.len() })),
    );
    let uploaded = store(
        &state.db,
        &state.config.sourcemaps,
        state.clock.now_ms(),
        project_id,
        release,
        prefix,
        files,
        &[audit],
    )
    .await?;
    // Other processes drop theirs when they see the cache generation move.
    state.sourcemaps.forget_indexes();
    Ok(uploaded)
}

/// Checks, compresses and stores files (the API's and the CLI's path).
#[allow(clippy::too_many_arguments)]
#[tracing::instrument(level = "debug", skip_all, fields(project = %project_id))]
pub async fn store(
    db: &Db,
    settings: &SourcemapSettings,
    now: i64,
    project_id: &str,
    release: &str,
    prefix: Option<&str>,
    files: Vec<UploadFile>,
    audit: &[AuditRow],
) -> AppResult<Uploaded> {
    let release = release_name(release)?;
    let prefix = url_prefix(prefix).map_err(|m| AppError::invalid("url_prefix", m))?;
    if files.is_empty() {
        return Err(AppError::invalid(
            "file",
            "send at least one file part (its filename is the file's URL path)",
        ));
    }
    if files.len() > MAX_FILES {
        return Err(AppError::invalid(
            "file",
            format!("at most {MAX_FILES} files per upload; split the upload"),
        ));
    }
    let max_file = settings.max_file_bytes();
    let mut prepared = Vec::with_capacity(files.len());
    let mut warnings = Vec::new();
    for file in files {
        let name =
            artifact_name(&prefix, &file.filename).map_err(|m| AppError::invalid("file", m))?;
        if prepared.iter().any(|p: &NewArtifact| p.row.name == name) {
            return Err(AppError::invalid("file", format!("`{name}` is sent twice")));
        }
        if file.bytes.len() as u64 > max_file {
            return Err(AppError::PayloadTooLarge {
                message: format!(
                    "`{}` is {} bytes; files may be at most {} MiB (TELEMETRY_SOURCEMAP_MAX_FILE_MB)",
                    file.filename,
                    file.bytes.len(),
                    settings.sourcemap_max_file_mb
                ),
                limit: max_file,
            });
        }
        let mut prepared_file = tokio::task::spawn_blocking(move || prepare(name, file.bytes, now))
            .await
            .map_err(|e| AppError::Internal(e.to_string()))??;
        prepared_file.row.project_id = project_id.to_string();
        prepared_file.row.release = release.clone();
        if prepared_file.row.has_sources_content == Some(0) {
            warnings.push(format!(
                "`{}` has no sourcesContent: frames map, but without source context",
                prepared_file.row.name
            ));
        }
        prepared.push(prepared_file);
    }
    for p in prepared.iter().filter(|p| p.row.kind == "minified") {
        if p.row.sourcemap.is_none()
            && p.row.debug_id.is_none()
            && !prepared
                .iter()
                .any(|m| m.row.name == format!("{}.map", p.row.name))
        {
            warnings.push(format!(
                "`{}` has no sourceMappingURL and no debug id; its frames map only through `{}.map`",
                p.row.name, p.row.name
            ));
        }
    }
    let max_release = settings.max_release_bytes();
    let outcome = db
        .insert_artifacts(project_id, &release, &prepared, max_release as i64, audit)
        .await?;
    if let Err(total) = outcome {
        return Err(AppError::PayloadTooLarge {
            message: format!(
                "release `{release}` would hold {total} bytes of artifacts; a release may hold at most {} MiB (TELEMETRY_SOURCEMAP_MAX_RELEASE_MB); delete old files first",
                settings.sourcemap_max_release_mb
            ),
            limit: max_release,
        });
    }
    Ok(Uploaded {
        artifacts: prepared.into_iter().map(|p| p.row).collect(),
        warnings,
    })
}

/// Recognises and compresses one file.
fn prepare(name: String, bytes: Vec<u8>, now: i64) -> AppResult<NewArtifact> {
    let inspected =
        inspect(&name, &bytes).map_err(|m| AppError::invalid("file", format!("`{name}` {m}")))?;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&bytes)
        .and_then(|_| gz.finish())
        .map(|content| NewArtifact {
            row: ArtifactRow {
                id: new_id(),
                project_id: String::new(),
                release: String::new(),
                name,
                kind: inspected.kind.as_str().to_string(),
                size: bytes.len() as i64,
                stored_size: content.len() as i64,
                debug_id: inspected.debug_id,
                sourcemap: inspected.sourcemap.map(|s| shorten_data_url(&s)),
                has_sources_content: inspected.has_sources_content.map(i64::from),
                created_at: now,
                frames_mapped: 0,
                frames_failed: 0,
            },
            content,
        })
        .map_err(|e| AppError::Internal(format!("compressing an artifact: {e}")))
}

/// An inline `data:` map is kept in the script; the row only says it is there.
fn shorten_data_url(reference: &str) -> String {
    if reference.starts_with("data:") {
        reference
            .split_once(',')
            .map(|(meta, _)| format!("{meta},…"))
            .unwrap_or_else(|| "data:…".into())
    } else {
        reference.to_string()
    }
}

fn release_name(release: &str) -> AppResult<String> {
    let release = release.trim();
    if release.is_empty() || release.len() > MAX_RELEASE || release.chars().any(char::is_control) {
        return Err(AppError::invalid(
            "release",
            format!("the release must be 1–{MAX_RELEASE} characters without control characters"),
        ));
    }
    Ok(release.to_string())
}

/// The release's artifacts (any member of the project's organization).
#[tracing::instrument(level = "debug", skip_all, fields(project = %project_id))]
pub async fn list(
    state: &AppState,
    who: &Principal,
    project_id: &str,
    release: &str,
) -> AppResult<Vec<ArtifactRow>> {
    require_project(state, who, project_id, Action::Read).await?;
    Ok(state
        .db
        .release_artifacts(project_id, &release_name(release)?)
        .await?)
}

/// The project's releases with artifacts, newest upload first (any member).
#[tracing::instrument(level = "debug", skip_all, fields(project = %project_id))]
pub async fn releases(
    state: &AppState,
    who: &Principal,
    project_id: &str,
) -> AppResult<Vec<ArtifactReleaseRow>> {
    require_project(state, who, project_id, Action::Read).await?;
    Ok(state.db.artifact_releases(project_id).await?)
}

/// Deletes one artifact of the release, or all (`artifact_id` `None`); returns
/// how many were deleted (404 when the one named is not there).
#[tracing::instrument(level = "debug", skip_all, fields(project = %project_id))]
pub async fn delete(
    state: &AppState,
    who: &Principal,
    project_id: &str,
    release: &str,
    artifact_id: Option<&str>,
    meta: &RequestMeta,
) -> AppResult<u64> {
    let project = require_project(state, who, project_id, Action::Edit).await?;
    let release = release_name(release)?;
    let audit = entry(
        state,
        &project.org_id,
        who,
        meta,
        "artifacts.delete",
        Some(project_id),
        Some(serde_json::json!({ "release": release, "artifact": artifact_id })),
    );
    let n = state
        .db
        .delete_artifacts(project_id, &release, artifact_id, &[audit])
        .await?;
    state.sourcemaps.forget_indexes();
    if n == 0 && artifact_id.is_some() {
        return Err(AppError::NotFound(format!(
            "no artifact {:?} in release `{release}`",
            artifact_id.unwrap_or_default()
        )));
    }
    Ok(n)
}
