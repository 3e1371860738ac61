//! The dashboard over HTTP, as a browser without JavaScript uses it: sign-up and
//! onboarding, every page with the SDK captures ingested, forms and their CSRF
//! tokens, roles, the bell, themes, security headers and assets.

mod common;

use common::receiver::{Mode, Receiver};
use common::web::Web;
use common::{Backend, TestApp};
use serde_json::{json, Value};
use telemetry_tracker::domain::plans::Plan;
use telemetry_tracker::domain::timeutil::month_key;
use telemetry_tracker::service::accounts;

const PASSWORD: &str = "correct horse battery";

/// A first user signed up through the pages, with a project and key made in onboarding.
async fn onboarded(app: &TestApp) -> (Web, String, String) {
    let web = Web::new(&app.base);
    let signed_up = web.sign_up("owner@example.com", PASSWORD, "Acme").await;
    assert_eq!(signed_up.status, 303, "{}", signed_up.body);
    assert_eq!(signed_up.location.as_deref(), Some("/onboarding"));

    let onboarding = web.get("/onboarding").await;
    assert_eq!(onboarding.status, 200);
    assert!(onboarding.has("Create a project"));
    let org = onboarding
        .between("name=\"org\" value=\"", "\"")
        .expect("the project form names the organization");
    let created = web
        .post(
            "/onboarding/project",
            &[
                ("csrf", &onboarding.csrf()),
                ("org", &org),
                ("name", "Web shop"),
            ],
        )
        .await;
    assert_eq!(created.status, 303);
    let step3 = web.visit_ok(created.location.as_deref().unwrap()).await;
    assert!(step3.has("Create an API key"), "{}", step3.body);
    let project = step3.between("name=\"project\" value=\"", "\"").unwrap();
    let with_key = web
        .post(
            "/onboarding/key",
            &[
                ("csrf", &step3.csrf()),
                ("project", &project),
                ("label", "web"),
            ],
        )
        .await;
    assert_eq!(with_key.status, 200);
    let key = with_key
        .between("<code id=\"new-key\">", "</code>")
        .expect("the new key is shown once");
    assert!(key.starts_with("tt_live_"));
    assert!(
        with_key.has(&format!("apiKey: &quot;{key}&quot;")),
        "the snippet carries the key"
    );
    (web, project, key)
}

async fn first_user_onboards_and_sees_the_sdk_captures_on_every_page(backend: Backend) {
    let app = TestApp::start(backend).await;
    let (web, project, key) = onboarded(&app).await;

    let status = web
        .get_ok(&format!("/onboarding/status?project={project}"))
        .await;
    assert_eq!(status.body, json!({ "received": false }).to_string());
    let empty = web.visit_ok("/").await;
    assert!(
        empty.has("No data yet"),
        "an empty project says what to do next"
    );

    app.replay_captures(&key).await;
    let status = web
        .get_ok(&format!("/onboarding/status?project={project}"))
        .await;
    assert_eq!(status.body, json!({ "received": true }).to_string());

    let overview = web.visit("/?range=30d").await;
    assert_eq!(overview.status, 200);
    for text in [
        "Events",
        "Errors",
        "Affected users",
        "Crash-free sessions",
        "Top errors",
        "Releases",
    ] {
        assert!(overview.has(text), "overview lacks {text}");
    }
    assert!(
        overview.has("web@1.0.0+abc123"),
        "a release of the captures"
    );
    assert!(overview.has("<svg class=\"chart-svg\""), "the trend chart");

    let events = web.visit_ok("/events?range=30d").await;
    assert!(events.has("page_view") && events.has("$screen"));
    let named = web.visit_ok("/events?range=30d&name=page_view").await;
    assert!(
        named.has("Property breakdown") && named.has("/pricing"),
        "{}",
        named.body
    );

    let errors = web.visit_ok("/errors?range=30d&status=all").await;
    assert!(errors.has("TypeError"), "{}", errors.body);
    let group = errors
        .between("href=\"/errors/", "?")
        .expect("a link to an error group");
    let detail = web.visit(&format!("/errors/{group}?range=30d")).await;
    assert_eq!(detail.status, 200);
    assert!(detail.has("Stack trace") && detail.has("Breakdown"));
    assert!(detail.has(">Resolve<"), "an owner may resolve");

    let resolved = web
        .post(
            &format!("/errors/{group}/status"),
            &[
                ("csrf", &detail.csrf()),
                ("status", "resolved"),
                ("project", &project),
                ("back", &format!("/errors/{group}")),
            ],
        )
        .await;
    assert_eq!(resolved.status, 303);
    let after = web.visit_ok(resolved.location.as_deref().unwrap()).await;
    assert!(
        after.has("badge-resolved") && after.has("Resolved."),
        "{}",
        after.body
    );

    let sessions = web.visit_ok("/sessions?range=30d").await;
    assert!(sessions.has("Latest sessions"));
    let session = "b42effde-5cc0-40e0-9f61-8d5585b0764b";
    let timeline = web.visit(&format!("/sessions/{session}")).await;
    assert_eq!(timeline.status, 200);
    assert!(timeline.has("Timeline") && timeline.has("page_view") && timeline.has("tl-error"));

    let performance = web.visit("/performance?range=30d").await;
    assert_eq!(performance.status, 200);
    assert!(performance.has("No web vitals in this range"));

    // The bell: the new error groups of the captures, for the owner.
    let bell = web.visit_ok("/notifications").await;
    assert!(bell.has("New error:"), "{}", bell.body);
    let unread = |page: &common::web::Page| page.body.matches("class=\"notif unread\"").count();
    let before = unread(&bell);
    assert!(before >= 2, "one per new group, in the bell and the list");
    let first = bell.between("href=\"/notifications/", "\"").unwrap();
    let opened = web.get(&format!("/notifications/{first}")).await;
    assert_eq!(opened.status, 303);
    assert!(opened.location.unwrap().starts_with("/errors/"));
    let unread_before = web.visit_ok("/notifications").await;
    assert_eq!(
        unread(&unread_before),
        before - 2,
        "read in the bell and the list"
    );
    let all_read = web
        .post(
            "/notifications/read-all",
            &[("csrf", &unread_before.csrf()), ("to", "/notifications")],
        )
        .await;
    assert_eq!(all_read.status, 303);
    let caught_up = web.visit_ok("/notifications?unread=1").await;
    assert!(caught_up.has("You are all caught up"));
}

async fn forms_need_their_csrf_token(backend: Backend) {
    let app = TestApp::start(backend).await;
    let (web, project, _) = onboarded(&app).await;
    for (path, form) in [
        ("/settings/projects", vec![("org", "x"), ("name", "Sneaky")]),
        ("/settings/appearance", vec![("theme", "dark")]),
        ("/logout", vec![]),
    ] {
        let mut with_bad_token = form.clone();
        with_bad_token.push(("csrf", "not-the-token"));
        for attempt in [form.clone(), with_bad_token] {
            let page = web.post(path, &attempt).await;
            assert_eq!(page.status, 403, "{path}: {}", page.body);
            assert!(page.has("This form has expired"));
        }
    }
    // Nothing happened: still signed in, still the default theme, one project.
    let projects = web.visit("/settings/projects").await;
    assert_eq!(projects.status, 200);
    assert!(!projects.has("Sneaky"));
    assert!(projects.body.contains("data-theme=\"system\""));
    assert!(projects.has(&project));

    // Login forms have their own token (a cookie and a field that must match).
    let anonymous = Web::new(&app.base);
    let refused = anonymous
        .post(
            "/login",
            &[
                ("csrf", "forged"),
                ("email", "owner@example.com"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(refused.status, 403);
    let wrong = anonymous
        .log_in("owner@example.com", "wrong password!!")
        .await;
    assert_eq!(wrong.status, 401);
    assert!(wrong.has("Invalid email or password."));
}

async fn viewers_see_no_actions_and_are_refused_anyway(backend: Backend) {
    let app = TestApp::start(backend).await;
    let (owner, project, key) = onboarded(&app).await;
    app.replay_captures(&key).await;

    let members = owner.visit_ok("/settings/members").await;
    let org = members.between("name=\"org\" value=\"", "\"").unwrap();
    let invited = owner
        .post(
            "/settings/members",
            &[
                ("csrf", &members.csrf()),
                ("org", &org),
                ("email", "viewer@example.com"),
                ("role", "VIEWER"),
            ],
        )
        .await;
    assert_eq!(invited.status, 200);
    let link = invited
        .between("<code id=\"invite-link\">", "</code>")
        .expect("the invite link is shown when no mail goes out");
    let path = link.trim_start_matches(&app.base).replace("&amp;", "&");

    let viewer = Web::new(&app.base);
    let invite = viewer.visit_ok(&path).await;
    assert!(
        invite.has("Join Acme") && invite.has("VIEWER"),
        "{}",
        invite.body
    );
    let token = invite.between("name=\"invite\" value=\"", "\"").unwrap();
    let joined = viewer
        .post(
            "/signup",
            &[
                ("csrf", &invite.csrf()),
                ("invite", &token),
                ("email", "viewer@example.com"),
                ("name", "Vera"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(joined.status, 303, "{}", joined.body);

    let errors = viewer.visit_ok("/errors?range=30d&status=all").await;
    let group = errors.between("href=\"/errors/", "?").unwrap();
    let detail = viewer.visit_ok(&format!("/errors/{group}?range=30d")).await;
    assert!(detail.has("Stack trace"));
    assert!(
        !detail.has(">Resolve<") && !detail.has(">Ignore<"),
        "no buttons a viewer cannot use"
    );
    let refused = viewer
        .post(
            &format!("/errors/{group}/status"),
            &[
                ("csrf", &detail.csrf()),
                ("status", "resolved"),
                ("project", &project),
            ],
        )
        .await;
    assert_eq!(refused.status, 403);
    assert!(viewer
        .visit_ok(&format!("/errors/{group}?range=30d"))
        .await
        .has("badge-unresolved"));

    let keys = viewer.visit_ok("/settings/api-keys").await;
    assert!(keys.has("Only owners and editors manage keys"));
    assert!(!keys.has("tt_live_"));
    let projects = viewer.visit_ok("/settings/projects").await;
    assert!(!projects.has("Create project"));

    // Someone outside the organization sees nothing of it.
    let outsider = Web::new(&app.base);
    let _ = app.seed("outsider").await;
    assert_eq!(
        outsider
            .log_in("outsider@example.com", PASSWORD)
            .await
            .status,
        303
    );
    assert_eq!(
        outsider
            .get(&format!("/errors/{group}?project={project}"))
            .await
            .status,
        404
    );
    assert_eq!(
        outsider
            .get(&format!("/switch?project={project}"))
            .await
            .status,
        404
    );
    let own = outsider.visit_ok("/?range=30d").await;
    assert!(!own.has("Web shop"));
}

async fn preferences_pages_and_headers(backend: Backend) {
    let app = TestApp::start(backend).await;
    let (web, _, _) = onboarded(&app).await;

    let appearance = web.visit_ok("/settings/appearance").await;
    let saved = web
        .post(
            "/settings/appearance",
            &[("csrf", &appearance.csrf()), ("theme", "dark")],
        )
        .await;
    assert_eq!(saved.status, 303);
    let page = web.visit_ok("/").await;
    assert!(page.body.contains("<html lang=\"en\" data-theme=\"dark\">"));
    let bad = web
        .post(
            "/settings/appearance",
            &[("csrf", &appearance.csrf()), ("theme", "neon")],
        )
        .await;
    assert_eq!(bad.status, 303);
    assert!(web
        .visit_ok("/settings/appearance")
        .await
        .has("`theme` must be system, light or dark"));

    let prefs = web.visit_ok("/settings/notifications").await;
    assert!(prefs.has("Regressions"));
    let saved = web
        .post(
            "/settings/notifications",
            &[
                ("csrf", &prefs.csrf()),
                ("new_issue_bell", "on"),
                ("regression_email", "on"),
            ],
        )
        .await;
    assert_eq!(saved.status, 303);
    let prefs = web.visit_ok("/settings/notifications").await;
    assert!(prefs.has("name=\"new_issue_bell\" value=\"on\" checked"));
    assert!(!prefs.has("name=\"regression_bell\" value=\"on\" checked"));

    for path in [
        "/",
        "/errors",
        "/events",
        "/sessions",
        "/performance",
        "/notifications",
        "/onboarding",
        "/settings/profile",
        "/settings/appearance",
        "/settings/notifications",
        "/settings/tokens",
        "/settings/organization",
        "/settings/members",
        "/settings/projects",
        "/settings/api-keys",
    ] {
        let page = web.get(path).await;
        assert_eq!(page.status, 200, "{path}: {}", page.body);
        let csp = page.headers["content-security-policy"].to_str().unwrap();
        assert!(csp.contains("default-src 'none'") && csp.contains("script-src 'self'"));
        assert!(!page.body.contains("style="), "{path} has an inline style");
        assert!(
            !page.body.contains("<script>"),
            "{path} has an inline script"
        );
        assert_eq!(page.headers["cache-control"], "no-store");
    }

    // Assets: fingerprinted and cached for a year; a stale fingerprint is not.
    let page = web.get_ok("/").await;
    let css = page
        .between("<link rel=\"stylesheet\" href=\"", "\"")
        .unwrap();
    let asset = web.get(&css).await;
    assert_eq!(asset.status, 200);
    assert_eq!(
        asset.headers["cache-control"],
        "public, max-age=31536000, immutable"
    );
    assert!(asset.headers["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/css"));
    let stale = web.get_ok("/assets/000000000000/css/app.css").await;
    assert_eq!(stale.headers["cache-control"], "no-cache");
    assert_eq!(web.get("/assets/x/nope.css").await.status, 404);

    // Bad input gets a page that says what is wrong, never a 500.
    assert_eq!(web.get("/errors?range=forever").await.status, 400);
    assert_eq!(
        web.get("/?from=-9000000000000000000&to=9000000000000000000")
            .await
            .status,
        400
    );
    assert_eq!(
        web.get("/?range=20000y").await.status,
        200,
        "all of time, from 1970"
    );
    assert_eq!(
        web.get("/errors?page=9223372036854775807").await.status,
        200
    );
    assert_eq!(web.get("/events?from=2026-13-45").await.status, 400);
    assert_eq!(web.get("/errors/not-a-group").await.status, 404);
    assert_eq!(web.get("/sessions/%00").await.status, 400);
    let missing = web.get("/no/such/page").await;
    assert_eq!(missing.status, 404);
    assert!(missing.has("There is no page at this address."));

    // After logging in, only a path on this server is followed (browsers drop tabs,
    // so `/\t/host` would be `//host`).
    let anonymous = Web::new(&app.base);
    let form = anonymous.get_ok("/login?next=/%09/evil.example").await;
    let next = form.between("name=\"next\" value=\"", "\"").unwrap();
    let signed_in = anonymous
        .post(
            "/login",
            &[
                ("csrf", &form.csrf()),
                ("email", "owner@example.com"),
                ("password", PASSWORD),
                ("next", &next),
            ],
        )
        .await;
    assert_eq!(
        (signed_in.status, signed_in.location.as_deref()),
        (303, Some("/"))
    );

    // Logged out, pages send you to log in and back.
    let anonymous = Web::new(&app.base);
    let redirect = anonymous.get("/errors?range=7d").await;
    assert_eq!(redirect.status, 303);
    assert_eq!(
        redirect.location.as_deref(),
        Some("/login?next=%2Ferrors%3Frange%3D7d")
    );
}

/// Regressions reach the bell and, by default, the mailbox (over a real SMTP server);
/// new groups only the bell.
async fn regressions_are_mailed_and_rung(backend: Backend) {
    let sink = common::smtp::SmtpSink::start();
    let app = TestApp::start_with(backend, |c| c.smtp_url = Some(sink.url())).await;
    let seed = app.seed("ada").await;
    let web = Web::new(&app.base);
    assert_eq!(web.log_in(&seed.email, PASSWORD).await.status, 303);
    let error = json!({ "app": "web", "message": "Payment form failed", "stack":
        "Error: Payment form failed\n    at submit (https://shop.example.com/assets/pay.js:10:5)" });
    assert_eq!(
        app.post_json("/ingest/error", &seed.key, &error)
            .await
            .status(),
        204
    );

    let new_group = async {
        loop {
            let page = web.visit("/notifications").await;
            if page.has("New error: Error: Payment form failed") && page.has("bell-count") {
                return page;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    };
    let page = tokio::time::timeout(std::time::Duration::from_secs(10), new_group)
        .await
        .expect("the new group rings the bell");
    let group = page.between("href=\"/notifications/", "\"").unwrap();
    let opened = web.get(&format!("/notifications/{group}")).await;
    assert_eq!(opened.status, 303, "{}", opened.body);
    let target = opened.location.unwrap();
    let detail = web.visit_ok(&target).await;
    let form_project = detail.between("name=\"project\" value=\"", "\"").unwrap();
    let group_id = target
        .trim_start_matches("/errors/")
        .split('?')
        .next()
        .unwrap()
        .to_string();
    let resolved = web
        .post(
            &format!("/errors/{group_id}/status"),
            &[
                ("csrf", &detail.csrf()),
                ("status", "resolved"),
                ("project", &form_project),
            ],
        )
        .await;
    assert_eq!(resolved.status, 303);
    assert_eq!(sink.count(), 0, "new groups are not mailed by default");

    assert_eq!(
        app.post_json("/ingest/error", &seed.key, &error)
            .await
            .status(),
        204
    );
    let mail = sink.wait_for_to(&seed.email).await;
    assert!(
        mail.subject()
            .contains("Regression: Error: Payment form failed"),
        "{}",
        mail.subject()
    );
    let text = mail.text_part().unwrap();
    assert!(
        text.contains(&format!("{}/errors/{group_id}", app.base)),
        "{text}"
    );
    let regressed = web.visit_ok(&format!("/errors/{group_id}")).await;
    assert!(regressed.has("badge-unresolved") && regressed.has("Regressed"));
    assert!(web
        .visit_ok("/notifications")
        .await
        .has("Regression: Error: Payment form failed"));
}

/// Web vitals and property values, as the SDKs send them, on their pages.
async fn web_vitals_and_property_values_add_up(backend: Backend) {
    let app = TestApp::start(backend).await;
    let seed = app.seed("ada").await;
    let web = Web::new(&app.base);
    assert_eq!(web.log_in(&seed.email, PASSWORD).await.status, 303);
    // LCP 100, 200, … 2000 ms: p75 is 1500 ms; 16 good (≤ 2500), all of them.
    let vitals: Vec<_> = (1..=20)
        .map(|i| json!({ "app": "web", "name": "$web_vital",
            "properties": { "metric": "LCP", "value": i * 100, "rating": "good", "id": format!("v{i}") } }))
        .collect();
    assert_eq!(
        app.post_json("/ingest/batch", &seed.key, &json!({ "events": vitals }))
            .await
            .status(),
        204
    );
    let performance = web.visit_ok("/performance?range=24h").await;
    let p75: f64 = performance
        .between("<div class=\"vital-value\">", " ms</div>")
        .unwrap()
        .parse()
        .unwrap();
    assert!((p75 - 1500.0).abs() <= 1500.0 * 0.03, "p75 {p75}");
    assert!(performance.has("p75 of 20 samples"));

    // 120 distinct order ids on one day: 100 keep their value, 20 become "other".
    let orders: Vec<_> = (0..120)
        .map(|i| json!({ "app": "web", "name": "purchase", "properties": { "order": format!("o-{i:03}"), "plan": "pro" } }))
        .collect();
    for chunk in orders.chunks(100) {
        assert_eq!(
            app.post_json("/ingest/batch", &seed.key, &json!({ "events": chunk }))
                .await
                .status(),
            204
        );
    }
    let plan = web
        .visit_ok("/events?range=24h&name=purchase&prop=plan")
        .await;
    assert!(
        plan.has(
            "<span class=\"bd-label\">pro</span><span class=\"bd-count num\">120 · 100 %</span>"
        ),
        "{}",
        plan.body
    );
    let order = web
        .visit_ok("/events?range=24h&name=purchase&prop=order")
        .await;
    assert!(
        order.has("(other values)</span><span class=\"bd-count num\">20 "),
        "{}",
        order.body
    );
    assert!(order.has("100 distinct values per day"));
}

/// Session pages to the second (milliseconds where two moments share one), with the
/// app and an open session's duration from its activity; crashed apart from errored;
/// error occurrences called occurrences.
async fn sessions_and_errors_read_plainly(backend: Backend) {
    let app = TestApp::start(backend).await;
    let (web, _project, key) = onboarded(&app).await;
    let now = app.state.clock.now_ms();
    let at = |ms: i64| telemetry_tracker::domain::timeutil::format_rfc3339_ms(ms);
    let start = now - now % 1_000 - 10_000; // on a whole second
    let post = |path: &'static str, body: Value| {
        let (app, key) = (&app, &key);
        async move {
            assert_eq!(
                app.post_json(path, key, &body).await.status(),
                204,
                "{path}"
            );
        }
    };
    post(
        "/ingest/session",
        json!({ "session_id": "tl", "app": "checkout", "started_at": at(start) }),
    )
    .await;
    post(
        "/ingest/batch",
        json!({ "events": [
        { "app": "checkout", "name": "first", "session_id": "tl", "timestamp": at(start + 1_100) },
        { "app": "checkout", "name": "second", "session_id": "tl", "timestamp": at(start + 1_700) },
        { "app": "checkout", "name": "third", "session_id": "tl", "timestamp": at(start + 4_000) },
    ] }),
    )
    .await;
    post(
        "/ingest/error",
        json!({ "app": "checkout", "message": "handled failure", "session_id": "tl" }),
    )
    .await;
    post(
        "/ingest/session",
        json!({ "session_id": "boom", "app": "checkout" }),
    )
    .await;
    post(
        "/ingest/error",
        json!({ "app": "checkout", "message": "nobody caught this",
        "session_id": "boom", "context": { "source": "window.onerror" } }),
    )
    .await;

    let list = web.visit_ok("/sessions?range=24h").await;
    assert!(
        list.has(">App</th>") && list.has("checkout"),
        "an App column"
    );
    assert!(
        list.has(">Crashed<") && list.has(">Errors<"),
        "crashed apart from errored"
    );
    assert!(list.has("Crash-free sessions") && list.has("Error-free sessions"));
    // A session opens by the SDK's session id too.
    let tl = web.visit_ok("/sessions/tl").await;
    let clock = |ms: i64| at(ms)[11..].to_string();
    assert!(
        tl.has(&format!(">{}<", &clock(start + 1_100)[..12])),
        "milliseconds where two share a second: {}",
        tl.body
    );
    assert!(tl.has(&format!(">{}<", &clock(start + 1_700)[..12])));
    assert!(
        tl.has(&format!(">{}<", &clock(start + 4_000)[..8])),
        "seconds otherwise"
    );
    assert!(
        tl.has("so far"),
        "an open session's duration runs to its last activity"
    );

    let errors = web.visit_ok("/errors?range=24h&status=all").await;
    assert!(errors.has(">Occurrences</th>"), "{}", errors.body);
    let group = errors.between("href=\"/errors/", "\"").unwrap();
    let detail = web.visit_ok(&format!("/errors/{group}")).await;
    assert!(detail.has("Occurrences in range") && detail.has("Occurrences over time"));
    assert!(
        !detail.has("card-title\">Events<"),
        "occurrences are not called events"
    );
    let overview = web.visit_ok("/?range=24h").await;
    assert!(overview.has("Crash-free sessions") && overview.has("Error-free sessions"));
}

/// Settings → Alerts: kinds saved (a bad number named), a generic webhook's secret
/// shown once, a test sent and logged, removal; viewers read it all without forms;
/// the quota banner for owners only.
async fn alerts_settings_webhooks_and_quota_banner(backend: Backend) {
    let app = TestApp::start_with(backend, |c| c.webhook_allow_private = true).await;
    let (db, seed) = (&app.state.db, app.seed("ada").await);
    let owner = Web::new(&app.base);
    assert_eq!(owner.log_in(&seed.email, PASSWORD).await.status, 303);
    let page = owner.visit_ok("/settings/alerts").await;
    assert!(page.has("href=\"/settings/alerts\" aria-current=\"page\""));
    assert!(page.has("Save alert settings") && page.has("No webhooks yet"));
    let (csrf, project) = (page.csrf(), seed.project_id.clone());
    let save = |threshold: &'static str| {
        let form = [
            ("csrf", csrf.as_str()),
            ("project", &project),
            ("new_group", "on"),
            ("spike", "on"),
            ("threshold", threshold),
            ("window_minutes", "30"),
            ("quota", "on"),
            ("near_percent", "80"),
        ];
        let owner = &owner;
        async move { owner.post("/settings/alerts", &form).await }
    };
    let refused = save("0").await;
    assert_eq!(refused.status, 303);
    let shown = owner.visit_ok(&refused.location.unwrap()).await;
    assert!(shown.has("The spike occurrences must be"), "{}", shown.body);
    assert!(
        db.alert_settings(&project).await.unwrap().is_none(),
        "nothing saved"
    );
    let saved = owner.visit_ok(&save("40").await.location.unwrap()).await;
    assert!(saved.has("Alert settings saved.") && saved.has("value=\"40\""));
    let stored = db.alert_settings(&project).await.unwrap().unwrap();
    assert_eq!(
        serde_json::from_str::<Value>(&stored).unwrap(),
        json!({ "new_group": true, "regression": false,
        "spike": { "enabled": true, "threshold": 40, "window_minutes": 30 }, "quota": { "enabled": true, "near_percent": 80 } })
    );

    let rx = Receiver::start(Mode::Ok);
    let added = owner
        .post(
            &format!("/settings/alerts/webhooks?project={project}"),
            &[
                ("csrf", &csrf),
                ("project", &project),
                ("url", &rx.url()),
                ("format", "generic"),
                ("name", "Ops hook"),
                ("kind_new_group", "on"),
                ("kind_spike", "on"),
            ],
        )
        .await;
    assert_eq!(added.status, 200, "{}", added.body);
    let secret = added
        .between("<code id=\"new-secret\">", "</code>")
        .expect("the secret, once");
    assert!(secret.starts_with("whsec_"));
    let listed = owner.visit_ok("/settings/alerts").await;
    assert!(
        !listed.has(&secret) && listed.has("Ops hook") && listed.has("New error groups, Spikes")
    );
    assert!(
        listed.has("127.0.0.1:") && !listed.has("/hook<"),
        "the host, not the URL"
    );
    let hook = listed.between("id=\"hook-", "\"").unwrap();
    let tested = owner
        .post(
            &format!("/settings/alerts/webhooks/{hook}/test"),
            &[("csrf", &csrf), ("project", &project)],
        )
        .await;
    assert_eq!(tested.status, 303);
    assert_eq!(rx.count(), 1, "sent before the answer");
    let logged = owner.visit_ok(&tested.location.unwrap()).await;
    assert!(
        logged.has("Test delivered: HTTP 200")
            && logged.has("badge-good\">Delivered<")
            && logged.has(">Test<"),
        "{}",
        logged.body
    );

    let vera = accounts::create_user(db, &app.state.clock, "vera@example.com", PASSWORD, None)
        .await
        .unwrap();
    db.add_membership(&seed.org_id, &vera.user.id, "VIEWER", 0)
        .await
        .unwrap();
    let viewer = Web::new(&app.base);
    assert_eq!(
        viewer.log_in("vera@example.com", PASSWORD).await.status,
        303
    );
    let read = viewer
        .visit_ok(&format!("/settings/alerts?project={project}"))
        .await;
    assert!(read.has("Ops hook") && read.has(">Delivered<") && read.has("at least 40 occurrences"));
    assert!(
        !read.has("method=\"post\" action=\"/settings/alerts"),
        "no forms: {}",
        read.body
    );
    assert!(!read.has("Send test") && !read.has("Add a webhook") && !read.has(&secret));

    // The quota banner: owners only, near at the project's 80 %, then used up.
    accounts::set_org_plan(db, &seed.org_id, Plan::Free)
        .await
        .unwrap();
    let month = month_key(app.state.clock.now_ms());
    db.reserve_usage(&project, &month, 200_000, 250_000)
        .await
        .unwrap()
        .unwrap();
    assert!(owner
        .visit_ok("/")
        .await
        .has("used 80 % of its monthly quota"));
    assert!(!viewer.visit_ok("/").await.has("monthly quota"));
    db.reserve_usage(&project, &month, 50_000, 250_000)
        .await
        .unwrap()
        .unwrap();
    let over = owner.visit_ok("/settings/alerts").await;
    assert!(over.has("used up its monthly quota") && over.has("new data is refused until"));

    let removed = owner
        .post(
            &format!("/settings/alerts/webhooks/{hook}/remove"),
            &[("csrf", &csrf), ("project", &project)],
        )
        .await;
    let gone = owner.visit_ok(&removed.location.unwrap()).await;
    assert!(gone.has("Webhook removed.") && gone.has("No webhooks yet"));
}

on_both_backends!(
    alerts_settings_webhooks_and_quota_banner,
    sessions_and_errors_read_plainly,
    regressions_are_mailed_and_rung,
    web_vitals_and_property_values_add_up,
    first_user_onboards_and_sees_the_sdk_captures_on_every_page,
    forms_need_their_csrf_token,
    viewers_see_no_actions_and_are_refused_anyway,
    preferences_pages_and_headers
);
