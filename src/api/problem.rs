//! `AppError` → HTTP, in one place. Every error body is JSON of the same shape and
//! is part of the OpenAPI spec.

use crate::error::AppError;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object};

/// The body of every refusal.
#[derive(Debug, Clone, Object, serde::Serialize)]
pub struct ErrorBody {
    /// What went wrong, and what to send instead.
    pub error: String,
    /// Machine-readable reason, e.g. `monthly_ingest_quota`, `ingest_rps`, `max_apps_per_project`.
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// The offending field or limit.
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub details: Option<serde_json::Value>,
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<i64>,
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub used: Option<i64>,
    /// When a monthly quota starts over (RFC 3339).
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resets_at: Option<String>,
    /// Quote it when reporting a server fault; the log has the details.
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}

impl ErrorBody {
    pub fn new(error: impl Into<String>) -> Self {
        ErrorBody {
            error: error.into(),
            code: None,
            details: None,
            limit: None,
            used: None,
            resets_at: None,
            request_id: None,
        }
    }

    /// A refusal worded by poem, naming the field where poem does ("… parameter
    /// `limit` …").
    pub fn refusal(message: String) -> Self {
        let field = message
            .split("parameter `")
            .nth(1)
            .and_then(|rest| rest.split('`').next())
            .map(|f| serde_json::json!({ "field": f }));
        let mut body = ErrorBody::new(message);
        body.details = field;
        body
    }

    fn code(mut self, code: &str) -> Self {
        self.code = Some(code.to_string());
        self
    }
}

#[derive(Debug, ApiResponse)]
#[oai(bad_request_handler = "from_request_error")]
pub enum ApiError {
    /// The request is malformed or a field is invalid.
    #[oai(status = 400)]
    BadRequest(Json<ErrorBody>),
    /// Missing or invalid credentials.
    #[oai(status = 401)]
    Unauthorized(Json<ErrorBody>),
    /// Not allowed: role, key restriction or plan limit.
    #[oai(status = 403)]
    Forbidden(Json<ErrorBody>),
    /// No such resource (or not visible to the caller).
    #[oai(status = 404)]
    NotFound(Json<ErrorBody>),
    #[oai(status = 409)]
    Conflict(Json<ErrorBody>),
    /// The body did not arrive within the body-read timeout.
    #[oai(status = 408)]
    RequestTimeout(Json<ErrorBody>),
    /// The body is larger than the configured limit.
    #[oai(status = 413)]
    PayloadTooLarge(Json<ErrorBody>),
    /// Send `application/json` (or JSON as `text/plain`).
    #[oai(status = 415)]
    UnsupportedMediaType(Json<ErrorBody>),
    /// Rate limit or monthly quota reached.
    #[oai(status = 429)]
    TooManyRequests(Json<ErrorBody>, #[oai(header = "Retry-After")] u64),
    /// A server fault; the body carries a request id, never internals.
    #[oai(status = 500)]
    Internal(Json<ErrorBody>),
    /// Overloaded or the database is unreachable; retry after the given seconds.
    #[oai(status = 503)]
    Unavailable(Json<ErrorBody>, #[oai(header = "Retry-After")] u64),
}

/// Extractor failures (bad parameters, content type, size, auth headers) get the
/// same JSON body as every other refusal.
fn from_request_error(err: poem::Error) -> ApiError {
    let status = err.status().as_u16();
    let message = err.to_string();
    match status {
        401 => ApiError::Unauthorized(Json(ErrorBody::new(message))),
        408 => ApiError::RequestTimeout(Json(ErrorBody::new(message).code("body_timeout"))),
        413 => ApiError::PayloadTooLarge(Json(ErrorBody::new(message).code("body_too_large"))),
        415 => ApiError::UnsupportedMediaType(Json(ErrorBody::new(format!(
            "{message}; send Content-Type: application/json"
        )))),
        _ => ApiError::BadRequest(Json(ErrorBody::refusal(message))),
    }
}

impl From<AppError> for ApiError {
    fn from(err: AppError) -> Self {
        match err {
            AppError::Invalid { message, field } => {
                let mut body = ErrorBody::new(message);
                body.details = field.map(|f| serde_json::json!({ "field": f }));
                ApiError::BadRequest(Json(body))
            }
            AppError::Unauthorized(m) => ApiError::Unauthorized(Json(ErrorBody::new(m))),
            AppError::Forbidden {
                message,
                code,
                limit,
            } => {
                let mut body = ErrorBody::new(message);
                body.code = code.map(str::to_string);
                body.limit = limit;
                ApiError::Forbidden(Json(body))
            }
            AppError::NotFound(m) => ApiError::NotFound(Json(ErrorBody::new(m))),
            AppError::Conflict(m) => ApiError::Conflict(Json(ErrorBody::new(m))),
            AppError::PayloadTooLarge { message, limit } => {
                let mut body = ErrorBody::new(message).code("too_large");
                body.limit = Some(limit as i64);
                ApiError::PayloadTooLarge(Json(body))
            }
            AppError::UnsupportedMediaType(m) => {
                ApiError::UnsupportedMediaType(Json(ErrorBody::new(m)))
            }
            AppError::RateLimited {
                message,
                code,
                limit,
                retry_after_secs,
            } => {
                let mut body = ErrorBody::new(message).code(code);
                body.limit = limit;
                ApiError::TooManyRequests(Json(body), retry_after_secs)
            }
            e @ AppError::QuotaExceeded { .. } => {
                let AppError::QuotaExceeded {
                    limit,
                    used,
                    ref resets_at,
                    retry_after_secs,
                } = e
                else {
                    unreachable!()
                };
                let mut body = ErrorBody::new(e.to_string()).code("monthly_ingest_quota");
                body.limit = Some(limit);
                body.used = Some(used);
                body.resets_at = Some(resets_at.clone());
                ApiError::TooManyRequests(Json(body), retry_after_secs)
            }
            AppError::Unavailable {
                message,
                retry_after_secs,
            } => ApiError::Unavailable(Json(ErrorBody::new(message)), retry_after_secs),
            AppError::Internal(detail) => {
                let request_id = uuid::Uuid::new_v4().to_string();
                tracing::error!(%request_id, %detail, "internal error");
                let mut body = ErrorBody::new("Internal server error.");
                body.request_id = Some(request_id);
                ApiError::Internal(Json(body))
            }
        }
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
