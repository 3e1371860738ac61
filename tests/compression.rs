//! Compressed request bodies on `/ingest/*` (`Content-Encoding` gzip, deflate, br,
//! zstd): decoded within the body limit, a zip bomb refused with 413 and nothing
//! stored, corrupt data 400, unknown encodings 415.

mod common;

use common::{Backend, TestApp};
use serde_json::{json, Value};
use std::io::Write;

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

fn zlib(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

async fn send(app: &TestApp, key: &str, encoding: &str, body: Vec<u8>) -> (u16, Value) {
    let res = app
        .http
        .post(app.url("/ingest/event"))
        .bearer_auth(key)
        .header("content-type", "application/json")
        .header("content-encoding", encoding)
        .body(body)
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

async fn compressed_bodies_are_decoded_within_the_limit(backend: Backend) {
    let app = TestApp::start(backend).await;
    let seed = app.seed("gz").await;
    let event = |name: &str| serde_json::to_vec(&json!({ "app": "web", "name": name })).unwrap();
    assert_eq!(
        send(&app, &seed.key, "gzip", gzip(&event("gzipped")))
            .await
            .0,
        204
    );
    assert_eq!(
        send(&app, &seed.key, "deflate", zlib(&event("deflated")))
            .await
            .0,
        204
    );

    // 64 MB of spaces inside a JSON string, gzipped to ~64 KB: refused, not inflated.
    let mut bomb = br#"{"app":"web","name":"bomb","properties":{"x":""#.to_vec();
    bomb.extend(std::iter::repeat_n(b' ', 64 * 1024 * 1024));
    bomb.extend(br#""}}"#);
    let (status, body) = send(&app, &seed.key, "gzip", gzip(&bomb)).await;
    assert_eq!(status, 413, "{body}");
    assert!(body.to_string().contains("decompressed"), "{body}");

    let (status, body) = send(&app, &seed.key, "gzip", b"not gzip at all".to_vec()).await;
    assert_eq!(status, 400, "{body}");
    let (status, body) = send(&app, &seed.key, "compress", event("x")).await;
    assert_eq!(status, 415, "{body}");

    let events = app.read_ok(&seed, "/api/events?limit=10").await;
    let mut names: Vec<String> = events["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap().to_string())
        .collect();
    names.sort();
    assert_eq!(names, ["deflated", "gzipped"]);
}

on_both_backends!(compressed_bodies_are_decoded_within_the_limit);
