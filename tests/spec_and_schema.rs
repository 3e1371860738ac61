//! Committed artifacts stay in step with the code: the OpenAPI spec and the
//! migration pairs.

use std::collections::BTreeSet;
use std::path::Path;

#[test]
fn committed_openapi_matches_the_code() {
    let committed =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("openapi/openapi.json"))
            .expect("openapi/openapi.json is committed");
    let generated: serde_json::Value =
        serde_json::from_str(&telemetry_tracker::api::spec_json()).unwrap();
    let committed: serde_json::Value = serde_json::from_str(&committed).expect("valid JSON");
    assert!(
        committed == generated,
        "openapi/openapi.json is stale: regenerate it with `cargo run -- openapi > openapi/openapi.json`"
    );
    let text = generated.to_string();
    assert!(
        !text.contains("localhost") && !text.contains("127.0.0.1"),
        "the spec must not name hosts"
    );
}

#[test]
fn the_spec_says_what_the_server_sends_and_accepts() {
    let spec: serde_json::Value =
        serde_json::from_str(&telemetry_tracker::api::spec_json()).unwrap();
    let schemas = &spec["components"]["schemas"];
    // Optional fields come back as null.
    for (schema, field) in [
        ("User", "name"),
        ("Member", "name"),
        ("ApiKey", "expires_at"),
        ("ApiKey", "revoked_at"),
        ("Token", "last_used_at"),
        ("ErrorGroupPage", "next_cursor"),
    ] {
        assert_eq!(
            schemas[schema]["properties"][field]["nullable"], true,
            "{schema}.{field}"
        );
    }
    // Constraints the server enforces are stated.
    let token = &schemas["NewToken"]["properties"];
    assert_eq!(token["expires_in_days"]["minimum"], 1.0);
    assert_eq!(token["expires_in_days"]["maximum"], 3650.0);
    assert_eq!(token["name"]["maxLength"], 120);
    assert_eq!(
        schemas["Token"]["properties"]["created_at"]["format"],
        "date-time"
    );
    let limit = spec["paths"]["/api/errors"]["get"]["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "limit")
        .unwrap();
    assert_eq!(limit["schema"]["maximum"], 500.0);
}

#[test]
fn every_route_is_documented_with_error_bodies() {
    let spec: serde_json::Value =
        serde_json::from_str(&telemetry_tracker::api::spec_json()).unwrap();
    let paths = spec["paths"].as_object().unwrap();
    for route in [
        "/health",
        "/ingest/event",
        "/ingest/batch",
        "/ingest/error",
        "/ingest/session",
        "/api/overview",
        "/api/events",
        "/api/events/{id}",
        "/api/errors",
        "/api/errors/{id}",
        "/api/sessions",
        "/api/sessions/{id}",
    ] {
        assert!(paths.contains_key(route), "{route} missing from the spec");
    }
    // Routes that need no credentials (see docs/RBAC.md).
    let public = [
        "/api/auth/registration",
        "/api/auth/register",
        "/api/auth/register/confirm",
        "/api/auth/login",
        "/api/auth/forgot-password",
        "/api/auth/reset-password",
        "/api/invites/{token}",
    ];
    for (route, ops) in paths {
        for (method, op) in ops.as_object().unwrap() {
            if route.starts_with("/ingest") || route.starts_with("/api") {
                let responses = op["responses"].as_object().unwrap();
                assert!(responses.contains_key("400"), "{method} {route} lacks 400");
                if !public.contains(&route.as_str()) {
                    assert!(responses.contains_key("401"), "{method} {route} lacks 401");
                    assert!(
                        op.get("security").is_some(),
                        "{method} {route} lacks security"
                    );
                }
            }
        }
    }
}

#[test]
fn migrations_come_in_pairs() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations");
    let names = |dir: &str| -> BTreeSet<String> {
        std::fs::read_dir(root.join(dir))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
            .collect()
    };
    let sqlite = names("sqlite");
    assert!(!sqlite.is_empty());
    assert_eq!(
        sqlite,
        names("postgres"),
        "every migration needs a SQLite and a PostgreSQL version"
    );
}
