//! Committed artifacts stay in step with the code: the OpenAPI spec and the
//! migration pairs, compared by what they create.

mod common;

use common::{Backend, TestDb};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use telemetry_tracker::store::Db;

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
        // Stripe calls it; its body's signature is the credential.
        "/api/billing/stripe/webhook",
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

/// What the migrations of one backend create, by name: the tables, per table its
/// columns and whether each may be null, and the indexes the migrations declare.
/// Types are left out: they differ between the backends on purpose (INTEGER and
/// BIGINT, TEXT).
#[derive(Debug, Default, PartialEq, Eq)]
struct Schema {
    /// table -> (column, nullable)
    columns: BTreeMap<String, BTreeSet<(String, bool)>>,
    indexes: BTreeSet<Index>,
}

/// The bookkeeping table of `sqlx migrate`, which is not part of the schema.
const MIGRATIONS_TABLE: &str = "_sqlx_migrations";

/// An index as both backends describe it: (table, index, unique, partial, columns).
type Index = (String, String, bool, bool, Vec<String>);

async fn schema_of(db: &Db) -> Schema {
    // (table, column, nullable) of every column, and the indexes.
    let (columns, indexes): (Vec<(String, String, bool)>, Vec<Index>) = match db {
        Db::Sqlite(pool) => {
            // A single-column TEXT primary key may hold NULL in SQLite (a historical
            // quirk) while PostgreSQL makes every primary key NOT NULL; no id is ever
            // written null, so a primary-key column counts as not null here.
            let columns = sqlx::query_as(
                "SELECT m.name, c.name, c.\"notnull\" = 0 AND c.pk = 0
                 FROM sqlite_master m, pragma_table_info(m.name) c
                 WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite\\_%' ESCAPE '\\' AND m.name <> $1",
            )
            .bind(MIGRATIONS_TABLE)
            .fetch_all(pool)
            .await
            .unwrap();
            // Indexes made by CREATE INDEX (origin 'c'), not those SQLite makes for
            // PRIMARY KEY and UNIQUE constraints.
            let listed: Vec<(String, String, bool, bool)> = sqlx::query_as(
                "SELECT m.name, i.name, i.\"unique\", i.partial
                 FROM sqlite_master m, pragma_index_list(m.name) i
                 WHERE m.type = 'table' AND i.origin = 'c'",
            )
            .fetch_all(pool)
            .await
            .unwrap();
            let mut indexes = Vec::new();
            for (table, index, unique, partial) in listed {
                let names: Vec<(Option<String>,)> =
                    sqlx::query_as("SELECT name FROM pragma_index_info($1) ORDER BY seqno")
                        .bind(&index)
                        .fetch_all(pool)
                        .await
                        .unwrap();
                let names = names
                    .into_iter()
                    .map(|(c,)| c.unwrap_or_else(|| "(expression)".into()))
                    .collect();
                indexes.push((table, index, unique, partial, names));
            }
            (columns, indexes)
        }
        Db::Postgres(pool) => {
            let columns = sqlx::query_as(
                "SELECT c.table_name::text, c.column_name::text, c.is_nullable = 'YES'
                 FROM information_schema.columns c
                 JOIN information_schema.tables t
                   ON t.table_schema = c.table_schema AND t.table_name = c.table_name
                 WHERE c.table_schema = 'public' AND t.table_type = 'BASE TABLE'
                   AND c.table_name <> $1",
            )
            .bind(MIGRATIONS_TABLE)
            .fetch_all(pool)
            .await
            .unwrap();
            // Indexes of their own, not those backing PRIMARY KEY and UNIQUE
            // constraints.
            let indexes = sqlx::query_as(
                "SELECT t.relname::text, c.relname::text, i.indisunique, i.indpred IS NOT NULL,
                        ARRAY(SELECT COALESCE(a.attname::text, '(expression)')
                              FROM unnest(i.indkey) WITH ORDINALITY k(attnum, ord)
                              LEFT JOIN pg_attribute a
                                ON a.attrelid = i.indrelid AND a.attnum = k.attnum
                              ORDER BY k.ord)
                 FROM pg_index i
                 JOIN pg_class c ON c.oid = i.indexrelid
                 JOIN pg_class t ON t.oid = i.indrelid
                 JOIN pg_namespace n ON n.oid = c.relnamespace
                 WHERE n.nspname = 'public' AND t.relname <> $1
                   AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid)",
            )
            .bind(MIGRATIONS_TABLE)
            .fetch_all(pool)
            .await
            .unwrap();
            (columns, indexes)
        }
    };
    let mut schema = Schema {
        indexes: indexes.into_iter().collect(),
        ..Schema::default()
    };
    for (table, column, nullable) in columns {
        schema
            .columns
            .entry(table)
            .or_default()
            .insert((column, nullable));
    }
    schema
}

/// The two migration sets have the same files and create the same schema: each
/// backend migrates a fresh database of its own, then the tables, their columns
/// (names and nullability) and the declared indexes are compared.
#[tokio::test]
async fn migrations_come_in_pairs() {
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

    let sqlite_db = TestDb::new(Backend::Sqlite).await;
    let postgres_db = TestDb::new(Backend::Postgres).await;
    let sqlite = schema_of(&sqlite_db.open().await).await;
    let postgres = schema_of(&postgres_db.open().await).await;
    // Not vacuous: the schema was read, on both sides.
    for (backend, schema) in [("SQLite", &sqlite), ("PostgreSQL", &postgres)] {
        for table in ["events", "sessions", "error_groups", "rollup_events_hourly"] {
            assert!(
                schema.columns.contains_key(table),
                "{backend} has no {table}"
            );
        }
        assert!(
            schema.indexes.iter().any(|i| i.1 == "sessions_key" && i.2),
            "{backend} lacks the unique index sessions_key"
        );
    }
    let tables = |s: &Schema| s.columns.keys().cloned().collect::<BTreeSet<_>>();
    assert_same("tables", &tables(&sqlite), &tables(&postgres));
    for (table, columns) in &sqlite.columns {
        assert_same(
            &format!("{table}: (column, nullable)"),
            columns,
            &postgres.columns[table],
        );
    }
    assert_same(
        "indexes: (table, index, unique, partial, columns)",
        &sqlite.indexes,
        &postgres.indexes,
    );
}

/// Fails naming what only one of the backends has.
fn assert_same<T: Ord + std::fmt::Debug>(what: &str, sqlite: &BTreeSet<T>, postgres: &BTreeSet<T>) {
    assert!(
        sqlite == postgres,
        "{what}: only on SQLite {:?}, only on PostgreSQL {:?}",
        sqlite.difference(postgres).collect::<Vec<_>>(),
        postgres.difference(sqlite).collect::<Vec<_>>()
    );
}
