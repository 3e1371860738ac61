//! The Sentry envelope: a JSON header line, then items, each a JSON header line
//! and a payload of `length` bytes (or up to the next newline when the header
//! names no length). Parsing is bounded: items, header sizes and declared lengths
//! are checked against the body before anything is read.

use serde::Deserialize;
use serde_json::{Map, Value};

/// Items one envelope may carry (the SDKs send one logical item, plus attachments).
pub const MAX_ITEMS: usize = 100;
/// Longest header line (envelope or item).
const MAX_HEADER: usize = 64 * 1024;

#[derive(Debug)]
pub struct Envelope<'a> {
    pub header: Map<String, Value>,
    pub items: Vec<Item<'a>>,
}

#[derive(Debug)]
pub struct Item<'a> {
    pub kind: String,
    pub payload: &'a [u8],
}

#[derive(Deserialize)]
struct ItemHeader {
    #[serde(rename = "type")]
    kind: Option<String>,
    length: Option<u64>,
}

/// Why an envelope cannot be read; the message names the item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Malformed(pub String);

pub fn parse(body: &[u8]) -> Result<Envelope<'_>, Malformed> {
    let (line, mut rest) = split_line(body);
    let header: Map<String, Value> = if line.iter().all(u8::is_ascii_whitespace) {
        Map::new()
    } else {
        header_json(line).map_err(|e| Malformed(format!("the envelope header {e}")))?
    };
    let mut items = Vec::new();
    loop {
        // Blank lines between items (and a trailing newline) carry nothing.
        while let Some(after) = rest
            .strip_prefix(b"\n")
            .or_else(|| rest.strip_prefix(b"\r\n"))
        {
            rest = after;
        }
        if rest.is_empty() {
            break;
        }
        let n = items.len();
        if n >= MAX_ITEMS {
            return Err(Malformed(format!(
                "the envelope has more than {MAX_ITEMS} items"
            )));
        }
        let (line, after) = split_line(rest);
        let head: ItemHeader = serde_json::from_value(Value::Object(
            header_json(line).map_err(|e| Malformed(format!("item {n}: its header {e}")))?,
        ))
        .map_err(|e| Malformed(format!("item {n}: its header is invalid: {e}")))?;
        let kind = head
            .kind
            .filter(|k| !k.is_empty())
            .ok_or_else(|| Malformed(format!("item {n}: its header has no `type`")))?;
        let (payload, next) = match head.length {
            Some(len) => {
                let len = usize::try_from(len).unwrap_or(usize::MAX);
                if len > after.len() {
                    return Err(Malformed(format!(
                        "item {n} ({kind}): its length {len} is beyond the end of the body ({} bytes left)",
                        after.len()
                    )));
                }
                (&after[..len], &after[len..])
            }
            None => split_line(after),
        };
        items.push(Item { kind, payload });
        rest = next;
    }
    Ok(Envelope { header, items })
}

/// The line up to `\n` (without it) and what follows it.
fn split_line(bytes: &[u8]) -> (&[u8], &[u8]) {
    match bytes.iter().position(|&b| b == b'\n') {
        Some(i) => (&bytes[..i], &bytes[i + 1..]),
        None => (bytes, &[]),
    }
}

fn header_json(line: &[u8]) -> Result<Map<String, Value>, String> {
    if line.len() > MAX_HEADER {
        return Err(format!("is longer than {MAX_HEADER} bytes"));
    }
    match serde_json::from_slice::<Value>(line) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err("is not a JSON object".into()),
        Err(e) => Err(format!("is not JSON: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn items_with_and_without_length() {
        let body = b"{\"event_id\":\"abc\"}\n{\"type\":\"event\"}\n{\"a\":1}\n{\"type\":\"attachment\",\"length\":4}\n\n\r\nx\n{\"type\":\"session\"}\n{}\n";
        let e = parse(body).unwrap();
        assert_eq!(e.header["event_id"], "abc");
        let kinds: Vec<&str> = e.items.iter().map(|i| i.kind.as_str()).collect();
        assert_eq!(kinds, ["event", "attachment", "session"]);
        assert_eq!(e.items[1].payload, b"\n\r\nx");
        assert_eq!(e.items[2].payload, b"{}");
    }

    #[test]
    fn hostile_envelopes_name_the_problem() {
        assert!(parse(b"not json\n")
            .unwrap_err()
            .0
            .contains("envelope header"));
        let e = parse(b"{}\n{\"type\":\"event\",\"length\":99999999999}\n{}").unwrap_err();
        assert!(e.0.contains("item 0 (event): its length"), "{e:?}");
        assert!(parse(b"{}\n{\"length\":2}\n{}")
            .unwrap_err()
            .0
            .contains("no `type`"));
        let many = format!("{{}}\n{}", "{\"type\":\"x\"}\n{}\n".repeat(MAX_ITEMS + 1));
        assert!(parse(many.as_bytes()).unwrap_err().0.contains("more than"));
        assert!(parse(b"").unwrap().items.is_empty());
    }
}
