//! The session merge rule is written once (`SessionState::apply`): a sequence of
//! session writes leaves the same row whether the writes arrive in one group (the
//! session is new and merged in memory) or one group each (the stored row is read,
//! merged and written back), on both backends — and that row is exactly what the
//! rule computes. The roll-ups count the session once, under its final start and
//! labels.

mod common;

use common::{Backend, TestDb};
use telemetry_tracker::clock::Clock;
use telemetry_tracker::domain::ids::new_id;
use telemetry_tracker::store::{
    Db, EventRollups, IngestWrite, Scope, SessionRow, SessionState, SessionWrite, WriteItem,
};

const NOW: i64 = 1_800_000_000_000;

fn write(session_id: &str, f: impl FnOnce(&mut SessionWrite)) -> SessionWrite {
    let mut w = SessionWrite {
        new_id: new_id(),
        session_id: session_id.to_string(),
        app: None,
        platform: None,
        environment: None,
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
    };
    f(&mut w);
    w
}

/// A start, labels later, an earlier start, an end, a later "start" (ignored) and
/// a second end (replaces the first), each received a second after the other.
fn writes(session_id: &str) -> Vec<(SessionWrite, i64)> {
    let at = |s: i64| NOW + s * 1_000;
    vec![
        (
            write(session_id, |w| {
                w.app = Some("web".into());
                w.started_at = Some(at(0));
                w.device_browser = Some("Firefox".into());
            }),
            at(1),
        ),
        (
            write(session_id, |w| {
                w.environment = Some("production".into());
                w.country = Some("DE".into());
            }),
            at(2),
        ),
        (
            write(session_id, |w| {
                w.started_at = Some(at(-30));
                w.release = Some("1.0".into());
                w.user_id = Some("u1".into());
            }),
            at(3),
        ),
        (write(session_id, |w| w.ended_at = Some(at(40))), at(4)),
        (
            write(session_id, |w| {
                w.started_at = Some(at(10));
                w.device_browser = Some("Chrome".into());
            }),
            at(5),
        ),
        (write(session_id, |w| w.ended_at = Some(at(45))), at(6)),
    ]
}

fn expected(session_id: &str) -> SessionState {
    let mut list = writes(session_id).into_iter();
    let (first, now) = list.next().unwrap();
    let mut s = SessionState::new(&first, now);
    for (w, now) in list {
        s.apply(&w, now);
    }
    s
}

fn state_of(r: SessionRow) -> SessionState {
    SessionState {
        app: r.app,
        platform: r.platform,
        environment: r.environment,
        release: r.release,
        user_id: r.user_id,
        user_email: r.user_email,
        anonymous_id: r.anonymous_id,
        country: r.country,
        device_browser: r.device_browser,
        device_os: r.device_os,
        sdk_version: r.sdk_version,
        started_at: r.started_at,
        ended_at: r.ended_at,
        last_activity_at: r.last_activity_at,
    }
}

async fn commit(db: &Db, project_id: &str, group: Vec<(SessionWrite, i64)>) {
    let now = group.iter().map(|(_, t)| *t).max().unwrap();
    let writes: Vec<IngestWrite> = group
        .into_iter()
        .map(|(w, _)| IngestWrite::Session(Box::new(w)))
        .collect();
    let items: Vec<WriteItem<'_>> = writes
        .iter()
        .map(|write| WriteItem {
            project_id,
            write,
            reserved_units: 0,
            month: "2027-01",
        })
        .collect();
    db.write_ingest_group(&items, &[], &[], &EventRollups::default(), now)
        .await
        .unwrap();
}

async fn one_rule_for_new_and_stored_sessions(backend: Backend) {
    let test_db = TestDb::new(backend).await;
    let db = test_db.open().await;
    let seed = common::seed_db(&db, &Clock::default(), "ada").await;
    let p = seed.project_id.as_str();

    // Received in one group: each write at its own time is not possible inside one
    // commit, so the rule is applied with the group's time to every write.
    let group_now = writes("together").iter().map(|(_, t)| *t).max().unwrap();
    commit(
        &db,
        p,
        writes("together")
            .into_iter()
            .map(|(w, _)| (w, group_now))
            .collect(),
    )
    .await;
    for (w, now) in writes("apart") {
        commit(&db, p, vec![(w, now)]).await;
    }
    let mut together_expected = {
        let mut list = writes("together").into_iter();
        let (first, _) = list.next().unwrap();
        let mut s = SessionState::new(&first, group_now);
        for (w, _) in list {
            s.apply(&w, group_now);
        }
        s
    };
    let together = state_of(db.session_by_ref(p, "together").await.unwrap().unwrap());
    let apart = state_of(db.session_by_ref(p, "apart").await.unwrap().unwrap());
    assert_eq!(together, together_expected);
    assert_eq!(apart, expected("apart"));
    // Both ways, the same fields: only the receive times differ between them.
    together_expected.last_activity_at = apart.last_activity_at;
    assert_eq!(together_expected, apart);
    assert_eq!(
        apart.started_at,
        NOW - 30_000,
        "an earlier start moves the start"
    );
    assert_eq!(apart.ended_at, Some(NOW + 45_000), "the last end wins");
    assert_eq!(apart.device_browser.as_deref(), Some("Chrome"));

    // Counted once each, under the final labels and start.
    let scope = |environment: Option<&str>| Scope {
        project_id: p.to_string(),
        from: 0,
        to: i64::MAX / 2,
        environment: environment.map(str::to_string),
        ..Default::default()
    };
    let all = db.rollup_session_totals(&scope(None)).await.unwrap();
    let prod = db
        .rollup_session_totals(&scope(Some("production")))
        .await
        .unwrap();
    assert_eq!((all.started, prod.started), (2, 2));
}

on_both_backends!(one_rule_for_new_and_stored_sessions);
