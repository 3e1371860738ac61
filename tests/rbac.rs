//! Walks docs/RBAC.md: every route, for each role, is allowed or answered 403; and
//! a member of another organization gets 404 on every route that names a foreign
//! id, with nothing changed.

mod common;

use common::{Backend, TestApp};
use serde_json::{json, Value};
use std::collections::BTreeSet;
use telemetry_tracker::domain::plans::Plan;
use telemetry_tracker::domain::rbac::Role;
use telemetry_tracker::service::accounts;
use telemetry_tracker::service::invites;
use telemetry_tracker::service::principal::{Principal, RequestMeta};
use telemetry_tracker::store::NewUserSession;

const PASSWORD: &str = "correct horse battery";

#[derive(Debug, Clone, PartialEq)]
enum Allowed {
    Public,
    SignedIn,
    /// Instance administrators only, whatever their roles.
    Administrators,
    /// These roles once billing is on; `404` for everyone while it is off, as here
    /// (tests/billing.rs walks them with billing on).
    Billing(Vec<Role>),
    Roles(Vec<Role>),
}

#[derive(Debug, Clone)]
struct Row {
    method: String,
    route: String,
    allowed: Allowed,
}

fn table() -> Vec<Row> {
    let doc =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/RBAC.md")).unwrap();
    let section = doc.split("## Every route").nth(1).expect("the route table");
    section
        .lines()
        .filter(|l| l.starts_with("| ") && !l.starts_with("| method") && !l.starts_with("|---"))
        .map(|l| {
            let cells: Vec<&str> = l.trim_matches('|').split('|').map(str::trim).collect();
            let allowed = match cells[2] {
                "public" => Allowed::Public,
                "signed in" => Allowed::SignedIn,
                "administrators" => Allowed::Administrators,
                roles => {
                    let (roles, billing) = match roles.strip_suffix("(billing on)") {
                        Some(r) => (r, true),
                        None => (roles, false),
                    };
                    let roles = roles
                        .split(',')
                        .map(|r| r.trim().parse().unwrap())
                        .collect();
                    if billing {
                        Allowed::Billing(roles)
                    } else {
                        Allowed::Roles(roles)
                    }
                }
            };
            Row {
                method: cells[0].to_string(),
                route: cells[1].to_string(),
                allowed,
            }
        })
        .collect()
}

#[test]
fn the_table_lists_every_api_route_of_the_spec() {
    let spec: Value = serde_json::from_str(&telemetry_tracker::api::spec_json()).unwrap();
    let mut in_spec = BTreeSet::new();
    for (path, ops) in spec["paths"].as_object().unwrap() {
        if path.starts_with("/api/") {
            for method in ops.as_object().unwrap().keys() {
                in_spec.insert(format!("{} {path}", method.to_uppercase()));
            }
        }
    }
    let in_table: BTreeSet<String> = table()
        .iter()
        .map(|r| format!("{} {}", r.method, r.route))
        .collect();
    assert_eq!(
        in_table, in_spec,
        "docs/RBAC.md and the OpenAPI spec list different routes"
    );
}

struct User {
    id: String,
    email: String,
    token: String,
}

async fn user(app: &TestApp, name: &str) -> User {
    let (db, clock) = (&app.state.db, &app.state.clock);
    let email = format!("{name}@example.com");
    let created = accounts::create_user(db, clock, &email, PASSWORD, None)
        .await
        .unwrap();
    let token = accounts::create_token(db, clock, &email, None)
        .await
        .unwrap();
    User {
        id: created.user.id,
        email,
        token: token.token,
    }
}

fn principal(u: &User) -> Principal {
    Principal {
        user_id: u.id.clone(),
        email: u.email.clone(),
        is_admin: false,
        session_id: None,
    }
}

/// A fresh organization with every role, a project with telemetry, a key, an
/// invite — everything a route may name — plus per-user things to act on.
struct Case {
    ids: Vec<(&'static str, String)>,
    project_id: String,
}

/// `target` is the member that member routes act on; `host` owns the organization
/// holding an invite addressed to `actor`.
async fn case(
    app: &TestApp,
    n: usize,
    owner: &User,
    members: &[(&User, &str)],
    target: &User,
    actor: &User,
    host: &User,
) -> Case {
    let (db, clock) = (&app.state.db, &app.state.clock);
    let org = accounts::create_org(
        db,
        clock,
        &format!("org-{n}"),
        &owner.email,
        Plan::SelfHosted,
    )
    .await
    .unwrap();
    for (u, role) in members {
        db.add_membership(&org.id, &u.id, role, 0).await.unwrap();
    }
    let project = accounts::create_project(db, clock, &org.id, "web")
        .await
        .unwrap();
    let key = accounts::create_api_key(db, clock, &project.id, None, None, None)
        .await
        .unwrap();
    for (route, body) in [
        (
            "/ingest/event",
            json!({ "app": "web", "name": "e", "session_id": "s1" }),
        ),
        (
            "/ingest/error",
            json!({ "app": "web", "message": "m", "session_id": "s1" }),
        ),
        (
            "/ingest/session",
            json!({ "app": "web", "session_id": "s1" }),
        ),
    ] {
        assert_eq!(app.post_json(route, &key.key, &body).await.status(), 204);
    }
    let read = |path: &'static str| {
        let req = app
            .http
            .get(app.url(path))
            .bearer_auth(&owner.token)
            .header("X-Project-Id", &project.id);
        async move {
            let res = req.send().await.unwrap();
            assert_eq!(res.status(), 200, "GET {path}");
            res.json::<Value>().await.unwrap()
        }
    };
    let events = read("/api/events").await;
    let errors = read("/api/errors").await;
    let meta = RequestMeta::default();
    let invite = invites::invite(
        &app.state,
        &principal(owner),
        &org.id,
        &format!("invitee-{n}@example.com"),
        Role::Viewer,
        &meta,
    )
    .await
    .unwrap();
    let invite_token = invite.link.split("token=").nth(1).unwrap().to_string();
    // An invite addressed to the actor, in an organization the actor is not in.
    let elsewhere = accounts::create_org(
        db,
        clock,
        &format!("elsewhere-{n}"),
        &host.email,
        Plan::SelfHosted,
    )
    .await
    .unwrap();
    let accept = invites::invite(
        &app.state,
        &principal(host),
        &elsewhere.id,
        &actor.email,
        Role::Viewer,
        &meta,
    )
    .await
    .unwrap();
    let accept_token = accept.link.split("token=").nth(1).unwrap().to_string();
    // A dashboard session and a spare token of the actor's, to end and revoke.
    let session_id = telemetry_tracker::domain::ids::new_id();
    db.insert_user_session(&NewUserSession {
        id: &session_id,
        user_id: &actor.id,
        token_hash: &format!("hash-{session_id}"),
        now: clock.now_ms(),
        expires_at: clock.now_ms() + 60_000_000,
        ip: None,
        user_agent: None,
    })
    .await
    .unwrap();
    let spare = accounts::create_token(db, clock, &actor.email, Some("spare"))
        .await
        .unwrap();
    let webhook = telemetry_tracker::service::alerts::create_webhook(
        &app.state,
        &principal(owner),
        &project.id,
        telemetry_tracker::service::alerts::NewWebhook {
            url: format!("http://127.0.0.1:{}/hook", common::process::free_port()),
            format: "generic".into(),
            kinds: None,
            name: None,
        },
        &meta,
    )
    .await
    .unwrap();
    let artifact = telemetry_tracker::service::sourcemaps::upload(
        &app.state,
        &principal(owner),
        &project.id,
        "web@1.0.0",
        None,
        vec![telemetry_tracker::service::sourcemaps::UploadFile {
            filename: "assets/app.js".into(),
            bytes: b"function a(){}".to_vec(),
        }],
        &meta,
    )
    .await
    .unwrap();
    Case {
        ids: vec![
            ("{org_id}", org.id),
            ("{release}", "web@1.0.0".into()),
            ("{artifact_id}", artifact.artifacts[0].id.clone()),
            ("{project_id}", project.id.clone()),
            ("{key_id}", key.id),
            ("{webhook_id}", webhook.id),
            ("{invite_id}", invite.invite.id),
            ("{user_id}", target.id.clone()),
            ("{token}", invite_token),
            ("accept_token", accept_token),
            (
                "event",
                events["items"][0]["id"].as_str().unwrap().to_string(),
            ),
            (
                "group",
                errors["items"][0]["id"].as_str().unwrap().to_string(),
            ),
            ("dashboard_session", session_id),
            ("spare_token", spare.id),
        ],
        project_id: project.id,
    }
}

impl Case {
    fn id(&self, name: &str) -> &str {
        &self.ids.iter().find(|(k, _)| *k == name).unwrap().1
    }

    fn path(&self, route: &str) -> String {
        let mut path = route.to_string();
        for (k, v) in self.ids.iter().filter(|(k, _)| k.starts_with('{')) {
            path = path.replace(k, v);
        }
        let id = if route.starts_with("/api/events/") {
            self.id("event")
        } else if route.starts_with("/api/errors/") {
            self.id("group")
        } else if route.starts_with("/api/sessions/") {
            "s1"
        } else if route.starts_with("/api/auth/sessions/") {
            self.id("dashboard_session")
        } else if route.starts_with("/api/admin/users/") {
            self.id("{user_id}")
        } else {
            self.id("spare_token")
        };
        let path = path.replace("{id}", id);
        if route == "/api/events/properties" {
            // The event name the case ingested.
            return format!("{path}?name=e");
        }
        path
    }
}

fn body(method: &str, route: &str, n: usize, actor: &User, case: &Case) -> Option<Value> {
    Some(match (method, route) {
        ("POST", "/api/auth/register") => {
            json!({ "email": format!("new-{n}@example.com"), "password": PASSWORD })
        }
        ("POST", "/api/auth/login") => json!({ "email": actor.email, "password": PASSWORD }),
        ("POST", "/api/auth/forgot-password") => json!({ "email": actor.email }),
        ("POST", "/api/auth/reset-password") => {
            json!({ "token": "ttr_unknown", "password": PASSWORD })
        }
        ("PATCH", "/api/auth/me") => json!({ "name": "Someone" }),
        ("POST", "/api/auth/password") => {
            json!({ "current_password": PASSWORD, "new_password": PASSWORD, "sign_out_others": false })
        }
        ("POST", "/api/tokens") => json!({ "name": "another" }),
        ("POST", "/api/orgs") => json!({ "name": format!("created-{n}") }),
        ("POST", "/api/invites/accept") => json!({ "token": case.id("accept_token") }),
        ("PATCH", "/api/orgs/{org_id}") => json!({ "name": format!("renamed-{n}") }),
        ("PATCH", "/api/orgs/{org_id}/members/{user_id}") => json!({ "role": "EDITOR" }),
        ("POST", "/api/orgs/{org_id}/invites") => {
            json!({ "email": format!("more-{n}@example.com"), "role": "VIEWER" })
        }
        ("POST", "/api/orgs/{org_id}/projects") => json!({ "name": "another" }),
        ("PATCH", "/api/projects/{project_id}") => json!({ "name": "renamed" }),
        ("POST", "/api/projects/{project_id}/keys") => json!({ "label": "k" }),
        ("PUT", "/api/projects/{project_id}/alert-settings") => json!({ "new_group": false }),
        ("POST", "/api/projects/{project_id}/webhooks") => {
            json!({ "url": "http://127.0.0.1:9/more", "format": "slack" })
        }
        ("PATCH", "/api/errors/{id}") => json!({ "status": "resolved" }),
        ("POST", "/api/notifications/read") => json!({ "all": true }),
        ("PATCH", "/api/admin/settings") => json!({}),
        ("PATCH", "/api/admin/users/{id}") => json!({ "administrator": true }),
        ("POST", "/api/admin/test-email") => json!({ "to": "test@example.com" }),
        ("POST", "/api/orgs/{org_id}/billing/checkout") => json!({ "plan": "PRO" }),
        _ => return None,
    })
}

async fn send(
    app: &TestApp,
    method: &str,
    path: &str,
    token: &str,
    project_id: &str,
    body: Option<Value>,
) -> u16 {
    let mut req = app
        .http
        .request(method.parse().unwrap(), app.url(path))
        .bearer_auth(token)
        .header("X-Project-Id", project_id);
    if let Some(b) = body {
        req = req.json(&b);
    } else if method == "POST" && path.ends_with("/artifacts") {
        let part = reqwest::multipart::Part::bytes(b"var b = 1;".to_vec()).file_name("assets/b.js");
        req = req.multipart(reqwest::multipart::Form::new().part("file", part));
    }
    req.send().await.unwrap().status().as_u16()
}

async fn every_route_allows_exactly_the_roles_in_the_table(backend: Backend) {
    let app = TestApp::start_with(backend, |c| {
        c.allow_registration = Some(true);
        // The case's webhook points at a closed local port: tests answer at once.
        c.webhook_allow_private = true;
    })
    .await;
    let owner = user(&app, "owner").await;
    let co_owner = user(&app, "co-owner").await;
    let editor = user(&app, "editor").await;
    let viewer = user(&app, "viewer").await;
    let target = user(&app, "target").await;
    let mut n = 0;
    for row in table() {
        for (role, actor) in [
            (Role::Owner, &co_owner),
            (Role::Editor, &editor),
            (Role::Viewer, &viewer),
        ] {
            n += 1;
            let members = [
                (&co_owner, "OWNER"),
                (&editor, "EDITOR"),
                (&viewer, "VIEWER"),
                (&target, "VIEWER"),
            ];
            let c = case(&app, n, &owner, &members, &target, actor, &owner).await;
            let status = send(
                &app,
                &row.method,
                &c.path(&row.route),
                &actor.token,
                &c.project_id,
                body(&row.method, &row.route, n, actor, &c),
            )
            .await;
            let what = format!("{} {} as {role}", row.method, row.route);
            match &row.allowed {
                Allowed::Public => assert!(
                    status != 401 && status != 403 && status < 500,
                    "{what}: {status}"
                ),
                Allowed::SignedIn => assert!((200..300).contains(&status), "{what}: {status}"),
                Allowed::Roles(roles) if roles.contains(&role) => {
                    assert!((200..300).contains(&status), "{what}: {status}")
                }
                Allowed::Roles(_) | Allowed::Administrators => assert_eq!(status, 403, "{what}"),
                Allowed::Billing(_) => assert_eq!(status, 404, "{what} with billing off"),
            }
        }
        if row.allowed == Allowed::Administrators {
            // The first user administers the instance; what it acts on is a user of
            // its own, so deleting or disabling it leaves the other cases alone.
            n += 1;
            let victim = user(&app, &format!("victim-{n}")).await;
            let c = case(&app, n, &owner, &[], &victim, &owner, &co_owner).await;
            let status = send(
                &app,
                &row.method,
                &c.path(&row.route),
                &owner.token,
                &c.project_id,
                body(&row.method, &row.route, n, &owner, &c),
            )
            .await;
            let what = format!("{} {} as administrator", row.method, row.route);
            assert!((200..300).contains(&status), "{what}: {status}");
        }
    }
}

async fn other_organizations_ids_are_not_found(backend: Backend) {
    let app = TestApp::start_with(backend, |c| c.webhook_allow_private = true).await;
    let owner_a = user(&app, "owner-a").await;
    let editor_a = user(&app, "editor-a").await;
    let outsider = user(&app, "owner-b").await;
    accounts::create_org(
        &app.state.db,
        &app.state.clock,
        "B",
        &outsider.email,
        Plan::SelfHosted,
    )
    .await
    .unwrap();
    let c = case(
        &app,
        0,
        &owner_a,
        &[(&editor_a, "VIEWER")],
        &editor_a,
        &owner_a,
        &editor_a,
    )
    .await;
    let snapshot = |app: &TestApp| {
        let (db, org_id, project_id) = (
            app.state.db.clone(),
            c.id("{org_id}").to_string(),
            c.project_id.clone(),
        );
        async move {
            let org = db.org_by_id(&org_id).await.unwrap().map(|o| o.name);
            let members: Vec<_> = db
                .list_members(&org_id)
                .await
                .unwrap()
                .into_iter()
                .map(|m| (m.email, m.role))
                .collect();
            let projects: Vec<_> = db
                .projects_of_org(&org_id)
                .await
                .unwrap()
                .into_iter()
                .map(|p| p.name)
                .collect();
            let keys: Vec<_> = db
                .list_api_keys(&project_id)
                .await
                .unwrap()
                .into_iter()
                .map(|k| k.revoked_at)
                .collect();
            let invites = db.pending_invites(&org_id).await.unwrap().len();
            let group = db
                .rollup_error_groups(
                    &telemetry_tracker::store::Scope {
                        project_id: project_id.clone(),
                        from: 0,
                        to: i64::MAX,
                        ..Default::default()
                    },
                    &telemetry_tracker::store::GroupListFilter {
                        limit: 10,
                        ..Default::default()
                    },
                )
                .await
                .unwrap()
                .into_iter()
                .map(|g| g.group.status)
                .collect::<Vec<_>>();
            let webhooks: Vec<_> = db
                .webhooks_of(&project_id)
                .await
                .unwrap()
                .into_iter()
                .map(|w| w.id)
                .collect();
            let alerts = db.alert_settings(&project_id).await.unwrap();
            format!("{org:?} {members:?} {projects:?} {keys:?} {invites} {group:?} {webhooks:?} {alerts:?}")
        }
    };
    let before = snapshot(&app).await;
    let mut checked = 0;
    for row in table() {
        let names_foreign_id = ["{org_id}", "{project_id}", "{id}"]
            .iter()
            .any(|p| row.route.contains(p))
            || row.route.starts_with("/api/overview")
            || matches!(
                row.route.as_str(),
                "/api/events" | "/api/errors" | "/api/sessions"
            );
        // Administration is instance-wide, not any organization's (403 above).
        if matches!(row.allowed, Allowed::Public | Allowed::Administrators) || !names_foreign_id {
            continue;
        }
        // The outsider names A's ids (and A's project for telemetry routes).
        let path = c.path(&row.route);
        let status = send(
            &app,
            &row.method,
            &path,
            &outsider.token,
            &c.project_id,
            body(&row.method, &row.route, 9999, &outsider, &c),
        )
        .await;
        assert_eq!(
            status, 404,
            "{} {path} as a member of another organization",
            row.method
        );
        checked += 1;
    }
    assert!(checked >= 30, "only {checked} routes checked");
    assert_eq!(snapshot(&app).await, before, "nothing of A changed");
    // Lists never include A's things.
    let res = app
        .http
        .get(app.url("/api/orgs"))
        .bearer_auth(&outsider.token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let orgs: Value = res.json().await.unwrap();
    assert_eq!(orgs.as_array().unwrap().len(), 1);
    assert_eq!(orgs[0]["name"], "B");
}

on_both_backends!(
    every_route_allows_exactly_the_roles_in_the_table,
    other_organizations_ids_are_not_found
);
