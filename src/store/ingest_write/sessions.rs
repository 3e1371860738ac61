//! The session phase of a group commit, and the one rule by which writes merge into
//! a session: whether the session is new in the group or stored already, the same
//! [`SessionState::apply`] decides every field, and the row is written as it says.

use super::{on_tx, IngestWrite, SessionWrite, Tx, WriteItem};
use crate::domain::sessions::SessionTally;
use crate::store::filters::{in_json_list, json_list};
use crate::store::rollup_write::{fixed_chunks, Labels, StoredRollups};
use crate::store::StoreResult;
use std::collections::{HashMap, HashSet};

/// The fields of a session row that writes change.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct SessionState {
    pub app: String,
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
    pub started_at: i64,
    pub ended_at: Option<i64>,
    pub last_activity_at: i64,
}

impl SessionState {
    /// A session first seen with `w`, received at `now`: it started when the write
    /// says (or ended, for an end that arrived first), else now.
    pub fn new(w: &SessionWrite, now: i64) -> SessionState {
        let started = w.started_at.or(w.ended_at).unwrap_or(now);
        let mut s = SessionState {
            app: String::new(),
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
            started_at: started,
            ended_at: None,
            last_activity_at: started,
        };
        s.apply(w, now);
        s
    }

    /// The merge rule: what a write says replaces what is stored (labels, user,
    /// device, the end), what it leaves out stays; an explicit start only moves the
    /// start earlier; the last activity only grows.
    pub fn apply(&mut self, w: &SessionWrite, now: i64) {
        if let Some(app) = &w.app {
            self.app.clone_from(app);
        }
        for (field, value) in [
            (&mut self.platform, &w.platform),
            (&mut self.environment, &w.environment),
            (&mut self.release, &w.release),
            (&mut self.user_id, &w.user_id),
            (&mut self.user_email, &w.user_email),
            (&mut self.anonymous_id, &w.anonymous_id),
            (&mut self.country, &w.country),
            (&mut self.device_browser, &w.device_browser),
            (&mut self.device_os, &w.device_os),
            (&mut self.sdk_version, &w.sdk_version),
        ] {
            if value.is_some() {
                field.clone_from(value);
            }
        }
        let started = w.started_at.or(w.ended_at).unwrap_or(now);
        if w.started_at.is_some() && started < self.started_at {
            self.started_at = started;
        }
        if w.ended_at.is_some() {
            self.ended_at = w.ended_at;
        }
        self.last_activity_at = self
            .last_activity_at
            .max(w.ended_at.unwrap_or(now).max(started));
    }

    fn labels(&self) -> Labels {
        Labels::new(
            &self.app,
            self.environment.as_deref(),
            self.release.as_deref(),
        )
    }
}

/// A stored session as the group found it (locked on PostgreSQL) and as its writes
/// leave it.
#[derive(sqlx::FromRow)]
struct Known {
    session_id: String,
    #[sqlx(flatten)]
    state: SessionState,
    has_error: i64,
    has_crash: i64,
}

impl Known {
    fn tally(&self) -> SessionTally {
        SessionTally::one(self.has_error != 0, self.has_crash != 0)
    }

    /// What the write reports of errors and crashes; flags are only ever set.
    fn flag(&mut self, w: &SessionWrite) {
        if w.errored || w.crashed {
            self.has_error = 1;
        }
        if w.crashed {
            self.has_crash = 1;
        }
    }
}

/// A session new in this group.
struct Fresh<'a> {
    project_id: &'a str,
    write: &'a SessionWrite,
    state: SessionState,
    /// Reported by its writes (its errors may flag it too).
    errored: bool,
    crashed: bool,
}

const STATE_COLUMNS: &str =
    "app, platform, environment, release, user_id, user_email, anonymous_id, \
     country, device_browser, device_os, sdk_version, started_at, ended_at, last_activity_at";

/// Applies the group's session writes: stored sessions are read, merged and
/// written back (moving in the roll-ups when their start or labels change); new
/// ones are merged in memory and inserted together. Returns the indexes of the
/// items that created a session (for metering).
#[tracing::instrument(level = "debug", skip_all)]
pub(super) async fn write(
    tx: &mut Tx,
    items: &[WriteItem<'_>],
    now: i64,
    stored: &mut StoredRollups,
) -> StoreResult<HashSet<usize>> {
    let mut known = find_known(tx, items).await?;
    let mut changed: HashSet<(&str, &str)> = HashSet::new();
    let mut fresh: Vec<Fresh<'_>> = Vec::new();
    let mut fresh_at: HashMap<(&str, &str), usize> = HashMap::new();
    let mut created = HashSet::new();
    for (i, item) in items.iter().enumerate() {
        let IngestWrite::Session(s) = item.write else {
            continue;
        };
        let key = (item.project_id, s.session_id.as_str());
        if let Some(k) = known.get_mut(&key) {
            let (start, labels, tally) = (k.state.started_at, k.state.labels(), k.tally());
            k.state.apply(s, now);
            k.flag(s);
            if k.state.started_at != start || k.state.labels() != labels || k.tally() != tally {
                stored.add_session(item.project_id, start, &labels, -tally);
                stored.add_session(
                    item.project_id,
                    k.state.started_at,
                    &k.state.labels(),
                    k.tally(),
                );
            }
            changed.insert(key);
        } else if let Some(&at) = fresh_at.get(&key) {
            fresh[at].state.apply(s, now);
            fresh[at].errored |= s.errored || s.crashed;
            fresh[at].crashed |= s.crashed;
        } else {
            fresh_at.insert(key, fresh.len());
            fresh.push(Fresh {
                project_id: item.project_id,
                write: s,
                state: SessionState::new(s, now),
                errored: s.errored || s.crashed,
                crashed: s.crashed,
            });
            created.insert(i);
        }
    }
    for key in changed {
        update_known(tx, key.0, &known[&key]).await?;
    }
    insert_fresh(tx, &fresh, stored).await?;
    Ok(created)
}

/// The stored sessions the group writes to, in a few queries per project; locked
/// on PostgreSQL so that a concurrent group of another process merges after ours.
async fn find_known<'a>(
    tx: &mut Tx,
    items: &'a [WriteItem<'a>],
) -> StoreResult<HashMap<(&'a str, &'a str), Known>> {
    let mut asked: HashMap<&str, Vec<&str>> = HashMap::new();
    for item in items {
        if let IngestWrite::Session(s) = item.write {
            asked
                .entry(item.project_id)
                .or_default()
                .push(&s.session_id);
        }
    }
    let postgres = tx.is_postgres();
    let sql = format!(
        "SELECT session_id, {STATE_COLUMNS}, has_error, has_crash FROM sessions
         WHERE project_id = $1 AND {}{}",
        in_json_list("session_id", 2, postgres),
        if postgres { " FOR UPDATE" } else { "" }
    );
    let mut known = HashMap::new();
    for (project_id, ids) in asked {
        for chunk in ids.chunks(256) {
            let list = json_list(chunk.iter().copied());
            let found: Vec<Known> = on_tx!(&mut *tx, |t| {
                sqlx::query_as(&sql)
                    .bind(project_id)
                    .bind(&list)
                    .fetch_all(&mut **t)
                    .await?
            });
            for row in found {
                if let Some(id) = chunk.iter().find(|id| **id == row.session_id) {
                    known.insert((project_id, *id), row);
                }
            }
        }
    }
    Ok(known)
}

async fn update_known(tx: &mut Tx, project_id: &str, k: &Known) -> StoreResult<()> {
    let s = &k.state;
    on_tx!(tx, |t| {
        sqlx::query(
            "UPDATE sessions SET app = $3, platform = $4, environment = $5, release = $6,
               user_id = $7, user_email = $8, anonymous_id = $9, country = $10,
               device_browser = $11, device_os = $12, sdk_version = $13,
               started_at = $14, ended_at = $15, last_activity_at = $16,
               has_error = $17, has_crash = $18
             WHERE project_id = $1 AND session_id = $2",
        )
        .bind(project_id)
        .bind(&k.session_id)
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
        .bind(s.started_at)
        .bind(s.ended_at)
        .bind(s.last_activity_at)
        .bind(k.has_error)
        .bind(k.has_crash)
        .execute(&mut **t)
        .await?;
    });
    Ok(())
}

/// New sessions in bulk, flagged errored or crashed when their writes say so or
/// their errors arrived first, and counted in the roll-ups under their start and
/// labels.
async fn insert_fresh(
    tx: &mut Tx,
    fresh: &[Fresh<'_>],
    stored: &mut StoredRollups,
) -> StoreResult<()> {
    for chunk in fixed_chunks(fresh) {
        let created: Vec<(String, String, i64, i64)> = on_tx!(&mut *tx, |t| {
            let mut qb = sqlx::QueryBuilder::new(format!(
                "INSERT INTO sessions (id, project_id, session_id, {STATE_COLUMNS}, has_error, has_crash) "
            ));
            qb.push_values(chunk, |mut row, n| {
                let s = &n.state;
                row.push_bind(&n.write.new_id)
                    .push_bind(n.project_id)
                    .push_bind(&n.write.session_id)
                    .push_bind(&s.app)
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
                    .push_bind(s.started_at)
                    .push_bind(s.ended_at)
                    .push_bind(s.last_activity_at);
                for (reported, unhandled_only) in
                    [(n.errored, ""), (n.crashed, " AND o.unhandled = 1")]
                {
                    row.push("CASE WHEN ")
                        .push_bind_unseparated(i64::from(reported))
                        .push_unseparated(
                            " = 1 OR EXISTS (SELECT 1 FROM error_occurrences o WHERE o.project_id = ",
                        )
                    .push_bind_unseparated(n.project_id)
                    .push_unseparated(" AND o.session_id = ")
                    .push_bind_unseparated(&n.write.session_id)
                    .push_unseparated(format!("{unhandled_only}) THEN 1 ELSE 0 END"));
                }
            });
            qb.push(" RETURNING project_id, session_id, has_error, has_crash");
            qb.build_query_as().fetch_all(&mut **t).await?
        });
        for (project_id, session_id, has_error, has_crash) in created {
            if let Some(n) = chunk
                .iter()
                .find(|n| n.project_id == project_id && n.write.session_id == session_id)
            {
                stored.add_session(
                    n.project_id,
                    n.state.started_at,
                    &n.state.labels(),
                    SessionTally::one(has_error != 0, has_crash != 0),
                );
            }
        }
    }
    Ok(())
}
