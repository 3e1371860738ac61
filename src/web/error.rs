//! The dashboard's error type, mapped once to a response: an HTML page that says
//! what went wrong, or a redirect to the login page.

use crate::error::AppError;
use crate::web::shell;
use poem::http::{header, StatusCode};
use poem::Response;

#[derive(Debug, thiserror::Error)]
pub enum WebError {
    /// Not signed in: go to the login page, then back to `next`.
    #[error("login required")]
    LoginRequired { next: String },
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Unavailable(String),
    #[error("internal error {id}")]
    Internal { id: String },
    /// Go elsewhere first (e.g. set up a project).
    #[error("redirect to {0}")]
    Redirect(String),
}

pub type PageResult<T = Response> = Result<T, WebError>;

impl From<AppError> for WebError {
    fn from(e: AppError) -> Self {
        match e {
            AppError::Unauthorized(_) => WebError::LoginRequired { next: "/".into() },
            AppError::NotFound(m) => WebError::NotFound(m),
            AppError::Forbidden { message, .. } => WebError::Forbidden(message),
            AppError::Invalid { message, .. } | AppError::Conflict(message) => {
                WebError::Invalid(message)
            }
            AppError::RateLimited { message, .. } => WebError::Invalid(message),
            AppError::Unavailable { message, .. } => WebError::Unavailable(message),
            other => {
                let id = crate::domain::ids::new_id();
                tracing::error!(error = %other, request_id = %id, "dashboard request failed");
                WebError::Internal { id }
            }
        }
    }
}

impl poem::error::ResponseError for WebError {
    fn status(&self) -> StatusCode {
        match self {
            WebError::LoginRequired { .. } | WebError::Redirect(_) => StatusCode::SEE_OTHER,
            WebError::NotFound(_) => StatusCode::NOT_FOUND,
            WebError::Forbidden(_) => StatusCode::FORBIDDEN,
            WebError::Invalid(_) => StatusCode::BAD_REQUEST,
            WebError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            WebError::Internal { .. } => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn as_response(&self) -> Response {
        let (title, detail) = match self {
            WebError::LoginRequired { next } => {
                return Response::builder()
                    .status(StatusCode::SEE_OTHER)
                    .header(header::LOCATION, login_url(next))
                    .finish();
            }
            WebError::Redirect(to) => {
                return Response::builder()
                    .status(StatusCode::SEE_OTHER)
                    .header(header::LOCATION, to.as_str())
                    .finish();
            }
            WebError::NotFound(m) => ("Not found", m.clone()),
            WebError::Forbidden(m) => ("Not allowed", m.clone()),
            WebError::Invalid(m) => ("That did not work", m.clone()),
            WebError::Unavailable(m) => ("Temporarily unavailable", m.clone()),
            WebError::Internal { id } => (
                "Something went wrong",
                format!("The server could not complete this request (request id {id}). It has been logged."),
            ),
        };
        Response::builder()
            .status(self.status())
            .content_type("text/html; charset=utf-8")
            .body(shell::error_page(title, &detail).into_string())
    }
}

/// `/login?next=…`, keeping only local paths as destinations.
pub fn login_url(next: &str) -> String {
    if next == "/" || !is_local_path(next) {
        "/login".into()
    } else {
        format!("/login?next={}", urlencode(next))
    }
}

/// A path on this server (never `//host` or a scheme), safe to redirect to. Browsers
/// drop tabs and newlines from URLs and read `\\` as `/`, so those are refused too.
pub fn is_local_path(p: &str) -> bool {
    p.starts_with('/')
        && !p.starts_with("//")
        && !p.contains("://")
        && !p
            .chars()
            .any(|c| c == '\\' || c.is_whitespace() || c.is_control())
}

/// Percent-encodes a query-string value.
pub fn urlencode(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_local_paths_are_followed() {
        assert!(is_local_path("/errors?x=1"));
        assert!(!is_local_path("//evil.example"));
        assert!(!is_local_path("https://evil.example"));
        assert!(!is_local_path("/\\evil"));
        assert!(!is_local_path("/\t/evil.example"));
        assert!(!is_local_path("/\n/evil.example"));
        assert_eq!(
            login_url("/errors?range=7d"),
            "/login?next=%2Ferrors%3Frange%3D7d"
        );
        assert_eq!(login_url("https://x"), "/login");
    }
}
