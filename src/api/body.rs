//! Ingest request bodies: JSON sent as `application/json` or, for beacon-style
//! senders, as `text/plain`. Read with a size limit, then parsed by serde so
//! every problem names its field.

use crate::error::AppError;
use crate::state::SharedState;
use poem::{Request, RequestBody};
use poem_openapi::payload::{ParsePayload, Payload};
use poem_openapi::registry::{MetaSchemaRef, Registry};
use poem_openapi::types::Type;
use serde::de::DeserializeOwned;
use std::marker::PhantomData;
use tokio::io::AsyncReadExt;

/// Oversized bodies up to this size are read (and dropped) before the 413.
const DRAIN_LIMIT: u64 = 16 * 1024 * 1024;

pub struct JsonBody<T> {
    bytes: bytes::Bytes,
    _type: PhantomData<T>,
}

impl<T: Type + Send> Payload for JsonBody<T> {
    const CONTENT_TYPE: &'static str = "application/json";

    fn check_content_type(content_type: &str) -> bool {
        let essence = content_type
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        matches!(essence.as_str(), "application/json" | "text/plain") || essence.ends_with("+json")
    }

    fn schema_ref() -> MetaSchemaRef {
        T::schema_ref()
    }

    fn register(registry: &mut Registry) {
        T::register(registry);
    }
}

impl<T: Type + Send> ParsePayload for JsonBody<T> {
    const IS_REQUIRED: bool = true;

    async fn from_request(request: &Request, body: &mut RequestBody) -> poem::Result<Self> {
        let limit = read_limit(request);
        let bytes = read_ingest_body(request, body.take()?).await?;
        Ok(JsonBody {
            bytes: decoded(request, bytes, limit)?,
            _type: PhantomData,
        })
    }
}

fn read_limit(request: &Request) -> usize {
    request
        .data::<SharedState>()
        .map_or(1_048_576, |s| s.config.max_body_bytes)
}

/// An ingest body as sent (still compressed, if it is), within the ingest body
/// limit and the body-read timeout.
pub async fn read_ingest_body(request: &Request, body: poem::Body) -> poem::Result<bytes::Bytes> {
    let (limit, timeout) = request
        .data::<SharedState>()
        .map(|s| {
            (
                s.config.max_body_bytes,
                std::time::Duration::from_secs(s.config.body_read_timeout_secs),
            )
        })
        .unwrap_or((1_048_576, std::time::Duration::from_secs(30)));
    // A body that does not arrive in time is refused whole: 408, nothing stored.
    let timed_out = || {
        poem::Error::from_string(
            format!(
                "the request body did not arrive within {} s",
                timeout.as_secs()
            ),
            poem::http::StatusCode::REQUEST_TIMEOUT,
        )
    };
    let too_large = || {
        poem::Error::from_string(
            format!("request body is larger than {limit} bytes"),
            poem::http::StatusCode::PAYLOAD_TOO_LARGE,
        )
    };
    let declared = request
        .header("content-length")
        .and_then(|v| v.parse::<u64>().ok());
    let read_error = |e: &dyn std::fmt::Display| {
        poem::Error::from_string(
            format!("could not read the body: {e}"),
            poem::http::StatusCode::BAD_REQUEST,
        )
    };
    // A declared length within the limit bounds the body (the HTTP layer enforces
    // it), so it can be collected in one go, without copying through a reader.
    if declared.is_some_and(|n| n <= limit as u64) {
        return tokio::time::timeout(timeout, body.into_bytes())
            .await
            .map_err(|_| timed_out())?
            .map_err(|e| read_error(&e));
    }
    let mut reader = body.into_async_read();
    if declared.is_some_and(|n| n > limit as u64) {
        // Read and drop a moderately oversized body so the client gets the 413
        // rather than a reset connection; a huge one is not worth reading.
        if declared.is_some_and(|n| n <= DRAIN_LIMIT) {
            drain(&mut reader, timeout).await;
        }
        return Err(too_large());
    }
    let mut bytes = Vec::new();
    let mut bounded = (&mut reader).take(limit as u64 + 1);
    tokio::time::timeout(timeout, bounded.read_to_end(&mut bytes))
        .await
        .map_err(|_| timed_out())?
        .map_err(|e| read_error(&e))?;
    if bytes.len() > limit {
        drain(&mut reader, timeout).await;
        return Err(too_large());
    }
    Ok(bytes.into())
}

/// The body decoded per its `Content-Encoding`, within the same limit.
pub fn decoded(request: &Request, bytes: bytes::Bytes, limit: usize) -> poem::Result<bytes::Bytes> {
    use crate::http::decode::{decode, Decode};
    use poem::http::StatusCode;
    decode(request.header("content-encoding"), bytes, limit).map_err(|e| {
        let status = match e {
            Decode::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Decode::Corrupt(_) => StatusCode::BAD_REQUEST,
            Decode::Unsupported(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
        };
        poem::Error::from_string(e.to_string(), status)
    })
}

/// Reads and drops what is left of an oversized body (up to [`DRAIN_LIMIT`], within
/// the body timeout), so the client gets the 413 rather than a reset connection.
async fn drain(reader: &mut (impl tokio::io::AsyncRead + Unpin), timeout: std::time::Duration) {
    let mut rest = reader.take(DRAIN_LIMIT);
    let _ = tokio::time::timeout(timeout, tokio::io::copy(&mut rest, &mut tokio::io::sink())).await;
}

poem_openapi::impl_apirequest_for_payload!(JsonBody<T>, T: Type + Send);

impl<T: DeserializeOwned> JsonBody<T> {
    pub fn parse(&self) -> Result<T, AppError> {
        parse_json(&self.bytes)
    }
}

/// Parses a JSON body, naming the path of the first problem (e.g. `events[2].app`).
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, AppError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(AppError::Invalid {
            message: "the request body is empty; send a JSON object".into(),
            field: None,
        });
    }
    // Checked whole, so that invalid text in fields the parser skips is refused too.
    if let Err(e) = std::str::from_utf8(bytes) {
        return Err(AppError::Invalid {
            message: format!("the body is not valid UTF-8 (at byte {})", e.valid_up_to()),
            field: None,
        });
    }
    // The plain parser is fast; only a failure is parsed again to name its path.
    if let Ok(value) = serde_json::from_slice(bytes) {
        return Ok(value);
    }
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut *de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if inner.is_syntax() || inner.is_eof() {
            return AppError::Invalid {
                message: format!("the body is not valid JSON: {inner}"),
                field: None,
            };
        }
        let text = inner.to_string();
        // serde reports a missing field at its parent's path; name the field itself.
        if let Some(name) = text
            .strip_prefix("missing field `")
            .and_then(|r| r.split('`').next())
        {
            let field = if path == "." {
                name.to_string()
            } else {
                format!("{path}.{name}")
            };
            return AppError::Invalid {
                message: format!("`{field}` is required"),
                field: Some(field),
            };
        }
        if path == "." || path == "?" {
            AppError::Invalid {
                message: format!("invalid body: {text}"),
                field: None,
            }
        } else {
            AppError::Invalid {
                message: format!("invalid `{path}`: {text}"),
                field: Some(path),
            }
        }
    })?;
    de.end().map_err(|e| AppError::Invalid {
        message: format!("the body is not valid JSON: {e}"),
        field: None,
    })?;
    Ok(value)
}
