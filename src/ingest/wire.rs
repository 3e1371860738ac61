//! The SDK wire format (SPEC §1): request bodies as sent, parsed with serde and
//! documented with poem-openapi from the same structs.
//!
//! `null` for an optional field means absent; unknown fields are ignored.

use poem_openapi::Object;
use serde::Deserialize;

/// One analytics event.
#[derive(Debug, Clone, Deserialize, Object)]
pub struct EventIn {
    /// App label, 1–128 characters after trimming.
    #[oai(validator(min_length = 1, max_length = 128))]
    pub app: String,
    /// Event name, 1–200 characters. `$screen` and `$web_vital` have special meaning.
    #[oai(validator(min_length = 1, max_length = 200))]
    pub name: String,
    #[oai(validator(max_length = 200))]
    pub platform: Option<String>,
    #[oai(validator(max_length = 200))]
    pub environment: Option<String>,
    #[oai(validator(max_length = 200))]
    pub release: Option<String>,
    #[oai(validator(max_length = 200))]
    pub user_id: Option<String>,
    #[oai(validator(max_length = 200))]
    pub session_id: Option<String>,
    #[oai(validator(max_length = 200))]
    pub anonymous_id: Option<String>,
    #[oai(validator(max_length = 200))]
    pub sdk_version: Option<String>,
    /// A JSON object, at most 32 KiB serialised.
    pub properties: Option<serde_json::Value>,
    /// Client time (RFC 3339); used when within the last 30 days and at most 5 minutes
    /// ahead, otherwise the arrival time is stored.
    pub timestamp: Option<String>,
}

/// Up to 1 000 events (`TELEMETRY_INGEST_BATCH_MAX`) within the body limit, accepted
/// or refused as a whole.
#[derive(Debug, Clone, Deserialize, Object)]
pub struct BatchIn {
    #[oai(validator(max_items = 1000))]
    pub events: Vec<EventIn>,
}

/// One error report.
#[derive(Debug, Clone, Deserialize, Object)]
pub struct ErrorIn {
    #[oai(validator(min_length = 1, max_length = 128))]
    pub app: String,
    /// Error message; beyond 8 KiB it is truncated with a marker.
    #[oai(validator(min_length = 1))]
    pub message: String,
    /// Stack trace as the runtime printed it; beyond 64 KiB it is truncated with a marker.
    pub stack: Option<String>,
    /// A JSON object, at most 32 KiB serialised.
    pub context: Option<serde_json::Value>,
    #[oai(validator(max_length = 200))]
    pub platform: Option<String>,
    #[oai(validator(max_length = 200))]
    pub environment: Option<String>,
    #[oai(validator(max_length = 200))]
    pub release: Option<String>,
    #[oai(validator(max_length = 200))]
    pub session_id: Option<String>,
    #[oai(validator(max_length = 200))]
    pub user_id: Option<String>,
    #[oai(validator(max_length = 200))]
    pub anonymous_id: Option<String>,
    #[oai(validator(max_length = 200))]
    pub sdk_version: Option<String>,
}

/// Session start, context update (identify) or end, keyed by `session_id`.
#[derive(Debug, Clone, Deserialize, Object)]
pub struct SessionIn {
    #[oai(validator(min_length = 1, max_length = 200))]
    pub session_id: String,
    #[oai(validator(max_length = 128))]
    pub app: Option<String>,
    #[oai(validator(max_length = 200))]
    pub platform: Option<String>,
    #[oai(validator(max_length = 200))]
    pub environment: Option<String>,
    #[oai(validator(max_length = 200))]
    pub release: Option<String>,
    #[oai(validator(max_length = 200))]
    pub user_id: Option<String>,
    #[oai(validator(max_length = 320))]
    pub user_email: Option<String>,
    #[oai(validator(max_length = 200))]
    pub anonymous_id: Option<String>,
    #[oai(validator(max_length = 8))]
    pub country: Option<String>,
    #[oai(validator(max_length = 64))]
    pub device_browser: Option<String>,
    #[oai(validator(max_length = 64))]
    pub device_os: Option<String>,
    #[oai(validator(max_length = 200))]
    pub sdk_version: Option<String>,
    /// RFC 3339.
    pub started_at: Option<String>,
    /// RFC 3339; present when the session ends.
    pub ended_at: Option<String>,
}
