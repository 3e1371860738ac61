//! What a process keeps of the artifacts: each project's index (names, kinds,
//! debug ids; no content), and decoded maps and scripts within a memory bound.
//! Uploads and deletes in any process move the cache generation, which drops
//! the indexes everywhere (`jobs::shared`); decoded files are keyed by artifact
//! id, which a re-upload changes, so they never go stale.

use crate::config::SourcemapSettings;
use crate::domain::sourcemaps::{
    basename, parse_data_url, parse_map, NotMapped, ParsedMap, Script,
};
use crate::store::{ArtifactRow, Db, StoreError};
use std::collections::HashMap;
use std::io::Read;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::OnceCell;

/// An index older than this is reloaded even if no change was seen (the watch
/// of other processes' changes may be failing).
const INDEX_TTL: Duration = Duration::from_secs(30);
/// Decoding bigger files runs off the async threads.
const BLOCKING_ABOVE: usize = 256 * 1024;

/// A project's artifacts by release and name, and by debug id.
#[derive(Default)]
pub struct ProjectIndex {
    pub releases: HashMap<String, HashMap<String, Arc<ArtifactRow>>>,
    pub debug_ids: HashMap<String, Vec<Arc<ArtifactRow>>>,
    loaded_at: Option<Instant>,
}

impl ProjectIndex {
    fn build(rows: Vec<ArtifactRow>) -> ProjectIndex {
        let mut index = ProjectIndex {
            loaded_at: Some(Instant::now()),
            ..Default::default()
        };
        for row in rows.into_iter().map(Arc::new) {
            if let Some(id) = &row.debug_id {
                index
                    .debug_ids
                    .entry(id.clone())
                    .or_default()
                    .push(row.clone());
            }
            index
                .releases
                .entry(row.release.clone())
                .or_default()
                .insert(row.name.clone(), row);
        }
        index
    }

    pub fn is_empty(&self) -> bool {
        self.releases.is_empty()
    }

    /// The artifact of `kind` with this debug id, preferring `release`'s.
    pub fn by_debug_id(
        &self,
        id: &str,
        kind: &str,
        release: Option<&str>,
    ) -> Option<Arc<ArtifactRow>> {
        let rows = self.debug_ids.get(id)?;
        rows.iter()
            .filter(|r| r.kind == kind)
            .max_by_key(|r| (Some(r.release.as_str()) == release, r.created_at))
            .cloned()
    }

    /// Up to three names of scripts most like `url`'s file: the same file name
    /// first, then the same stem (before a build hash).
    pub fn closest(&self, url: &str) -> Vec<(String, String)> {
        let wanted = basename(url);
        let stem = |n: &str| n.split(['-', '.', '_']).next().unwrap_or(n).to_string();
        let wanted_stem = stem(wanted);
        let mut scored: Vec<(u8, i64, &ArtifactRow)> = self
            .releases
            .values()
            .flat_map(HashMap::values)
            .filter(|r| r.kind == "minified")
            .filter_map(|r| {
                let name = basename(&r.name);
                let score = if name == wanted {
                    2
                } else if !wanted_stem.is_empty() && stem(name) == wanted_stem {
                    1
                } else {
                    return None;
                };
                Some((score, r.created_at, r.as_ref()))
            })
            .collect();
        scored.sort_by_key(|&(score, created, _)| std::cmp::Reverse((score, created)));
        scored
            .into_iter()
            .take(3)
            .map(|(_, _, r)| (r.name.clone(), r.release.clone()))
            .collect()
    }
}

/// A decoded file, or why it cannot be used.
#[derive(Clone)]
pub enum Decoded {
    Map(Arc<ParsedMap>),
    Script(Arc<Script>),
    Unusable(NotMapped),
}

struct Slot {
    cell: Arc<OnceCell<(Decoded, usize)>>,
    last_used: u64,
}

#[derive(Default)]
struct Files {
    slots: HashMap<String, Slot>,
    weight: usize,
    tick: u64,
}

/// Cache hit and miss counts and the time stacks took to map, for `/metrics`.
#[derive(Default)]
pub struct CacheStats {
    pub hits: AtomicU64,
    pub misses: AtomicU64,
    pub weight: AtomicU64,
    /// Stacks mapped at ingest (with artifacts to map them), and the time it took.
    pub stacks: AtomicU64,
    pub stack_micros: AtomicU64,
}

pub struct SourceMaps {
    settings: SourcemapSettings,
    indexes: Mutex<HashMap<String, Arc<ProjectIndex>>>,
    files: Mutex<Files>,
    pub stats: CacheStats,
    /// Frames mapped and failed per artifact since the last flush.
    counts: Mutex<HashMap<String, (i64, i64)>>,
}

/// How a file is read and decoded.
#[derive(Clone, Copy)]
pub enum FileKind {
    Map,
    Script,
    /// The `data:` map inline in a script.
    InlineMap,
}

impl SourceMaps {
    pub fn new(settings: SourcemapSettings) -> SourceMaps {
        SourceMaps {
            settings,
            indexes: Mutex::default(),
            files: Mutex::default(),
            stats: CacheStats::default(),
            counts: Mutex::default(),
        }
    }

    pub fn settings(&self) -> &SourcemapSettings {
        &self.settings
    }

    /// Drops every project's index (another process changed artifacts).
    pub fn forget_indexes(&self) {
        self.indexes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }

    /// The project's index, loaded on first use.
    pub async fn index(&self, db: &Db, project_id: &str) -> Result<Arc<ProjectIndex>, StoreError> {
        let cached = self
            .indexes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(project_id)
            .cloned();
        if let Some(index) = cached.filter(|i| i.loaded_at.is_some_and(|t| t.elapsed() < INDEX_TTL))
        {
            return Ok(index);
        }
        let index = Arc::new(ProjectIndex::build(db.project_artifacts(project_id).await?));
        self.indexes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(project_id.to_string(), index.clone());
        Ok(index)
    }

    /// The decoded file, from the cache or read now. Concurrent callers for the
    /// same file share one read. Store errors are not cached.
    pub async fn decoded(
        &self,
        db: &Db,
        row: &ArtifactRow,
        kind: FileKind,
    ) -> Result<Decoded, StoreError> {
        let key = match kind {
            FileKind::InlineMap => format!("inline:{}", row.id),
            _ => row.id.clone(),
        };
        let cell = {
            let mut files = self.files.lock().unwrap_or_else(|e| e.into_inner());
            files.tick += 1;
            let tick = files.tick;
            let slot = files.slots.entry(key.clone()).or_insert_with(|| Slot {
                cell: Arc::new(OnceCell::new()),
                last_used: tick,
            });
            slot.last_used = tick;
            slot.cell.clone()
        };
        if let Some((decoded, _)) = cell.get() {
            self.stats.hits.fetch_add(1, Ordering::Relaxed);
            return Ok(decoded.clone());
        }
        // Callers that waited for another's read share its result; only the
        // reader adds the file's weight.
        let read_here = std::sync::atomic::AtomicBool::new(false);
        let (decoded, weight) = cell
            .get_or_try_init(|| async {
                self.stats.misses.fetch_add(1, Ordering::Relaxed);
                read_here.store(true, Ordering::Relaxed);
                self.read(db, row, kind).await
            })
            .await?
            .clone();
        if read_here.load(Ordering::Relaxed) {
            self.account(&key, weight);
        } else {
            self.stats.hits.fetch_add(1, Ordering::Relaxed);
        }
        Ok(decoded)
    }

    /// Adds a newly decoded file's weight, then drops the least recently used
    /// files until the cache is within its bound again.
    fn account(&self, key: &str, weight: usize) {
        let limit = self.settings.sourcemap_cache_mb as usize * 1024 * 1024;
        let mut files = self.files.lock().unwrap_or_else(|e| e.into_inner());
        files.weight += weight;
        while files.weight > limit && files.slots.len() > 1 {
            let Some(oldest) = files
                .slots
                .iter()
                .filter(|(k, s)| k.as_str() != key && s.cell.initialized())
                .min_by_key(|(_, s)| s.last_used)
                .map(|(k, _)| k.clone())
            else {
                break;
            };
            if let Some(slot) = files.slots.remove(&oldest) {
                let w = slot.cell.get().map_or(0, |(_, w)| *w);
                files.weight = files.weight.saturating_sub(w);
            }
        }
        self.stats
            .weight
            .store(files.weight as u64, Ordering::Relaxed);
    }

    async fn read(
        &self,
        db: &Db,
        row: &ArtifactRow,
        kind: FileKind,
    ) -> Result<(Decoded, usize), StoreError> {
        let limit = self.settings.max_file_bytes();
        if row.size as u64 > limit && !matches!(kind, FileKind::Script) {
            let reason = NotMapped::TooLarge {
                map: row.name.clone(),
                size: row.size as u64,
                limit,
            };
            return Ok((Decoded::Unusable(reason), 0));
        }
        let Some(stored) = db.artifact_content(&row.project_id, &row.id).await? else {
            let reason = NotMapped::Invalid {
                map: row.name.clone(),
                error: "it was deleted meanwhile".into(),
            };
            return Ok((Decoded::Unusable(reason), 0));
        };
        let name = row.name.clone();
        let work = move || decode(&name, &stored, kind, limit);
        if (row.size as usize) > BLOCKING_ABOVE {
            Ok(tokio::task::spawn_blocking(work).await.unwrap_or_else(|e| {
                (
                    Decoded::Unusable(NotMapped::Invalid {
                        map: row.name.clone(),
                        error: e.to_string(),
                    }),
                    0,
                )
            }))
        } else {
            Ok(work())
        }
    }

    /// Counts a frame against the artifact that mapped it or failed to.
    pub fn count(&self, artifact_id: &str, mapped: bool) {
        let mut counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        let entry = counts.entry(artifact_id.to_string()).or_default();
        if mapped {
            entry.0 += 1;
        } else {
            entry.1 += 1;
        }
    }

    /// The counts gathered since the last call.
    pub fn take_counts(&self) -> Vec<(String, i64, i64)> {
        let mut counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        counts.drain().map(|(id, (m, f))| (id, m, f)).collect()
    }
}

/// Inflates a stored file and decodes it; the weight is what it keeps in memory.
fn decode(name: &str, stored: &[u8], kind: FileKind, limit: u64) -> (Decoded, usize) {
    let invalid = |error: String| {
        (
            Decoded::Unusable(NotMapped::Invalid {
                map: name.to_string(),
                error,
            }),
            0,
        )
    };
    let mut bytes = Vec::new();
    let mut reader = flate2::read::GzDecoder::new(stored).take(limit + 1);
    if let Err(e) = reader.read_to_end(&mut bytes) {
        return invalid(format!("the stored copy is damaged ({e}); upload it again"));
    }
    match kind {
        FileKind::Map => map_of(name, &bytes),
        FileKind::Script => {
            let script = Script::new(String::from_utf8_lossy(&bytes).into_owned());
            let weight = script.weight();
            (Decoded::Script(Arc::new(script)), weight)
        }
        FileKind::InlineMap => {
            let url = match sourcemap::locate_sourcemap_reference_slice(&bytes) {
                Ok(Some(r)) if r.get_url().starts_with("data:") => r.get_url().to_string(),
                _ => return invalid("it has no inline `data:` map".into()),
            };
            match parse_data_url(&url) {
                Ok(parsed) => {
                    let weight = parsed.weight(url.len());
                    (Decoded::Map(Arc::new(parsed)), weight)
                }
                Err(error) => invalid(format!("its inline `data:` map cannot be read: {error}")),
            }
        }
    }
}

fn map_of(name: &str, bytes: &[u8]) -> (Decoded, usize) {
    match parse_map(bytes) {
        Ok(parsed) => {
            let weight = parsed.weight(bytes.len());
            (Decoded::Map(Arc::new(parsed)), weight)
        }
        Err(error) => (
            Decoded::Unusable(NotMapped::Invalid {
                map: name.to_string(),
                error,
            }),
            0,
        ),
    }
}
