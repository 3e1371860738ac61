//! Every request the published SDKs send (../shared/fixtures/sdk-wire) is answered
//! 204 and stored as sent, read back through the read API.

mod common;

use common::{captured_requests, Backend, Seed, TestApp};
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// The comparable fields of an event, as sent or as read back.
fn event_key(e: &Value) -> String {
    let f = |k: &str| e.get(k).cloned().unwrap_or(Value::Null);
    json!([
        f("app"),
        f("name"),
        f("platform"),
        f("environment"),
        f("release"),
        f("user_id"),
        f("session_id"),
        f("anonymous_id"),
        f("sdk_version"),
        f("properties")
    ])
    .to_string()
}

fn occurrence_key(e: &Value) -> String {
    let f = |k: &str| e.get(k).cloned().unwrap_or(Value::Null);
    json!([
        f("message"),
        f("stack"),
        f("context"),
        f("session_id"),
        f("user_id"),
        f("anonymous_id"),
        f("release"),
        f("environment"),
        f("platform"),
        f("sdk_version")
    ])
    .to_string()
}

async fn read_all(app: &TestApp, seed: &Seed, path: &str) -> Vec<Value> {
    let body = app
        .read_ok(seed, &format!("{path}?range=365d&limit=500"))
        .await;
    body["items"].as_array().unwrap().clone()
}

async fn sdk_captures_are_accepted_and_stored_as_sent(backend: Backend) {
    let app = TestApp::start(backend).await;
    let seed = app.seed("acme").await;
    let requests = captured_requests();

    let mut expected_events = Vec::new();
    let mut expected_errors = Vec::new();
    let mut expected_sessions: BTreeMap<String, serde_json::Map<String, Value>> = BTreeMap::new();
    for (file, req) in &requests {
        let res = app
            .http
            .post(app.url(&req.path))
            .header("content-type", &req.content_type)
            .header("authorization", format!("Bearer {}", seed.key))
            .body(req.body.to_string())
            .send()
            .await
            .unwrap();
        let status = res.status().as_u16();
        assert_eq!(
            status,
            204,
            "{file} {}: {}",
            req.path,
            res.text().await.unwrap()
        );
        match req.path.as_str() {
            "/ingest/event" => expected_events.push(event_key(&req.body)),
            "/ingest/batch" => {
                expected_events.extend(req.body["events"].as_array().unwrap().iter().map(event_key))
            }
            "/ingest/error" => expected_errors.push(occurrence_key(&req.body)),
            "/ingest/session" => {
                let entry = expected_sessions
                    .entry(req.body["session_id"].as_str().unwrap().to_string())
                    .or_default();
                for (k, v) in req.body.as_object().unwrap() {
                    // started_at is kept from the first sighting; the rest patch the session.
                    if k == "started_at" && entry.contains_key("started_at") {
                        continue;
                    }
                    entry.insert(k.clone(), v.clone());
                }
            }
            other => panic!("unexpected path {other}"),
        }
    }

    let mut got: Vec<String> = read_all(&app, &seed, "/api/events")
        .await
        .iter()
        .map(event_key)
        .collect();
    got.sort();
    expected_events.sort();
    assert_eq!(got, expected_events);

    let groups = read_all(&app, &seed, "/api/errors").await;
    let mut got_errors = Vec::new();
    for g in &groups {
        let detail = app
            .read_ok(&seed, &format!("/api/errors/{}", g["id"].as_str().unwrap()))
            .await;
        got_errors.extend(
            detail["recent_occurrences"]
                .as_array()
                .unwrap()
                .iter()
                .map(occurrence_key),
        );
    }
    got_errors.sort();
    expected_errors.sort();
    assert_eq!(got_errors, expected_errors);

    let sessions = read_all(&app, &seed, "/api/sessions").await;
    assert_eq!(sessions.len(), expected_sessions.len());
    for s in &sessions {
        let want = &expected_sessions[s["session_id"].as_str().unwrap()];
        for field in [
            "app",
            "platform",
            "environment",
            "release",
            "user_id",
            "user_email",
            "anonymous_id",
            "country",
            "sdk_version",
        ] {
            assert_eq!(
                s[field],
                want.get(field).cloned().unwrap_or(Value::Null),
                "session {} field {field}",
                s["session_id"]
            );
        }
        for field in ["started_at", "ended_at"] {
            assert_eq!(
                s[field],
                want.get(field).cloned().unwrap_or(Value::Null),
                "session {} field {field}",
                s["session_id"]
            );
        }
    }

    // A session detail carries its events and errors even though some arrived first.
    let core_session = "b42effde-5cc0-40e0-9f61-8d5585b0764b";
    let detail = app
        .read_ok(&seed, &format!("/api/sessions/{core_session}"))
        .await;
    assert_eq!(detail["events"].as_array().unwrap().len(), 2);
    assert_eq!(detail["errors"].as_array().unwrap().len(), 2);

    // Every accepted item was metered: events + errors + new sessions.
    let month = telemetry_tracker::domain::timeutil::month_key(app.state.clock.now_ms());
    let used = app.state.db.usage(&seed.project_id, &month).await.unwrap();
    assert_eq!(
        used as usize,
        expected_events.len() + expected_errors.len() + expected_sessions.len()
    );
}

async fn captures_are_accepted_as_text_plain_and_with_x_api_key(backend: Backend) {
    let app = TestApp::start(backend).await;
    let seed = app.seed("beacon").await;
    for (_, req) in captured_requests() {
        let res = app
            .http
            .post(app.url(&req.path))
            .header("content-type", "text/plain;charset=UTF-8")
            .header("x-api-key", &seed.key)
            .body(req.body.to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(res.status().as_u16(), 204);
    }
}

on_both_backends!(
    sdk_captures_are_accepted_and_stored_as_sent,
    captures_are_accepted_as_text_plain_and_with_x_api_key
);
