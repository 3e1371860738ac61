//! The ingest writer's group commit: every item of a group in one transaction,
//! together with the roll-ups the dashboard reads.

mod errors;
mod held;
mod sessions;

use super::alerts::push_group_alerts;
use super::array_write::ArrayStatements;
use super::rollup_write::{
    push_event_rollups, push_stored_rollups, EventRollups, OnConflict, RowSink, Statements,
    StoredRollups,
};
use super::{Db, StoreResult};
use crate::domain::vitals::VitalSample;
pub use held::WriterConnection;
pub use sessions::SessionState;
use sqlx::pool::PoolConnection;
use std::collections::{HashMap, HashSet};

#[derive(Debug, Clone)]
pub struct EventWrite {
    pub id: String,
    pub app: String,
    pub name: String,
    pub platform: Option<String>,
    pub environment: Option<String>,
    pub release: Option<String>,
    pub user_id: Option<String>,
    pub session_id: Option<String>,
    pub anonymous_id: Option<String>,
    pub sdk_version: Option<String>,
    pub properties: Option<String>,
    pub timestamp: i64,
    /// Top-level scalar properties (name, value as text) for the breakdown roll-up.
    pub props: Vec<(String, String)>,
    /// The sample of a `$web_vital` event.
    pub vital: Option<VitalSample>,
}

#[derive(Debug, Clone)]
pub struct ErrorOccurrenceWrite {
    pub id: String,
    /// Used when this occurrence opens a new group.
    pub new_group_id: String,
    pub fingerprint: String,
    pub error_type: Option<String>,
    pub top_frame: Option<String>,
    pub app: String,
    pub message: String,
    pub stack: Option<String>,
    pub context: Option<String>,
    /// Reported by a global handler: nobody caught it (see `domain::sessions`).
    pub unhandled: bool,
    pub platform: Option<String>,
    pub environment: Option<String>,
    pub release: Option<String>,
    pub session_id: Option<String>,
    pub user_id: Option<String>,
    pub anonymous_id: Option<String>,
    pub sdk_version: Option<String>,
    /// Browser and OS when the report says (else those of its session).
    pub device_browser: Option<String>,
    pub device_os: Option<String>,
    pub timestamp: i64,
}

#[derive(Debug, Clone)]
pub struct SessionWrite {
    pub new_id: String,
    pub session_id: String,
    pub app: Option<String>,
    pub platform: Option<String>,
    pub environment: Option<String>,
    pub release: Option<String>,
    pub user_id: Option<String>,
    pub user_email: Option<String>,
    pub anonymous_id: Option<String>,
    pub country: Option<String>,
    pub device_browser: Option<String>,
    pub device_os: Option<String>,
    pub sdk_version: Option<String>,
    pub started_at: Option<i64>,
    pub ended_at: Option<i64>,
    /// The SDK reports an error in the session (Sentry's session `errors`/status;
    /// our SDKs' sessions learn theirs from the errors that name them).
    pub errored: bool,
    /// The SDK reports the session crashed (an unhandled error).
    pub crashed: bool,
}

#[derive(Debug, Clone)]
pub enum IngestWrite {
    Events(Vec<EventWrite>),
    Error(Box<ErrorOccurrenceWrite>),
    Session(Box<SessionWrite>),
}

impl IngestWrite {
    /// Roughly the memory the write holds, for the queue's byte budget.
    pub fn approx_bytes(&self) -> usize {
        let opt = |s: &Option<String>| s.as_ref().map_or(0, String::len);
        match self {
            IngestWrite::Events(list) => list
                .iter()
                .map(|e| 256 + e.name.len() + e.app.len() + opt(&e.properties))
                .sum(),
            IngestWrite::Error(e) => 512 + e.message.len() + opt(&e.stack) + opt(&e.context),
            IngestWrite::Session(_) => 512,
        }
    }
}

/// One request's worth of writes inside a group.
#[derive(Debug)]
pub struct WriteItem<'a> {
    pub project_id: &'a str,
    pub write: &'a IngestWrite,
    /// Units already reserved against the quota for this request.
    pub reserved_units: i64,
    /// The UTC month (`YYYY-MM`) the request is metered in.
    pub month: &'a str,
}

#[derive(Debug, Default)]
pub struct WriteSummary {
    /// (project id, group id) of groups this commit created.
    pub new_groups: Vec<(String, String)>,
    /// (project id, group id) of resolved groups that occurred again.
    pub regressed_groups: Vec<(String, String)>,
    /// (project id, group id) of every group that had an occurrence in this commit.
    pub touched_groups: Vec<(String, String)>,
}

pub type WriteOutcome = StoreResult<WriteSummary>;

impl Db {
    /// Writes a group of ingest requests in one transaction, meters their usage and
    /// adds them to the roll-ups. `new_apps` are app labels first seen by this group,
    /// recorded per project; `used_keys` get their `last_used_at` set; `rollups` are
    /// the increments that follow from the items alone (`ingest::rollup`).
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn write_ingest_group(
        &self,
        items: &[WriteItem<'_>],
        new_apps: &[(String, String)],
        used_keys: &[&str],
        rollups: &EventRollups,
        now: i64,
    ) -> WriteOutcome {
        let mut held = WriterConnection::default();
        self.write_ingest_group_within(&mut held, items, new_apps, used_keys, rollups, now, None)
            .await
    }

    /// [`Db::write_ingest_group`], given up (and rolled back) when the database does
    /// not let it finish within `budget`: the requests are answered 503 by then, so
    /// it must not be written after all. On PostgreSQL it runs on `held` (taken from
    /// the pool if empty), which keeps the connection after a commit that succeeded.
    #[allow(clippy::too_many_arguments)]
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn write_ingest_group_within(
        &self,
        held: &mut WriterConnection,
        items: &[WriteItem<'_>],
        new_apps: &[(String, String)],
        used_keys: &[&str],
        rollups: &EventRollups,
        now: i64,
        budget: Option<std::time::Duration>,
    ) -> WriteOutcome {
        if self.is_closed() {
            // Writes end with the pool, on the kept connection too.
            held.let_go();
        }
        if let Db::Postgres(pool) = self {
            let events_only = items
                .iter()
                .all(|i| matches!(i.write, IngestWrite::Events(_)));
            if events_only && super::connect::sessions_keep_settings(pool) {
                let stored = StoredRollups::default();
                let rows = GroupRows::new(
                    items,
                    Vec::new(),
                    &HashSet::new(),
                    new_apps,
                    used_keys,
                    rollups,
                    &stored,
                    now,
                );
                let mut statements = ArrayStatements::default();
                rows.push_into(&mut statements)?;
                if statements.is_single() {
                    held.run_alone(pool, statements, budget).await?;
                    return Ok(WriteSummary::default());
                }
            }
        }
        let mut tx = Tx::begin(self, held, budget)
            .await
            .inspect_err(|_| held.timeout_ms = None)?;
        let written = write_phases(&mut tx, items, new_apps, used_keys, rollups, now).await;
        let outcome = match written {
            Ok(summary) => tx.commit(held).await.map(|()| summary),
            Err(e) => {
                tx.abort().await;
                Err(e)
            }
        };
        if outcome.is_err() {
            // The connection went with the failed transaction.
            held.timeout_ms = None;
        }
        outcome
    }
}

async fn write_phases(
    tx: &mut Tx,
    items: &[WriteItem<'_>],
    new_apps: &[(String, String)],
    used_keys: &[&str],
    rollups: &EventRollups,
    now: i64,
) -> WriteOutcome {
    let mut summary = WriteSummary::default();
    let mut stored = StoredRollups::default();
    let occurrences = errors::of(items);
    let groups = errors::upsert_groups(tx, &occurrences, &mut summary).await?;
    let devices = errors::mark_sessions(tx, &occurrences, &mut stored).await?;
    summary.touched_groups = groups
        .iter()
        .map(|((project, _), group)| (project.to_string(), group.clone()))
        .collect();
    let occurrences = errors::occurrence_rows(&occurrences, &groups, &devices, &mut stored);
    let created = sessions::write(tx, items, now, &mut stored).await?;
    let rows = GroupRows::new(
        items,
        occurrences,
        &created,
        new_apps,
        used_keys,
        rollups,
        &stored,
        now,
    );
    match tx {
        // One round trip for all of it, whatever the number of rows.
        Tx::Postgres(t) => {
            let mut statements = ArrayStatements::default();
            rows.push_into(&mut statements)?;
            push_group_alerts(&mut statements, &summary, now)?;
            statements.execute(t).await?;
        }
        Tx::Sqlite(t) => {
            let mut statements = Statements::new();
            rows.push_into(&mut statements)?;
            push_group_alerts(&mut statements, &summary, now)?;
            for qb in &mut statements.0 {
                qb.build().execute(&mut **t).await?;
            }
        }
    }
    Ok(summary)
}

/// What a group adds besides its error groups and sessions: the events and error
/// occurrences, metering, labels and keys, and every roll-up increment.
struct GroupRows<'a> {
    events: Vec<(&'a str, &'a EventWrite)>,
    occurrences: Vec<errors::OccurrenceRow<'a>>,
    usage: HashMap<(&'a str, &'a str), i64>,
    new_apps: &'a [(String, String)],
    used_keys: &'a [&'a str],
    rollups: &'a EventRollups,
    stored: &'a StoredRollups,
    now: i64,
}

impl<'a> GroupRows<'a> {
    #[allow(clippy::too_many_arguments)]
    fn new(
        items: &'a [WriteItem<'a>],
        occurrences: Vec<errors::OccurrenceRow<'a>>,
        created: &HashSet<usize>,
        new_apps: &'a [(String, String)],
        used_keys: &'a [&'a str],
        rollups: &'a EventRollups,
        stored: &'a StoredRollups,
        now: i64,
    ) -> Self {
        GroupRows {
            events: events_of(items),
            occurrences,
            usage: usage(items, created),
            new_apps,
            used_keys,
            rollups,
            stored,
            now,
        }
    }

    fn push_into(&self, sink: &mut impl RowSink) -> StoreResult<()> {
        push_event_inserts(sink, &self.events, self.now)?;
        errors::push_occurrence_inserts(sink, &self.occurrences, self.now)?;
        push_bookkeeping(sink, &self.usage, self.new_apps, self.used_keys, self.now)?;
        push_event_rollups(sink, self.rollups, self.now)?;
        push_stored_rollups(sink, self.stored)
    }
}

/// The group's transaction on either backend, on a connection of its own; the
/// phases below run in it. Begun and ended with plain statements so that a commit
/// the database refuses (a full disk) cannot leave the connection inside a
/// transaction for the next group: it is rolled back, or closed when even that
/// fails, and the pool opens a fresh one.
pub(super) enum Tx {
    Sqlite(PoolConnection<sqlx::Sqlite>),
    Postgres(PoolConnection<sqlx::Postgres>),
}

/// Runs `$body` with `$t` bound to the backend's connection, so each phase's SQL is
/// written once for both.
macro_rules! on_tx {
    ($tx:expr, |$t:ident| $body:expr) => {
        match $tx {
            $crate::store::ingest_write::Tx::Sqlite($t) => $body,
            $crate::store::ingest_write::Tx::Postgres($t) => $body,
        }
    };
}
pub(super) use on_tx;

impl Tx {
    async fn begin(
        db: &Db,
        held: &mut WriterConnection,
        budget: Option<std::time::Duration>,
    ) -> StoreResult<Tx> {
        // On SQLite the write lock is taken at once: a deferred transaction that
        // reads first cannot upgrade once another connection (the bell's inserts, a
        // dashboard change) has committed, and fails instead of waiting.
        let mut tx = match db {
            Db::Sqlite(pool) => Tx::Sqlite(pool.acquire().await?),
            Db::Postgres(pool) => Tx::Postgres(match held.conn.take() {
                Some(conn) => conn,
                None => pool.acquire().await?,
            }),
        };
        // The budget rides on the statement that begins (one round trip): how long
        // PostgreSQL lets statements and lock waits run, how long SQLite waits for
        // the write lock.
        let begin = match (tx.is_postgres(), budget) {
            (true, None) => "BEGIN".to_string(),
            (true, Some(b)) => {
                let ms = b.as_millis().max(1);
                format!("BEGIN; SET LOCAL statement_timeout = {ms}; SET LOCAL lock_timeout = {ms}")
            }
            (false, b) => {
                let ms = b
                    .unwrap_or(crate::store::SQLITE_BUSY_TIMEOUT)
                    .as_millis()
                    .max(1);
                format!("PRAGMA busy_timeout = {ms}; BEGIN IMMEDIATE")
            }
        };
        if let Err(e) = tx.run_script(&begin).await {
            tx.abort().await;
            return Err(e);
        }
        Ok(tx)
    }

    /// Several statements in one round trip (no parameters).
    async fn run_script(&mut self, sql: &str) -> StoreResult<()> {
        // Without arguments a statement goes as a simple query, which may hold several.
        on_tx!(self, |t| {
            sqlx::Executor::execute(&mut **t, sql).await?;
        });
        Ok(())
    }

    async fn run(&mut self, statement: &str) -> StoreResult<()> {
        on_tx!(self, |t| {
            sqlx::query(statement).execute(&mut **t).await?;
        });
        Ok(())
    }

    async fn commit(mut self, held: &mut WriterConnection) -> StoreResult<()> {
        match self.run("COMMIT").await {
            Ok(()) => {
                if let Tx::Postgres(conn) = self {
                    held.conn = Some(conn);
                }
                Ok(())
            }
            Err(e) => {
                self.abort().await;
                Err(e)
            }
        }
    }

    /// Rolls back; a connection that cannot even do that is closed, not reused. A
    /// PostgreSQL connection is closed anyway (which rolls back): it may be the
    /// writer's own, with timeouts on its session that the pool must not get.
    async fn abort(mut self) {
        if let Tx::Postgres(conn) = self {
            let _ = conn.close().await;
        } else if self.run("ROLLBACK").await.is_err() {
            if let Tx::Sqlite(conn) = self {
                let _ = conn.close().await;
            }
        }
    }

    pub(super) fn is_postgres(&self) -> bool {
        matches!(self, Tx::Postgres(_))
    }
}

/// Units each (project, month) uses beyond what its requests reserved: an event or
/// an error each, a session when this group created it.
fn usage<'i>(
    items: &'i [WriteItem<'i>],
    created: &HashSet<usize>,
) -> HashMap<(&'i str, &'i str), i64> {
    let mut usage: HashMap<(&str, &str), i64> = HashMap::new();
    for (i, item) in items.iter().enumerate() {
        let produced = match item.write {
            IngestWrite::Events(list) => list.len() as i64,
            IngestWrite::Error(_) => 1,
            IngestWrite::Session(_) => i64::from(created.contains(&i)),
        };
        *usage.entry((item.project_id, item.month)).or_default() += produced - item.reserved_units;
    }
    usage
}

/// Every event of the group's requests, with its project.
pub(crate) fn events_of<'a>(items: &'a [WriteItem<'a>]) -> Vec<(&'a str, &'a EventWrite)> {
    items
        .iter()
        .filter_map(|i| match i.write {
            IngestWrite::Events(list) => Some(list.iter().map(move |e| (i.project_id, e))),
            _ => None,
        })
        .flatten()
        .collect()
}

/// The events of `rows` (project id, event).
pub(crate) fn push_event_inserts(
    sink: &mut impl RowSink,
    rows: &[(&str, &EventWrite)],
    now: i64,
) -> StoreResult<()> {
    sink.insert(
        "events",
        &[
            "id",
            "project_id",
            "app",
            "name",
            "platform",
            "environment",
            "release",
            "user_id",
            "session_id",
            "anonymous_id",
            "sdk_version",
            "properties",
            "timestamp",
            "received_at",
        ],
        OnConflict::Fail,
        rows,
        |b, (project_id, e)| {
            b.text(&e.id)
                .text(project_id)
                .text(&e.app)
                .text(&e.name)
                .opt(e.platform.as_deref())
                .opt(e.environment.as_deref())
                .opt(e.release.as_deref())
                .opt(e.user_id.as_deref())
                .opt(e.session_id.as_deref())
                .opt(e.anonymous_id.as_deref())
                .opt(e.sdk_version.as_deref())
                .opt(e.properties.as_deref())
                .int(e.timestamp)
                .int(now);
        },
    )
}

/// Usage metering, newly seen app labels and key touches.
pub(crate) fn push_bookkeeping(
    sink: &mut impl RowSink,
    usage: &HashMap<(&str, &str), i64>,
    new_apps: &[(String, String)],
    used_keys: &[&str],
    now: i64,
) -> StoreResult<()> {
    let usage: Vec<(&(&str, &str), &i64)> = usage.iter().filter(|(_, d)| **d != 0).collect();
    sink.insert(
        "usage_monthly",
        &["project_id", "month", "units"],
        OnConflict::Add(&["units"]),
        &usage,
        |b, ((project_id, month), delta)| {
            b.text(project_id).text(month).int(**delta);
        },
    )?;
    sink.insert(
        "project_apps",
        &["project_id", "app", "first_seen"],
        OnConflict::Ignore(&["project_id", "app"]),
        new_apps,
        |b, (project_id, app)| {
            b.text(project_id).text(app).int(now);
        },
    )?;
    for key_id in used_keys {
        sink.set_by_id("api_keys", "last_used_at", now, key_id)?;
    }
    Ok(())
}

/// Units each (project, month) of a group of events uses beyond what its requests
/// reserved already.
pub(crate) fn event_usage<'i>(items: &'i [WriteItem<'i>]) -> HashMap<(&'i str, &'i str), i64> {
    let mut usage: HashMap<(&str, &str), i64> = HashMap::new();
    for item in items {
        if let IngestWrite::Events(list) = item.write {
            *usage.entry((item.project_id, item.month)).or_default() +=
                list.len() as i64 - item.reserved_units;
        }
    }
    usage
}
