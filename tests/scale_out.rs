//! Three `serve` processes on one PostgreSQL database behave as one server:
//! scheduled jobs run once per schedule, a new or regressed error is announced
//! once however many processes receive it at the same moment, a key revoked
//! through one process (or the CLI) is refused by every process within a second,
//! and the plan's caps and request rate hold for the three together.

mod common;

use common::process::{cli, Server};
use common::{Backend, TestDb};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

/// Ten messages that group apart (digits would be normalised away).
const WORDS: [&str; 10] = [
    "alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india", "juliet",
];

struct Deployment {
    db: TestDb,
    servers: Vec<Server>,
    http: reqwest::Client,
    project_id: String,
    key: String,
    token: String,
}

impl Deployment {
    async fn start() -> Deployment {
        let db = TestDb::new(Backend::Postgres).await;
        let seed = db.seed("ada").await;
        let mut servers = Vec::new();
        for name in ["p1", "p2", "p3"] {
            servers.push(
                Server::start(
                    &db,
                    &[
                        ("RETENTION_CRON", "*/2 * * * * *"),
                        ("TELEMETRY_INSTANCE_ID", name),
                    ],
                )
                .await,
            );
        }
        Deployment {
            db,
            servers,
            http: reqwest::Client::new(),
            project_id: seed.project_id,
            key: seed.key,
            token: seed.token,
        }
    }

    /// The same error, sent to every process at the same moment.
    async fn race_error(&self, message: &str) {
        let body = json!({ "app": "web", "message": message });
        let sends = self.servers.iter().map(|s| {
            self.http
                .post(format!("{}/ingest/error", s.base))
                .bearer_auth(&self.key)
                .json(&body)
                .send()
        });
        for res in futures_util::future::join_all(sends).await {
            assert_eq!(res.unwrap().status(), 204);
        }
    }

    async fn api(
        &self,
        server: usize,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.servers[server].base))
            .bearer_auth(&self.token)
            .header("X-Project-Id", &self.project_id);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let res = req.send().await.unwrap();
        let status = res.status().as_u16();
        (status, res.json().await.unwrap_or(Value::Null))
    }

    /// Notifications of each kind once the count has stopped moving.
    async fn settled_notifications(&self, kind: &str, want: usize) -> usize {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let (_, list) = self
                .api(0, reqwest::Method::GET, "/api/notifications", None)
                .await;
            let n = list["items"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|i| i["kind"] == kind)
                .count();
            if n >= want || Instant::now() > deadline {
                // Late duplicates would arrive within the same commit fan-out.
                tokio::time::sleep(Duration::from_millis(500)).await;
                let (_, list) = self
                    .api(0, reqwest::Method::GET, "/api/notifications", None)
                    .await;
                return list["items"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter(|i| i["kind"] == kind)
                    .count();
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Sends an event with `key` to every process; true when all accept it.
    async fn accepted_everywhere(&self, key: &str) -> Vec<u16> {
        let body = json!({ "app": "web", "name": "ping" });
        let mut out = Vec::new();
        for s in &self.servers {
            let res = self
                .http
                .post(format!("{}/ingest/event", s.base))
                .bearer_auth(key)
                .json(&body)
                .send()
                .await
                .unwrap();
            out.push(res.status().as_u16());
        }
        out
    }

    /// Milliseconds until every process refuses `key` (at most 5 s).
    async fn refused_everywhere_after(&self, key: &str, since: Instant) -> u128 {
        while since.elapsed() < Duration::from_secs(5) {
            if self
                .accepted_everywhere(key)
                .await
                .iter()
                .all(|s| *s == 401)
            {
                return since.elapsed().as_millis();
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("a process still accepts the revoked key after 5 s");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_processes_on_one_postgresql_are_one_server() {
    let d = Deployment::start().await;
    let started = Instant::now();

    // New errors: one notification per group however many processes saw it first.
    for word in WORDS {
        d.race_error(&format!("{word} failed")).await;
    }
    assert_eq!(d.settled_notifications("new_issue", 10).await, 10);

    // Regressions: resolve every group, then the same race again.
    let (status, groups) = d
        .api(0, reqwest::Method::GET, "/api/errors?limit=50", None)
        .await;
    assert_eq!(status, 200, "{groups}");
    let ids: Vec<String> = groups["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ids.len(), 10);
    for id in &ids {
        let (status, _) = d
            .api(
                1,
                reqwest::Method::PATCH,
                &format!("/api/errors/{id}"),
                Some(json!({ "status": "resolved" })),
            )
            .await;
        assert_eq!(status, 200);
    }
    for word in WORDS {
        d.race_error(&format!("{word} failed")).await;
    }
    assert_eq!(d.settled_notifications("regression", 10).await, 10);

    // Revocation through one process reaches the others within a second.
    let (status, created) = d
        .api(
            0,
            reqwest::Method::POST,
            &format!("/api/projects/{}/keys", d.project_id),
            Some(json!({ "label": "ci" })),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let key = created["key"].as_str().unwrap().to_string();
    assert_eq!(
        d.accepted_everywhere(&key).await,
        [204, 204, 204],
        "cached everywhere"
    );
    let path = format!(
        "/api/projects/{}/keys/{}",
        d.project_id,
        created["id"].as_str().unwrap()
    );
    let revoked_at = Instant::now();
    let (status, _) = d.api(0, reqwest::Method::DELETE, &path, None).await;
    assert!(status == 200 || status == 204, "{status}");
    let took = d.refused_everywhere_after(&key, revoked_at).await;
    assert!(
        took <= 1_000,
        "revocation took {took} ms to reach every process"
    );

    // … and so does one made with the CLI, another process again.
    let (ok, made, err) = cli(
        &d.db,
        &["apikey", "create", "--project", &d.project_id],
        None,
    );
    assert!(ok, "{err}");
    let key = made["key"].as_str().unwrap().to_string();
    assert_eq!(d.accepted_everywhere(&key).await, [204, 204, 204]);
    let revoked_at = Instant::now();
    let (ok, _, err) = cli(
        &d.db,
        &["apikey", "revoke", "--id", made["id"].as_str().unwrap()],
        None,
    );
    assert!(ok, "{err}");
    let took = d.refused_everywhere_after(&key, revoked_at).await;
    assert!(
        took <= 1_000,
        "a CLI revocation took {took} ms to reach every process"
    );

    // The app-label cap (FREE: 5) holds for all processes together: eleven new
    // labels sent to the three at once, five get in.
    let (ok, _, err) = cli(
        &d.db,
        &["org", "set-plan", "--org", "ada", "--plan", "FREE"],
        None,
    );
    assert!(ok, "{err}");
    tokio::time::sleep(Duration::from_millis(1_000)).await;
    let sends = (0..11).map(|i| {
        let s = &d.servers[i % 3];
        d.http
            .post(format!("{}/ingest/event", s.base))
            .bearer_auth(&d.key)
            .json(&json!({ "app": format!("app-{i}"), "name": "ping" }))
            .send()
    });
    let statuses: Vec<u16> = futures_util::future::join_all(sends)
        .await
        .into_iter()
        .map(|r| r.unwrap().status().as_u16())
        .collect();
    let admitted = statuses.iter().filter(|s| **s == 204).count();
    assert_eq!(
        admitted,
        5 - 1,
        "the cap of 5 (\"web\" is in already): {statuses:?}"
    );
    assert!(
        statuses.iter().all(|s| *s == 204 || *s == 403),
        "{statuses:?}"
    );

    // The property-value cap (100 a day) holds for all processes together: three
    // batches of 100 distinct values, one to each process at once, keep 100.
    let sends = (0..3).map(|p| {
        let events: Vec<Value> = (0..100)
            .map(|i| json!({ "app": "web", "name": "order", "properties": { "order_id": format!("o-{p}-{i}") } }))
            .collect();
        d.http
            .post(format!("{}/ingest/batch", d.servers[p].base))
            .bearer_auth(&d.key)
            .json(&json!({ "events": events }))
            .send()
    });
    for res in futures_util::future::join_all(sends).await {
        assert_eq!(res.unwrap().status(), 204);
    }
    let pool = sqlx::PgPool::connect(d.db.url.as_deref().unwrap())
        .await
        .unwrap();
    let (kept, other): (i64, i64) = sqlx::query_as(
        "SELECT COUNT(DISTINCT value) FILTER (WHERE value <> '(other values)'),
                COALESCE(SUM(count) FILTER (WHERE value = '(other values)'), 0)::BIGINT
         FROM rollup_props_daily WHERE project_id = $1 AND name = 'order' AND prop = 'order_id'",
    )
    .bind(&d.project_id)
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!((kept, other), (100, 200), "the daily cap across processes");

    // The FREE rate (20/s, burst 40) holds for all processes together: 60
    // requests a second for 5 s, spread over the three, get about 40 + 5 × 20 in.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let mut ticks = tokio::time::interval(Duration::from_millis(1_000 / 60));
    let mut sends = Vec::new();
    for i in 0..300 {
        ticks.tick().await;
        let req = d
            .http
            .post(format!("{}/ingest/event", d.servers[i % 3].base))
            .bearer_auth(&d.key)
            .json(&json!({ "app": "web", "name": "paced" }))
            .send();
        sends.push(tokio::spawn(req));
    }
    let mut accepted = 0;
    for send in sends {
        match send.await.unwrap().unwrap().status().as_u16() {
            204 => accepted += 1,
            429 => {}
            other => panic!("unexpected {other}"),
        }
    }
    eprintln!("paced: {accepted} of 300 accepted");
    assert!(
        (120..=180).contains(&accepted),
        "{accepted} of 300 accepted; one process alone lets 140 in"
    );

    // Retention every 2 s on three processes ran once per schedule, each run
    // claimed by one named process and recorded once.
    tokio::time::sleep(Duration::from_secs(7).saturating_sub(started.elapsed())).await;
    let runs: Vec<(i64, Option<String>)> = sqlx::query_as(
        "SELECT started_at, instance FROM job_runs WHERE job = 'retention' ORDER BY started_at",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    let claims: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM job_claims WHERE job = 'retention' AND ok = 1")
            .fetch_one(&pool)
            .await
            .unwrap();
    pool.close().await;
    assert!(runs.len() >= 2, "{runs:?}");
    assert!(
        runs.len() as i64 <= claims + 1,
        "every run was claimed: {runs:?}, {claims} claims"
    );
    for pair in runs.windows(2) {
        assert!(
            pair[1].0 - pair[0].0 >= 1_500,
            "two runs of one schedule: {runs:?}"
        );
    }
    assert!(
        runs.iter()
            .all(|r| matches!(r.1.as_deref(), Some("p1" | "p2" | "p3"))),
        "{runs:?}"
    );
    // Every process reports the latest run from the database, whoever ran it.
    for s in &d.servers {
        let text = d
            .http
            .get(format!("{}/metrics", s.base))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(
            text.lines().any(|l| l.starts_with(
                "telemetry_job_last_run_timestamp_seconds{job=\"retention\",instance=\"p"
            )),
            "{text}"
        );
    }
}
