//! Alert delivery across processes and restarts, with real `serve` processes and
//! real HTTP receivers: three processes on one PostgreSQL deliver each alert to a
//! webhook once, and a delivery that failed before a restart is delivered after it.

mod common;

use common::process::Server;
use common::receiver::{Mode, Receiver};
use common::{Backend, TestDb};
use serde_json::{json, Value};
use std::collections::HashSet;
use std::time::Duration;
use telemetry_tracker::store::Db;

async fn add_webhook(server: &Server, token: &str, project_id: &str, url: &str) -> Value {
    let res = reqwest::Client::new()
        .post(format!(
            "{}/api/projects/{project_id}/webhooks",
            server.base
        ))
        .bearer_auth(token)
        .json(&json!({ "url": url, "format": "generic" }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    res.json().await.unwrap()
}

async fn send_error(server: &Server, key: &str, message: &str) {
    let res = reqwest::Client::new()
        .post(format!("{}/ingest/error", server.base))
        .bearer_auth(key)
        .json(&json!({ "app": "web", "message": message }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
}

#[tokio::test]
async fn three_processes_on_postgres_deliver_each_alert_once() {
    let db = TestDb::new(Backend::Postgres).await;
    let seed = db.seed("ada").await;
    let mut servers = Vec::new();
    for name in ["p1", "p2", "p3"] {
        servers.push(
            Server::start(
                &db,
                &[
                    ("TELEMETRY_INSTANCE_ID", name),
                    ("TELEMETRY_WEBHOOK_ALLOW_PRIVATE", "true"),
                ],
            )
            .await,
        );
    }
    let receiver = Receiver::start(Mode::Ok);
    add_webhook(&servers[0], &seed.token, &seed.project_id, &receiver.url()).await;

    // Each new error reaches all three processes at the same moment.
    let words = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot"];
    for word in words {
        let message = format!("{word} failed");
        let sends = servers.iter().map(|s| send_error(s, &seed.key, &message));
        futures_util::future::join_all(sends).await;
    }
    receiver
        .wait_for(words.len(), Duration::from_secs(20))
        .await;
    // Late duplicates would come within a poll or two of the workers.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let got = receiver.requests();
    assert_eq!(got.len(), words.len(), "one request per new group");
    let groups: HashSet<String> = got
        .iter()
        .map(|r| r.json()["group"]["id"].as_str().unwrap().to_string())
        .collect();
    let deliveries: HashSet<&str> = got
        .iter()
        .map(|r| r.header("x-telemetry-delivery").unwrap())
        .collect();
    assert_eq!(groups.len(), words.len());
    assert_eq!(deliveries.len(), words.len());
    assert!(got.iter().all(|r| r.json()["kind"] == "new_group"));

    // A spike two processes see a part of is reported once, with a threshold set
    // through the third: each process drops its copy of the settings within a
    // second of the change (not after the copy's 10 s lifetime). Each word's group
    // has three occurrences already (one per process); two more each to p1 and p3
    // make seven.
    let res = reqwest::Client::new()
        .put(format!(
            "{}/api/projects/{}/alert-settings",
            servers[1].base, seed.project_id
        ))
        .bearer_auth(&seed.token)
        .json(&json!({ "spike": { "threshold": 5, "window_minutes": 15 } }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    tokio::time::sleep(Duration::from_secs(1)).await;
    for _ in 0..2 {
        let sends = [&servers[0], &servers[2]]
            .into_iter()
            .map(|s| send_error(s, &seed.key, "alpha failed"));
        futures_util::future::join_all(sends).await;
    }
    receiver
        .wait_for(words.len() + 1, Duration::from_secs(6))
        .await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    let spikes: Vec<Value> = receiver
        .requests()
        .iter()
        .map(|r| r.json())
        .filter(|b| b["kind"] == "spike")
        .collect();
    assert_eq!(spikes.len(), 1, "{spikes:?}");
    assert_eq!(spikes[0]["count"], 7);
}

async fn a_delivery_failed_before_a_restart_is_delivered_after_it(backend: Backend) {
    let db = TestDb::new(backend).await;
    let seed = db.seed("ada").await;
    let env = [("TELEMETRY_WEBHOOK_ALLOW_PRIVATE", "true")];
    let mut server = Server::start(&db, &env).await;
    let receiver = Receiver::start(Mode::FailThenOk(1));
    let hook = add_webhook(&server, &seed.token, &seed.project_id, &receiver.url()).await;
    send_error(&server, &seed.key, "checkout failed").await;
    let first = receiver.wait_for(1, Duration::from_secs(15)).await;
    assert_eq!(first[0].answered, Some(500));
    let delivery = first[0].header("x-telemetry-delivery").unwrap().to_string();

    // Down between the attempts (once the first is recorded: a sender killed in the
    // middle of one leaves it claimed until its lease passes); the retry, a minute
    // later, comes due meanwhile.
    let log_url = format!(
        "{}/api/projects/{}/webhooks/{}/deliveries",
        server.base,
        seed.project_id,
        hook["id"].as_str().unwrap()
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    loop {
        let log: Value = reqwest::Client::new()
            .get(&log_url)
            .bearer_auth(&seed.token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if log["items"].as_array().is_some_and(|a| !a.is_empty()) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the first attempt is never logged"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    server.kill_hard();
    let store = db.open().await;
    match &store {
        Db::Sqlite(pool) => {
            sqlx::query("UPDATE alert_deliveries SET next_attempt_at = 0 WHERE status = 'pending'")
                .execute(pool)
                .await
                .unwrap();
        }
        Db::Postgres(pool) => {
            sqlx::query("UPDATE alert_deliveries SET next_attempt_at = 0 WHERE status = 'pending'")
                .execute(pool)
                .await
                .unwrap();
        }
    }
    store.close().await;
    let server = Server::start(&db, &env).await;
    let all = receiver.wait_for(2, Duration::from_secs(15)).await;
    assert_eq!(all[1].answered, Some(200));
    assert_eq!(
        all[1].header("x-telemetry-delivery"),
        Some(delivery.as_str()),
        "a retry is the same delivery"
    );
    assert_eq!(all[0].body, all[1].body, "a retry sends the same body");

    let log: Value = reqwest::Client::new()
        .get(format!(
            "{}/api/projects/{}/webhooks/{}/deliveries",
            server.base,
            seed.project_id,
            hook["id"].as_str().unwrap()
        ))
        .bearer_auth(&seed.token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let outcomes: Vec<&str> = log["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(outcomes, ["delivered", "retry"], "{log}");
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(receiver.count(), 2, "delivered once");
}

#[tokio::test]
async fn a_delivery_failed_before_a_restart_is_delivered_after_it_sqlite() {
    a_delivery_failed_before_a_restart_is_delivered_after_it(Backend::Sqlite).await;
}

#[tokio::test]
async fn a_delivery_failed_before_a_restart_is_delivered_after_it_postgres() {
    a_delivery_failed_before_a_restart_is_delivered_after_it(Backend::Postgres).await;
}
