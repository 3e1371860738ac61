//! The dashboard in a real browser (Debian's Chromium through chromedriver): sign up,
//! set up a project and key, replay the SDK captures, find the events, the error group
//! and the session, resolve the error, switch the theme, invite a member and accept as
//! them — with axe-core checking every page for serious accessibility problems.

mod common;

use common::browser::Browser;
use common::{Backend, TestApp};
use fantoccini::Locator;
use std::path::PathBuf;
use telemetry_tracker::service::accounts;
use telemetry_tracker::service::demo::{self, DemoSpec};

const PASSWORD: &str = "correct horse battery";

/// Checks the current page with axe-core.
async fn accessible(b: &Browser, what: &str) {
    let violations = b.accessibility_violations().await;
    assert!(
        violations.is_empty(),
        "{what}: serious or critical accessibility violations:\n{}",
        violations.join("\n")
    );
}

async fn visit_and_check(b: &Browser, app: &TestApp, path: &str, expect: &str) {
    b.goto(&app.url(path)).await;
    b.wait_for_text(expect).await;
    accessible(b, path).await;
}

async fn sign_up_set_up_ingest_resolve_theme_and_invite(backend: Backend) {
    let app = TestApp::start(backend).await;
    let b = Browser::start(1280).await;

    // The pages before an account: log in, passwords, confirmations, not found.
    b.goto(&app.url("/")).await;
    b.wait_for_text("Log in").await;
    accessible(&b, "login").await;
    for (path, expect) in [
        ("/forgot-password", "Forgot your password?"),
        ("/reset-password?token=ttr_x", "Choose a new password"),
        ("/signup/confirm?token=ttc_x", "Confirm your account"),
        ("/no/such/page", "There is no page at this address."),
    ] {
        visit_and_check(&b, &app, path, expect).await;
    }
    b.goto(&app.url("/signup")).await;
    accessible(&b, "signup").await;
    b.fill("input[name=name]", "Ada Lovelace").await;
    b.fill("input[name=email]", "ada@example.com").await;
    b.fill("input[name=password]", PASSWORD).await;
    b.fill("input[name=org]", "Acme").await;
    b.click("form[action='/signup'] button[type=submit]").await;

    // Onboarding: project, key, snippet, and the live check.
    b.wait_for_text("Set up a project").await;
    b.fill(
        "form[action='/onboarding/project'] input[name=name]",
        "Web shop",
    )
    .await;
    b.click("form[action='/onboarding/project'] button").await;
    b.wait_for_text("Create an API key").await;
    b.click("form[action='/onboarding/key'] button").await;
    b.wait_for_text("shown only once").await;
    let key = b
        .client
        .find(Locator::Css("#new-key"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(key.starts_with("tt_live_"), "{key}");
    b.wait_for_text("Waiting for your first event").await;
    accessible(&b, "onboarding").await;
    app.replay_captures(&key).await;
    b.wait_for_text("Your first event arrived").await;

    // The captures on their pages.
    visit_and_check(&b, &app, "/?range=30d", "Top errors").await;
    assert!(b.text().await.contains("web@1.0.0+abc123"));
    visit_and_check(&b, &app, "/events?range=30d", "page_view").await;
    visit_and_check(
        &b,
        &app,
        "/events?range=30d&name=page_view",
        "Property breakdown",
    )
    .await;
    b.click("table a.row-link").await;
    b.wait_for_text("Properties").await;
    accessible(&b, "event detail").await;
    visit_and_check(&b, &app, "/sessions?range=30d", "Latest sessions").await;
    b.click("table a.row-link").await;
    b.wait_for_text("Timeline").await;
    accessible(&b, "session detail").await;
    visit_and_check(&b, &app, "/performance?range=30d", "No web vitals").await;
    visit_and_check(&b, &app, "/errors?range=30d&status=all", "TypeError").await;

    // The error group: stack, breakdown, and resolving it.
    b.click("table a.row-link").await;
    b.wait_for_text("Stack trace").await;
    accessible(&b, "error detail").await;
    b.click("form[action$='/status'] button.btn-primary").await;
    b.wait_for_text("It reopens by itself if it occurs again.")
        .await;
    assert!(b.exists(".badge-resolved").await);

    for (path, expect) in [
        ("/notifications", "New error:"),
        ("/settings/profile", "Sessions"),
        ("/settings/notifications", "Regressions"),
        ("/settings/tokens", "New token"),
        ("/settings/organization", "Plan and usage"),
        ("/settings/projects", "New project"),
        ("/settings/api-keys", "New key"),
        ("/settings/alerts", "Alert kinds"),
        ("/settings/members", "Invite someone"),
        ("/settings/appearance", "Theme"),
    ] {
        visit_and_check(&b, &app, path, expect).await;
    }

    // Dark theme, chosen under Appearance (the radio submits itself) and kept.
    b.click("input[name=theme][value=dark]").await;
    b.wait_for_text("Theme saved.").await;
    for path in [
        "/?range=30d",
        "/errors?range=30d&status=all",
        "/events?range=30d",
    ] {
        b.goto(&app.url(path)).await;
        assert_eq!(b.attr("html", "data-theme").await.as_deref(), Some("dark"));
        accessible(&b, &format!("{path} (dark)")).await;
    }

    // The bell: the captures' new error groups, unread, in the top bar.
    b.goto(&app.url("/?range=30d")).await;
    assert!(b.exists(".bell-count").await);
    b.click("details.bell > summary").await;
    b.wait_for_text("Mark all read").await;
    b.click("details.bell form button").await;
    b.wait_for_text("Top errors").await;
    assert!(!b.exists(".bell-count").await, "all read");

    // Invite a viewer, log out, accept as them.
    b.goto(&app.url("/settings/members")).await;
    b.fill(
        "form[action='/settings/members'] input[name=email]",
        "vera@example.com",
    )
    .await;
    b.client
        .find(Locator::Css(
            "form[action='/settings/members'] select[name=role]",
        ))
        .await
        .unwrap()
        .select_by_value("VIEWER")
        .await
        .unwrap();
    b.click("form[action='/settings/members'] button[type=submit]")
        .await;
    b.wait_for_text("Invite link").await;
    let link = b
        .client
        .find(Locator::Css("#invite-link"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    b.click("details.user-menu > summary").await;
    b.click("details.user-menu form button").await;
    b.wait_for_text("You are logged out.").await;

    b.goto(&link).await;
    b.wait_for_text("Join Acme").await;
    accessible(&b, "invite").await;
    b.fill("input[name=name]", "Vera Viewer").await;
    b.fill("input[name=password]", PASSWORD).await;
    b.click("form[action='/signup'] button[type=submit]").await;
    b.wait_for_text("Overview").await;
    b.goto(&app.url("/errors?range=30d&status=all")).await;
    b.wait_for_text("TypeError").await;
    b.click("table a.row-link").await;
    b.wait_for_text("Stack trace").await;
    assert!(
        !b.exists("form[action$='/status']").await,
        "a viewer gets no status buttons"
    );
    b.close().await;
}

/// Screenshots of Overview and Errors in both themes, over two weeks of sample data,
/// written to `docs/screenshots/` when UPDATE_SCREENSHOTS=1 (else to a temp dir); and
/// no page or card scrolls sideways at 375, 1366 and 1920 px.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn screenshots_and_phone_layout() {
    let app = TestApp::start(Backend::Sqlite).await;
    let (db, clock) = (&app.state.db, &app.state.clock);
    let user = accounts::create_user(db, clock, "ada@example.com", PASSWORD, Some("Acme"))
        .await
        .unwrap();
    let project = accounts::create_project(db, clock, &user.org.unwrap().id, "Web shop")
        .await
        .unwrap();
    demo::generate(
        db,
        &DemoSpec {
            project_id: project.id.clone(),
            days: 14,
            sessions: 3_000,
            events: 40_000,
            errors: 600,
            users: 1_500,
            seed: 7,
            now: app.state.clock.now_ms(),
        },
        |_| {},
    )
    .await
    .unwrap();
    let out: PathBuf = if std::env::var("UPDATE_SCREENSHOTS").is_ok_and(|v| v == "1") {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("docs/screenshots")
    } else {
        std::env::temp_dir().join(format!("tt-screenshots-{}", std::process::id()))
    };
    std::fs::create_dir_all(&out).unwrap();

    let b = Browser::start(1280).await;
    b.goto(&app.url("/login")).await;
    b.fill("input[name=email]", "ada@example.com").await;
    b.fill("input[name=password]", PASSWORD).await;
    b.click("form[action='/login'] button").await;
    b.wait_for_text("Overview").await;
    for theme in ["light", "dark"] {
        b.goto(&app.url("/settings/appearance")).await;
        b.click(&format!("input[name=theme][value={theme}]")).await;
        b.wait_for_text("Theme saved.").await;
        for (page, path) in [("overview", "/?range=14d"), ("errors", "/errors?range=14d")] {
            b.goto(&app.url(path)).await;
            b.wait_for_text("Telemetry Tracker").await;
            let png = b.screenshot().await;
            assert!(png.starts_with(b"\x89PNG"), "a PNG");
            std::fs::write(out.join(format!("{page}-{theme}.png")), png).unwrap();
        }
    }

    // Nothing scrolls sideways: not the page on a phone, and no card (or the table
    // inside one) at phone, laptop and desktop widths.
    const OVERFLOWING: &str = "return [...document.querySelectorAll('.card, .card .table-wrap')]
        .filter(el => el.checkVisibility() && el.scrollWidth > el.clientWidth + 1)
        .map(el => (el.querySelector('.card-title') || el.closest('.card')?.querySelector('.card-title') || el)
            .textContent.trim().slice(0, 40) + ' (' + el.scrollWidth + ' > ' + el.clientWidth + ')')";
    let mut details = Vec::new();
    for list in ["/errors?range=14d", "/sessions?range=14d"] {
        b.goto(&app.url(list)).await;
        let href = b.attr("a.row-link", "href").await.expect("a row to open");
        details.push(href.trim_start_matches(&app.url("")).to_string());
    }
    for width in [375, 1366, 1920] {
        b.client.set_window_size(width, 900).await.unwrap();
        for path in details.iter().map(String::as_str).chain([
            "/?range=14d",
            "/?range=7d",
            "/errors?range=14d",
            "/events?range=14d&name=page_view",
            "/sessions?range=14d",
            "/performance?range=14d",
            "/notifications",
            "/onboarding",
            "/settings/members",
            "/settings/api-keys",
        ]) {
            b.goto(&app.url(path)).await;
            b.wait_for_text("Telemetry Tracker").await;
            let (page, viewport) = (
                b.client
                    .execute("return document.documentElement.scrollWidth", vec![])
                    .await
                    .unwrap(),
                b.client
                    .execute("return window.innerWidth", vec![])
                    .await
                    .unwrap(),
            );
            assert!(
                page.as_i64() <= viewport.as_i64(),
                "{path} is {page} px wide on a {viewport} px screen"
            );
            let cards = b.client.execute(OVERFLOWING, vec![]).await.unwrap();
            assert_eq!(
                cards.as_array().map_or(0, Vec::len),
                0,
                "{path} at {width} px: cards overflow sideways: {cards}"
            );
        }
    }
    b.close().await;
}

on_both_backends!(sign_up_set_up_ingest_resolve_theme_and_invite);
