//! Retention and idle-session closing, with the application clock moved forward.

mod common;

use common::{Backend, TestApp};
use serde_json::json;
use telemetry_tracker::domain::plans::Plan;
use telemetry_tracker::domain::timeutil::{format_rfc3339_ms, DAY_MS, MINUTE_MS};
use telemetry_tracker::service::{accounts, retention};

async fn retention_deletes_what_the_plan_no_longer_keeps(backend: Backend) {
    let app = TestApp::start(backend).await;
    let (db, clock) = (&app.state.db, &app.state.clock);
    let free = app.seed("free").await;
    let hosted = app.seed("hosted").await;
    accounts::set_org_plan(db, &free.org_id, Plan::Free)
        .await
        .unwrap();
    for seed in [&free, &hosted] {
        let batch =
            json!({ "events": [{ "app": "web", "name": "a" }, { "app": "web", "name": "b" }] });
        assert_eq!(
            app.post_json("/ingest/batch", &seed.key, &batch)
                .await
                .status(),
            204
        );
        assert_eq!(
            app.post_json(
                "/ingest/error",
                &seed.key,
                &json!({ "app": "web", "message": "m" })
            )
            .await
            .status(),
            204
        );
        let session = json!({ "session_id": "s", "app": "web", "ended_at": format_rfc3339_ms(clock.now_ms()) });
        assert_eq!(
            app.post_json("/ingest/session", &seed.key, &session)
                .await
                .status(),
            204
        );
    }
    // 20 days later: past FREE's 14 days, within SELF_HOSTED's 90.
    clock.advance(20 * DAY_MS);
    let dry = retention::run(db, clock, 90, 30, true, "test")
        .await
        .unwrap();
    assert_eq!(dry.rows_deleted, 5, "exactly what the run deletes");
    let run = retention::run(db, clock, 90, 30, false, "test")
        .await
        .unwrap();
    assert_eq!(
        run.rows_deleted, 5,
        "2 events, 1 occurrence, 1 session and the emptied group"
    );
    let events = app.read_ok(&free, "/api/events?from=0").await;
    assert_eq!(events["items"].as_array().unwrap().len(), 0);
    assert!(
        run.rollup_rows_deleted > 0,
        "the roll-ups of expired days go too"
    );
    let overview = app.read_ok(&free, "/api/overview?from=0").await;
    assert_eq!(
        (
            overview["events"].as_i64(),
            overview["errors"].as_i64(),
            overview["sessions"].as_i64()
        ),
        (Some(0), Some(0), Some(0)),
        "{overview}"
    );
    let overview = app.read_ok(&hosted, "/api/overview?from=0").await;
    assert_eq!(overview["events"].as_i64(), Some(2), "{overview}");
    let errors = app.read_ok(&free, "/api/errors?from=0").await;
    assert_eq!(errors["items"].as_array().unwrap().len(), 0);
    let events = app.read_ok(&hosted, "/api/events?from=0").await;
    assert_eq!(events["items"].as_array().unwrap().len(), 2);
    // The configured SELF_HOSTED retention applies to the rest.
    let run = retention::run(db, clock, 10, 30, false, "test")
        .await
        .unwrap();
    assert_eq!(run.rows_deleted, 5);
}

async fn idle_sessions_close_at_their_last_activity(backend: Backend) {
    let app = TestApp::start(backend).await;
    let seed = app.seed("idle").await;
    let (db, clock) = (&app.state.db, &app.state.clock);
    let start = json!({ "session_id": "idle", "app": "web" });
    assert_eq!(
        app.post_json("/ingest/session", &seed.key, &start)
            .await
            .status(),
        204
    );
    let active = json!({ "session_id": "active", "app": "web" });
    assert_eq!(
        app.post_json("/ingest/session", &seed.key, &active)
            .await
            .status(),
        204
    );
    clock.advance(10 * MINUTE_MS);
    let event = json!({ "app": "web", "name": "click", "session_id": "idle" });
    assert_eq!(
        app.post_json("/ingest/event", &seed.key, &event)
            .await
            .status(),
        204
    );
    let events = app.read_ok(&seed, "/api/events?name=click").await;
    let last_event = events["items"][0]["timestamp"].clone();
    assert!(last_event.is_string(), "{events}");
    clock.advance(25 * MINUTE_MS);
    // "active" has been quiet for 35 minutes, "idle" for 25: only the first closes.
    assert_eq!(
        retention::close_idle_sessions(db, clock, 30).await.unwrap(),
        1
    );
    let s = app.read_ok(&seed, "/api/sessions/idle").await;
    assert_eq!(
        (
            s["session"]["session_id"].as_str(),
            s["session"]["ended_at"].as_str()
        ),
        (Some("idle"), None),
        "still open: {s}"
    );
    clock.advance(10 * MINUTE_MS);
    assert_eq!(
        retention::close_idle_sessions(db, clock, 30).await.unwrap(),
        1
    );
    let s = app.read_ok(&seed, "/api/sessions/idle?range=365d").await;
    assert_eq!(
        s["session"]["ended_at"], last_event,
        "closed at its last event"
    );
    assert_eq!(
        retention::close_idle_sessions(db, clock, 30).await.unwrap(),
        0
    );
}

on_both_backends!(
    retention_deletes_what_the_plan_no_longer_keeps,
    idle_sessions_close_at_their_last_activity
);
