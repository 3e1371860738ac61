//! Roll-up rows and the statements that add them up. Every roll-up is an upsert that
//! adds its counts to an existing row, so a group commit writes one row per distinct
//! key, whatever the number of items behind it.

use crate::domain::timerange::Granularity;
use sqlx::{Database, Encode, QueryBuilder, Type};

/// Rows per multi-row statement: powers of two up to 256 (well under both backends'
/// bound-parameter limits). A group's rows go out in few statements, and only nine
/// distinct statements per table exist, so they stay in the prepared-statement cache
/// instead of being parsed again for every group size.
pub(crate) const INSERT_SIZES: [usize; 9] = [256, 128, 64, 32, 16, 8, 4, 2, 1];

/// Splits `rows` into chunks whose lengths are all in `INSERT_SIZES`.
pub(crate) fn fixed_chunks<T>(mut rows: &[T]) -> impl Iterator<Item = &[T]> {
    std::iter::from_fn(move || {
        let size = INSERT_SIZES.into_iter().find(|s| *s <= rows.len())?;
        let (chunk, rest) = rows.split_at(size);
        rows = rest;
        Some(chunk)
    })
}

/// The labels every roll-up is keyed by; an absent label is `""`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Labels {
    pub app: String,
    pub environment: String,
    pub release: String,
}

impl Labels {
    pub fn new(app: &str, environment: Option<&str>, release: Option<&str>) -> Labels {
        Labels {
            app: app.to_string(),
            environment: environment.unwrap_or_default().to_string(),
            release: release.unwrap_or_default().to_string(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EventCountKey {
    pub granularity: Granularity,
    pub project_id: String,
    pub bucket: i64,
    pub labels: Labels,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PropCountKey {
    pub granularity: Granularity,
    pub project_id: String,
    pub name: String,
    pub prop: String,
    pub bucket: i64,
    pub value: String,
    pub labels: Labels,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct VitalCountKey {
    pub granularity: Granularity,
    pub project_id: String,
    pub bucket: i64,
    pub labels: Labels,
    pub metric: &'static str,
    pub rating: &'static str,
    pub bin: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ErrorCountKey {
    pub granularity: Granularity,
    pub group_id: String,
    pub bucket: i64,
    pub labels: Labels,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ErrorUserKey {
    pub granularity: Granularity,
    pub group_id: String,
    pub bucket: i64,
    /// `domain::identity::key` of the user.
    pub identity: i64,
    pub labels: Labels,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ErrorDeviceKey {
    pub granularity: Granularity,
    pub group_id: String,
    pub bucket: i64,
    pub browser: String,
    pub os: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SessionCountKey {
    pub granularity: Granularity,
    pub project_id: String,
    pub bucket: i64,
    pub labels: Labels,
}

/// (sessions started, of which crashed).
pub type SessionCounts = (i64, i64);

/// A label seen for the first time: `kind` is app, environment, release or event.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct NewLabel {
    pub project_id: String,
    pub kind: &'static str,
    pub value: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct NewPropKey {
    pub project_id: String,
    pub name: String,
    pub prop: String,
}

/// Roll-up increments that follow from a group's items alone, computed before its
/// transaction (see `ingest::rollup`).
#[derive(Debug, Default)]
pub struct EventRollups {
    pub events: Vec<(EventCountKey, i64)>,
    pub props: Vec<(PropCountKey, i64)>,
    pub vitals: Vec<(VitalCountKey, i64)>,
    pub labels: Vec<NewLabel>,
    pub prop_keys: Vec<NewPropKey>,
}

/// Roll-ups that depend on what the transaction finds (error groups, sessions).
#[derive(Debug, Default)]
pub(crate) struct StoredRollups {
    pub errors: std::collections::HashMap<ErrorCountKey, i64>,
    pub users: std::collections::HashSet<ErrorUserKey>,
    pub devices: std::collections::HashMap<ErrorDeviceKey, i64>,
    pub sessions: std::collections::HashMap<SessionCountKey, SessionCounts>,
}

impl StoredRollups {
    pub fn add_session(
        &mut self,
        project_id: &str,
        at: i64,
        labels: &Labels,
        counts: SessionCounts,
    ) {
        for g in [Granularity::Hour, Granularity::Day] {
            let key = SessionCountKey {
                granularity: g,
                project_id: project_id.to_string(),
                bucket: g.floor(at),
                labels: labels.clone(),
            };
            let entry = self.sessions.entry(key).or_default();
            entry.0 += counts.0;
            entry.1 += counts.1;
        }
    }
}

/// Where statements go: one SQLite script, or one query each inside a transaction.
pub(crate) trait Sink<'a, DB: Database> {
    /// A builder ready for a new statement that binds `params` parameters.
    fn statement(&mut self, params: usize) -> &mut QueryBuilder<'a, DB>;
}

/// Statements executed one by one.
pub(crate) struct Statements<'a, DB: Database>(pub Vec<QueryBuilder<'a, DB>>);

impl<'a, DB: Database> Sink<'a, DB> for Statements<'a, DB> {
    fn statement(&mut self, _params: usize) -> &mut QueryBuilder<'a, DB> {
        self.0.push(QueryBuilder::new(""));
        self.0.last_mut().expect("just pushed")
    }
}

/// Statements joined into scripts, each under SQLite's bound-parameter limit.
pub(crate) struct Script<'a, DB: Database> {
    pub parts: Vec<QueryBuilder<'a, DB>>,
    params: usize,
    /// Whether the current part already holds SQL that the next statement follows.
    started: bool,
}

/// Parameters per script part: SQLite allows 32 766 per statement it prepares.
const SCRIPT_PARAMS: usize = 30_000;

impl<'a, DB: Database> Script<'a, DB> {
    pub fn new(prefix: &str) -> Self {
        Script {
            parts: vec![QueryBuilder::new(prefix)],
            params: 0,
            started: !prefix.is_empty(),
        }
    }

    /// Appends a statement without parameters.
    pub fn push_raw(&mut self, sql: &str) {
        self.statement(0).push(sql);
    }
}

impl<'a, DB: Database> Sink<'a, DB> for Script<'a, DB> {
    fn statement(&mut self, params: usize) -> &mut QueryBuilder<'a, DB> {
        if self.params + params > SCRIPT_PARAMS && self.params > 0 {
            self.parts.push(QueryBuilder::new(""));
            self.params = 0;
            self.started = false;
        }
        self.params += params;
        let qb = self.parts.last_mut().expect("one part");
        if self.started {
            qb.push(";\n");
        }
        self.started = true;
        qb
    }
}

/// Appends `INSERT INTO table (cols) VALUES … ON CONFLICT (key) DO UPDATE SET` each
/// `add` column to its sum, in fixed-size chunks.
pub(crate) fn push_upsert<'a, DB, R>(
    sink: &mut impl Sink<'a, DB>,
    table: &str,
    cols: &[&str],
    key: &[&str],
    add: &[&str],
    rows: &[R],
    mut bind: impl FnMut(&mut sqlx::query_builder::Separated<'_, 'a, DB, &'static str>, &R),
) where
    DB: Database,
{
    let conflict = if add.is_empty() {
        "DO NOTHING".to_string()
    } else {
        let sets: Vec<String> = add
            .iter()
            .map(|c| format!("{c} = {table}.{c} + excluded.{c}"))
            .collect();
        format!("DO UPDATE SET {}", sets.join(", "))
    };
    let head = format!("INSERT INTO {table} ({}) ", cols.join(", "));
    let tail = format!(" ON CONFLICT ({}) {conflict}", key.join(", "));
    for chunk in fixed_chunks(rows) {
        let qb = sink.statement(chunk.len() * cols.len());
        qb.push(&head);
        qb.push_values(chunk, |mut sep, row| bind(&mut sep, row));
        qb.push(&tail);
    }
}

fn table(base: &str, g: Granularity) -> String {
    format!("{base}_{}", g.table_suffix())
}

/// Writes every roll-up increment of `r`, one table at a time.
pub(crate) fn push_event_rollups<'a, DB>(sink: &mut impl Sink<'a, DB>, r: &EventRollups, now: i64)
where
    DB: Database,
    String: Encode<'a, DB> + Type<DB>,
    i64: Encode<'a, DB> + Type<DB>,
{
    for g in [Granularity::Hour, Granularity::Day] {
        let rows: Vec<&(EventCountKey, i64)> = r
            .events
            .iter()
            .filter(|(k, _)| k.granularity == g)
            .collect();
        push_upsert(
            sink,
            &table("rollup_events", g),
            &[
                "project_id",
                "bucket",
                "app",
                "environment",
                "release",
                "name",
                "count",
            ],
            &[
                "project_id",
                "bucket",
                "app",
                "environment",
                "release",
                "name",
            ],
            &["count"],
            &rows,
            |sep, (k, n)| {
                sep.push_bind(k.project_id.clone())
                    .push_bind(k.bucket)
                    .push_bind(k.labels.app.clone())
                    .push_bind(k.labels.environment.clone())
                    .push_bind(k.labels.release.clone())
                    .push_bind(k.name.clone())
                    .push_bind(*n);
            },
        );
        let rows: Vec<&(PropCountKey, i64)> =
            r.props.iter().filter(|(k, _)| k.granularity == g).collect();
        push_upsert(
            sink,
            &table("rollup_props", g),
            &[
                "project_id",
                "name",
                "prop",
                "bucket",
                "value",
                "app",
                "environment",
                "release",
                "count",
            ],
            &[
                "project_id",
                "name",
                "prop",
                "bucket",
                "value",
                "app",
                "environment",
                "release",
            ],
            &["count"],
            &rows,
            |sep, (k, n)| {
                sep.push_bind(k.project_id.clone())
                    .push_bind(k.name.clone())
                    .push_bind(k.prop.clone())
                    .push_bind(k.bucket)
                    .push_bind(k.value.clone())
                    .push_bind(k.labels.app.clone())
                    .push_bind(k.labels.environment.clone())
                    .push_bind(k.labels.release.clone())
                    .push_bind(*n);
            },
        );
        let rows: Vec<&(VitalCountKey, i64)> = r
            .vitals
            .iter()
            .filter(|(k, _)| k.granularity == g)
            .collect();
        push_upsert(
            sink,
            &table("rollup_vitals", g),
            &[
                "project_id",
                "bucket",
                "app",
                "environment",
                "release",
                "metric",
                "rating",
                "bin",
                "count",
            ],
            &[
                "project_id",
                "bucket",
                "app",
                "environment",
                "release",
                "metric",
                "rating",
                "bin",
            ],
            &["count"],
            &rows,
            |sep, (k, n)| {
                sep.push_bind(k.project_id.clone())
                    .push_bind(k.bucket)
                    .push_bind(k.labels.app.clone())
                    .push_bind(k.labels.environment.clone())
                    .push_bind(k.labels.release.clone())
                    .push_bind(k.metric.to_string())
                    .push_bind(k.rating.to_string())
                    .push_bind(k.bin)
                    .push_bind(*n);
            },
        );
    }
    push_upsert(
        sink,
        "project_labels",
        &["project_id", "kind", "value", "first_seen"],
        &["project_id", "kind", "value"],
        &[],
        &r.labels,
        |sep, l| {
            sep.push_bind(l.project_id.clone())
                .push_bind(l.kind.to_string())
                .push_bind(l.value.clone())
                .push_bind(now);
        },
    );
    push_upsert(
        sink,
        "event_property_keys",
        &["project_id", "name", "prop", "first_seen"],
        &["project_id", "name", "prop"],
        &[],
        &r.prop_keys,
        |sep, k| {
            sep.push_bind(k.project_id.clone())
                .push_bind(k.name.clone())
                .push_bind(k.prop.clone())
                .push_bind(now);
        },
    );
}

/// Writes the error and session roll-ups gathered inside a transaction.
pub(crate) fn push_stored_rollups<'a, DB>(sink: &mut impl Sink<'a, DB>, r: &StoredRollups)
where
    DB: Database,
    String: Encode<'a, DB> + Type<DB>,
    i64: Encode<'a, DB> + Type<DB>,
{
    for g in [Granularity::Hour, Granularity::Day] {
        let rows: Vec<(&ErrorCountKey, &i64)> = r
            .errors
            .iter()
            .filter(|(k, _)| k.granularity == g)
            .collect();
        push_upsert(
            sink,
            &table("rollup_errors", g),
            &[
                "group_id",
                "bucket",
                "app",
                "environment",
                "release",
                "count",
            ],
            &["group_id", "bucket", "app", "environment", "release"],
            &["count"],
            &rows,
            |sep, (k, n)| {
                sep.push_bind(k.group_id.clone())
                    .push_bind(k.bucket)
                    .push_bind(k.labels.app.clone())
                    .push_bind(k.labels.environment.clone())
                    .push_bind(k.labels.release.clone())
                    .push_bind(**n);
            },
        );
        let rows: Vec<&ErrorUserKey> = r.users.iter().filter(|k| k.granularity == g).collect();
        push_upsert(
            sink,
            &table("rollup_error_users", g),
            &[
                "group_id",
                "bucket",
                "identity",
                "app",
                "environment",
                "release",
            ],
            &[
                "group_id",
                "bucket",
                "identity",
                "app",
                "environment",
                "release",
            ],
            &[],
            &rows,
            |sep, k| {
                sep.push_bind(k.group_id.clone())
                    .push_bind(k.bucket)
                    .push_bind(k.identity)
                    .push_bind(k.labels.app.clone())
                    .push_bind(k.labels.environment.clone())
                    .push_bind(k.labels.release.clone());
            },
        );
        let rows: Vec<(&ErrorDeviceKey, &i64)> = r
            .devices
            .iter()
            .filter(|(k, _)| k.granularity == g)
            .collect();
        push_upsert(
            sink,
            &table("rollup_error_devices", g),
            &["group_id", "bucket", "browser", "os", "count"],
            &["group_id", "bucket", "browser", "os"],
            &["count"],
            &rows,
            |sep, (k, n)| {
                sep.push_bind(k.group_id.clone())
                    .push_bind(k.bucket)
                    .push_bind(k.browser.clone())
                    .push_bind(k.os.clone())
                    .push_bind(**n);
            },
        );
        let rows: Vec<(&SessionCountKey, &SessionCounts)> = r
            .sessions
            .iter()
            .filter(|(k, _)| k.granularity == g)
            .collect();
        push_upsert(
            sink,
            &table("rollup_sessions", g),
            &[
                "project_id",
                "bucket",
                "app",
                "environment",
                "release",
                "sessions",
                "crashed",
            ],
            &["project_id", "bucket", "app", "environment", "release"],
            &["sessions", "crashed"],
            &rows,
            |sep, (k, (sessions, crashed))| {
                sep.push_bind(k.project_id.clone())
                    .push_bind(k.bucket)
                    .push_bind(k.labels.app.clone())
                    .push_bind(k.labels.environment.clone())
                    .push_bind(k.labels.release.clone())
                    .push_bind(*sessions)
                    .push_bind(*crashed);
            },
        );
    }
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
