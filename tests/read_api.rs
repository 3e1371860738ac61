//! The read API over HTTP: filters, cursor pagination, overview KPIs and tenant
//! isolation.

mod common;

use common::{Backend, Seed, TestApp};
use serde_json::{json, Value};
use std::collections::BTreeSet;

async fn all_pages(app: &TestApp, seed: &Seed, path: &str, limit: usize) -> Vec<Value> {
    let mut items = Vec::new();
    let mut cursor: Option<String> = None;
    let sep = if path.contains('?') { '&' } else { '?' };
    for _ in 0..100 {
        let url = match &cursor {
            Some(c) => format!("{path}{sep}limit={limit}&cursor={c}"),
            None => format!("{path}{sep}limit={limit}"),
        };
        let body = app.read_ok(seed, &url).await;
        let page = body["items"].as_array().unwrap();
        assert!(page.len() <= limit);
        items.extend(page.iter().cloned());
        match body["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => return items,
        }
    }
    panic!("pagination did not end");
}

async fn lists_filter_and_paginate(backend: Backend) {
    let app = TestApp::start(backend).await;
    let seed = app.seed("reads").await;
    let mut events = Vec::new();
    for i in 0..23 {
        events.push(json!({
            "app": if i % 2 == 0 { "web" } else { "ios" },
            "name": if i % 3 == 0 { "signup" } else { "page_view" },
            "environment": if i < 10 { "production" } else { "staging" },
            "release": format!("1.{}", i % 4),
            "session_id": format!("s{}", i % 5),
            "properties": { "i": i },
        }));
    }
    assert_eq!(
        app.post_json("/ingest/batch", &seed.key, &json!({ "events": events }))
            .await
            .status(),
        204
    );

    let all = all_pages(&app, &seed, "/api/events", 5).await;
    assert_eq!(all.len(), 23);
    let ids: BTreeSet<&str> = all.iter().map(|e| e["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), 23, "no duplicates across pages");
    let times: Vec<&str> = all
        .iter()
        .map(|e| e["timestamp"].as_str().unwrap())
        .collect();
    assert!(times.windows(2).all(|w| w[0] >= w[1]), "newest first");

    let expect = |f: &dyn Fn(usize) -> bool| (0..23).filter(|i| f(*i)).count();
    for (query, want) in [
        ("/api/events?name=signup", expect(&|i| i % 3 == 0)),
        ("/api/events?app=ios", expect(&|i| i % 2 == 1)),
        (
            "/api/events?environment=production&app=web",
            expect(&|i| i < 10 && i % 2 == 0),
        ),
        ("/api/events?release=1.2", expect(&|i| i % 4 == 2)),
        ("/api/events?range=24h", 23),
        (
            "/api/events?from=2000-01-01T00:00:00Z&to=2000-01-02T00:00:00Z",
            0,
        ),
    ] {
        assert_eq!(
            all_pages(&app, &seed, query, 4).await.len(),
            want,
            "{query}"
        );
    }
    let one = &all[0];
    let detail = app
        .read_ok(
            &seed,
            &format!("/api/events/{}", one["id"].as_str().unwrap()),
        )
        .await;
    assert_eq!(&detail, one);

    // Errors by occurrences, paginated.
    for (msg, times) in [("alpha failed", 3), ("beta failed", 1), ("gamma failed", 2)] {
        for _ in 0..times {
            let err = json!({ "app": "web", "message": msg, "session_id": "s1", "user_id": "u1" });
            assert_eq!(
                app.post_json("/ingest/error", &seed.key, &err)
                    .await
                    .status(),
                204
            );
        }
    }
    let groups = all_pages(&app, &seed, "/api/errors?sort=occurrences", 2).await;
    let counts: Vec<i64> = groups
        .iter()
        .map(|g| g["occurrences"].as_i64().unwrap())
        .collect();
    assert_eq!(counts, vec![3, 2, 1]);
    assert_eq!(
        all_pages(&app, &seed, "/api/errors?status=resolved", 2)
            .await
            .len(),
        0
    );
    assert_eq!(
        all_pages(&app, &seed, "/api/errors?environment=production", 2)
            .await
            .len(),
        0
    );

    // Sessions and the overview's crash-free rate: 3 sessions, one with errors.
    for s in ["s1", "s2", "s3"] {
        let body = json!({ "session_id": s, "app": "web" });
        assert_eq!(
            app.post_json("/ingest/session", &seed.key, &body)
                .await
                .status(),
            204
        );
    }
    // An error nobody caught (the browser SDK's global handler) crashes s2; the
    // handled ones of s1 only make it errored.
    let crash = json!({ "app": "web", "message": "delta failed", "session_id": "s2",
                        "user_id": "u1", "context": { "source": "window.onerror" } });
    assert_eq!(
        app.post_json("/ingest/error", &seed.key, &crash)
            .await
            .status(),
        204
    );
    let sessions = all_pages(&app, &seed, "/api/sessions", 2).await;
    assert_eq!(sessions.len(), 3);
    let by_id = |id: &str| {
        sessions
            .iter()
            .find(|s| s["session_id"] == id)
            .unwrap()
            .clone()
    };
    let (s1, s2, s3) = (by_id("s1"), by_id("s2"), by_id("s3"));
    assert_eq!(
        (
            &s1["event_count"],
            &s1["error_count"],
            &s1["errored"],
            &s1["crashed"]
        ),
        (&json!(5), &json!(6), &json!(true), &json!(false)),
        "{s1}"
    );
    assert_eq!(
        (&s2["error_count"], &s2["errored"], &s2["crashed"]),
        (&json!(1), &json!(true), &json!(true)),
        "{s2}"
    );
    assert_eq!(
        (&s3["errored"], &s3["crashed"]),
        (&json!(false), &json!(false))
    );
    let o = app.read_ok(&seed, "/api/overview?range=7d").await;
    assert_eq!(
        (
            o["events"].as_i64(),
            o["errors"].as_i64(),
            o["sessions"].as_i64()
        ),
        (Some(23), Some(7), Some(3))
    );
    assert_eq!(
        (
            o["affected_users"].as_i64(),
            o["errored_sessions"].as_i64(),
            o["crashed_sessions"].as_i64()
        ),
        (Some(1), Some(2), Some(1))
    );
    assert!((o["error_free_rate"].as_f64().unwrap() - 1.0 / 3.0).abs() < 1e-9);
    assert!((o["crash_free_rate"].as_f64().unwrap() - 2.0 / 3.0).abs() < 1e-9);
    let s1 = app.read_ok(&seed, "/api/sessions/s1").await;
    assert_eq!(s1["events"].as_array().unwrap().len(), 5);
    assert_eq!(s1["errors"].as_array().unwrap().len(), 6);
    assert_eq!(s1["session"]["event_count"], 5);
    let s2 = app.read_ok(&seed, "/api/sessions/s2").await;
    assert_eq!(s2["errors"][0]["unhandled"], true, "{s2}");
    assert_eq!(s2["session"]["crashed"], true);
    // The project can also be chosen with the query parameter.
    let res = app
        .http
        .get(app.url(&format!("/api/overview?project_id={}", seed.project_id)))
        .bearer_auth(&seed.token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
}

async fn tenants_never_see_each_other(backend: Backend) {
    let app = TestApp::start(backend).await;
    let a = app.seed("tenant-a").await;
    let b = app.seed("tenant-b").await;
    for seed in [&a, &b] {
        let name = format!("only-{}", seed.org_id);
        assert_eq!(
            app.post_json(
                "/ingest/event",
                &seed.key,
                &json!({ "app": "web", "name": name, "session_id": "shared" })
            )
            .await
            .status(),
            204
        );
        assert_eq!(
            app.post_json(
                "/ingest/error",
                &seed.key,
                &json!({ "app": "web", "message": "same message", "session_id": "shared" })
            )
            .await
            .status(),
            204
        );
        assert_eq!(
            app.post_json(
                "/ingest/session",
                &seed.key,
                &json!({ "session_id": "shared", "app": "web" })
            )
            .await
            .status(),
            204
        );
    }
    let a_events = app.read_ok(&a, "/api/events").await;
    let a_errors = app.read_ok(&a, "/api/errors").await;
    let b_events = app.read_ok(&b, "/api/events").await;
    assert_eq!(a_events["items"].as_array().unwrap().len(), 1);
    assert_eq!(a_events["items"][0]["name"], format!("only-{}", a.org_id));
    assert_eq!(b_events["items"][0]["name"], format!("only-{}", b.org_id));
    let a_session = app.read_ok(&a, "/api/sessions/shared").await;
    assert_eq!(
        a_session["events"].as_array().unwrap().len(),
        1,
        "same session id, other tenant's events excluded"
    );

    // B's credentials on A's project, and A's ids through B's project: not found.
    let a_as_b = Seed {
        token: b.token.clone(),
        ..a.clone()
    };
    let a_event = a_events["items"][0]["id"].as_str().unwrap();
    let a_group = a_errors["items"][0]["id"].as_str().unwrap();
    for path in [
        "/api/overview".to_string(),
        "/api/events".into(),
        format!("/api/events/{a_event}"),
        format!("/api/errors/{a_group}"),
    ] {
        assert_eq!(app.read(&a_as_b, &path).await.0, 404, "{path}");
    }
    for path in [
        format!("/api/events/{a_event}"),
        format!("/api/errors/{a_group}"),
    ] {
        assert_eq!(app.read(&b, &path).await.0, 404, "{path}");
    }
    let res = app
        .http
        .patch(app.url(&format!("/api/errors/{a_group}")))
        .bearer_auth(&b.token)
        .header("X-Project-Id", &b.project_id)
        .json(&json!({ "status": "resolved" }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
    let group = app.read_ok(&a, &format!("/api/errors/{a_group}")).await;
    assert_eq!(group["group"]["status"], "unresolved");
    // A's key cannot write into B's project: the key decides the project.
    let b_errors = app.read_ok(&b, "/api/errors").await;
    assert_eq!(b_errors["items"][0]["occurrences"], 1);
}

async fn per_ip_limits_answer_429_with_retry_after(backend: Backend) {
    let app = TestApp::start_with(backend, |c| {
        c.rate_limit_api_max = 5;
        c.rate_limit_ingest_max = 3;
    })
    .await;
    let seed = app.seed("limited").await;
    for _ in 0..5 {
        app.read_ok(&seed, "/api/events").await;
    }
    let res = app
        .http
        .get(app.url("/api/events"))
        .bearer_auth(&seed.token)
        .header("X-Project-Id", &seed.project_id)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 429);
    assert!(
        res.headers()["retry-after"]
            .to_str()
            .unwrap()
            .parse::<u64>()
            .unwrap()
            >= 1
    );
    let body: Value = res.json().await.unwrap();
    assert!(body["error"]
        .as_str()
        .unwrap()
        .contains("Too many requests"));
    for i in 0..4 {
        let status = app
            .post_json(
                "/ingest/event",
                &seed.key,
                &json!({ "app": "web", "name": "x" }),
            )
            .await
            .status();
        assert_eq!(status, if i < 3 { 204 } else { 429 });
    }
    // /health is never limited.
    for _ in 0..10 {
        assert_eq!(
            app.http
                .get(app.url("/health"))
                .send()
                .await
                .unwrap()
                .status(),
            200
        );
    }
}

/// The summaries behind the dashboard's charts, over the API: they add up to what
/// was sent, by bucket, by name, by property value and by web-vital rating.
async fn charts_and_breakdowns_add_up(backend: Backend) {
    let app = TestApp::start(backend).await;
    let seed = app.seed("charts").await;
    let mut events: Vec<Value> = (0..12)
        .map(|i| {
            json!({ "app": "web", "name": if i < 8 { "page_view" } else { "signup" },
                          "environment": "production", "release": "1.0",
                          "properties": { "path": if i % 2 == 0 { "/a" } else { "/b" } } })
        })
        .collect();
    for value in [500, 900, 1800, 5000] {
        events.push(json!({ "app": "web", "name": "$web_vital",
            "properties": { "metric": "TTFB", "value": value } }));
    }
    assert_eq!(
        app.post_json("/ingest/batch", &seed.key, &json!({ "events": events }))
            .await
            .status(),
        204
    );
    for s in ["s1", "s2"] {
        assert_eq!(
            app.post_json(
                "/ingest/session",
                &seed.key,
                &json!({ "app": "web", "session_id": s })
            )
            .await
            .status(),
            204
        );
    }
    let error =
        json!({ "app": "web", "message": "boom", "session_id": "s1", "environment": "production" });
    assert_eq!(
        app.post_json("/ingest/error", &seed.key, &error)
            .await
            .status(),
        204
    );

    let series = app.read_ok(&seed, "/api/timeseries?range=24h").await;
    assert_eq!(series["bucket_ms"], 3_600_000);
    let buckets = series["buckets"].as_array().unwrap();
    assert_eq!(buckets.len(), 24);
    let sum = |k: &str| buckets.iter().map(|b| b[k].as_i64().unwrap()).sum::<i64>();
    assert_eq!(
        (
            sum("events"),
            sum("errors"),
            sum("sessions"),
            sum("errored_sessions"),
            sum("crashed_sessions")
        ),
        (16, 1, 2, 1, 0)
    );

    let names = app.read_ok(&seed, "/api/events/names?range=24h").await;
    let names = names["items"].as_array().unwrap();
    assert_eq!(names[0]["name"], "page_view");
    assert_eq!(names[0]["count"], 8);
    assert_eq!(names[0]["share"], 50.0);
    let prod = app
        .read_ok(&seed, "/api/events/names?range=24h&environment=production")
        .await;
    assert_eq!(prod["items"].as_array().unwrap().len(), 2, "{prod}");

    let props = app
        .read_ok(&seed, "/api/events/properties?range=24h&name=page_view")
        .await;
    assert_eq!(props["properties"], json!(["path"]));
    assert_eq!(
        props["values"],
        json!([{ "value": "/a", "count": 4 }, { "value": "/b", "count": 4 }])
    );
    let (status, missing) = app.read(&seed, "/api/events/properties?range=24h").await;
    assert_eq!(status, 400, "{missing}");

    let perf = app.read_ok(&seed, "/api/performance?range=24h").await;
    let ttfb = perf["vitals"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["metric"] == "TTFB")
        .unwrap()
        .clone();
    assert_eq!(
        (
            ttfb["samples"].as_i64(),
            ttfb["good"].as_i64(),
            ttfb["needs_improvement"].as_i64(),
            ttfb["poor"].as_i64()
        ),
        (Some(4), Some(1), Some(2), Some(1)),
        "ratings follow the thresholds when the SDK sends none: {ttfb}"
    );
    assert_eq!(
        ttfb["rating"], "needs-improvement",
        "p75 is the 1800 ms sample"
    );

    let options = app.read_ok(&seed, "/api/filter-options").await;
    assert_eq!(options["apps"], json!(["web"]));
    assert_eq!(options["environments"], json!(["production"]));
    assert_eq!(options["releases"], json!(["1.0"]));
    assert_eq!(
        options["event_names"],
        json!(["$web_vital", "page_view", "signup"])
    );

    // The bell over the API: the new group, unread, then read.
    let list = || app.read_ok(&seed, "/api/notifications");
    let mut bell = list().await;
    for _ in 0..100 {
        if bell["unread"] == 1 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        bell = list().await;
    }
    assert_eq!(bell["unread"], 1, "{bell}");
    assert_eq!(bell["items"][0]["kind"], "new_issue");
    let id = bell["items"][0]["id"].as_str().unwrap().to_string();
    let res = app
        .http
        .post(app.url("/api/notifications/read"))
        .bearer_auth(&seed.token)
        .json(&json!({ "ids": [id, "not-mine"] }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let marked: Value = res.json().await.unwrap();
    assert_eq!(marked["marked"], 1, "{marked}");
    assert_eq!(list().await["unread"], 0);
}

/// An open session lasts until its last event; the errors list reports each group's
/// numbers in the range, the same the group's detail reports.
async fn open_sessions_and_groups_report_their_activity(backend: Backend) {
    let app = TestApp::start(backend).await;
    let seed = app.seed("activity").await;
    let now = app.state.clock.now_ms();
    let at = |ms: i64| telemetry_tracker::domain::timeutil::format_rfc3339_ms(ms);
    let session = json!({ "session_id": "open", "app": "web", "started_at": at(now) });
    assert_eq!(
        app.post_json("/ingest/session", &seed.key, &session)
            .await
            .status(),
        204
    );
    let events: Vec<Value> = [1_500, 4_000]
        .iter()
        .map(|d| json!({ "app": "web", "name": "tick", "session_id": "open", "timestamp": at(now + d) }))
        .collect();
    let batch = json!({ "events": events });
    assert_eq!(
        app.post_json("/ingest/batch", &seed.key, &batch)
            .await
            .status(),
        204
    );
    let detail = app.read_ok(&seed, "/api/sessions/open").await;
    let s = &detail["session"];
    assert_eq!(
        (&s["ended_at"], &s["duration_ms"]),
        (&Value::Null, &json!(4_000)),
        "{s}"
    );
    assert_eq!(s["last_activity_at"], json!(at(now + 4_000)));
    let listed = all_pages(&app, &seed, "/api/sessions", 10).await;
    assert_eq!(listed[0]["duration_ms"], 4_000);
    assert_eq!(listed[0]["event_count"], 2);

    for user in ["u1", "u2", "u2"] {
        let err = json!({ "app": "web", "message": "boom", "user_id": user });
        assert_eq!(
            app.post_json("/ingest/error", &seed.key, &err)
                .await
                .status(),
            204
        );
    }
    let groups = all_pages(&app, &seed, "/api/errors?range=24h&sort=in_range", 10).await;
    assert_eq!(groups.len(), 1);
    let g = &groups[0];
    assert_eq!(
        (
            &g["occurrences"],
            &g["occurrences_in_range"],
            &g["affected_users"]
        ),
        (&json!(3), &json!(3), &json!(2)),
        "{g}"
    );
    let id = g["id"].as_str().unwrap();
    let detail = app
        .read_ok(&seed, &format!("/api/errors/{id}?range=24h"))
        .await;
    assert_eq!(
        (&detail["occurrences_in_range"], &detail["affected_users"]),
        (&json!(3), &json!(2))
    );
    assert_eq!(detail["recent_occurrences"].as_array().unwrap().len(), 3);
    // A range before anything happened: the group is not listed and counts nothing.
    let old = "from=2000-01-01&to=2000-01-02";
    assert!(all_pages(&app, &seed, &format!("/api/errors?{old}"), 10)
        .await
        .is_empty());
    let detail = app.read_ok(&seed, &format!("/api/errors/{id}?{old}")).await;
    assert_eq!(
        (&detail["occurrences_in_range"], &detail["affected_users"]),
        (&json!(0), &json!(0))
    );
    assert_eq!(detail["group"]["occurrences"], 3);
}

on_both_backends!(
    charts_and_breakdowns_add_up,
    open_sessions_and_groups_report_their_activity,
    lists_filter_and_paginate,
    tenants_never_see_each_other,
    per_ip_limits_answer_429_with_retry_after
);
