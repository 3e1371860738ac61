//! The binary's command line: `--json` output, errors, and zero-config boot.

mod common;

use common::process::{cli, cli_ok, free_port, Server, BIN};
use common::{Backend, TestDb};
use std::process::Stdio;

async fn cli_manages_users_orgs_projects_keys_and_tokens(backend: Backend) {
    let db = TestDb::new(backend).await;
    let (ok, out, err) = cli(&db, &["migrate"], None);
    assert!(ok, "{err}");
    assert_eq!(out["migrated"], true);

    let (ok, user, err) = cli(
        &db,
        &[
            "user",
            "create",
            "--email",
            "Owner@Example.com",
            "--password-stdin",
            "--org",
            "Acme",
        ],
        Some("correct horse battery\n"),
    );
    assert!(ok, "{err}");
    assert_eq!(user["email"], "owner@example.com");
    assert!(user["id"].is_string() && user["org_id"].is_string());

    let (ok, _, err) = cli(
        &db,
        &[
            "user",
            "create",
            "--email",
            "owner@example.com",
            "--password",
            "correct horse battery",
        ],
        None,
    );
    assert!(!ok);
    let err: serde_json::Value =
        serde_json::from_str(err.trim()).expect("errors are JSON with --json");
    assert!(err["error"].as_str().unwrap().contains("already exists"));
    let (ok, _, err) = cli(
        &db,
        &[
            "user",
            "create",
            "--email",
            "x@example.com",
            "--password",
            "short",
        ],
        None,
    );
    assert!(!ok && err.contains("10 characters"), "{err}");

    let (ok, _, _) = cli(
        &db,
        &[
            "user",
            "create",
            "--email",
            "second@example.com",
            "--password",
            "another good password",
        ],
        None,
    );
    assert!(ok);
    let (ok, org, err) = cli(
        &db,
        &[
            "org",
            "create",
            "--name",
            "Beta",
            "--owner",
            "second@example.com",
            "--plan",
            "PRO",
        ],
        None,
    );
    assert!(ok, "{err}");
    assert_eq!(
        (org["name"].as_str(), org["plan"].as_str()),
        (Some("Beta"), Some("PRO"))
    );
    let (ok, org, _) = cli(
        &db,
        &["org", "set-plan", "--org", "Beta", "--plan", "FREE"],
        None,
    );
    assert!(ok);
    assert_eq!(org["plan"], "FREE");
    let (ok, _, err) = cli(
        &db,
        &["org", "set-plan", "--org", "Beta", "--plan", "GOLD"],
        None,
    );
    assert!(!ok && err.contains("GOLD"));

    let (ok, project, err) = cli(
        &db,
        &["project", "create", "--org", "Acme", "--name", "Web Shop"],
        None,
    );
    assert!(ok, "{err}");
    assert_eq!(project["slug"], "web-shop");
    assert_eq!(project["org_id"], user["org_id"]);
    assert!(
        project["number"].as_i64().is_some_and(|n| n > 0),
        "{project}"
    );
    let again = cli_ok(
        &db,
        &[
            "project",
            "create",
            "--org",
            user["org_id"].as_str().unwrap(),
            "--name",
            "Web Shop",
        ],
        None,
    );
    assert_eq!(again["slug"], "web-shop-2");
    // FREE allows one project per organization.
    assert!(
        cli(
            &db,
            &["project", "create", "--org", "Beta", "--name", "One"],
            None
        )
        .0
    );
    let (ok, _, err) = cli(
        &db,
        &["project", "create", "--org", "Beta", "--name", "Two"],
        None,
    );
    assert!(!ok && err.contains("project"), "{err}");

    let pid = project["id"].as_str().unwrap();
    let (ok, key, err) = cli(
        &db,
        &[
            "apikey",
            "create",
            "--project",
            pid,
            "--label",
            "web",
            "--app",
            "web-shop",
            "--expires-in-days",
            "30",
        ],
        None,
    );
    assert!(ok, "{err}");
    let full = key["key"].as_str().unwrap();
    assert!(full.starts_with("tt_live_") && full.len() == 105);
    assert!(full.starts_with(key["prefix"].as_str().unwrap()));
    let (ok, list, _) = cli(&db, &["apikey", "list", "--project", pid], None);
    assert!(ok);
    let keys = list["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 1);
    assert_eq!(
        (keys[0]["label"].as_str(), keys[0]["app"].as_str()),
        (Some("web"), Some("web-shop"))
    );
    assert!(
        !list.to_string().contains(&full[41..]),
        "the secret is never listed"
    );
    let (ok, _, _) = cli(
        &db,
        &["apikey", "revoke", "--id", key["id"].as_str().unwrap()],
        None,
    );
    assert!(ok);
    let list = cli_ok(&db, &["apikey", "list", "--project", pid], None);
    assert!(list["keys"][0]["revoked_at"].is_string());
    let (ok, _, _) = cli(
        &db,
        &["apikey", "revoke", "--id", key["id"].as_str().unwrap()],
        None,
    );
    assert!(!ok, "revoking twice is an error");

    let (ok, token, err) = cli(
        &db,
        &[
            "token",
            "create",
            "--email",
            "owner@example.com",
            "--name",
            "ci",
        ],
        None,
    );
    assert!(ok, "{err}");
    assert!(token["token"].as_str().unwrap().starts_with("ttp_"));

    let (ok, report, err) = cli(&db, &["retention", "run", "--dry-run"], None);
    assert!(ok, "{err}");
    assert_eq!(report["dry_run"], true);
    let (ok, report, _) = cli(&db, &["retention", "run"], None);
    assert!(ok);
    assert_eq!(report["rows_deleted"], 0);

    let nowhere = db.dir.path().join("no-such-dir").join("snapshot.db");
    let (ok, _, err) = cli(&db, &["backup", "--out", nowhere.to_str().unwrap()], None);
    assert!(!ok);
    assert!(
        err.contains("no-such-dir") && err.contains("does not exist") && err.lines().count() <= 2,
        "{err}"
    );
    let out = db.dir.path().join("snapshot.db");
    let (ok, _, err) = cli(&db, &["backup", "--out", out.to_str().unwrap()], None);
    match backend {
        Backend::Sqlite => assert!(ok && out.exists(), "{err}"),
        Backend::Postgres => assert!(!ok && err.contains("pg_dump"), "{err}"),
    }

    let (ok, v, _) = cli(&db, &["version"], None);
    assert!(ok);
    assert_eq!(v["version"], env!("CARGO_PKG_VERSION"));
    let commit = v["commit"].as_str().unwrap();
    assert!(
        commit == "unknown"
            || (commit.len() == 40 && commit.chars().all(|c| c.is_ascii_hexdigit())),
        "{v}"
    );
    assert!(v["build_date"].as_str().unwrap().ends_with('Z'), "{v}");
    assert!(!v["target"].as_str().unwrap().is_empty(), "{v}");
    assert_eq!(v["backends"], serde_json::json!(["sqlite", "postgres"]));
    let (ok, spec, _) = cli(&db, &["openapi"], None);
    assert!(ok);
    assert_eq!(spec["info"]["title"], "Telemetry Tracker");
}

async fn keys_made_on_the_cli_work_for_ingest(backend: Backend) {
    let db = TestDb::new(backend).await;
    let user = cli_ok(
        &db,
        &[
            "user",
            "create",
            "--email",
            "a@example.com",
            "--password",
            "correct horse battery",
            "--org",
            "A",
        ],
        None,
    );
    let project = cli_ok(
        &db,
        &[
            "project",
            "create",
            "--org",
            user["org_id"].as_str().unwrap(),
            "--name",
            "web",
        ],
        None,
    );
    let pid = project["id"].as_str().unwrap();
    let key = cli_ok(&db, &["apikey", "create", "--project", pid], None);
    let token = cli_ok(&db, &["token", "create", "--email", "a@example.com"], None);
    let server = Server::start(&db, &[]).await;
    let http = reqwest::Client::new();
    let res = http
        .post(format!("{}/ingest/event", server.base))
        .bearer_auth(key["key"].as_str().unwrap())
        .json(&serde_json::json!({ "app": "web", "name": "from_curl" }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    let res = http
        .get(format!("{}/api/events?project_id={pid}", server.base))
        .bearer_auth(token["token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["items"][0]["name"], "from_curl", "{body}");
    // Revoked on the CLI while the server runs: refused within the key cache's 5 s.
    let (ok, _, _) = cli(
        &db,
        &["apikey", "revoke", "--id", key["id"].as_str().unwrap()],
        None,
    );
    assert!(ok);
    let mut refused = false;
    for _ in 0..80 {
        let res = http
            .post(format!("{}/ingest/event", server.base))
            .bearer_auth(key["key"].as_str().unwrap())
            .json(&serde_json::json!({ "app": "web", "name": "after_revoke" }))
            .send()
            .await
            .unwrap();
        if res.status() == 401 {
            refused = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(refused, "a revoked key stops working");
}

on_both_backends!(
    cli_manages_users_orgs_projects_keys_and_tokens,
    keys_made_on_the_cli_work_for_ingest
);

#[tokio::test]
async fn serve_with_no_settings_creates_the_sqlite_database_and_listens() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let child = std::process::Command::new(BIN)
        .current_dir(dir.path())
        .env_clear()
        .env("PORT", port.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let server = Server {
        child,
        base: format!("http://127.0.0.1:{port}"),
    };
    server.wait_healthy().await;
    let res = reqwest::get(format!("{}/health", server.base))
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let health: serde_json::Value = res.json().await.unwrap();
    assert_eq!(health["ok"], true);
    assert_eq!(health["email"], "not_configured");
    assert_eq!(health["version"], env!("CARGO_PKG_VERSION"));
    let db_file = dir.path().join("data/telemetry.db");
    assert!(db_file.exists(), "./data/telemetry.db is created");
    assert!(
        dir.path().join("data/telemetry.db-wal").exists(),
        "SQLite runs in WAL mode"
    );
}

#[tokio::test]
async fn health_can_ping_the_database() {
    let db = TestDb::new(Backend::Sqlite).await;
    let server = Server::start(&db, &[("HEALTH_CHECK_DATABASE", "true")]).await;
    let res = reqwest::get(format!("{}/health", server.base))
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let health: serde_json::Value = res.json().await.unwrap();
    assert_eq!(health["database"], "ok");
    assert!(health["database_latency_ms"].as_f64().is_some());
}

#[test]
fn invalid_settings_stop_start_up_with_one_line_each() {
    let db = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(BIN)
        .env_clear()
        .args(["serve", "--data-dir"])
        .arg(db.path())
        .env("TELEMETRY_ENV", "production")
        .env("INGEST_ALLOW_UNAUTHENTICATED", "true")
        .env("TELEMETRY_ALLOW_UNAUTHENTICATED_READS", "true")
        .env("RETENTION_CRON", "every night")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8(out.stderr).unwrap();
    for needle in [
        "INGEST_ALLOW_UNAUTHENTICATED",
        "TELEMETRY_ALLOW_UNAUTHENTICATED_READS",
        "RETENTION_CRON",
        "TELEMETRY_PROJECT_ID",
    ] {
        assert!(err.lines().any(|l| l.contains(needle)), "{needle} in {err}");
    }
    let out = std::process::Command::new(BIN)
        .env_clear()
        .args(["serve", "--port", "notaport"])
        .output()
        .unwrap();
    assert!(!out.status.success());
}

#[test]
fn help_documents_every_setting() {
    let out = std::process::Command::new(BIN)
        .args(["serve", "--help"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let help = String::from_utf8(out.stdout).unwrap();
    for env in [
        "DATABASE_URL",
        "TELEMETRY_DATA_DIR",
        "HOST",
        "PORT",
        "TELEMETRY_DASHBOARD_ORIGIN",
        "CORS_ORIGINS",
        "DASHBOARD_ORIGIN",
        "TELEMETRY_ALLOW_REGISTRATION",
        "INGEST_ALLOW_UNAUTHENTICATED",
        "TELEMETRY_PROJECT_ID",
        "TELEMETRY_ALLOW_UNAUTHENTICATED_READS",
        "HEALTH_CHECK_DATABASE",
        "SMTP_URL",
        "TELEMETRY_EMAIL_FROM",
        "RETENTION_CRON",
        "TELEMETRY_SQLITE_SYNCHRONOUS",
        "TELEMETRY_INGEST_QUEUE_CAPACITY",
        "TRUST_PROXY",
    ] {
        assert!(help.contains(&format!("[env: {env}")), "--help lacks {env}");
    }
}
