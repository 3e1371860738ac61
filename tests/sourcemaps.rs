//! Source maps (issue 16, docs/SOURCEMAPS.md) with real bundles and maps
//! (`tests/fixtures/sourcemaps/`, built by esbuild, rollup + terser, terser over
//! esbuild, an index map, tsc, and a bundle of compiled files: maps of maps):
//! frames of V8 and Firefox stacks map to the original function, file, line and
//! source context; two releases of the same bug group together; errors that came
//! before their maps are shown mapped; every reason a frame is not mapped names
//! the fix. Uploads, limits, the CLI and retention: `tests/sourcemap_artifacts.rs`.

mod common;

use common::sourcemaps::*;
use common::{Backend, TestApp};
use serde_json::Value;

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

on_both_backends!(
    every_variant_maps_v8_and_firefox_frames,
    both_releases_of_the_bug_are_one_group,
    errors_before_their_maps_are_shown_mapped_later,
    every_reason_names_the_fix,
);
