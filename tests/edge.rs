//! The HTTP edge under hostile clients, over real sockets on both backends: body
//! limits (declared, lying, absent and chunked lengths), slow headers and bodies,
//! idle connections and the connection cap, NUL characters, long URLs and header
//! blocks, undeclared methods, security headers, forwarded addresses, and the
//! refusal counters in /metrics.

mod common;

use common::process::Server;
use common::{Backend, TestApp, TestDb};
use serde_json::{json, Value};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Sends raw bytes on a fresh connection and reads until the server closes it (or
/// `wait` passes); returns what came back and how long the connection stayed open.
async fn raw(base: &str, bytes: &[u8], wait: Duration) -> (String, Duration) {
    let addr = base.trim_start_matches("http://");
    let mut s = TcpStream::connect(addr).await.unwrap();
    let start = Instant::now();
    s.write_all(bytes).await.unwrap();
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout(wait.saturating_sub(start.elapsed()), s.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) | Err(_) => break,
            Ok(Ok(n)) => out.extend_from_slice(&buf[..n]),
        }
    }
    (String::from_utf8_lossy(&out).to_string(), start.elapsed())
}

fn json_of(response: &str) -> Value {
    let body = response.split("\r\n\r\n").nth(1).unwrap_or("");
    serde_json::from_str(body).unwrap_or(Value::Null)
}

async fn metric(app: &TestApp, reason: &str) -> u64 {
    // A client of its own: the shared one may hold a connection the server closed
    // after refusing a body.
    let res = reqwest::Client::new()
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let text = res.text().await.unwrap();
    let needle = format!("telemetry_http_refused_total{{reason=\"{reason}\"}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&needle))
        .unwrap_or_else(|| panic!("no {needle} in /metrics"))
        .trim()
        .parse()
        .unwrap()
}

async fn bodies_beyond_the_limit_are_refused_while_reading(backend: Backend) {
    let app = TestApp::start_with(backend, |c| c.api_max_body_bytes = 64 * 1024).await;
    let big = vec![b'x'; 200 * 1024];
    // A fresh client per request: the server closes a connection whose body it
    // refused unread.
    let http = reqwest::Client::new;
    // Declared too large: refused without reading.
    let res = http()
        .post(app.url("/api/auth/login"))
        .header("content-type", "application/json")
        .body(big.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 413);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["code"], "body_too_large");
    assert!(body["error"].as_str().unwrap().contains("65536"));
    // No length, chunked: refused once the limit is passed.
    let mut chunked =
        b"POST /api/orgs HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    for _ in 0..50 {
        chunked.extend_from_slice(b"2000\r\n");
        chunked.extend_from_slice(&[b' '; 0x2000]);
        chunked.extend_from_slice(b"\r\n");
    }
    chunked.extend_from_slice(b"0\r\n\r\n");
    let (out, _) = raw(&app.base, &chunked, Duration::from_secs(5)).await;
    assert!(out.starts_with("HTTP/1.1 413"), "{out:.200}");
    // A lying length (smaller than what is sent) cannot smuggle more in: the rest is
    // a second, malformed request on the same connection.
    let lying = format!(
        "POST /api/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 10\r\n\r\n{}",
        "y".repeat(100_000)
    );
    let (out, _) = raw(&app.base, lying.as_bytes(), Duration::from_secs(5)).await;
    assert!(out.starts_with("HTTP/1.1 400"), "{out:.200}");
    // Dashboard forms: an error page.
    let res = http()
        .post(app.url("/login"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(big)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 413);
    assert!(res.text().await.unwrap().contains("larger than"));
    assert!(metric(&app, "too_large").await >= 2);
}

/// Peak resident memory of a process, in KiB.
fn peak_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .unwrap()
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .unwrap()
}

async fn huge_bodies_do_not_grow_memory(backend: Backend) {
    let db = TestDb::new(backend).await;
    let server = Server::start(&db, &[]).await;
    let pid = server.child.id();
    let before = peak_rss_kib(pid);
    let addr = server.base.trim_start_matches("http://").to_string();
    let mut tasks = Vec::new();
    for i in 0..20 {
        let addr = addr.clone();
        tasks.push(tokio::spawn(async move {
            let mut s = TcpStream::connect(&addr).await.unwrap();
            let head = if i % 2 == 0 {
                "POST /api/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 52428800\r\n\r\n".to_string()
            } else {
                "POST /login HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nTransfer-Encoding: chunked\r\n\r\n".to_string()
            };
            s.write_all(head.as_bytes()).await.unwrap();
            let chunk = vec![b'a'; 64 * 1024];
            let framed = if i % 2 == 0 {
                chunk.clone()
            } else {
                [format!("{:x}\r\n", chunk.len()).into_bytes(), chunk.clone(), b"\r\n".to_vec()].concat()
            };
            // Up to 50 MB, until the server gives up on the connection.
            for _ in 0..800 {
                if s.write_all(&framed).await.is_err() {
                    break;
                }
            }
            let mut out = Vec::new();
            let _ = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut out)).await;
            String::from_utf8_lossy(&out).to_string()
        }));
    }
    for t in tasks {
        let out = t.await.unwrap();
        assert!(
            out.is_empty() || out.starts_with("HTTP/1.1 413"),
            "{out:.200}"
        );
    }
    let grown = peak_rss_kib(pid).saturating_sub(before);
    eprintln!("peak RSS grew by {grown} KiB while refusing 20 bodies of 50 MB");
    assert!(grown < 20 * 1024, "peak RSS grew by {grown} KiB");
    // Still serving.
    let res = reqwest::get(format!("{}/health", server.base))
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
}

async fn slow_clients_are_cut_off(backend: Backend) {
    let app = TestApp::start_with(backend, |c| {
        c.header_read_timeout_secs = 1;
        c.body_read_timeout_secs = 1;
        c.keep_alive_timeout_secs = 1;
    })
    .await;
    // Headers that never finish: closed.
    let (out, open) = raw(
        &app.base,
        b"GET /health HTTP/1.1\r\nHost: x\r\n",
        Duration::from_secs(10),
    )
    .await;
    assert!(out.is_empty(), "{out}");
    assert!(open < Duration::from_secs(4), "open for {open:?}");
    // A body shorter than its length: 408 with a JSON body, then closed.
    for path in ["/api/auth/login", "/ingest/event"] {
        let req = format!(
            "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"a\":"
        );
        let (out, open) = raw(&app.base, req.as_bytes(), Duration::from_secs(10)).await;
        assert!(out.starts_with("HTTP/1.1 408"), "{path}: {out}");
        assert!(
            json_of(&out)["error"]
                .as_str()
                .unwrap()
                .contains("did not arrive"),
            "{out}"
        );
        assert!(open < Duration::from_secs(4), "open for {open:?}");
    }
    // An idle keep-alive connection: closed after its request.
    let (out, open) = raw(
        &app.base,
        b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n",
        Duration::from_secs(10),
    )
    .await;
    assert!(out.starts_with("HTTP/1.1 200"), "{out}");
    assert!(open < Duration::from_secs(4), "open for {open:?}");
    assert!(metric(&app, "header_timeout").await >= 1);
    assert!(metric(&app, "body_timeout").await >= 2);
}

async fn connections_beyond_the_cap_wait(backend: Backend) {
    let app = TestApp::start_with(backend, |c| {
        c.max_connections = 2;
        c.header_read_timeout_secs = 2;
        c.keep_alive_timeout_secs = 2;
    })
    .await;
    let addr = app.base.trim_start_matches("http://").to_string();
    let _a = TcpStream::connect(&addr).await.unwrap();
    let _b = TcpStream::connect(&addr).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    // The third waits in the backlog until one of the idle two is closed.
    let start = Instant::now();
    let (out, _) = raw(
        &app.base,
        b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        Duration::from_secs(10),
    )
    .await;
    assert!(out.starts_with("HTTP/1.1 200"), "{out}");
    assert!(
        start.elapsed() >= Duration::from_millis(1500),
        "{:?}",
        start.elapsed()
    );
    assert!(metric(&app, "connection_limit").await >= 1);
}

async fn nul_characters_are_refused_by_name(backend: Backend) {
    let app = TestApp::start(backend).await;
    let seed = app.seed("nul").await;
    let post = |path: &str, body: Value| {
        app.http
            .post(app.url(path))
            .bearer_auth(&seed.token)
            .json(&body)
            .send()
    };
    let cases: Vec<(String, Value, &str)> = vec![
        (
            "/api/auth/login".into(),
            json!({"email": "a\u{0}@x.com", "password": "x"}),
            "email",
        ),
        ("/api/orgs".into(), json!({"name": "Ac\u{0}me"}), "name"),
        (
            format!("/api/orgs/{}/projects", seed.org_id),
            json!({"name": "p\u{0}"}),
            "name",
        ),
        (
            format!("/api/projects/{}/keys", seed.project_id),
            json!({"label": "k\u{0}"}),
            "label",
        ),
        (
            format!("/api/orgs/{}/invites", seed.org_id),
            json!({"email": "b\u{0}@x.com", "role": "VIEWER"}),
            "email",
        ),
        ("/api/tokens".into(), json!({"name": "t\u{0}"}), "name"),
        (
            "/api/notifications/read".into(),
            json!({"ids": ["ok", "n\u{0}"]}),
            "ids[1]",
        ),
        (
            "/api/auth/forgot-password".into(),
            json!({"email": "\u{0}"}),
            "email",
        ),
    ];
    for (path, body, field) in cases {
        let res = post(&path, body).await.unwrap();
        assert_eq!(res.status(), 400, "{path}");
        let b: Value = res.json().await.unwrap();
        assert_eq!(b["details"]["field"], field, "{path}: {b}");
        assert!(b["error"].as_str().unwrap().contains("NUL"), "{b}");
    }
    // Ids in paths and query parameters.
    for path in [
        "/api/errors/abc%00def".to_string(),
        format!("/api/orgs/{}%00", seed.org_id),
        "/api/events?name=a%00b".to_string(),
    ] {
        let res = app
            .http
            .get(app.url(&path))
            .bearer_auth(&seed.token)
            .header("X-Project-Id", &seed.project_id)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 400, "{path}");
        let b: Value = res.json().await.unwrap();
        assert!(b["details"]["field"].is_string(), "{path}: {b}");
    }
    // Dashboard forms: an error page naming the field.
    let res = app
        .http
        .post(app.url("/login"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("email=a%00b&password=x&csrf=y")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    assert!(res.text().await.unwrap().contains("email"));
    // Nothing of it was stored.
    let res = app
        .http
        .get(app.url("/api/orgs"))
        .bearer_auth(&seed.token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let orgs: Value = res.json().await.unwrap();
    assert_eq!(orgs.as_array().unwrap().len(), 1, "{orgs}");
    assert!(metric(&app, "bad_request").await >= 10);
}

async fn edges_of_the_http_stack_answer_in_json(backend: Backend) {
    let app = TestApp::start(backend).await;
    // An undeclared method: 405 with Allow.
    let res = app
        .http
        .request("TRACE".parse().unwrap(), app.url("/api/auth/login"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 405);
    assert_eq!(res.headers()["allow"], "POST");
    let res = app
        .http
        .request("PUT".parse().unwrap(), app.url("/api/orgs"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 405);
    assert_eq!(res.headers()["allow"], "GET, POST, HEAD");
    let res = app
        .http
        .request("DELETE".parse().unwrap(), app.url("/login"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 405);
    assert_eq!(res.headers()["allow"], "GET, HEAD, POST");
    // Authentication comes before the body's content type.
    let res = app.http.post(app.url("/api/tokens")).send().await.unwrap();
    assert_eq!(res.status(), 401);
    // Over-long URL and header block.
    let res = app
        .http
        .get(app.url(&format!("/api/errors?q={}", "a".repeat(10_000))))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 414);
    assert!(res.json::<Value>().await.unwrap()["error"].is_string());
    let res = app
        .http
        .get(app.url("/api/auth/me"))
        .header("x-padding", "b".repeat(40_000))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 431);
    assert!(res.json::<Value>().await.unwrap()["error"].is_string());
    assert!(metric(&app, "too_long").await >= 2);
}

async fn every_response_carries_security_headers(backend: Backend) {
    let app = TestApp::start(backend).await;
    for path in [
        "/api/docs",
        "/api/auth/me",
        "/health",
        "/metrics",
        "/login",
        "/api/openapi.json",
    ] {
        let res = app.http.get(app.url(path)).send().await.unwrap();
        let h = res.headers();
        assert_eq!(h["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(h["x-frame-options"], "DENY", "{path}");
        let csp = h["content-security-policy"].to_str().unwrap();
        assert!(csp.contains("frame-ancestors 'none'"), "{path}: {csp}");
    }
}

async fn forwarded_addresses_come_from_trusted_proxies_only(backend: Backend) {
    let app = TestApp::start_with(backend, |c| {
        c.trust_proxy = true;
        c.rate_limit_auth_max = 3;
    })
    .await;
    // The proxy (loopback, trusted by default) appends the client it saw; whatever
    // the client put in front changes nothing.
    let mut statuses = Vec::new();
    for i in 0..5 {
        let res = app
            .http
            .get(app.url("/api/auth/registration"))
            .header("x-forwarded-for", format!("198.51.100.{i}, 203.0.113.9"))
            .send()
            .await
            .unwrap();
        statuses.push(res.status().as_u16());
    }
    assert_eq!(statuses, [200, 200, 200, 429, 429]);
    // Another client behind the same proxy has its own allowance.
    let res = app
        .http
        .get(app.url("/api/auth/registration"))
        .header("x-forwarded-for", "203.0.113.10")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
}

on_both_backends!(
    bodies_beyond_the_limit_are_refused_while_reading,
    huge_bodies_do_not_grow_memory,
    slow_clients_are_cut_off,
    connections_beyond_the_cap_wait,
    nul_characters_are_refused_by_name,
    edges_of_the_http_stack_answer_in_json,
    every_response_carries_security_headers,
    forwarded_addresses_come_from_trusted_proxies_only,
);
