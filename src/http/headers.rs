//! Security headers on every response, whatever produced it: the dashboard's pages,
//! the API's JSON, the API docs, `/health`, `/metrics` and ingest refusals.

use poem::http::{header, HeaderMap, HeaderValue, StatusCode};

/// The dashboard: its own scripts and styles only.
const DASHBOARD_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; connect-src 'self'; font-src 'self'; manifest-src 'self'; \
     form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// The API docs: the Swagger UI page carries its script and styles inline.
const DOCS_CSP: &str = "default-src 'none'; script-src 'self' 'unsafe-inline'; \
     style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; \
     font-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// Everything else is data, never a document to render or frame.
const DATA_CSP: &str = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'";

/// What a response is, for the policy it gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Dashboard,
    Docs,
    Data,
    Ingest,
}

impl Kind {
    pub fn of_path(path: &str) -> Kind {
        if path == "/api/docs" || path.starts_with("/api/docs/") {
            Kind::Docs
        } else if path == "/ingest"
            || path.starts_with("/ingest/")
            || crate::api::sentry::is_sentry_path(path)
        {
            Kind::Ingest
        } else if path == "/health" || path == "/metrics" || path.starts_with("/api/") {
            Kind::Data
        } else {
            Kind::Dashboard
        }
    }
}

pub fn apply(kind: Kind, status: StatusCode, h: &mut HeaderMap) {
    // An accepted ingest answer has no body to sniff or frame, and SDKs send
    // thousands a second: it stays as small as it can be. Ingest refusals, which
    // carry JSON, get the headers like every other response.
    if kind == Kind::Ingest && status.is_success() {
        return;
    }
    let csp = match kind {
        Kind::Dashboard => DASHBOARD_CSP,
        Kind::Docs => DOCS_CSP,
        Kind::Data | Kind::Ingest => DATA_CSP,
    };
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(csp),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    h.insert(
        "cross-origin-opener-policy",
        HeaderValue::from_static("same-origin"),
    );
    if kind == Kind::Dashboard {
        h.insert(
            "permissions-policy",
            HeaderValue::from_static("camera=(), microphone=(), geolocation=(), payment=()"),
        );
        // Pages show private data: never cached (assets set their own caching).
        if !h.contains_key(header::CACHE_CONTROL) {
            h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        }
    }
}
