//! Source-map test helpers: the fixtures built by real bundlers
//! (`tests/fixtures/sourcemaps/`), uploads and error ingest over HTTP.

use super::{Seed, TestApp};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

pub fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/sourcemaps/out")
}

/// The captured stacks of one variant and release.
pub fn stack(variant: &str, release: &str) -> Value {
    let all: Vec<Value> =
        serde_json::from_slice(&std::fs::read(fixtures().join("stacks.json")).unwrap()).unwrap();
    all.into_iter()
        .find(|s| s["variant"] == variant && s["release"] == release)
        .unwrap_or_else(|| panic!("no stack for {variant} {release}"))
}

/// Every file below `dir`, by its `/`-separated path relative to it.
pub fn files_below(dir: &Path) -> Vec<(String, Vec<u8>)> {
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

pub fn artifacts_path(seed: &Seed, release: &str) -> String {
    format!(
        "/api/projects/{}/releases/{release}/artifacts",
        seed.project_id
    )
}

/// Uploads `files` as multipart parts named `file`; the status and the body.
pub async fn upload(
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

pub async fn upload_ok(
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
pub async fn ingest(
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

pub async fn group(app: &TestApp, seed: &Seed, id: &str) -> Value {
    app.read_ok(seed, &format!("/api/errors/{id}")).await
}

pub fn latest_frames(detail: &Value) -> Vec<Value> {
    detail["recent_occurrences"][0]["frames"]
        .as_array()
        .unwrap()
        .clone()
}

/// The first frames map to the expected original function, file and line.
pub fn assert_mapped(frames: &[Value], expected: &Value, what: &str) {
    for (i, want) in expected.as_array().unwrap().iter().enumerate() {
        let f = &frames[i];
        assert_eq!(f["mapped"], true, "{what}: frame {i} not mapped: {f}");
        let o = &f["original"];
        assert_eq!(o["function"], want["function"], "{what}: frame {i}: {f}");
        assert_eq!(o["filename"], want["filename"], "{what}: frame {i}: {f}");
        assert_eq!(o["lineno"], want["lineno"], "{what}: frame {i}: {f}");
    }
}
