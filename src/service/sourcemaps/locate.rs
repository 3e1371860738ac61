//! Which map (and which script) a frame's file is mapped with: debug ids first,
//! then the release's files by URL and the script's `sourceMappingURL`.

use super::cache::{FileKind, ProjectIndex};
use crate::domain::sourcemaps::{basename, frame_candidates, reference_candidates, NotMapped};
use crate::store::ArtifactRow;
use std::collections::HashMap;
use std::sync::Arc;

/// The map to read for a frame, and the script it belongs to when uploaded.
pub struct Located {
    pub map: Arc<ArtifactRow>,
    /// `Map` for a map artifact, `InlineMap` when `map` is the script itself.
    pub map_kind: FileKind,
    pub script: Option<Arc<ArtifactRow>>,
}

/// A debug id the SDK reported for a file (`debug_meta.images`).
pub struct DebugImage {
    pub code_file: String,
    pub debug_id: String,
}

pub fn locate(
    index: &ProjectIndex,
    release: Option<&str>,
    file: &str,
    images: &[DebugImage],
) -> Result<Located, NotMapped> {
    let candidates = frame_candidates(file);
    if candidates.is_empty() || file.starts_with("node:") {
        return Err(NotMapped::NoPosition);
    }
    // 1. The debug id the SDK sent with the event for this file.
    if let Some(image) = images.iter().find(|i| {
        i.code_file == file || frame_candidates(&i.code_file).first() == candidates.first()
    }) {
        if let Some(map) = index.by_debug_id(&image.debug_id, "sourcemap", release) {
            let script = index.by_debug_id(&image.debug_id, "minified", release);
            return Ok(Located {
                map,
                map_kind: FileKind::Map,
                script,
            });
        }
    }
    let files = release.and_then(|r| index.releases.get(r));
    let script = files.and_then(|f| {
        candidates
            .iter()
            .find_map(|c| f.get(c).filter(|a| a.kind != "sourcemap").cloned())
    });
    match (script, files) {
        (Some(script), Some(files)) => map_of_script(index, files, script, release),
        (None, Some(files)) => {
            // Maps uploaded without their scripts: `<url>.map`.
            if let Some(map) = candidates
                .iter()
                .find_map(|c| files.get(&format!("{c}.map")).cloned())
            {
                return Ok(Located {
                    map,
                    map_kind: FileKind::Map,
                    script: None,
                });
            }
            Err(NotMapped::NoMatch {
                url: file.to_string(),
                closest: index.closest(file),
            })
        }
        (_, None) => match release {
            None => Err(NotMapped::NoRelease),
            Some(release) => Err(NotMapped::NoArtifacts {
                release: release.to_string(),
            }),
        },
    }
}

/// The map of a map's source, when that source is itself an uploaded script with
/// a map (a bundle of compiled files whose maps were not composed): maps of maps.
pub fn locate_source(
    index: &ProjectIndex,
    release: Option<&str>,
    map_name: &str,
    source: &str,
) -> Option<Located> {
    let files = index.releases.get(release?)?;
    let script = reference_candidates(map_name, source)
        .iter()
        .find_map(|c| files.get(c).filter(|a| a.kind == "minified").cloned())?;
    map_of_script(index, files, script, release).ok()
}

fn map_of_script(
    index: &ProjectIndex,
    files: &HashMap<String, Arc<ArtifactRow>>,
    script: Arc<ArtifactRow>,
    release: Option<&str>,
) -> Result<Located, NotMapped> {
    if let Some(id) = &script.debug_id {
        if let Some(map) = index.by_debug_id(id, "sourcemap", release) {
            return Ok(Located {
                map,
                map_kind: FileKind::Map,
                script: Some(script),
            });
        }
    }
    let file = basename(&script.name).to_string();
    let map = match script.sourcemap.as_deref() {
        Some(reference) if reference.starts_with("data:") => {
            return Ok(Located {
                map: script.clone(),
                map_kind: FileKind::InlineMap,
                script: Some(script),
            });
        }
        Some(reference) => {
            let wanted = reference_candidates(&script.name, reference);
            wanted
                .iter()
                .find_map(|c| files.get(c).cloned())
                .ok_or_else(|| NotMapped::MapMissing {
                    file: file.clone(),
                    reference: reference.to_string(),
                    looked_for: wanted.first().cloned().unwrap_or_default(),
                })?
        }
        None => files
            .get(&format!("{}.map", script.name))
            .cloned()
            .ok_or(NotMapped::NoReference { file: file.clone() })?,
    };
    if let (Some(file_id), Some(map_id)) = (&script.debug_id, &map.debug_id) {
        if file_id != map_id {
            return Err(NotMapped::DebugIdMismatch {
                file,
                file_id: file_id.clone(),
                map: basename(&map.name).to_string(),
                map_id: map_id.clone(),
            });
        }
    }
    Ok(Located {
        map,
        map_kind: FileKind::Map,
        script: Some(script),
    })
}
