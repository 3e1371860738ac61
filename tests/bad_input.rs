//! Hostile and malformed input to every ingest and read route: only 4xx answers
//! with JSON bodies naming the problem, the server stays up, and stored data is
//! unchanged.

mod common;

use common::{Backend, Seed, TestApp};
use serde_json::{json, Value};

const INGEST_ROUTES: [&str; 4] = [
    "/ingest/event",
    "/ingest/batch",
    "/ingest/error",
    "/ingest/session",
];

fn nested(depth: usize) -> String {
    format!("{}1{}", "[".repeat(depth), "]".repeat(depth))
}

/// Bodies that no ingest route may accept.
fn bad_bodies() -> Vec<(&'static str, Vec<u8>)> {
    let long = |n: usize| "x".repeat(n);
    let mut bodies: Vec<(&str, Vec<u8>)> = vec![
        ("empty", b"".to_vec()),
        ("whitespace", b"   \n".to_vec()),
        ("truncated", br#"{"app": "web", "name": "#.to_vec()),
        ("not json", b"app=web&name=x".to_vec()),
        ("trailing garbage", br#"{"app":"web","name":"x"} {"#.to_vec()),
        ("array", b"[]".to_vec()),
        ("string", br#""event""#.to_vec()),
        ("number", b"42".to_vec()),
        ("null", b"null".to_vec()),
        ("wrong types", br#"{"app": [], "name": {}, "session_id": 5, "message": false, "events": "x"}"#.to_vec()),
        ("invalid utf-8", b"{\"app\":\"\xff\xfe\",\"name\":\"\xc3\x28\",\"session_id\":\"\xff\",\"message\":\"\xff\",\"events\":[]}".to_vec()),
        ("lone surrogate", br#"{"app":"\ud800","name":"\udfff","session_id":"\ud800","message":"\ud800","events":[{"app":"\ud800","name":"x"}]}"#.to_vec()),
        ("deep nesting", format!(r#"{{"app":"web","name":"x","session_id":"s","message":"m","properties":{0},"context":{0},"events":{0},"country":{0}}}"#, nested(5000)).into_bytes()),
        ("oversized fields", format!(r#"{{"app":"{a}","name":"{a}","session_id":"{a}","message":"m","country":"{a}","events":[{{"app":"{a}","name":"x"}}]}}"#, a = long(300)).into_bytes()),
        ("blank required", br#"{"app":"   ","name":"  ","session_id":"  ","message":"   ","events":[{"app":" ","name":"x"}]}"#.to_vec()),
        ("properties not object", br#"{"app":"web","name":"x","session_id":"s","message":"m","properties":[1],"context":"c","started_at":"yesterday","events":[{"app":"w","name":"x","properties":"p"}]}"#.to_vec()),
        ("oversized properties", format!(r#"{{"app":"web","name":"x","session_id":"s","message":"m","properties":{{"k":"{a}"}},"context":{{"k":"{a}"}},"ended_at":"nope","events":[{{"app":"w","name":"x","properties":{{"k":"{a}"}}}}]}}"#, a = long(40_000)).into_bytes()),
    ];
    let items: Vec<Value> = (0..1001)
        .map(|i| json!({ "app": "web", "name": format!("e{i}") }))
        .collect();
    bodies.push((
        "1001-item batch",
        json!({ "events": items, "app": "web", "name": 5 })
            .to_string()
            .into_bytes(),
    ));
    bodies
}

async fn stored(app: &TestApp, seed: &Seed) -> (usize, usize, usize) {
    let mut counts = [0; 3];
    for (i, path) in ["/api/events", "/api/errors", "/api/sessions"]
        .iter()
        .enumerate()
    {
        let body = app
            .read_ok(seed, &format!("{path}?range=365d&limit=500"))
            .await;
        counts[i] = body["items"].as_array().unwrap().len();
    }
    (counts[0], counts[1], counts[2])
}

async fn assert_json_refusal(res: reqwest::Response, what: &str) -> u16 {
    let status = res.status().as_u16();
    assert!(
        (400..500).contains(&status),
        "{what}: expected 4xx, got {status}"
    );
    let ct = res
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    assert!(
        ct.starts_with("application/json"),
        "{what}: content-type {ct:?}"
    );
    let body: Value = res
        .json()
        .await
        .unwrap_or_else(|e| panic!("{what}: body is not JSON: {e}"));
    assert!(
        body["error"].as_str().is_some_and(|e| !e.is_empty()),
        "{what}: {body}"
    );
    status
}

async fn malformed_ingest_is_refused_and_nothing_is_stored(backend: Backend) {
    let app = TestApp::start(backend).await;
    let seed = app.seed("bad").await;
    // Something accepted first, which must survive everything below.
    assert_eq!(
        app.post_json(
            "/ingest/event",
            &seed.key,
            &json!({"app":"web","name":"kept"})
        )
        .await
        .status(),
        204
    );
    assert_eq!(
        app.post_json(
            "/ingest/error",
            &seed.key,
            &json!({"app":"web","message":"kept"})
        )
        .await
        .status(),
        204
    );
    assert_eq!(
        app.post_json(
            "/ingest/session",
            &seed.key,
            &json!({"session_id":"kept","app":"web"})
        )
        .await
        .status(),
        204
    );
    let before = stored(&app, &seed).await;

    for route in INGEST_ROUTES {
        for (what, body) in bad_bodies() {
            for content_type in ["application/json", "text/plain"] {
                let res = app
                    .http
                    .post(app.url(route))
                    .header("content-type", content_type)
                    .bearer_auth(&seed.key)
                    .body(body.clone())
                    .send()
                    .await
                    .unwrap();
                let status =
                    assert_json_refusal(res, &format!("{route} {what} ({content_type})")).await;
                assert_eq!(status, 400, "{route} {what}");
            }
        }
        // Oversized body: 413, before anything is parsed.
        let huge = vec![b' '; 1_100_000];
        let res = app
            .http
            .post(app.url(route))
            .header("content-type", "application/json")
            .bearer_auth(&seed.key)
            .body(huge)
            .send()
            .await
            .unwrap();
        assert_eq!(
            assert_json_refusal(res, &format!("{route} oversized")).await,
            413
        );
        // Unsupported or missing content type: 415.
        for ct in [
            Some("application/x-www-form-urlencoded"),
            Some("multipart/form-data; boundary=x"),
            None,
        ] {
            let mut req = app
                .http
                .post(app.url(route))
                .bearer_auth(&seed.key)
                .body(r#"{"app":"web","name":"x"}"#);
            if let Some(ct) = ct {
                req = req.header("content-type", ct);
            }
            let res = req.send().await.unwrap();
            assert_eq!(
                assert_json_refusal(res, &format!("{route} content-type {ct:?}")).await,
                415
            );
        }
        // Missing, garbled and unknown keys: 401, whatever the body.
        for key in [
            None,
            Some("Bearer"),
            Some("Bearer tt_live_garbage"),
            Some("Basic dXNlcjpwYXNz"),
            Some("Bearer tt_live_ffffffffffffffffffffffffffffffff_00"),
        ] {
            let mut req = app
                .http
                .post(app.url(route))
                .header("content-type", "application/json")
                .body(r#"{"app":"web","name":"x","session_id":"s","message":"m"}"#);
            if let Some(k) = key {
                req = req.header("authorization", k);
            }
            let res = req.send().await.unwrap();
            assert_eq!(
                assert_json_refusal(res, &format!("{route} key {key:?}")).await,
                401
            );
        }
    }
    // Unicode that is valid is stored exactly.
    let exotic = "emoji 🧪 rtl עברית zero\u{200b}width combining e\u{301} nul\u{0}byte";
    let res = app
        .post_json(
            "/ingest/event",
            &seed.key,
            &json!({"app": "web", "name": exotic, "properties": {"s": exotic, "k\u{0}": 1}}),
        )
        .await;
    assert_eq!(res.status(), 204);
    let events = app.read_ok(&seed, "/api/events?range=365d").await;
    let stored_name = events["items"][0]["name"].as_str().unwrap();
    assert_eq!(stored_name, exotic.replace('\u{0}', ""));
    assert_eq!(events["items"][0]["properties"]["s"], exotic);

    let after = stored(&app, &seed).await;
    assert_eq!(after, (before.0 + 1, before.1, before.2));
    let res = app.http.get(app.url("/health")).send().await.unwrap();
    assert_eq!(res.status(), 200);
}

async fn malformed_reads_are_refused(backend: Backend) {
    let app = TestApp::start(backend).await;
    let seed = app.seed("reader").await;
    let other = app.seed("other").await;
    let long_id = "x".repeat(5000);
    let cases: Vec<(String, u16)> = vec![
        ("/api/events?cursor=garbage".into(), 400),
        ("/api/events?cursor=12.".into(), 400),
        ("/api/events?limit=0".into(), 400),
        ("/api/events?limit=100000".into(), 400),
        ("/api/events?limit=abc".into(), 400),
        ("/api/events?range=fortnight".into(), 400),
        ("/api/events?from=yesterday".into(), 400),
        (
            "/api/events?from=2026-01-02T00:00:00Z&to=2026-01-01T00:00:00Z".into(),
            400,
        ),
        ("/api/errors?status=maybe".into(), 400),
        ("/api/errors?sort=random".into(), 400),
        (format!("/api/events/{long_id}"), 404),
        ("/api/errors/%ff%fe".into(), 400),
        ("/api/errors/%00".into(), 400),
        ("/api/sessions/%00abc".into(), 400),
        ("/api/events?app=%00".into(), 400),
        ("/api/events?name=a%00b".into(), 400),
        ("/api/sessions/nope".into(), 404),
        (
            "/api/events/00000000-0000-0000-0000-000000000000".into(),
            404,
        ),
    ];
    for (path, expected) in &cases {
        let res = app
            .http
            .get(app.url(path))
            .bearer_auth(&seed.token)
            .header("X-Project-Id", &seed.project_id)
            .send()
            .await
            .unwrap();
        assert_eq!(assert_json_refusal(res, path).await, *expected, "{path}");
    }
    for path in [
        "/api/overview",
        "/api/events",
        "/api/errors",
        "/api/sessions",
        "/api/errors/x",
        "/api/sessions/x",
        "/api/events/x",
    ] {
        // No token, a garbled token, another tenant's project, no project.
        let res = app
            .http
            .get(app.url(path))
            .header("X-Project-Id", &seed.project_id)
            .send()
            .await
            .unwrap();
        assert_eq!(assert_json_refusal(res, path).await, 401);
        let res = app
            .http
            .get(app.url(path))
            .bearer_auth("ttp_nope")
            .header("X-Project-Id", &seed.project_id)
            .send()
            .await
            .unwrap();
        assert_eq!(assert_json_refusal(res, path).await, 401);
        let res = app
            .http
            .get(app.url(path))
            .bearer_auth(&other.token)
            .header("X-Project-Id", &seed.project_id)
            .send()
            .await
            .unwrap();
        assert_eq!(assert_json_refusal(res, path).await, 404);
        let res = app
            .http
            .get(app.url(path))
            .bearer_auth(&seed.token)
            .send()
            .await
            .unwrap();
        assert_eq!(assert_json_refusal(res, path).await, 400);
        // An ingest key is not a read credential.
        let res = app
            .http
            .get(app.url(path))
            .bearer_auth(&seed.key)
            .header("X-Project-Id", &seed.project_id)
            .send()
            .await
            .unwrap();
        assert_eq!(assert_json_refusal(res, path).await, 401);
    }
    for body in [
        &b"{"[..],
        b"[]",
        b"{\"status\":\"sideways\"}",
        b"{\"status\":1}",
        b"\xff",
    ] {
        let res = app
            .http
            .patch(app.url("/api/errors/some-id"))
            .bearer_auth(&seed.token)
            .header("X-Project-Id", &seed.project_id)
            .header("content-type", "application/json")
            .body(body.to_vec())
            .send()
            .await
            .unwrap();
        assert_eq!(assert_json_refusal(res, "PATCH /api/errors").await, 400);
    }
    let res = app
        .http
        .get(app.url("/api/events?project_id=%00"))
        .bearer_auth(&seed.token)
        .send()
        .await
        .unwrap();
    assert_eq!(assert_json_refusal(res, "NUL project id").await, 400);
    // Unknown routes and methods under /api and /ingest answer JSON too.
    let res = app
        .http
        .get(app.url("/api/nothing-here"))
        .send()
        .await
        .unwrap();
    assert_eq!(assert_json_refusal(res, "unknown route").await, 404);
    let res = app.http.get(app.url("/ingest/event")).send().await.unwrap();
    assert_eq!(assert_json_refusal(res, "GET on ingest").await, 405);
}

on_both_backends!(
    malformed_ingest_is_refused_and_nothing_is_stored,
    malformed_reads_are_refused
);
