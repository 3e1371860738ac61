//! The official Sentry SDKs, live (issue 17, docs/SENTRY.md): `@sentry/node` and
//! Python `sentry-sdk` (pinned in tests/sentry/) run small programs against the test
//! server with the DSN our API hands out — captured exceptions and messages, an
//! unhandled rejection, a crashing process, request-mode sessions of an HTTP server —
//! and `@sentry/browser`, bundled with esbuild, sends from a page on another origin in
//! Chromium. Everything is read back through our API.
//!
//! `.ci/run` installs the SDKs: `npm ci --prefix tests/sentry` and a virtualenv in
//! tests/sentry/.venv from tests/sentry/requirements.txt.

mod common;

use common::browser::Browser;
use common::web::Web;
use common::{Backend, Seed, TestApp};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::time::Duration;

fn sdk_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/sentry")
}

fn installed(path: PathBuf, how: &str) -> PathBuf {
    assert!(
        path.exists(),
        "{} is missing; install the pinned SDKs first: {how} (.ci/run does)",
        path.display()
    );
    path
}

fn node_modules() -> PathBuf {
    installed(
        sdk_dir().join("node_modules/@sentry/node"),
        "npm ci --prefix tests/sentry",
    );
    sdk_dir().join("node_modules")
}

fn python() -> PathBuf {
    installed(
        sdk_dir().join(".venv/bin/python"),
        "python3 -m venv tests/sentry/.venv && tests/sentry/.venv/bin/pip install -r tests/sentry/requirements.txt",
    )
}

/// A server whose DSNs point at itself, a seeded project, and the DSN of its key as the
/// API lists it.
async fn start(backend: Backend, name: &str) -> (TestApp, Seed, String) {
    let app = TestApp::start_with(backend, |c| {
        c.public_url = Some(format!("http://127.0.0.1:{}", c.port))
    })
    .await;
    let seed = app.seed(name).await;
    let keys = app
        .read_ok(&seed, &format!("/api/projects/{}/keys", seed.project_id))
        .await;
    let keys = keys
        .as_array()
        .or(keys["items"].as_array())
        .unwrap()
        .clone();
    let key = keys
        .iter()
        .find(|k| k["id"] == seed.key_id.as_str())
        .unwrap_or_else(|| panic!("the seeded key is listed: {keys:?}"));
    let dsn = key["dsn"].as_str().expect("the key's DSN").to_string();
    (app, seed, dsn)
}

/// Runs `program script` with the DSN in `SENTRY_DSN`; answers its exit code, with its
/// output in the panic message if it does not finish within a minute.
async fn run(program: &Path, script: &str, dsn: &str) -> (i32, String) {
    let child = tokio::process::Command::new(program)
        .arg(sdk_dir().join(script))
        .env("SENTRY_DSN", dsn)
        .env("NODE_PATH", node_modules())
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(60), child)
        .await
        .unwrap_or_else(|_| panic!("{script} did not finish within a minute"))
        .unwrap_or_else(|e| panic!("start {}: {e}", program.display()));
    let output = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), output)
}

fn node() -> PathBuf {
    PathBuf::from("node")
}

/// The project's error groups by message.
async fn groups(app: &TestApp, seed: &Seed) -> Vec<Value> {
    app.read_ok(seed, "/api/errors?limit=100").await["items"]
        .as_array()
        .unwrap()
        .clone()
}

fn group<'a>(groups: &'a [Value], message: &str) -> &'a Value {
    groups
        .iter()
        .find(|g| g["message"] == message)
        .unwrap_or_else(|| panic!("a group {message:?} among {groups:#?}"))
}

/// The most recent occurrence of a group.
async fn occurrence(app: &TestApp, seed: &Seed, group: &Value) -> Value {
    let detail = app
        .read_ok(
            seed,
            &format!("/api/errors/{}", group["id"].as_str().unwrap()),
        )
        .await;
    detail["recent_occurrences"][0].clone()
}

async fn sessions_overview(app: &TestApp, seed: &Seed) -> (i64, i64, i64) {
    let o = app.read_ok(seed, "/api/overview?range=1d").await;
    let n = |f: &str| o[f].as_i64().unwrap_or_else(|| panic!("{f} in {o}"));
    (n("sessions"), n("errored_sessions"), n("crashed_sessions"))
}

async fn node_sdk_errors_crashes_and_request_sessions(backend: Backend) {
    let (app, seed, dsn) = start(backend, "nodesdk").await;

    let (code, out) = run(&node(), "node/errors.js", &dsn).await;
    assert_eq!(code, 0, "node/errors.js: {out}");
    let (code, out) = run(&node(), "node/crash.js", &dsn).await;
    assert_eq!(code, 1, "node/crash.js exits as crashed: {out}");
    assert!(out.contains("index rebuild ran out of pages"), "{out}");
    let (code, out) = run(&node(), "node/server.js", &dsn).await;
    assert_eq!(code, 0, "node/server.js: {out}");

    let all = groups(&app, &seed).await;
    assert_eq!(all.len(), 5, "{all:#?}");
    for g in &all {
        assert_eq!(g["last_release"], "shop-api@2.4.0", "{g}");
        assert_eq!(g["last_environment"], "live-test", "{g}");
        assert_eq!(g["last_platform"], "node", "{g}");
    }

    // captureException: type, message, frames from the SDK, scope data, the SDK.
    let caught = group(&all, "Cannot read properties of undefined (reading 'code')");
    assert_eq!(caught["error_type"], "TypeError");
    let occ = occurrence(&app, &seed, caught).await;
    assert_eq!(occ["user_id"], "node-user-1", "{occ}");
    assert_eq!(occ["context"]["tags"]["feature"], "checkout", "{occ}");
    assert!(
        occ["context"]["breadcrumbs"]
            .as_array()
            .unwrap()
            .iter()
            .any(|b| b["message"] == "added 3 items"),
        "{occ}"
    );
    assert_eq!(occ["context"]["sdk"]["name"], "sentry.javascript.node");
    assert_eq!(occ["context"]["sdk"]["version"], "11.12.0");
    let top = &occ["frames"][0];
    assert_eq!(top["function"], "applyDiscount", "{occ}");
    assert!(
        top["filename"]
            .as_str()
            .unwrap()
            .ends_with("node/errors.js"),
        "{top}"
    );
    assert!(
        top["sdk_source"]["context_line"]
            .as_str()
            .unwrap()
            .contains("cart.coupon.code"),
        "the source line the SDK sent: {top}"
    );

    // The user's feedback about it, on the error's detail and page.
    let detail = app
        .read_ok(
            &seed,
            &format!("/api/errors/{}", caught["id"].as_str().unwrap()),
        )
        .await;
    let feedback = &detail["feedback"][0]["properties"];
    assert_eq!(
        feedback["message"], "The discount code field ate my coupon",
        "{detail}"
    );
    assert_eq!(feedback["email"], "nora@example.com");
    assert_eq!(feedback["event_id"], occ["context"]["event_id"]);
    let web = Web::new(&app.base);
    web.log_in(&seed.email, "correct horse battery").await;
    let page = web
        .visit_ok(&format!("/errors/{}", caught["id"].as_str().unwrap()))
        .await;
    for shown in [
        "User feedback",
        "The discount code field ate my coupon",
        "Nora Node",
        "added 3 items",
        "cart.coupon.code.toUpperCase()",
        "sentry.javascript.node/11.12.0",
    ] {
        assert!(page.has(shown), "the error page shows {shown:?}");
    }

    // captureMessage at its level; the unhandled rejection and the crash unhandled.
    let message = group(&all, "payment provider answered slowly");
    let occ = occurrence(&app, &seed, message).await;
    assert_eq!(occ["context"]["level"], "warning", "{occ}");
    let rejection = group(&all, "profile service unreachable");
    let occ = occurrence(&app, &seed, rejection).await;
    assert_eq!(occ["unhandled"], true, "{occ}");
    let crash = group(&all, "index rebuild ran out of pages");
    assert_eq!(crash["error_type"], "RangeError");
    let occ = occurrence(&app, &seed, crash).await;
    assert_eq!(
        (occ["context"]["level"].as_str(), occ["unhandled"].as_bool()),
        (Some("fatal"), Some(true)),
        "{occ}"
    );
    assert_eq!(occ["user_id"], "node-user-2", "{occ}");
    group(&all, "order lookup failed for /fail/7");

    // Sessions: errors.js and crash.js each one crashed process session (an unhandled
    // rejection crashes a session too, as the SDK reports it); server.js five
    // request-mode sessions, one errored.
    let (total, errored, crashed) = sessions_overview(&app, &seed).await;
    assert_eq!((total, errored, crashed), (7, 3, 2));
    let listed = app.read_ok(&seed, "/api/sessions?range=1d&limit=100").await;
    let crashed_users: Vec<&str> = listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["crashed"] == true)
        .filter_map(|s| s["user_id"].as_str())
        .collect();
    assert!(
        crashed_users.contains(&"node-user-1") && crashed_users.contains(&"node-user-2"),
        "{listed}"
    );
}

async fn python_sdk_errors_request_sessions_and_an_uncaught_exception(backend: Backend) {
    let (app, seed, dsn) = start(backend, "pythonsdk").await;
    let (code, out) = run(&python(), "python/app.py", &dsn).await;
    assert_eq!(
        code, 1,
        "python/app.py ends with an uncaught exception: {out}"
    );

    let all = groups(&app, &seed).await;
    assert_eq!(all.len(), 4, "{all:#?}");
    for g in &all {
        assert_eq!(g["last_release"], "billing@5.0.1", "{g}");
        assert_eq!(g["last_platform"], "python", "{g}");
    }
    let caught = group(&all, "'lines'");
    assert_eq!(caught["error_type"], "KeyError");
    let occ = occurrence(&app, &seed, caught).await;
    assert_eq!(occ["user_id"], "py-user-1", "{occ}");
    assert_eq!(occ["unhandled"], false, "{occ}");
    assert_eq!(occ["context"]["tags"]["feature"], "invoices", "{occ}");
    assert_eq!(occ["context"]["sdk"]["name"], "sentry.python");
    assert_eq!(occ["context"]["sdk"]["version"], "2.75.0");
    let top = &occ["frames"][0];
    assert_eq!(top["function"], "total_of", "{occ}");
    assert_eq!(
        top["sdk_source"]["context_line"], "    return invoice[\"lines\"][\"total\"]",
        "the source line the SDK sent: {top}"
    );
    assert_eq!(top["mapped"], false);
    assert!(
        top["not_mapped_reason"]
            .as_str()
            .unwrap()
            .contains("no column"),
        "{top}"
    );
    assert!(
        occ["context"]["breadcrumbs"]
            .as_array()
            .unwrap()
            .iter()
            .any(|b| b["message"] == "rendering invoice 42"),
        "{occ}"
    );

    let message = group(&all, "invoice queue is backing up");
    assert_eq!(
        occurrence(&app, &seed, message).await["context"]["level"],
        "warning"
    );
    let request = group(&all, "invoice template missing for /fail/3");
    assert_eq!(request["error_type"], "ValueError");
    let uncaught = group(&all, "'ledger entry 17 vanished'");
    let occ = occurrence(&app, &seed, uncaught).await;
    assert_eq!(occ["unhandled"], true, "{occ}");

    // Four requests through the WSGI middleware, one failing unhandled (crashed).
    assert_eq!(sessions_overview(&app, &seed).await, (4, 1, 1));
}

/// Serves tests/sentry/browser/index.html and the esbuild bundle of its app.js on a
/// port of its own: the page's origin differs from the server's.
async fn serve_page(bundle: Vec<u8>) -> String {
    use poem::{endpoint::make_sync, get, web::Html, Route};
    let html = std::fs::read_to_string(sdk_dir().join("browser/index.html")).unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let routes = Route::new()
        .at("/", get(make_sync(move |_| Html(html.clone()))))
        .at(
            "/bundle.js",
            get(make_sync(move |_| {
                poem::Response::builder()
                    .content_type("text/javascript")
                    .body(bundle.clone())
            })),
        );
    listener.set_nonblocking(true).unwrap();
    let listener = tokio::net::TcpListener::from_std(listener).unwrap();
    tokio::spawn(async move {
        let _ = poem::Server::new_with_acceptor(
            poem::listener::TcpAcceptor::from_tokio(listener).unwrap(),
        )
        .run(routes)
        .await;
    });
    format!("http://localhost:{port}")
}

fn bundle() -> Vec<u8> {
    let esbuild = node_modules().join(".bin/esbuild");
    let out = tempfile::tempdir().unwrap();
    let file = out.path().join("bundle.js");
    let status = std::process::Command::new(esbuild)
        .current_dir(sdk_dir())
        .args([
            "browser/app.js",
            "--bundle",
            "--format=iife",
            "--log-level=warning",
        ])
        .arg(format!("--outfile={}", file.display()))
        .status()
        .expect("run esbuild");
    assert!(status.success(), "esbuild failed");
    std::fs::read(file).unwrap()
}

async fn browser_sdk_sends_cross_origin(backend: Backend) {
    let (app, seed, dsn) = start(backend, "browsersdk").await;
    let page = serve_page(bundle()).await;
    assert!(!page.starts_with(&app.url("")), "cross-origin");

    let b = Browser::start(1280).await;
    let mut url = reqwest::Url::parse(&page).unwrap();
    url.query_pairs_mut().append_pair("dsn", &dsn);
    b.goto(url.as_str()).await;
    b.wait_for_text("waiting").await;
    b.click("#send").await;
    // The SDK read every answer: our CORS headers let a page of another origin see them.
    b.wait_for_text("answers: 200 200 200.").await;

    // Answered only once stored: everything reads back at once.
    let all = groups(&app, &seed).await;
    assert_eq!(all.len(), 3, "{all:#?}");
    let caught = group(
        &all,
        "Cannot read properties of undefined (reading 'reduce')",
    );
    assert_eq!(caught["error_type"], "TypeError");
    assert_eq!(caught["last_release"], "storefront@7.3.0");
    assert_eq!(caught["last_platform"], "javascript");
    let occ = occurrence(&app, &seed, caught).await;
    assert_eq!(occ["user_id"], "browser-user-1", "{occ}");
    assert_eq!(occ["context"]["tags"]["feature"], "basket", "{occ}");
    assert_eq!(occ["context"]["sdk"]["name"], "sentry.javascript.browser");
    // No browser context in the event: both come from the User-Agent.
    assert_eq!(occ["device_browser"], "Chrome", "{occ}");
    assert_eq!(occ["device_os"], "Linux", "{occ}");
    let top = &occ["frames"][0];
    assert_eq!(top["function"], "basketTotal", "{occ}");
    assert_eq!(top["filename"], format!("{page}/bundle.js"), "{top}");

    let message = group(&all, "basket page rendered slowly");
    assert_eq!(
        occurrence(&app, &seed, message).await["context"]["level"],
        "warning"
    );
    let rejection = group(&all, "recommendations request failed");
    assert_eq!(occurrence(&app, &seed, rejection).await["unhandled"], true);

    // One page session, marked by the SDK after the unhandled rejection.
    let (total, errored, _) = sessions_overview(&app, &seed).await;
    assert_eq!((total, errored), (1, 1));
    let s = &app.read_ok(&seed, "/api/sessions?range=1d").await["items"][0];
    assert_eq!(s["user_id"], "browser-user-1", "{s}");
    assert_eq!(s["device_browser"], "Chrome", "{s}");
}

on_both_backends!(
    node_sdk_errors_crashes_and_request_sessions,
    python_sdk_errors_request_sessions_and_an_uncaught_exception,
    browser_sdk_sends_cross_origin,
);
