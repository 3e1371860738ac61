//! The server's logs say which request a line belongs to and which service and
//! store calls it went through: JSON lines carry the request's span (its number,
//! method and path) and the spans of the calls below it.

mod common;

use common::process::{free_port, BIN};
use common::{Backend, TestDb};
use serde_json::Value;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn log_lines_carry_the_request_id_and_the_call_path() {
    let db = TestDb::new(Backend::Sqlite).await;
    let token = db.seed("ada").await.token;

    let log = db.dir.path().join("server.log");
    let port = free_port();
    let mut child = Command::new(BIN)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        // The database driver logs each statement at debug: inside the request.
        .env("RUST_LOG", "info,sqlx::query=debug")
        .env("TELEMETRY_LOG_FORMAT", "json")
        .env("PORT", port.to_string())
        .arg("--data-dir")
        .arg(db.data_dir())
        .arg("serve")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let http = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(30);
    while http.get(format!("{base}/health")).send().await.is_err() {
        assert!(Instant::now() < deadline, "server did not start");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for _ in 0..2 {
        let res = http
            .get(format!("{base}/api/auth/me"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let _ = child.kill();
    let _ = child.wait();

    let lines: Vec<Value> = std::fs::read_to_string(&log)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    // Lines logged inside a request carry its span first, then the calls' spans.
    let request_of = |l: &Value| -> Option<Value> {
        l["spans"]
            .as_array()?
            .iter()
            .find(|s| s["name"] == "request" && s["path"] == "/api/auth/me")
            .cloned()
    };
    let of_me: Vec<(&Value, Value)> = lines
        .iter()
        .filter_map(|l| request_of(l).map(|r| (l, r)))
        .collect();
    assert!(!of_me.is_empty(), "no line inside a request: {lines:?}");
    let mut ids: Vec<u64> = of_me
        .iter()
        .map(|(_, r)| {
            assert_eq!(r["method"], "GET");
            r["request_id"].as_u64().expect("a request id")
        })
        .collect();
    ids.dedup();
    assert_eq!(
        ids.len(),
        2,
        "each request its own id, every line of it the same: {ids:?}"
    );
    // The service calls between the request and the statements are named.
    let names: Vec<&str> = of_me
        .iter()
        .flat_map(|(l, _)| l["spans"].as_array().into_iter().flatten())
        .filter_map(|s| s["name"].as_str())
        .collect();
    for call in ["authenticate", "user", "my_orgs"] {
        assert!(names.contains(&call), "{call} missing from {names:?}");
    }
}
