//! What every request (but ingest, which reads its own bodies) passes before it is
//! routed: a bounded URL and header block, a body read whole within a size limit
//! and a time limit, and no NUL character in any text it carries — PostgreSQL
//! cannot store one, and nothing legitimate sends one.

use futures_util::StreamExt;
use poem::http::{header, Method};
use poem::{Body, Request};
use std::time::Duration;

/// Longest accepted request target (path and query).
pub const MAX_URL_BYTES: usize = 8 * 1024;
/// Largest accepted header block (names and values together).
pub const MAX_HEADER_BYTES: usize = 32 * 1024;

/// Why a request was refused before it reached its handler.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    pub status: u16,
    pub message: String,
    /// The offending field, parameter or part of the request.
    pub field: Option<String>,
}

impl Refused {
    fn new(status: u16, message: impl Into<String>, field: Option<&str>) -> Self {
        Refused {
            status,
            message: message.into(),
            field: field.map(str::to_string),
        }
    }
}

/// Checks the request line and headers: lengths, and NUL in the path or query.
pub fn check_head(req: &Request) -> Result<(), Refused> {
    let target = req
        .uri()
        .path_and_query()
        .map(|pq| pq.as_str().len())
        .unwrap_or(0);
    if target > MAX_URL_BYTES {
        return Err(Refused::new(
            414,
            format!("the URL is longer than {MAX_URL_BYTES} bytes"),
            None,
        ));
    }
    let headers: usize = req
        .headers()
        .iter()
        .map(|(k, v)| k.as_str().len() + v.len())
        .sum();
    if headers > MAX_HEADER_BYTES {
        return Err(Refused::new(
            431,
            format!("the request headers are larger than {MAX_HEADER_BYTES} bytes"),
            None,
        ));
    }
    let path = req.uri().path();
    if path.contains("%00") || path.contains('\0') {
        return Err(Refused::new(
            400,
            "the path contains a NUL character",
            Some("path"),
        ));
    }
    if let Some(query) = req.uri().query() {
        if let Some(name) = nul_in_pairs(query.as_bytes()) {
            return Err(Refused::new(
                400,
                format!("query parameter `{name}` contains a NUL character"),
                Some(&name),
            ));
        }
    }
    Ok(())
}

/// Reads the body whole, within `limit` bytes and `timeout`, refuses NUL characters
/// in JSON and form bodies, and puts it back for the handler.
pub async fn read_body(req: &mut Request, limit: usize, timeout: Duration) -> Result<(), Refused> {
    let too_large = || {
        Refused::new(
            413,
            format!("the request body is larger than {limit} bytes"),
            None,
        )
    };
    let declared = req
        .header(header::CONTENT_LENGTH)
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(too_large());
    }
    // Kept as the chunks that arrive, not grown by doubling: a refused body never
    // holds more than the limit and one chunk.
    let mut stream = req.take_body().into_bytes_stream();
    let mut chunks: Vec<bytes::Bytes> = Vec::new();
    let mut total = 0usize;
    let collect = async {
        while let Some(chunk) = stream.next().await {
            let chunk = chunk?;
            total += chunk.len();
            if total > limit {
                break;
            }
            chunks.push(chunk);
        }
        Ok::<_, std::io::Error>(())
    };
    match tokio::time::timeout(timeout, collect).await {
        Err(_) => {
            return Err(Refused::new(
                408,
                format!(
                    "the request body did not arrive within {} s",
                    timeout.as_secs()
                ),
                None,
            ))
        }
        Ok(Err(e)) => {
            return Err(Refused::new(
                400,
                format!("could not read the request body: {e}"),
                None,
            ))
        }
        Ok(Ok(_)) => {}
    }
    if total > limit {
        return Err(too_large());
    }
    let bytes = match chunks.len() {
        1 => chunks.pop().unwrap_or_default(),
        _ => chunks.concat().into(),
    };
    let kind = content_kind(req);
    if let Some(field) = match kind {
        BodyKind::Json => nul_in_json(&bytes),
        BodyKind::Form => nul_in_pairs(&bytes),
        BodyKind::Other => None,
    } {
        return Err(Refused::new(
            400,
            format!("`{field}` contains a NUL character"),
            Some(&field),
        ));
    }
    req.set_body(Body::from(bytes));
    Ok(())
}

/// Whether a request may carry a body worth reading.
pub fn has_body(req: &Request) -> bool {
    if matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS)
        && req.header(header::CONTENT_LENGTH).is_none()
        && req.header(header::TRANSFER_ENCODING).is_none()
    {
        return false;
    }
    req.header(header::CONTENT_LENGTH)
        .is_none_or(|v| v.trim() != "0")
}

enum BodyKind {
    Json,
    Form,
    Other,
}

fn content_kind(req: &Request) -> BodyKind {
    let essence = req
        .header(header::CONTENT_TYPE)
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase())
        .unwrap_or_default();
    if essence == "application/x-www-form-urlencoded" {
        BodyKind::Form
    } else if essence.is_empty()
        || essence == "application/json"
        || essence == "text/plain"
        || essence.ends_with("+json")
    {
        // A body without a type is refused later; checked as JSON in case it is one.
        BodyKind::Json
    } else {
        BodyKind::Other
    }
}

/// The name of the first form or query field whose name or value holds a NUL.
fn nul_in_pairs(bytes: &[u8]) -> Option<String> {
    if !bytes.windows(3).any(|w| w == b"%00") && !bytes.contains(&0) {
        return None;
    }
    form_urlencoded::parse(bytes)
        .find(|(k, v)| k.contains('\0') || v.contains('\0'))
        .map(|(k, _)| k.replace('\0', "\\u0000"))
}

/// The path (e.g. `members[2].email`) of the first JSON string or key holding a NUL.
/// Raw JSON cannot carry one unescaped, so only bodies with the escape are parsed.
fn nul_in_json(bytes: &[u8]) -> Option<String> {
    if !bytes.windows(6).any(|w| w.eq_ignore_ascii_case(b"\\u0000")) {
        return None;
    }
    let value: serde_json::Value = serde_json::from_slice(bytes).ok()?;
    find_nul(&value, String::new())
}

fn find_nul(value: &serde_json::Value, path: String) -> Option<String> {
    let here = |p: String| if p.is_empty() { "body".to_string() } else { p };
    match value {
        serde_json::Value::String(s) => s.contains('\0').then(|| here(path)),
        serde_json::Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, v)| find_nul(v, format!("{path}[{i}]"))),
        serde_json::Value::Object(map) => map.iter().find_map(|(k, v)| {
            let child = if path.is_empty() {
                k.clone()
            } else {
                format!("{path}.{k}")
            };
            if k.contains('\0') {
                Some(child.replace('\0', "\\u0000"))
            } else {
                find_nul(v, child)
            }
        }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nul_is_found_by_path() {
        assert_eq!(nul_in_json(br#"{"name":"ok"}"#), None);
        assert_eq!(
            nul_in_json(br#"{"a":{"b":["x","y\u0000"]}}"#),
            Some("a.b[1]".into())
        );
        // An escaped backslash followed by `u0000` is no NUL.
        assert_eq!(nul_in_json(br#"{"name":"\\u0000"}"#), None);
        assert_eq!(nul_in_pairs(b"email=a%00b&x=1"), Some("email".into()));
        assert_eq!(nul_in_pairs(b"email=a%2500b"), None);
    }
}
