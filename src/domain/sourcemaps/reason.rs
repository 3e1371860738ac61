//! Why a frame was not mapped, in words that name the fix.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotMapped {
    /// Native code, `<anonymous>`, or a frame without line and column.
    NoPosition,
    /// A line without a column: not a JavaScript engine's frame (Python, Ruby, …),
    /// which source maps do not describe.
    NoColumn,
    /// The occurrence names no release and no debug id matched.
    NoRelease,
    NoArtifacts {
        release: String,
    },
    NoMatch {
        url: String,
        /// (name, release) of the most similar artifacts of the project.
        closest: Vec<(String, String)>,
    },
    NoReference {
        file: String,
    },
    MapMissing {
        file: String,
        reference: String,
        looked_for: String,
    },
    DebugIdMismatch {
        file: String,
        file_id: String,
        map: String,
        map_id: String,
    },
    OutOfRange {
        line: u32,
        column: u32,
        map: String,
    },
    NoSource {
        map: String,
    },
    /// Mapped, but the map carries no `sourcesContent` for the file.
    NoSourcesContent {
        map: String,
    },
    TooLarge {
        map: String,
        size: u64,
        limit: u64,
    },
    Invalid {
        map: String,
        error: String,
    },
}

impl NotMapped {
    /// The frame's original position is known; only its source text is missing.
    pub fn still_mapped(&self) -> bool {
        matches!(self, NotMapped::NoSourcesContent { .. })
    }
}

/// `48213` → `48 213`, as the reasons print positions.
fn grouped(n: u32) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(' ');
        }
        out.push(c);
    }
    out
}

impl fmt::Display for NotMapped {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NotMapped::NoPosition => write!(
                f,
                "the frame has no file position (native or anonymous code)"
            ),
            NotMapped::NoColumn => write!(
                f,
                "the frame has a line but no column (source maps describe JavaScript frames only)"
            ),
            NotMapped::NoRelease => write!(
                f,
                "the occurrence has no release and no debug id matched; send `release` with errors and upload artifacts for it"
            ),
            NotMapped::NoArtifacts { release } => {
                write!(f, "no artifacts uploaded for release `{release}`")
            }
            NotMapped::NoMatch { url, closest } => {
                write!(f, "no artifact matches `{url}`")?;
                if !closest.is_empty() {
                    let names: Vec<String> = closest
                        .iter()
                        .map(|(name, release)| format!("`{name}` under release `{release}`"))
                        .collect();
                    write!(f, " (closest names: {})", names.join(", "))?;
                }
                Ok(())
            }
            NotMapped::NoReference { file } => write!(
                f,
                "`{file}` found but it has no `sourceMappingURL` and no map of the same name"
            ),
            NotMapped::MapMissing {
                file,
                reference,
                looked_for,
            } => write!(
                f,
                "`{file}` points at `{reference}`, but no artifact `{looked_for}` was uploaded"
            ),
            NotMapped::DebugIdMismatch {
                file,
                file_id,
                map,
                map_id,
            } => write!(
                f,
                "the map's debug id differs from the file's: `{map}` has {map_id}, `{file}` has {file_id}; upload the map built with this file"
            ),
            NotMapped::OutOfRange { line, column, map } => write!(
                f,
                "line {} column {} is outside the map `{map}`; was it built from another version of the file?",
                grouped(*line),
                grouped(*column)
            ),
            NotMapped::NoSource { map } => write!(
                f,
                "`{map}` maps this position to no original source (generated code)"
            ),
            NotMapped::NoSourcesContent { map } => write!(
                f,
                "the map `{map}` has no `sourcesContent` (frame mapped, source context unavailable)"
            ),
            NotMapped::TooLarge { map, size, limit } => write!(
                f,
                "map `{map}` is larger than the limit ({size} bytes, limit {limit}); raise TELEMETRY_SOURCEMAP_MAX_FILE_MB"
            ),
            NotMapped::Invalid { map, error } => {
                write!(f, "`{map}` could not be read as a source map: {error}")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_read_plainly() {
        assert_eq!(
            NotMapped::OutOfRange {
                line: 1,
                column: 48213,
                map: "~/app.js.map".into()
            }
            .to_string(),
            "line 1 column 48 213 is outside the map `~/app.js.map`; was it built from another version of the file?"
        );
        assert_eq!(
            NotMapped::NoMatch {
                url: "https://cdn.example.com/assets/app-3f9a1c.js".into(),
                closest: vec![("~/assets/app-3f9a1c.js".into(), "web@1.4.1".into())]
            }
            .to_string(),
            "no artifact matches `https://cdn.example.com/assets/app-3f9a1c.js` (closest names: `~/assets/app-3f9a1c.js` under release `web@1.4.1`)"
        );
        assert_eq!(grouped(999), "999");
        assert_eq!(grouped(1_234_567), "1 234 567");
    }
}
