//! Upgrades are safe by construction (issue 19): before migrating an existing SQLite
//! database, `migrate` and `serve` snapshot it into `<data dir>/backups` (the last
//! three kept; `--no-backup` skips it); on PostgreSQL they name the `pg_dump` to run;
//! and a database written by a newer version is refused, naming that version.

mod common;

use common::process::{cli, command};
use common::{Backend, TestDb};
use std::path::Path;
use telemetry_tracker::store::Db;

/// Runs raw SQL on the test database (to make it look like an older or newer one).
async fn sql(db: &TestDb, statements: &[&str]) {
    let opened = db.open().await;
    for s in statements {
        match &opened {
            Db::Sqlite(pool) => {
                sqlx::query(s).execute(pool).await.unwrap();
            }
            Db::Postgres(pool) => {
                sqlx::query(s).execute(pool).await.unwrap();
            }
        }
    }
    opened.close().await;
}

/// The database as the previous release left it: without the newest migration.
async fn make_it_older(db: &TestDb) {
    sql(
        db,
        &[
            "DELETE FROM _sqlx_migrations WHERE version = 12",
            "DROP TABLE app_versions",
        ],
    )
    .await;
}

fn backups(data_dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(data_dir.join("backups"))
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().to_string())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_is_backed_up_before_migrating_and_three_backups_are_kept() {
    let db = TestDb::new(Backend::Sqlite).await;
    let (ok, fresh, stderr) = cli(&db, &["migrate"], None);
    assert!(ok, "{stderr}");
    assert_eq!(
        fresh["backup"],
        serde_json::Value::Null,
        "a new database needs no backup"
    );
    let (ok, again, _) = cli(&db, &["migrate"], None);
    assert!(ok);
    assert_eq!(again["applied"], serde_json::json!([]));
    assert!(
        backups(&db.data_dir()).is_empty(),
        "nothing to migrate, nothing backed up"
    );

    make_it_older(&db).await;
    let (ok, migrated, stderr) = cli(&db, &["migrate"], None);
    assert!(ok, "{stderr}");
    assert_eq!(
        migrated["applied"],
        serde_json::json!(["0012_app_versions"])
    );
    let backup = migrated["backup"].as_str().unwrap().to_string();
    let name = Path::new(&backup)
        .file_name()
        .unwrap()
        .to_string_lossy()
        .to_string();
    assert!(
        name.starts_with(&format!("pre-{}-", env!("CARGO_PKG_VERSION"))) && name.ends_with("Z.db"),
        "{name}"
    );
    // The backup is the database as it was: a complete SQLite file without the newest migration.
    let snapshot = sqlx::SqlitePool::connect(&format!("sqlite://{backup}?mode=ro"))
        .await
        .unwrap();
    let newest: i64 = sqlx::query_scalar("SELECT MAX(version) FROM _sqlx_migrations")
        .fetch_one(&snapshot)
        .await
        .unwrap();
    assert_eq!(newest, 11);
    let check: String = sqlx::query_scalar("PRAGMA integrity_check")
        .fetch_one(&snapshot)
        .await
        .unwrap();
    assert_eq!(check, "ok");
    snapshot.close().await;

    for _ in 0..3 {
        make_it_older(&db).await;
        let (ok, _, stderr) = cli(&db, &["migrate"], None);
        assert!(ok, "{stderr}");
    }
    let kept = backups(&db.data_dir());
    assert_eq!(kept.len(), 3, "{kept:?}");
    assert!(!kept.contains(&name), "the oldest went: {kept:?}");

    make_it_older(&db).await;
    let (ok, migrated, _) = cli(&db, &["migrate", "--no-backup"], None);
    assert!(ok);
    assert_eq!(migrated["backup"], serde_json::Value::Null);
    assert_eq!(backups(&db.data_dir()), kept);
}

async fn a_newer_database_is_refused(backend: Backend) {
    let db = TestDb::new(backend).await;
    db.open().await.close().await;
    sql(
        &db,
        &[
            "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time)
             VALUES (9999, 'from the future', true, decode('00', 'hex'), 0)",
            "INSERT INTO app_versions (version, first_seen_at, last_seen_at) VALUES ('9.9.9', 1, 9999999999999)",
        ]
        .map(|s| if backend == Backend::Sqlite { s.replace("decode('00', 'hex')", "x'00'") } else { s.to_string() })
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>(),
    )
    .await;
    let (ok, _, stderr) = cli(&db, &["migrate"], None);
    assert!(!ok);
    assert!(
        stderr.contains("written by Telemetry Tracker 9.9.9"),
        "{stderr}"
    );
    assert!(stderr.contains("9999_from_the_future"), "{stderr}");
    // `serve` refuses the same way, before it listens.
    let out = tokio::task::spawn_blocking(move || {
        let out = command(&db)
            .arg("serve")
            .env("PORT", common::process::free_port().to_string())
            .output()
            .unwrap();
        drop(db);
        out
    })
    .await
    .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("written by Telemetry Tracker 9.9.9"),
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_names_the_dump_to_take() {
    let db = TestDb::new(Backend::Postgres).await;
    db.open().await.close().await;
    make_it_older(&db).await;
    let (ok, migrated, stderr) = cli(&db, &["migrate"], None);
    assert!(ok, "{stderr}");
    assert_eq!(
        migrated["applied"],
        serde_json::json!(["0012_app_versions"])
    );
    assert!(stderr.contains("pg_dump --format=custom"), "{stderr}");
    assert_eq!(migrated["backup"], serde_json::Value::Null);
}

on_both_backends!(a_newer_database_is_refused);
