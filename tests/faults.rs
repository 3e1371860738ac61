//! Faults of the SQLite file under a running server, tested on the real binary:
//! a deleted database is refused (503, `/health` red, no new empty file) and not
//! recreated at the next start without `--init`; a full disk answers 503 and heals
//! by itself once space is freed, on every ingest route, with every acknowledged
//! item stored; a read-only one answers 503 and turns `/health` red.

mod common;

use common::process::{command, Server};
use common::{Backend, TestDb};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

async fn health(http: &reqwest::Client, server: &Server) -> (u16, Value) {
    let res = http
        .get(format!("{}/health", server.base))
        .send()
        .await
        .unwrap();
    (
        res.status().as_u16(),
        res.json().await.unwrap_or(Value::Null),
    )
}

async fn ingest(
    http: &reqwest::Client,
    server: &Server,
    key: &str,
    path: &str,
    body: &Value,
) -> u16 {
    http.post(format!("{}{path}", server.base))
        .bearer_auth(key)
        .json(body)
        .send()
        .await
        .map(|r| r.status().as_u16())
        .unwrap_or(0)
}

/// Waits (at most `limit`) until `/health` answers `want`; returns its body.
async fn health_becomes(
    http: &reqwest::Client,
    server: &Server,
    want: u16,
    limit: Duration,
) -> Value {
    let start = Instant::now();
    loop {
        let (status, body) = health(http, server).await;
        if status == want {
            return body;
        }
        assert!(
            start.elapsed() < limit,
            "/health still {status} after {limit:?}: {body}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn database_files(dir: &Path) -> Vec<PathBuf> {
    ["telemetry.db", "telemetry.db-wal", "telemetry.db-shm"]
        .iter()
        .map(|f| dir.join(f))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_database_is_a_fault_not_a_fresh_install() {
    let db = TestDb::new(Backend::Sqlite).await;
    let s = db.seed("ada").await;
    let server = Server::start(&db, &[("HEALTH_CHECK_DATABASE", "true")]).await;
    let http = reqwest::Client::new();
    let event = json!({ "app": "web", "name": "before" });
    assert_eq!(
        ingest(&http, &server, &s.key, "/ingest/event", &event).await,
        204
    );

    for f in database_files(&db.data_dir()) {
        let _ = std::fs::remove_file(f);
    }
    let deleted = Instant::now();
    let body = health_becomes(&http, &server, 503, Duration::from_secs(3)).await;
    assert!(
        deleted.elapsed() < Duration::from_millis(1_500),
        "noticed after {:?}",
        deleted.elapsed()
    );
    assert_eq!(body["database"], "error");
    assert!(
        body["reason"].as_str().unwrap().contains("replaced"),
        "{body}"
    );
    // From then on (the writer looks every 100 ms) nothing is acknowledged into the
    // unlinked file, and nothing reads from it.
    tokio::time::sleep(Duration::from_millis(250)).await;
    for _ in 0..5 {
        assert_eq!(
            ingest(&http, &server, &s.key, "/ingest/event", &event).await,
            503
        );
    }
    let res = http
        .get(format!("{}/api/overview", server.base))
        .bearer_auth(&s.token)
        .header("X-Project-Id", &s.project_id)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 503);
    assert!(res.headers().contains_key("retry-after"));
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        !db.data_dir().join("telemetry.db").exists(),
        "no new empty database"
    );
    drop(server);

    // The next start refuses to begin again from nothing, unless told to.
    let out = command(&db)
        .arg("migrate")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("is missing") && err.contains("--init"),
        "{err}"
    );
    assert!(!db.data_dir().join("telemetry.db").exists());
    let out = command(&db).args(["--init", "migrate"]).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(db.data_dir().join("telemetry.db").exists());
}

/// A tmpfs of a few MiB mounted on the data directory (needs root; CI runs as root).
struct SmallDisk(PathBuf);

impl SmallDisk {
    fn mount(dir: &Path, mib: u32) -> Option<SmallDisk> {
        std::fs::create_dir_all(dir).unwrap();
        let ok = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={mib}m"), "tmpfs"])
            .arg(dir)
            .status()
            .is_ok_and(|s| s.success());
        ok.then(|| SmallDisk(dir.to_path_buf()))
    }

    /// Fills what is left with a file; returns its path.
    fn fill(&self) -> PathBuf {
        let filler = self.0.join("filler");
        let _ = std::process::Command::new("dd")
            .args(["if=/dev/zero", "bs=64k"])
            .arg(format!("of={}", filler.display()))
            .stderr(Stdio::null())
            .status();
        filler
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.0)
            .status();
    }
}

/// A database the server may read but not write (its files read-only to the user
/// it runs as) is a fault, not an error: `/health` is red and names it, and every
/// route answers 503 with `Retry-After` — reads too, which SQLite cannot do without
/// writing its WAL index — never 500. (Run as root, as CI does: the server runs as
/// `nobody`, for whom permissions hold.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_only_database_is_answered_503_and_red() {
    let db = TestDb::new(Backend::Sqlite).await;
    let s = db.seed("ada").await;
    let data = db.data_dir();
    let root = data.parent().unwrap();
    let run = |program: &str, args: &[&str]| {
        let status = std::process::Command::new(program)
            .args(args)
            .status()
            .unwrap();
        assert!(status.success(), "{program} {args:?} (the test needs root)");
    };
    run("chmod", &["755", &root.to_string_lossy()]);
    run("chown", &["-R", "nobody", &data.to_string_lossy()]);
    for file in database_files(&data).iter().filter(|f| f.exists()) {
        run("chmod", &["444", &file.to_string_lossy()]);
    }
    let port = common::process::free_port();
    let mut cmd = std::process::Command::new("setpriv");
    cmd.args(["--reuid=nobody", "--regid=nogroup", "--clear-groups", "--"])
        .arg(common::process::BIN)
        .arg("--data-dir")
        .arg(&data)
        .arg("serve")
        .env_clear()
        .env("PORT", port.to_string())
        .env("HEALTH_CHECK_DATABASE", "true")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let server = Server {
        child: cmd.spawn().unwrap(),
        base: format!("http://127.0.0.1:{port}"),
    };
    let http = reqwest::Client::new();
    let up = Instant::now();
    while http
        .get(format!("{}/health", server.base))
        .send()
        .await
        .is_err()
    {
        assert!(
            up.elapsed() < Duration::from_secs(30),
            "the server did not start"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let body = health_becomes(&http, &server, 503, Duration::from_secs(5)).await;
    assert_eq!(body["database"], "error", "{body}");
    assert!(
        body["reason"].as_str().unwrap().contains("read-only"),
        "{body}"
    );

    let event = json!({ "app": "web", "name": "refused" });
    let answers = [
        http.post(format!("{}/ingest/event", server.base))
            .bearer_auth(&s.key)
            .json(&event),
        http.get(format!("{}/api/auth/me", server.base))
            .bearer_auth(&s.token),
        http.get(format!("{}/api/errors", server.base))
            .bearer_auth(&s.token)
            .header("X-Project-Id", &s.project_id),
        http.post(format!("{}/api/auth/login", server.base))
            .json(&json!({ "email": s.email, "password": "correct horse battery" })),
    ];
    for req in answers {
        let res = req.send().await.unwrap();
        let url = res.url().path().to_string();
        assert_eq!(res.status(), 503, "{url}");
        assert!(res.headers().contains_key("retry-after"), "{url}");
        let body: Value = res.json().await.unwrap();
        assert!(body["error"].is_string(), "{url}: {body}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_answers_503_and_heals_without_a_restart() {
    let db = TestDb::new(Backend::Sqlite).await;
    let Some(disk) = SmallDisk::mount(&db.data_dir(), 16) else {
        let uid = std::process::Command::new("id")
            .arg("-u")
            .output()
            .unwrap()
            .stdout;
        assert_ne!(
            uid.trim_ascii(),
            b"0",
            "mounting a tmpfs failed although running as root"
        );
        eprintln!("not root: cannot mount a small filesystem; the disk-full test did not run");
        return;
    };
    let s = db.seed("ada").await;
    let server = Server::start(&db, &[("HEALTH_CHECK_DATABASE", "true")]).await;
    let http = reqwest::Client::new();
    let filler = disk.fill();

    // Writes fail once the last pages are used: every answer is 204 (stored) or 503.
    let big = "x".repeat(4_000);
    let mut stored = 0;
    let mut refused = 0;
    for i in 0..400 {
        let status = ingest(&http, &server, &s.key, "/ingest/error", &json!({ "app": "web", "message": format!("boom {i} {big}"), "session_id": format!("s{i}") })).await;
        match status {
            204 => stored += 1,
            503 => refused += 1,
            other => panic!("answer {other} on a full disk"),
        }
        if refused >= 5 {
            break;
        }
    }
    assert!(refused >= 5, "the disk never filled ({stored} stored)");
    let body = health_becomes(&http, &server, 503, Duration::from_secs(5)).await;
    assert!(
        body["reason"].as_str().unwrap_or("").contains("full"),
        "{body}"
    );

    // Space comes back: every route heals by itself.
    std::fs::remove_file(&filler).unwrap();
    health_becomes(&http, &server, 200, Duration::from_secs(10)).await;
    for (path, body) in [
        ("/ingest/event", json!({ "app": "web", "name": "after" })),
        (
            "/ingest/batch",
            json!({ "events": [{ "app": "web", "name": "after" }] }),
        ),
        (
            "/ingest/error",
            json!({ "app": "web", "message": "after the disk filled" }),
        ),
        (
            "/ingest/session",
            json!({ "app": "web", "session_id": "after" }),
        ),
    ] {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let status = ingest(&http, &server, &s.key, path, &body).await;
            if status == 204 {
                break;
            }
            assert!(Instant::now() < deadline, "{path} still answers {status}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    let res: Value = http
        .get(format!("{}/api/overview?range=24h", server.base))
        .bearer_auth(&s.token)
        .header("X-Project-Id", &s.project_id)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    // Every acknowledged error is stored (plus the one after the heal).
    assert_eq!(res["errors"], stored + 1, "{res}");
    drop(server);
    drop(disk);
}

/// With the database stuck (a lock held elsewhere), every request is answered 503
/// within `TELEMETRY_REQUEST_DEADLINE_SECS`, `/health` of the starved process is red
/// (reads still work; writes do not get through), and an ingest item answered so is
/// not written once the database moves again: a client's retry cannot duplicate it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stuck_database_is_answered_within_the_deadline_and_nothing_late_is_written() {
    let db = TestDb::new(Backend::Postgres).await;
    let s = db.seed("ada").await;
    let server = Server::start(
        &db,
        &[
            ("TELEMETRY_REQUEST_DEADLINE_SECS", "1"),
            ("HEALTH_CHECK_DATABASE", "true"),
        ],
    )
    .await;
    let http = reqwest::Client::new();
    let event = |name: &str| json!({ "app": "web", "name": name });
    assert_eq!(
        ingest(&http, &server, &s.key, "/ingest/event", &event("before")).await,
        204
    );

    let pool = sqlx::PgPool::connect(db.url.as_deref().unwrap())
        .await
        .unwrap();
    let mut lock = pool.begin().await.unwrap();
    sqlx::query("LOCK TABLE events, users IN ACCESS EXCLUSIVE MODE")
        .execute(&mut *lock)
        .await
        .unwrap();
    let asked = Instant::now();
    let status = ingest(&http, &server, &s.key, "/ingest/event", &event("stuck")).await;
    let took = asked.elapsed();
    assert_eq!(status, 503);
    assert!(
        took < Duration::from_millis(2_500),
        "ingest answered after {took:?}"
    );
    let asked = Instant::now();
    let me = http
        .get(format!("{}/api/auth/me", server.base))
        .bearer_auth(&s.token)
        .send()
        .await
        .unwrap();
    let took = asked.elapsed();
    assert_eq!(me.status(), 503);
    assert!(me.headers().contains_key("retry-after"));
    assert!(
        took < Duration::from_millis(2_500),
        "the API answered after {took:?}"
    );
    // The process is starved (its writes cannot get through): /health says so,
    // though the database still answers reads.
    let (status, body) = health(&http, &server).await;
    assert_eq!(
        (status, body["database"].as_str()),
        (503, Some("error")),
        "{body}"
    );
    assert!(body["reason"].is_string(), "{body}");
    lock.rollback().await.unwrap();

    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        ingest(&http, &server, &s.key, "/ingest/event", &event("after")).await,
        204
    );
    let names: Vec<String> = sqlx::query_scalar("SELECT name FROM events ORDER BY timestamp")
        .fetch_all(&pool)
        .await
        .unwrap();
    assert_eq!(
        names,
        ["before", "after"],
        "the item answered 503 was not written late"
    );
    // …and green again by itself once writes get through.
    health_becomes(&http, &server, 200, Duration::from_secs(10)).await;
    pool.close().await;
}
