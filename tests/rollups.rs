//! The roll-ups agree with the rows they count, whatever order things arrive in:
//! sessions whose labels or start change later, sessions of two projects with the
//! same client id in one commit, errors before their session, events from many
//! clients at once.

mod common;

use common::{Backend, TestApp};
use serde_json::{json, Value};
use telemetry_tracker::domain::timeutil::format_rfc3339_ms;
use telemetry_tracker::ingest::rollup::RollupState;
use telemetry_tracker::store::{IngestWrite, Scope, SessionWrite, WriteItem};

fn session(id: &str, environment: Option<&str>) -> SessionWrite {
    SessionWrite {
        new_id: telemetry_tracker::domain::ids::new_id(),
        session_id: id.into(),
        app: Some("web".into()),
        platform: None,
        environment: environment.map(str::to_string),
        release: None,
        user_id: None,
        user_email: None,
        anonymous_id: None,
        country: None,
        device_browser: None,
        device_os: None,
        sdk_version: None,
        started_at: None,
        ended_at: None,
    }
}

async fn overview(app: &TestApp, seed: &common::Seed, query: &str) -> Value {
    let (status, body) = app
        .read(seed, &format!("/api/overview?range=24h{query}"))
        .await;
    assert_eq!(status, 200, "{body}");
    body
}

async fn sessions_move_with_their_labels_and_start(backend: Backend) {
    let app = TestApp::start(backend).await;
    let seed = app.seed("moves").await;
    let now = app.state.clock.now_ms();
    let (app, seed) = (&app, &seed);
    let post = |body: Value| async move {
        assert_eq!(
            app.post_json("/ingest/session", &seed.key, &body)
                .await
                .status(),
            204
        );
    };
    // Started without an environment; an error arrives; then identify adds one.
    post(json!({ "session_id": "s", "app": "web" })).await;
    let error = json!({ "app": "web", "message": "boom", "session_id": "s" });
    assert_eq!(
        app.post_json("/ingest/error", &seed.key, &error)
            .await
            .status(),
        204
    );
    post(json!({ "session_id": "s", "environment": "production" })).await;
    let prod = overview(app, seed, "&environment=production").await;
    assert_eq!(
        (prod["sessions"].as_i64(), prod["errored_sessions"].as_i64()),
        (Some(1), Some(1)),
        "{prod}"
    );
    let all = overview(app, seed, "").await;
    assert_eq!(
        (all["sessions"].as_i64(), all["errored_sessions"].as_i64()),
        (Some(1), Some(1)),
        "{all}"
    );

    // An end that arrived first created the session at its end; the start moves it back.
    let end = format_rfc3339_ms(now - 60_000);
    post(json!({ "session_id": "late", "app": "web", "ended_at": end })).await;
    let start = format_rfc3339_ms(now - 2 * 86_400_000);
    post(json!({ "session_id": "late", "app": "web", "started_at": start })).await;
    let (_, day) = app.read(seed, "/api/overview?range=24h").await;
    assert_eq!(
        day["sessions"], 1,
        "the late session started two days ago: {day}"
    );
    let (_, week) = app.read(seed, "/api/overview?range=7d").await;
    assert_eq!(week["sessions"], 2, "{week}");
}

async fn one_commit_of_two_projects_with_the_same_session_id(backend: Backend) {
    let app = TestApp::start(backend).await;
    let a = app.seed("a").await;
    let b = app.seed("b").await;
    let db = &app.state.db;
    let now = app.state.clock.now_ms();
    let month = telemetry_tracker::domain::timeutil::month_key(now);
    let writes = [
        (
            a.project_id.as_str(),
            IngestWrite::Session(Box::new(session("same", Some("prod")))),
        ),
        (
            b.project_id.as_str(),
            IngestWrite::Session(Box::new(session("same", None))),
        ),
        (
            b.project_id.as_str(),
            IngestWrite::Session(Box::new(session("same", Some("beta")))),
        ),
    ];
    let items: Vec<WriteItem<'_>> = writes
        .iter()
        .map(|(p, w)| WriteItem {
            project_id: p,
            write: w,
            reserved_units: 0,
            month: &month,
        })
        .collect();
    let pairs: Vec<(&str, &IngestWrite)> = writes.iter().map(|(p, w)| (*p, w)).collect();
    let rollups = RollupState::default().build(&pairs);
    db.write_ingest_group(&items, &[], &[], &rollups, now)
        .await
        .unwrap();
    let (_, oa) = app.read(&a, "/api/overview?range=24h").await;
    let (_, ob) = app.read(&b, "/api/overview?range=24h").await;
    assert_eq!(
        (oa["sessions"].as_i64(), ob["sessions"].as_i64()),
        (Some(1), Some(1)),
        "{oa} {ob}"
    );
    // The two writes of project b were merged into one session, with the later label.
    let (_, beta) = app
        .read(&b, "/api/overview?range=24h&environment=beta")
        .await;
    assert_eq!(beta["sessions"], 1, "{beta}");
    let (_, sessions) = app.read(&b, "/api/sessions?range=24h").await;
    assert_eq!(sessions["items"][0]["environment"], "beta");
}

async fn concurrent_single_events_are_all_counted(backend: Backend) {
    let app = TestApp::start(backend).await;
    let seed = app.seed("busy").await;
    let (app, seed) = (&app, &seed);
    // Many clients at once: commits of several requests, each with its own counts.
    let clients = (0..16).map(|c| async move {
        for i in 0..40 {
            let plan = if (c + i) % 4 == 0 { "pro" } else { "free" };
            let body = json!({ "app": "web", "name": "signup", "properties": { "plan": plan } });
            let res = app.post_json("/ingest/event", &seed.key, &body).await;
            assert_eq!(res.status(), 204);
        }
    });
    futures_util::future::join_all(clients).await;
    let scope = Scope {
        project_id: seed.project_id.clone(),
        from: 0,
        to: i64::MAX,
        ..Default::default()
    };
    let db = &app.state.db;
    let total = db.rollup_event_total(&scope, None).await.unwrap();
    let plans = db
        .rollup_property_values(&scope, "signup", "plan", 10)
        .await
        .unwrap();
    assert_eq!(total, 640);
    assert_eq!(plans, [("free".to_string(), 480), ("pro".to_string(), 160)]);
}

on_both_backends!(
    sessions_move_with_their_labels_and_start,
    one_commit_of_two_projects_with_the_same_session_id,
    concurrent_single_events_are_all_counted
);
