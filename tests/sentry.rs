//! The Sentry SDKs' wire (issue 17, docs/SENTRY.md): every request captured from
//! `@sentry/node` and `@sentry/browser` 11.12 (../shared/fixtures/sentry-wire),
//! replayed with a real key's public id and project number, is answered as Sentry
//! would, and its errors read back through our API; refusals carry the headers the
//! SDKs read.

mod common;

use base64::Engine;
use common::{Backend, Seed, TestApp};
use serde_json::{json, Value};
use std::path::PathBuf;

const FAKE_KEY: &str = "0123456789abcdef0123456789abcdef";

fn captures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/fixtures/sentry-wire")
}

/// The key's public id (`tt_live_<public>_<secret>`).
fn public_id(seed: &Seed) -> String {
    seed.key
        .trim_start_matches("tt_live_")
        .split('_')
        .next()
        .unwrap()
        .to_string()
}

async fn number(app: &TestApp, seed: &Seed) -> i64 {
    app.state
        .db
        .project_by_id(&seed.project_id)
        .await
        .unwrap()
        .unwrap()
        .number
}

/// Replays one capture file; answers each request's status and body.
async fn replay(app: &TestApp, seed: &Seed, file: &str) -> Vec<(u16, Value)> {
    let key = public_id(seed);
    let n = number(app, seed).await;
    let text = std::fs::read_to_string(captures().join(file)).unwrap();
    let mut answers = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let r: Value = serde_json::from_str(line).unwrap();
        let swap = |s: &str| {
            s.replace(FAKE_KEY, &key)
                .replace("127.0.0.1:18942/42", &format!("127.0.0.1:18942/{n}"))
        };
        let body: Vec<u8> = match r.get("body_raw").and_then(Value::as_str) {
            Some(raw) => swap(raw).into_bytes(),
            None => base64::engine::general_purpose::STANDARD
                .decode(r["body_base64"].as_str().unwrap())
                .unwrap(),
        };
        let path = r["path"].as_str().unwrap();
        let path = if path.starts_with("/tunnel") {
            format!("/api/{n}/envelope/")
        } else {
            swap(path).replacen("/api/42/", &format!("/api/{n}/"), 1)
        };
        let mut req = app.http.post(app.url(&path)).body(body);
        for (name, value) in r["headers"].as_object().unwrap() {
            if [
                "content-type",
                "content-encoding",
                "x-sentry-auth",
                "user-agent",
                "origin",
            ]
            .contains(&name.as_str())
            {
                req = req.header(name, swap(value.as_str().unwrap()));
            }
        }
        let res = req.send().await.unwrap();
        let status = res.status().as_u16();
        answers.push((status, res.json().await.unwrap_or(Value::Null)));
    }
    answers
}

async fn groups(app: &TestApp, seed: &Seed) -> Vec<Value> {
    app.read_ok(seed, "/api/errors?limit=100").await["items"]
        .as_array()
        .unwrap()
        .clone()
}

async fn every_capture_is_accepted_and_its_errors_read_back(backend: Backend) {
    let app = TestApp::start(backend).await;
    let mut files: Vec<String> = std::fs::read_dir(captures())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".jsonl"))
        .collect();
    files.sort();
    assert!(files.len() >= 20, "{files:?}");
    for file in &files {
        let seed = app.seed(&file.replace(['.', '-'], "_")).await;
        for (status, body) in replay(&app, &seed, file).await {
            assert_eq!(status, 200, "{file}: {body}");
        }
    }
    let metrics = app
        .http
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for line in [
        "telemetry_sentry_items_total{type=\"event\",outcome=\"stored\"}",
        "telemetry_sentry_items_total{type=\"session\",outcome=\"stored\"}",
        "telemetry_sentry_items_total{type=\"sessions\",outcome=\"stored\"}",
        "telemetry_sentry_items_total{type=\"span\",outcome=\"stored\"}",
        "telemetry_sentry_items_total{type=\"client_report\",outcome=\"counted\"}",
        "telemetry_sentry_items_total{type=\"feedback\",outcome=\"stored\"}",
        "telemetry_sentry_discarded_total{reason=\"before_send\",category=\"error\"}",
    ] {
        assert!(metrics.contains(line), "{line} missing from /metrics");
    }
}

async fn node_and_browser_errors_are_mapped(backend: Backend) {
    let app = TestApp::start(backend).await;

    let seed = app.seed("node").await;
    let answers = replay(&app, &seed, "node-capture-exception.jsonl").await;
    let event_id = answers.last().unwrap().1["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(event_id.len(), 32);
    let g = groups(&app, &seed).await;
    assert_eq!(g.len(), 1, "{g:?}");
    assert_eq!(g[0]["error_type"], "TypeError");
    assert_eq!(
        g[0]["message"],
        "Cannot read properties of undefined (reading 'name')"
    );
    assert_eq!(g[0]["last_release"], "myapp@1.2.3");
    let d = app
        .read_ok(
            &seed,
            &format!("/api/errors/{}", g[0]["id"].as_str().unwrap()),
        )
        .await;
    let o = &d["recent_occurrences"][0];
    assert_eq!(o["environment"], "staging");
    assert!(o["sdk_version"]
        .as_str()
        .unwrap()
        .starts_with("sentry.javascript.node/11.12.0"));
    assert_eq!(o["context"]["source"], "sentry");
    assert_eq!(o["context"]["event_id"], event_id);
    assert!(
        o["context"]["breadcrumbs"].as_array().unwrap().len() >= 2,
        "{o}"
    );
    assert!(o["context"]["tags"].is_object());
    let top = &o["frames"][0];
    assert_eq!(top["function"], "processOrder", "{o}");
    assert!(
        top["filename"]
            .as_str()
            .unwrap()
            .ends_with("capture-exception.js"),
        "{top}"
    );

    // The error page shows its tags, breadcrumbs and SDK.
    let web = common::web::Web::new(&app.base);
    let form = web.get_ok("/login").await;
    let signed_in = web
        .post(
            "/login",
            &[
                ("csrf", &form.csrf()),
                ("email", &seed.email),
                ("password", "correct horse battery"),
            ],
        )
        .await;
    assert_eq!(signed_in.status, 303, "{}", signed_in.body);
    let page = web
        .get_ok(&format!("/errors/{}", g[0]["id"].as_str().unwrap()))
        .await;
    for text in [
        "Tags",
        "Breadcrumbs",
        "handler",
        "sentry.javascript.node/11.12.0",
    ] {
        assert!(page.has(text), "the error page lacks {text:?}");
    }

    let seed = app.seed("uncaught").await;
    replay(&app, &seed, "node-uncaught-exception.jsonl").await;
    let g = groups(&app, &seed).await;
    let d = app
        .read_ok(
            &seed,
            &format!("/api/errors/{}", g[0]["id"].as_str().unwrap()),
        )
        .await;
    assert_eq!(d["recent_occurrences"][0]["unhandled"], true, "{d}");
    assert_eq!(d["recent_occurrences"][0]["context"]["level"], "fatal");

    let seed = app.seed("messages").await;
    replay(&app, &seed, "node-capture-message.jsonl").await;
    let mut messages: Vec<String> = groups(&app, &seed)
        .await
        .iter()
        .map(|g| g["message"].as_str().unwrap().to_string())
        .collect();
    messages.sort();
    assert!(
        messages.contains(&"Payment provider timeout".to_string()),
        "{messages:?}"
    );
    assert!(
        messages
            .iter()
            .any(|m| m.starts_with("User ") && m.contains("failed login")),
        "{messages:?}"
    );

    let seed = app.seed("browser").await;
    replay(&app, &seed, "browser-capture-exception.jsonl").await;
    let g = groups(&app, &seed).await;
    assert_eq!(
        g[0]["message"],
        "Cannot read properties of undefined (reading 'map')"
    );
    assert_eq!(g[0]["app"], "browser");

    // Its session updates: one session, the user's, errored (not crashed, not ended).
    let sessions = app.read_ok(&seed, "/api/sessions?range=30d").await;
    let items = sessions["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{sessions}");
    assert_eq!(items[0]["user_id"], "user-123");
    assert_eq!(items[0]["app"], "browser");
    assert_eq!(items[0]["errored"], true);
    assert_eq!(items[0]["crashed"], false);
    assert!(items[0]["ended_at"].is_null());
    // Flagged by a later update: the roll-ups moved with it.
    let overview = app.read_ok(&seed, "/api/overview?range=30d").await;
    assert_eq!(
        (
            overview["sessions"].clone(),
            overview["errored_sessions"].clone(),
            overview["crashed_sessions"].clone()
        ),
        (json!(1), json!(1), json!(0)),
        "{overview}"
    );

    // A crashed Node process: its session ended, crashed.
    let seed = app.seed("crashed").await;
    replay(&app, &seed, "node-uncaught-exception.jsonl").await;
    let sessions = app.read_ok(&seed, "/api/sessions?range=30d").await;
    let s = &sessions["items"][0];
    assert_eq!(
        (s["errored"].clone(), s["crashed"].clone()),
        (json!(true), json!(true)),
        "{s}"
    );
    assert!(s["ended_at"].is_string(), "{s}");
    // The roll-ups agree: one session, errored and crashed.
    let overview = app.read_ok(&seed, "/api/overview?range=30d").await;
    assert_eq!(
        (
            overview["sessions"].clone(),
            overview["errored_sessions"].clone(),
            overview["crashed_sessions"].clone()
        ),
        (json!(1), json!(1), json!(1)),
        "{overview}"
    );
    // A browser's unhandled rejection crashes its session.
    let seed = app.seed("unhandled").await;
    replay(&app, &seed, "browser-unhandledrejection.jsonl").await;
    let sessions = app.read_ok(&seed, "/api/sessions?range=30d").await;
    assert_eq!(sessions["items"][0]["crashed"], true, "{sessions}");

    // Through a tunnel: the DSN in the envelope header authenticates.
    let seed = app.seed("tunnel").await;
    let answers = replay(&app, &seed, "browser-capture-message-tunnel.jsonl").await;
    assert!(answers.iter().all(|(s, _)| *s == 200), "{answers:?}");
    assert_eq!(groups(&app, &seed).await.len(), 1);

    // Feedback becomes a `$feedback` event.
    let seed = app.seed("feedback").await;
    replay(&app, &seed, "browser-feedback.jsonl").await;
    let events = app.read_ok(&seed, "/api/events?limit=10").await;
    let feedback = events["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == "$feedback")
        .unwrap_or_else(|| panic!("no $feedback event: {events}"))
        .clone();
    assert_eq!(
        feedback["properties"]["message"], "Button does nothing",
        "{feedback}"
    );
    assert_eq!(feedback["properties"]["email"], "jane@example.com");

    // Gzip from Node (an event with attachments): stored once.
    let seed = app.seed("gzip").await;
    replay(&app, &seed, "node-attachment-gzip.jsonl").await;
    assert_eq!(groups(&app, &seed).await.len(), 1);
}

async fn refusals_carry_the_headers_the_sdks_read(backend: Backend) {
    let app = TestApp::start(backend).await;
    let seed = app.seed("refusals").await;
    let n = number(&app, &seed).await;
    let key = public_id(&seed);
    let envelope = format!(
        "{{\"event_id\":\"0123456789abcdef0123456789abcdef\"}}\n{{\"type\":\"event\"}}\n{}",
        json!({"message": "hello", "platform": "python"})
    );
    let post = |path: String, body: String| app.http.post(app.url(&path)).body(body).send();

    // No key at all: 403 naming it, with X-Sentry-Error.
    let res = post(format!("/api/{n}/envelope/"), envelope.clone())
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 403);
    assert!(res.headers()["x-sentry-error"]
        .to_str()
        .unwrap()
        .contains("sentry_key"));
    // An unknown key: 401.
    let res = post(
        format!("/api/{n}/envelope/?sentry_key={}", "f".repeat(32)),
        envelope.clone(),
    )
    .await
    .unwrap();
    assert_eq!(res.status().as_u16(), 401);
    // The key of another project number: 403.
    let res = post(
        format!("/api/{}/envelope/?sentry_key={key}", n + 1000),
        envelope.clone(),
    )
    .await
    .unwrap();
    assert_eq!(res.status().as_u16(), 403);
    // X-Sentry-Auth works like the query string.
    let res = app
        .http
        .post(app.url(&format!("/api/{n}/envelope/")))
        .header(
            "x-sentry-auth",
            format!("Sentry sentry_key={key}, sentry_version=7"),
        )
        .body(envelope.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 200);
    assert_eq!(
        res.json::<Value>().await.unwrap()["id"],
        "0123456789abcdef0123456789abcdef"
    );
    // A malformed item: 400 naming it, nothing stored.
    let bad = "{}\n{\"type\":\"event\",\"length\":999999}\n{}";
    let res = post(format!("/api/{n}/envelope/?sentry_key={key}"), bad.into())
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 400);
    assert!(res.headers()["x-sentry-error"]
        .to_str()
        .unwrap()
        .contains("item 0"));
    let bad = "{}\n{\"type\":\"event\"}\nnot json";
    let res = post(format!("/api/{n}/envelope/?sentry_key={key}"), bad.into())
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 400);
    // The legacy store route takes one event.
    let res = post(
        format!("/api/{n}/store/?sentry_key={key}"),
        json!({"event_id": "abcd", "message": "from store"}).to_string(),
    )
    .await
    .unwrap();
    assert_eq!(res.status().as_u16(), 200);
    assert_eq!(res.json::<Value>().await.unwrap()["id"], "abcd");
    let mut messages: Vec<String> = groups(&app, &seed)
        .await
        .iter()
        .map(|g| g["message"].as_str().unwrap().to_string())
        .collect();
    messages.sort();
    assert_eq!(messages, ["from store", "hello"]);

    // CORS for any origin, the SDKs' headers exposed.
    let res = app
        .http
        .post(app.url(&format!("/api/{n}/envelope/?sentry_key={key}")))
        .header("origin", "http://localhost:18943")
        .header("content-type", "text/plain;charset=UTF-8")
        .body(envelope.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 200);
    assert_eq!(
        res.headers()["access-control-allow-origin"],
        "http://localhost:18943"
    );
    assert!(res.headers()["access-control-expose-headers"]
        .to_str()
        .unwrap()
        .contains("x-sentry-rate-limits"));
}

async fn page_loads_and_web_vitals_become_events(backend: Backend) {
    let app = TestApp::start(backend).await;
    for file in [
        "browser-pageload-tracing.jsonl",
        "browser-pageload-tracing-static.jsonl",
    ] {
        let seed = app.seed(&file.replace(['.', '-'], "_")).await;
        replay(&app, &seed, file).await;
        let events = app.read_ok(&seed, "/api/events?limit=100").await;
        let items = events["items"].as_array().unwrap();
        let pageviews: Vec<&Value> = items.iter().filter(|e| e["name"] == "$pageview").collect();
        assert_eq!(pageviews.len(), 1, "{file}: {events}");
        assert_eq!(pageviews[0]["app"], "browser");
        assert_eq!(pageviews[0]["release"], "webapp@2.0.0");
        let mut metrics: Vec<String> = items
            .iter()
            .filter(|e| e["name"] == "$web_vital")
            .map(|e| e["properties"]["metric"].as_str().unwrap().to_string())
            .collect();
        metrics.sort();
        metrics.dedup();
        for m in ["FCP", "INP", "LCP", "TTFB"] {
            assert!(
                metrics.contains(&m.to_string()),
                "{file}: {m} missing from {metrics:?}"
            );
        }
    }
}

async fn hostile_envelopes_are_refused_whole(backend: Backend) {
    let app = TestApp::start(backend).await;
    let seed = app.seed("hostile").await;
    let n = number(&app, &seed).await;
    let url = app.url(&format!(
        "/api/{n}/envelope/?sentry_key={}",
        public_id(&seed)
    ));
    let send = |body: Vec<u8>, encoding: Option<&str>| {
        let mut req = app.http.post(&url).body(body);
        if let Some(e) = encoding {
            req = req.header("content-encoding", e);
        }
        req.send()
    };
    let event = json!({"message": "kept?", "platform": "python"}).to_string();
    let cases: Vec<(&str, Vec<u8>, u16)> = vec![
        ("a bad header line", b"{nope\n".to_vec(), 400),
        ("an item beyond the body", b"{}\n{\"type\":\"event\",\"length\":10}\n{}".to_vec(), 400),
        ("a huge declared length", b"{}\n{\"type\":\"event\",\"length\":18446744073709551615}\n{}".to_vec(), 400),
        ("a non-JSON event", b"{}\n{\"type\":\"event\"}\nnot json".to_vec(), 400),
        ("10 000 items", format!("{{}}\n{}", "{\"type\":\"log\"}\n{}\n".repeat(10_000)).into_bytes(), 400),
        (
            "an event with a malformed session",
            format!("{{}}\n{{\"type\":\"event\"}}\n{event}\n{{\"type\":\"session\"}}\n{{\"status\":\"ok\"}}").into_bytes(),
            400,
        ),
        (
            "two events",
            format!("{{}}\n{{\"type\":\"event\"}}\n{event}\n{{\"type\":\"event\"}}\n{event}").into_bytes(),
            400,
        ),
    ];
    for (what, body, status) in cases {
        let res = send(body, None).await.unwrap();
        assert_eq!(res.status().as_u16(), status, "{what}");
        assert!(res.headers().contains_key("x-sentry-error"), "{what}");
    }
    // A zip bomb: 64 MiB of zeros in a gzip body.
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut gz, &vec![b' '; 64 * 1024 * 1024]).unwrap();
    let res = send(gz.finish().unwrap(), Some("gzip")).await.unwrap();
    assert_eq!(res.status().as_u16(), 413);
    let res = send(b"whatever".to_vec(), Some("gzip")).await.unwrap();
    assert_eq!(res.status().as_u16(), 400);
    // Nothing of a refused envelope was stored.
    assert!(groups(&app, &seed).await.is_empty());
    // Unknown item types are accepted and dropped.
    let body =
        format!("{{}}\n{{\"type\":\"future_thing\"}}\n{{}}\n{{\"type\":\"event\"}}\n{event}");
    let res = send(body.into_bytes(), None).await.unwrap();
    assert_eq!(res.status().as_u16(), 200);
    assert_eq!(groups(&app, &seed).await.len(), 1);
}

async fn request_mode_aggregates_count_as_sessions(backend: Backend) {
    let app = TestApp::start(backend).await;
    let seed = app.seed("aggregates").await;
    replay(&app, &seed, "node-sessions-http.jsonl").await;
    let overview = app.read_ok(&seed, "/api/overview?range=30d").await;
    // The capture's aggregate: 3 exited, 1 errored.
    assert_eq!(overview["sessions"], 4, "{overview}");
    assert_eq!(overview["errored_sessions"], 1, "{overview}");
    assert_eq!(overview["crashed_sessions"], 0, "{overview}");
}

/// Limits are decided once per envelope: one that costs more units than the month
/// has left is refused whole — its new session is not stored beside a refused event.
async fn a_quota_refusal_stores_nothing_of_the_envelope(backend: Backend) {
    use telemetry_tracker::domain::plans::Plan;
    use telemetry_tracker::domain::timeutil::month_key;
    let app = TestApp::start(backend).await;
    let seed = app.seed("quota").await;
    let db = &app.state.db;
    telemetry_tracker::service::accounts::set_org_plan(db, &seed.org_id, Plan::Free)
        .await
        .unwrap();
    let limit = Plan::Free.limits().monthly_units.unwrap();
    let month = month_key(app.state.clock.now_ms());
    let used = db.usage(&seed.project_id, &month).await.unwrap();
    assert!(db
        .reserve_usage(&seed.project_id, &month, limit - 1 - used, limit)
        .await
        .unwrap()
        .is_ok());

    let n = number(&app, &seed).await;
    let key = public_id(&seed);
    let now = now_rfc3339();
    let session = json!({"sid": "5d1b2c3a4e5f60718293a4b5c6d7e8f9", "init": true,
        "started": now, "timestamp": now, "status": "ok", "errors": 0,
        "attrs": {"release": "api@1.0.0", "environment": "production"}});
    let event = json!({"message": "over the quota", "platform": "node", "release": "api@1.0.0"});
    let envelope =
        format!("{{}}\n{{\"type\":\"session\"}}\n{session}\n{{\"type\":\"event\"}}\n{event}");
    let res = app
        .http
        .post(app.url(&format!("/api/{n}/envelope/?sentry_key={key}")))
        .body(envelope)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 429);
    let limits = res.headers()["x-sentry-rate-limits"].to_str().unwrap();
    assert!(limits.ends_with(":organization:quota_exceeded"), "{limits}");
    assert!(groups(&app, &seed).await.is_empty());
    let sessions = app.read_ok(&seed, "/api/sessions?range=1d").await;
    assert_eq!(sessions["items"], json!([]), "{sessions}");
    assert_eq!(db.usage(&seed.project_id, &month).await.unwrap(), limit - 1);

    // The event alone fits.
    let res = app
        .http
        .post(app.url(&format!("/api/{n}/envelope/?sentry_key={key}")))
        .body(format!("{{}}\n{{\"type\":\"event\"}}\n{event}"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 200);
    assert_eq!(groups(&app, &seed).await.len(), 1);
}

/// Now as the SDKs write it (RFC 3339, UTC).
fn now_rfc3339() -> String {
    telemetry_tracker::domain::timeutil::format_rfc3339_ms(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as i64,
    )
}

on_both_backends!(
    a_quota_refusal_stores_nothing_of_the_envelope,
    hostile_envelopes_are_refused_whole,
    request_mode_aggregates_count_as_sessions,
    page_loads_and_web_vitals_become_events,
    every_capture_is_accepted_and_its_errors_read_back,
    node_and_browser_errors_are_mapped,
    refusals_carry_the_headers_the_sdks_read,
);
