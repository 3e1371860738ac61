//! One position through one map: the original file, line, column, function and
//! the source lines around it.

use super::reason::NotMapped;
use super::script::Script;
use sourcemap::{DecodedMap, SourceMap};

/// Lines of source shown before and after the frame's line.
pub const CONTEXT_LINES: usize = 5;
/// Tokens looked back through for the declaration of a frame's function.
const NAME_LOOKBACK: u32 = 128;
/// Longer source lines are cut (minified sources inside a map, generated code).
const MAX_CONTEXT_LINE: usize = 400;

/// A decoded map, flattened when it was an index map.
pub struct ParsedMap {
    pub map: SourceMap,
}

impl ParsedMap {
    /// Bytes the decoded map keeps in memory, roughly, for the cache's bound.
    pub fn weight(&self, source_bytes: usize) -> usize {
        self.map.get_token_count() as usize * std::mem::size_of::<sourcemap::RawToken>()
            + source_bytes
    }
}

/// Decodes a map (regular, index with embedded sections, or Hermes).
pub fn parse_map(bytes: &[u8]) -> Result<ParsedMap, String> {
    flatten(sourcemap::decode_slice(bytes).map_err(|e| e.to_string())?)
}

/// Decodes a `data:application/json;base64,…` map inlined in a script.
pub fn parse_data_url(url: &str) -> Result<ParsedMap, String> {
    flatten(sourcemap::decode_data_url(url).map_err(|e| e.to_string())?)
}

fn flatten(decoded: DecodedMap) -> Result<ParsedMap, String> {
    let map = match decoded {
        DecodedMap::Regular(map) => map,
        DecodedMap::Index(index) => index.flatten().map_err(|e| {
            format!("its sections could not be combined ({e}); embed each section's map")
        })?,
        DecodedMap::Hermes(hermes) => (*hermes).clone(),
    };
    Ok(ParsedMap { map })
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Original {
    pub function: Option<String>,
    pub filename: String,
    pub lineno: u32,
    pub colno: u32,
    pub pre_context: Vec<String>,
    pub context_line: Option<String>,
    pub post_context: Vec<String>,
}

/// Maps the 1-based `line`/`column` of a frame in the map's generated file.
/// `minified` (the generated file's text, when uploaded) recovers the original
/// name of a mangled function. `Err` when the map says nothing about the spot;
/// `Ok` with `Some(NoSourcesContent)` when mapped without source text.
pub fn map_position(
    parsed: &ParsedMap,
    map_name: &str,
    minified: Option<&Script>,
    line: u32,
    column: u32,
    function: Option<&str>,
) -> Result<(Original, Option<NotMapped>), NotMapped> {
    let out_of_range = || NotMapped::OutOfRange {
        line,
        column,
        map: map_name.to_string(),
    };
    let (line0, col0) = (line.saturating_sub(1), column.saturating_sub(1));
    if let Some(script) = minified {
        match script.line(line0) {
            Some(text) if (col0 as usize) <= text.len() => {}
            _ => return Err(out_of_range()),
        }
    }
    let map = &parsed.map;
    let token = map.lookup_token(line0, col0).ok_or_else(out_of_range)?;
    if token.get_dst_line() != line0 {
        return Err(out_of_range());
    }
    let Some(filename) = token.get_source() else {
        return Err(NotMapped::NoSource {
            map: map_name.to_string(),
        });
    };
    let src_line = token.get_src_line();
    let original_function = function
        .map(|f| f.rsplit('.').next().unwrap_or(f).trim())
        .filter(|f| !f.is_empty())
        .and_then(|minified_name| {
            minified
                .and_then(|script| original_function_name(map, script, line0, col0, minified_name))
        })
        .map(str::to_string)
        .or_else(|| function.map(str::to_string));
    let mut original = Original {
        function: original_function,
        filename: filename.to_string(),
        lineno: src_line.saturating_add(1),
        colno: token.get_src_col().saturating_add(1),
        pre_context: Vec::new(),
        context_line: None,
        post_context: Vec::new(),
    };
    let Some(source) = map.get_source_view(token.get_src_id()) else {
        return Ok((
            original,
            Some(NotMapped::NoSourcesContent {
                map: map_name.to_string(),
            }),
        ));
    };
    // A file's final newline does not start another line.
    let lines = source.line_count() as u32 - u32::from(source.source().ends_with('\n'));
    let text = |i: u32| (i < lines).then(|| source.get_line(i).map(cut)).flatten();
    let first = src_line.saturating_sub(CONTEXT_LINES as u32);
    original.pre_context = (first..src_line).filter_map(text).collect();
    original.context_line = text(src_line);
    original.post_context = (src_line + 1..=src_line + CONTEXT_LINES as u32)
        .map_while(text)
        .collect();
    Ok((original, None))
}

/// The original name of the function a frame is in: walking back from the
/// frame's token, the mapping of the minified name where it follows `function`.
fn original_function_name<'m>(
    map: &'m SourceMap,
    script: &Script,
    line: u32,
    column: u32,
    minified_name: &str,
) -> Option<&'m str> {
    // The last token at or before the position.
    let (mut low, mut high) = (0u32, map.get_token_count());
    while low < high {
        let mid = low + (high - low) / 2;
        let t = map.get_token(mid as usize)?;
        if (t.get_dst_line(), t.get_dst_col()) <= (line, column) {
            low = mid + 1;
        } else {
            high = mid;
        }
    }
    let last = low.checked_sub(1)?;
    let mut named = None;
    for idx in (last.saturating_sub(NAME_LOOKBACK)..=last).rev() {
        let token = map.get_token(idx as usize)?;
        let word = script.word_at(token.get_dst_line(), token.get_dst_col());
        if let Some(candidate) = named.take() {
            if word == Some("function") {
                return candidate;
            }
        }
        if word == Some(minified_name) {
            named = Some(token.get_name());
        }
    }
    None
}

fn cut(line: &str) -> String {
    if line.len() <= MAX_CONTEXT_LINE {
        return line.to_string();
    }
    let mut end = MAX_CONTEXT_LINE;
    while !line.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &line[..end])
}

#[cfg(test)]
mod tests {
    use super::*;
    use sourcemap::SourceMapBuilder;

    const SOURCE: &str = "// add\nfunction add(first, second) {\n  return first + second;\n}\n";
    const MINIFIED: &str = "function e(n,r){return n+r}";

    /// The map of `MINIFIED` back to `SOURCE`, as a minifier would write it.
    fn map(with_content: bool) -> ParsedMap {
        let mut b = SourceMapBuilder::new(Some("a.min.js"));
        let src = b.add_source("a.js");
        if with_content {
            b.set_source_contents(src, Some(SOURCE));
        }
        for (dc, sl, sc, name) in [
            (0, 1, 0, None),
            (9, 1, 9, Some("add")),
            (11, 1, 13, Some("first")),
            (13, 1, 20, Some("second")),
            (16, 2, 2, None),
            (23, 2, 9, Some("first")),
            (25, 2, 17, Some("second")),
        ] {
            b.add(0, dc, sl, sc, Some("a.js"), name, false);
        }
        let mut json = Vec::new();
        b.into_sourcemap().to_writer(&mut json).unwrap();
        parse_map(&json).unwrap()
    }

    #[test]
    fn positions_map_to_the_original_line_with_context() {
        let parsed = map(true);
        let script = Script::new(MINIFIED.into());
        let (o, note) = map_position(&parsed, "a.js.map", Some(&script), 1, 17, Some("e")).unwrap();
        assert_eq!(note, None);
        assert_eq!(o.filename, "a.js");
        assert_eq!((o.lineno, o.colno), (3, 3));
        assert_eq!(o.function.as_deref(), Some("add"));
        assert_eq!(o.context_line.as_deref(), Some("  return first + second;"));
        assert_eq!(
            o.pre_context,
            vec!["// add", "function add(first, second) {"]
        );
        assert_eq!(o.post_context, vec!["}"]);
    }

    #[test]
    fn positions_outside_the_map_say_so() {
        let parsed = map(true);
        let err = map_position(&parsed, "a.js.map", None, 7, 48213, None).unwrap_err();
        assert!(matches!(err, NotMapped::OutOfRange { line: 7, .. }));
        let script = Script::new(MINIFIED.into());
        assert!(map_position(&parsed, "a.js.map", Some(&script), 1, 900, None).is_err());
    }

    #[test]
    fn maps_without_sources_content_still_map() {
        let parsed = map(false);
        let (o, note) = map_position(&parsed, "a.js.map", None, 1, 17, Some("e")).unwrap();
        assert_eq!(o.lineno, 3);
        assert_eq!(o.function.as_deref(), Some("e"));
        assert!(matches!(note, Some(NotMapped::NoSourcesContent { .. })));
    }
}
