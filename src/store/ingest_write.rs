//! The ingest writer's group commit: every item of a group in one transaction.

use super::{on_db, Db, StoreResult};
use sqlx::sqlite::SqlitePool;
use sqlx::{Database, Encode, QueryBuilder, Type};
use std::collections::HashMap;

/// Rows per multi-row `INSERT`: powers of two up to 256 (well under both backends'
/// bound-parameter limits). A group's rows go out in few statements, and only nine
/// distinct statements per table exist, so they stay in the prepared-statement cache
/// instead of being parsed again for every group size.
const INSERT_SIZES: [usize; 9] = [256, 128, 64, 32, 16, 8, 4, 2, 1];

/// Splits `rows` into chunks whose lengths are all in `INSERT_SIZES`.
fn fixed_chunks<T>(mut rows: &[T]) -> impl Iterator<Item = &[T]> {
    std::iter::from_fn(move || {
        let size = INSERT_SIZES.into_iter().find(|s| *s <= rows.len())?;
        let (chunk, rest) = rows.split_at(size);
        rows = rest;
        Some(chunk)
    })
}

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
    /// Writes a group of ingest requests in one transaction and meters their usage.
    /// `new_apps` are app labels first seen by this group, recorded per project;
    /// `used_keys` get their `last_used_at` set.
    pub async fn write_ingest_group(
        &self,
        items: &[WriteItem<'_>],
        new_apps: &[(String, String)],
        used_keys: &[&str],
        now: i64,
    ) -> WriteOutcome {
        if let Db::Sqlite(pool) = self {
            if items
                .iter()
                .all(|i| matches!(i.write, IngestWrite::Events(_)))
            {
                return write_events_script(pool, items, new_apps, used_keys, now).await;
            }
        }
        let mut summary = WriteSummary::default();
        let mut usage: HashMap<(&str, &str), i64> = HashMap::new();

        on_db!(self, pool => {
            let mut tx = pool.begin().await?;

            // Events of every request, in a few multi-row inserts.
            let events: Vec<(&str, &EventWrite)> = items
                .iter()
                .filter_map(|i| match i.write {
                    IngestWrite::Events(list) => Some(list.iter().map(move |e| (i.project_id, e))),
                    _ => None,
                })
                .flatten()
                .collect();
            for chunk in fixed_chunks(&events) {
                let mut qb = QueryBuilder::new("");
                push_event_insert(&mut qb, chunk, now);
                qb.build().execute(&mut *tx).await?;
            }

            // Errors: one upsert per distinct group, then the occurrences in bulk.
            let mut group_ids: HashMap<(&str, &str), String> = HashMap::new();
            let mut occurrences: Vec<(&str, &ErrorOccurrenceWrite)> = Vec::new();
            for item in items {
                let IngestWrite::Error(err) = item.write else { continue };
                occurrences.push((item.project_id, err));
            }
            let mut per_group: HashMap<(&str, &str), (i64, &ErrorOccurrenceWrite, i64)> = HashMap::new();
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
                let before: Option<(String, String)> = sqlx::query_as(
                    "SELECT id, status FROM error_groups WHERE project_id = $1 AND fingerprint = $2",
                )
                .bind(*project_id)
                .bind(*fingerprint)
                .fetch_optional(&mut *tx)
                .await?;
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
                       last_platform = COALESCE(excluded.last_platform, error_groups.last_platform),
                       regressed_at = CASE WHEN error_groups.status = 'resolved'
                                           THEN excluded.last_seen ELSE error_groups.regressed_at END,
                       resolved_at = CASE WHEN error_groups.status = 'resolved'
                                          THEN NULL ELSE error_groups.resolved_at END,
                       status = CASE WHEN error_groups.status = 'resolved'
                                     THEN 'unresolved' ELSE error_groups.status END
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
                match before {
                    None => summary.new_groups.push((project_id.to_string(), id.clone())),
                    Some((_, status)) if status == "resolved" => {
                        summary.regressed_groups.push((project_id.to_string(), id.clone()))
                    }
                    Some(_) => {}
                }
                group_ids.insert((project_id, fingerprint), id);
            }
            for chunk in fixed_chunks(&occurrences) {
                let mut qb = QueryBuilder::new(
                    "INSERT INTO error_occurrences (id, group_id, project_id, app, message, stack, context, platform, \
                     environment, release, session_id, user_id, anonymous_id, sdk_version, timestamp, received_at) ",
                );
                qb.push_values(chunk, |mut row, (project_id, e)| {
                    row.push_bind(&e.id)
                        .push_bind(group_ids[&(*project_id, e.fingerprint.as_str())].clone())
                        .push_bind(*project_id)
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
                        .push_bind(now);
                });
                qb.build().execute(&mut *tx).await?;
            }

            // Sessions: create, patch the context fields present, or close.
            for item in items {
                let produced = match item.write {
                    IngestWrite::Events(list) => list.len() as i64,
                    IngestWrite::Error(_) => 1,
                    IngestWrite::Session(s) => {
                        let existed: Option<String> = sqlx::query_scalar(
                            "SELECT id FROM sessions WHERE project_id = $1 AND session_id = $2",
                        )
                        .bind(item.project_id)
                        .bind(&s.session_id)
                        .fetch_optional(&mut *tx)
                        .await?;
                        let started = s.started_at.or(s.ended_at).unwrap_or(now);
                        let activity = s.ended_at.unwrap_or(now).max(started);
                        sqlx::query(
                            "INSERT INTO sessions (id, project_id, session_id, app, platform, environment, release, \
                               user_id, user_email, anonymous_id, country, device_browser, device_os, sdk_version, \
                               started_at, ended_at, last_activity_at)
                             VALUES ($1, $2, $3, COALESCE($4, ''), $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)
                             ON CONFLICT (project_id, session_id) DO UPDATE SET
                               app = CASE WHEN $4 IS NULL THEN sessions.app ELSE excluded.app END,
                               platform = COALESCE(excluded.platform, sessions.platform),
                               environment = COALESCE(excluded.environment, sessions.environment),
                               release = COALESCE(excluded.release, sessions.release),
                               user_id = COALESCE(excluded.user_id, sessions.user_id),
                               user_email = COALESCE(excluded.user_email, sessions.user_email),
                               anonymous_id = COALESCE(excluded.anonymous_id, sessions.anonymous_id),
                               country = COALESCE(excluded.country, sessions.country),
                               device_browser = COALESCE(excluded.device_browser, sessions.device_browser),
                               device_os = COALESCE(excluded.device_os, sessions.device_os),
                               sdk_version = COALESCE(excluded.sdk_version, sessions.sdk_version),
                               started_at = CASE WHEN $18 AND excluded.started_at < sessions.started_at
                                                 THEN excluded.started_at ELSE sessions.started_at END,
                               ended_at = COALESCE(excluded.ended_at, sessions.ended_at),
                               last_activity_at = CASE WHEN excluded.last_activity_at > sessions.last_activity_at
                                                       THEN excluded.last_activity_at ELSE sessions.last_activity_at END",
                        )
                        .bind(&s.new_id)
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
                        .bind(started)
                        .bind(s.ended_at)
                        .bind(activity)
                        .bind(s.started_at.is_some())
                        .execute(&mut *tx)
                        .await?;
                        i64::from(existed.is_none())
                    }
                };
                *usage.entry((item.project_id, item.month)).or_default() += produced - item.reserved_units;
            }

            for (project_id, app) in new_apps {
                sqlx::query(
                    "INSERT INTO project_apps (project_id, app, first_seen) VALUES ($1, $2, $3)
                     ON CONFLICT (project_id, app) DO NOTHING",
                )
                .bind(project_id)
                .bind(app)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            }
            for ((project_id, month), delta) in usage.iter().filter(|(_, d)| **d != 0) {
                sqlx::query(
                    "INSERT INTO usage_monthly (project_id, month, units) VALUES ($1, $2, $3)
                     ON CONFLICT (project_id, month) DO UPDATE SET units = usage_monthly.units + excluded.units",
                )
                .bind(*project_id)
                .bind(*month)
                .bind(*delta)
                .execute(&mut *tx)
                .await?;
            }
            for key_id in used_keys {
                sqlx::query("UPDATE api_keys SET last_used_at = $2 WHERE id = $1")
                    .bind(*key_id)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
        });
        Ok(summary)
    }
}

/// Appends one multi-row `INSERT` of `rows` (project id, event) to `qb`.
fn push_event_insert<'a, DB>(
    qb: &mut QueryBuilder<'a, DB>,
    rows: &'a [(&'a str, &'a EventWrite)],
    now: i64,
) where
    DB: Database,
    &'a str: Encode<'a, DB> + Type<DB>,
    &'a String: Encode<'a, DB> + Type<DB>,
    &'a Option<String>: Encode<'a, DB> + Type<DB>,
    i64: Encode<'a, DB> + Type<DB>,
{
    qb.push(
        "INSERT INTO events (id, project_id, app, name, platform, environment, release, user_id, \
         session_id, anonymous_id, sdk_version, properties, timestamp, received_at) ",
    );
    qb.push_values(rows, |mut row, (project_id, e)| {
        row.push_bind(&e.id)
            .push_bind(*project_id)
            .push_bind(&e.app)
            .push_bind(&e.name)
            .push_bind(&e.platform)
            .push_bind(&e.environment)
            .push_bind(&e.release)
            .push_bind(&e.user_id)
            .push_bind(&e.session_id)
            .push_bind(&e.anonymous_id)
            .push_bind(&e.sdk_version)
            .push_bind(&e.properties)
            .push_bind(e.timestamp)
            .push_bind(now);
    });
}

/// A group of nothing but events, on SQLite, in a single round trip: the whole
/// transaction goes to the connection as one script. Every statement of a group
/// commit is otherwise a hop to the connection's worker thread, and for the most
/// common group (single events from many clients) the hops cost more than the
/// writing. Parameters are positional (`?`), numbered across the script.
async fn write_events_script(
    pool: &SqlitePool,
    items: &[WriteItem<'_>],
    new_apps: &[(String, String)],
    used_keys: &[&str],
    now: i64,
) -> WriteOutcome {
    let mut usage: HashMap<(&str, &str), i64> = HashMap::new();
    let mut events: Vec<(&str, &EventWrite)> = Vec::new();
    for item in items {
        if let IngestWrite::Events(list) = item.write {
            events.extend(list.iter().map(|e| (item.project_id, e)));
            *usage.entry((item.project_id, item.month)).or_default() +=
                list.len() as i64 - item.reserved_units;
        }
    }
    let mut qb: QueryBuilder<'_, sqlx::Sqlite> = QueryBuilder::new("BEGIN IMMEDIATE;\n");
    for chunk in fixed_chunks(&events) {
        push_event_insert(&mut qb, chunk, now);
        qb.push(";\n");
    }
    for ((project_id, month), delta) in usage.iter().filter(|(_, d)| **d != 0) {
        qb.push("INSERT INTO usage_monthly (project_id, month, units) VALUES (")
            .push_bind(*project_id)
            .push(", ")
            .push_bind(*month)
            .push(", ")
            .push_bind(*delta)
            .push(") ON CONFLICT (project_id, month) DO UPDATE SET units = usage_monthly.units + excluded.units;\n");
    }
    for (project_id, app) in new_apps {
        qb.push("INSERT INTO project_apps (project_id, app, first_seen) VALUES (")
            .push_bind(project_id)
            .push(", ")
            .push_bind(app)
            .push(", ")
            .push_bind(now)
            .push(") ON CONFLICT (project_id, app) DO NOTHING;\n");
    }
    for key_id in used_keys {
        qb.push("UPDATE api_keys SET last_used_at = ")
            .push_bind(now)
            .push(" WHERE id = ")
            .push_bind(*key_id)
            .push(";\n");
    }
    qb.push("COMMIT;");
    let mut conn = pool.acquire().await?;
    if let Err(e) = qb.build().execute(&mut *conn).await {
        // The script stopped part-way with its transaction open: undo it before the
        // connection goes back to the pool.
        let _ = sqlx::query("ROLLBACK").execute(&mut *conn).await;
        return Err(e.into());
    }
    Ok(WriteSummary::default())
}

#[cfg(test)]
mod tests {
    use super::{fixed_chunks, INSERT_SIZES};

    #[test]
    fn chunks_use_fixed_sizes_and_cover_everything() {
        for n in [0usize, 1, 3, 5, 17, 100, 256, 300, 1000] {
            let rows: Vec<usize> = (0..n).collect();
            let chunks: Vec<&[usize]> = fixed_chunks(&rows).collect();
            assert_eq!(chunks.concat(), rows);
            assert!(chunks.iter().all(|c| INSERT_SIZES.contains(&c.len())));
        }
    }
}
