//! Accounts over HTTP: registration policy, login and its throttle, dashboard
//! sessions and CSRF, tokens, password change and reset, invites, members, plan
//! limits, the audit log — with mail delivered to a real SMTP listener.

mod common;

use common::smtp::SmtpSink;
use common::{Backend, TestApp};
use reqwest::header::{HeaderMap, SET_COOKIE};
use serde_json::{json, Value};
use telemetry_tracker::domain::plans::Plan;
use telemetry_tracker::service::accounts;

const PASSWORD: &str = "correct horse battery";

/// A browser-like client: a cookie, and requests from the server's own origin.
struct Browser<'a> {
    app: &'a TestApp,
    cookie: String,
}

impl Browser<'_> {
    async fn call(
        &self,
        method: &str,
        path: &str,
        body: Option<Value>,
        origin: Option<&str>,
    ) -> (u16, Value) {
        let mut req = self
            .app
            .http
            .request(method.parse().unwrap(), self.app.url(path))
            .header("cookie", &self.cookie);
        if let Some(o) = origin {
            req = req.header("origin", o);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let res = req.send().await.unwrap();
        let status = res.status().as_u16();
        (status, res.json().await.unwrap_or(Value::Null))
    }

    async fn same_origin(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        self.call(method, path, body, Some(&self.app.base)).await
    }

    /// GET, expecting `200`: the body.
    async fn get_ok(&self, path: &str) -> Value {
        let (status, body) = self.call("GET", path, None, None).await;
        assert_eq!(status, 200, "GET {path}: {body}");
        body
    }
}

/// GET without credentials, expecting `200`: the body.
async fn get_public(app: &TestApp, path: &str) -> Value {
    let res = app.http.get(app.url(path)).send().await.unwrap();
    let status = res.status().as_u16();
    let body = res.json().await.unwrap_or(Value::Null);
    assert_eq!(status, 200, "GET {path}: {body}");
    body
}

async fn post(app: &TestApp, path: &str, body: Value) -> (u16, HeaderMap, Value) {
    let res = app
        .http
        .post(app.url(path))
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    let headers = res.headers().clone();
    (status, headers, res.json().await.unwrap_or(Value::Null))
}

fn cookie_of(headers: &HeaderMap) -> String {
    let set = headers[SET_COOKIE].to_str().unwrap();
    set.split(';').next().unwrap().to_string()
}

async fn login<'a>(app: &'a TestApp, email: &str, password: &str) -> Browser<'a> {
    let (status, headers, body) = post(
        app,
        "/api/auth/login",
        json!({ "email": email, "password": password }),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    Browser {
        app,
        cookie: cookie_of(&headers),
    }
}

async fn registration_login_sessions_and_csrf(backend: Backend) {
    let app = TestApp::start(backend).await;
    let policy = get_public(&app, "/api/auth/registration").await;
    assert_eq!(policy["open"], true, "open while no user exists");
    let (status, _, body) = post(
        &app,
        "/api/auth/register",
        json!({ "email": "first@example.com", "password": "short" }),
    )
    .await;
    assert_eq!(
        (status, body["details"]["field"].as_str()),
        (400, Some("password"))
    );
    let (status, headers, body) =
        post(&app, "/api/auth/register", json!({ "email": "First@Example.com", "password": PASSWORD, "name": "Ada", "org_name": "Acme" })).await;
    assert_eq!(status, 201, "{body}");
    let set_cookie = headers[SET_COOKIE].to_str().unwrap();
    for attr in [
        "telemetry_session=tts_",
        "HttpOnly",
        "SameSite=Lax",
        "Path=/",
    ] {
        assert!(set_cookie.contains(attr), "{set_cookie}");
    }
    assert!(!set_cookie.contains("Secure"), "plain http: no Secure flag");
    assert_eq!(body["user"]["is_admin"], true);
    let first = Browser {
        app: &app,
        cookie: cookie_of(&headers),
    };
    let (status, me) = first.call("GET", "/api/auth/me", None, None).await;
    assert_eq!(status, 200);
    assert_eq!(me["user"]["email"], "first@example.com");
    assert_eq!(
        (
            me["orgs"][0]["org_name"].as_str(),
            me["orgs"][0]["role"].as_str()
        ),
        (Some("Acme"), Some("OWNER"))
    );

    // Closed after the first user.
    let (status, _, body) = post(
        &app,
        "/api/auth/register",
        json!({ "email": "second@example.com", "password": PASSWORD }),
    )
    .await;
    assert_eq!(status, 403, "{body}");

    // CSRF: a cookie-authenticated change needs the server's origin or the CSRF token.
    let rename = json!({ "name": "Ada L." });
    assert_eq!(
        first
            .call("PATCH", "/api/auth/me", Some(rename.clone()), None)
            .await
            .0,
        403
    );
    let (status, body) = first
        .call(
            "PATCH",
            "/api/auth/me",
            Some(rename.clone()),
            Some("https://evil.example"),
        )
        .await;
    assert_eq!((status, body["code"].as_str()), (403, Some("csrf")));
    assert_eq!(
        first
            .same_origin("PATCH", "/api/auth/me", Some(rename.clone()))
            .await
            .0,
        200
    );
    let res = app
        .http
        .patch(app.url("/api/auth/me"))
        .header("cookie", &first.cookie)
        .header("referer", format!("{}/settings/profile", app.base))
        .json(&rename)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "Referer counts when there is no Origin");
    let token = first.cookie.split('=').nth(1).unwrap();
    let csrf = telemetry_tracker::service::auth::csrf_token(token);
    let res = app
        .http
        .patch(app.url("/api/auth/me"))
        .header("cookie", &first.cookie)
        .header("x-csrf-token", csrf)
        .json(&rename)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    // The same session token as a bearer needs no CSRF proof.
    let res = app
        .http
        .patch(app.url("/api/auth/me"))
        .bearer_auth(token)
        .json(&rename)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);

    // Login: wrong password and unknown email look the same.
    let (s1, _, b1) = post(
        &app,
        "/api/auth/login",
        json!({ "email": "first@example.com", "password": "wrong password!" }),
    )
    .await;
    let (s2, _, b2) = post(
        &app,
        "/api/auth/login",
        json!({ "email": "nobody@example.com", "password": "wrong password!" }),
    )
    .await;
    assert_eq!((s1, &b1), (s2, &b2));
    assert_eq!(s1, 401);
    let second = login(&app, "first@example.com", PASSWORD).await;
    let sessions = second.get_ok("/api/auth/sessions").await;
    let sessions = sessions.as_array().unwrap();
    assert_eq!(sessions.len(), 2);
    assert_eq!(sessions.iter().filter(|s| s["current"] == true).count(), 1);
    assert!(
        !sessions.iter().any(|s| s.to_string().contains("tts_")),
        "tokens never listed"
    );
    let (status, out) = second
        .same_origin("POST", "/api/auth/sessions/revoke-others", None)
        .await;
    assert_eq!((status, out["revoked"].as_u64()), (200, Some(1)));
    assert_eq!(
        first.call("GET", "/api/auth/me", None, None).await.0,
        401,
        "the other session ended"
    );
    // Logout clears the cookie and ends the session.
    let res = app
        .http
        .post(app.url("/api/auth/logout"))
        .header("cookie", &second.cookie)
        .header("origin", &app.base)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    assert!(res.headers()[SET_COOKIE]
        .to_str()
        .unwrap()
        .contains("Max-Age=0"));
    assert_eq!(second.call("GET", "/api/auth/me", None, None).await.0, 401);

    // Personal access tokens over HTTP.
    let third = login(&app, "first@example.com", PASSWORD).await;
    let (status, created) = third
        .same_origin(
            "POST",
            "/api/tokens",
            Some(json!({ "name": "ci", "expires_in_days": 30 })),
        )
        .await;
    assert_eq!(status, 201);
    let pat = created["token"].as_str().unwrap().to_string();
    let res = app
        .http
        .get(app.url("/api/orgs"))
        .bearer_auth(&pat)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let list = third.get_ok("/api/tokens").await;
    assert!(list.to_string().contains("ci") && !list.to_string().contains(&pat));
    assert!(list[0]["expires_at"].is_string());
    let id = created["id"].as_str().unwrap();
    assert_eq!(
        third
            .same_origin("DELETE", &format!("/api/tokens/{id}"), None)
            .await
            .0,
        204
    );
    assert_eq!(
        app.http
            .get(app.url("/api/orgs"))
            .bearer_auth(&pat)
            .send()
            .await
            .unwrap()
            .status(),
        401
    );

    // Change password: the current one is checked, other sessions end.
    let other = login(&app, "first@example.com", PASSWORD).await;
    let (status, _) = third.same_origin("POST", "/api/auth/password", Some(json!({ "current_password": "not it at all", "new_password": "a new long password" }))).await;
    assert_eq!(status, 400);
    let (status, _) = third
        .same_origin(
            "POST",
            "/api/auth/password",
            Some(json!({ "current_password": PASSWORD, "new_password": "a new long password" })),
        )
        .await;
    assert_eq!(status, 204);
    assert_eq!(other.call("GET", "/api/auth/me", None, None).await.0, 401);
    assert_eq!(third.call("GET", "/api/auth/me", None, None).await.0, 200);
    login(&app, "first@example.com", "a new long password").await;

    // Registration opens with the setting: after the first user, sign-ups confirm by
    // mail (logged here, there is no SMTP), and taken addresses look the same.
    let open = TestApp::start_with(backend, |c| c.allow_registration = Some(true)).await;
    let (status, _, _) = post(
        &open,
        "/api/auth/register",
        json!({ "email": "a@example.com", "password": PASSWORD }),
    )
    .await;
    assert_eq!(status, 201);
    let (s1, _, b1) = post(
        &open,
        "/api/auth/register",
        json!({ "email": "a@example.com", "password": PASSWORD }),
    )
    .await;
    let (s2, _, b2) = post(
        &open,
        "/api/auth/register",
        json!({ "email": "b@example.com", "password": PASSWORD }),
    )
    .await;
    assert_eq!((s1, &b1), (s2, &b2));
    assert_eq!(s1, 202);
}

async fn https_public_url_makes_cookies_secure_and_sets_the_trusted_origin(backend: Backend) {
    let app = TestApp::start_with(backend, |c| {
        c.public_url = Some("https://telemetry.example.com".into())
    })
    .await;
    let (status, headers, _) = post(
        &app,
        "/api/auth/register",
        json!({ "email": "a@example.com", "password": PASSWORD }),
    )
    .await;
    assert_eq!(status, 201);
    assert!(headers[SET_COOKIE].to_str().unwrap().contains("; Secure"));
    let browser = Browser {
        app: &app,
        cookie: cookie_of(&headers),
    };
    let rename = json!({ "name": "A" });
    assert_eq!(
        browser
            .call(
                "PATCH",
                "/api/auth/me",
                Some(rename.clone()),
                Some("https://telemetry.example.com")
            )
            .await
            .0,
        200
    );
    assert_eq!(
        browser
            .call("PATCH", "/api/auth/me", Some(rename), Some(&app.base))
            .await
            .0,
        403,
        "only the public origin is trusted"
    );
}

async fn login_is_throttled_per_account_and_per_ip(backend: Backend) {
    let app = TestApp::start(backend).await;
    accounts::create_user(
        &app.state.db,
        &app.state.clock,
        "victim@example.com",
        PASSWORD,
        Some("V"),
    )
    .await
    .unwrap();
    for _ in 0..5 {
        let (status, _, _) = post(
            &app,
            "/api/auth/login",
            json!({ "email": "victim@example.com", "password": "guess guess guess" }),
        )
        .await;
        assert_eq!(status, 401);
    }
    let res = app
        .http
        .post(app.url("/api/auth/login"))
        .json(&json!({ "email": "victim@example.com", "password": PASSWORD }))
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.status(),
        429,
        "even the right password waits once this address has guessed this account"
    );
    assert!(
        res.headers()["retry-after"]
            .to_str()
            .unwrap()
            .parse::<u64>()
            .unwrap()
            > 0
    );
    // The address is throttled across accounts after 30 failures.
    for i in 0..25 {
        let (status, _, _) = post(
            &app,
            "/api/auth/login",
            json!({ "email": format!("other{i}@example.com"), "password": "guess guess guess" }),
        )
        .await;
        assert_eq!(status, 401);
    }
    let (status, _, _) = post(
        &app,
        "/api/auth/login",
        json!({ "email": "another@example.com", "password": "guess guess guess" }),
    )
    .await;
    assert_eq!(status, 429);
}

async fn password_reset_by_email(backend: Backend) {
    let sink = SmtpSink::start();
    let app = TestApp::start_with(backend, |c| c.smtp_url = Some(sink.url())).await;
    let health = get_public(&app, "/health").await;
    assert_eq!(health["email"], "configured");
    let (status, _, _) = post(
        &app,
        "/api/auth/register",
        json!({ "email": "ada@example.com", "password": PASSWORD }),
    )
    .await;
    assert_eq!(status, 201);
    let welcome = sink.wait_for_to("ada@example.com").await;
    assert!(welcome.subject().to_lowercase().contains("welcome"));
    assert!(welcome.html_part().is_some() && welcome.text_part().is_some());
    sink.clear();
    let old = login(&app, "ada@example.com", PASSWORD).await;

    let (s1, _, b1) = post(
        &app,
        "/api/auth/forgot-password",
        json!({ "email": "nobody@example.com" }),
    )
    .await;
    let (s2, _, b2) = post(
        &app,
        "/api/auth/forgot-password",
        json!({ "email": "ada@example.com" }),
    )
    .await;
    assert_eq!(
        (s1, &b1),
        (s2, &b2),
        "the answer never tells whether the address exists"
    );
    assert_eq!(s1, 202);
    let mail = sink.wait_for_to("ada@example.com").await;
    assert_eq!(sink.count(), 1, "no mail for unknown addresses");
    let link = mail
        .first_link(&format!("{}/reset-password?token=", app.base))
        .expect("reset link in the text part");
    assert!(mail
        .first_html_link(&format!("{}/reset-password?token=", app.base))
        .is_some());
    let token = link.split("token=").nth(1).unwrap();
    let (status, _, _) = post(
        &app,
        "/api/auth/reset-password",
        json!({ "token": token, "password": "short" }),
    )
    .await;
    assert_eq!(status, 400);
    let (status, _, _) = post(
        &app,
        "/api/auth/reset-password",
        json!({ "token": token, "password": "brand new password" }),
    )
    .await;
    assert_eq!(status, 204);
    let (status, _, _) = post(
        &app,
        "/api/auth/reset-password",
        json!({ "token": token, "password": "another new password" }),
    )
    .await;
    assert_eq!(status, 400, "single use");
    assert_eq!(
        old.call("GET", "/api/auth/me", None, None).await.0,
        401,
        "sessions end on reset"
    );
    login(&app, "ada@example.com", "brand new password").await;

    // Links expire after an hour.
    sink.clear();
    let (status, _, body) = post(
        &app,
        "/api/auth/forgot-password",
        json!({ "email": "ada@example.com" }),
    )
    .await;
    assert_eq!(status, 202, "{body}");
    let link = sink
        .wait_for_to("ada@example.com")
        .await
        .first_link(&format!("{}/reset-password?token=", app.base))
        .unwrap();
    app.state.clock.advance(61 * 60 * 1000);
    let (status, _, _) = post(
        &app,
        "/api/auth/reset-password",
        json!({ "token": link.split("token=").nth(1).unwrap(), "password": "too late password" }),
    )
    .await;
    assert_eq!(status, 400);
}

async fn invites_members_and_the_audit_log(backend: Backend) {
    let sink = SmtpSink::start();
    let app = TestApp::start_with(backend, |c| c.smtp_url = Some(sink.url())).await;
    let (status, headers, body) = post(
        &app,
        "/api/auth/register",
        json!({ "email": "owner@example.com", "password": PASSWORD, "org_name": "Acme" }),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let owner = Browser {
        app: &app,
        cookie: cookie_of(&headers),
    };
    let me = owner.get_ok("/api/auth/me").await;
    let org = me["orgs"][0]["org_id"].as_str().unwrap().to_string();
    accounts::create_user(
        &app.state.db,
        &app.state.clock,
        "existing@example.com",
        PASSWORD,
        None,
    )
    .await
    .unwrap();

    // Invite a new user as EDITOR: mailed, previewed, accepted by registering.
    let (status, created) = owner
        .same_origin(
            "POST",
            &format!("/api/orgs/{org}/invites"),
            Some(json!({ "email": "New@Example.com", "role": "EDITOR" })),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["emailed"], true);
    assert!(
        created["link"].is_null(),
        "the link travels by mail when mail works"
    );
    let mail = sink.wait_for_to("new@example.com").await;
    assert!(mail.subject().contains("Acme"));
    let link = mail
        .first_link(&format!("{}/invite?token=", app.base))
        .unwrap();
    let token = link.split("token=").nth(1).unwrap().to_string();
    let preview = get_public(&app, &format!("/api/invites/{token}")).await;
    assert_eq!(
        (preview["org_name"].as_str(), preview["role"].as_str()),
        (Some("Acme"), Some("EDITOR"))
    );
    // Another address with the invite is refused before any account exists.
    let (status, _, body) = post(
        &app,
        "/api/auth/register",
        json!({ "email": "intruder@example.com", "password": PASSWORD, "invite_token": token }),
    )
    .await;
    assert_eq!(status, 403, "{body}");
    assert!(body["error"].as_str().unwrap().contains("new@example.com"));
    let (status, _, _) = post(
        &app,
        "/api/auth/login",
        json!({ "email": "intruder@example.com", "password": PASSWORD }),
    )
    .await;
    assert_eq!(status, 401, "no account was created");
    let (status, _, body) = post(
        &app,
        "/api/auth/register",
        json!({ "email": "new@example.com", "password": PASSWORD, "invite_token": token }),
    )
    .await;
    assert_eq!(
        status, 201,
        "registration is closed, but an invite opens it: {body}"
    );
    let (status, _, _) = post(
        &app,
        "/api/auth/register",
        json!({ "email": "again@example.com", "password": PASSWORD, "invite_token": token }),
    )
    .await;
    assert_eq!(status, 404, "single use");
    let newcomer = login(&app, "new@example.com", PASSWORD).await;
    let me = newcomer.get_ok("/api/auth/me").await;
    assert_eq!(
        me["orgs"].as_array().unwrap().len(),
        1,
        "joined Acme, no organization of its own"
    );
    assert_eq!(me["orgs"][0]["role"], "EDITOR");

    // Invite an existing user; only that user can accept; revoke and resend.
    let (status, created) = owner
        .same_origin(
            "POST",
            &format!("/api/orgs/{org}/invites"),
            Some(json!({ "email": "existing@example.com", "role": "VIEWER" })),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let invite_id = created["invite"]["id"].as_str().unwrap().to_string();
    let first_link = sink
        .wait_for_to("existing@example.com")
        .await
        .first_link(&format!("{}/invite?token=", app.base))
        .unwrap();
    sink.clear();
    let (status, resent) = owner
        .same_origin(
            "POST",
            &format!("/api/orgs/{org}/invites/{invite_id}/resend"),
            None,
        )
        .await;
    assert_eq!(status, 200, "{resent}");
    let second_link = sink
        .wait_for_to("existing@example.com")
        .await
        .first_link(&format!("{}/invite?token=", app.base))
        .unwrap();
    assert_ne!(first_link, second_link);
    let old_token = first_link.split("token=").nth(1).unwrap();
    let new_token = second_link.split("token=").nth(1).unwrap();
    assert_eq!(
        newcomer
            .same_origin(
                "POST",
                "/api/invites/accept",
                Some(json!({ "token": new_token }))
            )
            .await
            .0,
        403,
        "addressed to someone else"
    );
    let existing = login(&app, "existing@example.com", PASSWORD).await;
    assert_eq!(
        existing
            .same_origin(
                "POST",
                "/api/invites/accept",
                Some(json!({ "token": old_token }))
            )
            .await
            .0,
        404,
        "the resent link replaced the old one"
    );
    let (status, joined) = existing
        .same_origin(
            "POST",
            "/api/invites/accept",
            Some(json!({ "token": new_token })),
        )
        .await;
    assert_eq!((status, joined["role"].as_str()), (200, Some("VIEWER")));
    let (status, created) = owner
        .same_origin(
            "POST",
            &format!("/api/orgs/{org}/invites"),
            Some(json!({ "email": "later@example.com", "role": "VIEWER" })),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let later = created["invite"]["id"].as_str().unwrap();
    assert_eq!(
        owner
            .same_origin("DELETE", &format!("/api/orgs/{org}/invites/{later}"), None)
            .await
            .0,
        204
    );
    let pending = owner.get_ok(&format!("/api/orgs/{org}/invites")).await;
    assert_eq!(pending.as_array().unwrap().len(), 0);

    // Members: roles, the last owner, removal, leaving.
    let members = owner.get_ok(&format!("/api/orgs/{org}/members")).await;
    let id_of = |email: &str| {
        members
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["email"] == email)
            .unwrap()["user_id"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let (owner_id, new_id, existing_id) = (
        id_of("owner@example.com"),
        id_of("new@example.com"),
        id_of("existing@example.com"),
    );
    let (status, body) = owner
        .same_origin(
            "PATCH",
            &format!("/api/orgs/{org}/members/{owner_id}"),
            Some(json!({ "role": "EDITOR" })),
        )
        .await;
    assert_eq!(status, 409, "the last owner cannot be demoted: {body}");
    assert_eq!(
        owner
            .same_origin("POST", &format!("/api/orgs/{org}/leave"), None)
            .await
            .0,
        409,
        "nor leave"
    );
    assert_eq!(
        owner
            .same_origin(
                "PATCH",
                &format!("/api/orgs/{org}/members/{new_id}"),
                Some(json!({ "role": "OWNER" }))
            )
            .await
            .0,
        204
    );
    assert_eq!(
        owner
            .same_origin(
                "PATCH",
                &format!("/api/orgs/{org}/members/{owner_id}"),
                Some(json!({ "role": "EDITOR" }))
            )
            .await
            .0,
        204,
        "another owner exists now"
    );
    assert_eq!(
        newcomer
            .same_origin(
                "DELETE",
                &format!("/api/orgs/{org}/members/{existing_id}"),
                None
            )
            .await
            .0,
        204
    );
    assert_eq!(
        owner
            .same_origin("POST", &format!("/api/orgs/{org}/leave"), None)
            .await
            .0,
        204
    );
    let members = newcomer.get_ok(&format!("/api/orgs/{org}/members")).await;
    assert_eq!(members.as_array().unwrap().len(), 1);

    // The audit log records who did what, for OWNERs only.
    let log = newcomer.get_ok(&format!("/api/orgs/{org}/audit-log")).await;
    let actions: Vec<&str> = log["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    for a in [
        "invite.create",
        "invite.accept",
        "invite.resend",
        "invite.revoke",
        "member.role",
        "member.remove",
        "member.leave",
    ] {
        assert!(actions.contains(&a), "{a} missing from {actions:?}");
    }
    let entry = log["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "member.role")
        .unwrap();
    assert!(
        entry["actor_email"].is_string()
            && entry["ip"].is_string()
            && entry["created_at"].is_string()
    );
    assert_eq!(
        existing
            .call("GET", &format!("/api/orgs/{org}/audit-log"), None, None)
            .await
            .0,
        404,
        "no longer a member"
    );
}

async fn projects_keys_and_plan_limits_over_http(backend: Backend) {
    let app = TestApp::start(backend).await;
    let seed = app.seed("plans").await;
    accounts::set_org_plan(&app.state.db, &seed.org_id, Plan::Free)
        .await
        .unwrap();
    let call = |method: &str, path: String, body: Option<Value>| {
        let mut req = app
            .http
            .request(method.parse().unwrap(), app.url(&path))
            .bearer_auth(&seed.token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        async move {
            let res = req.send().await.unwrap();
            let status = res.status().as_u16();
            (status, res.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    let (status, body) = call(
        "POST",
        format!("/api/orgs/{}/projects", seed.org_id),
        Some(json!({ "name": "second" })),
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str(), body["limit"].as_i64()),
        (403, Some("max_projects_per_org"), Some(1))
    );
    // FREE allows 2 active keys per project; the seed made one.
    let (status, key) = call(
        "POST",
        format!("/api/projects/{}/keys", seed.project_id),
        Some(json!({ "label": "ios", "app": "ios", "expires_in_days": 7 })),
    )
    .await;
    assert_eq!(status, 201, "{key}");
    assert!(key["key"].as_str().unwrap().starts_with("tt_live_"));
    let (status, body) = call(
        "POST",
        format!("/api/projects/{}/keys", seed.project_id),
        Some(json!({})),
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (403, Some("max_api_keys_per_project"))
    );
    // Revoking frees a slot and stops the key at once.
    let id = key["id"].as_str().unwrap();
    assert_eq!(
        app.post_json(
            "/ingest/event",
            key["key"].as_str().unwrap(),
            &json!({ "app": "ios", "name": "x" })
        )
        .await
        .status(),
        204
    );
    assert_eq!(
        call(
            "DELETE",
            format!("/api/projects/{}/keys/{id}", seed.project_id),
            None
        )
        .await
        .0,
        204
    );
    assert_eq!(
        app.post_json(
            "/ingest/event",
            key["key"].as_str().unwrap(),
            &json!({ "app": "ios", "name": "x" })
        )
        .await
        .status(),
        401
    );
    let (status, keys) = call(
        "GET",
        format!("/api/projects/{}/keys", seed.project_id),
        None,
    )
    .await;
    assert_eq!(status, 200, "{keys}");
    assert_eq!(keys.as_array().unwrap().len(), 2);
    assert!(
        !keys
            .to_string()
            .contains(&key["key"].as_str().unwrap()[41..]),
        "secrets are never listed"
    );
    assert_eq!(
        call(
            "POST",
            format!("/api/projects/{}/keys", seed.project_id),
            Some(json!({}))
        )
        .await
        .0,
        201
    );
    // Rename and delete a project; deleting an organization stops its keys.
    let (status, p) = call(
        "PATCH",
        format!("/api/projects/{}", seed.project_id),
        Some(json!({ "name": "Renamed" })),
    )
    .await;
    assert_eq!((status, p["name"].as_str()), (200, Some("Renamed")));
    assert_eq!(
        call("DELETE", format!("/api/orgs/{}", seed.org_id), None)
            .await
            .0,
        204
    );
    assert_eq!(
        app.post_json(
            "/ingest/event",
            &seed.key,
            &json!({ "app": "web", "name": "x" })
        )
        .await
        .status(),
        401
    );
    assert_eq!(
        call("GET", format!("/api/orgs/{}", seed.org_id), None)
            .await
            .0,
        404
    );
}

async fn without_mail_the_owner_gets_the_invite_link(backend: Backend) {
    let app = TestApp::start(backend).await;
    let seed = app.seed("nomail").await;
    let health = get_public(&app, "/health").await;
    assert_eq!(health["email"], "not_configured");
    let res = app
        .http
        .post(app.url(&format!("/api/orgs/{}/invites", seed.org_id)))
        .bearer_auth(&seed.token)
        .json(&json!({ "email": "friend@example.com", "role": "VIEWER" }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["emailed"], false);
    let link = body["link"].as_str().unwrap();
    assert!(link.starts_with(&format!("{}/invite?token=tti_", app.base)));
}

async fn open_registration_confirms_by_mail_without_revealing_addresses(backend: Backend) {
    let sink = SmtpSink::start();
    let app = TestApp::start_with(backend, |c| {
        c.smtp_url = Some(sink.url());
        c.allow_registration = Some(true);
    })
    .await;
    let (status, _, _) = post(
        &app,
        "/api/auth/register",
        json!({ "email": "first@example.com", "password": PASSWORD }),
    )
    .await;
    assert_eq!(status, 201, "the first user needs no confirmation");
    sink.wait_for_to("first@example.com").await;
    sink.clear();
    let (s1, h1, b1) = post(
        &app,
        "/api/auth/register",
        json!({ "email": "first@example.com", "password": PASSWORD }),
    )
    .await;
    let (s2, h2, b2) = post(&app, "/api/auth/register", json!({ "email": "fresh@example.com", "password": PASSWORD, "name": "Fresh", "org_name": "Fresh Co" })).await;
    assert_eq!(
        (s1, &b1),
        (s2, &b2),
        "taken and free addresses get the same answer"
    );
    assert_eq!(s1, 202);
    assert!(h1.get(SET_COOKIE).is_none() && h2.get(SET_COOKIE).is_none());
    let existing = sink.wait_for_to("first@example.com").await;
    assert!(existing
        .text_part()
        .unwrap()
        .contains("already has an account"));
    let confirm = sink.wait_for_to("fresh@example.com").await;
    let link = confirm
        .first_link(&format!("{}/signup/confirm?token=", app.base))
        .unwrap();
    let token = link.split("token=").nth(1).unwrap();
    let (status, headers, body) = post(
        &app,
        "/api/auth/register/confirm",
        json!({ "token": token }),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["user"]["name"], "Fresh");
    let fresh = Browser {
        app: &app,
        cookie: cookie_of(&headers),
    };
    let me = fresh.get_ok("/api/auth/me").await;
    assert_eq!(me["orgs"][0]["org_name"], "Fresh Co");
    let (status, _, _) = post(
        &app,
        "/api/auth/register/confirm",
        json!({ "token": token }),
    )
    .await;
    assert_eq!(status, 404, "single use");
    login(&app, "fresh@example.com", PASSWORD).await;
}

on_both_backends!(
    https_public_url_makes_cookies_secure_and_sets_the_trusted_origin,
    open_registration_confirms_by_mail_without_revealing_addresses,
    registration_login_sessions_and_csrf,
    login_is_throttled_per_account_and_per_ip,
    password_reset_by_email,
    invites_members_and_the_audit_log,
    projects_keys_and_plan_limits_over_http,
    without_mail_the_owner_gets_the_invite_link,
);
