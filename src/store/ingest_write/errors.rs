//! The error phases of a group commit: the distinct groups upserted (deciding new
//! and regressed), the sessions the errors belong to, then the occurrences' rows,
//! which go out with the rest of the group's rows.

use super::{on_tx, ErrorOccurrenceWrite, IngestWrite, Tx, WriteItem, WriteSummary};
use crate::domain::identity;
use crate::domain::sessions::SessionTally;
use crate::domain::timerange::Granularity;
use crate::store::filters::{in_json_list, json_list};
use crate::store::rollup_write::{
    ErrorCountKey, ErrorDeviceKey, ErrorUserKey, Labels, OnConflict, RowSink, StoredRollups,
};
use crate::store::StoreResult;
use std::collections::HashMap;

/// The browser and OS of a session.
pub(super) type Device = (Option<String>, Option<String>);
/// (project id, fingerprint) → group id; (project id, session id) → device.
pub(super) type GroupIds<'a> = HashMap<(&'a str, &'a str), String>;
pub(super) type Devices<'a> = HashMap<(&'a str, &'a str), Device>;

/// The error occurrences of the group's requests, with their project.
pub(super) fn of<'a>(items: &'a [WriteItem<'a>]) -> Vec<(&'a str, &'a ErrorOccurrenceWrite)> {
    items
        .iter()
        .filter_map(|item| match item.write {
            IngestWrite::Error(err) => Some((item.project_id, &**err)),
            _ => None,
        })
        .collect()
}

/// One upsert per distinct group. "New" and "regressed" are read off the
/// statements that change the row, so concurrent writers (other processes) report
/// each once: a regression is the update that finds the group resolved, a new
/// group the insert whose own fresh id comes back.
#[tracing::instrument(level = "debug", skip_all)]
pub(super) async fn upsert_groups<'a>(
    tx: &mut Tx,
    occurrences: &[(&'a str, &'a ErrorOccurrenceWrite)],
    summary: &mut WriteSummary,
) -> StoreResult<GroupIds<'a>> {
    let mut per_group: HashMap<(&str, &str), (i64, &ErrorOccurrenceWrite, i64)> = HashMap::new();
    for (project_id, err) in occurrences {
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
    // One order for every process, so that concurrent upserts lock rows alike.
    let mut per_group: Vec<GroupTally<'a>> = per_group.into_iter().collect();
    per_group.sort_unstable_by_key(|(key, _)| *key);
    match tx {
        Tx::Postgres(t) => upsert_groups_at_once(t, &per_group, summary).await,
        Tx::Sqlite(_) => upsert_groups_one_by_one(tx, &per_group, summary).await,
    }
}

/// (project id, fingerprint) → (occurrences, the latest occurrence, first seen).
type GroupTally<'a> = ((&'a str, &'a str), (i64, &'a ErrorOccurrenceWrite, i64));

/// PostgreSQL: the regressions in one statement, then every other group in one
/// upsert, each row bound as arrays: two round trips however many groups.
async fn upsert_groups_at_once<'a>(
    t: &mut sqlx::PgConnection,
    per_group: &[GroupTally<'a>],
    summary: &mut WriteSummary,
) -> StoreResult<GroupIds<'a>> {
    let column = |f: fn(&GroupTally<'a>) -> Option<String>| -> Vec<Option<String>> {
        per_group.iter().map(f).collect()
    };
    let regressed: Vec<(String, String, String)> = sqlx::query_as(
        "UPDATE error_groups g SET
           occurrences = g.occurrences + u.count,
           last_seen = GREATEST(g.last_seen, u.last_seen),
           last_environment = COALESCE(u.environment, g.last_environment),
           last_release = COALESCE(u.release, g.last_release),
           last_platform = COALESCE(u.platform, g.last_platform),
           regressed_at = u.last_seen, resolved_at = NULL, status = 'unresolved'
         FROM unnest($1::text[], $2::text[], $3::int8[], $4::int8[], $5::text[], $6::text[], $7::text[])
           AS u(project_id, fingerprint, count, last_seen, environment, release, platform)
         WHERE g.project_id = u.project_id AND g.fingerprint = u.fingerprint AND g.status = 'resolved'
         RETURNING g.project_id, g.fingerprint, g.id",
    )
    .bind(column(|((p, _), _)| Some(p.to_string())))
    .bind(column(|((_, f), _)| Some(f.to_string())))
    .bind(per_group.iter().map(|(_, (n, _, _))| *n).collect::<Vec<i64>>())
    .bind(per_group.iter().map(|(_, (_, last, _))| last.timestamp).collect::<Vec<i64>>())
    .bind(column(|(_, (_, last, _))| last.environment.clone()))
    .bind(column(|(_, (_, last, _))| last.release.clone()))
    .bind(column(|(_, (_, last, _))| last.platform.clone()))
    .fetch_all(&mut *t)
    .await?;
    let mut ids = GroupIds::new();
    for (project_id, fingerprint, id) in regressed {
        if let Some(((p, f), _)) = per_group
            .iter()
            .find(|((p, f), _)| *p == project_id && *f == fingerprint)
        {
            summary.regressed_groups.push((project_id, id.clone()));
            ids.insert((*p, *f), id);
        }
    }
    let rest: Vec<&GroupTally<'a>> = per_group
        .iter()
        .filter(|(key, _)| !ids.contains_key(key))
        .collect();
    if rest.is_empty() {
        return Ok(ids);
    }
    let text = |f: fn(&GroupTally<'a>) -> Option<String>| -> Vec<Option<String>> {
        rest.iter().map(|g| f(g)).collect()
    };
    let upserted: Vec<(String, String, String)> = sqlx::query_as(
        "INSERT INTO error_groups (id, project_id, fingerprint, app, error_type, message, top_frame, \
           status, first_seen, last_seen, occurrences, last_environment, last_release, last_platform)
         SELECT id, project_id, fingerprint, app, error_type, message, top_frame, 'unresolved', \
           first_seen, last_seen, occurrences, environment, release, platform
         FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], \
           $8::int8[], $9::int8[], $10::int8[], $11::text[], $12::text[], $13::text[])
           AS u(id, project_id, fingerprint, app, error_type, message, top_frame, first_seen, \
             last_seen, occurrences, environment, release, platform)
         ON CONFLICT (project_id, fingerprint) DO UPDATE SET
           occurrences = error_groups.occurrences + excluded.occurrences,
           last_seen = GREATEST(error_groups.last_seen, excluded.last_seen),
           last_environment = COALESCE(excluded.last_environment, error_groups.last_environment),
           last_release = COALESCE(excluded.last_release, error_groups.last_release),
           last_platform = COALESCE(excluded.last_platform, error_groups.last_platform)
         RETURNING project_id, fingerprint, id",
    )
    .bind(text(|(_, (_, last, _))| Some(last.new_group_id.clone())))
    .bind(text(|((p, _), _)| Some(p.to_string())))
    .bind(text(|((_, f), _)| Some(f.to_string())))
    .bind(text(|(_, (_, last, _))| Some(last.app.clone())))
    .bind(text(|(_, (_, last, _))| last.error_type.clone()))
    .bind(text(|(_, (_, last, _))| Some(last.message.clone())))
    .bind(text(|(_, (_, last, _))| last.top_frame.clone()))
    .bind(rest.iter().map(|(_, (_, _, first))| *first).collect::<Vec<i64>>())
    .bind(rest.iter().map(|(_, (_, last, _))| last.timestamp).collect::<Vec<i64>>())
    .bind(rest.iter().map(|(_, (n, _, _))| *n).collect::<Vec<i64>>())
    .bind(text(|(_, (_, last, _))| last.environment.clone()))
    .bind(text(|(_, (_, last, _))| last.release.clone()))
    .bind(text(|(_, (_, last, _))| last.platform.clone()))
    .fetch_all(&mut *t)
    .await?;
    for (project_id, fingerprint, id) in upserted {
        if let Some(((p, f), (_, last, _))) = rest
            .iter()
            .find(|((p, f), _)| *p == project_id && *f == fingerprint)
        {
            if id == last.new_group_id {
                summary.new_groups.push((project_id, id.clone()));
            }
            ids.insert((*p, *f), id);
        }
    }
    Ok(ids)
}

/// SQLite: a statement or two per group, on the writer's own connection.
async fn upsert_groups_one_by_one<'a>(
    tx: &mut Tx,
    per_group: &[GroupTally<'a>],
    summary: &mut WriteSummary,
) -> StoreResult<GroupIds<'a>> {
    let mut ids = GroupIds::new();
    for &((project_id, fingerprint), (count, last, first_seen)) in per_group {
        let regressed: Option<String> = on_tx!(&mut *tx, |t| sqlx::query_scalar(
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
        .bind(project_id)
        .bind(fingerprint)
        .bind(count)
        .bind(last.timestamp)
        .bind(&last.environment)
        .bind(&last.release)
        .bind(&last.platform)
        .fetch_optional(&mut **t)
        .await?);
        if let Some(id) = regressed {
            summary
                .regressed_groups
                .push((project_id.to_string(), id.clone()));
            ids.insert((project_id, fingerprint), id);
            continue;
        }
        let id: String = on_tx!(&mut *tx, |t| {
            sqlx::query_scalar(
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
        .bind(project_id)
        .bind(fingerprint)
        .bind(&last.app)
        .bind(&last.error_type)
        .bind(&last.message)
        .bind(&last.top_frame)
        .bind(first_seen)
        .bind(last.timestamp)
        .bind(count)
        .bind(&last.environment)
        .bind(&last.release)
        .bind(&last.platform)
        .fetch_one(&mut **t)
        .await?
        });
        if id == last.new_group_id {
            summary
                .new_groups
                .push((project_id.to_string(), id.clone()));
        }
        ids.insert((project_id, fingerprint), id);
    }
    Ok(ids)
}

/// The sessions the errors belong to lend their device, and are marked as errored
/// (crashed, for an unhandled error) by the update that first finds them unmarked,
/// which counts them in the roll-ups exactly once.
#[tracing::instrument(level = "debug", skip_all)]
pub(super) async fn mark_sessions<'a>(
    tx: &mut Tx,
    occurrences: &[(&'a str, &'a ErrorOccurrenceWrite)],
    stored: &mut StoredRollups,
) -> StoreResult<Devices<'a>> {
    let mut devices = Devices::new();
    let mut wanted: HashMap<&str, Vec<(&str, bool)>> = HashMap::new();
    for (project_id, err) in occurrences {
        if let Some(session_id) = err.session_id.as_deref() {
            let ids = wanted.entry(project_id).or_default();
            match ids.iter_mut().find(|(id, _)| *id == session_id) {
                Some((_, unhandled)) => *unhandled |= err.unhandled,
                None => ids.push((session_id, err.unhandled)),
            }
        }
    }
    let postgres = tx.is_postgres();
    for (project_id, ids) in &wanted {
        for chunk in ids.chunks(256) {
            let list = json_list(chunk.iter().map(|(id, _)| *id));
            let found: Vec<(String, Option<String>, Option<String>)> = on_tx!(&mut *tx, |t| {
                sqlx::query_as(&format!(
                    "SELECT session_id, device_browser, device_os FROM sessions
                     WHERE project_id = $1 AND {}",
                    in_json_list("session_id", 2, postgres)
                ))
                .bind(*project_id)
                .bind(&list)
                .fetch_all(&mut **t)
                .await?
            });
            // Only sessions that exist are marked (errors often name sessions never
            // reported): none found, nothing to update.
            let mut stored_ids: Vec<(&str, bool)> = Vec::with_capacity(found.len());
            for (session_id, browser, os) in found {
                if let Some(&(id, unhandled)) = chunk.iter().find(|(c, _)| *c == session_id) {
                    devices.insert((*project_id, id), (browser, os));
                    stored_ids.push((id, unhandled));
                }
            }
            if stored_ids.is_empty() {
                continue;
            }
            let list = json_list(stored_ids.iter().map(|(id, _)| *id));
            let crashing = json_list(stored_ids.iter().filter(|(_, u)| *u).map(|(id, _)| *id));
            for (flag, list, delta) in [
                (
                    "has_error",
                    &list,
                    SessionTally {
                        started: 0,
                        errored: 1,
                        crashed: 0,
                    },
                ),
                (
                    "has_crash",
                    &crashing,
                    SessionTally {
                        started: 0,
                        errored: 0,
                        crashed: 1,
                    },
                ),
            ] {
                if list == "[]" {
                    continue;
                }
                let marked: Vec<(i64, String, Option<String>, Option<String>)> = on_tx!(
                    &mut *tx,
                    |t| {
                        sqlx::query_as(&format!(
                            "UPDATE sessions SET {flag} = 1 WHERE project_id = $1 AND {} AND {flag} = 0
                             RETURNING started_at, app, environment, release",
                            in_json_list("session_id", 2, postgres)
                        ))
                        .bind(*project_id)
                        .bind(list)
                        .fetch_all(&mut **t)
                        .await?
                    }
                );
                for (started_at, app, environment, release) in marked {
                    let labels = Labels::new(&app, environment.as_deref(), release.as_deref());
                    stored.add_session(project_id, started_at, &labels, delta);
                }
            }
        }
    }
    Ok(devices)
}

/// The occurrences as they are inserted, each with its group and its session's
/// device; their roll-ups go into `stored`.
pub(super) fn occurrence_rows<'a>(
    occurrences: &[(&'a str, &'a ErrorOccurrenceWrite)],
    groups: &GroupIds<'_>,
    devices: &Devices<'_>,
    stored: &mut StoredRollups,
) -> Vec<OccurrenceRow<'a>> {
    let none = (None, None);
    let rows: Vec<OccurrenceRow<'a>> = occurrences
        .iter()
        .map(|(project_id, e)| {
            let (browser, os) = e
                .session_id
                .as_deref()
                .and_then(|s| devices.get(&(*project_id, s)))
                .unwrap_or(&none);
            OccurrenceRow {
                project_id,
                e,
                group_id: groups[&(*project_id, e.fingerprint.as_str())].clone(),
                browser: browser.clone().or_else(|| e.device_browser.clone()),
                os: os.clone().or_else(|| e.device_os.clone()),
            }
        })
        .collect();
    for row in &rows {
        add_error_rollups(stored, row);
    }
    rows
}

/// The occurrences of `rows`, received at `now`.
pub(super) fn push_occurrence_inserts(
    sink: &mut impl RowSink,
    rows: &[OccurrenceRow<'_>],
    now: i64,
) -> StoreResult<()> {
    sink.insert(
        "error_occurrences",
        &[
            "id",
            "group_id",
            "project_id",
            "app",
            "message",
            "stack",
            "context",
            "platform",
            "environment",
            "release",
            "session_id",
            "user_id",
            "anonymous_id",
            "sdk_version",
            "timestamp",
            "received_at",
            "device_browser",
            "device_os",
            "unhandled",
        ],
        OnConflict::Fail,
        rows,
        |b, o| {
            let e = o.e;
            b.text(&e.id)
                .text(&o.group_id)
                .text(o.project_id)
                .text(&e.app)
                .text(&e.message)
                .opt(e.stack.as_deref())
                .opt(e.context.as_deref())
                .opt(e.platform.as_deref())
                .opt(e.environment.as_deref())
                .opt(e.release.as_deref())
                .opt(e.session_id.as_deref())
                .opt(e.user_id.as_deref())
                .opt(e.anonymous_id.as_deref())
                .opt(e.sdk_version.as_deref())
                .int(e.timestamp)
                .int(now)
                .opt(o.browser.as_deref())
                .opt(o.os.as_deref())
                .int(i64::from(e.unhandled));
        },
    )
}

/// An occurrence as it is inserted: its group and its session's device.
pub(super) struct OccurrenceRow<'a> {
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
