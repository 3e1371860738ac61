//! Recognising an uploaded file: a minified (or compiled) script, a source map, or
//! a plain source, with the debug id and `sourceMappingURL` each carries.

use serde::Deserialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArtifactKind {
    Minified,
    SourceMap,
    Source,
}

impl ArtifactKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ArtifactKind::Minified => "minified",
            ArtifactKind::SourceMap => "sourcemap",
            ArtifactKind::Source => "source",
        }
    }

    pub fn from_stored(s: &str) -> ArtifactKind {
        match s {
            "minified" => ArtifactKind::Minified,
            "sourcemap" => ArtifactKind::SourceMap,
            _ => ArtifactKind::Source,
        }
    }
}

/// What one file is and what it points at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inspected {
    pub kind: ArtifactKind,
    /// Lowercase hyphenated UUID: `//# debugId=` of a script, `debug_id`/`debugId`
    /// of a map.
    pub debug_id: Option<String>,
    /// A script's `sourceMappingURL` as written (a `data:` URL included).
    pub sourcemap: Option<String>,
    /// For maps: whether any source comes with its text.
    pub has_sources_content: Option<bool>,
}

/// How far from a script's end its trailing comments are looked for: bundlers
/// put them last; an inline `data:` map is one (long) line.
const TRAILING_LINES: usize = 16;

/// Recognises `bytes` uploaded as `name`, or says why it cannot be used.
pub fn inspect(name: &str, bytes: &[u8]) -> Result<Inspected, String> {
    let lower = name.to_ascii_lowercase();
    let path = lower.split(['?', '#']).next().unwrap_or("");
    if path.ends_with(".map") {
        return inspect_map(bytes);
    }
    let text = std::str::from_utf8(bytes).map_err(|_| "is not UTF-8 text".to_string())?;
    if [".js", ".mjs", ".cjs"]
        .iter()
        .any(|ext| path.ends_with(ext))
    {
        let (sourcemap, debug_id) = trailing_comments(text);
        return Ok(Inspected {
            kind: ArtifactKind::Minified,
            debug_id,
            sourcemap,
            has_sources_content: None,
        });
    }
    Ok(Inspected {
        kind: ArtifactKind::Source,
        debug_id: None,
        sourcemap: None,
        has_sources_content: None,
    })
}

#[derive(Deserialize)]
struct MapHead {
    debug_id: Option<String>,
    #[serde(rename = "debugId")]
    debug_id_camel: Option<String>,
    #[serde(rename = "sourcesContent")]
    sources_content: Option<Vec<Option<serde::de::IgnoredAny>>>,
    sections: Option<Vec<SectionHead>>,
}

#[derive(Deserialize)]
struct SectionHead {
    map: Option<Box<MapHead>>,
}

impl MapHead {
    fn has_sources_content(&self) -> bool {
        self.sources_content
            .as_ref()
            .is_some_and(|c| c.iter().any(Option::is_some))
            || self.sections.iter().flatten().any(|s| {
                s.map
                    .as_ref()
                    .is_some_and(|m| MapHead::has_sources_content(m))
            })
    }
}

fn inspect_map(bytes: &[u8]) -> Result<Inspected, String> {
    // Decoded once here so that a broken map is refused at upload, not found out
    // when the first error needs it.
    sourcemap::decode_slice(bytes).map_err(|e| format!("is not a valid source map: {e}"))?;
    let head: MapHead = serde_json::from_slice(strip_xssi(bytes))
        .map_err(|e| format!("is not a valid source map: {e}"))?;
    let debug_id = head
        .debug_id
        .as_deref()
        .or(head.debug_id_camel.as_deref())
        .map(|id| normalize_debug_id(id).ok_or_else(|| format!("has an invalid debug id `{id}`")))
        .transpose()?;
    Ok(Inspected {
        kind: ArtifactKind::SourceMap,
        debug_id,
        sourcemap: None,
        has_sources_content: Some(head.has_sources_content()),
    })
}

/// Maps served with an anti-XSSI prefix (`)]}'`) are still maps.
fn strip_xssi(bytes: &[u8]) -> &[u8] {
    if bytes.starts_with(b")]}") {
        match bytes.iter().position(|&b| b == b'\n') {
            Some(nl) => &bytes[nl + 1..],
            None => bytes,
        }
    } else {
        bytes
    }
}

/// The last `sourceMappingURL` and `debugId` comments of a script.
fn trailing_comments(text: &str) -> (Option<String>, Option<String>) {
    let mut sourcemap = None;
    let mut debug_id = None;
    for line in text
        .lines()
        .rev()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .take(TRAILING_LINES)
    {
        let Some(comment) = line
            .strip_prefix("//#")
            .or_else(|| line.strip_prefix("//@"))
            .map(str::trim_start)
        else {
            continue;
        };
        if let Some(url) = comment.strip_prefix("sourceMappingURL=") {
            if sourcemap.is_none() && !url.trim().is_empty() {
                sourcemap = Some(url.trim().to_string());
            }
        } else if let Some(id) = comment.strip_prefix("debugId=") {
            if debug_id.is_none() {
                debug_id = normalize_debug_id(id.trim());
            }
        }
    }
    (sourcemap, debug_id)
}

/// A debug id as lowercase hyphenated UUID (bundlers write either case; some
/// append an age suffix, which is not part of the match).
pub(super) fn normalize_debug_id(id: &str) -> Option<String> {
    let id = id.trim();
    let core = if id.len() > 36 { &id[..36] } else { id };
    uuid::Uuid::parse_str(core)
        .or_else(|_| uuid::Uuid::parse_str(id))
        .ok()
        .map(|u| u.hyphenated().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scripts_carry_their_map_reference_and_debug_id() {
        let js = "function a(){}\n//# debugId=85314830-023F-4CF1-A267-535F4E37BB17\n//# sourceMappingURL=app.js.map\n";
        let i = inspect("assets/app.js", js.as_bytes()).unwrap();
        assert_eq!(i.kind, ArtifactKind::Minified);
        assert_eq!(i.sourcemap.as_deref(), Some("app.js.map"));
        assert_eq!(
            i.debug_id.as_deref(),
            Some("85314830-023f-4cf1-a267-535f4e37bb17")
        );
        let plain = inspect("x.mjs", b"export const a = 1;").unwrap();
        assert_eq!(plain.sourcemap, None);
        assert_eq!(plain.debug_id, None);
    }

    #[test]
    fn maps_are_checked_and_read() {
        let map = br#"{"version":3,"sources":["a.ts"],"sourcesContent":[null],"names":[],"mappings":"AAAA","debugId":"85314830-023f-4cf1-a267-535f4e37bb17"}"#;
        let i = inspect("app.js.map", map).unwrap();
        assert_eq!(i.kind, ArtifactKind::SourceMap);
        assert_eq!(i.has_sources_content, Some(false));
        assert!(i.debug_id.is_some());
        assert!(inspect("app.js.map", b"{not json").is_err());
        assert!(inspect("app.js.map", b"[1,2]").is_err());
    }

    #[test]
    fn other_files_are_sources() {
        assert_eq!(
            inspect("src/app.ts", b"let a = 1").unwrap().kind,
            ArtifactKind::Source
        );
        assert!(inspect("app.js", &[0xff, 0xfe]).is_err());
    }
}
