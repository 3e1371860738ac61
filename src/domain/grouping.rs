//! Error grouping: turns one error report (app label, message, optional stack
//! trace) into a stable fingerprint, so that repeated occurrences of the same
//! bug land in the same group while different bugs stay apart.
//!
//! The module is pure: no IO, no global state besides lazily compiled regexes.
//! Every function accepts arbitrary input without panicking, and the amount of
//! work is bounded (see the `MAX_*` constants).
//!
//! The algorithm is documented for users in `docs/GROUPING.md`; keep the two in
//! sync when changing anything that affects fingerprints.

use std::borrow::Cow;
use std::sync::LazyLock;

use regex::Regex;
use sha2::{Digest, Sha256};

/// Result of grouping one error report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grouping {
    /// 64 lowercase hex chars: SHA-256 of the canonical fingerprint material; unique key of a group within a project.
    pub fingerprint: String,
    /// Error class such as "TypeError", taken from the message prefix if present, else from the stack's first line (V8 "TypeError: msg"), else None.
    pub error_type: Option<String>,
    /// The message with variable parts replaced by placeholders (what the group shows as title material).
    pub normalized_message: String,
    /// The top in-app frame as "function (file)" or "file" — for display; None when no frame parsed.
    pub top_frame: Option<String>,
}

/// One parsed stack frame.
///
/// `file` is the location as written in the stack (URL or path) with the
/// line/column suffix removed and engine wrappers (`address at`, `eval at`,
/// Firefox `line N > eval`) unwrapped. It is empty for frames that carry only
/// a function name and a bytecode position (Hermes `fn@1:2345`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// Function name as reported by the engine (`async` markers removed), if any.
    pub function: Option<String>,
    /// Source location without line/column.
    pub file: String,
    /// 1-based line number, if present.
    pub line: Option<u32>,
    /// Column (or Hermes bytecode offset), if present.
    pub column: Option<u32>,
    /// Whether the frame belongs to the application rather than to
    /// dependencies, the runtime or browser extensions.
    pub in_app: bool,
}

/// Version tag mixed into every fingerprint. Bump only together with a
/// migration plan: changing it splits every existing group.
const FINGERPRINT_VERSION: &[u8] = b"telemetry-tracker/grouping/v1";
/// At most this many stack lines are examined.
const MAX_STACK_LINES: usize = 200;
/// Longer stack lines are ignored (no real frame is this long).
const MAX_LINE_LEN: usize = 4096;
/// Number of frames that contribute to the fingerprint.
const MAX_FINGERPRINT_FRAMES: usize = 5;
/// Only this prefix of the message (in bytes) is normalised.
const MAX_MESSAGE_INPUT: usize = 8 * 1024;
/// The normalised message is cut to this many bytes.
const MAX_NORMALIZED_MESSAGE: usize = 1024;
/// Longest quoted value (in bytes) replaced by `<str>`.
const MAX_QUOTED: usize = 256;
/// Longest accepted error type name.
const MAX_TYPE_LEN: usize = 100;

/// URLs with an explicit scheme; the last character may not be trailing
/// punctuation, so "see https://x.io/a." keeps its full stop.
static URL_RE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"[A-Za-z][A-Za-z0-9+.\-]*://[^\s'"`<>()\[\]{}]*[^\s'"`<>()\[\]{}.,;:!?]"#)
        .expect("URL regex is valid")
});

/// E-mail addresses.
static EMAIL_RE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}")
        .expect("e-mail regex is valid")
});

/// Groups one error report. See the module documentation and
/// `docs/GROUPING.md` for the rules.
pub fn group(app: &str, message: &str, stack: Option<&str>) -> Grouping {
    let app = app.trim();

    let (message_type, mut message_body) = match split_error_prefix(message, false) {
        Some((name, rest)) => (Some(name), rest),
        None => (None, message),
    };

    let mut header: Option<(&str, &str)> = None;
    let mut top: Vec<RawFrame<'_>> = Vec::new();
    let mut in_app: Vec<RawFrame<'_>> = Vec::new();

    if let Some(stack) = stack {
        let mut first = true;
        for line in stack.lines().take(MAX_STACK_LINES) {
            let line = line.trim();
            if line.is_empty() || line.len() > MAX_LINE_LEN {
                continue;
            }
            if first {
                first = false;
                if let Some(h) = split_error_prefix(line, true) {
                    header = Some(h);
                    continue;
                }
            }
            let Some(frame) = parse_line(line) else {
                continue;
            };
            if frame.in_app {
                in_app.push(frame);
            }
            if top.len() < MAX_FINGERPRINT_FRAMES {
                top.push(frame);
            }
            if in_app.len() >= MAX_FINGERPRINT_FRAMES {
                break;
            }
        }
    }

    let error_type = message_type.or(header.map(|(name, _)| name));
    if message_body.trim().is_empty() {
        if let Some((_, header_message)) = header {
            message_body = header_message;
        }
    }
    let normalized_message = normalize_message(message_body);

    let frames = if in_app.is_empty() { &top } else { &in_app };
    let mut hasher = Sha256::new();
    hash_field(&mut hasher, FINGERPRINT_VERSION);
    hash_field(&mut hasher, app.as_bytes());
    hash_opt_field(&mut hasher, error_type);
    hash_field(&mut hasher, normalized_message.as_bytes());
    hasher.update((frames.len() as u64).to_le_bytes());

    let mut top_frame = None;
    let mut file_buf = String::new();
    for (index, frame) in frames.iter().enumerate() {
        file_buf.clear();
        normalize_file_into(frame.file, &mut file_buf);
        hash_opt_field(&mut hasher, frame.function);
        hash_field(&mut hasher, file_buf.as_bytes());
        if index == 0 {
            top_frame = Some(display_frame(frame.function, &file_buf));
        }
    }

    Grouping {
        fingerprint: hex::encode(hasher.finalize()),
        error_type: error_type.map(str::to_owned),
        normalized_message,
        top_frame,
    }
}

/// Parses a stack trace in V8 (Chrome, Node, Edge), SpiderMonkey (Firefox),
/// JavaScriptCore (Safari) or Hermes (React Native) format. Lines that are not
/// frames (the V8 header, message continuation lines, blank lines) are
/// skipped. At most 200 lines are examined.
pub fn parse_stack(stack: &str) -> Vec<Frame> {
    stack
        .lines()
        .take(MAX_STACK_LINES)
        .filter_map(|line| {
            let line = line.trim();
            if line.is_empty() || line.len() > MAX_LINE_LEN {
                None
            } else {
                parse_line(line)
            }
        })
        .map(|f| Frame {
            function: f.function.map(str::to_owned),
            file: f.file.to_owned(),
            line: f.line,
            column: f.column,
            in_app: f.in_app,
        })
        .collect()
}

/// A frame borrowing from the stack text; avoids allocations on the hot path.
#[derive(Debug, Clone, Copy)]
struct RawFrame<'a> {
    function: Option<&'a str>,
    file: &'a str,
    line: Option<u32>,
    column: Option<u32>,
    in_app: bool,
}

fn hash_field(hasher: &mut Sha256, bytes: &[u8]) {
    hasher.update((bytes.len() as u64).to_le_bytes());
    hasher.update(bytes);
}

fn hash_opt_field(hasher: &mut Sha256, value: Option<&str>) {
    match value {
        Some(v) => {
            hasher.update([1u8]);
            hash_field(hasher, v.as_bytes());
        }
        None => hasher.update([0u8]),
    }
}

fn display_frame(function: Option<&str>, file: &str) -> String {
    match (function, file.is_empty()) {
        (Some(func), true) => func.to_owned(),
        (Some(func), false) => format!("{func} ({file})"),
        (None, _) => file.to_owned(),
    }
}

// ---------------------------------------------------------------------------
// Error type
// ---------------------------------------------------------------------------

/// Splits `"Name: rest"` into `("Name", "rest")` when `Name` looks like an
/// error class. A leading `Uncaught ` / `Uncaught (in promise) ` (browser
/// console wording) is skipped. With `allow_bare`, a line consisting of only
/// the name (V8 header of an error with an empty message) is accepted too.
fn split_error_prefix(text: &str, allow_bare: bool) -> Option<(&str, &str)> {
    let mut s = text.trim_start();
    for prefix in ["Uncaught (in promise) ", "Uncaught "] {
        if let Some(rest) = s.strip_prefix(prefix) {
            s = rest;
            break;
        }
    }

    if let Some(rest) = s.strip_prefix("Invariant Violation") {
        if rest.is_empty() && allow_bare {
            return Some(("Invariant Violation", ""));
        }
        if let Some(rest) = rest.strip_prefix(':') {
            return Some(("Invariant Violation", rest.trim_start()));
        }
        return None;
    }

    let bytes = s.as_bytes();
    let mut end = 0;
    while end < bytes.len() && end <= MAX_TYPE_LEN && is_type_byte(bytes[end]) {
        end += 1;
    }
    let name = &s[..end];
    if !is_error_type_name(name) {
        return None;
    }
    let rest = &s[end..];
    if rest.is_empty() {
        return allow_bare.then_some((name, ""));
    }
    let after_colon = rest.strip_prefix(':')?;
    if after_colon.is_empty() || after_colon.starts_with(char::is_whitespace) {
        Some((name, after_colon.trim_start()))
    } else {
        None
    }
}

fn is_type_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'$' || b == b'.'
}

/// An identifier (dots allowed for namespaced classes) ending in `Error` or
/// `Exception`, e.g. `Error`, `TypeError`, `AbortError`, `DOMException`.
fn is_error_type_name(name: &str) -> bool {
    if name.is_empty() || name.len() > MAX_TYPE_LEN {
        return false;
    }
    let first = name.as_bytes()[0];
    if first.is_ascii_digit() || first == b'.' || name.ends_with('.') || name.contains("..") {
        return false;
    }
    name.ends_with("Error") || name.ends_with("Exception")
}

// ---------------------------------------------------------------------------
// Stack parsing
// ---------------------------------------------------------------------------

/// Parses one trimmed, non-empty stack line.
fn parse_line(line: &str) -> Option<RawFrame<'_>> {
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

fn is_in_app(function: Option<&str>, file: &str) -> bool {
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

fn starts_with_ignore_ascii_case(s: &str, prefix: &str) -> bool {
    s.as_bytes()
        .get(..prefix.len())
        .is_some_and(|head| head.eq_ignore_ascii_case(prefix.as_bytes()))
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

// ---------------------------------------------------------------------------
// File normalisation (fingerprint and display)
// ---------------------------------------------------------------------------

/// Appends the release-independent form of a frame's file to `out`:
/// query/fragment, scheme and host removed, build hashes dropped from the file
/// name, hash-like and version-like directories replaced by placeholders.
fn normalize_file_into(raw: &str, out: &mut String) {
    let mut s = raw.trim();
    if let Some(i) = s.find(['?', '#']) {
        s = &s[..i];
    }
    if starts_with_ignore_ascii_case(s, "data:") {
        out.push_str("data:");
        return;
    }
    if let Some(rest) = s.strip_prefix("blob:") {
        s = rest;
    }
    let mut stripped = false;
    for prefix in ["webpack-internal:///", "webpack:///", "file://"] {
        if let Some(rest) = s.strip_prefix(prefix) {
            s = rest;
            stripped = true;
            break;
        }
    }
    if !stripped {
        if let Some(i) = s.find("://") {
            let scheme = &s[..i];
            let valid_scheme = scheme.starts_with(|c: char| c.is_ascii_alphabetic())
                && scheme
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'));
            if valid_scheme {
                let after = &s[i + 3..];
                s = after.find('/').map_or("/", |j| &after[j..]);
            }
        }
    }
    while let Some(rest) = s.strip_prefix("./") {
        s = rest;
    }

    let owned;
    if s.contains('\\') {
        owned = s.replace('\\', "/");
        s = &owned;
    }

    let (dirs, name) = match s.rfind('/') {
        Some(i) => (Some(&s[..i]), &s[i + 1..]),
        None => (None, s),
    };
    if let Some(dirs) = dirs {
        let mut first = true;
        for segment in dirs.split('/') {
            if segment == "." && !first {
                continue;
            }
            if !first {
                out.push('/');
            }
            first = false;
            out.push_str(normalize_dir_segment(segment));
        }
        out.push('/');
    }
    normalize_file_name_into(name, out);
}

fn normalize_dir_segment(segment: &str) -> &str {
    if is_uuid(segment.as_bytes()) {
        "<uuid>"
    } else if is_version(segment) {
        "<ver>"
    } else if is_hex_hash(segment, 8) || is_build_id(segment) {
        "<hash>"
    } else {
        segment
    }
}

/// `main.8c2d1e4f.chunk.js` -> `main.chunk.js`, `app-3f9a1c.js` -> `app.js`,
/// `index-DiwrgTda.js` -> `index.js`, `3f9a1c8d.js` -> `<hash>.js`.
fn normalize_file_name_into(name: &str, out: &mut String) {
    let parts = name.split('.').count();
    for (index, part) in name.split('.').enumerate() {
        if index == 0 {
            out.push_str(strip_hash_suffix(part));
        } else if index + 1 == parts || !is_hash_token(part) {
            out.push('.');
            out.push_str(part);
        }
    }
}

fn strip_hash_suffix(stem: &str) -> &str {
    // A whole name that is a hash (`[contenthash].js`); stricter than the
    // token rule so that names like `jquery-3` survive.
    if is_hex_hash(stem, 8) {
        return "<hash>";
    }
    if let Some(i) = stem.rfind(['-', '_']) {
        if i > 0 && is_hash_token(&stem[i + 1..]) {
            return &stem[..i];
        }
    }
    // Vite/Rollup base64url hashes may themselves contain '-' or '_'.
    let len = stem.len();
    if len > 9 && stem.as_bytes()[len - 9] == b'-' && looks_random8(&stem[len - 8..]) {
        return &stem[..len - 9];
    }
    stem
}

fn is_hash_token(token: &str) -> bool {
    is_hex_hash(token, 5) || looks_random8(token)
}

/// Hex digits only, at least `min_len` long, at least one decimal digit.
fn is_hex_hash(token: &str, min_len: usize) -> bool {
    token.len() >= min_len
        && token.bytes().all(|b| b.is_ascii_hexdigit())
        && token.bytes().any(|b| b.is_ascii_digit())
}

/// Eight base64url characters that do not read like a word: mixed case that
/// is not a capitalised word, letters mixed with digits, or upper case only
/// (esbuild). Matches Vite/Rollup/esbuild default content hashes.
fn looks_random8(token: &str) -> bool {
    let bytes = token.as_bytes();
    if bytes.len() != 8
        || !bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_'))
    {
        return false;
    }
    let upper = bytes.iter().filter(|b| b.is_ascii_uppercase()).count();
    let lower = bytes.iter().any(u8::is_ascii_lowercase);
    let digit = bytes.iter().any(u8::is_ascii_digit);
    let capitalised_word = upper == 1 && bytes[0].is_ascii_uppercase();
    (upper > 0 && lower && !capitalised_word) || (digit && (upper > 0 || lower)) || (upper == 8)
}

/// Long random build ids used as directory names (Next.js `buildId`).
fn is_build_id(segment: &str) -> bool {
    let bytes = segment.as_bytes();
    bytes.len() >= 16
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_'))
        && bytes.iter().any(u8::is_ascii_digit)
        && bytes.iter().any(u8::is_ascii_uppercase)
        && bytes.iter().any(u8::is_ascii_lowercase)
}

/// `1.4.2`, `v2.0`, `2024.05.01`.
fn is_version(segment: &str) -> bool {
    let s = segment
        .strip_prefix(['v', 'V'])
        .unwrap_or(segment)
        .as_bytes();
    !s.is_empty()
        && s[0].is_ascii_digit()
        && s[s.len() - 1].is_ascii_digit()
        && s.contains(&b'.')
        && s.iter().all(|b| b.is_ascii_digit() || *b == b'.')
        && !s.windows(2).any(|w| w == b"..")
}

fn is_uuid(bytes: &[u8]) -> bool {
    bytes.len() == 36
        && bytes.iter().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => *b == b'-',
            _ => b.is_ascii_hexdigit(),
        })
}

// ---------------------------------------------------------------------------
// Message normalisation
// ---------------------------------------------------------------------------

/// Replaces the variable parts of a message with placeholders and collapses
/// whitespace. See `docs/GROUPING.md` for the rules.
fn normalize_message(message: &str) -> String {
    let message = truncate_at_char_boundary(message, MAX_MESSAGE_INPUT);
    let mut s: Cow<'_, str> = Cow::Borrowed(message);
    if s.contains("://") && URL_RE.is_match(&s) {
        s = Cow::Owned(URL_RE.replace_all(&s, "<url>").into_owned());
    }
    if s.contains('@') && EMAIL_RE.is_match(&s) {
        s = Cow::Owned(EMAIL_RE.replace_all(&s, "<email>").into_owned());
    }
    let s = replace_quoted(&s);
    let mut out = String::with_capacity(s.len().min(MAX_NORMALIZED_MESSAGE));
    replace_tokens(&s, &mut out);
    let keep = truncate_at_char_boundary(&out, MAX_NORMALIZED_MESSAGE).len();
    out.truncate(keep);
    out
}

fn truncate_at_char_boundary(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// Replaces `'…'`, `"…"` and `` `…` `` (on one line, at most
/// [`MAX_QUOTED`] bytes) with `<str>`. An apostrophe inside a word ("can't")
/// neither opens nor closes a quote.
fn replace_quoted(s: &str) -> Cow<'_, str> {
    if !s.bytes().any(is_quote) {
        return Cow::Borrowed(s);
    }
    let bytes = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    let mut copied = 0;
    let mut i = 0;
    while i < bytes.len() {
        let q = bytes[i];
        if is_quote(q) && (q != b'\'' || !prev_is_alphanumeric(s, i)) {
            if let Some(close) = find_closing_quote(s, i + 1, q) {
                out.push_str(&s[copied..i]);
                out.push_str("<str>");
                i = close + 1;
                copied = i;
                continue;
            }
        }
        i += 1;
    }
    out.push_str(&s[copied..]);
    Cow::Owned(out)
}

fn is_quote(b: u8) -> bool {
    matches!(b, b'\'' | b'"' | b'`')
}

fn prev_is_alphanumeric(s: &str, i: usize) -> bool {
    s[..i]
        .chars()
        .next_back()
        .is_some_and(char::is_alphanumeric)
}

fn find_closing_quote(s: &str, start: usize, quote: u8) -> Option<usize> {
    let bytes = s.as_bytes();
    let end = bytes.len().min(start.saturating_add(MAX_QUOTED + 1));
    for (j, &b) in bytes.iter().enumerate().take(end).skip(start) {
        if b == b'\n' {
            return None;
        }
        if b == quote
            && (quote != b'\'' || !s[j + 1..].chars().next().is_some_and(char::is_alphanumeric))
        {
            return Some(j);
        }
    }
    None
}

/// Replaces UUIDs, hex ids and numbers inside `s`, appending to `out`;
/// collapses whitespace runs to one space and trims both ends.
fn replace_tokens(s: &str, out: &mut String) {
    let bytes = s.as_bytes();
    let mut i = 0;
    let mut pending_space = false;
    while i < bytes.len() {
        let b = bytes[i];
        if b.is_ascii() {
            if b.is_ascii_whitespace() {
                pending_space = !out.is_empty();
                i += 1;
                continue;
            }
            if pending_space {
                out.push(' ');
                pending_space = false;
            }
            if !b.is_ascii_alphanumeric() {
                out.push(char::from(b));
                i += 1;
                continue;
            }
            if bytes.len() - i >= 36 && is_uuid(&bytes[i..i + 36]) {
                let boundary = bytes.get(i + 36).is_none_or(|n| !n.is_ascii_alphanumeric());
                if boundary {
                    out.push_str("<uuid>");
                    i += 36;
                    continue;
                }
            }
            let start = i;
            while i < bytes.len() && bytes[i].is_ascii_alphanumeric() {
                i += 1;
            }
            let run = &s[start..i];
            let digits = run.bytes().take_while(u8::is_ascii_digit).count();
            if digits == run.len() {
                // Decimals and dotted versions collapse into one number.
                while i + 1 < bytes.len() && bytes[i] == b'.' && bytes[i + 1].is_ascii_digit() {
                    i += 1;
                    while i < bytes.len() && bytes[i].is_ascii_digit() {
                        i += 1;
                    }
                }
                out.push_str("<num>");
            } else if is_hex_literal(run) || is_hex_hash(run, 6) {
                out.push_str("<hex>");
            } else if digits > 0
                && run.len() - digits <= 3
                && run[digits..].bytes().all(|c| c.is_ascii_alphabetic())
            {
                // Units and ordinals: "5000ms", "10px", "2nd".
                out.push_str("<num>");
                out.push_str(&run[digits..]);
            } else {
                out.push_str(run);
            }
            continue;
        }
        let Some(ch) = s[i..].chars().next() else {
            break;
        };
        if ch.is_whitespace() {
            pending_space = !out.is_empty();
        } else {
            if pending_space {
                out.push(' ');
                pending_space = false;
            }
            out.push(ch);
        }
        i += ch.len_utf8();
    }
}

fn is_hex_literal(run: &str) -> bool {
    let Some(digits) = run.strip_prefix("0x").or_else(|| run.strip_prefix("0X")) else {
        return false;
    };
    !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_hexdigit())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    // --- Fixtures ------------------------------------------------------------

    const CHROME_R1: &str = "TypeError: Cannot read properties of undefined (reading 'price')
    at computeTotal (https://shop.example.com/assets/index-3f9a1c7b.js:2:48213)
    at CartSummary (https://shop.example.com/assets/index-3f9a1c7b.js:2:51877)
    at renderWithHooks (https://shop.example.com/assets/vendor-react-8d2e11f0.js:1:23014)
    at mountIndeterminateComponent (https://shop.example.com/assets/vendor-react-8d2e11f0.js:1:27530)
    at beginWork (https://shop.example.com/assets/vendor-react-8d2e11f0.js:1:29321)
    at HTMLUnknownElement.callCallback (https://shop.example.com/assets/vendor-react-8d2e11f0.js:1:2103)
    at Object.invokeGuardedCallbackDev (https://shop.example.com/assets/vendor-react-8d2e11f0.js:1:2452)";

    // Next release: new bundle hashes, shifted columns, served from the CDN.
    const CHROME_R2: &str = "TypeError: Cannot read properties of undefined (reading 'price')
    at computeTotal (https://cdn.shop-static.net/assets/index-b71e09d4.js:2:49102)
    at CartSummary (https://cdn.shop-static.net/assets/index-b71e09d4.js:2:52790)
    at renderWithHooks (https://cdn.shop-static.net/assets/vendor-react-c0ffee12.js:1:23014)
    at mountIndeterminateComponent (https://cdn.shop-static.net/assets/vendor-react-c0ffee12.js:1:27530)
    at beginWork (https://cdn.shop-static.net/assets/vendor-react-c0ffee12.js:1:29321)
    at HTMLUnknownElement.callCallback (https://cdn.shop-static.net/assets/vendor-react-c0ffee12.js:1:2103)
    at Object.invokeGuardedCallbackDev (https://cdn.shop-static.net/assets/vendor-react-c0ffee12.js:1:2452)";

    const CHROME_CRA_R1: &str = "Error: Cart 5f2b9c1e8a7d: item 1043 not found
    at e.addItem (https://app.example.com/static/js/main.8c2d1e4f.chunk.js?v=123:1:10532)
    at onClick (https://app.example.com/static/js/main.8c2d1e4f.chunk.js?v=123:1:22817)
    at Object.Ue (https://app.example.com/static/js/2.7a1b3c9d.chunk.js:2:9983)
    at chrome-extension://fmkadmapgofadopljbjfkapdkoienihi/build/installHook.js:1:38051";

    const CHROME_CRA_R2: &str = "Error: Cart a81e3d92bc04: item 77 not found
    at e.addItem (https://app.example.com/static/js/main.d41d8cd9.chunk.js?v=456:1:10988)
    at onClick (https://app.example.com/static/js/main.d41d8cd9.chunk.js?v=456:1:23120)
    at Object.Ue (https://app.example.com/static/js/2.0f3e8a21.chunk.js:2:9983)
    at chrome-extension://fmkadmapgofadopljbjfkapdkoienihi/build/installHook.js:1:38051";

    const NEXT_R1: &str = "Error: Hydration failed for session 3b1f2c1a-9d4e-4c2b-8f6a-0e2d7c9b5a11
    at throwOnHydrationMismatch (https://www.example.org/_next/static/chunks/framework-2c79e2a64abdb08b.js:9:50210)
    at Home (https://www.example.org/_next/static/chunks/pages/index-abc123def.js:1:1841)
    at Ni (https://www.example.org/_next/static/chunks/framework-2c79e2a64abdb08b.js:9:62104)";

    const NEXT_R2: &str = "Error: Hydration failed for session 8c0e4d6f-1a2b-4c3d-9e8f-7a6b5c4d3e2f
    at throwOnHydrationMismatch (https://www.example.org/_next/static/chunks/framework-91e0d2a3f1c5b7e4.js:9:50388)
    at Home (https://www.example.org/_next/static/chunks/pages/index-5d41402abc4b2a76.js:1:1910)
    at Ni (https://www.example.org/_next/static/chunks/framework-91e0d2a3f1c5b7e4.js:9:62104)";

    const NODE_STACK: &str = "TypeError: Cannot read properties of null (reading 'id')
    at serializeUser (/srv/api/src/auth/session.js:42:27)
    at async loginHandler (/srv/api/src/routes/login.js:18:5)
    at async /srv/api/node_modules/express-async-handler/index.js:3:12
    at Layer.handle [as handle_request] (/srv/api/node_modules/express/lib/router/layer.js:95:5)
    at next (/srv/api/node_modules/express/lib/router/route.js:144:13)
    at process.processTicksAndRejections (node:internal/process/task_queues:95:5)";

    const NODE_STACK_LIBRARY_TOP: &str = "Error: connect ECONNREFUSED 127.0.0.1:5432
    at TCPConnectWrap.afterConnect [as oncomplete] (node:net:1595:16)
    at Client._connectionCallback (/srv/api/node_modules/pg/lib/client.js:132:24)
    at new Pool (/srv/api/node_modules/pg-pool/index.js:83:19)
    at Object.<anonymous> (/srv/api/src/db/pool.js:7:14)
    at Module._compile (node:internal/modules/cjs/loader:1256:14)
    at Module._extensions..js (node:internal/modules/cjs/loader:1310:10)
    at Module.load (node:internal/modules/cjs/loader:1119:32)";

    const NODE_INTERNAL_ONLY: &str = "Error: read ECONNRESET
    at TCP.onStreamRead (node:internal/stream_base_commons:217:20)
    at TLSWrap.callbackTrampoline (node:internal/async_hooks:130:17)";

    const FIREFOX_R1: &str =
        "computeTotal@https://shop.example.com/assets/index-3f9a1c7b.js:2:48213
CartSummary@https://shop.example.com/assets/index-3f9a1c7b.js:2:51877
renderWithHooks@https://shop.example.com/assets/vendor-react-8d2e11f0.js:1:23014
loadCart/<@https://shop.example.com/assets/index-3f9a1c7b.js:2:40110
promise callback*loadCart@https://shop.example.com/assets/index-3f9a1c7b.js:2:40002
@https://shop.example.com/assets/index-3f9a1c7b.js:2:61000
";

    const FIREFOX_R2: &str =
        "computeTotal@https://shop.example.com/assets/index-b71e09d4.js:2:49102
CartSummary@https://shop.example.com/assets/index-b71e09d4.js:2:52790
renderWithHooks@https://shop.example.com/assets/vendor-react-c0ffee12.js:1:23014
loadCart/<@https://shop.example.com/assets/index-b71e09d4.js:2:40999
promise callback*loadCart@https://shop.example.com/assets/index-b71e09d4.js:2:40801
@https://shop.example.com/assets/index-b71e09d4.js:2:61500
";

    const SAFARI_R1: &str = "computeTotal@https://shop.example.com/assets/index-3f9a1c7b.js:2:48213
CartSummary@https://shop.example.com/assets/index-3f9a1c7b.js:2:51877
forEach@[native code]
global code@https://shop.example.com/assets/index-3f9a1c7b.js:2:60001";

    const SAFARI_R2: &str = "computeTotal@https://shop.example.com/assets/index-b71e09d4.js:2:49102
CartSummary@https://shop.example.com/assets/index-b71e09d4.js:2:52790
forEach@[native code]
global code@https://shop.example.com/assets/index-b71e09d4.js:2:61234";

    const HERMES_R1: &str = "TypeError: undefined is not a function
    at anonymous (address at index.android.bundle:1:734512)
    at fetchProfile (address at index.android.bundle:1:802113)
    at tryCallOne (address at InternalBytecode.js:1:1180)
    at anonymous (address at InternalBytecode.js:1:1874)
    at apply (native)
    at _callTimer (address at index.android.bundle:1:61470)";

    const HERMES_R2: &str = "TypeError: undefined is not a function
    at anonymous (address at index.android.bundle:1:741003)
    at fetchProfile (address at index.android.bundle:1:809876)
    at tryCallOne (address at InternalBytecode.js:1:1180)
    at anonymous (address at InternalBytecode.js:1:1874)
    at apply (native)
    at _callTimer (address at index.android.bundle:1:61502)";

    const HERMES_BYTECODE: &str = "fetchProfile@1:802113
anonymous@1:734512
tryCallOne@1:1180";

    /// (function, file, line, column)
    type FrameSummary<'a> = (Option<&'a str>, &'a str, Option<u32>, Option<u32>);

    fn fp(app: &str, message: &str, stack: Option<&str>) -> String {
        group(app, message, stack).fingerprint
    }

    // --- 1. Same bug across releases -------------------------------------------

    #[test]
    fn sdk_fixture_groups_across_hosts_and_bundle_hashes() {
        let a = group(
            "shop",
            "Request 5321 failed with status 503",
            Some("Error: Request 5321 failed with status 503\n    at https://shop.example.com/assets/app-3f9a1c.js:22:19"),
        );
        let b = group(
            "shop",
            "Request 777 failed with status 503",
            Some("Error: Request 777 failed with status 503\n    at https://cdn.example.com/assets/app-77aa01.js:31:7"),
        );
        assert_eq!(a.fingerprint, b.fingerprint);
        assert_eq!(a.error_type.as_deref(), Some("Error"));
        assert_eq!(b.error_type.as_deref(), Some("Error"));
        assert_eq!(
            a.normalized_message,
            "Request <num> failed with status <num>"
        );
        assert_eq!(a.top_frame.as_deref(), Some("/assets/app.js"));
    }

    #[test]
    fn v8_same_bug_two_releases() {
        let msg = "Cannot read properties of undefined (reading 'price')";
        let a = group("web", msg, Some(CHROME_R1));
        let b = group("web", msg, Some(CHROME_R2));
        assert_eq!(a, b);
        assert_eq!(
            a.top_frame.as_deref(),
            Some("computeTotal (/assets/index.js)")
        );
    }

    #[test]
    fn v8_cra_chunks_with_query_strings_and_ids_in_message() {
        let a = group(
            "web",
            "Cart 5f2b9c1e8a7d: item 1043 not found",
            Some(CHROME_CRA_R1),
        );
        let b = group(
            "web",
            "Cart a81e3d92bc04: item 77 not found",
            Some(CHROME_CRA_R2),
        );
        assert_eq!(a.fingerprint, b.fingerprint);
        assert_eq!(a.normalized_message, "Cart <hex>: item <num> not found");
        assert_eq!(
            a.top_frame.as_deref(),
            Some("e.addItem (/static/js/main.chunk.js)")
        );
    }

    #[test]
    fn v8_nextjs_chunks_and_uuid_in_message() {
        let a = group("site", "", Some(NEXT_R1));
        let b = group("site", "", Some(NEXT_R2));
        assert_eq!(a.fingerprint, b.fingerprint);
        // Empty message falls back to the stack header.
        assert_eq!(a.normalized_message, "Hydration failed for session <uuid>");
        assert_eq!(
            a.top_frame.as_deref(),
            Some("throwOnHydrationMismatch (/_next/static/chunks/framework.js)")
        );
    }

    #[test]
    fn firefox_same_bug_two_releases() {
        let a = group(
            "web",
            "can't access property \"price\", item is undefined",
            Some(FIREFOX_R1),
        );
        let b = group(
            "web",
            "can't access property \"price\", item is undefined",
            Some(FIREFOX_R2),
        );
        assert_eq!(a.fingerprint, b.fingerprint);
        assert_eq!(
            a.normalized_message,
            "can't access property <str>, item is undefined"
        );
    }

    #[test]
    fn safari_same_bug_two_releases() {
        let a = group(
            "web",
            "undefined is not an object (evaluating 'item.price')",
            Some(SAFARI_R1),
        );
        let b = group(
            "web",
            "undefined is not an object (evaluating 'line.price')",
            Some(SAFARI_R2),
        );
        assert_eq!(a.fingerprint, b.fingerprint);
        assert_eq!(
            a.top_frame.as_deref(),
            Some("computeTotal (/assets/index.js)")
        );
    }

    #[test]
    fn hermes_same_bug_two_releases() {
        let a = group("mobile", "Profile 1234 not found", Some(HERMES_R1));
        let b = group("mobile", "Profile 98 not found", Some(HERMES_R2));
        assert_eq!(a.fingerprint, b.fingerprint);
        assert_eq!(a.error_type.as_deref(), Some("TypeError"));
        assert_eq!(
            a.top_frame.as_deref(),
            Some("anonymous (index.android.bundle)")
        );
    }

    #[test]
    fn hermes_bytecode_positions_group_across_releases() {
        let shifted = "fetchProfile@1:809876\nanonymous@1:741003\ntryCallOne@1:1180";
        let a = group("mobile", "Network request failed", Some(HERMES_BYTECODE));
        let b = group("mobile", "Network request failed", Some(shifted));
        assert_eq!(a.fingerprint, b.fingerprint);
        assert_eq!(a.top_frame.as_deref(), Some("fetchProfile"));
    }

    // --- 2. Different bugs -----------------------------------------------------

    #[test]
    fn different_top_function_is_a_different_group() {
        let msg = "Cannot read properties of undefined (reading 'price')";
        let other = CHROME_R1.replace("at computeTotal", "at computeTax");
        assert_ne!(
            fp("web", msg, Some(CHROME_R1)),
            fp("web", msg, Some(&other))
        );
    }

    #[test]
    fn different_file_is_a_different_group() {
        let msg = "Cannot read properties of undefined (reading 'price')";
        let other =
            CHROME_R1.replacen("assets/index-3f9a1c7b.js", "assets/checkout-3f9a1c7b.js", 1);
        assert_ne!(
            fp("web", msg, Some(CHROME_R1)),
            fp("web", msg, Some(&other))
        );
    }

    #[test]
    fn different_message_shape_is_a_different_group() {
        let a = fp("web", "Request 1 failed with status 503", Some(CHROME_R1));
        let b = fp("web", "Request 1 timed out after 30 s", Some(CHROME_R1));
        assert_ne!(a, b);
        assert_ne!(
            fp("web", "Request 1 failed", None),
            fp("web", "Response 1 failed", None)
        );
    }

    #[test]
    fn same_message_at_different_call_sites_is_different() {
        let msg = "Request 5321 failed with status 503";
        let site_a = "Error: x\n    at loadCart (https://shop.example.com/assets/app-3f9a1c.js:22:19)\n    at main (https://shop.example.com/assets/app-3f9a1c.js:90:1)";
        let site_b = "Error: x\n    at loadWishlist (https://shop.example.com/assets/app-3f9a1c.js:48:3)\n    at main (https://shop.example.com/assets/app-3f9a1c.js:95:1)";
        assert_ne!(fp("shop", msg, Some(site_a)), fp("shop", msg, Some(site_b)));
    }

    #[test]
    fn different_error_type_is_a_different_group() {
        assert_ne!(
            fp("web", "TypeError: x is not a function", None),
            fp("web", "RangeError: x is not a function", None)
        );
    }

    #[test]
    fn stack_vs_no_stack_are_different_groups() {
        let msg = "Cannot read properties of undefined (reading 'price')";
        assert_ne!(fp("web", msg, Some(CHROME_R1)), fp("web", msg, None));
    }

    // --- 3. App scoping ----------------------------------------------------------

    #[test]
    fn same_error_in_two_apps_is_two_groups() {
        let msg = "Cannot read properties of undefined (reading 'price')";
        assert_ne!(
            fp("web", msg, Some(CHROME_R1)),
            fp("admin", msg, Some(CHROME_R1))
        );
        assert_ne!(
            fp("web", "Script error.", None),
            fp("admin", "Script error.", None)
        );
    }

    #[test]
    fn app_label_is_trimmed() {
        assert_eq!(fp("  web\n", "Boom", None), fp("web", "Boom", None));
    }

    #[test]
    fn script_error_groups_by_app() {
        let a = group("web", "Script error.", None);
        let b = group("web", "Script error.", Some(""));
        assert_eq!(a, b);
        assert_eq!(a.normalized_message, "Script error.");
        assert_eq!(a.error_type, None);
        assert_eq!(a.top_frame, None);
    }

    // --- 4. Error type -----------------------------------------------------------

    #[test]
    fn error_type_from_v8_header() {
        let g = group(
            "web",
            "Cannot read properties of undefined (reading 'price')",
            Some(CHROME_R1),
        );
        assert_eq!(g.error_type.as_deref(), Some("TypeError"));
        assert_eq!(
            g.normalized_message,
            "Cannot read properties of undefined (reading <str>)"
        );
    }

    #[test]
    fn error_type_from_message_prefix() {
        let g = group("web", "RangeError: Maximum call stack size exceeded", None);
        assert_eq!(g.error_type.as_deref(), Some("RangeError"));
        assert_eq!(g.normalized_message, "Maximum call stack size exceeded");

        let g = group(
            "web",
            "Uncaught DOMException: The operation is insecure.",
            None,
        );
        assert_eq!(g.error_type.as_deref(), Some("DOMException"));

        let g = group(
            "web",
            "AbortError: The user aborted a request.",
            Some(FIREFOX_R1),
        );
        assert_eq!(g.error_type.as_deref(), Some("AbortError"));

        let g = group(
            "rn",
            "Invariant Violation: View config not found for RCTView",
            None,
        );
        assert_eq!(g.error_type.as_deref(), Some("Invariant Violation"));
    }

    #[test]
    fn message_prefix_wins_over_header_and_matches_unprefixed_form() {
        let with_prefix = group(
            "web",
            "TypeError: Cannot read properties of undefined (reading 'price')",
            Some(CHROME_R1),
        );
        let without = group(
            "web",
            "Cannot read properties of undefined (reading 'price')",
            Some(CHROME_R1),
        );
        assert_eq!(with_prefix, without);
    }

    #[test]
    fn error_type_none_for_firefox_without_prefix() {
        let g = group("web", "item is undefined", Some(FIREFOX_R1));
        assert_eq!(g.error_type, None);
        let g = group("web", "item is undefined", Some(SAFARI_R1));
        assert_eq!(g.error_type, None);
    }

    #[test]
    fn error_type_rejects_non_error_prefixes() {
        for message in [
            "Note: something odd",
            "Failed: 3 retries",
            "loadError@https://x.example/app.js:1:2",
            "TypeError:no-space",
            "9Error: digits first",
        ] {
            assert_eq!(group("a", message, None).error_type, None, "{message}");
        }
        // Bare header line (empty message) still yields the type.
        let g = group("a", "", Some("Error\n    at main (/srv/app/index.js:1:1)"));
        assert_eq!(g.error_type.as_deref(), Some("Error"));
        assert_eq!(g.normalized_message, "");
    }

    // --- 5. In-app detection ---------------------------------------------------

    #[test]
    fn node_in_app_detection_and_top_frame() {
        let frames = parse_stack(NODE_STACK);
        let flags: Vec<bool> = frames.iter().map(|f| f.in_app).collect();
        assert_eq!(flags, [true, true, false, false, false, false]);
        assert_eq!(frames[1].function.as_deref(), Some("loginHandler"));
        assert_eq!(frames[2].function, None);
        assert_eq!(frames[3].function.as_deref(), Some("Layer.handle"));
        assert_eq!(frames[5].file, "node:internal/process/task_queues");

        let g = group(
            "api",
            "Cannot read properties of null (reading 'id')",
            Some(NODE_STACK),
        );
        assert_eq!(
            g.top_frame.as_deref(),
            Some("serializeUser (/srv/api/src/auth/session.js)")
        );
        assert_eq!(g.error_type.as_deref(), Some("TypeError"));
    }

    #[test]
    fn library_frames_above_app_code_are_skipped() {
        let g = group(
            "api",
            "connect ECONNREFUSED 127.0.0.1:5432",
            Some(NODE_STACK_LIBRARY_TOP),
        );
        assert_eq!(
            g.top_frame.as_deref(),
            Some("Object.<anonymous> (/srv/api/src/db/pool.js)")
        );
        assert_eq!(g.normalized_message, "connect ECONNREFUSED <num>:<num>");
        // Changes in dependency frames do not split the group.
        let bumped = NODE_STACK_LIBRARY_TOP
            .replace("client.js:132:24", "client.js:140:2")
            .replace("node:net:1595:16", "node:net:1600:3")
            .replace("at new Pool", "at new BoundPool");
        assert_eq!(
            g.fingerprint,
            fp("api", "connect ECONNREFUSED 10.0.0.7:5432", Some(&bumped))
        );
    }

    #[test]
    fn falls_back_to_top_frames_when_nothing_is_in_app() {
        let g = group("api", "read ECONNRESET", Some(NODE_INTERNAL_ONLY));
        assert_eq!(
            g.top_frame.as_deref(),
            Some("TCP.onStreamRead (node:internal/stream_base_commons)")
        );
        let other = NODE_INTERNAL_ONLY.replace("TCP.onStreamRead", "Socket.onRead");
        assert_ne!(g.fingerprint, fp("api", "read ECONNRESET", Some(&other)));
    }

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

    // --- Stack parsing ------------------------------------------------------------

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
    fn parses_hermes_frames() {
        let frames = parse_stack(HERMES_R1);
        assert_eq!(frames.len(), 6);
        assert_eq!(frames[0].function.as_deref(), Some("anonymous"));
        assert_eq!(frames[0].file, "index.android.bundle");
        assert_eq!((frames[0].line, frames[0].column), (Some(1), Some(734_512)));
        assert!(frames[0].in_app);
        assert!(!frames[2].in_app, "InternalBytecode.js is runtime code");
        assert_eq!(frames[4].file, "native");
        assert!(!frames[4].in_app);

        let frames = parse_stack(HERMES_BYTECODE);
        assert_eq!(frames[0].function.as_deref(), Some("fetchProfile"));
        assert_eq!(frames[0].file, "");
        assert_eq!((frames[0].line, frames[0].column), (Some(1), Some(802_113)));
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

    // --- File normalisation --------------------------------------------------

    fn norm_file(raw: &str) -> String {
        let mut out = String::new();
        normalize_file_into(raw, &mut out);
        out
    }

    #[test]
    fn file_normalisation() {
        let cases = [
            (
                "https://shop.example.com/assets/app-3f9a1c.js",
                "/assets/app.js",
            ),
            (
                "https://cdn.example.com:8443/assets/app-77aa01.js",
                "/assets/app.js",
            ),
            (
                "https://x.example/static/js/main.8c2d1e4f.chunk.js",
                "/static/js/main.chunk.js",
            ),
            (
                "https://x.example/static/js/main.js?v=123",
                "/static/js/main.js",
            ),
            ("https://x.example/app.js#section", "/app.js"),
            (
                "https://x.example/_next/static/chunks/pages/index-abc123def.js",
                "/_next/static/chunks/pages/index.js",
            ),
            (
                "https://x.example/_next/static/HVZ6bPsYQKoGNQbeG7Ntz/_buildManifest.js",
                "/_next/static/<hash>/_buildManifest.js",
            ),
            (
                "https://x.example/assets/index-DiwrgTda.js",
                "/assets/index.js",
            ),
            (
                "https://x.example/assets/Cart-B_x9-Qa3.js",
                "/assets/Cart.js",
            ),
            ("https://x.example/chunk-2F3ORQEE.js", "/chunk.js"),
            ("https://x.example/js/3f9a1c8d.js", "/js/<hash>.js"),
            (
                "https://x.example/releases/1.4.2/app.js",
                "/releases/<ver>/app.js",
            ),
            (
                "webpack-internal:///./src/components/Cart.tsx",
                "src/components/Cart.tsx",
            ),
            ("webpack:///./src/index.js", "src/index.js"),
            ("file:///srv/app/esm.mjs", "/srv/app/esm.mjs"),
            ("C:\\app\\src\\index.js", "C:/app/src/index.js"),
            ("index.android.bundle", "index.android.bundle"),
            (
                "node:internal/process/task_queues",
                "node:internal/process/task_queues",
            ),
            (
                "/srv/app/polyfills-es2015.js",
                "/srv/app/polyfills-es2015.js",
            ),
            (
                "/srv/app/settings-Settings.js",
                "/srv/app/settings-Settings.js",
            ),
            ("jquery-3.6.0.min.js", "jquery-3.6.0.min.js"),
            ("data:text/javascript;base64,AAAA", "data:"),
            ("<anonymous>", "<anonymous>"),
            ("", ""),
        ];
        for (raw, expected) in cases {
            assert_eq!(norm_file(raw), expected, "{raw}");
        }
    }

    // --- 6. Message normalisation ------------------------------------------

    #[test]
    fn message_normalisation() {
        let cases = [
            (
                "Request 5321 failed with status 503",
                "Request <num> failed with status <num>",
            ),
            (
                "Order 8f14e45f-ceea-467f-a0e6-3c5b2d8e1f22 missing",
                "Order <uuid> missing",
            ),
            (
                "Order 8F14E45F-CEEA-467F-A0E6-3C5B2D8E1F22 missing",
                "Order <uuid> missing",
            ),
            (
                "Object 507f1f77bcf86cd799439011 not found",
                "Object <hex> not found",
            ),
            ("Bad pointer 0x7ffd5e8a", "Bad pointer <hex>"),
            ("Unknown key 'theme.color'", "Unknown key <str>"),
            ("Unknown key \"theme.color\"", "Unknown key <str>"),
            ("Unknown key `theme.color`", "Unknown key <str>"),
            ("Can't find variable: gtag", "Can't find variable: gtag"),
            ("The user's 'name' isn't set", "The user's <str> isn't set"),
            (
                "Invite sent to jane.doe+test@example.co.uk twice",
                "Invite sent to <email> twice",
            ),
            (
                "Failed to fetch https://api.example.com/v1/users/42?x=1.",
                "Failed to fetch <url>.",
            ),
            ("timeout of 5000ms exceeded", "timeout of <num>ms exceeded"),
            (
                "Took 1.25 seconds (v2.3.4)",
                "Took <num> seconds (v2.<num>)",
            ),
            ("  multiple \n\t spaces   ", "multiple spaces"),
            (
                "Unexpected token '<', \"<!DOCTYPE \"... is not valid JSON",
                "Unexpected token <str>, <str>... is not valid JSON",
            ),
            ("user_12345 and item-99", "user_<num> and item-<num>"),
            ("Int32Array utf8 h264", "Int32Array utf8 h264"),
            (
                "Fehler beim Laden: Größe 12 überschritten",
                "Fehler beim Laden: Größe <num> überschritten",
            ),
            ("unterminated 'quote", "unterminated 'quote"),
            ("Script error.", "Script error."),
            ("", ""),
        ];
        for (input, expected) in cases {
            assert_eq!(normalize_message(input), expected, "{input}");
        }
    }

    #[test]
    fn normalised_message_is_bounded() {
        let long = "é".repeat(10_000);
        let g = group("a", &long, None);
        assert!(g.normalized_message.len() <= MAX_NORMALIZED_MESSAGE);
        assert!(g.normalized_message.chars().all(|c| c == 'é'));
    }

    #[test]
    fn huge_and_odd_inputs_do_not_panic() {
        let huge_line = "x".repeat(64 * 1024);
        let _ = group("a", &huge_line, Some(&huge_line));
        let many_quotes = " 'a".repeat(20_000);
        let _ = group("a", &many_quotes, None);
        let nested = "    at f ".to_owned() + &"(".repeat(1500) + &")".repeat(1499);
        let _ = group("a", "m", Some(&nested));
        let eval = "    at eval (eval at eval at eval at (";
        let _ = group("a", "m", Some(eval));
        for stack in [
            "@",
            "at (",
            "at ()",
            ":",
            "::::",
            "a@:1",
            "\u{feff}at 𝔣 (𝔣.js:1:1)",
            "\r\n\r\n",
        ] {
            let _ = group("a", stack, Some(stack));
        }
    }

    // --- 7. Properties ---------------------------------------------------------

    proptest! {
        #[test]
        fn group_never_panics_and_is_deterministic(
            app in any::<String>(),
            message in any::<String>(),
            stack in proptest::option::of(any::<String>()),
        ) {
            let a = group(&app, &message, stack.as_deref());
            let b = group(&app, &message, stack.as_deref());
            prop_assert_eq!(&a, &b);
            prop_assert_eq!(a.fingerprint.len(), 64);
            prop_assert!(a.fingerprint.bytes().all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c)));
        }

        #[test]
        fn parse_stack_never_panics(stack in any::<String>()) {
            let _ = parse_stack(&stack);
        }

        #[test]
        fn stack_like_input_never_panics(
            lines in proptest::collection::vec(
                r"(\s{0,4}at )?[a-zA-Z<>.\[\] ]{0,12}( \()?(address at |eval at )?[a-z:/._@-]{0,20}(:[0-9]{1,12}){0,3}\)?",
                0..30,
            ),
            message in r"[A-Za-z]{0,12}(Error|Exception)?: ?.{0,40}",
        ) {
            let stack = lines.join("\n");
            let g = group("app", &message, Some(&stack));
            prop_assert_eq!(g.fingerprint.len(), 64);
            let _ = parse_stack(&stack);
        }

        #[test]
        fn line_and_column_shifts_never_change_the_fingerprint(
            l1 in 1u32..100_000, c1 in 1u32..100_000, l2 in 1u32..100_000, c2 in 1u32..100_000,
        ) {
            let stack = |l: u32, c: u32| format!(
                "TypeError: x\n    at handler (https://a.example/app-3f9a1c.js:{l}:{c})\n    at run (https://a.example/app-3f9a1c.js:{c}:{l})"
            );
            prop_assert_eq!(
                fp("app", "x", Some(&stack(l1, c1))),
                fp("app", "x", Some(&stack(l2, c2)))
            );
        }
    }
}
