//! Every setting of `serve --help` (and the global database settings) does what it
//! says: the real binary is started with a non-default value and the effect is
//! observed from outside — over HTTP, on stderr, in the database or with the CLI —
//! usually beside a server with the default, so the difference is the setting's.
//!
//! Covered: HOST, PORT (every server here listens on the PORT it is given),
//! TELEMETRY_DASHBOARD_ORIGIN, DASHBOARD_ORIGIN and CORS_ORIGINS (trusted origins
//! of cookie-authenticated changes), TELEMETRY_ENV, TELEMETRY_ALLOW_REGISTRATION,
//! INGEST_ALLOW_UNAUTHENTICATED, TELEMETRY_PROJECT_ID,
//! TELEMETRY_ALLOW_UNAUTHENTICATED_READS, HEALTH_CHECK_DATABASE, SMTP_URL,
//! TELEMETRY_EMAIL_FROM, TELEMETRY_INSTANCE_ID, RETENTION_CRON,
//! TELEMETRY_RETENTION_DAYS, TELEMETRY_SESSION_IDLE_MINUTES (on the schedule and on
//! `retention run`), TELEMETRY_MAX_BODY_BYTES, TELEMETRY_API_MAX_BODY_BYTES,
//! TELEMETRY_HEADER_READ_TIMEOUT_SECS, TELEMETRY_BODY_READ_TIMEOUT_SECS,
//! TELEMETRY_KEEP_ALIVE_TIMEOUT_SECS, TELEMETRY_MAX_CONNECTIONS,
//! TELEMETRY_INGEST_QUEUE_CAPACITY, TELEMETRY_INGEST_QUEUE_MAX_MB,
//! TELEMETRY_INGEST_BATCH_MAX, TELEMETRY_INGEST_GROUP_MAX,
//! TELEMETRY_INGEST_GROUP_WAIT_MS, TRUST_PROXY, TRUSTED_PROXIES, RATE_LIMIT_AUTH_MAX,
//! RATE_LIMIT_API_MAX, RATE_LIMIT_INGEST_MAX, TELEMETRY_LOG_FORMAT;
//! TELEMETRY_DATA_DIR, DATABASE_URL, TELEMETRY_SQLITE_SYNCHRONOUS (fsyncs counted
//! with strace, skipped where strace is missing), DATABASE_MAX_CONNECTIONS,
//! DATABASE_MIN_CONNECTIONS, DATABASE_IDLE_TIMEOUT_SECS,
//! DATABASE_ACQUIRE_TIMEOUT_SECS, DATABASE_CONNECT_WAIT_SECS and DATABASE_PGBOUNCER
//! (PostgreSQL: these size, time and shape the PostgreSQL pool).
//!
//! Not covered, and why:
//! - DATABASE_ACQUIRE_TIMEOUT_SECS, DATABASE_MIN_CONNECTIONS and
//!   DATABASE_IDLE_TIMEOUT_SECS on SQLite: the SQLite pool waits at least its 10 s
//!   busy timeout and keeps at least one connection, and its connections are not
//!   visible from outside; they are checked on PostgreSQL.
//! - TELEMETRY_SESSION_IDLE_MINUTES on the every-minute idle-session job: up to a
//!   minute's wait; the same setting is observed through the retention run, which
//!   closes idle sessions with it too.
//! - SMTP_URL with `smtps://` or `?tls=required`: needs a TLS mail server.
//! - The TELEMETRY_DASHBOARD_ORIGIN in onboarding snippets: a dashboard page behind
//!   a login; the same value is checked in mailed links.
//!
//! Documented but not done (ignored tests below, to be enabled with the fix):
//! - DASHBOARD_ORIGIN / CORS_ORIGINS: `--help` says these origins may call /api
//!   cross-origin with credentials, but /api answers no CORS headers (a preflight
//!   is 405); the origins are only trusted by the CSRF check.
//! - DATABASE_PGBOUNCER: `--help` says no named prepared statements, but every
//!   query is still prepared as a named statement (`sqlx_s_N`); only the session
//!   parameter (work_mem) goes.

mod common;

use common::process::{cli_env, command, free_port, Server, BIN};
use common::smtp::SmtpSink;
use common::{Backend, TestApp, TestDb};
use serde_json::{json, Value};
use std::path::Path;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use telemetry_tracker::clock::Clock;
use telemetry_tracker::domain::timeutil::{DAY_MS, MINUTE_MS};
use telemetry_tracker::service::accounts;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// A project with an ingest key, and a read token of its owner.
struct Seeded {
    project_id: String,
    key: String,
    token: String,
}

/// Writes a user, an organization, a project, a key and a token into `db` (before
/// any server runs on it).
async fn seed(db: &TestDb) -> Seeded {
    let store = db.open().await;
    let clock = Clock::default();
    let email = "owner@example.com";
    let user = accounts::create_user(&store, &clock, email, "correct horse battery", Some("O"))
        .await
        .unwrap();
    let org = user.org.unwrap().id;
    let project = accounts::create_project(&store, &clock, &org, "web")
        .await
        .unwrap();
    let key = accounts::create_api_key(&store, &clock, &project.id, None, None, None)
        .await
        .unwrap();
    let token = accounts::create_token(&store, &clock, email, None)
        .await
        .unwrap();
    store.close().await;
    Seeded {
        project_id: project.id,
        key: key.key,
        token: token.token,
    }
}

/// A fresh, seeded database of `backend` and a server on it with `env`.
async fn seeded_server(backend: Backend, env: &[(&str, &str)]) -> (TestDb, Seeded, Server) {
    let db = TestDb::new(backend).await;
    let seeded = seed(&db).await;
    let server = Server::start(&db, env).await;
    (db, seeded, server)
}

/// A client of its own per request: the server closes connections whose body it
/// refused, and rate limits must not depend on connection reuse.
fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(15))
        .build()
        .unwrap()
}

/// GET expecting 200 and a JSON body.
async fn get_json(url: &str) -> Value {
    let res = http().get(url).send().await.unwrap();
    let status = res.status();
    let body: Value = res.json().await.unwrap_or(Value::Null);
    assert_eq!(status, 200, "{url}: {body}");
    body
}

async fn post_event(base: &str, key: Option<&str>, body: &Value) -> reqwest::Response {
    let mut req = http().post(format!("{base}/ingest/event")).json(body);
    if let Some(key) = key {
        req = req.bearer_auth(key);
    }
    req.send().await.unwrap()
}

async fn metrics(base: &str) -> String {
    let res = http().get(format!("{base}/metrics")).send().await.unwrap();
    assert_eq!(res.status(), 200, "/metrics");
    res.text().await.unwrap()
}

/// The value of the metric line that starts with `series ` (name and labels).
async fn metric(base: &str, series: &str) -> f64 {
    let text = metrics(base).await;
    let prefix = format!("{series} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .unwrap_or_else(|| panic!("no {series} in /metrics:\n{text}"))
        .trim()
        .parse()
        .unwrap()
}

/// Sends `bytes` on a fresh connection and reads until the server closes it or
/// `wait` passes: what came back, and how long the connection stayed open.
async fn probe(base: &str, bytes: &[u8], wait: Duration) -> (String, Duration) {
    let mut socket = TcpStream::connect(base.trim_start_matches("http://"))
        .await
        .unwrap();
    let started = Instant::now();
    socket.write_all(bytes).await.unwrap();
    let mut out = Vec::new();
    let _ = tokio::time::timeout(wait, socket.read_to_end(&mut out)).await;
    (
        String::from_utf8_lossy(&out).into_owned(),
        started.elapsed(),
    )
}

/// Runs `cmd` to its end (at most `within`): whether it succeeded, its stderr, and
/// how long it took.
async fn run_to_exit(cmd: std::process::Command, within: Duration) -> (bool, String, Duration) {
    let mut cmd = tokio::process::Command::from(cmd);
    cmd.stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let started = Instant::now();
    let out = tokio::time::timeout(within, cmd.output())
        .await
        .unwrap_or_else(|_| panic!("still running after {within:?}"))
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        started.elapsed(),
    )
}

/// The log a server wrote so far, without colours.
fn log_of(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap();
    let mut plain = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            chars.by_ref().find(|c| c.is_ascii_alphabetic());
        } else {
            plain.push(c);
        }
    }
    plain
}

// ---------------------------------------------------------------------------
// Logging and the retention schedule in the log
// ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn log_format_json_writes_one_object_per_line() {
    let (json_db, text_db) = (
        TestDb::new(Backend::Sqlite).await,
        TestDb::new(Backend::Sqlite).await,
    );
    let json_log = json_db.dir.path().join("serve.log");
    let text_log = text_db.dir.path().join("serve.log");
    let (_json, _text) = tokio::join!(
        Server::start_logged(
            &json_db,
            &[("TELEMETRY_LOG_FORMAT", "json"), ("RUST_LOG", "info")],
            &json_log,
        ),
        Server::start_logged(
            &text_db,
            &[("RETENTION_CRON", "off"), ("RUST_LOG", "info")],
            &text_log,
        ),
    );
    let json_lines: Vec<Value> = log_of(&json_log)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    assert!(json_lines.iter().all(Value::is_object));
    assert!(
        json_lines
            .iter()
            .any(|l| l["fields"]["message"] == "listening"),
        "{json_lines:?}"
    );
    // The default schedule is announced; `off` announces that there is none.
    assert!(
        json_lines
            .iter()
            .any(|l| l["fields"]["job"] == "retention" && l["fields"]["cron"] == "0 0 3 * * *"),
        "{json_lines:?}"
    );
    let text = log_of(&text_log);
    assert!(text.contains("listening"), "{text}");
    assert!(
        text.lines()
            .all(|l| serde_json::from_str::<Value>(l).is_err()),
        "the default format is text: {text}"
    );
    assert!(
        text.contains("RETENTION_CRON is off") && !text.contains("job=\"retention\""),
        "{text}"
    );
}

// ---------------------------------------------------------------------------
// Where the server listens
// ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn host_and_port_choose_the_listening_address() {
    let db = TestDb::new(Backend::Sqlite).await;
    let server = Server::start(&db, &[("HOST", "127.0.0.2")]).await;
    assert!(
        server.base.starts_with("http://127.0.0.2:"),
        "{}",
        server.base
    );
    let health = get_json(&format!("{}/health", server.base)).await;
    assert_eq!(health["ok"], true);
    let port = server.base.rsplit(':').next().unwrap();
    assert!(
        TcpStream::connect(format!("127.0.0.1:{port}"))
            .await
            .is_err(),
        "nothing listens on 127.0.0.1:{port}"
    );
}

// ---------------------------------------------------------------------------
// Request limits
// ---------------------------------------------------------------------------

/// `prefix` padded with spaces (still the same JSON) to exactly `len` bytes.
fn padded(prefix: &Value, len: usize) -> String {
    let text = prefix.to_string();
    assert!(text.len() <= len);
    format!("{text}{}", " ".repeat(len - text.len()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn body_limits_and_batch_size_are_the_configured_ones() {
    let (_db, s, server) = seeded_server(
        Backend::Sqlite,
        &[
            ("TELEMETRY_MAX_BODY_BYTES", "2048"),
            ("TELEMETRY_API_MAX_BODY_BYTES", "1536"),
            ("TELEMETRY_INGEST_BATCH_MAX", "3"),
        ],
    )
    .await;
    let event = json!({ "app": "web", "name": "padded" });
    let ingest = |len: usize| {
        http()
            .post(format!("{}/ingest/event", server.base))
            .bearer_auth(&s.key)
            .header("content-type", "application/json")
            .body(padded(&event, len))
            .send()
    };
    assert_eq!(ingest(2048).await.unwrap().status(), 204);
    assert_eq!(ingest(2049).await.unwrap().status(), 413);
    let login = json!({ "email": "nobody@example.com", "password": "not the password" });
    let api = |len: usize| {
        http()
            .post(format!("{}/api/auth/login", server.base))
            .header("content-type", "application/json")
            .body(padded(&login, len))
            .send()
    };
    assert_eq!(api(1536).await.unwrap().status(), 401);
    let res = api(1537).await.unwrap();
    assert_eq!(res.status(), 413);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["code"], "body_too_large", "{body}");
    // Ingest bodies between the two limits are ingest's business.
    assert_eq!(ingest(1800).await.unwrap().status(), 204);

    let batch = |n: usize| {
        let events: Vec<Value> = (0..n)
            .map(|_| json!({ "app": "web", "name": "b" }))
            .collect();
        http()
            .post(format!("{}/ingest/batch", server.base))
            .bearer_auth(&s.key)
            .json(&json!({ "events": events }))
            .send()
    };
    assert_eq!(batch(3).await.unwrap().status(), 204);
    let res = batch(4).await.unwrap();
    assert_eq!(res.status(), 400);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["details"]["field"], "events", "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("at most 3"),
        "{body}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_and_idle_connections_are_cut_at_the_configured_timeouts() {
    let db = TestDb::new(Backend::Sqlite).await;
    let server = Server::start(
        &db,
        &[
            ("TELEMETRY_HEADER_READ_TIMEOUT_SECS", "1"),
            ("TELEMETRY_BODY_READ_TIMEOUT_SECS", "1"),
            ("TELEMETRY_KEEP_ALIVE_TIMEOUT_SECS", "2"),
        ],
    )
    .await;
    let wait = Duration::from_secs(4);
    let ((head, head_open), (body, body_open), (idle, idle_open)) = tokio::join!(
        // Headers that never end (the default waits 10 s).
        probe(&server.base, b"GET /health HTTP/1.1\r\nHost: x\r\n", wait),
        // A body shorter than its length (the default waits 30 s).
        probe(
            &server.base,
            b"POST /api/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"a\":",
            wait,
        ),
        // One request, then silence (the default keeps it 60 s).
        probe(&server.base, b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n", wait),
    );
    let second = Duration::from_millis(900)..Duration::from_millis(2500);
    assert!(head.is_empty(), "{head}");
    assert!(second.contains(&head_open), "headers: open {head_open:?}");
    assert!(body.starts_with("HTTP/1.1 408"), "{body}");
    assert!(second.contains(&body_open), "body: open {body_open:?}");
    assert!(idle.starts_with("HTTP/1.1 200"), "{idle}");
    assert!(
        (Duration::from_millis(1800)..Duration::from_millis(3500)).contains(&idle_open),
        "keep-alive: open {idle_open:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_beyond_max_connections_wait_for_a_free_slot() {
    let db = TestDb::new(Backend::Sqlite).await;
    let log = db.dir.path().join("serve.log");
    let server = Server::start_logged(
        &db,
        &[
            ("TELEMETRY_MAX_CONNECTIONS", "2"),
            ("TELEMETRY_HEADER_READ_TIMEOUT_SECS", "1"),
        ],
        &log,
    )
    .await;
    let addr = server.base.trim_start_matches("http://").to_string();
    let _a = TcpStream::connect(&addr).await.unwrap();
    let _b = TcpStream::connect(&addr).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    // The third is accepted once the silent two are cut off, a second after they came.
    let (out, took) = probe(
        &server.base,
        b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        Duration::from_secs(5),
    )
    .await;
    assert!(out.starts_with("HTTP/1.1 200"), "{out}");
    assert!(
        took >= Duration::from_millis(600),
        "answered after {took:?}"
    );
    assert!(
        metric(
            &server.base,
            "telemetry_http_refused_total{reason=\"connection_limit\"}"
        )
        .await
            >= 1.0
    );
    let text = log_of(&log);
    assert!(
        text.contains("connection limit reached") && text.contains("max_connections=2"),
        "{text}"
    );
}

// ---------------------------------------------------------------------------
// Per-IP rate limits and forwarded addresses
// ---------------------------------------------------------------------------

/// Statuses of `GET path` sent once per `X-Forwarded-For` value.
async fn statuses(base: &str, path: &str, forwarded: &[&str]) -> Vec<u16> {
    let mut out = Vec::new();
    for xff in forwarded {
        let res = http()
            .get(format!("{base}{path}"))
            .header("x-forwarded-for", *xff)
            .send()
            .await
            .unwrap();
        out.push(res.status().as_u16());
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limits_count_per_family_and_per_client_address() {
    let dbs = [
        TestDb::new(Backend::Sqlite).await,
        TestDb::new(Backend::Sqlite).await,
        TestDb::new(Backend::Sqlite).await,
    ];
    let (limits, trusting, custom) = tokio::join!(
        Server::start(
            &dbs[0],
            &[
                ("RATE_LIMIT_AUTH_MAX", "2"),
                ("RATE_LIMIT_API_MAX", "3"),
                ("RATE_LIMIT_INGEST_MAX", "4"),
            ],
        ),
        Server::start(
            &dbs[1],
            &[("TRUST_PROXY", "true"), ("RATE_LIMIT_AUTH_MAX", "1")]
        ),
        Server::start(
            &dbs[2],
            &[
                ("TRUST_PROXY", "true"),
                ("TRUSTED_PROXIES", "127.0.0.0/8,10.0.0.0/8"),
                ("RATE_LIMIT_AUTH_MAX", "1"),
            ],
        ),
    );
    // Without TRUST_PROXY a forwarded address changes nothing: one client, and each
    // family has its own allowance.
    let xff = [
        "198.51.100.1",
        "198.51.100.2",
        "198.51.100.3",
        "198.51.100.4",
    ];
    assert_eq!(
        statuses(&limits.base, "/api/auth/registration", &xff[..3]).await,
        [200, 200, 429]
    );
    assert_eq!(
        statuses(&limits.base, "/api/orgs", &xff).await,
        [401, 401, 401, 429]
    );
    let mut ingest = Vec::new();
    for _ in 0..5 {
        let res = post_event(&limits.base, None, &json!({ "app": "w", "name": "n" })).await;
        if res.status() == 429 {
            assert!(res.headers().contains_key("retry-after"));
        }
        ingest.push(res.status().as_u16());
    }
    assert_eq!(ingest, [401, 401, 401, 401, 429]);

    // TRUST_PROXY: the loopback proxy's X-Forwarded-For names the client; an
    // address that is not a trusted proxy is the client itself.
    let path = "/api/auth/registration";
    assert_eq!(
        statuses(
            &trusting.base,
            path,
            &["198.51.100.1", "198.51.100.1", "198.51.100.2"]
        )
        .await,
        [200, 429, 200]
    );
    let behind_two = ["203.0.113.1, 10.1.2.3", "203.0.113.2, 10.1.2.3"];
    assert_eq!(
        statuses(&trusting.base, path, &behind_two).await,
        [200, 429],
        "10.1.2.3 is the client when it is not a trusted proxy"
    );
    // TRUSTED_PROXIES: with 10/8 trusted too, the clients behind it are told apart.
    assert_eq!(
        statuses(
            &custom.base,
            path,
            &[behind_two[0], behind_two[1], behind_two[0]]
        )
        .await,
        [200, 200, 429]
    );
}

// ---------------------------------------------------------------------------
// Accounts, mail and origins
// ---------------------------------------------------------------------------

/// Signs up on `base`: the status and the session cookie (`name=value`) with its
/// attributes.
async fn register(base: &str, email: &str) -> (u16, String) {
    let res = http()
        .post(format!("{base}/api/auth/register"))
        .json(&json!({ "email": email, "password": "correct horse battery" }))
        .send()
        .await
        .unwrap();
    let cookie = res
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .find(|c| c.starts_with("telemetry_session="))
        .unwrap_or_default();
    (res.status().as_u16(), cookie)
}

/// Creates an organization with the session `cookie`, the request coming from `origin`.
async fn create_org_from(base: &str, cookie: &str, origin: &str, name: &str) -> u16 {
    let pair = cookie.split(';').next().unwrap();
    http()
        .post(format!("{base}/api/orgs"))
        .header("cookie", pair)
        .header("origin", origin)
        .json(&json!({ "name": name }))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mail_registration_and_trusted_origins_follow_the_settings() {
    let sink = SmtpSink::start();
    let smtp = sink.url();
    let (set_db, default_db) = (
        TestDb::new(Backend::Sqlite).await,
        TestDb::new(Backend::Sqlite).await,
    );
    let settings = [
        ("SMTP_URL", smtp.as_str()),
        (
            "TELEMETRY_EMAIL_FROM",
            "Settings Check <settings@example.test>",
        ),
        (
            "TELEMETRY_DASHBOARD_ORIGIN",
            "https://telemetry.example.test",
        ),
        ("TELEMETRY_ALLOW_REGISTRATION", "true"),
        ("DASHBOARD_ORIGIN", "https://dash.example.test"),
        (
            "CORS_ORIGINS",
            "https://a.example.test,https://b.example.test",
        ),
    ];
    let (set, default) = tokio::join!(
        Server::start(&set_db, &settings),
        Server::start(&default_db, &[]),
    );
    let health = get_json(&format!("{}/health", set.base)).await;
    assert_eq!(health["email"], "configured", "{health}");
    let health = get_json(&format!("{}/health", default.base)).await;
    assert_eq!(health["email"], "not_configured", "{health}");

    // The first user always gets in; an https public URL makes the cookie Secure.
    let (status, set_cookie) = register(&set.base, "first@example.com").await;
    assert_eq!(status, 201);
    assert!(set_cookie.contains("Secure"), "{set_cookie}");
    let (status, default_cookie) = register(&default.base, "first@example.com").await;
    assert_eq!(status, 201);
    assert!(!default_cookie.contains("Secure"), "{default_cookie}");

    // Then sign-up stays open only with TELEMETRY_ALLOW_REGISTRATION.
    let open = get_json(&format!("{}/api/auth/registration", set.base)).await;
    assert_eq!(open["open"], true);
    let closed = get_json(&format!("{}/api/auth/registration", default.base)).await;
    assert_eq!(closed["open"], false);
    assert_eq!(register(&default.base, "second@example.com").await.0, 403);
    assert_eq!(register(&set.base, "second@example.com").await.0, 202);
    // The confirmation goes out over SMTP_URL, from TELEMETRY_EMAIL_FROM, with a link
    // to the public URL.
    let mail = sink.wait_for_to("second@example.com").await;
    assert!(
        mail.from().contains("settings@example.test"),
        "{}",
        mail.from()
    );
    assert!(
        mail.first_link("https://telemetry.example.test/signup/confirm?token=")
            .is_some(),
        "{:?}",
        mail.text_part()
    );

    // Cookie-authenticated changes are taken from the public URL's origin and the
    // configured dashboard and CORS origins, from nowhere else.
    let trusted = [
        "https://telemetry.example.test",
        "https://dash.example.test",
        "https://a.example.test",
        "https://b.example.test",
    ];
    for (i, origin) in trusted.iter().enumerate() {
        let name = format!("org {i}");
        let status = create_org_from(&set.base, &set_cookie, origin, &name).await;
        assert_eq!(status, 201, "{origin}");
        let status = create_org_from(&default.base, &default_cookie, origin, &name).await;
        assert_eq!(status, 403, "{origin} by default");
    }
    let status = create_org_from(&set.base, &set_cookie, "https://evil.example.test", "x").await;
    assert_eq!(status, 403);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cors_origins_may_call_the_api_cross_origin() {
    let db = TestDb::new(Backend::Sqlite).await;
    let server = Server::start(
        &db,
        &[
            ("DASHBOARD_ORIGIN", "https://dash.example.test"),
            ("CORS_ORIGINS", "https://a.example.test"),
        ],
    )
    .await;
    for origin in ["https://dash.example.test", "https://a.example.test"] {
        let res = http()
            .request(
                reqwest::Method::OPTIONS,
                format!("{}/api/orgs", server.base),
            )
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .send()
            .await
            .unwrap();
        assert!(res.status().is_success(), "preflight: {}", res.status());
        let h = res.headers();
        assert_eq!(h["access-control-allow-origin"], origin);
        assert_eq!(h["access-control-allow-credentials"], "true");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn development_switches_open_ingest_and_reads_without_credentials() {
    let db = TestDb::new(Backend::Sqlite).await;
    let s = seed(&db).await;
    let switches = [
        ("INGEST_ALLOW_UNAUTHENTICATED", "true"),
        ("TELEMETRY_PROJECT_ID", s.project_id.as_str()),
        ("TELEMETRY_ALLOW_UNAUTHENTICATED_READS", "true"),
        ("HEALTH_CHECK_DATABASE", "true"),
    ];
    let (open, default) = tokio::join!(Server::start(&db, &switches), Server::start(&db, &[]));
    let event = json!({ "app": "web", "name": "keyless" });
    assert_eq!(post_event(&open.base, None, &event).await.status(), 204);
    assert_eq!(
        post_event(&open.base, Some("tt_live_not_a_key"), &event)
            .await
            .status(),
        401,
        "a wrong key is still refused"
    );
    assert_eq!(post_event(&default.base, None, &event).await.status(), 401);

    let read = format!("/api/events?project_id={}", s.project_id);
    let res = http()
        .get(format!("{}{read}", open.base))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let events: Value = res.json().await.unwrap();
    assert_eq!(events["items"][0]["name"], "keyless", "{events}");
    let res = http()
        .get(format!("{}{read}", default.base))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);

    let health = get_json(&format!("{}/health", open.base)).await;
    assert!(health["database_latency_ms"].is_number(), "{health}");
    let health = get_json(&format!("{}/health", default.base)).await;
    assert!(health.get("database_latency_ms").is_none(), "{health}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn production_and_https_refuse_the_development_switches() {
    let db = TestDb::new(Backend::Sqlite).await;
    for (name, value) in [
        ("TELEMETRY_ENV", "production"),
        (
            "TELEMETRY_DASHBOARD_ORIGIN",
            "https://telemetry.example.test",
        ),
    ] {
        let mut cmd = command(&db);
        cmd.arg("serve")
            .env("PORT", free_port().to_string())
            .env("TELEMETRY_ALLOW_UNAUTHENTICATED_READS", "true")
            .env(name, value);
        let (ok, stderr, _) = run_to_exit(cmd, Duration::from_secs(10)).await;
        assert!(!ok, "{name}={value} started");
        assert!(
            stderr.contains("TELEMETRY_ALLOW_UNAUTHENTICATED_READS=true is for development only"),
            "{name}: {stderr}"
        );
    }
}

// ---------------------------------------------------------------------------
// Retention, the schedule and the instance name
// ---------------------------------------------------------------------------

/// Events three days old, and two open sessions last active 20 and 10 minutes ago.
async fn old_telemetry(app: &TestApp) -> common::Seed {
    let clock = &app.state.clock;
    clock.advance(-3 * DAY_MS);
    let seed = app.seed("aged").await;
    for name in ["a", "b", "c"] {
        let res = app
            .post_json(
                "/ingest/event",
                &seed.key,
                &json!({ "app": "web", "name": name }),
            )
            .await;
        assert_eq!(res.status(), 204);
    }
    for (minutes, id) in [(20, "idle-20"), (10, "idle-10")] {
        clock.advance(3 * DAY_MS - minutes * MINUTE_MS);
        let res = app
            .post_json(
                "/ingest/session",
                &seed.key,
                &json!({ "session_id": id, "app": "web" }),
            )
            .await;
        assert_eq!(res.status(), 204);
        clock.advance(-3 * DAY_MS + minutes * MINUTE_MS);
    }
    clock.advance(3 * DAY_MS);
    seed
}

fn retention_run(db: &TestDb, env: &[(&str, &str)], dry: bool) -> Value {
    let mut args = vec!["retention", "run"];
    if dry {
        args.push("--dry-run");
    }
    let (ok, report, stderr) = cli_env(db, env, &args, None);
    assert!(ok, "{stderr}");
    report
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_settings_apply_on_the_cli_and_on_the_schedule() {
    let app = TestApp::start(Backend::Sqlite).await;
    let seed = old_telemetry(&app).await;
    let db = &app.db;

    // `retention run`: what TELEMETRY_RETENTION_DAYS and
    // TELEMETRY_SESSION_IDLE_MINUTES say, against the defaults (90 days, 30 minutes).
    assert_eq!(retention_run(db, &[], true)["rows_deleted"], 0);
    let dry = retention_run(db, &[("TELEMETRY_RETENTION_DAYS", "2")], true);
    assert_eq!(dry["rows_deleted"], 3, "{dry}");
    let run = retention_run(db, &[], false);
    assert_eq!(
        (
            run["rows_deleted"].as_i64(),
            run["sessions_closed"].as_i64()
        ),
        (Some(0), Some(0)),
        "{run}"
    );
    let run = retention_run(db, &[("TELEMETRY_SESSION_IDLE_MINUTES", "15")], false);
    assert_eq!(
        (
            run["rows_deleted"].as_i64(),
            run["sessions_closed"].as_i64()
        ),
        (Some(0), Some(1)),
        "{run}"
    );

    // The schedule: every second, with the same settings and a name.
    let server = Server::start(
        db,
        &[
            ("RETENTION_CRON", "* * * * * *"),
            ("TELEMETRY_RETENTION_DAYS", "2"),
            ("TELEMETRY_SESSION_IDLE_MINUTES", "5"),
            ("TELEMETRY_INSTANCE_ID", "settings-check"),
        ],
    )
    .await;
    let read = |path: String| {
        let (base, token, project) = (&server.base, &seed.token, &seed.project_id);
        async move {
            let res = http()
                .get(format!("{base}{path}"))
                .bearer_auth(token)
                .header("x-project-id", project)
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), 200, "{path}");
            res.json::<Value>().await.unwrap()
        }
    };
    let deadline = Instant::now() + Duration::from_secs(6);
    loop {
        let events = read("/api/events?from=0".into()).await;
        let session = read("/api/sessions/idle-10?range=365d".into()).await;
        if events["items"].as_array().unwrap().is_empty()
            && !session["session"]["ended_at"].is_null()
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no scheduled retention run within 6 s: {events} {session}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let text = metrics(&server.base).await;
    assert!(
        text.contains(
            "telemetry_job_last_run_timestamp_seconds{job=\"retention\",instance=\"settings-check\"}"
        ),
        "{text}"
    );
}

// ---------------------------------------------------------------------------
// The ingest pipeline
// ---------------------------------------------------------------------------

/// Holds SQLite's write lock from outside the server, so its writer waits.
async fn hold_write_lock(db: &TestDb) -> sqlx::SqliteConnection {
    use sqlx::Connection;
    let file = db.data_dir().join("telemetry.db");
    let mut conn = sqlx::SqliteConnection::connect(&format!("sqlite://{}", file.display()))
        .await
        .unwrap();
    sqlx::query("BEGIN IMMEDIATE")
        .execute(&mut conn)
        .await
        .unwrap();
    conn
}

async fn release_write_lock(mut conn: sqlx::SqliteConnection) {
    sqlx::query("ROLLBACK").execute(&mut conn).await.unwrap();
}

/// A batch of `n` events whose properties make it about `n` × 2.5 KB in the queue.
fn heavy_batch(n: usize) -> Value {
    let props: serde_json::Map<String, Value> = (0..20)
        .map(|i| (format!("p{i:02}"), Value::String("v".repeat(100))))
        .collect();
    let events: Vec<Value> = (0..n)
        .map(|_| json!({ "app": "web", "name": "heavy", "properties": props }))
        .collect();
    json!({ "events": events })
}

async fn post_batch(base: &str, key: &str, body: &Value) -> reqwest::Response {
    http()
        .post(format!("{base}/ingest/batch"))
        .bearer_auth(key)
        .json(body)
        .send()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ingest_queue_is_bounded_by_count_and_by_size() {
    let (db, s, server) = seeded_server(
        Backend::Sqlite,
        &[
            ("TELEMETRY_INGEST_QUEUE_CAPACITY", "2"),
            ("TELEMETRY_INGEST_QUEUE_MAX_MB", "1"),
        ],
    )
    .await;
    let base = server.base.clone();
    let send_later = |body: Value| {
        let (base, key) = (base.clone(), s.key.clone());
        tokio::spawn(async move { post_batch(&base, &key, &body).await.status().as_u16() })
    };
    let pause = || tokio::time::sleep(Duration::from_millis(400));

    // Size: with ~600 KB waiting for the writer, another ~600 KB is refused.
    let half = heavy_batch(240);
    let lock = hold_write_lock(&db).await;
    let first = send_later(half.clone());
    pause().await;
    let res = post_batch(&base, &s.key, &half).await;
    assert_eq!(res.status(), 503);
    assert!(res.headers().contains_key("retry-after"));
    release_write_lock(lock).await;
    assert_eq!(first.await.unwrap(), 204);
    assert_eq!(post_batch(&base, &s.key, &half).await.status(), 204);

    // Count: one request in the writer's hands and two queued; the next is refused.
    let small = json!({ "events": [{ "app": "web", "name": "small" }] });
    let lock = hold_write_lock(&db).await;
    let first = send_later(small.clone());
    pause().await;
    let queued = [send_later(small.clone()), send_later(small.clone())];
    pause().await;
    let res = post_batch(&base, &s.key, &small).await;
    assert_eq!(res.status(), 503);
    release_write_lock(lock).await;
    assert_eq!(first.await.unwrap(), 204);
    for q in queued {
        assert_eq!(q.await.unwrap(), 204);
    }
    assert_eq!(
        metric(&base, "telemetry_ingest_refused_full_total").await,
        2.0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_commits_wait_and_fill_as_configured() {
    let (_db, s, server) = seeded_server(
        Backend::Sqlite,
        &[
            ("TELEMETRY_INGEST_GROUP_WAIT_MS", "1500"),
            ("TELEMETRY_INGEST_GROUP_MAX", "3"),
        ],
    )
    .await;
    let event = json!({ "app": "web", "name": "grouped" });
    // Alone, an event waits the whole TELEMETRY_INGEST_GROUP_WAIT_MS for company.
    let started = Instant::now();
    assert_eq!(
        post_event(&server.base, Some(s.key.as_str()), &event)
            .await
            .status(),
        204
    );
    let alone = started.elapsed();
    assert!(alone >= Duration::from_millis(1400), "alone: {alone:?}");
    // Six at once: two full groups of TELEMETRY_INGEST_GROUP_MAX, committed at once.
    let started = Instant::now();
    let sends = (0..6).map(|_| post_event(&server.base, Some(s.key.as_str()), &event));
    for res in futures_util::future::join_all(sends).await {
        assert_eq!(res.status(), 204);
    }
    let together = started.elapsed();
    assert!(together < Duration::from_millis(1400), "six: {together:?}");
    assert_eq!(
        metric(&server.base, "telemetry_ingest_commits_total").await,
        3.0
    );
    assert_eq!(
        metric(&server.base, "telemetry_ingest_committed_items_total").await,
        7.0
    );
}

// ---------------------------------------------------------------------------
// Storage settings
// ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_dir_and_database_url_choose_the_database() {
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str], env: &[(&str, String)]| {
        let out = std::process::Command::new(BIN)
            .current_dir(dir.path())
            .env_clear()
            .envs(env.iter().map(|(k, v)| (k, v)))
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice::<Value>(&out.stdout).unwrap()
    };
    let in_dir = |name: &str| dir.path().join(name);
    let env_dir = (
        "TELEMETRY_DATA_DIR",
        in_dir("from-env").display().to_string(),
    );
    run(&["--json", "migrate"], std::slice::from_ref(&env_dir));
    assert!(in_dir("from-env/telemetry.db").exists());
    // A flag wins over the variable.
    let flag = in_dir("from-flag").display().to_string();
    run(&["--json", "migrate", "--data-dir", &flag], &[env_dir]);
    assert!(in_dir("from-flag/telemetry.db").exists());
    let url = format!("sqlite://{}", in_dir("by-url.db").display());
    let check = run(&["--json", "check"], &[("DATABASE_URL", url)]);
    assert_eq!(check["database"], "sqlite", "{check}");
    assert!(in_dir("by-url.db").exists());
    assert!(!in_dir("data").exists(), "the default ./data was not used");
}

/// WAL fsyncs of a `serve` process while it commits 40 single events one by one,
/// or `None` where strace is not available.
async fn wal_fsyncs_for_40_commits(synchronous: &str) -> Option<usize> {
    let (db, s, server) = seeded_server(
        Backend::Sqlite,
        &[("TELEMETRY_SQLITE_SYNCHRONOUS", synchronous)],
    )
    .await;
    let trace = db.dir.path().join("fsync.trace");
    let mut strace = std::process::Command::new("strace")
        .args(["-f", "-y", "-e", "trace=fsync,fdatasync", "-o"])
        .arg(&trace)
        .args(["-p", &server.child.id().to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    if strace.try_wait().unwrap().is_some() {
        return None;
    }
    for i in 0..40 {
        let event = json!({ "app": "web", "name": format!("e{i}") });
        assert_eq!(
            post_event(&server.base, Some(s.key.as_str()), &event)
                .await
                .status(),
            204
        );
    }
    // SIGINT: strace detaches and leaves the server running.
    std::process::Command::new("kill")
        .args(["-INT", &strace.id().to_string()])
        .status()
        .unwrap();
    strace.wait().unwrap();
    let text = std::fs::read_to_string(&trace).unwrap();
    Some(
        text.lines()
            .filter(|l| l.contains("telemetry.db-wal>"))
            .count(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_synchronous_full_syncs_every_commit() {
    let (full, normal) = tokio::join!(
        wal_fsyncs_for_40_commits("full"),
        wal_fsyncs_for_40_commits("normal")
    );
    let (Some(full), Some(normal)) = (full, normal) else {
        eprintln!("strace is not available here: TELEMETRY_SQLITE_SYNCHRONOUS not checked");
        return;
    };
    assert!(full >= 40, "full: {full} WAL fsyncs for 40 commits");
    assert!(normal < 20, "normal: {normal} WAL fsyncs for 40 commits");
}

// ---------------------------------------------------------------------------
// The PostgreSQL pool
// ---------------------------------------------------------------------------

/// Connections the server holds to `db` (all but `except`, the test's own).
async fn server_connections(admin: &sqlx::PgPool, db: &TestDb, except: i32) -> i64 {
    let name = db.url.as_deref().unwrap().rsplit('/').next().unwrap();
    sqlx::query_scalar(
        "SELECT COUNT(*) FROM pg_stat_activity WHERE datname = $1 AND pid <> $2
         AND backend_type = 'client backend'",
    )
    .bind(name)
    .bind(except)
    .fetch_one(admin)
    .await
    .unwrap()
}

/// Waits (at most 6 s) until the server holds exactly `n` connections.
async fn settles_at(admin: &sqlx::PgPool, db: &TestDb, except: i32, n: i64) {
    let deadline = Instant::now() + Duration::from_secs(6);
    loop {
        let now = server_connections(admin, db, except).await;
        if now == n {
            return;
        }
        assert!(Instant::now() < deadline, "{now} connections, not {n}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_postgresql_pool_is_sized_and_timed_by_the_settings() {
    use sqlx::Connection;
    let (db, s, server) = seeded_server(
        Backend::Postgres,
        &[
            ("DATABASE_MAX_CONNECTIONS", "3"),
            ("DATABASE_MIN_CONNECTIONS", "2"),
            ("DATABASE_IDLE_TIMEOUT_SECS", "1"),
            ("DATABASE_ACQUIRE_TIMEOUT_SECS", "1"),
        ],
    )
    .await;
    let admin = sqlx::PgPool::connect(common::PG_ADMIN_URL).await.unwrap();
    let mut lock = sqlx::PgConnection::connect(db.url.as_deref().unwrap())
        .await
        .unwrap();
    let me: i32 = sqlx::query_scalar("SELECT pg_backend_pid()")
        .fetch_one(&mut lock)
        .await
        .unwrap();
    // Idle: the minimum stays open.
    settles_at(&admin, &db, me, 2).await;

    // Every token check waits behind a lock: three requests hold the three
    // connections, the others are answered 503 after the acquire timeout.
    sqlx::query("BEGIN").execute(&mut lock).await.unwrap();
    sqlx::query("LOCK TABLE personal_tokens IN ACCESS EXCLUSIVE MODE")
        .execute(&mut lock)
        .await
        .unwrap();
    let started = Instant::now();
    let requests: Vec<_> = (0..6)
        .map(|_| {
            let (url, token) = (format!("{}/api/orgs", server.base), s.token.clone());
            tokio::spawn(async move {
                let res = http().get(url).bearer_auth(token).send().await.unwrap();
                let retry = res.headers().contains_key("retry-after");
                (res.status().as_u16(), retry, started.elapsed())
            })
        })
        .collect();
    let mut most = 0;
    while started.elapsed() < Duration::from_millis(2500) {
        most = most.max(server_connections(&admin, &db, me).await);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    sqlx::query("COMMIT").execute(&mut lock).await.unwrap();
    let mut answers = Vec::new();
    for r in requests {
        answers.push(r.await.unwrap());
    }
    assert_eq!(most, 3, "connections at most: {most}");
    let refused: Vec<_> = answers.iter().filter(|a| a.0 == 503).collect();
    assert_eq!(refused.len(), 3, "{answers:?}");
    for (_, retry, after) in &refused {
        assert!(*retry, "{answers:?}");
        assert!(
            (Duration::from_millis(800)..Duration::from_millis(2500)).contains(after),
            "{answers:?}"
        );
    }
    assert_eq!(
        answers.iter().filter(|a| a.0 == 200).count(),
        3,
        "{answers:?}"
    );
    // Idle again: back to the minimum after the idle timeout.
    settles_at(&admin, &db, me, 2).await;
    lock.close().await.unwrap();
    admin.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_up_waits_for_postgresql_as_long_as_configured() {
    let db = TestDb::new(Backend::Sqlite).await;
    let closed = free_port();
    let mut cmd = command(&db);
    cmd.arg("serve")
        .env("PORT", free_port().to_string())
        .env(
            "DATABASE_URL",
            format!("postgres://postgres@127.0.0.1:{closed}/nothing"),
        )
        .env("DATABASE_CONNECT_WAIT_SECS", "2");
    let (ok, stderr, took) = run_to_exit(cmd, Duration::from_secs(20)).await;
    assert!(!ok);
    assert!(
        (Duration::from_secs(1)..Duration::from_secs(6)).contains(&took),
        "gave up after {took:?}"
    );
    assert!(stderr.contains("connection refused"), "{stderr}");
}

/// A TCP proxy in front of PostgreSQL keeping every byte clients send.
async fn recording_proxy() -> (u16, Arc<Mutex<Vec<u8>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let sent = Arc::new(Mutex::new(Vec::new()));
    let record = sent.clone();
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let record = record.clone();
            tokio::spawn(async move {
                let server = TcpStream::connect("127.0.0.1:5432").await.unwrap();
                let (mut from_client, mut to_client) = client.into_split();
                let (mut from_server, mut to_server) = server.into_split();
                let upstream = async {
                    let mut buf = vec![0u8; 16 * 1024];
                    while let Ok(n @ 1..) = from_client.read(&mut buf).await {
                        record.lock().unwrap().extend_from_slice(&buf[..n]);
                        if to_server.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                    }
                    let _ = to_server.shutdown().await;
                };
                let downstream = async {
                    let _ = tokio::io::copy(&mut from_server, &mut to_client).await;
                    let _ = to_client.shutdown().await;
                };
                tokio::join!(upstream, downstream);
            });
        }
    });
    (port, sent)
}

/// What a CLI command sends PostgreSQL through the proxy, with `pgbouncer` on or off.
async fn sent_to_postgresql(db: &TestDb, pgbouncer: &str) -> String {
    let (port, sent) = recording_proxy().await;
    let name = db.url.as_deref().unwrap().rsplit('/').next().unwrap();
    let url = format!("postgres://postgres@127.0.0.1:{port}/{name}?sslmode=disable");
    let env = [
        ("DATABASE_URL", url.as_str()),
        ("DATABASE_PGBOUNCER", pgbouncer),
    ];
    let db_ref = db;
    let (ok, _, stderr) = tokio::task::block_in_place(|| {
        cli_env(
            db_ref,
            &env,
            &["token", "create", "--email", "owner@example.com"],
            None,
        )
    });
    assert!(ok, "{stderr}");
    let bytes = sent.lock().unwrap().clone();
    String::from_utf8_lossy(&bytes).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pgbouncer_mode_sends_no_session_parameters() {
    let db = TestDb::new(Backend::Postgres).await;
    seed(&db).await;
    let direct = sent_to_postgresql(&db, "false").await;
    assert!(direct.contains("work_mem"), "the default sets work_mem");
    let bouncer = sent_to_postgresql(&db, "true").await;
    assert!(
        !bouncer.contains("work_mem"),
        "a session parameter behind PgBouncer"
    );
}
