//! Stack traces into frames, one line at a time, and which frames are the
//! application's own code: only those decide the group when there are any, so
//! that upgrading a dependency does not split it.

use super::path::starts_with_ignore_ascii_case;
use super::Frame;

/// At most this many stack lines are examined.
const MAX_STACK_LINES: usize = 200;
/// Longer stack lines are ignored (no real frame is this long).
const MAX_LINE_LEN: usize = 4096;

/// Parses a stack trace in V8 (Chrome, Node, Edge), SpiderMonkey (Firefox),
/// JavaScriptCore (Safari) or Hermes (React Native) format. Lines that are not
/// frames (the V8 header, message continuation lines, blank lines) are
/// skipped. At most 200 lines are examined.
pub fn parse_stack(stack: &str) -> Vec<Frame> {
    candidate_lines(stack)
        .filter_map(parse_line)
        .map(Frame::from)
        .collect()
}

/// The trimmed lines of `stack` that may hold a frame or the header, within
/// the bounds that keep the work per report small.
pub(super) fn candidate_lines(stack: &str) -> impl Iterator<Item = &str> {
    stack
        .lines()
        .take(MAX_STACK_LINES)
        .map(str::trim)
        .filter(|line| !line.is_empty() && line.len() <= MAX_LINE_LEN)
}

/// A frame borrowing from the stack text; avoids allocations on the hot path.
#[derive(Debug, Clone, Copy)]
pub(super) struct RawFrame<'a> {
    pub(super) function: Option<&'a str>,
    pub(super) file: &'a str,
    line: Option<u32>,
    column: Option<u32>,
    pub(super) in_app: bool,
}

impl<'a> RawFrame<'a> {
    /// A frame at its original location (from a source map): in app unless the
    /// original file is a dependency's.
    pub(super) fn original(function: Option<&'a str>, file: &'a str) -> RawFrame<'a> {
        RawFrame {
            function,
            file,
            line: None,
            column: None,
            in_app: is_in_app(function, file),
        }
    }
}

impl From<RawFrame<'_>> for Frame {
    fn from(f: RawFrame<'_>) -> Self {
        Frame {
            function: f.function.map(str::to_owned),
            file: f.file.to_owned(),
            line: f.line,
            column: f.column,
            in_app: f.in_app,
        }
    }
}

/// Parses one trimmed, non-empty stack line.
pub(super) fn parse_line(line: &str) -> Option<RawFrame<'_>> {
    if let Some(rest) = line.strip_prefix("at ") {
        parse_v8(rest)
    } else if line.contains('@') {
        parse_at_sign(line)
    } else {
        None
    }
}

/// V8 / Hermes: the text after `at `.
fn parse_v8(rest: &str) -> Option<RawFrame<'_>> {
    let rest = rest.trim();
    if rest.is_empty() {
        return None;
    }
    let (function, location) = match rest.strip_suffix(')').and_then(|_| matching_open(rest)) {
        Some(open) => (
            clean_v8_function(&rest[..open]),
            &rest[open + 1..rest.len() - 1],
        ),
        None => (None, strip_word(rest, "async ")),
    };
    let location = unwrap_v8_location(location.trim());
    Some(make_frame(function, location))
}

/// Byte index of the `(` matching the final `)` of `s`.
fn matching_open(s: &str) -> Option<usize> {
    let mut depth = 0usize;
    for (i, b) in s.bytes().enumerate().rev() {
        match b {
            b')' => depth += 1,
            b'(' => {
                depth = depth.checked_sub(1)?;
                if depth == 0 {
                    return Some(i);
                }
            }
            _ => {}
        }
    }
    None
}

/// Byte index of the `)` matching the `(` at `open`.
fn matching_close(s: &str, open: usize) -> Option<usize> {
    let mut depth = 0usize;
    for (i, b) in s.bytes().enumerate().skip(open) {
        match b {
            b'(' => depth += 1,
            b')' => {
                depth = depth.checked_sub(1)?;
                if depth == 0 {
                    return Some(i);
                }
            }
            _ => {}
        }
    }
    None
}

fn clean_v8_function(raw: &str) -> Option<&str> {
    let mut f = strip_word(raw.trim(), "async ");
    // "Object.method [as alias]"
    if f.ends_with(']') {
        if let Some(i) = f.rfind(" [as ") {
            f = f[..i].trim_end();
        }
    }
    (!f.is_empty()).then_some(f)
}

fn strip_word<'a>(s: &'a str, word: &str) -> &'a str {
    s.strip_prefix(word).map_or(s, str::trim_start)
}

/// Unwraps `eval at fn (file:L:C), <anonymous>:1:1` down to the location of
/// the code that called `eval`, and Hermes' `address at file:L:C`.
fn unwrap_v8_location(mut location: &str) -> &str {
    for _ in 0..8 {
        let Some(inner) = location.strip_prefix("eval at ") else {
            break;
        };
        match inner.find('(') {
            Some(open) => match matching_close(inner, open) {
                Some(close) => location = inner[open + 1..close].trim(),
                None => {
                    location = inner[open + 1..].trim();
                }
            },
            None => {
                location = inner.rfind(", ").map_or(inner, |i| &inner[i + 2..]).trim();
                break;
            }
        }
    }
    strip_word(location, "address at ")
}

/// SpiderMonkey / JavaScriptCore / Hermes-JSC style: `fn@file:L:C`.
fn parse_at_sign(line: &str) -> Option<RawFrame<'_>> {
    let at = line.find('@')?;
    let raw_function = &line[..at];
    let mut location = line[at + 1..].trim();

    if raw_function.contains(": ") {
        // Most likely a V8 header such as "Error: bad address a@b.c".
        return None;
    }
    if raw_function.contains(char::is_whitespace)
        && !(raw_function.contains('*')
            || raw_function.ends_with(" code")
            || raw_function.starts_with("async "))
    {
        return None;
    }

    // Firefox: "https://x/app.js line 12 > eval:1:5" -> the file that called eval.
    if let Some(i) = location.find(" line ") {
        if location[i..].contains(" > ") {
            location = location[..i].trim_end();
        }
    }
    let plausible = ends_with_position(location)
        || location == "[native code]"
        || location == "native"
        || location.contains("://");
    if !plausible {
        return None;
    }

    // "promise callback*fn", "async*fn" -> "fn"
    let function = raw_function.rsplit('*').next().unwrap_or(raw_function);
    let function = strip_word(function.trim(), "async ");
    let function = (!function.is_empty()).then_some(function);
    Some(make_frame(function, location))
}

fn ends_with_position(location: &str) -> bool {
    split_trailing_number(location).is_some()
}

fn make_frame<'a>(function: Option<&'a str>, location: &'a str) -> RawFrame<'a> {
    let (file, line, column) = split_position(location);
    let file = file.trim();
    RawFrame {
        function,
        file,
        line,
        column,
        in_app: is_in_app(function, file),
    }
}

/// Splits `file:L:C` / `file:L` into its parts. A purely numeric location
/// (`1:2345`, Hermes bytecode position) yields an empty file.
fn split_position(location: &str) -> (&str, Option<u32>, Option<u32>) {
    let Some((rest, last)) = split_trailing_number(location) else {
        return (location, None, None);
    };
    if let Some((file, line)) = split_trailing_number(rest) {
        return (file, line, last);
    }
    if !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_digit()) {
        return ("", rest.parse().ok(), last);
    }
    (rest, last, None)
}

/// `"abc:123"` -> `("abc", Some(123))`; `None` when there is no `:digits` suffix.
/// Numbers that overflow `u32` are still stripped but reported as `None`.
fn split_trailing_number(s: &str) -> Option<(&str, Option<u32>)> {
    let bytes = s.as_bytes();
    let mut start = bytes.len();
    while start > 0 && bytes[start - 1].is_ascii_digit() {
        start -= 1;
    }
    if start == bytes.len() || start == 0 || bytes[start - 1] != b':' {
        return None;
    }
    Some((&s[..start - 1], s[start..].parse().ok()))
}

// ---------------------------------------------------------------------------
// In-app detection
// ---------------------------------------------------------------------------

const EXTENSION_SCHEMES: [&str; 5] = [
    "chrome-extension://",
    "moz-extension://",
    "safari-extension://",
    "safari-web-extension://",
    "webkit-masked-url://",
];

pub(super) fn is_in_app(function: Option<&str>, file: &str) -> bool {
    if file.is_empty() {
        return function.is_some();
    }
    if matches!(
        file,
        "native" | "[native code]" | "<anonymous>" | "anonymous" | "unknown"
    ) {
        return false;
    }
    if file.starts_with("node:") || file.starts_with("internal/") {
        return false;
    }
    if EXTENSION_SCHEMES
        .iter()
        .any(|scheme| starts_with_ignore_ascii_case(file, scheme))
    {
        return false;
    }
    // V8 `at async Promise.all (index 0)`.
    if let Some(n) = file.strip_prefix("index ") {
        if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) {
            return false;
        }
    }
    if has_node_modules_segment(file) {
        return false;
    }
    // Hermes' built-in JavaScript (Promise polyfills and the like).
    let name = file.rsplit(['/', '\\']).next().unwrap_or(file);
    name != "InternalBytecode.js"
}

fn has_node_modules_segment(file: &str) -> bool {
    const SEGMENT: &str = "node_modules";
    let bytes = file.as_bytes();
    let mut from = 0;
    while let Some(pos) = file[from..].find(SEGMENT) {
        let start = from + pos;
        let end = start + SEGMENT.len();
        let before_ok = start == 0 || matches!(bytes[start - 1], b'/' | b'\\');
        let after_ok = matches!(bytes.get(end), Some(b'/' | b'\\'));
        if before_ok && after_ok {
            return true;
        }
        from = end;
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (function, file, line, column)
    type FrameSummary<'a> = (Option<&'a str>, &'a str, Option<u32>, Option<u32>);

    #[test]
    fn in_app_rules() {
        let cases = [
            ("    at f (/app/node_modules/lib/index.js:1:1)", false),
            ("    at f (C:\\app\\node_modules\\lib\\index.js:1:1)", false),
            ("    at f (webpack-internal:///./node_modules/react-dom/cjs/react-dom.development.js:1:1)", false),
            ("    at f (node:internal/timers:1:1)", false),
            ("    at f (internal/process/next_tick.js:1:1)", false),
            ("    at Array.map (<anonymous>)", false),
            ("    at <anonymous>", false),
            ("    at apply (native)", false),
            ("    at async Promise.all (index 0)", false),
            ("    at f (chrome-extension://abcdef/content.js:1:1)", false),
            ("f@moz-extension://2b1a-44/content.js:1:1", false),
            ("forEach@[native code]", false),
            ("    at f (webpack-internal:///./src/components/Cart.tsx:1:1)", true),
            ("    at f (/app/src/my_node_modules_helper.js:1:1)", true),
            ("    at file:///app/src/index.mjs:1:1", true),
            ("f@1:2345", true),
        ];
        for (line, expected) in cases {
            let frames = parse_stack(line);
            assert_eq!(frames.len(), 1, "{line}");
            assert_eq!(frames[0].in_app, expected, "{line}");
        }
    }

    #[test]
    fn parses_v8_frame_shapes() {
        let stack = "Error: boom
    at Object.<anonymous> (/srv/app/index.js:10:3)
    at new Widget (/srv/app/widget.js:5:11)
    at async Promise.all (index 2)
    at /srv/app/main.js:1:2
    at async file:///srv/app/esm.mjs:7:9
    at eval (eval at render (https://x.example/app.js:10:5), <anonymous>:1:1)
    at Page (/srv/app/(marketing)/page.js:3:4)
    at <anonymous>";
        let frames = parse_stack(stack);
        let summary: Vec<FrameSummary<'_>> = frames
            .iter()
            .map(|f| (f.function.as_deref(), f.file.as_str(), f.line, f.column))
            .collect();
        assert_eq!(
            summary,
            vec![
                (
                    Some("Object.<anonymous>"),
                    "/srv/app/index.js",
                    Some(10),
                    Some(3)
                ),
                (Some("new Widget"), "/srv/app/widget.js", Some(5), Some(11)),
                (Some("Promise.all"), "index 2", None, None),
                (None, "/srv/app/main.js", Some(1), Some(2)),
                (None, "file:///srv/app/esm.mjs", Some(7), Some(9)),
                (Some("eval"), "https://x.example/app.js", Some(10), Some(5)),
                (
                    Some("Page"),
                    "/srv/app/(marketing)/page.js",
                    Some(3),
                    Some(4)
                ),
                (None, "<anonymous>", None, None),
            ]
        );
    }

    #[test]
    fn parses_gecko_and_jsc_frame_shapes() {
        let stack = "loadCart/<@https://x.example/app.js:2:40110
promise callback*loadCart@https://x.example/app.js:2:40002
async*init@https://x.example/app.js:3:1
@https://x.example/app.js:9:1
global code@https://x.example/app.js:1:10
handler@https://x.example/app.js line 12 > eval:1:5
vue@https://cdn.example.net/npm/vue@3.4.0/dist/vue.js:5:6
forEach@[native code]";
        let frames = parse_stack(stack);
        let summary: Vec<(Option<&str>, &str, Option<u32>)> = frames
            .iter()
            .map(|f| (f.function.as_deref(), f.file.as_str(), f.line))
            .collect();
        assert_eq!(
            summary,
            vec![
                (Some("loadCart/<"), "https://x.example/app.js", Some(2)),
                (Some("loadCart"), "https://x.example/app.js", Some(2)),
                (Some("init"), "https://x.example/app.js", Some(3)),
                (None, "https://x.example/app.js", Some(9)),
                (Some("global code"), "https://x.example/app.js", Some(1)),
                (Some("handler"), "https://x.example/app.js", None),
                (
                    Some("vue"),
                    "https://cdn.example.net/npm/vue@3.4.0/dist/vue.js",
                    Some(5)
                ),
                (Some("forEach"), "[native code]", None),
            ]
        );
    }

    #[test]
    fn skips_non_frame_lines() {
        let stack = "Error: bad address for a@b.example:25\nsecond line of the message\n\n    at main (/srv/app/index.js:1:1)\nat\n";
        let frames = parse_stack(stack);
        assert_eq!(frames.len(), 1);
        assert_eq!(frames[0].function.as_deref(), Some("main"));
        // Overflowing numbers are dropped, not panicked on.
        let frames = parse_stack("    at f (/a.js:99999999999:1)");
        assert_eq!(frames[0].line, None);
        assert_eq!(frames[0].column, Some(1));
    }

    #[test]
    fn parse_is_bounded_to_200_lines() {
        let stack = "    at f (/srv/app/a.js:1:1)\n".repeat(500);
        assert_eq!(parse_stack(&stack).len(), MAX_STACK_LINES);
    }
}
