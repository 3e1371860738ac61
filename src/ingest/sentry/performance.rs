//! Sentry's performance data as our product events: a page load or navigation
//! (a `transaction` item, or the segment span of a `span` container) becomes a
//! `$pageview` event with its route, and the web-vital measurements (`lcp`,
//! `fcp`, `ttfb`, `cls`, `inp`, also from standalone LCP/CLS/INP spans) become
//! `$web_vital` events, so the Performance page covers Sentry browser apps.

use crate::ingest::wire::EventIn;
use serde_json::{json, Map, Value};

/// Web vitals we chart, by Sentry's measurement name.
const VITALS: [(&str, &str); 5] = [
    ("lcp", "LCP"),
    ("fcp", "FCP"),
    ("ttfb", "TTFB"),
    ("cls", "CLS"),
    ("inp", "INP"),
];
/// Spans read per container at most.
const MAX_SPANS: usize = 1000;

/// The events a `transaction` item stands for.
pub fn from_transaction(tx: &Value) -> Vec<EventIn> {
    let Some(obj) = tx.as_object() else {
        return Vec::new();
    };
    let op = tx.pointer("/contexts/trace/op").and_then(Value::as_str);
    let base = Base {
        app: app_of_platform(obj.get("platform").and_then(Value::as_str)),
        release: text(obj.get("release")),
        environment: text(obj.get("environment")),
        user_id: obj.get("user").and_then(|u| u.get("id")).and_then(scalar),
    };
    let route = text(obj.get("transaction"));
    let url = tx
        .pointer("/request/url")
        .and_then(Value::as_str)
        .map(str::to_string);
    let mut out = Vec::new();
    if matches!(op, Some("pageload" | "navigation")) {
        out.push(base.pageview(route.clone(), url.clone(), op));
    }
    if let Some(m) = obj.get("measurements").and_then(Value::as_object) {
        for (key, metric) in VITALS {
            if let Some(value) = m
                .get(key)
                .and_then(|v| v.get("value"))
                .and_then(Value::as_f64)
            {
                out.push(base.vital(metric, value, route.as_deref()));
            }
        }
    }
    out
}

/// The events a `span` container (`{"items": [...]}`) stands for.
pub fn from_spans(container: &Value) -> Vec<EventIn> {
    let mut out = Vec::new();
    for span in container
        .get("items")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .take(MAX_SPANS)
    {
        let Some(attrs) = span.get("attributes").and_then(Value::as_object) else {
            continue;
        };
        let attr = |key: &str| attrs.get(key).and_then(|a| a.get("value").or(Some(a)));
        let sdk = attr("sentry.sdk.name").and_then(Value::as_str);
        let base = Base {
            app: match sdk {
                Some(name)
                    if name.contains("javascript.browser") || name.contains("javascript.react") =>
                {
                    "browser".into()
                }
                Some(name) => name.rsplit('.').next().unwrap_or(name).to_string(),
                None => "browser".into(),
            },
            release: attr("sentry.release").and_then(scalar),
            environment: attr("sentry.environment").and_then(scalar),
            user_id: attr("user.id").and_then(scalar),
        };
        let route = attr("sentry.segment.name")
            .or(attr("sentry.transaction"))
            .and_then(scalar);
        let op = attr("sentry.op").and_then(Value::as_str);
        let segment = span.get("is_segment").and_then(Value::as_bool) == Some(true);
        if segment && matches!(op, Some("pageload" | "navigation")) {
            let url = attr("url.full").and_then(scalar);
            let path = attr("url.path").and_then(scalar);
            out.push(base.pageview(path.or(route.clone()), url, op));
        }
        for (key, metric) in VITALS {
            if let Some(value) =
                attr(&format!("browser.web_vital.{key}.value")).and_then(Value::as_f64)
            {
                out.push(base.vital(metric, value, route.as_deref()));
            }
        }
    }
    out
}

struct Base {
    app: String,
    release: Option<String>,
    environment: Option<String>,
    user_id: Option<String>,
}

impl Base {
    fn event(&self, name: &str, properties: Map<String, Value>) -> EventIn {
        EventIn {
            app: self.app.clone(),
            name: name.into(),
            platform: Some("javascript".into()),
            environment: self.environment.clone(),
            release: self.release.clone(),
            user_id: self.user_id.clone(),
            session_id: None,
            anonymous_id: None,
            sdk_version: None,
            properties: Some(Value::Object(properties)),
            timestamp: None,
        }
    }

    fn pageview(&self, path: Option<String>, url: Option<String>, op: Option<&str>) -> EventIn {
        let mut p = Map::new();
        if let Some(path) = path {
            p.insert("path".into(), json!(path));
        }
        if let Some(url) = url {
            p.insert("url".into(), json!(url));
        }
        if let Some(op) = op {
            p.insert("navigation".into(), json!(op));
        }
        self.event("$pageview", p)
    }

    fn vital(&self, metric: &str, value: f64, route: Option<&str>) -> EventIn {
        let mut p = Map::new();
        p.insert("metric".into(), json!(metric));
        p.insert("value".into(), json!(value));
        if let Some(route) = route {
            p.insert("path".into(), json!(route));
        }
        self.event("$web_vital", p)
    }
}

fn app_of_platform(platform: Option<&str>) -> String {
    match platform {
        Some("javascript") | None => "browser".into(),
        Some(other) => other.chars().take(128).collect(),
    }
}

fn text(v: Option<&Value>) -> Option<String> {
    v.and_then(scalar)
}

fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pageloads_and_vitals() {
        let tx = json!({"platform": "javascript", "transaction": "/", "release": "web@2",
            "contexts": {"trace": {"op": "pageload"}}, "request": {"url": "http://x/?a=1"},
            "measurements": {"lcp": {"value": 148.0}, "ttfb": {"value": 46.8}, "fp": {"value": 1.0}}});
        let events = from_transaction(&tx);
        let names: Vec<&str> = events.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names, ["$pageview", "$web_vital", "$web_vital"]);
        assert_eq!(events[1].properties.as_ref().unwrap()["metric"], "LCP");
        assert_eq!(events[0].release.as_deref(), Some("web@2"));
        let spans = json!({"items": [
            {"is_segment": true, "attributes": {"sentry.op": {"value": "pageload"}, "url.path": {"value": "/"},
                "browser.web_vital.fcp.value": {"value": 108}, "sentry.release": {"value": "web@2"},
                "sentry.sdk.name": {"value": "sentry.javascript.browser"}}},
            {"is_segment": false, "attributes": {"sentry.op": {"value": "ui.webvital.cls"}, "browser.web_vital.cls.value": {"value": 0}}},
            {"is_segment": false, "attributes": {"sentry.op": {"value": "browser.paint"}}}
        ]});
        let events = from_spans(&spans);
        let names: Vec<&str> = events.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names, ["$pageview", "$web_vital", "$web_vital"]);
        assert_eq!(events[2].properties.as_ref().unwrap()["metric"], "CLS");
        assert_eq!(events[0].app, "browser");
        assert!(from_spans(&json!([1])).is_empty());
    }
}
