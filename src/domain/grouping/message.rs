//! The message as grouping sees it: the error type split off, and the parts
//! that differ between occurrences of one bug (numbers, ids, quoted values,
//! URLs, e-mail addresses) replaced by placeholders.

use std::borrow::Cow;
use std::sync::LazyLock;

use regex::Regex;

use super::path::{is_hex_hash, is_uuid};

/// Only this prefix of the message (in bytes) is normalised.
const MAX_MESSAGE_INPUT: usize = 8 * 1024;
/// The normalised message is cut to this many bytes.
pub(super) const MAX_NORMALIZED_MESSAGE: usize = 1024;
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

/// Splits `"Name: rest"` into `("Name", "rest")` when `Name` looks like an
/// error class. A leading `Uncaught ` / `Uncaught (in promise) ` (browser
/// console wording) is skipped. With `allow_bare`, a line consisting of only
/// the name (V8 header of an error with an empty message) is accepted too.
pub(super) fn split_error_prefix(text: &str, allow_bare: bool) -> Option<(&str, &str)> {
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

/// Replaces the variable parts of a message with placeholders and collapses
/// whitespace. See `docs/GROUPING.md` for the rules.
pub(super) fn normalize_message(message: &str) -> String {
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
}
