//! Source maps: release artifacts uploaded by CI jobs, and stack frames shown
//! (and grouped) as the code the developer wrote. See docs/SOURCEMAPS.md.

mod artifacts;
mod cache;
mod locate;
mod sent;

pub use artifacts::{delete, list, releases, store, upload, UploadFile, Uploaded, MAX_FILES};
pub use cache::SourceMaps;
pub use sent::SourceLines;

use crate::domain::grouping::{group_mapped, in_app, parse_stack, Frame, OriginalFrame};
use crate::domain::sourcemaps::{map_position, NotMapped, Original};
use crate::state::AppState;
use crate::store::{ArtifactRow, ErrorOccurrenceRow, ErrorOccurrenceWrite};
use cache::{Decoded, FileKind, ProjectIndex};
use locate::{locate, locate_source, DebugImage};

/// Frames mapped per stack at most; deeper frames are shown raw.
const MAX_MAPPED_FRAMES: usize = 64;
/// Maps of maps followed at most per frame.
const MAX_CHAIN: usize = 3;

/// A stack frame as reported, and where it came from in the original code.
#[derive(Debug, Clone)]
pub struct MappedFrame {
    pub raw: Frame,
    pub original: Option<Original>,
    /// Why the frame is not mapped, or (with `original`) why its source context
    /// is missing.
    pub reason: Option<String>,
    /// The lines around the frame as the SDK sent them, if it did.
    pub sent: Option<SourceLines>,
}

impl MappedFrame {
    /// The app's own code: a bundle is, the dependencies mapped out of it are not.
    pub fn in_app(&self) -> bool {
        match &self.original {
            Some(o) => self.raw.in_app && in_app(o.function.as_deref(), &o.filename),
            None => self.raw.in_app,
        }
    }
}

/// An occurrence with its frames mapped.
#[derive(Debug, Clone)]
pub struct Occurrence {
    pub row: ErrorOccurrenceRow,
    pub frames: Vec<MappedFrame>,
}

/// Maps the frames of stored occurrences (errors that arrived before their maps
/// are shown mapped once the maps exist).
#[tracing::instrument(level = "debug", skip_all)]
pub async fn with_frames(
    state: &AppState,
    project_id: &str,
    rows: Vec<ErrorOccurrenceRow>,
) -> Vec<Occurrence> {
    let index = state.sourcemaps.index(&state.db, project_id).await;
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let mut frames = match (&index, row.stack.as_deref()) {
            (_, None) => Vec::new(),
            (Ok(index), Some(stack)) => {
                let images = debug_images(row.context.as_deref());
                map_frames(state, index, row.release.as_deref(), stack, &images, false).await
            }
            (Err(e), Some(stack)) => unmapped(
                stack,
                &format!("artifacts could not be read ({e}); reload to try again"),
            ),
        };
        sent::attach(row.context.as_deref(), &mut frames);
        out.push(Occurrence { row, frames });
    }
    out
}

/// Regroups an error about to be stored on its original frames, when the
/// project has artifacts that map them. Without them (or when the artifacts
/// cannot be read) the grouping made from the raw stack stands.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn regroup(state: &AppState, project_id: &str, w: &mut ErrorOccurrenceWrite) {
    let Some(stack) = w.stack.as_deref() else {
        return;
    };
    let index = match state.sourcemaps.index(&state.db, project_id).await {
        Ok(index) if !index.is_empty() => index,
        Ok(_) => return,
        Err(e) => {
            tracing::warn!(error = %e, "artifacts could not be read; grouping on the raw stack");
            return;
        }
    };
    let images = debug_images(w.context.as_deref());
    let started = std::time::Instant::now();
    let frames = map_frames(state, &index, w.release.as_deref(), stack, &images, true).await;
    let stats = &state.sourcemaps.stats;
    stats
        .stacks
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    stats.stack_micros.fetch_add(
        started.elapsed().as_micros() as u64,
        std::sync::atomic::Ordering::Relaxed,
    );
    if frames.iter().all(|f| f.original.is_none()) {
        return;
    }
    let originals: Vec<Option<OriginalFrame<'_>>> = frames
        .iter()
        .map(|f| {
            f.original.as_ref().map(|o| OriginalFrame {
                function: o.function.as_deref(),
                file: o.filename.as_str(),
            })
        })
        .collect();
    let g = group_mapped(&w.app, &w.message, Some(stack), &originals);
    w.fingerprint = g.fingerprint;
    w.top_frame = g.top_frame;
}

/// Writes the frame counts gathered since the last call.
pub async fn flush_counts(state: &AppState) {
    let counts = state.sourcemaps.take_counts();
    if counts.is_empty() {
        return;
    }
    if let Err(e) = state.db.add_frame_counts(&counts).await {
        tracing::debug!(error = %e, "frame counts not written");
    }
}

/// The artifacts stored (all processes) and this process's cache of decoded
/// files, for `/metrics`.
pub async fn exposition(state: &AppState) -> String {
    use std::sync::atomic::Ordering::Relaxed;
    let stats = &state.sourcemaps.stats;
    let mut out = format!(
        "# HELP telemetry_sourcemap_cache_hits_total Decoded source maps and scripts found in this process's cache.\n\
         # TYPE telemetry_sourcemap_cache_hits_total counter\n\
         telemetry_sourcemap_cache_hits_total {}\n\
         # HELP telemetry_sourcemap_cache_misses_total Source maps and scripts read from the database and decoded.\n\
         # TYPE telemetry_sourcemap_cache_misses_total counter\n\
         telemetry_sourcemap_cache_misses_total {}\n\
         # HELP telemetry_sourcemap_cache_bytes Memory the decoded files take, roughly (bounded by TELEMETRY_SOURCEMAP_CACHE_MB).\n\
         # TYPE telemetry_sourcemap_cache_bytes gauge\n\
         telemetry_sourcemap_cache_bytes {}\n\
         # HELP telemetry_sourcemap_stacks_total Stacks of ingested errors mapped through the project's artifacts.\n\
         # TYPE telemetry_sourcemap_stacks_total counter\n\
         telemetry_sourcemap_stacks_total {}\n\
         # HELP telemetry_sourcemap_stack_seconds_total Time spent mapping them (reading and decoding files included).\n\
         # TYPE telemetry_sourcemap_stack_seconds_total counter\n\
         telemetry_sourcemap_stack_seconds_total {:.6}\n",
        stats.hits.load(Relaxed),
        stats.misses.load(Relaxed),
        stats.weight.load(Relaxed),
        stats.stacks.load(Relaxed),
        stats.stack_micros.load(Relaxed) as f64 / 1e6,
    );
    if let Ok(t) = state.db.artifact_totals().await {
        out.push_str(&format!(
            "# HELP telemetry_artifacts Release artifacts stored (minified files, source maps, sources).\n\
             # TYPE telemetry_artifacts gauge\n\
             telemetry_artifacts {}\n\
             # HELP telemetry_artifacts_bytes Their size as uploaded.\n\
             # TYPE telemetry_artifacts_bytes gauge\n\
             telemetry_artifacts_bytes {}\n\
             # HELP telemetry_artifacts_stored_bytes Their size as stored (compressed).\n\
             # TYPE telemetry_artifacts_stored_bytes gauge\n\
             telemetry_artifacts_stored_bytes {}\n",
            t.artifacts, t.bytes, t.stored_bytes
        ));
    }
    out
}

fn unmapped(stack: &str, reason: &str) -> Vec<MappedFrame> {
    parse_stack(stack)
        .into_iter()
        .map(|raw| MappedFrame {
            raw,
            original: None,
            reason: Some(reason.to_string()),
            sent: None,
        })
        .collect()
}

async fn map_frames(
    state: &AppState,
    index: &ProjectIndex,
    release: Option<&str>,
    stack: &str,
    images: &[DebugImage],
    count: bool,
) -> Vec<MappedFrame> {
    let mut out = Vec::new();
    for (i, raw) in parse_stack(stack).into_iter().enumerate() {
        let (original, reason) = if i < MAX_MAPPED_FRAMES {
            map_one(state, index, release, &raw, images, count).await
        } else {
            (
                None,
                Some("only the first 64 frames are mapped".to_string()),
            )
        };
        out.push(MappedFrame {
            raw,
            original,
            reason,
            sent: None,
        });
    }
    out
}

async fn map_one(
    state: &AppState,
    index: &ProjectIndex,
    release: Option<&str>,
    raw: &Frame,
    images: &[DebugImage],
    count: bool,
) -> (Option<Original>, Option<String>) {
    let (Some(line), Some(column)) = (raw.line, raw.column) else {
        let reason = match raw.line {
            Some(_) => NotMapped::NoColumn,
            None => NotMapped::NoPosition,
        };
        return (None, Some(reason.to_string()));
    };
    let located = match locate(index, release, &raw.file, images) {
        Ok(l) => l,
        Err(reason) => return (None, Some(reason.to_string())),
    };
    let counted: &ArtifactRow = &located.map;
    let outcome = mapped_with(state, &located, line, column, raw.function.as_deref()).await;
    if count {
        state.sourcemaps.count(
            &counted.id,
            outcome.as_ref().is_ok_and(|(o, _)| o.is_some()),
        );
    }
    let (mut original, mut note) = match outcome {
        Ok(mapped) => mapped,
        Err(e) => return (None, Some(e)),
    };
    // A source that is itself an uploaded script with a map maps on through it.
    let mut map_name = located.map.name.clone();
    for _ in 0..MAX_CHAIN {
        let Some(o) = &original else { break };
        let Some(next) = locate_source(index, release, &map_name, &o.filename) else {
            break;
        };
        match mapped_with(state, &next, o.lineno, o.colno, o.function.as_deref()).await {
            Ok((Some(deeper), deeper_note)) => {
                original = Some(deeper);
                note = deeper_note;
                map_name = next.map.name.clone();
            }
            _ => break,
        }
    }
    (original, note.map(|n| n.to_string()))
}

async fn mapped_with(
    state: &AppState,
    located: &locate::Located,
    line: u32,
    column: u32,
    function: Option<&str>,
) -> Result<(Option<Original>, Option<NotMapped>), String> {
    let unreadable = |e: crate::store::StoreError| {
        format!("artifacts could not be read ({e}); reload to try again")
    };
    let map = match state
        .sourcemaps
        .decoded(&state.db, &located.map, located.map_kind)
        .await
        .map_err(unreadable)?
    {
        Decoded::Map(map) => map,
        Decoded::Unusable(reason) => return Ok((None, Some(reason))),
        Decoded::Script(_) => return Ok((None, None)),
    };
    let script = match &located.script {
        Some(row) => match state
            .sourcemaps
            .decoded(&state.db, row, FileKind::Script)
            .await
            .map_err(unreadable)?
        {
            Decoded::Script(view) => Some(view),
            _ => None,
        },
        None => None,
    };
    let map_name = match located.map_kind {
        FileKind::InlineMap => format!("{} (inline)", located.map.name),
        _ => located.map.name.clone(),
    };
    match map_position(&map, &map_name, script.as_deref(), line, column, function) {
        Ok((original, note)) => Ok((Some(original), note)),
        Err(reason) => Ok((None, Some(reason))),
    }
}

/// The debug ids an SDK sent for the files of the stack, in the occurrence's
/// context (`debug_meta.images` of type `sourcemap`).
fn debug_images(context: Option<&str>) -> Vec<DebugImage> {
    let Some(context) = context.filter(|c| c.contains("debug_meta")) else {
        return Vec::new();
    };
    let Ok(value) = serde_json::from_str::<serde_json::Value>(context) else {
        return Vec::new();
    };
    value
        .pointer("/debug_meta/images")
        .and_then(|i| i.as_array())
        .into_iter()
        .flatten()
        .filter(|i| i.get("type").and_then(|t| t.as_str()) == Some("sourcemap"))
        .filter_map(|i| {
            let code_file = i.get("code_file")?.as_str()?.to_string();
            let id = i.get("debug_id")?.as_str()?;
            let debug_id = uuid::Uuid::parse_str(id.get(..36).unwrap_or(id))
                .ok()?
                .hyphenated()
                .to_string();
            Some(DebugImage {
                code_file,
                debug_id,
            })
        })
        .collect()
}
