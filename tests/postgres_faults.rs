//! PostgreSQL stopped and restarted under ingest, on a cluster of the test's own
//! (`initdb` into a temp directory on a free port; the shared server on 5432 is
//! never touched): every request is answered within the deadline — 204 or 503 with
//! `Retry-After`, never 500 —, `/health` goes red with a reason and green again by
//! itself, ingest recovers without a restart, and every acknowledged event is stored.

mod common;

use common::process::{free_port, BIN};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A PostgreSQL cluster run by the `postgres` user in a temp directory.
struct Cluster {
    bin: PathBuf,
    dir: PathBuf,
    port: u16,
}

impl Cluster {
    /// `None` where PostgreSQL's server programs or the `postgres` user are missing.
    fn init() -> Option<Cluster> {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .ok()?
            .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
            .filter(|b| b.join("initdb").exists())
            .max()?;
        let dir = std::env::temp_dir().join(format!("tt-pg-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        let owned = Command::new("chown").arg("postgres:").arg(&dir).status();
        if !owned.is_ok_and(|s| s.success()) {
            return None;
        }
        let cluster = Cluster {
            bin,
            dir,
            port: free_port(),
        };
        let data = cluster.dir.join("data");
        cluster.as_postgres(
            "initdb",
            &[
                "-A",
                "trust",
                "-U",
                "postgres",
                "-D",
                &data.to_string_lossy(),
            ],
        );
        Some(cluster)
    }

    fn as_postgres(&self, program: &str, args: &[&str]) {
        let status = Command::new("runuser")
            .args(["-u", "postgres", "--"])
            .arg(self.bin.join(program))
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .unwrap();
        assert!(status.success(), "{program} {args:?}");
    }

    fn start(&self) {
        let data = self.dir.join("data");
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1",
            self.port,
            self.dir.display()
        );
        let log = self.dir.join("log");
        self.as_postgres(
            "pg_ctl",
            &[
                "-D",
                &data.to_string_lossy(),
                "-l",
                &log.to_string_lossy(),
                "-o",
                &options,
                "-w",
                "start",
            ],
        );
    }

    fn stop(&self) {
        let data = self.dir.join("data");
        self.as_postgres(
            "pg_ctl",
            &[
                "-D",
                &data.to_string_lossy(),
                "-m",
                "immediate",
                "-w",
                "stop",
            ],
        );
    }

    fn url(&self, db: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{db}", self.port)
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let data = self.dir.join("data");
        let _ = Command::new("runuser")
            .args(["-u", "postgres", "--"])
            .arg(self.bin.join("pg_ctl"))
            .args(["-D", &data.to_string_lossy(), "-m", "immediate", "stop"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn cli(url: &str, data_dir: &Path, args: &[&str]) -> serde_json::Value {
    let out = Command::new(BIN)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("DATABASE_URL", url)
        .arg("--data-dir")
        .arg(data_dir)
        .arg("--json")
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgresql_stopped_and_restarted_under_ingest() {
    let Some(cluster) = Cluster::init() else {
        let uid = Command::new("id").arg("-u").output().unwrap().stdout;
        assert_ne!(
            uid.trim_ascii(),
            b"0",
            "as root, a cluster of our own must be possible"
        );
        eprintln!("no PostgreSQL server programs or no postgres user: test not run");
        return;
    };
    cluster.start();
    let admin = sqlx::PgPool::connect(&cluster.url("postgres"))
        .await
        .unwrap();
    sqlx::query("CREATE DATABASE tt")
        .execute(&admin)
        .await
        .unwrap();
    admin.close().await;
    let url = cluster.url("tt");
    let data_dir = cluster.dir.join("tt-data");
    cli(
        &url,
        &data_dir,
        &[
            "user",
            "create",
            "--email",
            "ada@example.com",
            "--password",
            "correct horse battery",
            "--org",
            "Acme",
        ],
    );
    let project = cli(
        &url,
        &data_dir,
        &["project", "create", "--org", "Acme", "--name", "Web"],
    );
    let key = cli(
        &url,
        &data_dir,
        &[
            "apikey",
            "create",
            "--project",
            project["id"].as_str().unwrap(),
        ],
    );
    let key = key["key"].as_str().unwrap().to_string();

    let port = free_port();
    let mut server = Command::new(BIN)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("DATABASE_URL", &url)
        .env("PORT", port.to_string())
        .env("HEALTH_CHECK_DATABASE", "true")
        .env("TELEMETRY_REQUEST_DEADLINE_SECS", "3")
        .env("DATABASE_ACQUIRE_TIMEOUT_SECS", "2")
        .env("RUST_LOG", "error")
        .arg("--data-dir")
        .arg(&data_dir)
        .arg("serve")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let started = Instant::now();
    while http
        .get(format!("{base}/health"))
        .send()
        .await
        .map(|r| r.status() != 200)
        .unwrap_or(true)
    {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "server did not start"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Four senders, each waiting for its answer before the next event.
    let stop = Arc::new(AtomicBool::new(false));
    let acknowledged = Arc::new(Mutex::new(Vec::<String>::new()));
    let answers = Arc::new(Mutex::new(Vec::<(u16, Duration)>::new()));
    let mut senders = Vec::new();
    for sender in 0..4 {
        let (http, base, key) = (http.clone(), base.clone(), key.clone());
        let (stop, acknowledged, answers) = (stop.clone(), acknowledged.clone(), answers.clone());
        senders.push(tokio::spawn(async move {
            let mut n = 0;
            while !stop.load(Ordering::Relaxed) {
                n += 1;
                let name = format!("e{sender}-{n}");
                let asked = Instant::now();
                let status = http
                    .post(format!("{base}/ingest/event"))
                    .bearer_auth(&key)
                    .json(&json!({ "app": "web", "name": name }))
                    .send()
                    .await
                    .map(|r| r.status().as_u16())
                    .unwrap_or(0);
                answers.lock().unwrap().push((status, asked.elapsed()));
                if status == 204 {
                    acknowledged.lock().unwrap().push(name);
                } else {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_secs(2)).await;

    cluster.stop();
    let down = Instant::now();
    let mut red = None;
    while down.elapsed() < Duration::from_secs(6) {
        let res = http.get(format!("{base}/health")).send().await.unwrap();
        if res.status() == 503 {
            let body: serde_json::Value = res.json().await.unwrap();
            red = Some(body);
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let red = red.expect("/health stayed green with PostgreSQL down");
    assert!(
        red["reason"].as_str().is_some_and(|r| !r.is_empty()),
        "{red}"
    );
    tokio::time::sleep(Duration::from_secs(4)).await;

    cluster.start();
    let up = Instant::now();
    loop {
        let res = http.get(format!("{base}/health")).send().await.unwrap();
        if res.status() == 200 {
            break;
        }
        assert!(
            up.elapsed() < Duration::from_secs(20),
            "/health did not heal"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    stop.store(true, Ordering::Relaxed);
    for s in senders {
        s.await.unwrap();
    }

    let answers = answers.lock().unwrap().clone();
    let refused = answers.iter().filter(|(s, _)| *s == 503).count();
    let late = answers
        .iter()
        .filter(|(_, t)| *t > Duration::from_millis(4_500))
        .count();
    assert!(
        answers.iter().all(|(s, _)| *s == 204 || *s == 503),
        "only 204 or 503: {answers:?}"
    );
    assert!(refused > 0, "the outage was answered 503");
    assert_eq!(late, 0, "answers past the deadline: {answers:?}");
    let after = answers
        .iter()
        .rev()
        .take(5)
        .filter(|(s, _)| *s == 204)
        .count();
    assert_eq!(after, 5, "ingest recovered without a restart");

    // Every acknowledged event is stored.
    let pool = sqlx::PgPool::connect(&url).await.unwrap();
    let stored: Vec<String> = sqlx::query_scalar("SELECT name FROM events")
        .fetch_all(&pool)
        .await
        .unwrap();
    pool.close().await;
    let stored: std::collections::HashSet<String> = stored.into_iter().collect();
    let acknowledged = acknowledged.lock().unwrap().clone();
    let lost: Vec<&String> = acknowledged
        .iter()
        .filter(|n| !stored.contains(*n))
        .collect();
    assert!(lost.is_empty(), "acknowledged but not stored: {lost:?}");
    let _ = server.kill();
    let _ = server.wait();
}
