//! Accounts against an attacker, over HTTP on both backends: strictly typed and
//! bounded input, account existence not told by timing, stolen sessions and tokens
//! ended by a password change or reset, password guessing slowed without locking
//! the owner out, actions and their audit entries as one, secrets kept out of
//! `--help`.

mod common;

use common::process::{command, free_port};
use common::smtp::SmtpSink;
use common::web::Web;
use common::{Backend, TestApp, TestDb};
use serde_json::{json, Value};
use std::time::{Duration, Instant};
use telemetry_tracker::store::Db;

const PASSWORD: &str = "correct horse battery";

async fn send(
    app: &TestApp,
    method: &str,
    path: &str,
    bearer: Option<&str>,
    body: Value,
) -> (u16, Value) {
    let mut req = app
        .http
        .request(method.parse().unwrap(), app.url(path))
        .json(&body);
    if let Some(b) = bearer {
        req = req.bearer_auth(b);
    }
    let res = req.send().await.unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

/// GET as `bearer`, expecting `200`: the body.
async fn get_ok(app: &TestApp, path: &str, bearer: Option<&str>) -> Value {
    let (status, body) = send(app, "GET", path, bearer, Value::Null).await;
    assert_eq!(status, 200, "GET {path}: {body}");
    body
}

async fn login(app: &TestApp, email: &str, password: &str, from: Option<&str>) -> (u16, Value) {
    let mut req = app
        .http
        .post(app.url("/api/auth/login"))
        .json(&json!({ "email": email, "password": password }));
    if let Some(ip) = from {
        req = req.header("x-forwarded-for", ip);
    }
    let res = req.send().await.unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

async fn wrong_types_and_out_of_range_values_are_refused(backend: Backend) {
    let app = TestApp::start(backend).await;
    let s = app.seed("types").await;
    let t = Some(s.token.as_str());
    let org = format!("/api/orgs/{}", s.org_id);
    let projects = format!("/api/orgs/{}/projects", s.org_id);
    let cases: Vec<(&str, &str, Value, &str)> = vec![
        ("PATCH", &org, json!({"name": false}), "name"),
        ("POST", &projects, json!({"name": -1.37e21}), "name"),
        (
            "POST",
            "/api/auth/forgot-password",
            json!({"email": -1.5}),
            "email",
        ),
        (
            "POST",
            "/api/tokens",
            json!({"name": "t", "expires_in_days": 4294967295u64}),
            "expires_in_days",
        ),
        (
            "POST",
            "/api/tokens",
            json!({"name": "t", "expires_in_days": 0}),
            "expires_in_days",
        ),
        (
            "POST",
            "/api/tokens",
            json!({"name": "t", "expires_in_days": "7"}),
            "expires_in_days",
        ),
        (
            "POST",
            "/api/orgs",
            json!({"name": "x".repeat(121)}),
            "name",
        ),
        (
            "POST",
            "/api/notifications/read",
            json!({"all": "yes"}),
            "all",
        ),
    ];
    for (method, path, body, field) in cases {
        let (status, b) = send(&app, method, path, t, body.clone()).await;
        assert_eq!(status, 400, "{method} {path} {body}: {b}");
        assert_eq!(b["details"]["field"], field, "{method} {path} {body}: {b}");
    }
    let o = get_ok(&app, &org, t).await;
    assert_eq!(o["name"], "types", "the organization kept its name: {o}");
    let list = get_ok(&app, &projects, t).await;
    assert_eq!(list.as_array().unwrap().len(), 1, "{list}");
    // Time ranges that cannot be written back are refused, not echoed empty.
    for q in [
        "from=0&to=253402300799999",
        "from=-5&to=10",
        "from=2026-01-01&to=99999-01-01",
    ] {
        let (status, b) = app.read(&s, &format!("/api/overview?{q}")).await;
        assert_eq!(status, 400, "{q}: {b}");
        assert!(b["details"]["field"].is_string(), "{q}: {b}");
    }
    let (status, b) = app.read(&s, "/api/errors?limit=501").await;
    assert_eq!(status, 400, "{b}");
    assert_eq!(b["details"]["field"], "limit");
}

/// An SMTP server that accepts connections and never says a word.
fn silent_smtp() -> (std::net::TcpListener, String) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("smtp://{}", listener.local_addr().unwrap());
    (listener, url)
}

async fn forgot_password_answers_alike_for_known_and_unknown_addresses(backend: Backend) {
    let (_silent, url) = silent_smtp();
    let app = TestApp::start_with(backend, |c| c.smtp_url = Some(url)).await;
    let s = app.seed("timing").await;
    let time = |email: String| {
        let app = &app;
        async move {
            let start = Instant::now();
            let (status, _) = send(
                app,
                "POST",
                "/api/auth/forgot-password",
                None,
                json!({ "email": email }),
            )
            .await;
            assert_eq!(status, 202);
            start.elapsed()
        }
    };
    let unknown = time("nobody@example.com".into()).await;
    let known = time(s.email.clone()).await;
    assert!(
        known < Duration::from_millis(500) && known < unknown + Duration::from_millis(300),
        "known {known:?}, unknown {unknown:?}"
    );
}

async fn password_changes_end_stolen_sessions_and_tokens(backend: Backend) {
    let sink = SmtpSink::start();
    let app = TestApp::start_with(backend, |c| c.smtp_url = Some(sink.url())).await;
    let s = app.seed("victim").await;
    let me = |token: String| {
        let app = &app;
        async move {
            send(app, "GET", "/api/auth/me", Some(&token), Value::Null)
                .await
                .0
        }
    };
    // A change with the default ends the other session and every token.
    let (status_a, a) = login(&app, &s.email, PASSWORD, None).await;
    let (status_b, b) = login(&app, &s.email, PASSWORD, None).await;
    assert_eq!((status_a, status_b), (200, 200), "{a} {b}");
    let (session_a, session_b) = (a["token"].as_str().unwrap(), b["token"].as_str().unwrap());
    let new_password = "a brand new passphrase";
    let (status, body) = send(
        &app,
        "POST",
        "/api/auth/password",
        Some(session_a),
        json!({"current_password": PASSWORD, "new_password": new_password}),
    )
    .await;
    assert_eq!(status, 204, "{body}");
    assert_eq!(me(session_a.to_string()).await, 200);
    assert_eq!(me(session_b.to_string()).await, 401);
    assert_eq!(me(s.token.clone()).await, 401, "the token is revoked");
    // Opting out keeps them.
    let (status, t) = send(
        &app,
        "POST",
        "/api/tokens",
        Some(session_a),
        json!({"name": "kept"}),
    )
    .await;
    assert_eq!(status, 201, "{t}");
    let kept = t["token"].as_str().unwrap().to_string();
    let (status, _) = send(
        &app,
        "POST",
        "/api/auth/password",
        Some(session_a),
        json!({"current_password": new_password, "new_password": PASSWORD, "sign_out_others": false}),
    )
    .await;
    assert_eq!(status, 204);
    assert_eq!(me(kept.clone()).await, 200);
    // A reset ends every session and every token.
    let (status, _) = send(
        &app,
        "POST",
        "/api/auth/forgot-password",
        None,
        json!({"email": s.email}),
    )
    .await;
    assert_eq!(status, 202);
    let mail = sink.wait_for_to(&s.email).await;
    let link = mail
        .first_link(&format!("{}/reset-password", app.base))
        .unwrap();
    let token = link.split("token=").nth(1).unwrap();
    let (status, _) = send(
        &app,
        "POST",
        "/api/auth/reset-password",
        None,
        json!({"token": token, "password": "yet another passphrase"}),
    )
    .await;
    assert_eq!(status, 204);
    assert_eq!(me(session_a.to_string()).await, 401);
    assert_eq!(me(kept).await, 401);
}

/// One wrong password from each of 198.51.100.`hosts`.
async fn guesses_from_many_addresses(app: &TestApp, email: &str, hosts: std::ops::Range<u8>) {
    for i in hosts {
        let from = format!("198.51.100.{i}");
        let (status, body) = login(app, email, "wrong guess!", Some(&from)).await;
        // Refused as wrong, or throttled once the account has been guessed at enough.
        assert!(status == 401 || status == 429, "{from}: {status} {body}");
    }
}

async fn guessing_is_slowed_but_the_owner_gets_in(backend: Backend) {
    let app = TestApp::start_with(backend, |c| c.trust_proxy = true).await;
    let s = app.seed("owner").await;
    let home = "203.0.113.1";
    assert_eq!(login(&app, &s.email, PASSWORD, Some(home)).await.0, 200);
    // One address guessing one account: stopped after 5, even with the password.
    for _ in 0..5 {
        assert_eq!(
            login(&app, &s.email, "wrong guess!", Some("198.51.100.1"))
                .await
                .0,
            401
        );
    }
    let (status, body) = login(&app, &s.email, PASSWORD, Some("198.51.100.1")).await;
    assert_eq!(status, 429, "{body}");
    assert_eq!(body["code"], "login_throttled");
    // Many addresses guessing: the owner still gets in from home (which clears the
    // account's count)...
    guesses_from_many_addresses(&app, &s.email, 10..40).await;
    assert_eq!(login(&app, &s.email, PASSWORD, Some(home)).await.0, 200);
    // ...while a new address waits its turn: one try a minute, taken by a guesser.
    guesses_from_many_addresses(&app, &s.email, 40..70).await;
    let res = app
        .http
        .post(app.url("/api/auth/login"))
        .header("x-forwarded-for", "192.0.2.50")
        .json(&json!({ "email": s.email, "password": PASSWORD }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 429);
    let retry: u64 = res.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry), "{retry}");
    // The dashboard says when to try again.
    let web = Web::new(&app.base);
    let form = web.get("/login").await;
    let mut page = None;
    for _ in 0..6 {
        let p = web
            .post(
                "/login",
                &[
                    ("csrf", &form.csrf()),
                    ("email", &s.email),
                    ("password", "nope nope nope"),
                ],
            )
            .await;
        if p.status == 429 {
            page = Some(p);
            break;
        }
    }
    let page = page.expect("the dashboard refused the guesser");
    assert_eq!(page.status, 429);
    assert!(page.headers.contains_key("retry-after"));
    assert!(page.body.contains("try again in"), "{}", page.body);
}

/// Makes every audit insert fail, as a full disk would.
async fn break_audit_log(db: &Db) {
    match db {
        Db::Sqlite(pool) => {
            sqlx::query(
                "CREATE TRIGGER fail_audit BEFORE INSERT ON audit_log BEGIN SELECT RAISE(ABORT, 'disk full'); END",
            )
            .execute(pool)
            .await
            .unwrap();
        }
        Db::Postgres(pool) => {
            sqlx::query(
                "CREATE FUNCTION fail_audit() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION 'disk full'; END $$ LANGUAGE plpgsql",
            )
            .execute(pool)
            .await
            .unwrap();
            sqlx::query(
                "CREATE TRIGGER fail_audit BEFORE INSERT ON audit_log FOR EACH ROW EXECUTE FUNCTION fail_audit()",
            )
            .execute(pool)
            .await
            .unwrap();
        }
    }
}

async fn no_action_without_its_audit_entry(backend: Backend) {
    let app = TestApp::start(backend).await;
    let s = app.seed("audited").await;
    let t = Some(s.token.as_str());
    break_audit_log(&app.state.db).await;
    let projects = format!("/api/orgs/{}/projects", s.org_id);
    let keys = format!("/api/projects/{}/keys", s.project_id);
    let org = format!("/api/orgs/{}", s.org_id);
    let attempts: Vec<(&str, &str, Value)> = vec![
        ("POST", "/api/orgs", json!({"name": "Shadow"})),
        ("POST", &projects, json!({"name": "shadow project"})),
        ("POST", &keys, json!({"label": "shadow"})),
        ("PATCH", &org, json!({"name": "Renamed"})),
        ("POST", "/api/tokens", json!({"name": "shadow"})),
    ];
    for (method, path, body) in attempts {
        let (status, b) = send(&app, method, path, t, body).await;
        assert!(status >= 500, "{method} {path} answered {status}: {b}");
        assert!(b["error"].is_string(), "{b}");
    }
    let orgs = get_ok(&app, "/api/orgs", t).await;
    assert_eq!(orgs.as_array().unwrap().len(), 1, "{orgs}");
    assert_eq!(orgs[0]["name"], "audited");
    for path in [projects.as_str(), keys.as_str(), "/api/tokens"] {
        let list = get_ok(&app, path, t).await;
        assert_eq!(list.as_array().unwrap().len(), 1, "{path}: {list}");
    }
}

async fn help_never_shows_secret_values(backend: Backend) {
    let db = TestDb::new(backend).await;
    let out = command(&db)
        .args(["serve", "--help"])
        .env(
            "SMTP_URL",
            "smtp://mailer:smtp-secret-pw@mail.example.com:587",
        )
        .env(
            "DATABASE_URL",
            "postgres://app:db-secret-pw@db.example.com/tt",
        )
        .env("PORT", free_port().to_string())
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("SMTP_URL"), "{text}");
    assert!(
        !text.contains("smtp-secret-pw") && !text.contains("db-secret-pw"),
        "{text}"
    );
}

async fn token_use_is_recorded_at_most_once_a_minute(backend: Backend) {
    let app = TestApp::start(backend).await;
    let s = app.seed("touchy").await;
    let last_used = || async {
        let list = get_ok(&app, "/api/tokens", Some(&s.token)).await;
        list[0]["last_used_at"].as_str().unwrap().to_string()
    };
    let first = last_used().await;
    app.state.clock.advance(30_000);
    assert_eq!(
        last_used().await,
        first,
        "not written again within the minute"
    );
    app.state.clock.advance(31_000);
    assert_ne!(last_used().await, first, "written again after a minute");
}

on_both_backends!(
    token_use_is_recorded_at_most_once_a_minute,
    wrong_types_and_out_of_range_values_are_refused,
    forgot_password_answers_alike_for_known_and_unknown_addresses,
    password_changes_end_stolen_sessions_and_tokens,
    guessing_is_slowed_but_the_owner_gets_in,
    no_action_without_its_audit_entry,
    help_never_shows_secret_values,
);
