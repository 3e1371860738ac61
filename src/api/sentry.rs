//! The routes the Sentry SDKs send to, `POST /api/{project_number}/envelope/` and
//! `/store/`: plain handlers (a wire protocol, not part of our documented API),
//! answering as Sentry does — `200 {"id"}`; `429` with `Retry-After` and
//! `X-Sentry-Rate-Limits`; `401`/`403`/`400` with `X-Sentry-Error` — see
//! docs/SENTRY.md.

use super::body::read_ingest_body;
use crate::error::AppError;
use crate::service::sentry::{self, Route};
use crate::state::SharedState;
use poem::http::{HeaderValue, StatusCode};
use poem::web::{Data, Path};
use poem::{handler, Body, Request, Response};
use serde_json::json;

/// Whether `path` is one of these routes (they read their own bodies, as ingest).
pub fn is_sentry_path(path: &str) -> bool {
    let Some(rest) = path.strip_prefix("/api/") else {
        return false;
    };
    let Some((number, tail)) = rest.split_once('/') else {
        return false;
    };
    !number.is_empty()
        && number.bytes().all(|b| b.is_ascii_digit())
        && matches!(tail, "envelope/" | "envelope" | "store/" | "store")
}

#[handler]
pub async fn envelope(
    state: Data<&SharedState>,
    req: &Request,
    Path(number): Path<String>,
    body: Body,
) -> Response {
    answer(&state, req, &number, body, Route::Envelope).await
}

#[handler]
pub async fn store(
    state: Data<&SharedState>,
    req: &Request,
    Path(number): Path<String>,
    body: Body,
) -> Response {
    answer(&state, req, &number, body, Route::Store).await
}

async fn answer(
    state: &SharedState,
    req: &Request,
    number: &str,
    body: Body,
    route: Route,
) -> Response {
    let bytes = match read_ingest_body(req, body).await {
        Ok(b) => b,
        Err(e) => {
            let status = e.status();
            return refusal(status, &e.to_string(), None);
        }
    };
    let request = sentry::Request {
        route,
        project_number: number,
        query: req.uri().query(),
        auth_header: req.header("x-sentry-auth"),
        content_type: req.header("content-type"),
        content_encoding: req.header("content-encoding"),
        body: bytes,
    };
    match sentry::receive(state, request).await {
        Ok(id) => Response::builder()
            .content_type("application/json")
            .body(match id {
                Some(id) => json!({ "id": id }).to_string(),
                None => "{}".to_string(),
            }),
        Err(e) => error_response(e),
    }
}

fn error_response(e: AppError) -> Response {
    let message = e.to_string();
    match e {
        AppError::RateLimited {
            retry_after_secs, ..
        } => refusal(
            StatusCode::TOO_MANY_REQUESTS,
            &message,
            Some((retry_after_secs, "project:rate_limited")),
        ),
        AppError::QuotaExceeded {
            retry_after_secs, ..
        } => refusal(
            StatusCode::TOO_MANY_REQUESTS,
            &message,
            Some((retry_after_secs, "organization:quota_exceeded")),
        ),
        AppError::Unavailable {
            retry_after_secs, ..
        } => {
            let mut res = refusal(StatusCode::SERVICE_UNAVAILABLE, &message, None);
            if let Ok(v) = HeaderValue::from_str(&retry_after_secs.to_string()) {
                res.headers_mut().insert("retry-after", v);
            }
            res
        }
        AppError::Invalid { .. } => refusal(StatusCode::BAD_REQUEST, &message, None),
        AppError::Unauthorized(_) => refusal(StatusCode::UNAUTHORIZED, &message, None),
        AppError::Forbidden { .. } => refusal(StatusCode::FORBIDDEN, &message, None),
        AppError::NotFound(_) => refusal(StatusCode::NOT_FOUND, &message, None),
        AppError::PayloadTooLarge { .. } => refusal(StatusCode::PAYLOAD_TOO_LARGE, &message, None),
        AppError::UnsupportedMediaType(_) => {
            refusal(StatusCode::UNSUPPORTED_MEDIA_TYPE, &message, None)
        }
        AppError::Conflict(_) => refusal(StatusCode::CONFLICT, &message, None),
        AppError::Internal(_) => {
            tracing::error!(error = %message, "sentry envelope not stored");
            refusal(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal error; nothing was stored",
                None,
            )
        }
    }
}

/// A refusal as the SDKs read it: the reason in `X-Sentry-Error` and the body,
/// and for limits `Retry-After` and `X-Sentry-Rate-Limits` (all categories).
fn refusal(status: StatusCode, message: &str, limit: Option<(u64, &str)>) -> Response {
    let mut res = Response::builder()
        .status(status)
        .content_type("application/json")
        .body(json!({ "detail": message, "error": message }).to_string());
    let h = res.headers_mut();
    // Header values must be visible ASCII: the reason is kept readable, not exact.
    let ascii: String = message
        .chars()
        .map(|c| {
            if c.is_ascii() && !c.is_ascii_control() {
                c
            } else {
                '?'
            }
        })
        .take(512)
        .collect();
    if let Ok(v) = HeaderValue::from_str(&ascii) {
        h.insert("x-sentry-error", v);
    }
    if let Some((secs, scope)) = limit {
        let secs = secs.max(1);
        if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
            h.insert("retry-after", v);
        }
        if let Ok(v) = HeaderValue::from_str(&format!("{secs}::{scope}")) {
            h.insert("x-sentry-rate-limits", v);
        }
    }
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sentry_paths() {
        assert!(is_sentry_path("/api/42/envelope/"));
        assert!(is_sentry_path("/api/7/store/"));
        assert!(!is_sentry_path("/api/errors/envelope/"));
        assert!(!is_sentry_path("/api/42/other/"));
        assert!(!is_sentry_path("/ingest/event"));
    }
}
