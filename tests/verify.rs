//! `telemetry-tracker verify URL` (issue 19) against a server the test started: every
//! check passes on a healthy server, with a test event sent and read back; a wrong
//! version, a wrong key or an unreachable server fail their checks and the exit
//! status.

mod common;

use common::{Backend, TestApp};
use serde_json::Value;

/// Runs the binary's `verify` with `--json`: exit success and the report.
async fn verify(args: Vec<String>) -> (bool, Value) {
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(common::process::BIN)
            .env_clear()
            .arg("verify")
            .args(&args)
            .arg("--json")
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let report = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    (out.status.success(), report)
}

fn check<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no {name} check in {report}"))
}

async fn verifies_a_running_server(backend: Backend) {
    let app = TestApp::start(backend).await;
    let seed = app.seed("ops").await;
    let (ok, report) = verify(vec![
        app.base.clone(),
        "--key".into(),
        seed.key.clone(),
        "--token".into(),
        seed.token.clone(),
    ])
    .await;
    assert!(ok, "{report}");
    assert_eq!(report["ok"], true);
    let names: Vec<&str> = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "health",
            "ingest needs a key",
            "api needs auth",
            "dashboard login",
            "openapi",
            "test event",
            "read back"
        ]
    );
    assert!(check(&report, "health")["detail"]
        .as_str()
        .unwrap()
        .contains(env!("CARGO_PKG_VERSION")));
    // The event it sent is there for everyone to see.
    let events = app
        .read_ok(&seed, "/api/events?name=telemetry_tracker.verify&range=24h")
        .await;
    assert_eq!(events["items"].as_array().unwrap().len(), 1);
    assert!(
        !report.to_string().contains(&seed.key),
        "the key is not printed"
    );

    let (ok, report) = verify(vec![
        app.base.clone(),
        "--expect-version".into(),
        "0.0.0-other".into(),
    ])
    .await;
    assert!(!ok);
    assert_eq!(check(&report, "health")["ok"], false);
    assert!(check(&report, "health")["detail"]
        .as_str()
        .unwrap()
        .contains("expected 0.0.0-other"));
    assert_eq!(check(&report, "openapi")["ok"], true);

    let (ok, report) = verify(vec![
        app.base.clone(),
        "--key".into(),
        "tt_wrong_key".into(),
        "--token".into(),
        seed.token.clone(),
    ])
    .await;
    assert!(!ok);
    let sent = check(&report, "test event");
    assert_eq!(sent["ok"], false);
    assert!(sent["detail"].as_str().unwrap().contains("401"), "{sent}");
    assert!(report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .all(|c| c["name"] != "read back"));
}

on_both_backends!(verifies_a_running_server);

#[tokio::test]
async fn an_unreachable_server_fails_every_check() {
    let port = common::process::free_port();
    let (ok, report) = verify(vec![format!("http://127.0.0.1:{port}")]).await;
    assert!(!ok);
    assert_eq!(report["ok"], false);
    for c in report["checks"].as_array().unwrap() {
        assert_eq!(c["ok"], false, "{c}");
        assert!(
            c["detail"].as_str().unwrap().contains("cannot connect"),
            "{c}"
        );
    }
}
