//! Backups as an operation (issue 19): `restore --from` checks a SQLite snapshot and
//! refuses to replace a database without `--force` (keeping the replaced one);
//! `BACKUP_CRON` snapshots on a schedule keeping `BACKUP_KEEP`; on PostgreSQL a
//! `pg_dump`/`pg_restore` round trip gives back the same numbers.

mod common;

use common::process::{cli, cli_ok, command, Server};
use common::{Backend, TestApp, TestDb};
use serde_json::{json, Value};
use std::path::Path;
use std::time::Duration;

async fn users_in(file: &Path) -> i64 {
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}?mode=ro", file.display()))
        .await
        .unwrap();
    let n = sqlx::query_scalar("SELECT COUNT(*) FROM users")
        .fetch_one(&pool)
        .await
        .unwrap();
    pool.close().await;
    n
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restore_checks_the_snapshot_and_keeps_what_it_replaces() {
    let db = TestDb::new(Backend::Sqlite).await;
    let password = Some("a long password");
    cli_ok(
        &db,
        &[
            "user",
            "create",
            "--email",
            "a@example.com",
            "--password-stdin",
            "--org",
            "A",
        ],
        password,
    );
    let snapshot = db.dir.path().join("snapshot.db");
    cli_ok(&db, &["backup", "--out", snapshot.to_str().unwrap()], None);
    cli_ok(
        &db,
        &[
            "user",
            "create",
            "--email",
            "b@example.com",
            "--password-stdin",
        ],
        password,
    );
    let live = db.data_dir().join("telemetry.db");
    assert_eq!(users_in(&live).await, 2);

    let (ok, _, stderr) = cli(
        &db,
        &["restore", "--from", snapshot.to_str().unwrap()],
        None,
    );
    assert!(!ok);
    assert!(stderr.contains("--force"), "{stderr}");
    assert_eq!(users_in(&live).await, 2, "nothing replaced without --force");

    let restored = cli_ok(
        &db,
        &["restore", "--from", snapshot.to_str().unwrap(), "--force"],
        None,
    );
    assert_eq!(restored["users"], 1);
    assert_eq!(users_in(&live).await, 1);
    let replaced = restored["replaced"].as_str().unwrap();
    assert_eq!(
        users_in(Path::new(replaced)).await,
        2,
        "the replaced database is kept"
    );
    // The restored database serves.
    let server = Server::start(&db, &[]).await;
    let login = reqwest::Client::new()
        .post(format!("{}/api/auth/login", server.base))
        .json(&json!({ "email": "a@example.com", "password": "a long password" }))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 200);
    drop(server);

    // Refused: not a file of ours, damaged, or from a newer version.
    let garbage = db.dir.path().join("garbage.db");
    std::fs::write(&garbage, vec![0x5a; 8192]).unwrap();
    let (ok, _, stderr) = cli(
        &db,
        &["restore", "--from", garbage.to_str().unwrap(), "--force"],
        None,
    );
    assert!(!ok && stderr.contains("garbage.db"), "{stderr}");
    let foreign = db.dir.path().join("foreign.db");
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}?mode=rwc", foreign.display()))
        .await
        .unwrap();
    sqlx::query("CREATE TABLE notes (body TEXT)")
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
    let (ok, _, stderr) = cli(
        &db,
        &["restore", "--from", foreign.to_str().unwrap(), "--force"],
        None,
    );
    assert!(
        !ok && stderr.contains("not a Telemetry Tracker database"),
        "{stderr}"
    );
    let newer = db.dir.path().join("newer.db");
    std::fs::copy(&snapshot, &newer).unwrap();
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", newer.display()))
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time)
         VALUES (9999, 'from the future', 1, x'00', 0)",
    )
    .execute(&pool)
    .await
    .unwrap();
    pool.close().await;
    let (ok, _, stderr) = cli(
        &db,
        &["restore", "--from", newer.to_str().unwrap(), "--force"],
        None,
    );
    assert!(!ok && stderr.contains("newer version"), "{stderr}");
    assert_eq!(
        users_in(&live).await,
        1,
        "a refused restore changes nothing"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scheduled_backups_keep_the_newest() {
    let db = TestDb::new(Backend::Sqlite).await;
    let server = Server::start(&db, &[("BACKUP_CRON", "* * * * * *"), ("BACKUP_KEEP", "2")]).await;
    let dir = db.data_dir().join("backups");
    let scheduled = || -> Vec<std::path::PathBuf> {
        std::fs::read_dir(&dir)
            .map(|d| {
                d.flatten()
                    .map(|e| e.path())
                    .filter(|p| p.to_string_lossy().contains("scheduled-"))
                    .collect()
            })
            .unwrap_or_default()
    };
    let mut seen = 0;
    for _ in 0..100 {
        seen += 1;
        if scheduled().len() >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(seen < 100, "two scheduled backups within 10 s");
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    let kept = scheduled();
    assert_eq!(kept.len(), 2, "{kept:?}");
    drop(server);
    for file in kept {
        let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}?mode=ro", file.display()))
            .await
            .unwrap();
        let check: String = sqlx::query_scalar("PRAGMA integrity_check")
            .fetch_one(&pool)
            .await
            .unwrap();
        assert_eq!(check, "ok");
        pool.close().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_dump_and_restore_round_trip() {
    let app = TestApp::start(Backend::Postgres).await;
    let seed = app.seed("dumped").await;
    for n in 0..20 {
        app.ingest_ok(
            "/ingest/event",
            &seed.key,
            &json!({ "app": "web", "name": format!("e{}", n % 3), "session_id": "s" }),
        )
        .await;
    }
    app.ingest_ok(
        "/ingest/error",
        &seed.key,
        &json!({ "app": "web", "message": "boom", "session_id": "s" }),
    )
    .await;
    let before: Value = app.read_ok(&seed, "/api/overview?range=24h").await;

    let dump = app.db.dir.path().join("telemetry.dump");
    let out = std::process::Command::new("pg_dump")
        .args(["--format=custom", "--no-owner", "--file"])
        .arg(&dump)
        .arg(app.db.url.as_deref().unwrap())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let restored = TestDb::new(Backend::Postgres).await;
    let out = std::process::Command::new("pg_restore")
        .args(["--no-owner", "--dbname", restored.url.as_deref().unwrap()])
        .arg(&dump)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let server = Server::start(&restored, &[]).await;
    let after: Value = reqwest::Client::new()
        .get(format!("{}/api/overview?range=24h", server.base))
        .bearer_auth(&seed.token)
        .header("X-Project-Id", &seed.project_id)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    for field in ["events", "errors", "sessions"] {
        assert_eq!(after[field], before[field], "{field}: {after} vs {before}");
    }
    assert_eq!(after["events"], 20);

    // Scheduled backups are SQLite snapshots: refused on PostgreSQL at start-up.
    let out = tokio::task::spawn_blocking(move || {
        command(&restored)
            .arg("serve")
            .env("PORT", common::process::free_port().to_string())
            .env("BACKUP_CRON", "0 0 2 * * *")
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("pg_dump"));
}
