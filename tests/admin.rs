//! Instance administration (issue 18, docs/ADMIN.md) over HTTP and the CLI: the
//! registration policy, the users list, disabling (which ends every session and
//! token at once), promoting, deleting (the last owner and the last administrator
//! protected), the test mail through a real SMTP listener, the overview and the
//! instance audit log.

mod common;

use common::process::cli_ok;
use common::smtp::SmtpSink;
use common::{Backend, Seed, TestApp};
use serde_json::{json, Value};

const PASSWORD: &str = "correct horse battery";

async fn ok(app: &TestApp, method: &str, path: &str, token: &str, body: Option<Value>) -> Value {
    let (status, body) = app.call(method, path, token, body).await;
    assert!(
        (200..300).contains(&status),
        "{method} {path}: {status} {body}"
    );
    body
}

async fn login(app: &TestApp, email: &str) -> (u16, Value) {
    let res = app
        .http
        .post(app.url("/api/auth/login"))
        .json(&json!({ "email": email, "password": PASSWORD }))
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

/// The administrator (the first user) and two others, each owning an organization.
async fn three(app: &TestApp) -> (Seed, Seed, Seed) {
    (
        app.seed("ada").await,
        app.seed("bob").await,
        app.seed("cyd").await,
    )
}

async fn registration_is_the_administrators_choice(backend: Backend) {
    let app = TestApp::start(backend).await;
    let (ada, bob, _) = three(&app).await;
    let settings = ok(&app, "GET", "/api/admin/settings", &ada.token, None).await;
    assert_eq!(
        settings,
        json!({ "registration": "invite_only", "registration_locked_by_env": false })
    );
    let public = |app: &TestApp| {
        let req = app.http.get(app.url("/api/auth/registration"));
        async move { req.send().await.unwrap().json::<Value>().await.unwrap() }
    };
    assert_eq!(public(&app).await["open"], false);
    let register = |app: &TestApp, email: &str| {
        let req = app
            .http
            .post(app.url("/api/auth/register"))
            .json(&json!({ "email": email, "password": PASSWORD }));
        async move { req.send().await.unwrap().status().as_u16() }
    };
    assert_eq!(register(&app, "walk-in@example.com").await, 403);
    let web = common::web::Web::new(&app.base);
    assert!(web.get("/signup").await.has("Sign-up is closed"));

    let changed = ok(
        &app,
        "PATCH",
        "/api/admin/settings",
        &ada.token,
        Some(json!({ "registration": "open" })),
    )
    .await;
    assert_eq!(changed["registration"], "open");
    assert_eq!(public(&app).await["open"], true);
    assert_eq!(register(&app, "walk-in@example.com").await, 202);
    assert!(!web.get("/signup").await.has("Sign-up is closed"));

    // Not for anyone else.
    let (status, body) = app
        .call(
            "PATCH",
            "/api/admin/settings",
            &bob.token,
            Some(json!({ "registration": "invite_only" })),
        )
        .await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(public(&app).await["open"], true);

    // The environment decides when it says so, and the answer says that.
    let locked = TestApp::start_with(backend, |c| c.allow_registration = Some(false)).await;
    let admin = locked.seed("eve").await;
    let settings = ok(&locked, "GET", "/api/admin/settings", &admin.token, None).await;
    assert_eq!(
        settings,
        json!({ "registration": "invite_only", "registration_locked_by_env": true })
    );
    let (status, body) = locked
        .call(
            "PATCH",
            "/api/admin/settings",
            &admin.token,
            Some(json!({ "registration": "open" })),
        )
        .await;
    assert_eq!(status, 409, "{body}");
    assert!(body["error"]
        .as_str()
        .unwrap()
        .contains("TELEMETRY_ALLOW_REGISTRATION"));
}

async fn users_are_listed_searched_and_paged(backend: Backend) {
    let app = TestApp::start(backend).await;
    let (ada, bob, _) = three(&app).await;
    login(&app, &bob.email).await;
    let page = ok(&app, "GET", "/api/admin/users?limit=2", &ada.token, None).await;
    let emails: Vec<&str> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["email"].as_str().unwrap())
        .collect();
    assert_eq!(emails, ["ada@example.com", "bob@example.com"]);
    let first = &page["items"][0];
    assert_eq!(first["administrator"], true);
    assert_eq!(first["disabled"], false);
    assert_eq!(first["organizations"][0]["name"], "ada");
    assert_eq!(first["organizations"][0]["role"], "OWNER");
    assert!(first["last_login_at"].is_null());
    assert!(page["items"][1]["last_login_at"].is_string(), "{page}");
    let cursor = page["next_cursor"].as_str().expect("a next page");
    let rest = ok(
        &app,
        "GET",
        &format!("/api/admin/users?limit=2&cursor={cursor}"),
        &ada.token,
        None,
    )
    .await;
    assert_eq!(rest["items"][0]["email"], "cyd@example.com", "{rest}");
    assert!(rest["next_cursor"].is_null());
    let found = ok(&app, "GET", "/api/admin/users?q=BO", &ada.token, None).await;
    assert_eq!(found["items"].as_array().unwrap().len(), 1, "{found}");
    assert_eq!(found["items"][0]["email"], "bob@example.com");
    let (status, _) = app.call("GET", "/api/admin/users", &bob.token, None).await;
    assert_eq!(status, 403);
}

async fn disabling_ends_every_session_and_token_at_once(backend: Backend) {
    let app = TestApp::start(backend).await;
    let (ada, bob, _) = three(&app).await;
    let (status, session) = login(&app, &bob.email).await;
    assert_eq!(status, 200, "{session}");
    let session_token = session["token"]
        .as_str()
        .expect("a session token")
        .to_string();
    ok(&app, "GET", "/api/auth/me", &session_token, None).await;
    ok(&app, "GET", "/api/auth/me", &bob.token, None).await;

    let user = ok(
        &app,
        "POST",
        &format!("/api/admin/users/{}/disable", bob.user_id),
        &ada.token,
        None,
    )
    .await;
    assert_eq!(user["disabled"], true);
    for token in [&session_token, &bob.token] {
        let (status, _) = app.call("GET", "/api/auth/me", token, None).await;
        assert_eq!(status, 401, "a disabled user's credentials stop at once");
    }
    let (status, body) = login(&app, &bob.email).await;
    assert_eq!(status, 403, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("disabled"),
        "{body}"
    );

    ok(
        &app,
        "POST",
        &format!("/api/admin/users/{}/enable", bob.user_id),
        &ada.token,
        None,
    )
    .await;
    let (status, _) = login(&app, &bob.email).await;
    assert_eq!(status, 200);
    // The old token stays revoked: disabling is not undone by enabling.
    let (status, _) = app.call("GET", "/api/auth/me", &bob.token, None).await;
    assert_eq!(status, 401);
}

async fn the_last_administrator_and_the_last_owner_are_protected(backend: Backend) {
    let app = TestApp::start(backend).await;
    let (ada, bob, cyd) = three(&app).await;
    for (method, path, body) in [
        (
            "PATCH",
            format!("/api/admin/users/{}", ada.user_id),
            Some(json!({ "administrator": false })),
        ),
        (
            "POST",
            format!("/api/admin/users/{}/disable", ada.user_id),
            None,
        ),
    ] {
        let (status, answer) = app.call(method, &path, &ada.token, body).await;
        assert_eq!(status, 409, "{method} {path}: {answer}");
        assert!(answer["error"]
            .as_str()
            .unwrap()
            .contains("last active administrator"));
    }
    // With a second administrator, the first may step down.
    let promoted = ok(
        &app,
        "PATCH",
        &format!("/api/admin/users/{}", bob.user_id),
        &ada.token,
        Some(json!({ "administrator": true })),
    )
    .await;
    assert_eq!(promoted["administrator"], true);
    ok(&app, "GET", "/api/admin/overview", &bob.token, None).await;
    ok(
        &app,
        "PATCH",
        &format!("/api/admin/users/{}", ada.user_id),
        &ada.token,
        Some(json!({ "administrator": false })),
    )
    .await;
    let (status, _) = app
        .call("GET", "/api/admin/overview", &ada.token, None)
        .await;
    assert_eq!(status, 403);

    // Cyd is the only owner of "cyd": refused, naming it.
    let (status, answer) = app
        .call(
            "DELETE",
            &format!("/api/admin/users/{}", cyd.user_id),
            &bob.token,
            None,
        )
        .await;
    assert_eq!(status, 409, "{answer}");
    assert!(
        answer["error"].as_str().unwrap().contains("\"cyd\""),
        "{answer}"
    );
    // Once the organization has another owner, the account goes, with its tokens.
    app.state
        .db
        .add_membership(&cyd.org_id, &ada.user_id, "OWNER", 0)
        .await
        .unwrap();
    let (status, answer) = app
        .call(
            "DELETE",
            &format!("/api/admin/users/{}", cyd.user_id),
            &bob.token,
            None,
        )
        .await;
    assert_eq!(status, 204, "{answer}");
    let (status, _) = app.call("GET", "/api/auth/me", &cyd.token, None).await;
    assert_eq!(status, 401);
    let all = ok(&app, "GET", "/api/admin/users", &bob.token, None).await;
    assert_eq!(all["items"].as_array().unwrap().len(), 2, "{all}");

    // Every change is in the instance audit log, newest first, with who made it.
    let log = ok(&app, "GET", "/api/admin/audit-log", &bob.token, None).await;
    let actions: Vec<(&str, &str, &str)> = log["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["action"].as_str().unwrap(),
                e["target"].as_str().unwrap_or(""),
                e["actor_email"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(
        actions,
        [
            ("user.delete", "cyd@example.com", "bob@example.com"),
            ("user.admin.revoke", "ada@example.com", "ada@example.com"),
            ("user.admin.grant", "bob@example.com", "ada@example.com"),
        ]
    );
}

async fn test_mail_overview_and_refusals(backend: Backend) {
    let sink = SmtpSink::start();
    let app = TestApp::start_with(backend, |c| c.smtp_url = Some(sink.url())).await;
    let (ada, bob, _) = three(&app).await;
    let sent = ok(
        &app,
        "POST",
        "/api/admin/test-email",
        &ada.token,
        Some(json!({ "to": "ops@example.com" })),
    )
    .await;
    assert_eq!(sent["sent"], true, "{sent}");
    assert!(
        sent["detail"].as_str().unwrap().starts_with("250"),
        "{sent}"
    );
    let mail = sink.wait_for_to("ops@example.com").await;
    assert_eq!(mail.subject(), "Telemetry Tracker test mail");

    let overview = ok(&app, "GET", "/api/admin/overview", &ada.token, None).await;
    assert_eq!(overview["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(
        overview["backend"],
        match backend {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    );
    assert_eq!(
        (
            overview["users"].clone(),
            overview["organizations"].clone(),
            overview["projects"].clone()
        ),
        (json!(3), json!(3), json!(3)),
        "{overview}"
    );
    assert_eq!(overview["mail_configured"], true);
    assert!(
        overview["database_bytes"].as_i64().unwrap() > 0,
        "{overview}"
    );

    // Without SMTP, the answer says where mail goes.
    let quiet = TestApp::start(backend).await;
    let admin = quiet.seed("eve").await;
    let answer = ok(
        &quiet,
        "POST",
        "/api/admin/test-email",
        &admin.token,
        Some(json!({ "to": "ops@example.com" })),
    )
    .await;
    assert_eq!(answer["sent"], false);
    assert!(
        answer["detail"].as_str().unwrap().contains("SMTP_URL"),
        "{answer}"
    );

    for (method, path, body) in [
        ("GET", "/api/admin/settings", None),
        ("GET", "/api/admin/overview", None),
        ("GET", "/api/admin/audit-log", None),
        (
            "POST",
            "/api/admin/test-email",
            Some(json!({ "to": "x@example.com" })),
        ),
    ] {
        let (status, answer) = app.call(method, path, &bob.token, body).await;
        assert_eq!(status, 403, "{method} {path}");
        assert!(
            answer["error"].as_str().unwrap().contains("administrators"),
            "{answer}"
        );
        let (status, _) = app.call(method, path, "ttp_unknown", None).await;
        assert_eq!(status, 401, "{method} {path} without a valid token");
    }
    let (status, _) = app
        .call("POST", "/api/admin/users/nobody/disable", &ada.token, None)
        .await;
    assert_eq!(status, 404);
}

async fn the_cli_lets_a_locked_out_operator_back_in(backend: Backend) {
    let app = TestApp::start(backend).await;
    let (ada, bob, _) = three(&app).await;
    let db = &app.db;
    let out = cli_ok(db, &["user", "disable", "--email", &bob.email], None);
    assert_eq!(out["disabled"], true, "{out}");
    assert_eq!(login(&app, &bob.email).await.0, 403);
    cli_ok(db, &["user", "enable", "--email", &bob.email], None);
    let (status, session) = login(&app, &bob.email).await;
    assert_eq!(status, 200);
    // Disabling revoked Bob's tokens: he acts with a new session from here on.
    let bob_session = session["token"].as_str().unwrap().to_string();

    let out = cli_ok(db, &["user", "set-admin", "--email", &bob.email], None);
    assert_eq!(out["administrator"], true, "{out}");
    ok(&app, "GET", "/api/admin/overview", &bob_session, None).await;
    let out = cli_ok(
        db,
        &["user", "set-admin", "--email", &ada.email, "--off"],
        None,
    );
    assert_eq!(out["administrator"], false, "{out}");
    let (ok_run, _, err) = common::process::cli(
        db,
        &["user", "set-admin", "--email", &bob.email, "--off"],
        None,
    );
    assert!(
        !ok_run && err.contains("last active administrator"),
        "{err}"
    );

    cli_ok(
        db,
        &[
            "user",
            "set-password",
            "--email",
            &ada.email,
            "--password-stdin",
        ],
        Some("a brand new passphrase\n"),
    );
    assert_eq!(
        login(&app, &ada.email).await.0,
        401,
        "the old password is gone"
    );
    let res = app
        .http
        .post(app.url("/api/auth/login"))
        .json(&json!({ "email": ada.email, "password": "a brand new passphrase" }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let (status, _) = app.call("GET", "/api/auth/me", &ada.token, None).await;
    assert_eq!(status, 401, "its tokens were revoked");

    let log = ok(&app, "GET", "/api/admin/audit-log", &bob_session, None).await;
    let first = &log["items"][0];
    assert_eq!(first["action"], "user.password");
    assert_eq!(first["details"]["via"], "cli");
}

/// Settings → Instance: administrators only, the same numbers and actions.
async fn the_instance_page_administers_the_server(backend: Backend) {
    let app = TestApp::start(backend).await;
    let (ada, bob, _) = three(&app).await;
    let web = common::web::Web::new(&app.base);
    web.log_in(&ada.email, PASSWORD).await;
    let page = web.visit_ok("/settings/instance").await;
    for shown in [
        "Registration",
        "Only people invited to an organization",
        "bob@example.com",
        "cyd@example.com",
        "Send test mail",
        "Audit log",
    ] {
        assert!(page.has(shown), "the page shows {shown:?}");
    }
    let found = web.visit_ok("/settings/instance?q=cyd").await;
    assert!(found.has("cyd@example.com") && !found.has("bob@example.com"));

    let done = web
        .post(
            &format!("/settings/instance/users/{}/disable", bob.user_id),
            &[("csrf", &page.csrf())],
        )
        .await;
    assert_eq!(done.status, 303, "{}", done.body);
    let after = web.visit_ok("/settings/instance").await;
    assert!(
        after.has("bob@example.com is disabled"),
        "the flash says so"
    );
    assert!(after.has("Disabled"));
    assert_eq!(login(&app, &bob.email).await.0, 403);
    let done = web
        .post(
            "/settings/instance/registration",
            &[("csrf", &page.csrf()), ("registration", "open")],
        )
        .await;
    assert_eq!(done.status, 303);
    assert!(web
        .visit_ok("/settings/instance")
        .await
        .has("Sign-up is open to anyone."));

    // Not for anyone else, not even in the menu.
    let other = common::web::Web::new(&app.base);
    other.log_in(&app.seed("dan").await.email, PASSWORD).await;
    assert!(!other
        .visit_ok("/settings/profile")
        .await
        .has("/settings/instance"));
    assert_eq!(other.visit("/settings/instance").await.status, 403);
}

on_both_backends!(
    the_instance_page_administers_the_server,
    registration_is_the_administrators_choice,
    users_are_listed_searched_and_paged,
    disabling_ends_every_session_and_token_at_once,
    the_last_administrator_and_the_last_owner_are_protected,
    test_mail_overview_and_refusals,
    the_cli_lets_a_locked_out_operator_back_in,
);
