//! Source maps: what an uploaded release artifact is, which artifact names a
//! stack frame's file can match, what a map says about one position, and why a
//! frame could not be mapped. Pure: the service loads the files and caches them.
//!
//! How matching works is documented for users in `docs/SOURCEMAPS.md`; keep the
//! two in sync.

mod artifact;
mod mapping;
mod names;
mod reason;
mod script;

pub use artifact::{inspect, ArtifactKind, Inspected};
pub use mapping::{map_position, parse_data_url, parse_map, Original, ParsedMap, CONTEXT_LINES};
pub use names::{artifact_name, basename, frame_candidates, reference_candidates, url_prefix};
pub use reason::NotMapped;
pub use script::Script;
