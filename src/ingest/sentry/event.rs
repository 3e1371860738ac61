//! A Sentry event (an `event` item, or the body of `/store/`) as one of our error
//! occurrences: the thrown exception's type and value as the message, its frames
//! rendered as a V8-style stack (most recent call first, causes appended), and
//! what the SDK knows about the moment in the context.

use crate::domain::grouping::is_default_part;
use crate::ingest::wire::{ErrorIn, EventIn};
use serde_json::{json, Map, Value};

/// Longest serialised context kept (what `/ingest/error` accepts).
const MAX_CONTEXT: usize = 32 * 1024;
/// Frames rendered per exception.
const MAX_FRAMES: usize = 100;
/// Breadcrumbs kept (the newest).
const MAX_BREADCRUMBS: usize = 50;

/// What an event becomes.
pub struct SentryError {
    pub error: ErrorIn,
    /// The SDK's `fingerprint`, when it asks for more than the default.
    pub fingerprint: Option<Vec<String>>,
    /// A mechanism said `handled: false` (or the level is `fatal`).
    pub unhandled: bool,
    /// Browser and OS: from the page's User-Agent (browser SDKs send no browser
    /// or OS context), else the event's `browser`/`os` contexts.
    pub device_browser: Option<String>,
    pub device_os: Option<String>,
    pub event_id: Option<String>,
}

pub fn to_error(event: &Value) -> Result<SentryError, String> {
    let Some(obj) = event.as_object() else {
        return Err("the event is not a JSON object".into());
    };
    let values: Vec<&Value> = obj
        .get("exception")
        .and_then(|e| e.get("values").or(Some(e)))
        .and_then(Value::as_array)
        .map(|v| v.iter().collect())
        .unwrap_or_default();
    let thrown = values.last().copied();
    let message = message_of(obj, thrown);
    let mut stack = String::new();
    for (i, exception) in values.iter().rev().enumerate() {
        let frames = frames_of(exception);
        if frames.is_empty() && i > 0 {
            continue;
        }
        if i > 0 {
            stack.push_str("Caused by: ");
        }
        stack.push_str(&exception_title(exception).unwrap_or_else(|| message.clone()));
        stack.push('\n');
        for frame in frames.iter().rev().take(MAX_FRAMES) {
            stack.push_str(&render_frame(frame));
            stack.push('\n');
        }
    }
    // The stack's first line carries the error type even without frames.
    let has_stack = !stack.is_empty() && thrown.and_then(|e| e.get("type")).is_some();
    let unhandled = values
        .iter()
        .any(|e| e.pointer("/mechanism/handled").and_then(Value::as_bool) == Some(false))
        || obj.get("level").and_then(Value::as_str) == Some("fatal");
    let fingerprint = obj
        .get("fingerprint")
        .and_then(Value::as_array)
        .map(|parts| parts.iter().map(text).collect::<Vec<_>>())
        .filter(|parts| !parts.is_empty() && parts.iter().any(|p| !is_default_part(p)));
    let sdk_version = obj.get("sdk").and_then(|sdk| {
        let name = sdk.get("name")?.as_str()?;
        let version = sdk.get("version").and_then(Value::as_str).unwrap_or("");
        Some(
            format!("{name}/{version}")
                .trim_end_matches('/')
                .to_string(),
        )
    });
    let user = obj.get("user");
    let user_id = user.and_then(|u| {
        ["id", "email", "username", "ip_address"]
            .iter()
            .find_map(|k| u.get(*k).filter(|v| !v.is_null()).map(text))
            .filter(|v| !v.is_empty() && v != "{{auto}}")
    });
    let string = |key: &str| obj.get(key).and_then(Value::as_str).map(str::to_string);
    let device = device_of(obj);
    Ok(SentryError {
        error: ErrorIn {
            app: app_of(obj),
            message,
            stack: has_stack.then_some(stack),
            context: Some(Value::Object(context_of(obj, &values))),
            platform: string("platform"),
            environment: string("environment"),
            release: string("release"),
            session_id: None,
            user_id,
            anonymous_id: None,
            sdk_version,
        },
        fingerprint,
        unhandled,
        device_browser: device.0,
        device_os: device.1,
        event_id: string("event_id"),
    })
}

/// A `feedback` item (`captureFeedback`, the feedback widget) as a `$feedback`
/// event: the message, the name and e-mail given, the page, and the error it
/// refers to when the SDK says.
pub fn to_feedback(event: &Value) -> Result<EventIn, String> {
    let Some(obj) = event.as_object() else {
        return Err("the feedback is not a JSON object".into());
    };
    let feedback = obj
        .get("contexts")
        .and_then(|c| c.get("feedback"))
        .and_then(Value::as_object)
        .ok_or("the feedback has no `contexts.feedback`")?;
    let mut properties = Map::new();
    for (from, to) in [
        ("message", "message"),
        ("name", "name"),
        ("contact_email", "email"),
        ("url", "url"),
        ("associated_event_id", "event_id"),
    ] {
        if let Some(v) = feedback.get(from).filter(|v| !v.is_null()) {
            properties.insert(to.into(), Value::String(text(v)));
        }
    }
    let string = |key: &str| obj.get(key).and_then(Value::as_str).map(str::to_string);
    Ok(EventIn {
        app: app_of(obj),
        name: "$feedback".into(),
        platform: string("platform"),
        environment: string("environment"),
        release: string("release"),
        user_id: obj.get("user").and_then(|u| u.get("id")).map(text),
        session_id: None,
        anonymous_id: None,
        sdk_version: None,
        properties: Some(Value::Object(properties)),
        timestamp: None,
    })
}

/// (browser, OS) of the event.
fn device_of(obj: &Map<String, Value>) -> (Option<String>, Option<String>) {
    let agent = obj
        .get("request")
        .and_then(|r| r.get("headers"))
        .and_then(Value::as_object)
        .and_then(|h| {
            h.iter()
                .find(|(k, _)| k.eq_ignore_ascii_case("user-agent"))
                .and_then(|(_, v)| v.as_str())
        });
    let parsed = agent.and_then(|a| woothee::parser::Parser::new().parse(a));
    let known = |s: &str| (!s.is_empty() && s != "UNKNOWN").then(|| s.to_string());
    let context = |name: &str| {
        obj.get("contexts")
            .and_then(|c| c.get(name))
            .and_then(|c| c.get("name"))
            .and_then(Value::as_str)
            .map(|s| s.trim().chars().take(64).collect::<String>())
            .filter(|s| !s.is_empty())
    };
    let browser = parsed
        .as_ref()
        .filter(|p| p.category == "pc" || p.category == "smartphone" || p.category == "mobilephone")
        .and_then(|p| known(p.name))
        .or_else(|| context("browser"));
    let os = parsed
        .as_ref()
        .and_then(|p| known(p.os))
        .or_else(|| context("os"));
    (browser, os)
}

/// The app label: the SDK's `app` tag if set, else its platform.
fn app_of(obj: &Map<String, Value>) -> String {
    obj.get("tags")
        .and_then(|t| t.get("app"))
        .map(text)
        .filter(|a| !a.trim().is_empty())
        .or_else(|| {
            obj.get("platform").and_then(Value::as_str).map(|p| {
                match p {
                    "javascript" => "browser",
                    other => other,
                }
                .to_string()
            })
        })
        .unwrap_or_else(|| "sentry".into())
        .chars()
        .take(128)
        .collect()
}

fn exception_title(e: &Value) -> Option<String> {
    let kind = e
        .get("type")
        .and_then(Value::as_str)
        .filter(|t| !t.is_empty());
    let value = e
        .get("value")
        .and_then(Value::as_str)
        .filter(|v| !v.is_empty());
    match (kind, value) {
        (Some(k), Some(v)) => Some(format!("{k}: {v}")),
        (Some(k), None) => Some(k.to_string()),
        (None, Some(v)) => Some(v.to_string()),
        (None, None) => None,
    }
}

/// The thrown exception's `Type: value`; for messages (a synthetic exception
/// without a type, or none) the message with its parameters filled in.
fn message_of(obj: &Map<String, Value>, thrown: Option<&Value>) -> String {
    let synthetic = thrown.is_some_and(|e| {
        e.pointer("/mechanism/synthetic").and_then(Value::as_bool) == Some(true)
            || e.get("type").is_none()
    });
    let logged = logentry(obj);
    let title = thrown.and_then(exception_title);
    // The type goes to the stack's first line (as V8 prints it), which is where
    // the error type is read from; the message is the value, as our SDKs send it.
    let value = thrown
        .and_then(|e| e.get("value"))
        .and_then(Value::as_str)
        .filter(|v| !v.is_empty())
        .map(str::to_string);
    let chosen = if synthetic {
        logged.or(value).or(title)
    } else {
        value.or(title).or(logged)
    };
    chosen
        .filter(|m| !m.trim().is_empty())
        .unwrap_or_else(|| "<no message>".into())
}

fn logentry(obj: &Map<String, Value>) -> Option<String> {
    let entry = obj.get("logentry").or_else(|| obj.get("message"))?;
    if let Some(s) = entry.as_str() {
        return Some(s.to_string());
    }
    if let Some(formatted) = entry.get("formatted").and_then(Value::as_str) {
        return Some(formatted.to_string());
    }
    let template = entry.get("message").and_then(Value::as_str)?;
    let mut params = entry
        .get("params")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(text);
    let mut out = String::new();
    let mut rest = template;
    while let Some(at) = rest.find("%s") {
        out.push_str(&rest[..at]);
        match params.next() {
            Some(p) => out.push_str(&p),
            None => out.push_str("%s"),
        }
        rest = &rest[at + 2..];
    }
    out.push_str(rest);
    Some(out)
}

fn frames_of(exception: &Value) -> Vec<&Value> {
    exception
        .pointer("/stacktrace/frames")
        .and_then(Value::as_array)
        .map(|f| f.iter().collect())
        .unwrap_or_default()
}

/// `    at function (file:line:column)` as V8 prints it, which the grouping and
/// the source maps read whatever language sent it.
fn render_frame(frame: &Value) -> String {
    let file = frame
        .get("abs_path")
        .or_else(|| frame.get("filename"))
        .and_then(Value::as_str)
        .filter(|f| !f.is_empty())
        .unwrap_or("<unknown>");
    let mut location = file.replace(['(', ')', '\n'], "_");
    if let Some(line) = frame.get("lineno").and_then(Value::as_u64) {
        location.push_str(&format!(":{line}"));
        if let Some(col) = frame.get("colno").and_then(Value::as_u64) {
            location.push_str(&format!(":{col}"));
        }
    }
    match frame
        .get("function")
        .and_then(Value::as_str)
        .filter(|f| !f.is_empty() && *f != "?")
    {
        Some(function) => format!("    at {} ({location})", function.replace('\n', " ")),
        None => format!("    at {location}"),
    }
}

/// What the SDK knew, kept for the error page: level, tags, contexts, extra, the
/// newest breadcrumbs, request, SDK, user, the exception chain and the thrown
/// exception's structured frames; trimmed to fit the context limit.
fn context_of(obj: &Map<String, Value>, values: &[&Value]) -> Map<String, Value> {
    let mut ctx = Map::new();
    ctx.insert("source".into(), json!("sentry"));
    for key in [
        "level",
        "event_id",
        "tags",
        "contexts",
        "extra",
        "request",
        "sdk",
        "user",
        "fingerprint",
        "transaction",
        "server_name",
        "logentry",
        "debug_meta",
    ] {
        if let Some(v) = obj.get(key).filter(|v| !v.is_null()) {
            ctx.insert(key.into(), v.clone());
        }
    }
    let breadcrumbs = obj
        .get("breadcrumbs")
        .and_then(|b| b.get("values").or(Some(b)))
        .and_then(Value::as_array)
        .map(|b| b[b.len().saturating_sub(MAX_BREADCRUMBS)..].to_vec());
    if let Some(b) = breadcrumbs {
        ctx.insert("breadcrumbs".into(), Value::Array(b));
    }
    if !values.is_empty() {
        let chain: Vec<Value> = values
            .iter()
            .map(|e| {
                json!({
                    "type": e.get("type"),
                    "value": e.get("value"),
                    "mechanism": e.get("mechanism"),
                })
            })
            .collect();
        ctx.insert("exception".into(), Value::Array(chain));
        if let Some(thrown) = values.last() {
            let frames: Vec<Value> = frames_of(thrown)
                .into_iter()
                .rev()
                .take(MAX_FRAMES)
                .map(|f| {
                    let mut kept = Map::new();
                    for key in [
                        "filename",
                        "abs_path",
                        "function",
                        "module",
                        "lineno",
                        "colno",
                        "in_app",
                        "pre_context",
                        "context_line",
                        "post_context",
                    ] {
                        if let Some(v) = f.get(key).filter(|v| !v.is_null()) {
                            kept.insert(key.into(), v.clone());
                        }
                    }
                    Value::Object(kept)
                })
                .collect();
            ctx.insert("frames".into(), Value::Array(frames));
        }
    }
    fit(&mut ctx);
    ctx
}

/// Drops the least needed parts until the context fits.
fn fit(ctx: &mut Map<String, Value>) {
    let size = |c: &Map<String, Value>| serde_json::to_vec(c).map_or(usize::MAX, |v| v.len());
    if size(ctx) <= MAX_CONTEXT {
        return;
    }
    if let Some(Value::Array(frames)) = ctx.get_mut("frames") {
        for f in frames.iter_mut().filter_map(Value::as_object_mut) {
            f.remove("pre_context");
            f.remove("post_context");
        }
    }
    for key in [
        "debug_meta",
        "extra",
        "breadcrumbs",
        "request",
        "contexts",
        "sdk",
        "frames",
        "logentry",
        "tags",
    ] {
        if size(ctx) <= MAX_CONTEXT {
            return;
        }
        ctx.remove(key);
    }
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_exception_chain_becomes_message_stack_and_context() {
        let event = json!({
            "event_id": "e1", "level": "error", "platform": "node", "release": "api@1", "environment": "prod",
            "user": {"email": "a@example.com"},
            "sdk": {"name": "sentry.javascript.node", "version": "11.12.0"},
            "fingerprint": ["{{ default }}", "checkout"],
            "breadcrumbs": {"values": [{"message": "b1"}]},
            "exception": {"values": [
                {"type": "TypeError", "value": "cause", "mechanism": {"type": "chained", "handled": true},
                 "stacktrace": {"frames": [{"filename": "/app/a.js", "function": "inner", "lineno": 3, "colno": 7}]}},
                {"type": "Error", "value": "outer", "mechanism": {"type": "generic", "handled": false},
                 "stacktrace": {"frames": [
                     {"filename": "node:internal/x", "function": "run", "lineno": 1, "colno": 1},
                     {"filename": "/app/b.js", "function": "Object.?", "lineno": 9, "colno": 2}]}}
            ]}
        });
        let e = to_error(&event).unwrap();
        assert_eq!(e.error.message, "outer");
        assert_eq!(
            e.error.stack.as_deref().unwrap(),
            "Error: outer\n    at Object.? (/app/b.js:9:2)\n    at run (node:internal/x:1:1)\nCaused by: TypeError: cause\n    at inner (/app/a.js:3:7)\n"
        );
        assert!(e.unhandled);
        assert_eq!(e.fingerprint.unwrap(), ["{{ default }}", "checkout"]);
        assert_eq!(e.error.user_id.as_deref(), Some("a@example.com"));
        assert_eq!(
            e.error.sdk_version.as_deref(),
            Some("sentry.javascript.node/11.12.0")
        );
        assert_eq!(e.error.app, "node");
        let ctx = e.error.context.unwrap();
        assert_eq!(ctx["breadcrumbs"][0]["message"], "b1");
        assert_eq!(ctx["frames"][0]["filename"], "/app/b.js");
    }

    #[test]
    fn messages_fill_their_parameters() {
        let event = json!({
            "platform": "javascript",
            "logentry": {"message": "User %s failed login %s times", "params": ["u-9", 3]},
            "exception": {"values": [{"value": "User u-9 failed login 3 times", "mechanism": {"synthetic": true}}]}
        });
        let e = to_error(&event).unwrap();
        assert_eq!(e.error.message, "User u-9 failed login 3 times");
        assert_eq!(e.error.app, "browser");
        assert!(e.error.stack.is_none());
        let browser = to_error(&json!({"message": "m", "request": {"headers": {"User-Agent":
            "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"}}}))
        .unwrap();
        assert_eq!(browser.device_browser.as_deref(), Some("Chrome"));
        assert_eq!(browser.device_os.as_deref(), Some("Linux"));
        let node =
            to_error(&json!({"message": "m", "contexts": {"os": {"name": "Debian"}}})).unwrap();
        assert_eq!(
            (node.device_browser, node.device_os.as_deref()),
            (None, Some("Debian"))
        );
        let plain = to_error(&json!({"message": "Payment provider timeout"})).unwrap();
        assert_eq!(plain.error.message, "Payment provider timeout");
        assert!(to_error(&json!([1])).is_err());
        assert!(
            is_default_part("{{ default }}")
                && is_default_part("{{default}}")
                && !is_default_part("default")
        );
    }

    #[test]
    fn feedback_becomes_an_event() {
        let f = to_feedback(&json!({"platform": "javascript", "contexts": {"feedback":
            {"message": "Button does nothing", "name": "Jane", "contact_email": "jane@example.com"}}}))
        .unwrap();
        assert_eq!(f.name, "$feedback");
        let p = f.properties.unwrap();
        assert_eq!(p["message"], "Button does nothing");
        assert_eq!(p["email"], "jane@example.com");
        assert!(to_feedback(&json!({"contexts": {}})).is_err());
    }

    #[test]
    fn big_contexts_are_trimmed_to_fit() {
        let event =
            json!({"message": "m", "extra": {"blob": "x".repeat(100_000)}, "tags": {"a": "b"}});
        let e = to_error(&event).unwrap();
        let ctx = e.error.context.unwrap();
        assert!(serde_json::to_vec(&ctx).unwrap().len() <= MAX_CONTEXT);
        assert_eq!(ctx["tags"]["a"], "b");
    }
}
