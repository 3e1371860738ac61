//! A Sentry `session` item (release health) as one of our session writes: `sid`
//! is the session, `started` its start; any status but `ok` ends it at its
//! `timestamp`; `errors` or an error status flag it errored, `crashed`,
//! `abnormal` and the browser's `unhandled` crashed.

use crate::ingest::wire::SessionIn;
use serde_json::Value;

/// A session item mapped, with what the SDK reports of errors and crashes.
pub struct SentrySession {
    pub session: SessionIn,
    pub errored: bool,
    pub crashed: bool,
}

pub fn to_session(item: &Value, sdk: Option<&Value>) -> Result<SentrySession, String> {
    let sid = item
        .get("sid")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .ok_or("the session has no `sid`")?;
    let status = item.get("status").and_then(Value::as_str).unwrap_or("ok");
    let errors = item.get("errors").and_then(Value::as_u64).unwrap_or(0);
    let crashed = matches!(status, "crashed" | "abnormal" | "unhandled");
    let errored = crashed || errors > 0 || status == "errored";
    let attr = |key: &str| {
        item.get("attrs")
            .and_then(|a| a.get(key))
            .and_then(Value::as_str)
            .filter(|v| !v.is_empty() && *v != "{{auto}}")
            .map(str::to_string)
    };
    let time = |key: &str| item.get(key).and_then(Value::as_str).map(str::to_string);
    let (browser, os) = attr("user_agent")
        .and_then(|ua| {
            woothee::parser::Parser::new().parse(&ua).map(|p| {
                let known = |s: &str| (!s.is_empty() && s != "UNKNOWN").then(|| s.to_string());
                (known(p.name), known(p.os))
            })
        })
        .unwrap_or((None, None));
    let sdk_name = sdk.and_then(|s| s.get("name")).and_then(Value::as_str);
    let sdk_version = sdk_name.map(|name| {
        let version = sdk
            .and_then(|s| s.get("version"))
            .and_then(Value::as_str)
            .unwrap_or("");
        format!("{name}/{version}")
            .trim_end_matches('/')
            .to_string()
    });
    let did = item
        .get("did")
        .and_then(Value::as_str)
        .filter(|d| !d.is_empty())
        .map(str::to_string);
    Ok(SentrySession {
        session: SessionIn {
            session_id: sid.to_string(),
            app: Some(sdk_name.map_or_else(|| "sentry".into(), app_of_sdk)),
            platform: sdk_name.map(|n| platform_of_sdk(n).to_string()),
            environment: attr("environment"),
            release: attr("release"),
            user_email: did.clone().filter(|d| d.contains('@')),
            user_id: did,
            anonymous_id: None,
            country: None,
            device_browser: browser,
            device_os: os,
            sdk_version,
            started_at: time("started"),
            ended_at: if status == "ok" {
                None
            } else {
                time("timestamp")
            },
        },
        errored,
        crashed,
    })
}

/// Sessions a `sessions` item's aggregates stand for, at most this many per item.
pub const MAX_AGGREGATED: u64 = 1000;

/// A `sessions` item (request mode: per-minute counts, no ids) as that many
/// sessions, each started and ended in its minute: `exited` clean, `errored` with
/// an error, `crashed`, `abnormal` and `unhandled` crashed.
pub fn from_aggregates(item: &Value, sdk: Option<&Value>) -> Result<Vec<SentrySession>, String> {
    let attrs = item.get("attrs").cloned().unwrap_or(Value::Null);
    let mut out = Vec::new();
    for bucket in item
        .get("aggregates")
        .and_then(Value::as_array)
        .ok_or("the sessions item has no `aggregates`")?
    {
        let started = bucket
            .get("started")
            .and_then(Value::as_str)
            .ok_or("an aggregate has no `started`")?;
        for (status, field) in [
            ("exited", "exited"),
            ("errored", "errored"),
            ("crashed", "crashed"),
            ("abnormal", "abnormal"),
            ("unhandled", "unhandled"),
        ] {
            let n = bucket.get(field).and_then(Value::as_u64).unwrap_or(0);
            if out.len() as u64 + n > MAX_AGGREGATED {
                return Err(format!(
                    "the sessions item counts more than {MAX_AGGREGATED} sessions"
                ));
            }
            for _ in 0..n {
                let item = serde_json::json!({
                    "sid": format!("agg-{}", crate::domain::ids::new_id()),
                    "started": started, "timestamp": started, "status": status,
                    "errors": u64::from(status != "exited"), "attrs": attrs,
                });
                out.push(to_session(&item, sdk)?);
            }
        }
    }
    Ok(out)
}

/// The platform an SDK's events say: `sentry.javascript.browser` → `javascript`,
/// `sentry.javascript.node` → `node`, `sentry.python` → `python`.
fn platform_of_sdk(name: &str) -> &str {
    let rest = name.strip_prefix("sentry.").unwrap_or(name);
    match rest.split_once('.') {
        Some(("javascript", "node" | "bun" | "deno" | "nextjs" | "nestjs")) => "node",
        Some(("javascript", _)) => "javascript",
        Some((lang, _)) => lang,
        None => rest,
    }
}

/// The app label events of the same SDK get (`event::app_of` without an `app` tag).
fn app_of_sdk(name: &str) -> String {
    match platform_of_sdk(name) {
        "javascript" => "browser".into(),
        other => other.chars().take(128).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn statuses_end_and_flag_sessions() {
        let sdk = json!({"name": "sentry.javascript.browser", "version": "11.12.0"});
        let s = to_session(&json!({"sid": "a", "started": "2026-12-01T22:09:11.349Z",
            "timestamp": "2026-12-01T22:09:12.927Z", "status": "unhandled", "errors": 1,
            "attrs": {"release": "web@2", "environment": "production", "ip_address": "{{auto}}",
                      "user_agent": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"}}),
            Some(&sdk)).unwrap();
        assert!(s.errored && s.crashed);
        assert_eq!(
            s.session.ended_at.as_deref(),
            Some("2026-12-01T22:09:12.927Z")
        );
        assert_eq!(s.session.app.as_deref(), Some("browser"));
        assert_eq!(s.session.device_browser.as_deref(), Some("Chrome"));
        assert_eq!(s.session.release.as_deref(), Some("web@2"));
        let ok = to_session(
            &json!({"sid": "b", "status": "ok", "errors": 0, "did": "u@example.com"}),
            Some(&json!({"name": "sentry.javascript.node"})),
        )
        .unwrap();
        assert!(!ok.errored && !ok.crashed && ok.session.ended_at.is_none());
        assert_eq!(ok.session.app.as_deref(), Some("node"));
        assert_eq!(ok.session.user_email.as_deref(), Some("u@example.com"));
        let exited = to_session(&json!({"sid": "c", "status": "exited", "errors": 0, "timestamp": "2026-12-01T22:03:13.371Z"}), None).unwrap();
        assert!(!exited.errored && exited.session.ended_at.is_some());
        assert_eq!(
            exited.session.app.as_deref(),
            Some("sentry"),
            "no SDK named"
        );
        assert!(to_session(&json!({"status": "ok"}), None).is_err());
    }

    #[test]
    fn aggregates_become_ended_sessions() {
        let item = json!({"aggregates": [{"started": "2026-12-01T22:03:00.000Z", "exited": 3, "errored": 1, "crashed": 1}],
            "attrs": {"release": "api@1", "environment": "prod"}});
        let sessions = from_aggregates(&item, None).unwrap();
        assert_eq!(sessions.len(), 5);
        assert_eq!(sessions.iter().filter(|s| s.errored).count(), 2);
        assert_eq!(sessions.iter().filter(|s| s.crashed).count(), 1);
        assert!(
            sessions
                .iter()
                .all(|s| s.session.ended_at.is_some()
                    && s.session.release.as_deref() == Some("api@1"))
        );
        let huge =
            json!({"aggregates": [{"started": "2026-12-01T22:03:00.000Z", "exited": 100000}]});
        assert!(from_aggregates(&huge, None).is_err());
    }
}
