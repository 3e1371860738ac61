//! Health, metrics and the served OpenAPI spec; a lost database turns /health red
//! and ingest into 503 without losing what was acknowledged.

mod common;

use common::{Backend, TestApp};
use serde_json::{json, Value};
use std::sync::atomic::Ordering;

async fn health_turns_red_and_ingest_503_when_the_database_is_gone(backend: Backend) {
    let app = TestApp::start_with(backend, |c| c.health_check_database = true).await;
    let seed = app.seed("ops").await;
    let res = app.http.get(app.url("/health")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let health: Value = res.json().await.unwrap();
    assert_eq!(
        (health["ok"].as_bool(), health["database"].as_str()),
        (Some(true), Some("ok"))
    );
    assert!(health["database_latency_ms"].is_number());
    for secret in ["postgres://", "password", "tt_live_"] {
        assert!(!health.to_string().contains(secret));
    }
    assert_eq!(
        app.post_json(
            "/ingest/event",
            &seed.key,
            &json!({ "app": "web", "name": "before" })
        )
        .await
        .status(),
        204
    );

    app.state.close().await;
    let res = app.http.get(app.url("/health")).send().await.unwrap();
    assert_eq!(res.status(), 503);
    let health: Value = res.json().await.unwrap();
    assert_eq!(
        (health["ok"].as_bool(), health["database"].as_str()),
        (Some(false), Some("error"))
    );
    let res = app
        .post_json(
            "/ingest/event",
            &seed.key,
            &json!({ "app": "web", "name": "during" }),
        )
        .await;
    assert_eq!(res.status(), 503);
    assert!(res.headers().get("retry-after").is_some());
    let body: Value = res.json().await.unwrap();
    assert!(body["error"].is_string());
}

async fn metrics(app: &TestApp) -> String {
    let res = app.http.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    res.text().await.unwrap()
}

async fn metrics_and_openapi_are_served(backend: Backend) {
    let app = TestApp::start(backend).await;
    let seed = app.seed("metrics").await;
    assert_eq!(
        app.post_json(
            "/ingest/batch",
            &seed.key,
            &json!({ "events": [{ "app": "w", "name": "a" }, { "app": "w", "name": "b" }] })
        )
        .await
        .status(),
        204
    );
    let text = metrics(&app).await;
    let committed = text
        .lines()
        .find(|l| l.starts_with("telemetry_ingest_committed_items_total "))
        .unwrap();
    assert_eq!(committed, "telemetry_ingest_committed_items_total 2");
    assert!(text.contains("telemetry_ingest_queue_depth 0"));
    assert!(!text.contains("telemetry_retention_last_run"), "no run yet");

    // A retention run shows up on /metrics.
    telemetry_tracker::service::retention::run(
        &app.state.db,
        &app.state.clock,
        90,
        30,
        false,
        "test",
    )
    .await
    .unwrap();
    let text = metrics(&app).await;
    assert!(
        text.contains("telemetry_retention_last_run_rows_deleted 0"),
        "{text}"
    );
    assert!(text.contains("telemetry_retention_last_run_timestamp_seconds "));

    let res = app
        .http
        .get(app.url("/api/openapi.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let served: Value = res.json().await.unwrap();
    let generated: Value = serde_json::from_str(&telemetry_tracker::api::spec_json()).unwrap();
    assert_eq!(served, generated);
    let docs = app.http.get(app.url("/api/docs")).send().await.unwrap();
    assert_eq!(docs.status(), 200);
    assert!(docs.text().await.unwrap().to_lowercase().contains("<html"));
}

/// Under load that never pauses, every acknowledged event is stored and, on SQLite,
/// the write-ahead log is checkpointed back to a bounded size instead of growing
/// with everything written since the server started.
async fn sustained_ingest_keeps_the_wal_bounded(backend: Backend) {
    const SENDERS: usize = 8;
    const BATCHES_PER_SENDER: usize = 150;
    const WAL_BOUND: u64 = 64 * 1024 * 1024;
    let app = TestApp::start(backend).await;
    let seed = app.seed("sustained").await;
    let wal = app.db.data_dir().join("telemetry.db-wal");
    // Long properties make each commit write many pages, as heavy traffic does.
    let filler = "x".repeat(1500);
    let mut senders = tokio::task::JoinSet::new();
    for sender in 0..SENDERS {
        let (http, url, key, filler) = (
            app.http.clone(),
            app.url("/ingest/batch"),
            seed.key.clone(),
            filler.clone(),
        );
        senders.spawn(async move {
            for batch in 0..BATCHES_PER_SENDER {
                let events: Vec<Value> = (0..100)
                    .map(|i| {
                        json!({ "app": "web", "name": format!("load_{}", i % 7),
                                "properties": { "sender": sender, "batch": batch, "filler": filler } })
                    })
                    .collect();
                let res = http
                    .post(&url)
                    .bearer_auth(&key)
                    .json(&json!({ "events": events }))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(res.status(), 204);
            }
        });
    }
    let mut largest_wal = 0;
    while !senders.is_empty() {
        tokio::select! {
            done = senders.join_next() => done.unwrap().unwrap(),
            _ = tokio::time::sleep(std::time::Duration::from_millis(20)) => {}
        }
        largest_wal = largest_wal.max(std::fs::metadata(&wal).map_or(0, |m| m.len()));
    }
    let expected = (SENDERS * BATCHES_PER_SENDER * 100) as i64;
    let overview = app
        .read_ok(
            &seed,
            &format!("/api/overview?project_id={}&from=0", seed.project_id),
        )
        .await;
    assert_eq!(overview["events"].as_i64(), Some(expected), "{overview}");
    if backend == Backend::Sqlite {
        assert!(
            largest_wal < WAL_BOUND,
            "the WAL grew to {largest_wal} bytes"
        );
        let written = app
            .db
            .data_dir()
            .join("telemetry.db")
            .metadata()
            .unwrap()
            .len();
        assert!(
            written > 2 * WAL_BOUND,
            "the load wrote only {written} bytes"
        );
    }
}

/// On a SQLite file the ingest writer commits groups of events through a connection
/// of its own (`store::direct_write`), and groups holding errors or sessions through
/// sqlx; PostgreSQL, and an in-memory SQLite database, have no direct connection.
/// The pipeline counts the commits each way, so the test sees which path wrote.
async fn events_on_a_sqlite_file_are_committed_by_the_direct_writer(backend: Backend) {
    let app = TestApp::start(backend).await;
    let seed = app.seed("direct").await;
    let stats = &app.state.queue.stats;
    let counts = || {
        (
            stats.commits.load(Ordering::Relaxed),
            stats.direct_commits.load(Ordering::Relaxed),
        )
    };
    assert_eq!(counts(), (0, 0));
    let batch = json!({ "events": [{ "app": "web", "name": "a" }, { "app": "web", "name": "b" }] });
    app.ingest_ok("/ingest/batch", &seed.key, &batch).await;
    app.ingest_ok(
        "/ingest/event",
        &seed.key,
        &json!({ "app": "web", "name": "c" }),
    )
    .await;
    // One request after the other, each answered after its own commit.
    let direct = if backend == Backend::Sqlite { 2 } else { 0 };
    assert_eq!(counts(), (2, direct), "two commits of events only");
    // An error goes through sqlx on every backend.
    app.ingest_ok(
        "/ingest/error",
        &seed.key,
        &json!({ "app": "web", "message": "m" }),
    )
    .await;
    assert_eq!(counts(), (3, direct), "and a commit holding an error");
    // What the direct connection committed is what the read API serves.
    let events = app.read_ok(&seed, "/api/events").await;
    let mut names: Vec<&str> = events["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    names.sort_unstable();
    assert_eq!(names, ["a", "b", "c"], "{events}");

    assert_eq!(
        app.state.db.direct_writer().await.unwrap().is_some(),
        backend == Backend::Sqlite
    );
    let memory = telemetry_tracker::store::Db::connect(
        Some("sqlite::memory:"),
        &app.db.data_dir(),
        telemetry_tracker::store::SyncMode::Normal,
    )
    .await
    .unwrap();
    assert!(memory.direct_writer().await.unwrap().is_none());
}

on_both_backends!(
    events_on_a_sqlite_file_are_committed_by_the_direct_writer,
    health_turns_red_and_ingest_503_when_the_database_is_gone,
    metrics_and_openapi_are_served,
    sustained_ingest_keeps_the_wal_bounded
);
