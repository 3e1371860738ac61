//! Health, metrics and the served OpenAPI spec; a lost database turns /health red
//! and ingest into 503 without losing what was acknowledged.

mod common;

use common::{Backend, TestApp};
use serde_json::{json, Value};

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
    let text = app
        .http
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let committed = text
        .lines()
        .find(|l| l.starts_with("telemetry_ingest_committed_items_total "))
        .unwrap();
    assert_eq!(committed, "telemetry_ingest_committed_items_total 2");
    assert!(text.contains("telemetry_ingest_queue_depth 0"));
    assert!(!text.contains("telemetry_retention_last_run"), "no run yet");

    // A retention run shows up on /metrics.
    telemetry_tracker::service::retention::run(&app.state.db, &app.state.clock, 90, 30, false)
        .await
        .unwrap();
    let text = app
        .http
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        text.contains("telemetry_retention_last_run_rows_deleted 0"),
        "{text}"
    );
    assert!(text.contains("telemetry_retention_last_run_timestamp_seconds "));

    let served: Value = app
        .http
        .get(app.url("/api/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let generated: Value = serde_json::from_str(&telemetry_tracker::api::spec_json()).unwrap();
    assert_eq!(served, generated);
    let docs = app.http.get(app.url("/api/docs")).send().await.unwrap();
    assert_eq!(docs.status(), 200);
    assert!(docs.text().await.unwrap().to_lowercase().contains("<html"));
}

on_both_backends!(
    health_turns_red_and_ingest_503_when_the_database_is_gone,
    metrics_and_openapi_are_served
);
