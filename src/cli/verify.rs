//! `verify URL`: the checks to run after a deploy, against the server as its users
//! reach it — `/health` green with the expected version and its database, ingest
//! and the API refusing callers without credentials, the dashboard sending a
//! logged-out visitor to the login page, the TLS certificate valid for 14 more days,
//! the OpenAPI document served; with a key, a test event accepted, and with a
//! token as well, read back. A checklist on stdout, `--json` for scripts, and a
//! non-zero exit when anything failed.

use super::Output;
use clap::Args;
use serde_json::{json, Value};
use std::time::Duration;

/// A certificate expiring sooner than this fails the check.
const CERT_MARGIN_DAYS: i64 = 14;
/// How long the test event may take to become readable.
const READ_BACK_WAIT: Duration = Duration::from_secs(10);
const EVENT_NAME: &str = "telemetry_tracker.verify";

#[derive(Args)]
pub struct VerifyArgs {
    /// The server's public base URL, e.g. https://telemetry.example.com.
    pub url: String,

    /// A project API key: also send a test event (name `telemetry_tracker.verify`,
    /// app `verify`).
    #[arg(long, env = "TELEMETRY_VERIFY_KEY", hide_env_values = true)]
    pub key: Option<String>,

    /// A personal access token: with --key, also read the test event back.
    #[arg(long, env = "TELEMETRY_VERIFY_TOKEN", hide_env_values = true)]
    pub token: Option<String>,

    /// The version /health must report (default: this binary's own).
    #[arg(long)]
    pub expect_version: Option<String>,

    /// Seconds each request may take.
    #[arg(long, default_value_t = 10)]
    pub timeout_secs: u64,
}

struct Check {
    name: &'static str,
    ok: bool,
    detail: String,
}

fn pass(name: &'static str, detail: impl Into<String>) -> Check {
    Check {
        name,
        ok: true,
        detail: detail.into(),
    }
}

fn fail(name: &'static str, detail: impl Into<String>) -> Check {
    Check {
        name,
        ok: false,
        detail: detail.into(),
    }
}

pub async fn verify(args: VerifyArgs) -> anyhow::Result<Output> {
    let base = args.url.trim().trim_end_matches('/').to_string();
    if !(base.starts_with("http://") || base.starts_with("https://")) {
        anyhow::bail!("the URL must start with http:// or https:// (got {base:?})");
    }
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(args.timeout_secs.max(1)))
        .redirect(reqwest::redirect::Policy::none())
        .tls_info(true)
        .user_agent(concat!(
            "telemetry-tracker-verify/",
            env!("CARGO_PKG_VERSION")
        ))
        .build()?;
    let expected = args
        .expect_version
        .clone()
        .unwrap_or_else(|| env!("CARGO_PKG_VERSION").to_string());
    let mut checks = vec![health(&http, &base, &expected).await];
    if base.starts_with("https://") {
        checks.push(certificate(&http, &base).await);
    }
    checks.push(refused_without_credentials(&http, &base).await);
    checks.push(api_needs_auth(&http, &base).await);
    checks.push(dashboard_redirects(&http, &base).await);
    checks.push(openapi(&http, &base).await);
    if let Some(key) = &args.key {
        let marker = uuid::Uuid::new_v4().to_string();
        let sent = send_event(&http, &base, key, &marker).await;
        let sent_ok = sent.ok;
        checks.push(sent);
        if let (Some(token), true) = (&args.token, sent_ok) {
            checks.push(read_back(&http, &base, token, &marker).await);
        }
    }
    let ok = checks.iter().all(|c| c.ok);
    let text = checks
        .iter()
        .map(|c| {
            format!(
                "{} {:<22} {}",
                if c.ok { "✓" } else { "✗" },
                c.name,
                c.detail
            )
        })
        .chain(std::iter::once(if ok {
            format!("all {} checks passed for {base}", checks.len())
        } else {
            format!(
                "{} of {} checks failed for {base}",
                checks.iter().filter(|c| !c.ok).count(),
                checks.len()
            )
        }))
        .collect::<Vec<_>>()
        .join("\n");
    let json = json!({
        "ok": ok,
        "url": base,
        "checks": checks.iter().map(|c| json!({ "name": c.name, "ok": c.ok, "detail": c.detail })).collect::<Vec<_>>(),
    });
    let mut out = Output::new(json, text);
    out.failed = !ok;
    Ok(out)
}

fn unreachable(e: &reqwest::Error) -> String {
    let what = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "cannot connect"
    } else {
        "request failed"
    };
    format!("{what}: {}", root_cause(e))
}

/// The innermost cause of a failed request (a refused connection, a certificate
/// problem), without the URL.
fn root_cause(e: &reqwest::Error) -> String {
    let mut cause: Option<&dyn std::error::Error> = std::error::Error::source(e);
    let mut text = String::from("no answer");
    while let Some(c) = cause {
        text = c.to_string();
        cause = c.source();
    }
    text
}

async fn health(http: &reqwest::Client, base: &str, expected: &str) -> Check {
    const NAME: &str = "health";
    let res = match http.get(format!("{base}/health")).send().await {
        Ok(r) => r,
        Err(e) => return fail(NAME, unreachable(&e)),
    };
    let status = res.status().as_u16();
    let body: Value = res.json().await.unwrap_or(Value::Null);
    let version = body["version"].as_str().unwrap_or("?");
    let database = body["database"].as_str().unwrap_or("?");
    if status != 200 || body["ok"] != true {
        let reason = body["reason"].as_str().unwrap_or("");
        return fail(
            NAME,
            format!("/health answered {status} (database {database}) {reason}")
                .trim_end()
                .to_string(),
        );
    }
    if version != expected {
        return fail(NAME, format!("version {version}, expected {expected}"));
    }
    if database == "error" {
        return fail(NAME, "the database is in error");
    }
    pass(NAME, format!("ok, version {version}, database {database}"))
}

async fn certificate(http: &reqwest::Client, base: &str) -> Check {
    const NAME: &str = "tls certificate";
    let res = match http.get(format!("{base}/health")).send().await {
        Ok(r) => r,
        Err(e) => {
            return fail(
                NAME,
                format!("not trusted or not reachable: {}", root_cause(&e)),
            )
        }
    };
    let Some(der) = res
        .extensions()
        .get::<reqwest::tls::TlsInfo>()
        .and_then(|i| i.peer_certificate())
    else {
        return fail(NAME, "the server sent no certificate");
    };
    let not_after = match x509_parser::parse_x509_certificate(der) {
        Ok((_, cert)) => cert.validity().not_after.timestamp(),
        Err(e) => return fail(NAME, format!("the certificate cannot be read: {e}")),
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let days = (not_after - now) / 86_400;
    let until = crate::domain::timeutil::format_rfc3339_ms(not_after * 1000);
    if days < CERT_MARGIN_DAYS {
        fail(NAME, format!("expires in {days} days ({until}); renew it"))
    } else {
        pass(
            NAME,
            format!("trusted, valid for {days} more days ({until})"),
        )
    }
}

async fn refused_without_credentials(http: &reqwest::Client, base: &str) -> Check {
    const NAME: &str = "ingest needs a key";
    let sent = http
        .post(format!("{base}/ingest/event"))
        .json(&json!({ "app": "verify", "name": EVENT_NAME }))
        .send()
        .await;
    match sent {
        Ok(r) if r.status() == 401 => pass(NAME, "POST /ingest/event without a key: 401"),
        Ok(r) => fail(
            NAME,
            format!(
                "POST /ingest/event without a key answered {}, not 401",
                r.status().as_u16()
            ),
        ),
        Err(e) => fail(NAME, unreachable(&e)),
    }
}

async fn api_needs_auth(http: &reqwest::Client, base: &str) -> Check {
    const NAME: &str = "api needs auth";
    match http.get(format!("{base}/api/errors")).send().await {
        Ok(r) if r.status() == 401 => pass(NAME, "GET /api/errors without credentials: 401"),
        Ok(r) => fail(
            NAME,
            format!(
                "GET /api/errors without credentials answered {}, not 401",
                r.status().as_u16()
            ),
        ),
        Err(e) => fail(NAME, unreachable(&e)),
    }
}

async fn dashboard_redirects(http: &reqwest::Client, base: &str) -> Check {
    const NAME: &str = "dashboard login";
    let res = match http.get(format!("{base}/")).send().await {
        Ok(r) => r,
        Err(e) => return fail(NAME, unreachable(&e)),
    };
    let location = res
        .headers()
        .get("location")
        .and_then(|l| l.to_str().ok())
        .unwrap_or("");
    if res.status().is_redirection() && location.contains("/login") {
        pass(NAME, format!("a logged-out visitor is sent to {location}"))
    } else {
        fail(
            NAME,
            format!(
                "GET / answered {} (location {location:?}), not a redirect to /login",
                res.status().as_u16()
            ),
        )
    }
}

async fn openapi(http: &reqwest::Client, base: &str) -> Check {
    const NAME: &str = "openapi";
    let res = match http.get(format!("{base}/api/openapi.json")).send().await {
        Ok(r) => r,
        Err(e) => return fail(NAME, unreachable(&e)),
    };
    let status = res.status().as_u16();
    let spec: Value = res.json().await.unwrap_or(Value::Null);
    match spec["openapi"].as_str() {
        Some(v) if status == 200 => pass(NAME, format!("/api/openapi.json served (OpenAPI {v})")),
        _ => fail(
            NAME,
            format!("/api/openapi.json answered {status} without an OpenAPI document"),
        ),
    }
}

async fn send_event(http: &reqwest::Client, base: &str, key: &str, marker: &str) -> Check {
    const NAME: &str = "test event";
    let sent = http
        .post(format!("{base}/ingest/event"))
        .bearer_auth(key)
        .json(&json!({
            "app": "verify",
            "name": EVENT_NAME,
            "session_id": format!("verify-{marker}"),
            "properties": { "verify_id": marker },
        }))
        .send()
        .await;
    match sent {
        Ok(r) if r.status() == 204 => pass(NAME, "accepted (204)"),
        Ok(r) => {
            let status = r.status().as_u16();
            let body: Value = r.json().await.unwrap_or(Value::Null);
            let why = body["error"].as_str().unwrap_or("");
            fail(
                NAME,
                format!("refused with {status} {why}")
                    .trim_end()
                    .to_string(),
            )
        }
        Err(e) => fail(NAME, unreachable(&e)),
    }
}

/// The test event, found in one of the token's projects.
async fn read_back(http: &reqwest::Client, base: &str, token: &str, marker: &str) -> Check {
    const NAME: &str = "read back";
    let get = |path: String, project: Option<String>| {
        let mut req = http.get(format!("{base}{path}")).bearer_auth(token);
        if let Some(p) = project {
            req = req.header("X-Project-Id", p);
        }
        async move {
            let res = req.send().await.map_err(|e| unreachable(&e))?;
            let status = res.status().as_u16();
            let body: Value = res.json().await.unwrap_or(Value::Null);
            if status == 200 {
                Ok(body)
            } else {
                Err(format!(
                    "GET {path} answered {status}: {}",
                    body["error"].as_str().unwrap_or("")
                ))
            }
        }
    };
    let mut projects = Vec::new();
    let orgs = match get("/api/orgs".into(), None).await {
        Ok(o) => o,
        Err(e) => return fail(NAME, e),
    };
    for org in orgs.as_array().into_iter().flatten() {
        let Some(id) = org["id"].as_str() else {
            continue;
        };
        match get(format!("/api/orgs/{id}/projects"), None).await {
            Ok(list) => projects.extend(
                list.as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|p| p["id"].as_str().map(str::to_string)),
            ),
            Err(e) => return fail(NAME, e),
        }
    }
    let started = std::time::Instant::now();
    loop {
        for project in &projects {
            let found = get(
                format!("/api/events?name={EVENT_NAME}&range=24h"),
                Some(project.clone()),
            )
            .await
            .ok()
            .and_then(|page| {
                page["items"].as_array().and_then(|items| {
                    items
                        .iter()
                        .any(|e| e["properties"]["verify_id"] == marker)
                        .then_some(())
                })
            });
            if found.is_some() {
                return pass(
                    NAME,
                    format!("the test event is readable in project {project}"),
                );
            }
        }
        if started.elapsed() >= READ_BACK_WAIT {
            return fail(
                NAME,
                format!(
                    "the test event was not readable within {} s in the token's {} projects",
                    READ_BACK_WAIT.as_secs(),
                    projects.len()
                ),
            );
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}
