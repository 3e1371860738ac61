//! The ingest writer's group commit: every item of a group in one transaction,
//! together with the roll-ups the dashboard reads.

use super::filters::push_list;
use super::rollup_write::{
    fixed_chunks, push_event_rollups, push_stored_rollups, ErrorCountKey, ErrorDeviceKey,
    ErrorUserKey, EventRollups, Labels, OnConflict, RowSink, Statements, StoredRollups,
};
use super::{on_db, Db, StoreResult};
use crate::domain::identity;
use crate::domain::sessions::SessionTally;
use crate::domain::timerange::Granularity;
use crate::domain::vitals::VitalSample;
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
}

pub type WriteOutcome = StoreResult<WriteSummary>;

impl Db {
    /// Writes a group of ingest requests in one transaction, meters their usage and
    /// adds them to the roll-ups. `new_apps` are app labels first seen by this group,
    /// recorded per project; `used_keys` get their `last_used_at` set; `rollups` are
    /// the increments that follow from the items alone (`ingest::rollup`).
    pub async fn write_ingest_group(
        &self,
        items: &[WriteItem<'_>],
        new_apps: &[(String, String)],
        used_keys: &[&str],
        rollups: &EventRollups,
        now: i64,
    ) -> WriteOutcome {
        let mut summary = WriteSummary::default();
        let mut usage: HashMap<(&str, &str), i64> = HashMap::new();
        let mut stored = StoredRollups::default();

        // On SQLite the write lock is taken at once: a deferred transaction that
        // reads first cannot upgrade once another connection (the bell's inserts, a
        // dashboard change) has committed, and fails instead of waiting.
        let begin = match self {
            Db::Sqlite(_) => "BEGIN IMMEDIATE",
            Db::Postgres(_) => "BEGIN",
        };
        on_db!(self, |pool| {
            let mut tx = pool.begin_with(begin).await?;

            // Events of every request, in a few multi-row inserts.
            let events = events_of(items);
            let mut statements = Statements::new();
            push_event_inserts(&mut statements, &events, now)?;
            for qb in &mut statements.0 {
                qb.build().execute(&mut *tx).await?;
            }

            // Errors: one upsert per distinct group, then the occurrences in bulk.
            let mut group_ids: HashMap<(&str, &str), String> = HashMap::new();
            let mut occurrences: Vec<(&str, &ErrorOccurrenceWrite)> = Vec::new();
            for item in items {
                let IngestWrite::Error(err) = item.write else {
                    continue;
                };
                occurrences.push((item.project_id, err));
            }
            let mut per_group: HashMap<(&str, &str), (i64, &ErrorOccurrenceWrite, i64)> =
                HashMap::new();
            for (project_id, err) in &occurrences {
                per_group
                    .entry((project_id, err.fingerprint.as_str()))
                    .and_modify(|(n, last, first)| {
                        *n += 1;
                        *first = (*first).min(err.timestamp);
                        if err.timestamp >= last.timestamp {
                            *last = err;
                        }
                    })
                    .or_insert((1, err, err.timestamp));
            }
            for ((project_id, fingerprint), (count, last, first_seen)) in &per_group {
                // "New" and "regressed" are read off the statements that change the
                // row, so concurrent writers (other processes) report each once: a
                // regression is the update that finds the group resolved, a new group
                // the insert whose own fresh id comes back.
                let regressed: Option<String> = sqlx::query_scalar(
                    "UPDATE error_groups SET
                       occurrences = occurrences + $3,
                       last_seen = CASE WHEN $4 > last_seen THEN $4 ELSE last_seen END,
                       last_environment = COALESCE($5, last_environment),
                       last_release = COALESCE($6, last_release),
                       last_platform = COALESCE($7, last_platform),
                       regressed_at = $4, resolved_at = NULL, status = 'unresolved'
                     WHERE project_id = $1 AND fingerprint = $2 AND status = 'resolved'
                     RETURNING id",
                )
                .bind(*project_id)
                .bind(*fingerprint)
                .bind(*count)
                .bind(last.timestamp)
                .bind(&last.environment)
                .bind(&last.release)
                .bind(&last.platform)
                .fetch_optional(&mut *tx)
                .await?;
                if let Some(id) = regressed {
                    summary
                        .regressed_groups
                        .push((project_id.to_string(), id.clone()));
                    group_ids.insert((project_id, fingerprint), id);
                    continue;
                }
                let id: String = sqlx::query_scalar(
                    "INSERT INTO error_groups (id, project_id, fingerprint, app, error_type, message, top_frame, \
                       status, first_seen, last_seen, occurrences, last_environment, last_release, last_platform)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, 'unresolved', $8, $9, $10, $11, $12, $13)
                     ON CONFLICT (project_id, fingerprint) DO UPDATE SET
                       occurrences = error_groups.occurrences + excluded.occurrences,
                       last_seen = CASE WHEN excluded.last_seen > error_groups.last_seen
                                        THEN excluded.last_seen ELSE error_groups.last_seen END,
                       last_environment = COALESCE(excluded.last_environment, error_groups.last_environment),
                       last_release = COALESCE(excluded.last_release, error_groups.last_release),
                       last_platform = COALESCE(excluded.last_platform, error_groups.last_platform)
                     RETURNING id",
                )
                .bind(&last.new_group_id)
                .bind(*project_id)
                .bind(*fingerprint)
                .bind(&last.app)
                .bind(&last.error_type)
                .bind(&last.message)
                .bind(&last.top_frame)
                .bind(*first_seen)
                .bind(last.timestamp)
                .bind(*count)
                .bind(&last.environment)
                .bind(&last.release)
                .bind(&last.platform)
                .fetch_one(&mut *tx)
                .await?;
                if id == last.new_group_id {
                    summary
                        .new_groups
                        .push((project_id.to_string(), id.clone()));
                }
                group_ids.insert((project_id, fingerprint), id);
            }

            // The sessions the errors belong to lend their device, and are marked as
            // errored (crashed, for an unhandled error) by the update that first finds
            // them unmarked, which counts them in the roll-ups exactly once.
            let mut devices: HashMap<(&str, &str), Device> = HashMap::new();
            let mut wanted: HashMap<&str, Vec<(&str, bool)>> = HashMap::new();
            for (project_id, err) in &occurrences {
                if let Some(session_id) = err.session_id.as_deref() {
                    let ids = wanted.entry(project_id).or_default();
                    match ids.iter_mut().find(|(id, _)| *id == session_id) {
                        Some((_, unhandled)) => *unhandled |= err.unhandled,
                        None => ids.push((session_id, err.unhandled)),
                    }
                }
            }
            for (project_id, ids) in &wanted {
                for chunk in ids.chunks(256) {
                    let mut qb = sqlx::QueryBuilder::new(
                        "SELECT session_id, device_browser, device_os FROM sessions WHERE project_id = ",
                    );
                    qb.push_bind(*project_id).push(" AND session_id IN ");
                    push_list(&mut qb, chunk.iter().map(|(id, _)| *id));
                    let found: Vec<(String, Option<String>, Option<String>)> =
                        qb.build_query_as().fetch_all(&mut *tx).await?;
                    for (session_id, browser, os) in found {
                        let Some((id, _)) = chunk.iter().find(|(c, _)| *c == session_id) else {
                            continue;
                        };
                        devices.insert((project_id, id), (browser, os));
                    }
                    let crashing: Vec<&str> = chunk
                        .iter()
                        .filter(|(_, u)| *u)
                        .map(|(id, _)| *id)
                        .collect();
                    for (flag, ids) in [
                        (
                            "has_error",
                            chunk.iter().map(|(id, _)| *id).collect::<Vec<_>>(),
                        ),
                        ("has_crash", crashing),
                    ] {
                        if ids.is_empty() {
                            continue;
                        }
                        let mut qb = sqlx::QueryBuilder::new(format!(
                            "UPDATE sessions SET {flag} = 1 WHERE project_id = "
                        ));
                        qb.push_bind(*project_id).push(" AND session_id IN ");
                        push_list(&mut qb, ids.iter().copied());
                        qb.push(format!(
                            " AND {flag} = 0 RETURNING started_at, app, environment, release"
                        ));
                        let marked: Vec<(i64, String, Option<String>, Option<String>)> =
                            qb.build_query_as().fetch_all(&mut *tx).await?;
                        let delta = SessionTally {
                            started: 0,
                            errored: i64::from(flag == "has_error"),
                            crashed: i64::from(flag == "has_crash"),
                        };
                        for (started_at, app, environment, release) in marked {
                            let labels =
                                Labels::new(&app, environment.as_deref(), release.as_deref());
                            stored.add_session(project_id, started_at, &labels, delta);
                        }
                    }
                }
            }
            let none = (None, None);
            let rows: Vec<OccurrenceRow<'_>> = occurrences
                .iter()
                .map(|(project_id, e)| {
                    let group_id = group_ids[&(*project_id, e.fingerprint.as_str())].clone();
                    let (browser, os) = e
                        .session_id
                        .as_deref()
                        .and_then(|s| devices.get(&(*project_id, s)))
                        .unwrap_or(&none);
                    OccurrenceRow {
                        project_id,
                        e,
                        group_id,
                        browser: browser.clone(),
                        os: os.clone(),
                    }
                })
                .collect();
            for row in &rows {
                add_error_rollups(&mut stored, row);
            }
            for chunk in fixed_chunks(&rows) {
                let mut qb = sqlx::QueryBuilder::new(
                    "INSERT INTO error_occurrences (id, group_id, project_id, app, message, stack, context, platform, \
                     environment, release, session_id, user_id, anonymous_id, sdk_version, timestamp, received_at, \
                     device_browser, device_os, unhandled) ",
                );
                qb.push_values(chunk, |mut row, o| {
                    let e = o.e;
                    row.push_bind(&e.id)
                        .push_bind(&o.group_id)
                        .push_bind(o.project_id)
                        .push_bind(&e.app)
                        .push_bind(&e.message)
                        .push_bind(&e.stack)
                        .push_bind(&e.context)
                        .push_bind(&e.platform)
                        .push_bind(&e.environment)
                        .push_bind(&e.release)
                        .push_bind(&e.session_id)
                        .push_bind(&e.user_id)
                        .push_bind(&e.anonymous_id)
                        .push_bind(&e.sdk_version)
                        .push_bind(e.timestamp)
                        .push_bind(now)
                        .push_bind(&o.browser)
                        .push_bind(&o.os)
                        .push_bind(i64::from(e.unhandled));
                });
                qb.build().execute(&mut *tx).await?;
            }

            // Sessions: which ones exist already (and how the roll-ups count them), in a
            // few queries per project.
            let mut known: HashMap<(&str, &str), KnownSession> = HashMap::new();
            let mut asked: HashMap<&str, Vec<&str>> = HashMap::new();
            for item in items {
                if let IngestWrite::Session(s) = item.write {
                    asked
                        .entry(item.project_id)
                        .or_default()
                        .push(&s.session_id);
                }
            }
            for (project_id, ids) in &asked {
                for chunk in ids.chunks(256) {
                    let mut qb = sqlx::QueryBuilder::new(
                        "SELECT session_id, started_at, app, environment, release, has_error, has_crash \
                         FROM sessions WHERE project_id = ",
                    );
                    qb.push_bind(*project_id).push(" AND session_id IN ");
                    push_list(&mut qb, chunk.iter().copied());
                    let found: Vec<KnownSession> = qb.build_query_as().fetch_all(&mut *tx).await?;
                    let wanted: HashSet<&str> = chunk.iter().copied().collect();
                    for row in found {
                        if let Some(id) = wanted.get(row.session_id.as_str()) {
                            known.insert((project_id, id), row);
                        }
                    }
                }
            }
            // Known sessions are patched one by one; new ones (a start and its end may
            // share a group) are merged and inserted together.
            let mut fresh: Vec<NewSession<'_>> = Vec::new();
            let mut fresh_at: HashMap<(&str, &str), usize> = HashMap::new();
            for item in items {
                let produced = match item.write {
                    IngestWrite::Events(list) => list.len() as i64,
                    IngestWrite::Error(_) => 1,
                    IngestWrite::Session(s) => {
                        let key = (item.project_id, s.session_id.as_str());
                        if let Some(k) = known.get_mut(&key) {
                            k.update(item.project_id, s, now, &mut stored);
                            let started = s.started_at.or(s.ended_at).unwrap_or(now);
                            let activity = s.ended_at.unwrap_or(now).max(started);
                            sqlx::query(
                                "UPDATE sessions SET
                                   app = COALESCE($3, app),
                                   platform = COALESCE($4, platform),
                                   environment = COALESCE($5, environment),
                                   release = COALESCE($6, release),
                                   user_id = COALESCE($7, user_id),
                                   user_email = COALESCE($8, user_email),
                                   anonymous_id = COALESCE($9, anonymous_id),
                                   country = COALESCE($10, country),
                                   device_browser = COALESCE($11, device_browser),
                                   device_os = COALESCE($12, device_os),
                                   sdk_version = COALESCE($13, sdk_version),
                                   started_at = CASE WHEN $14 AND $15 < started_at THEN $15 ELSE started_at END,
                                   ended_at = COALESCE($16, ended_at),
                                   last_activity_at = CASE WHEN $17 > last_activity_at THEN $17 ELSE last_activity_at END
                                 WHERE project_id = $1 AND session_id = $2",
                            )
                            .bind(item.project_id)
                            .bind(&s.session_id)
                            .bind(&s.app)
                            .bind(&s.platform)
                            .bind(&s.environment)
                            .bind(&s.release)
                            .bind(&s.user_id)
                            .bind(&s.user_email)
                            .bind(&s.anonymous_id)
                            .bind(&s.country)
                            .bind(&s.device_browser)
                            .bind(&s.device_os)
                            .bind(&s.sdk_version)
                            .bind(s.started_at.is_some())
                            .bind(started)
                            .bind(s.ended_at)
                            .bind(activity)
                            .execute(&mut *tx)
                            .await?;
                            0
                        } else if let Some(&i) = fresh_at.get(&key) {
                            fresh[i].merge(s, now);
                            0
                        } else {
                            fresh_at.insert(key, fresh.len());
                            fresh.push(NewSession::new(item.project_id, s, now));
                            1
                        }
                    }
                };
                *usage.entry((item.project_id, item.month)).or_default() +=
                    produced - item.reserved_units;
            }
            for chunk in fixed_chunks(&fresh) {
                let mut qb = sqlx::QueryBuilder::new(
                    "INSERT INTO sessions (id, project_id, session_id, app, platform, environment, release, \
                     user_id, user_email, anonymous_id, country, device_browser, device_os, sdk_version, \
                     started_at, ended_at, last_activity_at, has_error, has_crash) ",
                );
                qb.push_values(chunk, |mut row, n| {
                    let s = &n.write;
                    row.push_bind(&s.new_id)
                        .push_bind(n.project_id)
                        .push_bind(&s.session_id)
                        .push_bind(s.app.clone().unwrap_or_default())
                        .push_bind(&s.platform)
                        .push_bind(&s.environment)
                        .push_bind(&s.release)
                        .push_bind(&s.user_id)
                        .push_bind(&s.user_email)
                        .push_bind(&s.anonymous_id)
                        .push_bind(&s.country)
                        .push_bind(&s.device_browser)
                        .push_bind(&s.device_os)
                        .push_bind(&s.sdk_version)
                        .push_bind(n.started)
                        .push_bind(s.ended_at)
                        .push_bind(n.activity)
                        // Errors may have arrived before their session.
                        .push("CASE WHEN EXISTS (SELECT 1 FROM error_occurrences o WHERE o.project_id = ")
                        .push_bind_unseparated(n.project_id)
                        .push_unseparated(" AND o.session_id = ")
                        .push_bind_unseparated(&s.session_id)
                        .push_unseparated(") THEN 1 ELSE 0 END")
                        .push("CASE WHEN EXISTS (SELECT 1 FROM error_occurrences o WHERE o.project_id = ")
                        .push_bind_unseparated(n.project_id)
                        .push_unseparated(" AND o.session_id = ")
                        .push_bind_unseparated(&s.session_id)
                        .push_unseparated(" AND o.unhandled = 1) THEN 1 ELSE 0 END");
                });
                qb.push(" RETURNING project_id, session_id, has_error, has_crash");
                let created: Vec<(String, String, i64, i64)> =
                    qb.build_query_as().fetch_all(&mut *tx).await?;
                for (project_id, session_id, has_error, has_crash) in created {
                    let Some(n) = chunk
                        .iter()
                        .find(|n| n.project_id == project_id && n.write.session_id == session_id)
                    else {
                        continue;
                    };
                    // Counted under the labels it started with.
                    let labels = Labels::new(
                        n.write.app.as_deref().unwrap_or_default(),
                        n.write.environment.as_deref(),
                        n.write.release.as_deref(),
                    );
                    stored.add_session(
                        n.project_id,
                        n.started,
                        &labels,
                        SessionTally::one(has_error != 0, has_crash != 0),
                    );
                }
            }

            let mut statements = Statements::new();
            push_bookkeeping(&mut statements, &usage, new_apps, used_keys, now)?;
            push_event_rollups(&mut statements, rollups, now)?;
            push_stored_rollups(&mut statements, &stored)?;
            for qb in &mut statements.0 {
                qb.build().execute(&mut *tx).await?;
            }
            tx.commit().await?;
        });
        Ok(summary)
    }
}

/// The browser and OS of a session.
type Device = (Option<String>, Option<String>);

/// A session that exists already, as the session roll-ups count it: under the bucket
/// it started in and the labels it has.
#[derive(sqlx::FromRow)]
struct KnownSession {
    session_id: String,
    started_at: i64,
    app: String,
    environment: Option<String>,
    release: Option<String>,
    has_error: i64,
    has_crash: i64,
}

impl KnownSession {
    fn tally(&self) -> SessionTally {
        SessionTally::one(self.has_error != 0, self.has_crash != 0)
    }

    fn labels(&self) -> Labels {
        Labels::new(
            &self.app,
            self.environment.as_deref(),
            self.release.as_deref(),
        )
    }

    /// Applies an update as the `UPDATE` statement does, and moves the session in the
    /// roll-ups when its start or labels change, so counts always match the rows.
    fn update(&mut self, project_id: &str, s: &SessionWrite, now: i64, stored: &mut StoredRollups) {
        let (before_start, before_labels) = (self.started_at, self.labels());
        if let Some(app) = &s.app {
            self.app.clone_from(app);
        }
        if s.environment.is_some() {
            self.environment.clone_from(&s.environment);
        }
        if s.release.is_some() {
            self.release.clone_from(&s.release);
        }
        let started = s.started_at.or(s.ended_at).unwrap_or(now);
        if s.started_at.is_some() && started < self.started_at {
            self.started_at = started;
        }
        let labels = self.labels();
        if self.started_at != before_start || labels != before_labels {
            stored.add_session(project_id, before_start, &before_labels, -self.tally());
            stored.add_session(project_id, self.started_at, &labels, self.tally());
        }
    }
}

/// A session first seen in this group, with every later write of the group merged
/// in as the update statement would apply it.
struct NewSession<'a> {
    project_id: &'a str,
    write: SessionWrite,
    started: i64,
    activity: i64,
}

impl<'a> NewSession<'a> {
    fn new(project_id: &'a str, s: &SessionWrite, now: i64) -> Self {
        let started = s.started_at.or(s.ended_at).unwrap_or(now);
        NewSession {
            project_id,
            write: s.clone(),
            started,
            activity: s.ended_at.unwrap_or(now).max(started),
        }
    }

    fn merge(&mut self, s: &SessionWrite, now: i64) {
        let w = &mut self.write;
        for (field, value) in [
            (&mut w.app, &s.app),
            (&mut w.platform, &s.platform),
            (&mut w.environment, &s.environment),
            (&mut w.release, &s.release),
            (&mut w.user_id, &s.user_id),
            (&mut w.user_email, &s.user_email),
            (&mut w.anonymous_id, &s.anonymous_id),
            (&mut w.country, &s.country),
            (&mut w.device_browser, &s.device_browser),
            (&mut w.device_os, &s.device_os),
            (&mut w.sdk_version, &s.sdk_version),
        ] {
            if value.is_some() {
                field.clone_from(value);
            }
        }
        let started = s.started_at.or(s.ended_at).unwrap_or(now);
        if s.started_at.is_some() && started < self.started {
            self.started = started;
        }
        if s.ended_at.is_some() {
            w.ended_at = s.ended_at;
        }
        self.activity = self.activity.max(s.ended_at.unwrap_or(now).max(started));
    }
}

/// An occurrence as it is inserted: its group and its session's device.
struct OccurrenceRow<'a> {
    project_id: &'a str,
    e: &'a ErrorOccurrenceWrite,
    group_id: String,
    browser: Option<String>,
    os: Option<String>,
}

fn add_error_rollups(stored: &mut StoredRollups, o: &OccurrenceRow<'_>) {
    let e = o.e;
    let labels = Labels::new(&e.app, e.environment.as_deref(), e.release.as_deref());
    let identity = identity::of(e.user_id.as_deref(), e.anonymous_id.as_deref()).map(identity::key);
    for g in [Granularity::Hour, Granularity::Day] {
        let bucket = g.floor(e.timestamp);
        *stored
            .errors
            .entry(ErrorCountKey {
                granularity: g,
                group_id: o.group_id.clone(),
                bucket,
                labels: labels.clone(),
            })
            .or_default() += 1;
        if let Some(identity) = identity {
            stored.users.insert(ErrorUserKey {
                granularity: g,
                group_id: o.group_id.clone(),
                bucket,
                identity,
                labels: labels.clone(),
            });
        }
        *stored
            .devices
            .entry(ErrorDeviceKey {
                granularity: g,
                group_id: o.group_id.clone(),
                bucket,
                browser: o.browser.clone().unwrap_or_default(),
                os: o.os.clone().unwrap_or_default(),
            })
            .or_default() += 1;
    }
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
