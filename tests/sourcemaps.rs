//! Source maps (issue 16, docs/SOURCEMAPS.md) over HTTP and the CLI, with real
//! bundles and maps (`tests/fixtures/sourcemaps/`, built by esbuild, rollup +
//! terser, terser over esbuild, an index map, and tsc): frames of V8 and Firefox
//! stacks map to the original function, file, line and source context; two
//! releases of the same bug group together; every reason a frame is not mapped
//! names the fix; uploads are checked, limited, listed, deleted and kept by
//! retention only while their release is alive.

mod common;

use common::process::{cli, cli_env};
use common::{Backend, Seed, TestApp};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use telemetry_tracker::domain::timeutil::DAY_MS;

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/sourcemaps/out")
}

/// The captured stacks of one variant and release.
fn stack(variant: &str, release: &str) -> Value {
    let all: Vec<Value> =
        serde_json::from_slice(&std::fs::read(fixtures().join("stacks.json")).unwrap()).unwrap();
    all.into_iter()
        .find(|s| s["variant"] == variant && s["release"] == release)
        .unwrap_or_else(|| panic!("no stack for {variant} {release}"))
}

/// Every file below `dir`, by its `/`-separated path relative to it.
fn files_below(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(d) = pending.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else {
                let rel = path
                    .strip_prefix(dir)
                    .unwrap()
                    .to_string_lossy()
                    .replace('\\', "/");
                out.push((rel, std::fs::read(&path).unwrap()));
            }
        }
    }
    out.sort();
    out
}

fn artifacts_path(seed: &Seed, release: &str) -> String {
    format!(
        "/api/projects/{}/releases/{release}/artifacts",
        seed.project_id
    )
}

/// Uploads `files` as multipart parts named `file`; the status and the body.
async fn upload(
    app: &TestApp,
    token: &str,
    seed: &Seed,
    release: &str,
    prefix: Option<&str>,
    files: Vec<(String, Vec<u8>)>,
) -> (u16, Value) {
    let mut form = reqwest::multipart::Form::new();
    if let Some(p) = prefix {
        form = form.text("url_prefix", p.to_string());
    }
    for (name, bytes) in files {
        form = form.part(
            "file",
            reqwest::multipart::Part::bytes(bytes).file_name(name),
        );
    }
    let res = app
        .http
        .post(app.url(&artifacts_path(seed, release)))
        .bearer_auth(token)
        .multipart(form)
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

async fn upload_ok(
    app: &TestApp,
    seed: &Seed,
    release: &str,
    prefix: Option<&str>,
    dir: &Path,
) -> Value {
    let (status, body) = upload(app, &seed.token, seed, release, prefix, files_below(dir)).await;
    assert_eq!(status, 201, "upload {}: {body}", dir.display());
    body
}

/// Sends an error and answers its group's detail.
async fn ingest(
    app: &TestApp,
    seed: &Seed,
    release: Option<&str>,
    message: &str,
    stack: &str,
) -> Value {
    let mut body = json!({ "app": "web", "message": message, "stack": stack });
    if let Some(r) = release {
        body["release"] = json!(r);
    }
    app.ingest_ok("/ingest/error", &seed.key, &body).await;
    let list = app.read_ok(seed, "/api/errors?limit=50").await;
    let newest = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .max_by_key(|g| g["last_seen"].as_str().unwrap_or("").to_string())
        .unwrap()
        .clone();
    group(app, seed, newest["id"].as_str().unwrap()).await
}

async fn group(app: &TestApp, seed: &Seed, id: &str) -> Value {
    app.read_ok(seed, &format!("/api/errors/{id}")).await
}

fn latest_frames(detail: &Value) -> Vec<Value> {
    detail["recent_occurrences"][0]["frames"]
        .as_array()
        .unwrap()
        .clone()
}

/// The first frames map to the expected original function, file and line.
fn assert_mapped(frames: &[Value], expected: &Value, what: &str) {
    for (i, want) in expected.as_array().unwrap().iter().enumerate() {
        let f = &frames[i];
        assert_eq!(f["mapped"], true, "{what}: frame {i} not mapped: {f}");
        let o = &f["original"];
        assert_eq!(o["function"], want["function"], "{what}: frame {i}: {f}");
        assert_eq!(o["filename"], want["filename"], "{what}: frame {i}: {f}");
        assert_eq!(o["lineno"], want["lineno"], "{what}: frame {i}: {f}");
    }
}

async fn every_variant_maps_v8_and_firefox_frames(backend: Backend) {
    let app = TestApp::start(backend).await;
    for (variant, release, prefix) in [
        ("esbuild", "web@1.0.0", None),
        ("esbuild", "web@1.1.0", None),
        ("debugid", "web@1.0.0", None),
        ("inline", "web@1.0.0", None),
        ("terser", "web@1.0.0", None),
        ("index", "web@1.0.0", None),
        ("node", "api@2.0.0", Some("/app")),
        // Maps of maps: a bundle of compiled files, each with its own map.
        ("chained", "api@3.0.0", Some("/app")),
    ] {
        let seed = app
            .seed(&format!("{variant}-{}", release.replace(['@', '.'], "-")))
            .await;
        let uploaded = upload_ok(
            &app,
            &seed,
            release,
            prefix,
            &fixtures().join(variant).join(release),
        )
        .await;
        let s = stack(variant, release);
        let what = format!("{variant} {release}");
        let detail = ingest(
            &app,
            &seed,
            Some(release),
            s["message"].as_str().unwrap(),
            s["v8_stack"].as_str().unwrap(),
        )
        .await;
        let frames = latest_frames(&detail);
        assert_mapped(&frames, &s["expected"], &what);
        let top = &frames[0];
        assert_eq!(top["filename"], s["url"], "{what}: raw file kept: {top}");
        assert!(
            top["lineno"].is_u64() && top["colno"].is_u64(),
            "{what}: {top}"
        );
        let o = &top["original"];
        assert!(
            o["context_line"]
                .as_str()
                .unwrap()
                .contains("amount is not a number"),
            "{what}: the throwing line is the context: {o}"
        );
        assert_eq!(o["pre_context"].as_array().unwrap().len(), 5, "{what}: {o}");
        assert!(top["not_mapped_reason"].is_null(), "{what}: {top}");
        // The group is named after the original code.
        assert!(
            detail["group"]["top_frame"]
                .as_str()
                .unwrap()
                .contains("parseAmount"),
            "{what}: {}",
            detail["group"]
        );
        // Firefox's format (and Node's file:// URLs) map the same way.
        let firefox = ingest(
            &app,
            &seed,
            Some(release),
            s["message"].as_str().unwrap(),
            s["firefox_stack"].as_str().unwrap(),
        )
        .await;
        assert_mapped(
            &latest_frames(&firefox),
            &s["expected"],
            &format!("{what} (Firefox)"),
        );
        if let Some(file_url) = s.get("v8_stack_file_url").and_then(Value::as_str) {
            let d = ingest(
                &app,
                &seed,
                Some(release),
                s["message"].as_str().unwrap(),
                file_url,
            )
            .await;
            assert_mapped(
                &latest_frames(&d),
                &s["expected"],
                &format!("{what} (file://)"),
            );
        }
        if variant == "debugid" {
            let items = uploaded["items"].as_array().unwrap();
            let ids: Vec<&Value> = items.iter().map(|a| &a["debug_id"]).collect();
            assert!(
                ids.iter().all(|id| id.is_string()) && ids[0] == ids[1],
                "{uploaded}"
            );
        }
    }
}

async fn both_releases_of_the_bug_are_one_group(backend: Backend) {
    let app = TestApp::start(backend).await;
    for variant in ["esbuild", "debugid"] {
        let seed = app.seed(&format!("two-{variant}")).await;
        let mut groups = Vec::new();
        for release in ["web@1.0.0", "web@1.1.0"] {
            upload_ok(
                &app,
                &seed,
                release,
                None,
                &fixtures().join(variant).join(release),
            )
            .await;
            let s = stack(variant, release);
            let d = ingest(
                &app,
                &seed,
                Some(release),
                s["message"].as_str().unwrap(),
                s["v8_stack"].as_str().unwrap(),
            )
            .await;
            groups.push(d["group"]["id"].as_str().unwrap().to_string());
        }
        assert_eq!(groups[0], groups[1], "{variant}: one group across releases");
        let d = group(&app, &seed, &groups[0]).await;
        assert_eq!(d["group"]["occurrences"], 2);
    }
}

async fn errors_before_their_maps_are_shown_mapped_later(backend: Backend) {
    let app = TestApp::start(backend).await;
    let seed = app.seed("late").await;
    let s = stack("esbuild", "web@1.0.0");
    let before = ingest(
        &app,
        &seed,
        Some("web@1.0.0"),
        s["message"].as_str().unwrap(),
        s["v8_stack"].as_str().unwrap(),
    )
    .await;
    let frames = latest_frames(&before);
    assert_eq!(frames[0]["mapped"], false);
    assert_eq!(
        frames[0]["not_mapped_reason"],
        "no artifacts uploaded for release `web@1.0.0`"
    );
    upload_ok(
        &app,
        &seed,
        "web@1.0.0",
        None,
        &fixtures().join("esbuild/web@1.0.0"),
    )
    .await;
    let after = group(&app, &seed, before["group"]["id"].as_str().unwrap()).await;
    assert_mapped(
        &latest_frames(&after),
        &s["expected"],
        "mapped at read time",
    );
    // The group keeps the fingerprint it was made with (docs/GROUPING.md).
    assert_eq!(after["group"]["id"], before["group"]["id"]);
}

async fn every_reason_names_the_fix(backend: Backend) {
    let app = TestApp::start(backend).await;
    let esbuild = fixtures().join("esbuild/web@1.0.0/assets");
    let s = stack("esbuild", "web@1.0.0");
    let message = s["message"].as_str().unwrap();
    let v8 = s["v8_stack"].as_str().unwrap();
    let read = |name: &str| std::fs::read(esbuild.join(name)).unwrap();
    let js = read("app-7T6L3LD6.js");
    let reason = |d: &Value| {
        latest_frames(d)[0]["not_mapped_reason"]
            .as_str()
            .unwrap_or("")
            .to_string()
    };

    // No release on the error.
    let seed = app.seed("reasons-a").await;
    upload_ok(
        &app,
        &seed,
        "web@1.0.0",
        None,
        &fixtures().join("esbuild/web@1.0.0"),
    )
    .await;
    let d = ingest(&app, &seed, None, message, v8).await;
    assert!(reason(&d).contains("has no release"), "{}", reason(&d));
    // A release without artifacts.
    let d = ingest(&app, &seed, Some("web@9.9.9"), message, v8).await;
    assert_eq!(reason(&d), "no artifacts uploaded for release `web@9.9.9`");

    // No artifact of the release matches the URL: the closest names are offered.
    let seed = app.seed("reasons-b").await;
    upload_ok(
        &app,
        &seed,
        "web@1.4.1",
        None,
        &fixtures().join("esbuild/web@1.0.0"),
    )
    .await;
    let (status, _) = upload(
        &app,
        &seed.token,
        &seed,
        "web@1.4.2",
        Some("~/other"),
        vec![("x.js".into(), b"var x;".to_vec())],
    )
    .await;
    assert_eq!(status, 201);
    let d = ingest(&app, &seed, Some("web@1.4.2"), message, v8).await;
    assert_eq!(
        reason(&d),
        "no artifact matches `https://cdn.example.com/assets/app-7T6L3LD6.js` (closest names: `~/assets/app-7T6L3LD6.js` under release `web@1.4.1`)"
    );

    // The script without a sourceMappingURL, and no map of the same name.
    let seed = app.seed("reasons-c").await;
    let bare = String::from_utf8(js.clone())
        .unwrap()
        .replace("//# sourceMappingURL=app-7T6L3LD6.js.map", "");
    let (status, body) = upload(
        &app,
        &seed.token,
        &seed,
        "web@1.0.0",
        None,
        vec![("assets/app-7T6L3LD6.js".into(), bare.into_bytes())],
    )
    .await;
    assert_eq!(status, 201, "{body}");
    assert!(
        body["warnings"][0]
            .as_str()
            .unwrap()
            .contains("no sourceMappingURL"),
        "{body}"
    );
    let d = ingest(&app, &seed, Some("web@1.0.0"), message, v8).await;
    assert_eq!(
        reason(&d),
        "`app-7T6L3LD6.js` found but it has no `sourceMappingURL` and no map of the same name"
    );
    // Its sourceMappingURL points at a map that was not uploaded.
    let seed = app.seed("reasons-d").await;
    let (status, _) = upload(
        &app,
        &seed.token,
        &seed,
        "web@1.0.0",
        None,
        vec![("assets/app-7T6L3LD6.js".into(), js.clone())],
    )
    .await;
    assert_eq!(status, 201);
    let d = ingest(&app, &seed, Some("web@1.0.0"), message, v8).await;
    assert!(
        reason(&d).contains("points at `app-7T6L3LD6.js.map`")
            && reason(&d).contains("~/assets/app-7T6L3LD6.js.map"),
        "{}",
        reason(&d)
    );

    // The map's debug id is another build's.
    let seed = app.seed("reasons-e").await;
    let dbg = |rel: &str, name: &str| {
        std::fs::read(
            fixtures()
                .join("debugid")
                .join(rel)
                .join("assets")
                .join(name),
        )
        .unwrap()
    };
    let (status, body) = upload(
        &app,
        &seed.token,
        &seed,
        "web@1.0.0",
        None,
        vec![
            (
                "assets/app-gkq6TVZS.js".into(),
                dbg("web@1.0.0", "app-gkq6TVZS.js"),
            ),
            (
                "assets/app-gkq6TVZS.js.map".into(),
                dbg("web@1.1.0", "app-Bk60SJ8X.js.map"),
            ),
        ],
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let ds = stack("debugid", "web@1.0.0");
    let d = ingest(
        &app,
        &seed,
        Some("web@1.0.0"),
        message,
        ds["v8_stack"].as_str().unwrap(),
    )
    .await;
    assert!(
        reason(&d).starts_with("the map's debug id differs from the file's"),
        "{}",
        reason(&d)
    );

    // A position outside the map.
    let seed = app.seed("reasons-f").await;
    upload_ok(
        &app,
        &seed,
        "web@1.0.0",
        None,
        &fixtures().join("esbuild/web@1.0.0"),
    )
    .await;
    let far = "TypeError: x\n    at e (https://cdn.example.com/assets/app-7T6L3LD6.js:1:48213)";
    let d = ingest(&app, &seed, Some("web@1.0.0"), "x", far).await;
    assert!(
        reason(&d).starts_with("line 1 column 48 213 is outside the map"),
        "{}",
        reason(&d)
    );

    // A map without sourcesContent maps, without context.
    let seed = app.seed("reasons-g").await;
    let body = upload_ok(
        &app,
        &seed,
        "web@1.0.0",
        None,
        &fixtures().join("nocontent/web@1.0.0"),
    )
    .await;
    assert!(
        body["warnings"].to_string().contains("sourcesContent"),
        "{body}"
    );
    let ns = stack("nocontent", "web@1.0.0");
    let d = ingest(
        &app,
        &seed,
        Some("web@1.0.0"),
        message,
        ns["v8_stack"].as_str().unwrap(),
    )
    .await;
    let top = &latest_frames(&d)[0];
    assert_eq!(top["mapped"], true, "{top}");
    assert_eq!(top["original"]["lineno"], 8);
    assert!(top["original"]["context_line"].is_null());
    assert!(
        top["not_mapped_reason"]
            .as_str()
            .unwrap()
            .contains("no `sourcesContent` (frame mapped, source context unavailable)"),
        "{top}"
    );

    // Native and anonymous frames say so.
    let d = ingest(
        &app,
        &seed,
        Some("web@1.0.0"),
        "x",
        "TypeError: x\n    at Array.map (<anonymous>)\n    at JSON.parse (native)",
    )
    .await;
    assert!(reason(&d).contains("no file position"), "{}", reason(&d));
}

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
    every_variant_maps_v8_and_firefox_frames,
    both_releases_of_the_bug_are_one_group,
    errors_before_their_maps_are_shown_mapped_later,
    every_reason_names_the_fix,
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
