//! Validation and normalisation of wire payloads into rows to write. Pure: the caller
//! passes the arrival time and fresh ids come from UUIDv7.

use super::wire::{BatchIn, ErrorIn, EventIn, SessionIn};
use crate::domain::grouping;
use crate::domain::ids::new_id;
use crate::domain::sessions;
use crate::domain::timeutil::{accept_client_time, parse_rfc3339_ms};
use crate::domain::vitals;
use crate::error::{AppError, AppResult};
use crate::store::{ErrorOccurrenceWrite, EventWrite, SessionWrite};
use std::borrow::Cow;

pub const MAX_APP_CHARS: usize = 128;
pub const MAX_NAME_CHARS: usize = 200;
pub const MAX_LABEL_CHARS: usize = 200;
pub const MAX_JSON_BYTES: usize = 32 * 1024;
pub const MAX_MESSAGE_BYTES: usize = 8 * 1024;
pub const MAX_STACK_BYTES: usize = 64 * 1024;
/// Properties of one event that the breakdown roll-up keeps, and their bounds.
const MAX_PROPS: usize = 20;
const MAX_PROP_KEY_CHARS: usize = 64;
const MAX_PROP_VALUE_CHARS: usize = 100;
/// The event name the SDKs report web vitals under.
pub const WEB_VITAL: &str = "$web_vital";
const TRUNCATION_MARKER: &str = "… [truncated]";

/// Text as stored: NUL characters, which PostgreSQL text cannot hold, are dropped
/// so that both backends store the same thing.
fn clean(text: &str) -> Cow<'_, str> {
    if text.contains('\0') {
        Cow::Owned(text.replace('\0', ""))
    } else {
        Cow::Borrowed(text)
    }
}

/// A required label: trimmed, non-empty, at most `max` characters.
fn required(field: &str, value: &str, max: usize) -> AppResult<String> {
    let cleaned = clean(value);
    let v = cleaned.trim();
    if v.is_empty() {
        return Err(AppError::invalid(
            field,
            format!("`{field}` must not be empty"),
        ));
    }
    if v.chars().count() > max {
        return Err(AppError::invalid(
            field,
            format!("`{field}` must be at most {max} characters"),
        ));
    }
    Ok(v.to_string())
}

/// An optional label: trimmed; blank means absent.
fn optional(field: &str, value: Option<&String>, max: usize) -> AppResult<Option<String>> {
    let cleaned = value.map(|v| clean(v));
    let Some(v) = cleaned.as_deref().map(str::trim).filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    if v.chars().count() > max {
        return Err(AppError::invalid(
            field,
            format!("`{field}` must be at most {max} characters"),
        ));
    }
    Ok(Some(v.to_string()))
}

/// A JSON object of bounded size, serialised for storage.
fn json_object(field: &str, value: Option<&serde_json::Value>) -> AppResult<Option<String>> {
    match value {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(v @ serde_json::Value::Object(_)) => {
            let text =
                serde_json::to_string(v).map_err(|e| AppError::invalid(field, e.to_string()))?;
            if text.len() > MAX_JSON_BYTES {
                return Err(AppError::invalid(
                    field,
                    format!(
                        "`{field}` must be at most {MAX_JSON_BYTES} bytes serialised (got {})",
                        text.len()
                    ),
                ));
            }
            Ok(Some(text))
        }
        Some(_) => Err(AppError::invalid(
            field,
            format!("`{field}` must be a JSON object"),
        )),
    }
}

fn time_field(field: &str, value: Option<&String>) -> AppResult<Option<i64>> {
    match value.map(|v| v.trim()).filter(|v| !v.is_empty()) {
        None => Ok(None),
        Some(v) => parse_rfc3339_ms(v).map(Some).ok_or_else(|| {
            AppError::invalid(
                field,
                format!("`{field}` must be an RFC 3339 timestamp such as 2026-01-31T12:00:00Z"),
            )
        }),
    }
}

/// Cuts `text` to at most `max` bytes on a character boundary, marking the cut.
fn truncate(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_string();
    }
    let mut end = max - TRUNCATION_MARKER.len();
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}{TRUNCATION_MARKER}", &text[..end])
}

/// Places a field error inside its batch item: `name` becomes `events[3].name`.
/// Done only on failure, so valid input pays nothing for it.
fn within(err: AppError, at: &str) -> AppError {
    match err {
        AppError::Invalid {
            message,
            field: Some(field),
        } => {
            let full = format!("{at}.{field}");
            AppError::Invalid {
                message: message.replace(&format!("`{field}`"), &format!("`{full}`")),
                field: Some(full),
            }
        }
        other => other,
    }
}

pub fn event(e: &EventIn, now: i64) -> AppResult<EventWrite> {
    let name = clean(&e.name);
    let name = name.trim();
    if name.is_empty() {
        return Err(AppError::invalid("name", "`name` must not be empty"));
    }
    if name.chars().count() > MAX_NAME_CHARS {
        return Err(AppError::invalid(
            "name",
            format!("`name` must be at most {MAX_NAME_CHARS} characters"),
        ));
    }
    let map = e.properties.as_ref().and_then(|v| v.as_object());
    Ok(EventWrite {
        id: new_id(),
        app: required("app", &e.app, MAX_APP_CHARS)?,
        props: map.map(scalar_props).unwrap_or_default(),
        vital: map.filter(|_| name == WEB_VITAL).and_then(vitals::sample),
        name: name.to_string(),
        platform: optional("platform", e.platform.as_ref(), MAX_LABEL_CHARS)?,
        environment: optional("environment", e.environment.as_ref(), MAX_LABEL_CHARS)?,
        release: optional("release", e.release.as_ref(), MAX_LABEL_CHARS)?,
        user_id: optional("user_id", e.user_id.as_ref(), MAX_LABEL_CHARS)?,
        session_id: optional("session_id", e.session_id.as_ref(), MAX_LABEL_CHARS)?,
        anonymous_id: optional("anonymous_id", e.anonymous_id.as_ref(), MAX_LABEL_CHARS)?,
        sdk_version: optional("sdk_version", e.sdk_version.as_ref(), MAX_LABEL_CHARS)?,
        properties: json_object("properties", e.properties.as_ref())?,
        timestamp: accept_client_time(time_field("timestamp", e.timestamp.as_ref())?, now),
    })
}

/// The top-level properties holding a string, number or boolean, as text, for the
/// breakdown roll-up: at most `MAX_PROPS`, values cut to `MAX_PROP_VALUE_CHARS`.
fn scalar_props(map: &serde_json::Map<String, serde_json::Value>) -> Vec<(String, String)> {
    use serde_json::Value;
    map.iter()
        .filter(|(k, _)| !k.trim().is_empty() && k.chars().count() <= MAX_PROP_KEY_CHARS)
        .filter_map(|(k, v)| {
            let text = match v {
                Value::String(s) if !s.trim().is_empty() => {
                    clean(s).chars().take(MAX_PROP_VALUE_CHARS).collect()
                }
                Value::Number(n) => n.to_string(),
                Value::Bool(b) => b.to_string(),
                _ => return None,
            };
            Some((clean(k).into_owned(), text))
        })
        .take(MAX_PROPS)
        .collect()
}

/// A batch of at most `max` events, accepted or refused as a whole.
pub fn batch(b: &BatchIn, now: i64, max: usize) -> AppResult<Vec<EventWrite>> {
    if b.events.len() > max {
        return Err(AppError::invalid(
            "events",
            format!(
                "`events` holds at most {max} items (got {}); send smaller batches",
                b.events.len()
            ),
        ));
    }
    b.events
        .iter()
        .enumerate()
        .map(|(i, e)| event(e, now).map_err(|err| within(err, &format!("events[{i}]"))))
        .collect()
}

pub fn error(e: &ErrorIn, now: i64) -> AppResult<ErrorOccurrenceWrite> {
    let app = required("app", &e.app, MAX_APP_CHARS)?;
    if e.message.trim().is_empty() {
        return Err(AppError::invalid("message", "`message` must not be empty"));
    }
    let message = truncate(&clean(&e.message), MAX_MESSAGE_BYTES);
    let stack = e
        .stack
        .as_deref()
        .filter(|s| !s.trim().is_empty())
        .map(|s| truncate(&clean(s), MAX_STACK_BYTES));
    let g = grouping::group(&app, &message, stack.as_deref());
    Ok(ErrorOccurrenceWrite {
        id: new_id(),
        new_group_id: new_id(),
        fingerprint: g.fingerprint,
        error_type: g.error_type,
        top_frame: g.top_frame,
        app,
        message,
        stack,
        context: json_object("context", e.context.as_ref())?,
        unhandled: sessions::is_unhandled(e.context.as_ref()),
        platform: optional("platform", e.platform.as_ref(), MAX_LABEL_CHARS)?,
        environment: optional("environment", e.environment.as_ref(), MAX_LABEL_CHARS)?,
        release: optional("release", e.release.as_ref(), MAX_LABEL_CHARS)?,
        session_id: optional("session_id", e.session_id.as_ref(), MAX_LABEL_CHARS)?,
        user_id: optional("user_id", e.user_id.as_ref(), MAX_LABEL_CHARS)?,
        anonymous_id: optional("anonymous_id", e.anonymous_id.as_ref(), MAX_LABEL_CHARS)?,
        sdk_version: optional("sdk_version", e.sdk_version.as_ref(), MAX_LABEL_CHARS)?,
        device_browser: None,
        device_os: None,
        timestamp: now,
    })
}

pub fn session(s: &SessionIn, now: i64) -> AppResult<SessionWrite> {
    let started_at = time_field("started_at", s.started_at.as_ref())?;
    let ended_at = time_field("ended_at", s.ended_at.as_ref())?;
    if let (Some(start), Some(end)) = (started_at, ended_at) {
        if end < start {
            return Err(AppError::invalid(
                "ended_at",
                "`ended_at` must not be before `started_at`",
            ));
        }
    }
    // Clamp absurd client clocks the same way events are clamped.
    let started_at = started_at.map(|t| accept_client_time(Some(t), now));
    let ended_at =
        ended_at.map(|t| accept_client_time(Some(t), now).max(started_at.unwrap_or(i64::MIN)));
    Ok(SessionWrite {
        new_id: new_id(),
        session_id: required("session_id", &s.session_id, MAX_LABEL_CHARS)?,
        app: optional("app", s.app.as_ref(), MAX_APP_CHARS)?,
        platform: optional("platform", s.platform.as_ref(), MAX_LABEL_CHARS)?,
        environment: optional("environment", s.environment.as_ref(), MAX_LABEL_CHARS)?,
        release: optional("release", s.release.as_ref(), MAX_LABEL_CHARS)?,
        user_id: optional("user_id", s.user_id.as_ref(), MAX_LABEL_CHARS)?,
        user_email: optional("user_email", s.user_email.as_ref(), 320)?,
        anonymous_id: optional("anonymous_id", s.anonymous_id.as_ref(), MAX_LABEL_CHARS)?,
        country: optional("country", s.country.as_ref(), 8)?,
        device_browser: optional("device_browser", s.device_browser.as_ref(), 64)?,
        device_os: optional("device_os", s.device_os.as_ref(), 64)?,
        sdk_version: optional("sdk_version", s.sdk_version.as_ref(), MAX_LABEL_CHARS)?,
        started_at,
        ended_at,
        errored: false,
        crashed: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncation_keeps_char_boundaries() {
        let long = "é".repeat(MAX_MESSAGE_BYTES);
        let cut = truncate(&long, MAX_MESSAGE_BYTES);
        assert!(cut.len() <= MAX_MESSAGE_BYTES);
        assert!(cut.ends_with(TRUNCATION_MARKER));
        assert_eq!(truncate("short", 10), "short");
    }

    #[test]
    fn labels_are_trimmed_and_blank_is_absent() {
        assert_eq!(
            optional("x", Some(&"  a ".to_string()), 5).unwrap(),
            Some("a".into())
        );
        assert_eq!(optional("x", Some(&"   ".to_string()), 5).unwrap(), None);
        assert!(optional("x", Some(&"abcdef".to_string()), 5).is_err());
        assert!(required("app", " ", 5).is_err());
    }

    #[test]
    fn scalar_properties_feed_the_breakdown() {
        let p = serde_json::json!({
            "plan": "pro", "n": 3, "ok": true, "nested": {"a": 1}, "none": null,
            "list": [1], "blank": " ", "long": "x".repeat(300)
        });
        let mut props = scalar_props(p.as_object().unwrap());
        props.sort();
        let keys: Vec<&str> = props.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["long", "n", "ok", "plan"]);
        assert_eq!(props[0].1.chars().count(), MAX_PROP_VALUE_CHARS);
        assert_eq!(props[1].1, "3");
    }

    #[test]
    fn properties_must_be_small_objects() {
        assert!(json_object("properties", Some(&serde_json::json!([1]))).is_err());
        let big = serde_json::json!({ "k": "x".repeat(MAX_JSON_BYTES) });
        assert!(json_object("properties", Some(&big)).is_err());
        assert_eq!(
            json_object("properties", Some(&serde_json::json!({"a":1})))
                .unwrap()
                .as_deref(),
            Some("{\"a\":1}")
        );
    }
}
