//! Ingest rules over HTTP: keys, app restriction, plans and quotas, batches,
//! sessions, grouping and regressions.

mod common;

use common::{Backend, Seed, TestApp};
use poem::test::TestClient;
use serde_json::{json, Value};
use telemetry_tracker::domain::plans::Plan;
use telemetry_tracker::domain::timeutil::{format_rfc3339_ms, month_key, DAY_MS};
use telemetry_tracker::service::accounts;
use telemetry_tracker::service::ingest::MISSING_KEY;

fn event(app: &str, name: &str) -> Value {
    json!({ "app": app, "name": name })
}

async fn count(app: &TestApp, seed: &Seed, path: &str) -> usize {
    let body = app
        .read_ok(seed, &format!("{path}?range=365d&limit=500"))
        .await;
    body["items"].as_array().unwrap().len()
}

async fn status_and_body(res: reqwest::Response) -> (u16, Value) {
    let status = res.status().as_u16();
    let text = res.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or_else(|_| json!({ "raw": text })),
    )
}

async fn keys_are_checked(backend: Backend) {
    let app = TestApp::start(backend).await;
    let seed = app.seed("keys").await;
    let (db, clock) = (&app.state.db, &app.state.clock);
    let revoked = accounts::create_api_key(db, clock, &seed.project_id, None, None, None)
        .await
        .unwrap();
    accounts::revoke_api_key(db, clock, &revoked.id)
        .await
        .unwrap();
    let expired = accounts::create_api_key(db, clock, &seed.project_id, None, None, Some(1))
        .await
        .unwrap();
    // A day and a second later the key has expired; the other keys never do.
    clock.advance(24 * 3_600_000 + 1_000);
    let wrong_secret = format!("{}_{}", &seed.key[..40], "ab".repeat(32));
    let unknown =
        "tt_live_0123456789abcdef0123456789abcdef_00112233445566778899aabbccddeeff".to_string();

    let res = app
        .http
        .post(app.url("/ingest/event"))
        .json(&event("web", "x"))
        .send()
        .await
        .unwrap();
    let (status, body) = status_and_body(res).await;
    assert_eq!((status, body["error"].as_str()), (401, Some(MISSING_KEY)));

    // A revoked or expired key whose secret matches is told why.
    for (key, why) in [
        (&revoked.key, "was revoked on"),
        (&expired.key, "expired on"),
    ] {
        let res = app
            .post_json("/ingest/event", key, &event("web", "x"))
            .await;
        let (status, body) = status_and_body(res).await;
        assert_eq!(status, 401, "{body}");
        assert!(body["error"].as_str().unwrap().contains(why), "{body}");
    }
    // A wrong secret for a revoked key learns nothing.
    let wrong_for_revoked = format!("{}_{}", &revoked.key[..40], "cd".repeat(32));
    let res = app
        .post_json("/ingest/event", &wrong_for_revoked, &event("web", "x"))
        .await;
    let (status, body) = status_and_body(res).await;
    assert_eq!((status, body["error"].as_str()), (401, Some(MISSING_KEY)));
    for bad in [
        "garbled",
        &unknown,
        &wrong_secret,
        &revoked.key,
        &expired.key,
        "",
    ] {
        for route in [
            "/ingest/event",
            "/ingest/batch",
            "/ingest/error",
            "/ingest/session",
        ] {
            let res = app.post_json(route, bad, &json!({})).await;
            let (status, body) = status_and_body(res).await;
            assert_eq!(status, 401, "{route} with {bad:?}: {body}");
            assert!(body["error"].is_string());
        }
    }
    // The same request with the good key, in either header, is stored.
    assert_eq!(
        app.post_json("/ingest/event", &seed.key, &event("web", "ok"))
            .await
            .status(),
        204
    );
    let res = app
        .http
        .post(app.url("/ingest/event"))
        .header("X-API-Key", &seed.key)
        .json(&event("web", "ok"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    assert_eq!(count(&app, &seed, "/api/events").await, 2);
}

async fn app_restricted_keys_refuse_other_apps(backend: Backend) {
    let app = TestApp::start(backend).await;
    let seed = app.seed("restricted").await;
    let key = accounts::create_api_key(
        &app.state.db,
        &app.state.clock,
        &seed.project_id,
        None,
        Some("ios"),
        None,
    )
    .await
    .unwrap();
    assert_eq!(
        app.post_json("/ingest/event", &key.key, &event("ios", "a"))
            .await
            .status(),
        204
    );
    let (status, body) = status_and_body(
        app.post_json("/ingest/event", &key.key, &event("web", "a"))
            .await,
    )
    .await;
    assert_eq!(status, 403, "{body}");
    let batch = json!({ "events": [event("ios", "a"), event("android", "b")] });
    assert_eq!(
        app.post_json("/ingest/batch", &key.key, &batch)
            .await
            .status(),
        403
    );
    assert_eq!(count(&app, &seed, "/api/events").await, 1);
}

async fn development_mode_accepts_keyless_ingest(backend: Backend) {
    let app = TestApp::start(backend).await;
    let seed = app.seed("devmode").await;
    // A second server on the same database, in development mode.
    let dev = |project: &str| {
        let mut cfg = common::default_config();
        cfg.ingest_allow_unauthenticated = true;
        cfg.default_project_id = Some(project.to_string());
        let state = telemetry_tracker::build_state(
            app.state.db.clone(),
            cfg,
            app.state.clock.clone(),
            telemetry_tracker::mail::Mailer::Log,
        );
        TestClient::new(telemetry_tracker::server::app(state))
    };
    let res = dev(&seed.project_id)
        .post("/ingest/event")
        .body_json(&event("web", "keyless"))
        .send()
        .await;
    res.assert_status(poem::http::StatusCode::NO_CONTENT);
    // A presented bad key is still refused.
    let res = dev(&seed.project_id)
        .post("/ingest/event")
        .header("Authorization", "Bearer tt_live_bad")
        .body_json(&event("web", "x"))
        .send()
        .await;
    res.assert_status(poem::http::StatusCode::UNAUTHORIZED);
    // A default project that does not exist stores nothing.
    let res = dev("no-such-project")
        .post("/ingest/event")
        .body_json(&event("web", "x"))
        .send()
        .await;
    res.assert_status(poem::http::StatusCode::FORBIDDEN);
    assert_eq!(count(&app, &seed, "/api/events").await, 1);
}

async fn plans_bound_rate_quota_and_apps(backend: Backend) {
    let app = TestApp::start(backend).await;
    let seed = app.seed("free").await;
    let db = &app.state.db;
    accounts::set_org_plan(db, &seed.org_id, Plan::Free)
        .await
        .unwrap();

    // Distinct app labels: FREE allows 5.
    for i in 0..5 {
        assert_eq!(
            app.post_json("/ingest/event", &seed.key, &event(&format!("app{i}"), "x"))
                .await
                .status(),
            204
        );
    }
    let (status, body) = status_and_body(
        app.post_json("/ingest/event", &seed.key, &event("app5", "x"))
            .await,
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str(), body["limit"].as_i64()),
        (403, Some("max_apps_per_project"), Some(5))
    );
    assert_eq!(
        app.post_json("/ingest/event", &seed.key, &event("app0", "again"))
            .await
            .status(),
        204
    );

    // Monthly quota: fill to one unit below the limit, then a 2-item batch is refused whole.
    let month = month_key(app.state.clock.now_ms());
    let used = db.usage(&seed.project_id, &month).await.unwrap();
    assert_eq!(used, 6);
    assert_eq!(
        db.reserve_usage(&seed.project_id, &month, 250_000 - 1 - used, 250_000)
            .await
            .unwrap(),
        Ok(250_000 - 1)
    );
    let batch = json!({ "events": [event("app0", "a"), event("app0", "b")] });
    let res = app.post_json("/ingest/batch", &seed.key, &batch).await;
    assert!(res.headers().get("retry-after").is_some());
    let (status, body) = status_and_body(res).await;
    assert_eq!(status, 429, "{body}");
    assert_eq!(body["code"], "monthly_ingest_quota");
    assert_eq!(
        (body["limit"].as_i64(), body["used"].as_i64()),
        (Some(250_000), Some(249_999))
    );
    assert!(body["resets_at"]
        .as_str()
        .unwrap()
        .ends_with("T00:00:00.000Z"));
    assert_eq!(
        app.post_json("/ingest/event", &seed.key, &event("app0", "last"))
            .await
            .status(),
        204
    );
    assert_eq!(
        app.post_json("/ingest/event", &seed.key, &event("app0", "over"))
            .await
            .status(),
        429
    );
    // Closing a session is never blocked by the quota; starting one is.
    let start = json!({ "session_id": "s-quota", "app": "app0" });
    assert_eq!(
        app.post_json("/ingest/session", &seed.key, &start)
            .await
            .status(),
        429
    );
    let end = json!({ "session_id": "s-quota", "app": "app0", "ended_at": format_rfc3339_ms(app.state.clock.now_ms()) });
    assert_eq!(
        app.post_json("/ingest/session", &seed.key, &end)
            .await
            .status(),
        204
    );
    assert_eq!(
        db.usage(&seed.project_id, &month).await.unwrap(),
        250_001,
        "the closed session is metered"
    );
    assert_eq!(count(&app, &seed, "/api/events").await, 7);

    // Requests per second: FREE allows 20 with a burst of 40.
    let other = app.seed("rps").await;
    accounts::set_org_plan(db, &other.org_id, Plan::Free)
        .await
        .unwrap();
    // A burst of 100 at once: about 40 pass (the burst), the rest are refused.
    let bodies: Vec<Value> = (0..100).map(|i| event("web", &format!("e{i}"))).collect();
    let sends = bodies
        .iter()
        .map(|b| app.post_json("/ingest/event", &other.key, b));
    let responses = futures_util::future::join_all(sends).await;
    let accepted = responses.iter().filter(|r| r.status() == 204).count();
    assert!((40..=60).contains(&accepted), "{accepted} accepted");
    let refused = responses
        .into_iter()
        .find(|r| r.status() == 429)
        .expect("the RPS limit refused requests");
    let retry = refused.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse::<u64>()
        .unwrap();
    let (_, body) = status_and_body(refused).await;
    assert!(retry >= 1);
    assert_eq!(body["code"], "ingest_rps");
}

async fn self_hosted_is_unlimited(backend: Backend) {
    let app = TestApp::start(backend).await;
    let seed = app.seed("unlimited").await;
    for i in 0..80 {
        let res = app
            .post_json("/ingest/event", &seed.key, &event(&format!("app{i}"), "x"))
            .await;
        assert_eq!(res.status(), 204);
    }
}

async fn batches_are_all_or_nothing(backend: Backend) {
    let app = TestApp::start(backend).await;
    let seed = app.seed("batch").await;
    assert_eq!(
        app.post_json("/ingest/batch", &seed.key, &json!({ "events": [] }))
            .await
            .status(),
        204
    );
    let too_many: Vec<Value> = (0..1001).map(|i| event("web", &format!("e{i}"))).collect();
    let (status, body) = status_and_body(
        app.post_json("/ingest/batch", &seed.key, &json!({ "events": too_many }))
            .await,
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(body["details"]["field"], "events", "{body}");
    let mut items: Vec<Value> = (0..5).map(|i| event("web", &format!("e{i}"))).collect();
    items[3] = json!({ "app": "web", "name": 7 });
    let (status, body) = status_and_body(
        app.post_json("/ingest/batch", &seed.key, &json!({ "events": items }))
            .await,
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(body["details"]["field"], "events[3].name", "{body}");
    items[3] = json!({ "app": "web" });
    let (status, body) = status_and_body(
        app.post_json("/ingest/batch", &seed.key, &json!({ "events": items }))
            .await,
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(body["details"]["field"], "events[3].name", "{body}");
    let full: Vec<Value> = (0..100).map(|i| event("web", &format!("e{i}"))).collect();
    assert_eq!(
        app.post_json("/ingest/batch", &seed.key, &json!({ "events": full }))
            .await
            .status(),
        204
    );
    assert_eq!(count(&app, &seed, "/api/events").await, 100);
}

async fn client_timestamps_are_used_within_the_window(backend: Backend) {
    let app = TestApp::start(backend).await;
    let seed = app.seed("time").await;
    let now = app.state.clock.now_ms();
    let recent = format_rfc3339_ms(now - DAY_MS);
    let ancient = format_rfc3339_ms(now - 40 * DAY_MS);
    let mut e = event("web", "recent");
    e["timestamp"] = json!(recent);
    assert_eq!(
        app.post_json("/ingest/event", &seed.key, &e).await.status(),
        204
    );
    let mut e = event("web", "ancient");
    e["timestamp"] = json!(ancient);
    assert_eq!(
        app.post_json("/ingest/event", &seed.key, &e).await.status(),
        204
    );
    let mut e = event("web", "bad");
    e["timestamp"] = json!("last tuesday");
    let (status, body) = status_and_body(app.post_json("/ingest/event", &seed.key, &e).await).await;
    assert_eq!(
        (status, body["details"]["field"].as_str()),
        (400, Some("timestamp"))
    );
    let body = app.read_ok(&seed, "/api/events?name=recent").await;
    assert_eq!(body["items"][0]["timestamp"], recent);
    // Beyond the window the time of arrival is used instead.
    let body = app.read_ok(&seed, "/api/events?name=ancient").await;
    let stored = body["items"][0]["timestamp"].as_str().expect("the event");
    assert!(stored >= format_rfc3339_ms(now).as_str(), "{body}");
}

async fn sessions_start_update_and_close(backend: Backend) {
    let app = TestApp::start(backend).await;
    let seed = app.seed("sessions").await;
    let now = app.state.clock.now_ms();
    let started = format_rfc3339_ms(now - 60_000);
    let ended = format_rfc3339_ms(now);
    // An end for an unknown session creates it already closed.
    let end_only =
        json!({ "session_id": "late", "app": "web", "started_at": started, "ended_at": ended });
    assert_eq!(
        app.post_json("/ingest/session", &seed.key, &end_only)
            .await
            .status(),
        204
    );
    let s = app.read_ok(&seed, "/api/sessions/late").await;
    assert_eq!(
        (
            s["session"]["ended_at"].as_str(),
            s["session"]["duration_ms"].as_i64()
        ),
        (Some(ended.as_str()), Some(60_000))
    );
    // Start, identify (patch only what is present), end.
    let start = json!({ "session_id": "s1", "app": "web", "country": "DE", "started_at": started });
    assert_eq!(
        app.post_json("/ingest/session", &seed.key, &start)
            .await
            .status(),
        204
    );
    let identify = json!({ "session_id": "s1", "app": "web", "user_id": "u1", "user_email": "u1@example.com", "country": null });
    assert_eq!(
        app.post_json("/ingest/session", &seed.key, &identify)
            .await
            .status(),
        204
    );
    let s = app.read_ok(&seed, "/api/sessions/s1").await;
    assert_eq!(s["session"]["user_email"], "u1@example.com");
    assert_eq!(
        s["session"]["country"], "DE",
        "null means absent: the country stays"
    );
    assert!(s["session"]["ended_at"].is_null(), "{s}");
    let end = json!({ "session_id": "s1", "app": "web", "started_at": started, "ended_at": ended });
    assert_eq!(
        app.post_json("/ingest/session", &seed.key, &end)
            .await
            .status(),
        204
    );
    let s = app.read_ok(&seed, "/api/sessions/s1").await;
    assert_eq!(s["session"]["ended_at"], ended);
    assert_eq!(s["session"]["user_id"], "u1");
    // Bad session bodies.
    for bad in [
        json!({ "app": "web" }),
        json!({ "session_id": "x", "ended_at": "soon" }),
        json!({ "session_id": "x", "country": "TOO-LONG-CODE" }),
    ] {
        assert_eq!(
            app.post_json("/ingest/session", &seed.key, &bad)
                .await
                .status(),
            400,
            "{bad}"
        );
    }
    assert_eq!(count(&app, &seed, "/api/sessions").await, 2);
}

async fn errors_group_and_regress(backend: Backend) {
    let app = TestApp::start(backend).await;
    let seed = app.seed("errors").await;
    let err = |id: u32, line: u32, release: &str| {
        json!({
            "app": "web",
            "message": format!("Cannot read properties of undefined (reading 'id') for order {id}"),
            "stack": format!("TypeError: Cannot read properties of undefined (reading 'id') for order {id}\n    at renderOrder (https://shop.example.com/assets/app-{release}.js:{line}:17)\n    at https://shop.example.com/assets/vendor-{release}.js:2:100"),
            "release": release,
            "user_id": format!("user-{id}"),
        })
    };
    assert_eq!(
        app.post_json("/ingest/error", &seed.key, &err(1, 10, "aaa111"))
            .await
            .status(),
        204
    );
    assert_eq!(
        app.post_json("/ingest/error", &seed.key, &err(2, 99, "bbb222"))
            .await
            .status(),
        204
    );
    let other = json!({ "app": "web", "message": "Network request failed", "stack": "Error: Network request failed\n    at fetchCart (https://shop.example.com/assets/app-aaa111.js:5:1)" });
    assert_eq!(
        app.post_json("/ingest/error", &seed.key, &other)
            .await
            .status(),
        204
    );

    let list = app.read_ok(&seed, "/api/errors?sort=occurrences").await;
    let groups = list["items"].as_array().unwrap();
    assert_eq!(groups.len(), 2, "{list}");
    assert_eq!(groups[0]["occurrences"], 2);
    assert_eq!(groups[0]["error_type"], "TypeError");
    let id = groups[0]["id"].as_str().unwrap().to_string();
    let detail = app.read_ok(&seed, &format!("/api/errors/{id}")).await;
    assert_eq!(detail["affected_users"], 2);
    assert_eq!(
        detail["recent_occurrences"][0]["frames"][0]["function"],
        "renderOrder"
    );
    assert_eq!(detail["recent_occurrences"][0]["frames"][0]["in_app"], true);

    // Resolve, then the same bug again: a regression, unresolved once more.
    let patch = |status: &str| {
        app.http
            .patch(app.url(&format!("/api/errors/{id}")))
            .bearer_auth(&seed.token)
            .header("X-Project-Id", &seed.project_id)
            .json(&json!({ "status": status }))
            .send()
    };
    let res = patch("resolved").await.unwrap();
    assert_eq!(res.status(), 200);
    let list = app.read_ok(&seed, "/api/errors?status=resolved").await;
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    assert_eq!(
        app.post_json("/ingest/error", &seed.key, &err(3, 12, "ccc333"))
            .await
            .status(),
        204
    );
    let detail = app.read_ok(&seed, &format!("/api/errors/{id}")).await;
    assert_eq!(detail["group"]["status"], "unresolved");
    assert!(detail["group"]["regressed_at"].is_string());
    assert_eq!(detail["group"]["occurrences"], 3);
    assert_eq!(patch("bogus").await.unwrap().status(), 400);

    // A VIEWER may read but not change status.
    let viewer = accounts::create_user(
        &app.state.db,
        &app.state.clock,
        "viewer@example.com",
        "correct horse battery",
        None,
    )
    .await
    .unwrap();
    app.state
        .db
        .add_membership(&seed.org_id, &viewer.user.id, "VIEWER", 0)
        .await
        .unwrap();
    let token = accounts::create_token(&app.state.db, &app.state.clock, "viewer@example.com", None)
        .await
        .unwrap();
    let viewer_seed = Seed {
        token: token.token,
        ..seed.clone()
    };
    app.read_ok(&viewer_seed, &format!("/api/errors/{id}"))
        .await;
    let res = app
        .http
        .patch(app.url(&format!("/api/errors/{id}")))
        .bearer_auth(&viewer_seed.token)
        .header("X-Project-Id", &seed.project_id)
        .json(&json!({ "status": "ignored" }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);

    // Oversized messages are truncated with a marker, never refused.
    let huge = json!({ "app": "web", "message": "x".repeat(20_000), "stack": "y".repeat(100_000) });
    assert_eq!(
        app.post_json("/ingest/error", &seed.key, &huge)
            .await
            .status(),
        204
    );
    let list = app.read_ok(&seed, "/api/errors").await;
    let huge_group = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["message"].as_str().unwrap().starts_with("xxx"))
        .unwrap()
        .clone();
    let detail = app
        .read_ok(
            &seed,
            &format!("/api/errors/{}", huge_group["id"].as_str().unwrap()),
        )
        .await;
    let occ = &detail["recent_occurrences"][0];
    assert!(
        occ["message"].as_str().unwrap().len() <= 8 * 1024
            && occ["message"].as_str().unwrap().ends_with("[truncated]")
    );
    assert!(occ["stack"].as_str().unwrap().len() <= 64 * 1024);
}

async fn cors_preflight_allows_any_origin(backend: Backend) {
    let app = TestApp::start(backend).await;
    for route in [
        "/ingest/event",
        "/ingest/batch",
        "/ingest/error",
        "/ingest/session",
    ] {
        let res = app
            .http
            .request(reqwest::Method::OPTIONS, app.url(route))
            .header("Origin", "https://any-app.example")
            .header("Access-Control-Request-Method", "POST")
            .header(
                "Access-Control-Request-Headers",
                "authorization, content-type",
            )
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 204);
        let h = res.headers();
        assert_eq!(h["access-control-allow-origin"], "https://any-app.example");
        let allowed = h["access-control-allow-headers"]
            .to_str()
            .unwrap()
            .to_ascii_lowercase();
        for needed in ["authorization", "x-api-key", "content-type"] {
            assert!(allowed.contains(needed));
        }
    }
}

async fn batches_hold_up_to_the_configured_number_of_events(backend: Backend) {
    let app = TestApp::start(backend).await;
    let seed = app.seed("batches").await;
    let events = |n: usize| {
        let items: Vec<Value> = (0..n)
            .map(|i| json!({ "app": "web", "name": format!("e{}", i % 7) }))
            .collect();
        json!({ "events": items })
    };
    let res = app
        .post_json("/ingest/batch", &seed.key, &events(1000))
        .await;
    assert_eq!(res.status(), 204);
    let res = app
        .post_json("/ingest/batch", &seed.key, &events(1001))
        .await;
    let (status, body) = status_and_body(res).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["details"]["field"], "events");
    let names = app.read_ok(&seed, "/api/events/names?from=0").await;
    let total: i64 = names["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["count"].as_i64().unwrap())
        .sum();
    assert_eq!(total, 1000, "{names}");
    // A smaller limit is a setting.
    let small = TestApp::start_with(backend, |c| c.ingest_batch_max = 5).await;
    let seed = small.seed("small").await;
    let res = small
        .post_json("/ingest/batch", &seed.key, &events(6))
        .await;
    assert_eq!(res.status(), 400);
    let res = small
        .post_json("/ingest/batch", &seed.key, &events(5))
        .await;
    assert_eq!(res.status(), 204);
}

on_both_backends!(
    batches_hold_up_to_the_configured_number_of_events,
    keys_are_checked,
    app_restricted_keys_refuse_other_apps,
    development_mode_accepts_keyless_ingest,
    plans_bound_rate_quota_and_apps,
    self_hosted_is_unlimited,
    batches_are_all_or_nothing,
    client_timestamps_are_used_within_the_window,
    sessions_start_update_and_close,
    errors_group_and_regress,
    cors_preflight_allows_any_origin,
);
