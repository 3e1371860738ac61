//! Upgrade fixtures (issue 19): databases written by released versions, committed
//! under `tests/fixtures/upgrade/<version>/{sqlite,postgres}/`. Every later build must
//! open and migrate each one, keep every row and every dashboard number the fixture
//! recorded, and accept the old API key, personal token and password.
//!
//! A release adds its fixture (packaging/release.sh, docs/RELEASING.md):
//!
//! ```sh
//! UPGRADE_FIXTURE=1 cargo test --test upgrade_fixtures -- --ignored --test-threads=1
//! ```

mod common;

use common::process::{cli_ok, Server};
use common::{Backend, TestDb};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use telemetry_tracker::store::Db;

const PASSWORD: &str = "fixture password 1";
/// Tables whose rows a running server adds or removes by itself (jobs, caches,
/// limits, the versions that opened the database); every other table must keep its
/// row count across an upgrade.
const VOLATILE: [&str; 9] = [
    "sqlite_stat1",
    "sqlite_stat4",
    "_sqlx_migrations",
    "app_versions",
    "job_runs",
    "job_claims",
    "cache_generation",
    "rate_limits",
    "sqlite_sequence",
];

fn fixtures_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/upgrade")
}

fn backend_dir(backend: Backend) -> &'static str {
    match backend {
        Backend::Sqlite => "sqlite",
        Backend::Postgres => "postgres",
    }
}

async fn row_counts(db: &TestDb) -> BTreeMap<String, i64> {
    let opened = match &db.url {
        Some(url) => Db::Postgres(sqlx::PgPool::connect(url).await.unwrap()),
        None => Db::Sqlite(
            sqlx::SqlitePool::connect(&format!(
                "sqlite://{}",
                db.data_dir().join("telemetry.db").display()
            ))
            .await
            .unwrap(),
        ),
    };
    let mut counts = BTreeMap::new();
    let tables: Vec<String> = match &opened {
        Db::Sqlite(pool) => {
            sqlx::query_scalar("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
                .fetch_all(pool)
                .await
                .unwrap()
        }
        Db::Postgres(pool) => sqlx::query_scalar(
            "SELECT table_name::text FROM information_schema.tables
             WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' ORDER BY 1",
        )
        .fetch_all(pool)
        .await
        .unwrap(),
    };
    for table in tables
        .into_iter()
        .filter(|t| !VOLATILE.contains(&t.as_str()))
    {
        let sql = format!("SELECT COUNT(*) FROM \"{table}\"");
        let n: i64 = match &opened {
            Db::Sqlite(pool) => sqlx::query_scalar(&sql).fetch_one(pool).await.unwrap(),
            Db::Postgres(pool) => sqlx::query_scalar(&sql).fetch_one(pool).await.unwrap(),
        };
        counts.insert(table, n);
    }
    opened.close().await;
    counts
}

/// The dashboard's numbers over the fixture's range, as the API answers them.
async fn answers(base: &str, manifest: &Value) -> BTreeMap<String, Value> {
    let http = reqwest::Client::new();
    let range = format!(
        "from={}&to={}",
        manifest["from"].as_str().unwrap(),
        manifest["to"].as_str().unwrap()
    );
    let mut out = BTreeMap::new();
    for path in [
        format!("/api/overview?{range}"),
        format!("/api/timeseries?{range}"),
        format!("/api/errors?{range}&limit=100"),
        format!("/api/sessions?{range}&limit=100"),
        format!("/api/events/names?{range}"),
    ] {
        let res = http
            .get(format!("{base}{path}"))
            .bearer_auth(manifest["token"].as_str().unwrap())
            .header("X-Project-Id", manifest["project_id"].as_str().unwrap())
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "GET {path}");
        out.insert(
            path.split('?').next().unwrap().to_string(),
            res.json().await.unwrap(),
        );
    }
    out
}

/// Loads a fixture into a fresh test database.
async fn load(dir: &Path, backend: Backend) -> TestDb {
    let db = TestDb::new(backend).await;
    match &db.url {
        None => {
            std::fs::create_dir_all(db.data_dir()).unwrap();
            std::fs::copy(dir.join("telemetry.db"), db.data_dir().join("telemetry.db")).unwrap();
        }
        Some(url) => {
            let pool = sqlx::PgPool::connect(url).await.unwrap();
            // psql's meta-commands (`\restrict` of newer pg_dumps) are not SQL.
            let dump: String = std::fs::read_to_string(dir.join("dump.sql"))
                .unwrap()
                .lines()
                .filter(|l| !l.starts_with('\\'))
                .map(|l| format!("{l}\n"))
                .collect();
            sqlx::raw_sql(&dump).execute(&pool).await.unwrap();
            pool.close().await;
        }
    }
    db
}

async fn every_fixture_opens_migrates_and_keeps_its_numbers(backend: Backend) {
    let mut checked = 0;
    let mut versions: Vec<PathBuf> = std::fs::read_dir(fixtures_root())
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    versions.sort();
    for version in versions {
        let dir = version.join(backend_dir(backend));
        let manifest: Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("manifest.json")).unwrap())
                .unwrap();
        let what = format!("fixture {} ({})", manifest["version"], backend_dir(backend));
        let db = load(&dir, backend).await;
        cli_ok(&db, &["migrate"], None);
        let counts = row_counts(&db).await;
        for (table, expected) in manifest["rows"].as_object().unwrap() {
            assert_eq!(
                counts.get(table).copied(),
                expected.as_i64(),
                "{what}: rows of {table} after migrating"
            );
        }
        // No retention run: the fixture's data grows older than any retention.
        let server = Server::start(&db, &[("RETENTION_CRON", "off")]).await;
        let now = answers(&server.base, &manifest).await;
        for (path, expected) in manifest["answers"].as_object().unwrap() {
            assert_eq!(
                now.get(path),
                Some(expected),
                "{what}: GET {path} answers differently"
            );
        }
        let http = reqwest::Client::new();
        let sent = http
            .post(format!("{}/ingest/event", server.base))
            .bearer_auth(manifest["key"].as_str().unwrap())
            .json(&json!({ "app": "web", "name": "after_upgrade", "session_id": "upgrade" }))
            .send()
            .await
            .unwrap();
        assert_eq!(sent.status(), 204, "{what}: the old API key");
        let me = http
            .get(format!("{}/api/auth/me", server.base))
            .bearer_auth(manifest["token"].as_str().unwrap())
            .send()
            .await
            .unwrap();
        assert_eq!(me.status(), 200, "{what}: the old personal token");
        let login = http
            .post(format!("{}/api/auth/login", server.base))
            .json(&json!({ "email": manifest["email"], "password": PASSWORD }))
            .send()
            .await
            .unwrap();
        assert_eq!(login.status(), 200, "{what}: the old password");
        checked += 1;
    }
    assert!(
        checked > 0,
        "no upgrade fixture under {}",
        fixtures_root().display()
    );
}

on_both_backends!(every_fixture_opens_migrates_and_keeps_its_numbers);

/// Writes this build's fixture for both backends (run once per release).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "writes a new fixture; run by the release (UPGRADE_FIXTURE=1)"]
async fn write_fixture() {
    assert_eq!(
        std::env::var("UPGRADE_FIXTURE").as_deref(),
        Ok("1"),
        "set UPGRADE_FIXTURE=1 to write tests/fixtures/upgrade/{}",
        env!("CARGO_PKG_VERSION")
    );
    for backend in [Backend::Sqlite, Backend::Postgres] {
        write_one(backend).await;
    }
}

async fn write_one(backend: Backend) {
    let version = env!("CARGO_PKG_VERSION");
    let out = fixtures_root().join(version).join(backend_dir(backend));
    std::fs::create_dir_all(&out).unwrap();
    let db = TestDb::new(backend).await;
    let email = "owner@fixture.test";
    let user = cli_ok(
        &db,
        &[
            "user",
            "create",
            "--email",
            email,
            "--password-stdin",
            "--org",
            "Fixture",
        ],
        Some(PASSWORD),
    );
    let org_id = user["org_id"].as_str().unwrap();
    let project = cli_ok(
        &db,
        &["project", "create", "--org", org_id, "--name", "web"],
        None,
    );
    let project_id = project["id"].as_str().unwrap();
    let key = cli_ok(&db, &["apikey", "create", "--project", project_id], None);
    let token = cli_ok(
        &db,
        &["token", "create", "--email", email, "--name", "fixture"],
        None,
    );
    cli_ok(
        &db,
        &[
            "demo-data",
            "--project",
            project_id,
            "--days",
            "3",
            "--sessions",
            "120",
            "--events",
            "900",
            "--errors",
            "60",
            "--seed",
            "19",
        ],
        None,
    );
    let now_ms = telemetry_tracker::clock::Clock::default().now_ms();
    let hour = 3_600_000;
    let from =
        telemetry_tracker::domain::timeutil::format_rfc3339_ms((now_ms / hour - 24 * 5) * hour);
    let to = telemetry_tracker::domain::timeutil::format_rfc3339_ms((now_ms / hour + 1) * hour);
    let mut manifest = json!({
        "version": version,
        "email": email,
        "org_id": org_id,
        "project_id": project_id,
        "key": key["key"],
        "token": token["token"],
        "from": from,
        "to": to,
    });
    {
        // Through the ingest path too, as SDKs write: an event, an error with a
        // stack, a session; and an error resolved.
        let server = Server::start(&db, &[]).await;
        let http = reqwest::Client::new();
        let send = |path: &str, body: Value| {
            http.post(format!("{}{path}", server.base))
                .bearer_auth(manifest["key"].as_str().unwrap())
                .json(&body)
                .send()
        };
        assert_eq!(
            send(
                "/ingest/session",
                json!({ "app": "web", "session_id": "fixture-s1", "user_id": "u-fixture" })
            )
            .await
            .unwrap()
            .status(),
            204
        );
        assert_eq!(send("/ingest/event", json!({ "app": "web", "name": "signup", "session_id": "fixture-s1", "user_id": "u-fixture", "properties": { "plan": "pro" } })).await.unwrap().status(), 204);
        assert_eq!(send("/ingest/error", json!({ "app": "web", "session_id": "fixture-s1", "message": "TypeError: x is undefined", "stack": "TypeError: x is undefined\n    at render (https://shop.example/app.js:10:5)" })).await.unwrap().status(), 204);
        // Ended, so that no job changes it later.
        let ended = telemetry_tracker::domain::timeutil::format_rfc3339_ms(now_ms + 1_000);
        assert_eq!(
            send(
                "/ingest/session",
                json!({ "app": "web", "session_id": "fixture-s1", "ended_at": ended })
            )
            .await
            .unwrap()
            .status(),
            204
        );
        let errors = answers(&server.base, &manifest).await["/api/errors"].clone();
        let group = errors["items"][0]["id"].as_str().unwrap().to_string();
        let resolved = http
            .patch(format!("{}/api/errors/{group}", server.base))
            .bearer_auth(manifest["token"].as_str().unwrap())
            .header("X-Project-Id", project_id)
            .json(&json!({ "status": "resolved" }))
            .send()
            .await
            .unwrap();
        assert_eq!(resolved.status(), 200);
        manifest["answers"] = serde_json::to_value(answers(&server.base, &manifest).await).unwrap();
    }
    manifest["rows"] = serde_json::to_value(row_counts(&db).await).unwrap();
    match &db.url {
        None => {
            let file = out.join("telemetry.db");
            let _ = std::fs::remove_file(&file);
            cli_ok(&db, &["backup", "--out", file.to_str().unwrap()], None);
        }
        Some(url) => {
            let dump = std::process::Command::new("pg_dump")
                .args([
                    "--inserts",
                    "--no-owner",
                    "--no-privileges",
                    "--dbname",
                    url,
                ])
                .output()
                .unwrap();
            assert!(
                dump.status.success(),
                "{}",
                String::from_utf8_lossy(&dump.stderr)
            );
            std::fs::write(out.join("dump.sql"), dump.stdout).unwrap();
        }
    }
    std::fs::write(
        out.join("manifest.json"),
        serde_json::to_string_pretty(&manifest).unwrap() + "\n",
    )
    .unwrap();
}
