//! Property-based tests of the ingest parsing and normalisation: arbitrary bytes and
//! arbitrary JSON never panic, and whatever is accepted obeys the limits.

use proptest::prelude::*;
use serde_json::{Map, Value};
use telemetry_tracker::api::body::parse_json;
use telemetry_tracker::ingest::normalize;
use telemetry_tracker::ingest::wire::{BatchIn, ErrorIn, EventIn, SessionIn};

const FIELDS: &[&str] = &[
    "app",
    "name",
    "message",
    "stack",
    "session_id",
    "properties",
    "context",
    "timestamp",
    "started_at",
    "ended_at",
    "platform",
    "environment",
    "release",
    "user_id",
    "user_email",
    "anonymous_id",
    "country",
    "device_os",
    "events",
    "x",
];

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        ".{0,300}".prop_map(Value::String),
        prop_oneof![
            Just("2026-11-24T05:04:00.025Z"),
            Just("1970-01-01T00:00:00Z"),
            Just("9999-12-31T23:59:59+14:00")
        ]
        .prop_map(|s| Value::String(s.to_string())),
    ];
    leaf.prop_recursive(4, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
            prop::collection::vec((prop::sample::select(FIELDS), inner), 0..12).prop_map(|kv| {
                Value::Object(
                    kv.into_iter()
                        .map(|(k, v)| (k.to_string(), v))
                        .collect::<Map<_, _>>(),
                )
            }),
        ]
    })
}

fn check_all(bytes: &[u8]) {
    let now = 1_790_000_000_000;
    if let Ok(e) = parse_json::<EventIn>(bytes) {
        if let Ok(w) = normalize::event(&e, now) {
            assert!(!w.app.is_empty() && w.app.chars().count() <= 128);
            assert!(!w.name.is_empty() && w.name.chars().count() <= 200);
            assert!(w
                .properties
                .as_ref()
                .is_none_or(|p| p.len() <= 32 * 1024 && p.starts_with('{')));
            assert!(w.timestamp <= now + 5 * 60_000);
        }
    }
    if let Ok(b) = parse_json::<BatchIn>(bytes) {
        if let Ok(items) = normalize::batch(&b, now, 100) {
            assert!(items.len() <= 100);
        }
    }
    if let Ok(e) = parse_json::<ErrorIn>(bytes) {
        if let Ok(w) = normalize::error(&e, now) {
            assert!(w.message.len() <= 8 * 1024);
            assert!(w.stack.as_ref().is_none_or(|s| s.len() <= 64 * 1024));
            assert_eq!(w.fingerprint.len(), 64);
        }
    }
    if let Ok(s) = parse_json::<SessionIn>(bytes) {
        if let Ok(w) = normalize::session(&s, now) {
            assert!(w.country.as_ref().is_none_or(|c| c.chars().count() <= 8));
            if let (Some(a), Some(b)) = (w.started_at, w.ended_at) {
                assert!(b >= a);
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn arbitrary_json_never_panics(v in json_value()) {
        check_all(v.to_string().as_bytes());
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..2048)) {
        check_all(&bytes);
    }

    #[test]
    fn valid_events_are_accepted(app in "[a-z][a-z0-9-]{0,40}", name in "[$a-z_][a-z_ ]{0,60}", n in 0i64..1000) {
        let body = serde_json::json!({ "app": app, "name": name, "properties": { "n": n } }).to_string();
        let e: EventIn = parse_json(body.as_bytes()).unwrap();
        let w = normalize::event(&e, 1_790_000_000_000).unwrap();
        prop_assert_eq!(w.app, app);
        prop_assert_eq!(w.properties.unwrap(), format!("{{\"n\":{n}}}"));
    }
}
