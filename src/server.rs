//! Route assembly, cross-cutting middleware and the server's lifetime.

use crate::api;
use crate::api::problem::ErrorBody;
use crate::http::input::{self, Refused};
use crate::http::refusals::Refusal;
use crate::http::{conn, headers};
use crate::ratelimit::Family;
use crate::state::SharedState;
use poem::http::{header, HeaderValue, Method, StatusCode};
use poem::web::Data;
use poem::{handler, Endpoint, EndpointExt, IntoResponse, Request, Response, Route, RouteMethod};
use poem_openapi::__private::UrlQuery;
use poem_openapi::OpenApi;
use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use tracing::Instrument;

/// The whole HTTP application, used by `serve` and by the tests alike.
pub fn app(state: SharedState) -> impl Endpoint {
    let spec = api::service();
    let (spec_json, docs) = api::spec::spec_and_docs();
    let allow = Arc::new(AllowTable::from_spec(&spec_json));
    let route = Route::new()
        .at(
            "/api/openapi.json",
            poem::endpoint::make_sync(move |_| {
                Response::builder()
                    .content_type("application/json")
                    .body(spec_json.clone())
            }),
        )
        .at(
            "/api/docs",
            poem::endpoint::make_sync(move |_| poem::web::Html(docs.clone())),
        )
        .at("/metrics", metrics)
        // Sentry SDKs (docs/SENTRY.md): a wire protocol, not in the documented API.
        .at(
            "/api/:project_number/envelope/",
            poem::post(api::sentry::envelope),
        )
        .at(
            "/api/:project_number/store/",
            poem::post(api::sentry::store),
        )
        // The OpenAPI operations live under /api, /ingest and /health; everything
        // else is the dashboard.
        .nest_no_strip("/api", spec);
    ingest_routes(route)
        .at("/health", api::service())
        .nest("/", crate::web::routes())
        .around(move |ep, req| edge(ep, req, allow.clone()))
        .data(state)
}

/// The ingest operations, mounted straight into the application's routes: the same
/// poem-openapi operations the documented service holds (the spec comes from that
/// service), without the layers it puts in front of every request — a cookie jar, a
/// nested route and two more boxed futures — which ingest has no use for and which
/// cost 4–8 % of single-event throughput.
fn ingest_routes(route: Route) -> Route {
    let mut table = HashMap::new();
    api::ingest::IngestApi.add_routes(&mut table);
    table.into_iter().fold(route, |route, (path, methods)| {
        let methods = methods
            .into_iter()
            .fold(RouteMethod::new(), |m, (method, ep)| m.method(method, ep));
        route.at(path, methods.before(with_url_query))
    })
}

/// What the documented service does before every operation, kept: the code that
/// poem-openapi generates for operations and security schemes reads the query string
/// from this extension (and panics without it). The type is not in poem-openapi's
/// documented API, so an upgrade that changes it fails to compile or fails every
/// ingest test, not silently.
async fn with_url_query(mut req: Request) -> poem::Result<Request> {
    let query: Vec<(String, String)> = req.params().unwrap_or_default();
    req.extensions_mut().insert(UrlQuery(query));
    Ok(req)
}

/// Everything in front of the routes, as one layer: what every request must pass
/// (bounded URL, headers and body, no NUL), per-IP limits, CORS, JSON bodies for
/// every error on machine paths, `Allow` on 405, security headers on every
/// response, and the refusal counters.
/// A request not answered within `TELEMETRY_REQUEST_DEADLINE_SECS`.
fn deadline_response(machine: bool) -> Response {
    let message =
        "The server could not answer in time (the database is slow or unavailable); retry shortly.";
    let mut res = if machine {
        let mut body = ErrorBody::new(message);
        body.code = Some("deadline".into());
        Response::builder()
            .status(StatusCode::SERVICE_UNAVAILABLE)
            .content_type("application/json")
            .body(serde_json::to_string(&body).unwrap_or_default())
    } else {
        Response::builder()
            .status(StatusCode::SERVICE_UNAVAILABLE)
            .content_type("text/html; charset=utf-8")
            .body(crate::web::shell::error_page("Temporarily unavailable", message).into_string())
    };
    res.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
    res
}

/// Numbers the requests of this process, for their log lines.
static NEXT_REQUEST: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

async fn edge<E: Endpoint>(
    ep: E,
    mut req: Request,
    allow: Arc<AllowTable>,
) -> poem::Result<Response> {
    let Some(state) = req.data::<SharedState>().cloned() else {
        return Ok(ep.get_response(req).await);
    };
    // A clone of the URI shares its bytes: no copy on the hot path.
    let uri = req.uri().clone();
    let path = uri.path();
    let kind = headers::Kind::of_path(path);
    let machine = kind != headers::Kind::Dashboard;
    let refused = match input::check_head(&req) {
        Err(refused) => Some(refused),
        // Ingest operations read their own bodies (their own limit, the same timeout).
        Ok(()) if kind != headers::Kind::Ingest && input::has_body(&req) => {
            // Boxed: only requests with a body carry the reading state, so the
            // future of every other request (ingest's among them) stays small.
            Box::pin(read_body(&state, &mut req)).await.err()
        }
        Ok(()) => None,
    };
    let mut res = match refused {
        Some(refused) => refusal_response(refused, machine),
        None => match limit_per_ip(&state, &req) {
            Some(refused) => refused,
            None => {
                // Every log line of the request carries its number (and the
                // instance's name is in the start-up line).
                let span = tracing::info_span!(
                    "request",
                    request_id = NEXT_REQUEST.fetch_add(1, Ordering::Relaxed),
                    method = %req.method(),
                    path = %path,
                );
                let upload = is_artifact_upload(&req);
                let answer = cors_and_json_errors(ep, req).instrument(span);
                if kind == headers::Kind::Ingest {
                    // Ingest bounds its own wait for the writer (the same deadline),
                    // after reading its body.
                    answer.await?
                } else {
                    let mut deadline = Duration::from_secs(state.config.request_deadline_secs);
                    if upload {
                        deadline = deadline.max(Duration::from_secs(UPLOAD_SECS));
                    }
                    match tokio::time::timeout(deadline, answer).await {
                        Ok(res) => res?,
                        Err(_) => deadline_response(machine),
                    }
                }
            }
        },
    };
    if res.status() == StatusCode::METHOD_NOT_ALLOWED && !res.headers().contains_key(header::ALLOW)
    {
        if let Some(methods) = allow.methods_of(path) {
            if let Ok(v) = HeaderValue::from_str(methods) {
                res.headers_mut().insert(header::ALLOW, v);
            }
        }
    }
    headers::apply(kind, res.status(), res.headers_mut());
    if let Some(reason) = Refusal::of_status(res.status().as_u16()) {
        state.refusals.count(reason);
    }
    Ok(res)
}

async fn read_body(state: &SharedState, req: &mut Request) -> Result<(), Refused> {
    let c = &state.config;
    let (limit, timeout) = if is_artifact_upload(req) {
        // A release's files in one request: the release limit, plus room for the
        // multipart framing, and the time a CI runner's uplink needs for it.
        (
            c.sourcemaps.max_release_bytes() as usize + 1024 * 1024,
            Duration::from_secs(c.body_read_timeout_secs.max(UPLOAD_SECS)),
        )
    } else {
        (
            c.api_max_body_bytes,
            Duration::from_secs(c.body_read_timeout_secs),
        )
    };
    input::read_body(req, limit, timeout).await
}

/// How long an artifact upload may take to arrive and to be stored, at least.
const UPLOAD_SECS: u64 = 300;

/// `POST /api/projects/{id}/releases/{release}/artifacts`.
fn is_artifact_upload(req: &Request) -> bool {
    req.method() == poem::http::Method::POST && {
        let path = req.uri().path();
        path.starts_with("/api/projects/")
            && path.ends_with("/artifacts")
            && path.contains("/releases/")
    }
}

fn refusal_response(refused: Refused, machine: bool) -> Response {
    let status = StatusCode::from_u16(refused.status).unwrap_or(StatusCode::BAD_REQUEST);
    if !machine {
        let title = status.canonical_reason().unwrap_or("Bad request");
        return Response::builder()
            .status(status)
            .content_type("text/html; charset=utf-8")
            .body(crate::web::shell::error_page(title, &refused.message).into_string());
    }
    let mut body = ErrorBody::new(refused.message);
    body.code = Some(
        match refused.status {
            408 => "body_timeout",
            413 => "body_too_large",
            414 => "url_too_long",
            431 => "headers_too_large",
            _ => "invalid_input",
        }
        .to_string(),
    );
    body.details = refused.field.map(|f| serde_json::json!({ "field": f }));
    Response::builder()
        .status(status)
        .content_type("application/json")
        .body(serde_json::to_string(&body).unwrap_or_default())
}

/// Per-IP limits per route family (SPEC §1); plans bound ingest per project instead.
fn limit_per_ip(state: &SharedState, req: &Request) -> Option<Response> {
    let family = Family::of_request(req.method(), req.uri().path())?;
    let c = &state.config;
    let max = match family {
        Family::Auth => c.rate_limit_auth_max,
        Family::Api => c.rate_limit_api_max,
        Family::Ingest => c.rate_limit_ingest_max,
    };
    if max == 0 {
        return None;
    }
    let ip = crate::http::client_addr(c, req)?;
    let retry = state.ip_limits.check(family, ip, max).err()?;
    let body = ErrorBody::new(format!(
        "Too many requests from this address; retry in {retry} s."
    ));
    Some(
        Response::builder()
            .status(StatusCode::TOO_MANY_REQUESTS)
            .content_type("application/json")
            .header(header::RETRY_AFTER, retry.to_string())
            .body(serde_json::to_string(&body).unwrap_or_default()),
    )
}

/// The methods of every documented path, from the OpenAPI document, for the
/// `Allow` header of a 405.
struct AllowTable {
    paths: Vec<(Vec<String>, String)>,
}

impl AllowTable {
    fn from_spec(spec: &str) -> AllowTable {
        let doc: serde_json::Value = serde_json::from_str(spec).unwrap_or_default();
        let mut paths = Vec::new();
        if let Some(map) = doc.get("paths").and_then(|p| p.as_object()) {
            for (path, ops) in map {
                let mut methods: Vec<String> = ops
                    .as_object()
                    .map(|o| o.keys().map(|m| m.to_ascii_uppercase()).collect())
                    .unwrap_or_default();
                if methods.iter().any(|m| m == "GET") {
                    methods.push("HEAD".into());
                }
                let segments = path.split('/').map(str::to_string).collect();
                paths.push((segments, methods.join(", ")));
            }
        }
        AllowTable { paths }
    }

    /// The most literal template matching `path` wins (`/api/auth/me` over `/api/auth/{id}`).
    fn methods_of(&self, path: &str) -> Option<&str> {
        let parts: Vec<&str> = path.split('/').collect();
        self.paths
            .iter()
            .filter(|(segments, _)| {
                segments.len() == parts.len()
                    && segments
                        .iter()
                        .zip(&parts)
                        .all(|(s, p)| s == p || (s.starts_with('{') && !p.is_empty()))
            })
            .max_by_key(|(segments, _)| segments.iter().filter(|s| !s.starts_with('{')).count())
            .map(|(_, methods)| methods.as_str())
    }
}

/// CORS (any origin for `/ingest/*`, which browsers call from every app), and JSON
/// bodies for every error on machine-facing paths, including routing errors.
async fn cors_and_json_errors<E: Endpoint>(ep: E, req: Request) -> poem::Result<Response> {
    let path = req.uri().path();
    let sentry = api::sentry::is_sentry_path(path);
    let ingest = path == "/ingest" || path.starts_with("/ingest/") || sentry;
    let machine = headers::Kind::of_path(path) != headers::Kind::Dashboard;
    let origin = if ingest {
        req.header(header::ORIGIN).map(str::to_string)
    } else {
        None
    };
    // `/api` answers cross-origin calls, with credentials, from trusted origins only
    // (DASHBOARD_ORIGIN, CORS_ORIGINS); other origins get no CORS headers at all.
    let api_origin = match (path.starts_with("/api/"), req.header(header::ORIGIN)) {
        (true, Some(o)) => req
            .data::<SharedState>()
            .filter(|state| crate::service::auth::is_trusted_origin(state, o))
            .and_then(|_| HeaderValue::from_str(o).ok()),
        _ => None,
    };
    if req.method() == Method::OPTIONS {
        if let Some(o) = &api_origin {
            return Ok(preflight(
                o.clone(),
                true,
                "GET, POST, PUT, PATCH, DELETE, OPTIONS",
                "Authorization, Content-Type, X-CSRF-Token, X-Project-Id",
                "600",
            ));
        }
        if sentry {
            let o = allow_origin(origin.as_deref());
            return Ok(preflight(
                o,
                false,
                "POST, OPTIONS",
                "Content-Type, Content-Encoding, X-Sentry-Auth, Sentry-Trace, Baggage, Authorization, X-Requested-With, Origin, Referer, Accept",
                "3600",
            ));
        }
        if ingest {
            let o = allow_origin(origin.as_deref());
            return Ok(preflight(
                o,
                false,
                "POST, OPTIONS",
                "Authorization, X-API-Key, Content-Type",
                "86400",
            ));
        }
    }
    let mut res = ep.get_response(req).await;
    if let Some(o) = api_origin {
        let h = res.headers_mut();
        h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, o);
        h.insert(
            header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
            HeaderValue::from_static("true"),
        );
        h.insert(header::VARY, HeaderValue::from_static("Origin"));
    }
    if ingest {
        let h = res.headers_mut();
        h.insert(
            header::ACCESS_CONTROL_ALLOW_ORIGIN,
            allow_origin(origin.as_deref()),
        );
        h.insert(header::VARY, HeaderValue::from_static("Origin"));
        if sentry {
            // The SDKs read these to back off; a browser hides them unless exposed.
            h.insert(
                header::ACCESS_CONTROL_EXPOSE_HEADERS,
                HeaderValue::from_static("x-sentry-error, x-sentry-rate-limits, retry-after"),
            );
        }
    }
    let is_json = res
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !machine && res.status() == StatusCode::NOT_FOUND && !is_html(&res) {
        return Ok(Response::builder()
            .status(StatusCode::NOT_FOUND)
            .content_type("text/html; charset=utf-8")
            .body(
                crate::web::shell::error_page("Not found", "There is no page at this address.")
                    .into_string(),
            ));
    }
    if machine && !res.status().is_success() && !is_json && res.status() != StatusCode::NOT_MODIFIED
    {
        let status = res.status();
        let detail = res.take_body().into_string().await.unwrap_or_default();
        let message = if detail.trim().is_empty() {
            status.canonical_reason().unwrap_or("error").to_string()
        } else {
            detail
        };
        let mut json = Response::builder()
            .status(status)
            .content_type("application/json")
            .body(serde_json::to_string(&ErrorBody::refusal(message)).unwrap_or_default());
        for (name, value) in res.headers() {
            if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
                json.headers_mut().insert(name.clone(), value.clone());
            }
        }
        return Ok(json);
    }
    Ok(res)
}

fn is_html(res: &Response) -> bool {
    res.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/html"))
}

/// The answer to a CORS preflight.
fn preflight(
    origin: HeaderValue,
    credentials: bool,
    methods: &'static str,
    headers: &'static str,
    max_age: &'static str,
) -> Response {
    let mut res = StatusCode::NO_CONTENT.into_response();
    let h = res.headers_mut();
    h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
    if credentials {
        h.insert(
            header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
            HeaderValue::from_static("true"),
        );
    }
    h.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static(methods),
    );
    h.insert(
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        HeaderValue::from_static(headers),
    );
    h.insert(
        header::ACCESS_CONTROL_MAX_AGE,
        HeaderValue::from_static(max_age),
    );
    h.insert(header::VARY, HeaderValue::from_static("Origin"));
    res
}

fn allow_origin(origin: Option<&str>) -> HeaderValue {
    origin
        .and_then(|o| HeaderValue::from_str(o).ok())
        .unwrap_or_else(|| HeaderValue::from_static("*"))
}

/// Prometheus text exposition of the ingest pipeline, refusals, and the latest runs
/// of the jobs (read from the database, so every process reports the same).
#[handler]
async fn metrics(state: Data<&SharedState>) -> Response {
    let s = &state.queue.stats;
    let mut body = format!(
        "# HELP telemetry_ingest_queue_depth Ingest requests waiting for the writer.\n\
         # TYPE telemetry_ingest_queue_depth gauge\n\
         telemetry_ingest_queue_depth {}\n\
         # HELP telemetry_ingest_committed_items_total Items durably committed.\n\
         # TYPE telemetry_ingest_committed_items_total counter\n\
         telemetry_ingest_committed_items_total {}\n\
         # HELP telemetry_ingest_commits_total Group commits.\n\
         # TYPE telemetry_ingest_commits_total counter\n\
         telemetry_ingest_commits_total {}\n\
         # HELP telemetry_ingest_commit_seconds_total Time spent committing.\n\
         # TYPE telemetry_ingest_commit_seconds_total counter\n\
         telemetry_ingest_commit_seconds_total {:.6}\n\
         # HELP telemetry_ingest_failed_total Requests whose write failed.\n\
         # TYPE telemetry_ingest_failed_total counter\n\
         telemetry_ingest_failed_total {}\n\
         # HELP telemetry_ingest_refused_full_total Requests refused because the queue was full.\n\
         # TYPE telemetry_ingest_refused_full_total counter\n\
         telemetry_ingest_refused_full_total {}\n\
         # HELP telemetry_ingest_direct_commits_total Commits through the SQLite writer's own connection (events only).\n\
         # TYPE telemetry_ingest_direct_commits_total counter\n\
         telemetry_ingest_direct_commits_total {}\n\
         # HELP telemetry_ingest_expired_total Items dropped unwritten because their request's deadline passed first.\n\
         # TYPE telemetry_ingest_expired_total counter\n\
         telemetry_ingest_expired_total {}\n",
        s.depth.load(Ordering::Relaxed),
        s.committed_items.load(Ordering::Relaxed),
        s.commits.load(Ordering::Relaxed),
        s.commit_micros_total.load(Ordering::Relaxed) as f64 / 1e6,
        s.failed_jobs.load(Ordering::Relaxed),
        s.refused_full.load(Ordering::Relaxed),
        s.direct_commits.load(Ordering::Relaxed),
        s.expired_jobs.load(Ordering::Relaxed),
    );
    body.push_str(&state.refusals.exposition());
    if let Ok(runs) = crate::service::health::last_job_runs(&state).await {
        body.push_str(
            "# HELP telemetry_job_last_run_timestamp_seconds When the latest scheduled run of a job started, by any process.\n\
             # TYPE telemetry_job_last_run_timestamp_seconds gauge\n",
        );
        for r in &runs {
            body.push_str(&format!(
                "telemetry_job_last_run_timestamp_seconds{{job=\"{}\",instance=\"{}\"}} {:.3}\n",
                r.job,
                r.instance.replace(['\\', '"', '\n'], "_"),
                r.started_at as f64 / 1000.0
            ));
        }
        body.push_str(
            "# HELP telemetry_job_last_run_success Whether the latest run of a job succeeded (1), failed (0) or is still running (-1).\n\
             # TYPE telemetry_job_last_run_success gauge\n",
        );
        for r in &runs {
            body.push_str(&format!(
                "telemetry_job_last_run_success{{job=\"{}\"}} {}\n",
                r.job,
                r.ok.unwrap_or(-1)
            ));
        }
    }
    if let Ok(Some(run)) = crate::service::retention::last_run(&state.db).await {
        body.push_str(&format!(
            "# HELP telemetry_retention_last_run_timestamp_seconds When the last retention run finished.\n\
             # TYPE telemetry_retention_last_run_timestamp_seconds gauge\n\
             telemetry_retention_last_run_timestamp_seconds {:.3}\n\
             # HELP telemetry_retention_last_run_duration_seconds How long the last retention run took.\n\
             # TYPE telemetry_retention_last_run_duration_seconds gauge\n\
             telemetry_retention_last_run_duration_seconds {:.3}\n\
             # HELP telemetry_retention_last_run_rows_deleted Telemetry rows the last retention run deleted.\n\
             # TYPE telemetry_retention_last_run_rows_deleted gauge\n\
             telemetry_retention_last_run_rows_deleted {}\n",
            run.finished_at as f64 / 1000.0,
            (run.finished_at - run.started_at) as f64 / 1000.0,
            run.rows_deleted,
        ));
    }
    body.push_str(&crate::service::sourcemaps::exposition(&state).await);
    body.push_str(&state.sentry_items.exposition());
    Response::builder()
        .content_type("text/plain; version=0.0.4")
        .body(body)
}

/// Serves until SIGINT/SIGTERM, then lets in-flight requests (and their commits) finish.
pub async fn serve(state: SharedState) -> std::io::Result<()> {
    let addr = format!("{}:{}", state.config.host, state.config.port);
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    tracing::info!(%addr, public_url = %state.config.public_url(), backend = state.db.backend(), instance = %state.instance, "listening");
    serve_on(listener, state, shutdown_signal()).await
}

/// Serves the application on a bound listener until `shutdown` resolves (tests use
/// it with a listener of their own).
pub async fn serve_on(
    listener: tokio::net::TcpListener,
    state: SharedState,
    shutdown: impl std::future::Future<Output = ()>,
) -> std::io::Result<()> {
    let c = &state.config;
    let limits = conn::ConnLimits {
        header_read: Duration::from_secs(c.header_read_timeout_secs),
        keep_alive: Duration::from_secs(c.keep_alive_timeout_secs),
        max_connections: c.max_connections,
    };
    conn::serve(
        listener,
        app(state.clone()),
        limits,
        state.refusals.clone(),
        shutdown,
        Duration::from_secs(25),
    )
    .await
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("installing the SIGTERM handler");
        tokio::select! {
            _ = ctrl_c => {},
            _ = term.recv() => {},
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
    tracing::info!("shutting down: finishing in-flight requests");
}
