//! DSNs (issue 17, part 1): every project has a number, unique in the installation
//! and never reused, and every API key a DSN built from the public URL, the key's
//! public id and that number, in the API, the CLI, Settings → API keys and
//! onboarding. What a DSN is allowed to send is tested with the Sentry routes.

mod common;

use common::process::cli_env;
use common::web::Web;
use common::{Backend, TestApp, TestDb};
use serde_json::{json, Value};
use std::path::Path;
use telemetry_tracker::clock::Clock;
use telemetry_tracker::domain::dsn;
use telemetry_tracker::service::accounts;
use telemetry_tracker::store::{Db, SyncMode};

const PUBLIC_URL: &str = "http://telemetry.test:8080/tools/tt/";

/// A request to the management API as `token`: status and JSON body.
async fn call(
    app: &TestApp,
    token: &str,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = app
        .http
        .request(method.parse().unwrap(), app.url(path))
        .bearer_auth(token);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let res = req.send().await.unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

/// The public id of a full key, `tt_live_<publicId>_<secret>`.
fn public_id(key: &str) -> &str {
    key.strip_prefix("tt_live_")
        .unwrap()
        .split('_')
        .next()
        .unwrap()
}

async fn projects_are_numbered_once_and_for_good(backend: Backend) {
    let app = TestApp::start(backend).await;
    let a = app.seed("alpha").await;
    let b = app.seed("beta").await;
    let number = |project: &Value| project["number"].as_i64().expect("a number");

    let (status, first) = call(
        &app,
        &a.token,
        "GET",
        &format!("/api/projects/{}", a.project_id),
        None,
    )
    .await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(number(&first), 1, "the first project of the installation");
    let (_, second) = call(
        &app,
        &b.token,
        "GET",
        &format!("/api/projects/{}", b.project_id),
        None,
    )
    .await;
    assert_eq!(
        number(&second),
        2,
        "numbers are per installation, not per organization"
    );

    let projects = format!("/api/orgs/{}/projects", a.org_id);
    let create = |name: &str| {
        call(
            &app,
            &a.token,
            "POST",
            &projects,
            Some(json!({ "name": name })),
        )
    };
    let (status, third) = create("third").await;
    assert_eq!(status, 201, "{third}");
    assert_eq!(number(&third), 3);

    // A deleted project keeps its number to itself; a rename keeps it too.
    let third_id = third["id"].as_str().unwrap();
    let (status, _) = call(
        &app,
        &a.token,
        "DELETE",
        &format!("/api/projects/{third_id}"),
        None,
    )
    .await;
    assert_eq!(status, 204);
    let (_, fourth) = create("fourth").await;
    assert_eq!(
        number(&fourth),
        4,
        "a deleted project's number is not given again"
    );
    let (status, renamed) = call(
        &app,
        &a.token,
        "PATCH",
        &format!("/api/projects/{}", a.project_id),
        Some(json!({ "name": "renamed" })),
    )
    .await;
    assert_eq!((status, number(&renamed)), (200, 1), "{renamed}");

    // Every project object carries it: the organization's list too.
    let (status, list) = call(
        &app,
        &a.token,
        "GET",
        &format!("/api/orgs/{}/projects", a.org_id),
        None,
    )
    .await;
    assert_eq!(status, 200, "{list}");
    let mut numbers: Vec<i64> = list.as_array().unwrap().iter().map(number).collect();
    numbers.sort();
    assert_eq!(numbers, [1, 4]);

    // The lookup the Sentry routes use: live projects of live organizations only.
    let db = &app.state.db;
    let found = db.project_by_number(4).await.unwrap().expect("project 4");
    assert_eq!(
        (found.id.as_str(), found.number),
        (fourth["id"].as_str().unwrap(), 4)
    );
    assert!(db.project_by_number(3).await.unwrap().is_none(), "deleted");
    assert!(
        db.project_by_number(99).await.unwrap().is_none(),
        "never given"
    );
    assert_eq!(
        db.project_by_id(&a.project_id)
            .await
            .unwrap()
            .unwrap()
            .number,
        1
    );
}

/// Projects created before the migration are numbered by creation time (then id),
/// deleted ones included, and new ones continue after them.
async fn existing_projects_are_numbered_in_creation_order(backend: Backend) {
    let files = TestDb::new(backend).await;
    let db = Db::connect(files.url.as_deref(), &files.data_dir(), SyncMode::Normal)
        .await
        .unwrap();
    let dir = match backend {
        Backend::Sqlite => "migrations/sqlite",
        Backend::Postgres => "migrations/postgres",
    };
    // The migrations before this one, from a copy of their directory.
    let all = Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
    let earlier = files.dir.path().join("earlier-migrations");
    std::fs::create_dir(&earlier).unwrap();
    for file in std::fs::read_dir(&all).unwrap() {
        let file = file.unwrap().path();
        let name = file.file_name().unwrap().to_string_lossy().to_string();
        if name.as_str() < "0009" {
            std::fs::copy(&file, earlier.join(&name)).unwrap();
        }
    }
    let before = sqlx::migrate::Migrator::new(earlier).await.unwrap();
    let rows = [
        "INSERT INTO organizations (id, name, created_at) VALUES ('org', 'Org', 0)",
        // Created at 300, 100, 200 and 100 again (the id breaks the tie); 'pd' deleted.
        "INSERT INTO projects (id, org_id, name, slug, created_at) VALUES
            ('pa', 'org', 'A', 'a', 300), ('pz', 'org', 'Z', 'z', 100),
            ('pc', 'org', 'C', 'c', 200), ('pb', 'org', 'B', 'b', 100)",
        "INSERT INTO projects (id, org_id, name, slug, created_at, deleted_at) VALUES
            ('pd', 'org', 'D', 'd', 400, 500)",
    ];
    match &db {
        Db::Sqlite(pool) => {
            before.run(pool).await.unwrap();
            for sql in rows {
                sqlx::query(sql).execute(pool).await.unwrap();
            }
        }
        Db::Postgres(pool) => {
            before.run(pool).await.unwrap();
            for sql in rows {
                sqlx::query(sql).execute(pool).await.unwrap();
            }
        }
    }
    db.migrate().await.unwrap();

    let numbers: Vec<(String, i64)> = match &db {
        Db::Sqlite(pool) => sqlx::query_as("SELECT id, number FROM projects ORDER BY number")
            .fetch_all(pool)
            .await
            .unwrap(),
        Db::Postgres(pool) => sqlx::query_as("SELECT id, number FROM projects ORDER BY number")
            .fetch_all(pool)
            .await
            .unwrap(),
    };
    let want = [("pb", 1), ("pz", 2), ("pc", 3), ("pa", 4), ("pd", 5)];
    let want: Vec<(String, i64)> = want.iter().map(|(id, n)| (id.to_string(), *n)).collect();
    assert_eq!(numbers, want);

    let clock = Clock::default();
    let new = accounts::create_project(&db, &clock, "org", "New")
        .await
        .unwrap();
    assert_eq!(
        new.number, 6,
        "after the backfilled ones, the deleted one too"
    );
    let stored = db.project_by_id(&new.id).await.unwrap().unwrap();
    assert_eq!(stored.number, 6);

    // Rows inserted without a number, several in one statement, are numbered too.
    let insert = "INSERT INTO projects (id, org_id, name, slug, created_at) VALUES
        ('px', 'org', 'X', 'x', 0), ('py', 'org', 'Y', 'y', 0)";
    let select = "SELECT number FROM projects WHERE id IN ('px', 'py') ORDER BY number";
    let numbers: Vec<i64> = match &db {
        Db::Sqlite(pool) => {
            sqlx::query(insert).execute(pool).await.unwrap();
            sqlx::query_scalar(select).fetch_all(pool).await.unwrap()
        }
        Db::Postgres(pool) => {
            sqlx::query(insert).execute(pool).await.unwrap();
            sqlx::query_scalar(select).fetch_all(pool).await.unwrap()
        }
    };
    assert_eq!(numbers, [7, 8]);
    db.close().await;
}

async fn api_keys_carry_their_dsn(backend: Backend) {
    let app = TestApp::start_with(backend, |cfg| cfg.public_url = Some(PUBLIC_URL.into())).await;
    let _earlier = app.seed("earlier").await;
    let seed = app.seed("keys").await;
    let (_, project) = call(
        &app,
        &seed.token,
        "GET",
        &format!("/api/projects/{}", seed.project_id),
        None,
    )
    .await;
    let number = project["number"].as_i64().unwrap();
    assert_eq!(number, 2);

    let (status, created) = call(
        &app,
        &seed.token,
        "POST",
        &format!("/api/projects/{}/keys", seed.project_id),
        Some(json!({ "label": "sentry" })),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let key = created["key"].as_str().unwrap();
    let dsn_text = created["dsn"].as_str().expect("dsn on the created key");
    assert_eq!(
        dsn_text,
        format!(
            "http://{}@telemetry.test:8080/tools/tt/{number}",
            public_id(key)
        ),
        "scheme, host, port and path prefix of the public URL"
    );
    assert!(!dsn_text.contains(&key[41..]), "no secret in a DSN");
    let parsed = dsn::parse(dsn_text).expect("the DSN parses");
    assert_eq!(
        (parsed.public_id.as_str(), parsed.project_number),
        (public_id(key), number)
    );

    let (status, keys) = call(
        &app,
        &seed.token,
        "GET",
        &format!("/api/projects/{}/keys", seed.project_id),
        None,
    )
    .await;
    assert_eq!(status, 200, "{keys}");
    let keys = keys.as_array().unwrap();
    assert_eq!(keys.len(), 2, "the seed's key and the new one");
    for k in keys {
        let prefix = k["prefix"].as_str().unwrap();
        let parsed = dsn::parse(k["dsn"].as_str().expect("dsn on every listed key")).unwrap();
        assert_eq!(format!("tt_live_{}", parsed.public_id), prefix);
        assert_eq!(parsed.project_number, number);
    }
    assert!(keys.iter().any(|k| k["dsn"] == created["dsn"]));
}

async fn the_cli_prints_dsns_from_the_servers_settings(backend: Backend) {
    let db = TestDb::new(backend).await;
    let seed = db.seed("cli").await;
    let args = ["apikey", "create", "--project", &seed.project_id];
    let (ok, created, err) = cli_env(&db, &[], &args, None);
    assert!(ok, "{err}");
    let key = created["key"].as_str().unwrap();
    assert_eq!(
        created["dsn"],
        format!("http://{}@127.0.0.1:3001/1", public_id(key)),
        "the server's default public URL without settings"
    );

    let env = [("HOST", "0.0.0.0"), ("PORT", "8080")];
    let (ok, listed, err) = cli_env(
        &db,
        &env,
        &["apikey", "list", "--project", &seed.project_id],
        None,
    );
    assert!(ok, "{err}");
    for k in listed["keys"].as_array().unwrap() {
        let dsn_text = k["dsn"].as_str().unwrap();
        assert!(
            dsn_text.starts_with("http://") && dsn_text.ends_with("@0.0.0.0:8080/1"),
            "{dsn_text}"
        );
    }

    let env = [("TELEMETRY_DASHBOARD_ORIGIN", "https://tt.example.com/sub/")];
    let (ok, listed, err) = cli_env(
        &db,
        &env,
        &["apikey", "list", "--project", &seed.project_id],
        None,
    );
    assert!(ok, "{err}");
    let keys = listed["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 2);
    let mine = keys.iter().find(|k| k["id"] == created["id"]).unwrap();
    assert_eq!(
        mine["dsn"],
        format!("https://{}@tt.example.com/sub/1", public_id(key))
    );
    let (ok, _, err) = cli_env(
        &db,
        &[],
        &[
            "apikey",
            "list",
            "--project",
            &seed.project_id,
            "--public-url",
            "http://other.test",
        ],
        None,
    );
    assert!(ok, "{err}");
}

/// Settings → API keys and onboarding's key step show the DSN and the Sentry snippets.
async fn the_dashboard_shows_dsns_with_snippets(backend: Backend) {
    let app = TestApp::start_with(backend, |cfg| cfg.public_url = Some(PUBLIC_URL.into())).await;
    let seed = app.seed("dash").await;
    let web = Web::new(&app.base);
    let landed = web.log_in(&seed.email, "correct horse battery").await;
    assert_eq!(landed.status, 303, "{}", landed.body);
    let seeded_dsn = format!(
        "http://{}@telemetry.test:8080/tools/tt/1",
        public_id(&seed.key)
    );

    let keys = web.visit_ok("/settings/api-keys").await;
    assert!(keys.has(&seeded_dsn), "{}", keys.body);
    assert!(keys.has("project number"), "the number is shown");
    assert!(
        keys.has(&format!("dsn: &quot;{seeded_dsn}&quot;")),
        "the browser snippet by default"
    );
    assert!(keys.has("@sentry/browser"));
    let python = web
        .visit_ok("/settings/api-keys?snippet=sentry-python")
        .await;
    assert!(
        python.has(&format!(
            "sentry_sdk.init(\n    dsn=&quot;{seeded_dsn}&quot;"
        )),
        "{}",
        python.body
    );
    let node = web.visit_ok("/settings/api-keys?snippet=sentry-node").await;
    assert!(node.has("@sentry/node") && node.has(&seeded_dsn));

    let onboarding = web
        .visit_ok(&format!("/onboarding?project={}", seed.project_id))
        .await;
    let with_key = web
        .post(
            "/onboarding/key",
            &[
                ("csrf", &onboarding.csrf()),
                ("project", &seed.project_id),
                ("label", "sentry"),
            ],
        )
        .await;
    assert_eq!(with_key.status, 200, "{}", with_key.body);
    let key = with_key
        .between("<code id=\"new-key\">", "</code>")
        .unwrap();
    let shown = with_key
        .between("<code id=\"new-dsn\">", "</code>")
        .expect("the DSN beside the key");
    assert_eq!(
        shown,
        format!("http://{}@telemetry.test:8080/tools/tt/1", public_id(&key))
    );
    let sentry = web
        .visit_ok(&format!(
            "/onboarding?project={}&snippet=sentry-browser",
            seed.project_id
        ))
        .await;
    assert!(sentry.has("Sentry.init("), "{}", sentry.body);
}

on_both_backends!(
    projects_are_numbered_once_and_for_good,
    existing_projects_are_numbered_in_creation_order,
    api_keys_carry_their_dsn,
    the_cli_prints_dsns_from_the_servers_settings,
    the_dashboard_shows_dsns_with_snippets,
);
