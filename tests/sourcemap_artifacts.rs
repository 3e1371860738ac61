//! Release artifacts (issue 16, docs/SOURCEMAPS.md): uploads are checked,
//! limited, listed and deleted; the CLI uploads to the database and to a server;
//! frames are counted and `/metrics` reports the cache; retention keeps the
//! artifacts of live releases only; an upload through one process maps in the
//! others within a second.

mod common;

use common::process::{cli, cli_env};
use common::sourcemaps::*;
use common::{Backend, TestApp};
use serde_json::{json, Value};
use std::time::{Duration, Instant};
use telemetry_tracker::domain::timeutil::DAY_MS;

async fn a_map_over_the_limit_is_named(backend: Backend) {
    // Uploaded with a higher limit (the CLI, straight to the database), read by a
    // server whose limit is lower.
    let app = TestApp::start_with(backend, |c| c.sourcemaps.sourcemap_max_file_mb = 1).await;
    let seed = app.seed("limits").await;
    let dir = tempfile::tempdir().unwrap();
    let assets = dir.path().join("assets");
    std::fs::create_dir_all(&assets).unwrap();
    let src = fixtures().join("esbuild/web@1.0.0/assets");
    std::fs::copy(src.join("app-7T6L3LD6.js"), assets.join("app-7T6L3LD6.js")).unwrap();
    let mut map: Value =
        serde_json::from_slice(&std::fs::read(src.join("app-7T6L3LD6.js.map")).unwrap()).unwrap();
    map["x_padding"] = json!("p".repeat(1_200_000));
    std::fs::write(
        assets.join("app-7T6L3LD6.js.map"),
        serde_json::to_vec(&map).unwrap(),
    )
    .unwrap();
    let dir_arg = dir.path().to_str().unwrap();
    let (ok, out, err) = cli(
        &app.db,
        &[
            "sourcemaps",
            "upload",
            "--release",
            "web@1.0.0",
            "--project",
            &seed.project_id,
            "--sourcemap-max-file-mb",
            "5",
            dir_arg,
        ],
        None,
    );
    assert!(ok, "{err}");
    assert_eq!(out["artifacts"].as_array().unwrap().len(), 2, "{out}");
    let s = stack("esbuild", "web@1.0.0");
    let d = ingest(
        &app,
        &seed,
        Some("web@1.0.0"),
        s["message"].as_str().unwrap(),
        s["v8_stack"].as_str().unwrap(),
    )
    .await;
    let r = latest_frames(&d)[0]["not_mapped_reason"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(r.contains("is larger than the limit"), "{r}");

    // Through the API the limit refuses the file with 413, naming it; the release
    // limit likewise.
    let big = vec![b'a'; 1_100_000];
    let (status, body) = upload(
        &app,
        &seed.token,
        &seed,
        "web@2",
        None,
        vec![("big.js".into(), big)],
    )
    .await;
    assert_eq!(status, 413, "{body}");
    assert!(body["error"].as_str().unwrap().contains("big.js"), "{body}");
}

async fn uploads_are_checked_listed_and_deleted(backend: Backend) {
    let app = TestApp::start(backend).await;
    let seed = app.seed("crud").await;
    let body = upload_ok(
        &app,
        &seed,
        "web@1.0.0",
        Some("~/"),
        &fixtures().join("esbuild/web@1.0.0"),
    )
    .await;
    let items = body["items"].as_array().unwrap();
    let script = items.iter().find(|a| a["kind"] == "minified").unwrap();
    assert_eq!(script["name"], "~/assets/app-7T6L3LD6.js");
    assert_eq!(script["sourcemap"], "app-7T6L3LD6.js.map");
    let map = items.iter().find(|a| a["kind"] == "sourcemap").unwrap();
    assert_eq!(map["name"], "~/assets/app-7T6L3LD6.js.map");
    assert_eq!(map["has_sources_content"], true);
    assert!(
        map["stored_size"].as_i64().unwrap() < map["size"].as_i64().unwrap(),
        "stored compressed: {map}"
    );

    let list = app
        .read_ok(&seed, &artifacts_path(&seed, "web@1.0.0"))
        .await;
    assert_eq!(list["items"].as_array().unwrap().len(), 2);
    // A re-upload replaces the file of the same name.
    upload_ok(
        &app,
        &seed,
        "web@1.0.0",
        None,
        &fixtures().join("esbuild/web@1.0.0"),
    )
    .await;
    let list = app
        .read_ok(&seed, &artifacts_path(&seed, "web@1.0.0"))
        .await;
    assert_eq!(list["items"].as_array().unwrap().len(), 2);

    // Bad input: a clear 4xx naming the problem.
    let (status, body) = upload(&app, &seed.token, &seed, "web@1.0.0", None, vec![]).await;
    assert_eq!(status, 400, "{body}");
    let (status, body) = upload(
        &app,
        &seed.token,
        &seed,
        "web@1.0.0",
        Some("assets"),
        vec![("a.js".into(), b"1".to_vec())],
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("url_prefix"),
        "{body}"
    );
    let (status, body) = upload(
        &app,
        &seed.token,
        &seed,
        "web@1.0.0",
        None,
        vec![("a.js.map".into(), b"{nope".to_vec())],
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("a.js.map"),
        "{body}"
    );
    let (status, body) = upload(
        &app,
        &seed.token,
        &seed,
        "web@1.0.0",
        None,
        vec![("../x.js".into(), b"1".to_vec())],
    )
    .await;
    assert_eq!(status, 400, "{body}");
    let res = app
        .http
        .post(app.url(&artifacts_path(&seed, "web@1.0.0")))
        .bearer_auth(&seed.token)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 415);
    let res = app
        .http
        .post(app.url(&artifacts_path(&seed, "web@1.0.0")))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 401);

    // Another organization's user sees nothing of it.
    let other = app.seed("crud-other").await;
    let (status, _) = upload(
        &app,
        &other.token,
        &seed,
        "web@1.0.0",
        None,
        vec![("a.js".into(), b"1".to_vec())],
    )
    .await;
    assert_eq!(status, 404);

    // Delete one, then all.
    let id = list["items"][0]["id"].as_str().unwrap();
    let res = app
        .http
        .delete(app.url(&format!("{}/{id}", artifacts_path(&seed, "web@1.0.0"))))
        .bearer_auth(&seed.token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 204);
    let res = app
        .http
        .delete(app.url(&format!("{}/{id}", artifacts_path(&seed, "web@1.0.0"))))
        .bearer_auth(&seed.token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 404);
    let res = app
        .http
        .delete(app.url(&artifacts_path(&seed, "web@1.0.0")))
        .bearer_auth(&seed.token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 200);
    assert_eq!(res.json::<Value>().await.unwrap()["deleted"], 1);
    let list = app
        .read_ok(&seed, &artifacts_path(&seed, "web@1.0.0"))
        .await;
    assert!(list["items"].as_array().unwrap().is_empty());
}

async fn frames_are_counted_and_metrics_report_the_cache(backend: Backend) {
    let app = TestApp::start(backend).await;
    let seed = app.seed("counts").await;
    upload_ok(
        &app,
        &seed,
        "web@1.0.0",
        None,
        &fixtures().join("esbuild/web@1.0.0"),
    )
    .await;
    let s = stack("esbuild", "web@1.0.0");
    // At once, on a cold cache: the map and the script are each read once.
    let body = json!({ "app": "web", "message": s["message"], "stack": s["v8_stack"], "release": "web@1.0.0" });
    let sends = (0..12).map(|_| app.ingest_ok("/ingest/error", &seed.key, &body));
    futures_util::future::join_all(sends).await;
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let list = app
            .read_ok(&seed, &artifacts_path(&seed, "web@1.0.0"))
            .await;
        let map = list["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["kind"] == "sourcemap")
            .unwrap()
            .clone();
        if map["frames_mapped"].as_i64().unwrap() >= 36 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "frame counts never written: {map}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let metrics = app
        .http
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let value = |name: &str| -> f64 {
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{name} ")))
            .unwrap_or_else(|| panic!("{name} missing from /metrics"))
            .parse()
            .unwrap()
    };
    assert_eq!(value("telemetry_artifacts"), 2.0);
    assert!(value("telemetry_sourcemap_cache_hits_total") > 0.0);
    assert_eq!(value("telemetry_sourcemap_cache_misses_total"), 2.0);
    let size = |name: &str| {
        std::fs::metadata(fixtures().join("esbuild/web@1.0.0/assets").join(name))
            .unwrap()
            .len() as f64
    };
    let files = size("app-7T6L3LD6.js") + size("app-7T6L3LD6.js.map");
    let cached = value("telemetry_sourcemap_cache_bytes");
    assert!(
        cached > 0.0 && cached < 4.0 * files,
        "each file weighs once: {cached} bytes cached for {files} bytes of files"
    );
    assert!(value("telemetry_artifacts_stored_bytes") < value("telemetry_artifacts_bytes"));
}

async fn the_cli_uploads_to_the_database_and_to_a_server(backend: Backend) {
    let app = TestApp::start(backend).await;
    let seed = app.seed("cli").await;
    let s = stack("nocontent", "web@1.0.0");
    let (message, v8) = (
        s["message"].as_str().unwrap(),
        s["v8_stack"].as_str().unwrap(),
    );
    // The server has read the project's (empty) artifacts before the CLI writes.
    let before = ingest(&app, &seed, Some("web@1.0.0"), message, v8).await;
    assert_eq!(latest_frames(&before)[0]["mapped"], false);
    let dir = fixtures().join("nocontent/web@1.0.0");
    let (ok, out, err) = cli(
        &app.db,
        &[
            "sourcemaps",
            "upload",
            "--release",
            "web@1.0.0",
            "--project",
            &seed.project_id,
            dir.to_str().unwrap(),
        ],
        None,
    );
    assert!(ok, "{err}");
    assert_eq!(
        out["matches"][0], "assets/app-WPHQCCNX.js ↔ assets/app-WPHQCCNX.js.map",
        "{out}"
    );
    assert!(
        out["warnings"].to_string().contains("sourcesContent"),
        "{out}"
    );
    // The running server sees the CLI's upload within a second.
    let uploaded = Instant::now();
    loop {
        let d = ingest(&app, &seed, Some("web@1.0.0"), message, v8).await;
        if latest_frames(&d)[0]["mapped"] == true {
            break;
        }
        assert!(
            uploaded.elapsed() < Duration::from_millis(1_500),
            "the CLI's upload is not seen"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Remote: over HTTP with a personal token, debug ids printed.
    let dir = fixtures().join("debugid/web@1.0.0");
    let (ok, out, err) = cli_env(
        &app.db,
        &[("TELEMETRY_TOKEN", seed.token.as_str())],
        &[
            "sourcemaps",
            "upload",
            "--release",
            "web@1.0.0",
            "--project",
            &seed.project_id,
            "--server",
            &app.base,
            dir.to_str().unwrap(),
        ],
        None,
    );
    assert!(ok, "{err}");
    let matched = out["matches"][0].as_str().unwrap();
    assert!(
        matched.contains(
            "↔ assets/app-gkq6TVZS.js.map (debug id 6858fcd0-e3e8-4114-8f16-15b652161651)"
        ),
        "{out}"
    );
    let list = app
        .read_ok(&seed, &artifacts_path(&seed, "web@1.0.0"))
        .await;
    assert_eq!(list["items"].as_array().unwrap().len(), 4);
    // A bad token is refused with the server's words.
    let (ok, _, err) = cli(
        &app.db,
        &[
            "sourcemaps",
            "upload",
            "--release",
            "r",
            "--project",
            &seed.project_id,
            "--server",
            &app.base,
            "--token",
            "tt_pat_nope",
            dir.to_str().unwrap(),
        ],
        None,
    );
    assert!(!ok && err.contains("401"), "{err}");
}

async fn retention_keeps_artifacts_of_live_releases(backend: Backend) {
    let app = TestApp::start(backend).await;
    let seed = app.seed("retention").await;
    upload_ok(
        &app,
        &seed,
        "web@1.0.0",
        None,
        &fixtures().join("esbuild/web@1.0.0"),
    )
    .await;
    upload_ok(
        &app,
        &seed,
        "web@1.1.0",
        None,
        &fixtures().join("esbuild/web@1.1.0"),
    )
    .await;
    app.state.clock.advance(95 * DAY_MS);
    let s = stack("esbuild", "web@1.1.0");
    ingest(
        &app,
        &seed,
        Some("web@1.1.0"),
        s["message"].as_str().unwrap(),
        s["v8_stack"].as_str().unwrap(),
    )
    .await;
    let report = telemetry_tracker::service::retention::run(
        &app.state.db,
        &app.state.clock,
        90,
        30,
        false,
        "test",
    )
    .await
    .unwrap();
    assert_eq!(report.artifacts_deleted, 2, "{report:?}");
    assert!(app
        .read_ok(&seed, &artifacts_path(&seed, "web@1.0.0"))
        .await["items"]
        .as_array()
        .unwrap()
        .is_empty());
    assert_eq!(
        app.read_ok(&seed, &artifacts_path(&seed, "web@1.1.0"))
            .await["items"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
}

on_both_backends!(
    a_map_over_the_limit_is_named,
    uploads_are_checked_listed_and_deleted,
    frames_are_counted_and_metrics_report_the_cache,
    the_cli_uploads_to_the_database_and_to_a_server,
    retention_keeps_artifacts_of_live_releases,
);

/// Two `serve` processes on one PostgreSQL: artifacts uploaded through one map the
/// frames the other ingests within a second, though it had read the project's
/// (empty) artifact index before.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_through_one_process_maps_in_the_other() {
    let db = common::TestDb::new(Backend::Postgres).await;
    let seed = db.seed("two-processes").await;
    let p1 = common::process::Server::start(&db, &[("TELEMETRY_INSTANCE_ID", "p1")]).await;
    let p2 = common::process::Server::start(&db, &[("TELEMETRY_INSTANCE_ID", "p2")]).await;
    let http = reqwest::Client::new();
    let s = stack("esbuild", "web@1.0.0");
    let body = json!({ "app": "web", "message": s["message"], "stack": s["v8_stack"], "release": "web@1.0.0" });
    let send = |base: &str| {
        http.post(format!("{base}/ingest/error"))
            .bearer_auth(&seed.key)
            .json(&body)
            .send()
    };
    let top_frames = |base: String| {
        let http = http.clone();
        let token = seed.token.clone();
        let project = seed.project_id.clone();
        async move {
            let list: Value = http
                .get(format!("{base}/api/errors"))
                .bearer_auth(&token)
                .header("X-Project-Id", &project)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            list["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|g| g["top_frame"].as_str().unwrap_or("").to_string())
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(send(&p2.base).await.unwrap().status(), 204);
    assert!(top_frames(p2.base.clone())
        .await
        .iter()
        .all(|t| !t.contains("parseAmount")));

    let mut form = reqwest::multipart::Form::new();
    for (name, bytes) in files_below(&fixtures().join("esbuild/web@1.0.0")) {
        form = form.part(
            "file",
            reqwest::multipart::Part::bytes(bytes).file_name(name),
        );
    }
    let res = http
        .post(format!("{}{}", p1.base, artifacts_path(&seed, "web@1.0.0")))
        .bearer_auth(&seed.token)
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let uploaded = Instant::now();
    loop {
        assert_eq!(send(&p2.base).await.unwrap().status(), 204);
        if top_frames(p2.base.clone())
            .await
            .iter()
            .any(|t| t.contains("parseAmount"))
        {
            break;
        }
        assert!(
            uploaded.elapsed() < Duration::from_millis(1_500),
            "the other process still groups on the raw frames"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
