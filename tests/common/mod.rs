//! A real server per test: its own SQLite file or its own PostgreSQL database,
//! listening on a free port, driven over HTTP.
#![allow(dead_code)]

pub mod browser;
pub mod process;
pub mod receiver;
pub mod smtp;
pub mod sourcemaps;
pub mod stripe;
pub mod web;

use clap::Parser;
use serde_json::Value;
use std::path::PathBuf;
use telemetry_tracker::clock::Clock;
use telemetry_tracker::config::ServeConfig;
use telemetry_tracker::mail::Mailer;
use telemetry_tracker::service::accounts;
use telemetry_tracker::state::SharedState;
use telemetry_tracker::store::{Db, SyncMode};

pub const PG_ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

#[derive(Parser)]
struct Settings {
    #[command(flatten)]
    serve: ServeConfig,
}

/// Default settings as `serve` would read them with no flags (environment ignored
/// where it matters for tests).
pub fn default_config() -> ServeConfig {
    let mut cfg = Settings::parse_from(["telemetry-tracker"]).serve;
    cfg.host = "127.0.0.1".into();
    cfg.port = 0;
    cfg.public_url = None;
    cfg.smtp_url = None;
    cfg.retention_cron = "off".into();
    cfg.ingest_allow_unauthenticated = false;
    cfg.allow_unauthenticated_reads = false;
    // Suites make hundreds of requests a minute from one address; the limits
    // themselves are tested on their own.
    cfg.rate_limit_api_max = 0;
    cfg.rate_limit_auth_max = 0;
    cfg
}

/// A fresh, empty database for one test: a temp SQLite file or a new PostgreSQL database.
pub struct TestDb {
    pub backend: Backend,
    pub dir: tempfile::TempDir,
    /// `DATABASE_URL` to hand a child process (None: the SQLite file in `dir`).
    pub url: Option<String>,
}

impl TestDb {
    pub async fn new(backend: Backend) -> TestDb {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = match backend {
            Backend::Sqlite => None,
            Backend::Postgres => {
                let name = format!("tt_test_{}", uuid::Uuid::new_v4().simple());
                let admin = sqlx::PgPool::connect(PG_ADMIN_URL)
                    .await
                    .expect("PostgreSQL on 127.0.0.1:5432");
                sqlx::query(&format!("CREATE DATABASE {name}"))
                    .execute(&admin)
                    .await
                    .expect("create database");
                admin.close().await;
                Some(format!("postgres://postgres@127.0.0.1:5432/{name}"))
            }
        };
        TestDb { backend, dir, url }
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    pub async fn open(&self) -> Db {
        let db = Db::connect(self.url.as_deref(), &self.data_dir(), SyncMode::Normal)
            .await
            .expect("open db");
        db.migrate().await.expect("migrate");
        db
    }
}

impl Drop for TestDb {
    // Each PostgreSQL test database is dropped when its test ends, open connections
    // and all, so repeated runs leave nothing behind.
    fn drop(&mut self) {
        let Some(name) = self
            .url
            .as_deref()
            .and_then(|u| u.rsplit('/').next())
            .map(str::to_string)
        else {
            return;
        };
        let _ = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async {
                if let Ok(admin) = sqlx::PgPool::connect(PG_ADMIN_URL).await {
                    let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                        .execute(&admin)
                        .await;
                    admin.close().await;
                }
            });
        })
        .join();
    }
}

pub struct TestApp {
    pub base: String,
    pub state: SharedState,
    pub http: reqwest::Client,
    pub db: TestDb,
}

/// A user who owns an organization with one project, a key and a token.
#[derive(Debug, Clone)]
pub struct Seed {
    pub email: String,
    pub user_id: String,
    pub org_id: String,
    pub project_id: String,
    pub key: String,
    pub key_id: String,
    pub token: String,
}

/// `name`@example.com, owner of organization `name` with project "`name` web",
/// an API key and a personal token, written straight to `db`.
pub async fn seed_db(db: &Db, clock: &Clock, name: &str) -> Seed {
    let email = format!("{name}@example.com");
    let user = accounts::create_user(db, clock, &email, "correct horse battery", Some(name))
        .await
        .unwrap();
    let org = user.org.unwrap();
    let project = accounts::create_project(db, clock, &org.id, &format!("{name} web"))
        .await
        .unwrap();
    let key = accounts::create_api_key(db, clock, &project.id, Some("test"), None, None)
        .await
        .unwrap();
    let token = accounts::create_token(db, clock, &email, None)
        .await
        .unwrap();
    Seed {
        email,
        user_id: user.user.id,
        org_id: org.id,
        project_id: project.id,
        key: key.key,
        key_id: key.id,
        token: token.token,
    }
}

impl TestDb {
    /// Seeds the database (see [`seed_db`]) and closes the connection, for a
    /// server process to open it next.
    pub async fn seed(&self, name: &str) -> Seed {
        let db = self.open().await;
        let seed = seed_db(&db, &Clock::default(), name).await;
        db.close().await;
        seed
    }
}

impl TestApp {
    pub async fn start(backend: Backend) -> TestApp {
        Self::start_with(backend, |_| {}).await
    }

    pub async fn start_with(backend: Backend, tweak: impl FnOnce(&mut ServeConfig)) -> TestApp {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("tcp address");
        let mut cfg = default_config();
        cfg.port = addr.port();
        tweak(&mut cfg);
        let mailer = Mailer::from_config(cfg.smtp_url.as_deref(), &cfg.email_from).expect("mailer");
        let db = TestDb::new(backend).await;
        let store = db.open().await;
        let state = telemetry_tracker::build_state(store, cfg, Clock::default(), mailer);
        tokio::spawn(telemetry_tracker::server::serve_on(
            listener,
            state.clone(),
            std::future::pending(),
        ));
        TestApp {
            base: format!("http://{addr}"),
            state,
            http: reqwest::Client::new(),
            db,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// A user (owner of a new organization) with a project, an API key and a token.
    pub async fn seed(&self, name: &str) -> Seed {
        seed_db(&self.state.db, &self.state.clock, name).await
    }

    pub async fn post_json(&self, path: &str, key: &str, body: &Value) -> reqwest::Response {
        self.http
            .post(self.url(path))
            .bearer_auth(key)
            .json(body)
            .send()
            .await
            .expect("request")
    }

    /// Sends an ingest request with `key` and expects it accepted (`204`); panics
    /// with the route and the answer otherwise.
    pub async fn ingest_ok(&self, path: &str, key: &str, body: &Value) {
        let res = self.post_json(path, key, body).await;
        let status = res.status().as_u16();
        if status != 204 {
            let answer = res.text().await.unwrap_or_default();
            panic!("POST {path}: expected 204, got {status}: {answer}");
        }
    }

    /// A request to the management API as `token`: status and JSON body (`null`
    /// when the answer has none).
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut req = self
            .http
            .request(method.parse().unwrap(), self.url(path))
            .bearer_auth(token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let res = req.send().await.expect("request");
        let status = res.status().as_u16();
        (status, res.json().await.unwrap_or(Value::Null))
    }

    /// GET on the read API as `seed`, expecting `200`: the JSON body. Panics with the
    /// URL, the status and the body otherwise, so that no assertion on the body can
    /// pass on an error answer.
    pub async fn read_ok(&self, seed: &Seed, path_and_query: &str) -> Value {
        let (status, body) = self.read(seed, path_and_query).await;
        assert_eq!(status, 200, "GET {path_and_query}: {body}");
        body
    }

    /// GET on the read API as `seed`, returning status and JSON body: for the checks
    /// of a refusal. Where success is expected, use `read_ok`.
    pub async fn read(&self, seed: &Seed, path_and_query: &str) -> (u16, Value) {
        let res = self
            .http
            .get(self.url(path_and_query))
            .bearer_auth(&seed.token)
            .header("X-Project-Id", &seed.project_id)
            .send()
            .await
            .expect("request");
        let status = res.status().as_u16();
        (status, res.json().await.unwrap_or(Value::Null))
    }
}

/// Declares each listed `async fn name(backend: Backend)` as two tests, one per backend.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::common::Backend::Sqlite).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::common::Backend::Postgres).await
                }
            )*
        }
    };
}

pub fn fixtures_dir() -> PathBuf {
    // The product fixtures live beside the repository (shared/), in CI and locally.
    let here = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    for candidate in [
        here.join("../shared/fixtures/sdk-wire"),
        here.join("tests/fixtures/sdk-wire"),
    ] {
        if candidate.is_dir() {
            return candidate;
        }
    }
    panic!("sdk-wire fixtures not found next to the repository");
}

/// One request of the SDK captures.
pub struct Captured {
    pub path: String,
    pub content_type: String,
    pub body: Value,
}

/// Every captured SDK request, with the file it came from, in file order.
pub fn captured_requests() -> Vec<(String, Captured)> {
    let mut files: Vec<_> = std::fs::read_dir(fixtures_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "jsonl"))
        .collect();
    files.sort();
    assert!(
        files.len() >= 10,
        "expected the SDK captures, found {files:?}"
    );
    let mut out = Vec::new();
    for file in files {
        let name = file.file_name().unwrap().to_string_lossy().to_string();
        for line in std::fs::read_to_string(&file)
            .unwrap()
            .lines()
            .filter(|l| !l.trim().is_empty())
        {
            let r: Value = serde_json::from_str(line).unwrap();
            assert_eq!(r["method"], "POST");
            out.push((
                name.clone(),
                Captured {
                    path: r["path"].as_str().unwrap().to_string(),
                    content_type: r["headers"]["content-type"]
                        .as_str()
                        .unwrap_or("application/json")
                        .to_string(),
                    body: r["body"].clone(),
                },
            ));
        }
    }
    out
}

impl TestApp {
    /// Sends every SDK capture with `key`, each answered 204.
    pub async fn replay_captures(&self, key: &str) {
        for (file, req) in captured_requests() {
            let res = self
                .http
                .post(self.url(&req.path))
                .header("content-type", &req.content_type)
                .header("authorization", format!("Bearer {key}"))
                .body(req.body.to_string())
                .send()
                .await
                .unwrap();
            assert_eq!(res.status().as_u16(), 204, "{file} {}", req.path);
        }
    }
}
