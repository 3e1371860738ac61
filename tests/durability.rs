//! Every acknowledged (204) item survives `kill -9` of the server; nothing refused
//! is stored. Concurrent senders, a hard kill mid-stream, a restart, then a count.

mod common;

use common::process::Server;
use common::{Backend, TestDb};
use serde_json::json;
use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use telemetry_tracker::clock::Clock;
use telemetry_tracker::service::accounts;
use telemetry_tracker::store::{EventFilter, Scope};

#[derive(Default)]
struct Ledger {
    acknowledged: BTreeSet<String>,
    refused: BTreeSet<String>,
}

async fn acknowledged_events_survive_kill_9(backend: Backend) {
    let db = TestDb::new(backend).await;
    let (project_id, key) = {
        let store = db.open().await;
        let clock = Clock::default();
        let user = accounts::create_user(
            &store,
            &clock,
            "d@example.com",
            "correct horse battery",
            Some("D"),
        )
        .await
        .unwrap();
        let project = accounts::create_project(&store, &clock, &user.org.unwrap().id, "durable")
            .await
            .unwrap();
        let key = accounts::create_api_key(&store, &clock, &project.id, None, None, None)
            .await
            .unwrap();
        store.close().await;
        (project.id, key.key)
    };
    let mut server = Server::start(&db, &[]).await;
    let ledger = Arc::new(Mutex::new(Ledger::default()));
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();

    let mut senders = Vec::new();
    for sender in 0..8 {
        let (http, base, key, ledger) = (
            http.clone(),
            server.base.clone(),
            key.clone(),
            ledger.clone(),
        );
        senders.push(tokio::spawn(async move {
            for i in 0.. {
                // Alternate single events and batches of five.
                let names: Vec<String> = if i % 2 == 0 {
                    vec![format!("s{sender}-{i}")]
                } else {
                    (0..5).map(|j| format!("s{sender}-{i}-{j}")).collect()
                };
                let (route, body) = if names.len() == 1 {
                    ("event", json!({ "app": "web", "name": names[0] }))
                } else {
                    ("batch", json!({ "events": names.iter().map(|n| json!({ "app": "web", "name": n })).collect::<Vec<_>>() }))
                };
                match http.post(format!("{base}/ingest/{route}")).bearer_auth(&key).json(&body).send().await {
                    Ok(res) if res.status() == 204 => ledger.lock().unwrap().acknowledged.extend(names),
                    Ok(_) => ledger.lock().unwrap().refused.extend(names),
                    // The server died mid-request: outcome unknown, either way is fine.
                    Err(_) => return,
                }
            }
        }));
    }
    // Let traffic flow, then kill without warning.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    server.kill_hard();
    for s in senders {
        s.await.unwrap();
    }
    let ledger = std::mem::take(&mut *ledger.lock().unwrap());
    assert!(
        ledger.acknowledged.len() > 100,
        "only {} items were acknowledged",
        ledger.acknowledged.len()
    );

    // Restart on the same data, then look at what was kept.
    let server = Server::start(&db, &[]).await;
    let store = db.open().await;
    let everything = Scope {
        project_id,
        from: 0,
        to: i64::MAX,
        ..Default::default()
    };
    let stored: BTreeSet<String> = store
        .list_events(&EventFilter {
            scope: everything.clone(),
            name: None,
            cursor: None,
            limit: 10_000_000,
        })
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.name)
        .collect();
    let lost: Vec<&String> = ledger.acknowledged.difference(&stored).collect();
    assert!(
        lost.is_empty(),
        "{} acknowledged items lost, e.g. {:?}",
        lost.len(),
        lost.iter().take(5).collect::<Vec<_>>()
    );
    // The roll-ups were written in the commits of the events they count: the kill
    // left neither without the other.
    let counted = store.rollup_event_total(&everything, None).await.unwrap();
    assert_eq!(
        counted,
        stored.len() as i64,
        "roll-ups and stored events differ"
    );
    let kept_refused: Vec<&String> = ledger.refused.intersection(&stored).collect();
    assert!(
        kept_refused.is_empty(),
        "refused items were stored: {kept_refused:?}"
    );
    drop(server);
    println!(
        "{backend:?}: {} acknowledged, all present after kill -9 ({} stored)",
        ledger.acknowledged.len(),
        stored.len()
    );
}

on_both_backends!(acknowledged_events_survive_kill_9);
