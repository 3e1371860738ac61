//! The dashboard in a real browser (Debian's Chromium through chromedriver): sign up,
//! set up a project and key, replay the SDK captures, find the events, the error group
//! and the session, resolve the error, switch the theme, invite a member and accept as
//! them — with axe-core checking every page for serious accessibility problems;
//! and an error's stack shown through uploaded source maps.

mod common;

use common::browser::Browser;
use common::{Backend, Seed, TestApp};
use fantoccini::Locator;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
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
        ("/settings/instance", "Registration"),
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
    // Billing on, for its settings page (which reads only the database); the
    // organization below is made by the operator's path and stays SELF_HOSTED.
    let app = TestApp::start_with(Backend::Sqlite, |c| {
        c.stripe.stripe_secret_key = Some("sk_test_unused".into());
        c.stripe.stripe_webhook_secret = Some("whsec_unused".into());
        c.stripe.stripe_price_pro = Some("price_pro".into());
        c.stripe.stripe_price_business = Some("price_business".into());
        c.stripe.stripe_api_base = "http://127.0.0.1:9".into();
    })
    .await;
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
        for (page, path) in [
            ("overview", "/?range=14d"),
            ("errors", "/errors?range=14d"),
            ("billing", "/settings/billing"),
        ] {
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
            "/settings/instance",
            "/settings/billing",
        ]) {
            b.goto(&app.url(path)).await;
            b.wait_for_text("Telemetry Tracker").await;
            if width == 375 && path == "/settings/billing" {
                accessible(&b, path).await;
            }
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

/// The files under `dir`, each with its path relative to `dir` (`assets/app.js`).
fn files_under(dir: &Path, base: &Path, out: &mut Vec<(String, Vec<u8>)>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files_under(&path, base, out);
        } else {
            let name = path
                .strip_prefix(base)
                .unwrap()
                .to_string_lossy()
                .replace('\\', "/");
            out.push((name, std::fs::read(&path).unwrap()));
        }
    }
}

/// Uploads a release's built files as a CI job does: one multipart part `file` per
/// file, named by its URL path.
async fn upload_release(app: &TestApp, seed: &Seed, release: &str, dir: &Path) {
    let mut files = Vec::new();
    files_under(dir, dir, &mut files);
    assert!(!files.is_empty(), "no files under {}", dir.display());
    let mut form = reqwest::multipart::Form::new();
    for (name, bytes) in files {
        form = form.part(
            "file",
            reqwest::multipart::Part::bytes(bytes).file_name(name),
        );
    }
    let path = format!(
        "/api/projects/{}/releases/{release}/artifacts",
        seed.project_id
    );
    let res = app
        .http
        .post(app.url(&path))
        .bearer_auth(&seed.token)
        .multipart(form)
        .send()
        .await
        .expect("request");
    let status = res.status();
    let body = res.text().await.unwrap_or_default();
    assert!(status.is_success(), "POST {path}: {status}: {body}");
}

/// Whether the element is shown (not hidden by the page's CSS).
async fn shown(b: &Browser, css: &str) -> bool {
    b.client
        .find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("no {css}: {e}"))
        .is_displayed()
        .await
        .unwrap()
}

/// Opens the error group whose row shows `message`; its URL.
async fn open_group(b: &Browser, app: &TestApp, message: &str) -> String {
    b.goto(&app.url("/errors?status=all")).await;
    b.wait_for_text(message).await;
    let row = format!("//table//a[contains(@class, 'row-link')][contains(., {message:?})]");
    b.client
        .find(Locator::XPath(&row))
        .await
        .unwrap_or_else(|e| panic!("no row for {message:?}: {e}"))
        .click()
        .await
        .unwrap();
    b.wait_for_text("Stack trace").await;
    b.client.current_url().await.unwrap().to_string()
}

async fn text_of(b: &Browser, css: &str) -> String {
    b.client
        .find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("no {css}: {e}"))
        .text()
        .await
        .unwrap()
}

/// A real esbuild bundle and its map uploaded through the API, a minified error of
/// that release ingested, and its page: the original function, file and line with
/// the source around it, the frames as reported one click away (without JavaScript's
/// help: radio buttons and CSS), and the release's files under Settings → Releases.
/// The same stack in a release without files is shown as reported, with the reason.
/// With SOURCEMAP_SHOTS=dir, screenshots of the pages (desktop and phone, light and
/// dark) go there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn error_frames_through_source_maps() {
    const RELEASE: &str = "web@1.0.0";
    let fixtures = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/sourcemaps");
    let stacks: Vec<Value> =
        serde_json::from_slice(&std::fs::read(fixtures.join("out/stacks.json")).unwrap()).unwrap();
    let case = stacks
        .iter()
        .find(|s| s["variant"] == "esbuild" && s["release"] == RELEASE)
        .expect("the esbuild capture in stacks.json");
    let expected = &case["expected"][0];
    let (function, lineno) = (
        expected["function"].as_str().unwrap(),
        expected["lineno"].as_u64().unwrap() as usize,
    );
    let file = expected["filename"].as_str().unwrap();
    let source =
        std::fs::read_to_string(fixtures.join("src").join(file.rsplit('/').next().unwrap()))
            .unwrap();
    let context_line = source.lines().nth(lineno - 1).unwrap().trim().to_string();

    let app = TestApp::start(Backend::Sqlite).await;
    let seed = app.seed("ada").await;
    let b = Browser::start(1280).await;
    b.goto(&app.url("/login")).await;
    b.fill("input[name=email]", &seed.email).await;
    b.fill("input[name=password]", PASSWORD).await;
    b.click("form[action='/login'] button").await;
    b.wait_for_text("Overview").await;

    let shots = std::env::var_os("SOURCEMAP_SHOTS").map(PathBuf::from);
    // Before any upload: how to upload.
    b.goto(&app.url("/settings/releases")).await;
    b.wait_for_text("No source maps uploaded").await;
    b.wait_for_text("telemetry-tracker sourcemaps upload").await;
    accessible(&b, "releases, none uploaded").await;
    if let Some(dir) = &shots {
        std::fs::create_dir_all(dir).unwrap();
        std::fs::write(
            dir.join("releases-empty-1280-light.png"),
            b.screenshot().await,
        )
        .unwrap();
    }

    upload_release(
        &app,
        &seed,
        RELEASE,
        &fixtures.join("out/esbuild").join(RELEASE),
    )
    .await;
    app.ingest_ok(
        "/ingest/error",
        &seed.key,
        &json!({
            "app": "web",
            "message": case["message"],
            "stack": case["v8_stack"],
            "release": RELEASE,
        }),
    )
    .await;

    // The same code in a release without artifacts: shown as reported, with why.
    let unmapped_message = "the cart could not be loaded";
    let unmapped_stack = case["v8_stack"].as_str().unwrap().replacen(
        case["message"].as_str().unwrap(),
        unmapped_message,
        1,
    );
    app.ingest_ok(
        "/ingest/error",
        &seed.key,
        &json!({
            "app": "web",
            "message": unmapped_message,
            "stack": unmapped_stack,
            "release": "web@0.9.0",
        }),
    )
    .await;

    let unmapped_page = open_group(&b, &app, unmapped_message).await;
    b.wait_for_text("No frame is mapped through source maps")
        .await;
    b.wait_for_text("No artifacts uploaded for release web@0.9.0")
        .await;
    assert!(
        !b.exists("label[data-frames-toggle]").await,
        "nothing to switch"
    );
    assert!(b.text().await.contains("app-7T6L3LD6.js:1:113"));
    accessible(&b, "error detail, no frame mapped").await;

    let error_page = open_group(&b, &app, "amount is not a number").await;

    // Original frames first: function, file and line, the source around it.
    b.wait_for_text("frames mapped through source maps").await;
    let original = text_of(&b, "#frames-original").await;
    assert!(original.contains(function), "{original}");
    assert!(
        original.contains(&format!("money.js:{lineno}:")),
        "{original}"
    );
    let marked = text_of(&b, "#frames-original mark.src-line").await;
    assert!(
        marked.contains(&context_line),
        "{marked:?} vs {context_line:?}"
    );
    assert!(
        !shown(&b, "#frames-raw").await,
        "raw frames wait for the switch"
    );
    accessible(&b, "error detail, original frames").await;

    // The frames as reported, on request.
    b.click("label[data-frames-toggle=raw]").await;
    assert!(shown(&b, "#frames-raw").await);
    assert!(!shown(&b, "#frames-original").await);
    let raw = text_of(&b, "#frames-raw").await;
    assert!(raw.contains("app-7T6L3LD6.js:1:113"), "{raw}");
    b.click("label[data-frames-toggle=original]").await;
    assert!(shown(&b, "#frames-original").await);

    // The release and its files.
    b.goto(&app.url("/settings/releases")).await;
    b.wait_for_text(RELEASE).await;
    accessible(&b, "releases").await;
    b.click(&format!(
        "table.releases a[href*='release={}']",
        "web%401.0.0"
    ))
    .await;
    b.wait_for_text("app-7T6L3LD6.js.map").await;
    let files = text_of(&b, "table.artifacts").await;
    assert!(
        files.contains("Source map") && files.contains("Script"),
        "{files}"
    );
    accessible(&b, "release files").await;
    let releases_page = b.client.current_url().await.unwrap().to_string();

    if let Some(dir) = shots {
        for theme in ["light", "dark"] {
            b.client.set_window_size(1280, 900).await.unwrap();
            b.goto(&app.url("/settings/appearance")).await;
            b.click(&format!("input[name=theme][value={theme}]")).await;
            b.wait_for_text("Theme saved.").await;
            for width in [1280, 390] {
                for (name, url) in [
                    ("error", &error_page),
                    ("error-raw", &error_page),
                    ("error-unmapped", &unmapped_page),
                    ("releases", &releases_page),
                ] {
                    // The whole page: a window as tall as the page.
                    b.client.set_window_size(width, 900).await.unwrap();
                    b.goto(url).await;
                    b.wait_for_text("Telemetry Tracker").await;
                    if name == "error-raw" {
                        b.click("label[data-frames-toggle=raw]").await;
                    }
                    let height = b
                        .client
                        .execute("return document.documentElement.scrollHeight", vec![])
                        .await
                        .unwrap();
                    let height = height.as_u64().unwrap_or(900).clamp(900, 6000) as u32;
                    b.client.set_window_size(width, height).await.unwrap();
                    let png = b.screenshot().await;
                    std::fs::write(dir.join(format!("{name}-{width}-{theme}.png")), png).unwrap();
                }
            }
        }
    }
    b.close().await;
}

on_both_backends!(sign_up_set_up_ingest_resolve_theme_and_invite);
