//! Error grouping: turns one error report (app label, message, optional stack
//! trace) into a stable fingerprint, so that repeated occurrences of the same
//! bug land in the same group while different bugs stay apart.
//!
//! The module is pure: no IO, no global state besides lazily compiled regexes.
//! Every function accepts arbitrary input without panicking, and the amount of
//! work is bounded (see the `MAX_*` constants of each part).
//!
//! The algorithm is documented for users in `docs/GROUPING.md`; keep the two in
//! sync when changing anything that affects fingerprints.

mod message;
mod path;
mod stack;

pub use stack::parse_stack;

use sha2::{Digest, Sha256};

use message::{normalize_message, split_error_prefix};
use path::normalize_file_into;
use stack::{candidate_lines, parse_line, RawFrame};

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
/// Number of frames that contribute to the fingerprint.
const MAX_FINGERPRINT_FRAMES: usize = 5;

/// A frame's original function and file, from its source map: grouping uses them
/// in place of the minified ones, so that releases with different bundles of the
/// same code group together.
#[derive(Debug, Clone, Copy)]
pub struct OriginalFrame<'a> {
    pub function: Option<&'a str>,
    pub file: &'a str,
}

/// Whether a frame at `file` is the application's own code (not a dependency's,
/// the runtime's or an extension's).
pub fn in_app(function: Option<&str>, file: &str) -> bool {
    stack::is_in_app(function, file)
}

/// Groups one error report. See the module documentation and
/// `docs/GROUPING.md` for the rules.
pub fn group(app: &str, message: &str, stack: Option<&str>) -> Grouping {
    group_mapped(app, message, stack, &[])
}

/// Groups one error report whose frames (in `parse_stack` order) were mapped:
/// `originals[i]`, when present, stands for the i-th frame.
pub fn group_mapped<'a>(
    app: &str,
    message: &str,
    stack: Option<&'a str>,
    originals: &'a [Option<OriginalFrame<'a>>],
) -> Grouping {
    let app = app.trim();

    let (message_type, mut message_body) = match split_error_prefix(message, false) {
        Some((name, rest)) => (Some(name), rest),
        None => (None, message),
    };

    let mut header: Option<(&str, &str)> = None;
    let mut top: Vec<RawFrame<'_>> = Vec::new();
    let mut in_app: Vec<RawFrame<'_>> = Vec::new();

    if let Some(stack) = stack {
        let mut parsed = 0;
        for (index, line) in candidate_lines(stack).enumerate() {
            if index == 0 {
                if let Some(h) = split_error_prefix(line, true) {
                    header = Some(h);
                    // Keeps `originals` aligned with `parse_stack`, which reads
                    // every line as a possible frame.
                    parsed += usize::from(!originals.is_empty() && parse_line(line).is_some());
                    continue;
                }
            }
            let Some(mut frame) = parse_line(line) else {
                continue;
            };
            if let Some(Some(original)) = originals.get(parsed) {
                frame = RawFrame::original(original.function, original.file);
            }
            parsed += 1;
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

/// The fingerprint an SDK asks for (`fingerprint: ["{{ default }}", "checkout"]`):
/// its parts in order, `{{ default }}` standing for the fingerprint the rules
/// above computed.
pub fn custom_fingerprint(app: &str, parts: &[String], default: &str) -> String {
    let mut hasher = Sha256::new();
    hash_field(&mut hasher, FINGERPRINT_VERSION);
    hash_field(&mut hasher, b"sdk-fingerprint");
    hash_field(&mut hasher, app.trim().as_bytes());
    for part in parts {
        let value = if is_default_part(part) { default } else { part };
        hash_field(&mut hasher, value.as_bytes());
    }
    hex::encode(hasher.finalize())
}

/// `{{ default }}` (any spacing or case).
pub fn is_default_part(part: &str) -> bool {
    part.starts_with("{{")
        && part.ends_with("}}")
        && part
            .trim_matches(|c| c == '{' || c == '}' || c == ' ')
            .eq_ignore_ascii_case("default")
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

#[cfg(test)]
mod tests {
    use super::message::MAX_NORMALIZED_MESSAGE;
    use super::*;
    use proptest::prelude::*;

    fn fp(app: &str, message: &str, stack: Option<&str>) -> String {
        group(app, message, stack).fingerprint
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
