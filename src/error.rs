//! The service layer's error. Each variant maps to one HTTP status in `api::problem`.

use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("{message}")]
    Invalid {
        message: String,
        /// The offending field or limit, e.g. `events[3].name`.
        field: Option<String>,
    },
    #[error("{0}")]
    Unauthorized(String),
    #[error("{message}")]
    Forbidden {
        message: String,
        code: Option<&'static str>,
        limit: Option<i64>,
    },
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    /// A file or body over a configured limit; the message names it.
    #[error("{message}")]
    PayloadTooLarge { message: String, limit: u64 },
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("{message}")]
    RateLimited {
        message: String,
        code: &'static str,
        limit: Option<i64>,
        retry_after_secs: u64,
    },
    #[error("Monthly ingest quota exceeded for this project.")]
    QuotaExceeded {
        limit: i64,
        used: i64,
        resets_at: String,
        retry_after_secs: u64,
    },
    #[error("{message}")]
    Unavailable {
        message: String,
        retry_after_secs: u64,
    },
    #[error("internal error: {0}")]
    Internal(String),
}

impl AppError {
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        AppError::Invalid {
            message: message.into(),
            field: Some(field.into()),
        }
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        AppError::Forbidden {
            message: message.into(),
            code: None,
            limit: None,
        }
    }
}

impl From<StoreError> for AppError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::Conflict => AppError::Conflict("it already exists".into()),
            StoreError::Unavailable { fault, detail } => {
                tracing::warn!(error = %detail, "{}", fault.describe());
                AppError::Unavailable {
                    message: "The database is unavailable; retry shortly.".into(),
                    retry_after_secs: 5,
                }
            }
            other => AppError::Internal(other.to_string()),
        }
    }
}

pub type AppResult<T> = Result<T, AppError>;
