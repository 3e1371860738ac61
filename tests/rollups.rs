//! The roll-ups agree with the rows they count, whatever order things arrive in:
//! sessions whose labels or start change later, sessions of two projects with the
//! same client id in one commit, errors before their session, events from many
//! clients at once. And SQLite's two write paths, the direct connection and sqlx,
//! leave the same rows and roll-ups.

mod common;

use common::{Backend, TestApp, TestDb};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use telemetry_tracker::api::body::parse_json;
use telemetry_tracker::domain::timeutil::{format_rfc3339_ms, month_key, DAY_MS};
use telemetry_tracker::ingest::normalize;
use telemetry_tracker::ingest::rollup::RollupState;
use telemetry_tracker::store::{Db, IngestWrite, Scope, SessionWrite, WriteItem};

fn session(id: &str, environment: Option<&str>) -> SessionWrite {
    SessionWrite {
        new_id: telemetry_tracker::domain::ids::new_id(),
        session_id: id.into(),
        app: Some("web".into()),
        platform: None,
        environment: environment.map(str::to_string),
        release: None,
        user_id: None,
        user_email: None,
        anonymous_id: None,
        country: None,
        device_browser: None,
        device_os: None,
        sdk_version: None,
        started_at: None,
        ended_at: None,
        errored: false,
        crashed: false,
    }
}

async fn overview(app: &TestApp, seed: &common::Seed, query: &str) -> Value {
    app.read_ok(seed, &format!("/api/overview?range=24h{query}"))
        .await
}

async fn sessions_move_with_their_labels_and_start(backend: Backend) {
    let app = TestApp::start(backend).await;
    let seed = app.seed("moves").await;
    let now = app.state.clock.now_ms();
    let (app, seed) = (&app, &seed);
    let post = |body: Value| async move {
        assert_eq!(
            app.post_json("/ingest/session", &seed.key, &body)
                .await
                .status(),
            204
        );
    };
    // Started without an environment; an error arrives; then identify adds one.
    post(json!({ "session_id": "s", "app": "web" })).await;
    let error = json!({ "app": "web", "message": "boom", "session_id": "s" });
    assert_eq!(
        app.post_json("/ingest/error", &seed.key, &error)
            .await
            .status(),
        204
    );
    post(json!({ "session_id": "s", "environment": "production" })).await;
    let prod = overview(app, seed, "&environment=production").await;
    assert_eq!(
        (prod["sessions"].as_i64(), prod["errored_sessions"].as_i64()),
        (Some(1), Some(1)),
        "{prod}"
    );
    let all = overview(app, seed, "").await;
    assert_eq!(
        (all["sessions"].as_i64(), all["errored_sessions"].as_i64()),
        (Some(1), Some(1)),
        "{all}"
    );

    // An end that arrived first created the session at its end; the start moves it back.
    let end = format_rfc3339_ms(now - 60_000);
    post(json!({ "session_id": "late", "app": "web", "ended_at": end })).await;
    let start = format_rfc3339_ms(now - 2 * 86_400_000);
    post(json!({ "session_id": "late", "app": "web", "started_at": start })).await;
    let day = overview(app, seed, "").await;
    assert_eq!(
        day["sessions"], 1,
        "the late session started two days ago: {day}"
    );
    let week = app.read_ok(seed, "/api/overview?range=7d").await;
    assert_eq!(week["sessions"], 2, "{week}");
}

async fn one_commit_of_two_projects_with_the_same_session_id(backend: Backend) {
    let app = TestApp::start(backend).await;
    let a = app.seed("a").await;
    let b = app.seed("b").await;
    let db = &app.state.db;
    let now = app.state.clock.now_ms();
    let month = telemetry_tracker::domain::timeutil::month_key(now);
    let writes = [
        (
            a.project_id.as_str(),
            IngestWrite::Session(Box::new(session("same", Some("prod")))),
        ),
        (
            b.project_id.as_str(),
            IngestWrite::Session(Box::new(session("same", None))),
        ),
        (
            b.project_id.as_str(),
            IngestWrite::Session(Box::new(session("same", Some("beta")))),
        ),
    ];
    let items: Vec<WriteItem<'_>> = writes
        .iter()
        .map(|(p, w)| WriteItem {
            project_id: p,
            write: w,
            reserved_units: 0,
            month: &month,
        })
        .collect();
    let pairs: Vec<(&str, &IngestWrite)> = writes.iter().map(|(p, w)| (*p, w)).collect();
    let mut state = RollupState::default();
    state.reserve(db, &pairs).await.unwrap();
    let rollups = state.build(&pairs);
    db.write_ingest_group(&items, &[], &[], &rollups, now)
        .await
        .unwrap();
    let oa = overview(&app, &a, "").await;
    let ob = overview(&app, &b, "").await;
    assert_eq!(
        (oa["sessions"].as_i64(), ob["sessions"].as_i64()),
        (Some(1), Some(1)),
        "{oa} {ob}"
    );
    // The two writes of project b were merged into one session, with the later label.
    let beta = overview(&app, &b, "&environment=beta").await;
    assert_eq!(beta["sessions"], 1, "{beta}");
    let sessions = app.read_ok(&b, "/api/sessions?range=24h").await;
    assert_eq!(sessions["items"][0]["environment"], "beta", "{sessions}");
}

async fn concurrent_single_events_are_all_counted(backend: Backend) {
    let app = TestApp::start(backend).await;
    let seed = app.seed("busy").await;
    let (app, seed) = (&app, &seed);
    // Many clients at once: commits of several requests, each with its own counts.
    let clients = (0..16).map(|c| async move {
        for i in 0..40 {
            let plan = if (c + i) % 4 == 0 { "pro" } else { "free" };
            let body = json!({ "app": "web", "name": "signup", "properties": { "plan": plan } });
            let res = app.post_json("/ingest/event", &seed.key, &body).await;
            assert_eq!(res.status(), 204);
        }
    });
    futures_util::future::join_all(clients).await;
    let scope = Scope {
        project_id: seed.project_id.clone(),
        from: 0,
        to: i64::MAX,
        ..Default::default()
    };
    let db = &app.state.db;
    let total = db.rollup_event_total(&scope, None).await.unwrap();
    let plans = db
        .rollup_property_values(&scope, "signup", "plan", 10)
        .await
        .unwrap();
    assert_eq!(total, 640);
    assert_eq!(plans, [("free".to_string(), 480), ("pro".to_string(), 160)]);
}

/// A fresh SQLite file holding the same organization, projects and keys as every
/// other made here, so that rows written into two of them can be compared as they are.
async fn parity_db() -> (TestDb, Db) {
    let files = TestDb::new(Backend::Sqlite).await;
    let db = files.open().await;
    let Db::Sqlite(pool) = &db else {
        unreachable!("a SQLite test database")
    };
    for sql in [
        "INSERT INTO organizations (id, name, created_at) VALUES ('org', 'Org', 0)",
        "INSERT INTO projects (id, org_id, name, slug, created_at) VALUES ('pa', 'org', 'A', 'a', 0), ('pb', 'org', 'B', 'b', 0)",
        "INSERT INTO api_keys (id, project_id, public_id, secret_hash, created_at) VALUES ('ka', 'pa', 'a', 'x', 0), ('kb', 'pb', 'b', 'x', 0)",
    ] {
        sqlx::query(sql).execute(pool).await.unwrap();
    }
    (files, db)
}

/// Every row of every table but sqlx's bookkeeping, by table, each row as text, sorted.
fn every_row(files: &TestDb) -> BTreeMap<String, Vec<String>> {
    let conn = rusqlite::Connection::open(files.data_dir().join("telemetry.db")).unwrap();
    let tables: Vec<String> = conn
        .prepare(
            "SELECT name FROM sqlite_master WHERE type = 'table' \
             AND name <> '_sqlx_migrations' AND name NOT LIKE 'sqlite%'",
        )
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let mut all = BTreeMap::new();
    for table in tables {
        // An alert's id is the outbox's own, fresh for every write; the rest of
        // its row is what the commit decided.
        let columns = if table == "alerts" {
            "kind, project_id, group_id, occurred_at, dispatched_at"
        } else {
            "*"
        };
        let mut statement = conn
            .prepare(&format!("SELECT {columns} FROM {table}"))
            .unwrap();
        let n = statement.column_count();
        let mut rows: Vec<String> = statement
            .query_map([], |r| {
                let row = (0..n)
                    .map(|i| r.get::<_, rusqlite::types::Value>(i))
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(format!("{row:?}"))
            })
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        rows.sort();
        all.insert(table, rows);
    }
    all
}

fn events(body: Value, now: i64) -> IngestWrite {
    let batch = parse_json(body.to_string().as_bytes()).unwrap();
    IngestWrite::Events(normalize::batch(&batch, now, 1000).unwrap())
}

fn error(body: Value, now: i64) -> IngestWrite {
    let error = parse_json(body.to_string().as_bytes()).unwrap();
    IngestWrite::Error(Box::new(normalize::error(&error, now).unwrap()))
}

fn session_of(body: Value, now: i64) -> IngestWrite {
    let session = parse_json(body.to_string().as_bytes()).unwrap();
    IngestWrite::Session(Box::new(normalize::session(&session, now).unwrap()))
}

/// The same groups of ingest writes committed into two fresh SQLite files: into one
/// as the ingest writer does (groups of events only through its direct connection,
/// the rest through sqlx), into the other all through sqlx (`write_ingest_group`).
/// Both hold the same rows and roll-ups afterwards — the ids and times are those of
/// the writes, the same for both.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn direct_and_sqlx_writers_leave_the_same_rows() {
    let (direct_files, direct_db) = parity_db().await;
    let (sqlx_files, sqlx_db) = parity_db().await;
    let mut direct = direct_db
        .direct_writer()
        .await
        .unwrap()
        .expect("a SQLite file has a direct writer");
    let start = telemetry_tracker::clock::Clock::default().now_ms();
    let at = |ago_ms: i64| format_rfc3339_ms(start - ago_ms);
    let hour = 3_600_000;
    let stack = "TypeError: Cannot read properties of undefined (reading 'id')\n    at renderCart (https://shop.example.com/assets/app-3f9a1c.js:22:19)";
    let type_error = |session: Option<&str>, user: &str| {
        json!({ "app": "web", "message": "Cannot read properties of undefined (reading 'id')",
                "stack": stack, "environment": "production", "release": "1.0",
                "session_id": session, "user_id": user })
    };
    let vital = |metric: &str, value: f64, ago: i64| {
        json!({ "app": "web", "name": "$web_vital", "session_id": "s1", "timestamp": at(ago),
                "properties": { "metric": metric, "value": value, "id": format!("v-{metric}-{ago}") } })
    };
    let signup = |plan: &str, ago: i64| {
        json!({ "app": "web", "name": "signup", "environment": "production", "release": "1.0",
                "session_id": "s1", "user_id": "u1", "timestamp": at(ago),
                "properties": { "plan": plan, "trial": true, "seats": 3, "nested": { "x": 1 } } })
    };
    // (writes of each request with their project), group by group.
    let groups: Vec<Vec<(&str, IngestWrite)>> = vec![
        vec![
            (
                "pa",
                events(
                    json!({ "events": [
                        signup("pro", 2 * hour), signup("free", 2 * hour), signup("pro", 1),
                        { "app": "web", "name": "page_view", "environment": "staging",
                          "properties": { "path": "/a" } },
                        vital("LCP", 1200.0, hour), vital("CLS", 0.05, hour), vital("TTFB", 900.0, 1),
                    ] }),
                    start,
                ),
            ),
            (
                "pb",
                events(
                    json!({ "events": [{ "app": "ios", "name": "open", "session_id": "s1",
                                         "properties": { "screen": "home" } }] }),
                    start,
                ),
            ),
        ],
        vec![
            (
                "pa",
                session_of(
                    json!({ "session_id": "s1", "app": "web", "environment": "production",
                            "release": "1.0", "device_browser": "Chrome", "device_os": "macOS",
                            "started_at": at(3 * hour) }),
                    start,
                ),
            ),
            ("pa", error(type_error(Some("s1"), "u1"), start)),
            (
                "pa",
                error(
                    json!({ "app": "web", "message": "Network request failed",
                            "anonymous_id": "anon-1" }),
                    start,
                ),
            ),
            (
                "pa",
                events(json!({ "events": [signup("pro", hour)] }), start),
            ),
            (
                "pb",
                session_of(json!({ "session_id": "s1", "app": "ios" }), start),
            ),
            (
                "pb",
                error(
                    json!({ "app": "ios", "message": "boom", "session_id": "s1",
                            "context": { "source": "window.onerror" } }),
                    start,
                ),
            ),
        ],
        vec![(
            "pa",
            events(
                json!({ "events": [
                    signup("pro", 1), signup("enterprise", DAY_MS + hour),
                    vital("LCP", 3000.0, 1), vital("INP", 150.0, DAY_MS + hour),
                    { "app": "web", "name": "page_view", "properties": { "path": "/b" },
                      "timestamp": at(DAY_MS + 2 * hour) },
                ] }),
                start,
            ),
        )],
        vec![
            ("pa", type_error(Some("s1"), "u2")),
            ("pa", type_error(None, "u1")),
            (
                "pa",
                json!({ "app": "web", "message": "crash", "session_id": "s2",
                        "user_id": "u3", "context": { "source": "window.onerror" } }),
            ),
        ]
        .into_iter()
        .map(|(p, body)| (p, error(body, start + 1_000)))
        .collect(),
        [
            (
                "pa",
                json!({ "session_id": "s2", "app": "web", "device_browser": "Firefox",
                        "started_at": at(hour) }),
            ),
            (
                "pa",
                json!({ "session_id": "s1", "app": "web", "user_id": "u1", "ended_at": at(0) }),
            ),
            (
                "pb",
                json!({ "session_id": "s3", "app": "ios", "environment": "beta" }),
            ),
            (
                "pb",
                json!({ "session_id": "s3", "app": "ios", "release": "2.0", "ended_at": at(0) }),
            ),
        ]
        .into_iter()
        .map(|(p, body)| (p, session_of(body, start + 2_000)))
        .collect(),
        vec![
            (
                "pa",
                events(
                    json!({ "events": [
                        { "app": "web", "name": "checkout", "session_id": "s2",
                          "properties": { "total": 12.5, "currency": "EUR" } },
                        vital("LCP", 800.0, 1),
                    ] }),
                    start + 3_000,
                ),
            ),
            (
                "pb",
                events(
                    json!({ "events": [{ "app": "ios", "name": "open", "session_id": "s3",
                                         "properties": { "screen": "settings" } }] }),
                    start + 3_000,
                ),
            ),
        ],
    ];

    let month = month_key(start);
    let mut rollups = RollupState::default();
    let mut direct_rollups = RollupState::default();
    let mut direct_groups = 0;
    for (n, group) in groups.iter().enumerate() {
        let now = start + 10_000 * n as i64;
        let pairs: Vec<(&str, &IngestWrite)> = group.iter().map(|(p, w)| (*p, w)).collect();
        // Both databases keep the day's property values, as the writer does.
        direct_rollups.reserve(&direct_db, &pairs).await.unwrap();
        rollups.reserve(&sqlx_db, &pairs).await.unwrap();
        let increments = rollups.build(&pairs);
        let items: Vec<WriteItem<'_>> = group
            .iter()
            .map(|(project_id, write)| WriteItem {
                project_id,
                write,
                reserved_units: 0,
                month: &month,
            })
            .collect();
        let mut new_apps: Vec<(String, String)> = group
            .iter()
            .filter_map(|(p, w)| match w {
                IngestWrite::Events(list) => Some((p.to_string(), list[0].app.clone())),
                _ => None,
            })
            .collect();
        new_apps.dedup();
        let keys: &[&str] = if n == 0 { &["ka", "kb"] } else { &[] };
        if group
            .iter()
            .all(|(_, w)| matches!(w, IngestWrite::Events(_)))
        {
            direct
                .write_events(&items, &new_apps, keys, &increments, now)
                .unwrap();
            direct_groups += 1;
        } else {
            direct_db
                .write_ingest_group(&items, &new_apps, keys, &increments, now)
                .await
                .unwrap();
        }
        sqlx_db
            .write_ingest_group(&items, &new_apps, keys, &increments, now)
            .await
            .unwrap();
        rollups.committed(&increments);
        if n == 2 {
            // Resolved in both, so that the errors of the next group reopen it.
            for db in [&direct_db, &sqlx_db] {
                let Db::Sqlite(pool) = db else { unreachable!() };
                sqlx::query("UPDATE error_groups SET status = 'resolved', resolved_at = $1")
                    .bind(now)
                    .execute(pool)
                    .await
                    .unwrap();
            }
        }
    }
    assert_eq!(direct_groups, 3, "groups of events only, written directly");

    let (direct_rows, sqlx_rows) = (every_row(&direct_files), every_row(&sqlx_files));
    // Nothing is compared empty: every table the ingest writer fills has rows.
    for (table, rows) in &sqlx_rows {
        let written = table.starts_with("rollup_")
            || [
                "events",
                "sessions",
                "error_groups",
                "error_occurrences",
                "usage_monthly",
                "project_apps",
                "project_labels",
                "event_property_keys",
            ]
            .contains(&table.as_str());
        assert!(!written || !rows.is_empty(), "{table} is empty");
    }
    let Db::Sqlite(pool) = &sqlx_db else {
        unreachable!()
    };
    let regressed: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM error_groups WHERE regressed_at IS NOT NULL")
            .fetch_one(pool)
            .await
            .unwrap();
    assert_eq!(regressed, 1, "the resolved TypeError came back");
    assert_eq!(
        direct_rows.keys().collect::<Vec<_>>(),
        sqlx_rows.keys().collect::<Vec<_>>()
    );
    for (table, rows) in &sqlx_rows {
        let direct = &direct_rows[table];
        let only = |a: &[String], b: &[String]| {
            a.iter()
                .filter(|r| !b.contains(r))
                .cloned()
                .collect::<Vec<_>>()
        };
        assert!(
            direct == rows,
            "{table}: only through the direct connection {:?}, only through sqlx {:?}",
            only(direct, rows),
            only(rows, direct)
        );
    }
}

on_both_backends!(
    sessions_move_with_their_labels_and_start,
    one_commit_of_two_projects_with_the_same_session_id,
    concurrent_single_events_are_all_counted
);
