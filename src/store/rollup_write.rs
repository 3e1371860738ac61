//! Roll-up rows and the statements that add them up. Every roll-up is an upsert that
//! adds its counts to an existing row, so a group commit writes one row per distinct
//! key, whatever the number of items behind it.

use super::StoreResult;
use crate::domain::sessions::SessionTally;
use crate::domain::timerange::Granularity;
use sqlx::query_builder::Separated;
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
    pub sessions: std::collections::HashMap<SessionCountKey, SessionTally>,
}

impl StoredRollups {
    pub fn add_session(
        &mut self,
        project_id: &str,
        at: i64,
        labels: &Labels,
        counts: SessionTally,
    ) {
        for g in [Granularity::Hour, Granularity::Day] {
            let key = SessionCountKey {
                granularity: g,
                project_id: project_id.to_string(),
                bucket: g.floor(at),
                labels: labels.clone(),
            };
            *self.sessions.entry(key).or_default() += counts;
        }
    }
}

/// The values of one row, bound the same way whichever path writes it.
pub(crate) trait Bind {
    fn text(&mut self, value: &str) -> &mut dyn Bind;
    fn opt(&mut self, value: Option<&str>) -> &mut dyn Bind;
    fn int(&mut self, value: i64) -> &mut dyn Bind;
}

/// What to do when an inserted row's key exists already.
#[derive(Clone, Copy)]
pub(crate) enum OnConflict<'c> {
    /// A plain insert: the key is new (events).
    Fail,
    /// Keep the existing row; the key is these columns.
    Ignore(&'c [&'c str]),
    /// Add these columns to the existing row's; the key is every other column.
    Add(&'c [&'c str]),
}

/// Where a group commit's rows go: multi-row statements built for sqlx
/// (`Statements`), or prepared single-row statements on the SQLite writer's own
/// connection (`store::direct_write`).
pub(crate) trait RowSink {
    fn insert<R>(
        &mut self,
        table: &str,
        cols: &[&str],
        on_conflict: OnConflict<'_>,
        rows: &[R],
        bind: impl Fn(&mut dyn Bind, &R),
    ) -> StoreResult<()>;

    /// `UPDATE table SET column = value WHERE id = id`.
    fn set_by_id(&mut self, table: &str, column: &str, value: i64, id: &str) -> StoreResult<()>;
}

/// `INSERT INTO table (cols) ` — the values follow.
pub(crate) fn insert_head(table: &str, cols: &[&str]) -> String {
    format!("INSERT INTO {table} ({}) ", cols.join(", "))
}

/// What follows the values of an insert of `cols`.
pub(crate) fn conflict_clause(table: &str, cols: &[&str], on_conflict: OnConflict<'_>) -> String {
    match on_conflict {
        OnConflict::Fail => String::new(),
        OnConflict::Ignore(key) => format!(" ON CONFLICT ({}) DO NOTHING", key.join(", ")),
        OnConflict::Add(add) => {
            let key: Vec<&str> = cols.iter().copied().filter(|c| !add.contains(c)).collect();
            let sets: Vec<String> = add
                .iter()
                .map(|c| format!("{c} = {table}.{c} + excluded.{c}"))
                .collect();
            format!(
                " ON CONFLICT ({}) DO UPDATE SET {}",
                key.join(", "),
                sets.join(", ")
            )
        }
    }
}

/// Statements for sqlx, executed one by one inside a transaction.
pub(crate) struct Statements<'a, DB: Database>(pub Vec<QueryBuilder<'a, DB>>);

impl<'a, DB: Database> Statements<'a, DB> {
    pub fn new() -> Self {
        Statements(Vec::new())
    }
}

impl<'a, DB: Database> RowSink for Statements<'a, DB>
where
    String: Encode<'a, DB> + Type<DB>,
    Option<String>: Encode<'a, DB> + Type<DB>,
    i64: Encode<'a, DB> + Type<DB>,
{
    /// Multi-row statements in fixed-size chunks.
    fn insert<R>(
        &mut self,
        table: &str,
        cols: &[&str],
        on_conflict: OnConflict<'_>,
        rows: &[R],
        bind: impl Fn(&mut dyn Bind, &R),
    ) -> StoreResult<()> {
        let head = insert_head(table, cols);
        let tail = conflict_clause(table, cols, on_conflict);
        for chunk in fixed_chunks(rows) {
            let mut qb = QueryBuilder::new(&head);
            qb.push_values(chunk, |mut sep, row| bind(&mut sep, row));
            qb.push(&tail);
            self.0.push(qb);
        }
        Ok(())
    }

    fn set_by_id(&mut self, table: &str, column: &str, value: i64, id: &str) -> StoreResult<()> {
        let mut qb = QueryBuilder::new(format!("UPDATE {table} SET {column} = "));
        qb.push_bind(value)
            .push(" WHERE id = ")
            .push_bind(id.to_string());
        self.0.push(qb);
        Ok(())
    }
}

impl<'qb, 'a: 'qb, DB: Database> Bind for Separated<'qb, 'a, DB, &'static str>
where
    String: Encode<'a, DB> + Type<DB>,
    Option<String>: Encode<'a, DB> + Type<DB>,
    i64: Encode<'a, DB> + Type<DB>,
{
    fn text(&mut self, value: &str) -> &mut dyn Bind {
        self.push_bind(value.to_string());
        self
    }

    fn opt(&mut self, value: Option<&str>) -> &mut dyn Bind {
        self.push_bind(value.map(str::to_string));
        self
    }

    fn int(&mut self, value: i64) -> &mut dyn Bind {
        self.push_bind(value);
        self
    }
}

fn table(base: &str, g: Granularity) -> String {
    format!("{base}_{}", g.table_suffix())
}

/// Writes every roll-up increment of `r`, one table at a time.
pub(crate) fn push_event_rollups(
    sink: &mut impl RowSink,
    r: &EventRollups,
    now: i64,
) -> StoreResult<()> {
    for g in [Granularity::Hour, Granularity::Day] {
        let rows: Vec<&(EventCountKey, i64)> = r
            .events
            .iter()
            .filter(|(k, _)| k.granularity == g)
            .collect();
        sink.insert(
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
            OnConflict::Add(&["count"]),
            &rows,
            |b, (k, n)| {
                b.text(&k.project_id)
                    .int(k.bucket)
                    .text(&k.labels.app)
                    .text(&k.labels.environment)
                    .text(&k.labels.release)
                    .text(&k.name)
                    .int(*n);
            },
        )?;
        let rows: Vec<&(PropCountKey, i64)> =
            r.props.iter().filter(|(k, _)| k.granularity == g).collect();
        sink.insert(
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
            OnConflict::Add(&["count"]),
            &rows,
            |b, (k, n)| {
                b.text(&k.project_id)
                    .text(&k.name)
                    .text(&k.prop)
                    .int(k.bucket)
                    .text(&k.value)
                    .text(&k.labels.app)
                    .text(&k.labels.environment)
                    .text(&k.labels.release)
                    .int(*n);
            },
        )?;
        let rows: Vec<&(VitalCountKey, i64)> = r
            .vitals
            .iter()
            .filter(|(k, _)| k.granularity == g)
            .collect();
        sink.insert(
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
            OnConflict::Add(&["count"]),
            &rows,
            |b, (k, n)| {
                b.text(&k.project_id)
                    .int(k.bucket)
                    .text(&k.labels.app)
                    .text(&k.labels.environment)
                    .text(&k.labels.release)
                    .text(k.metric)
                    .text(k.rating)
                    .int(k.bin)
                    .int(*n);
            },
        )?;
    }
    sink.insert(
        "project_labels",
        &["project_id", "kind", "value", "first_seen"],
        OnConflict::Ignore(&["project_id", "kind", "value"]),
        &r.labels,
        |b, l| {
            b.text(&l.project_id).text(l.kind).text(&l.value).int(now);
        },
    )?;
    sink.insert(
        "event_property_keys",
        &["project_id", "name", "prop", "first_seen"],
        OnConflict::Ignore(&["project_id", "name", "prop"]),
        &r.prop_keys,
        |b, k| {
            b.text(&k.project_id).text(&k.name).text(&k.prop).int(now);
        },
    )?;
    Ok(())
}

/// Writes the error and session roll-ups gathered inside a transaction.
pub(crate) fn push_stored_rollups(sink: &mut impl RowSink, r: &StoredRollups) -> StoreResult<()> {
    for g in [Granularity::Hour, Granularity::Day] {
        let rows: Vec<(&ErrorCountKey, &i64)> = r
            .errors
            .iter()
            .filter(|(k, _)| k.granularity == g)
            .collect();
        sink.insert(
            &table("rollup_errors", g),
            &[
                "group_id",
                "bucket",
                "app",
                "environment",
                "release",
                "count",
            ],
            OnConflict::Add(&["count"]),
            &rows,
            |b, (k, n)| {
                b.text(&k.group_id)
                    .int(k.bucket)
                    .text(&k.labels.app)
                    .text(&k.labels.environment)
                    .text(&k.labels.release)
                    .int(**n);
            },
        )?;
        let rows: Vec<&ErrorUserKey> = r.users.iter().filter(|k| k.granularity == g).collect();
        sink.insert(
            &table("rollup_error_users", g),
            &[
                "group_id",
                "bucket",
                "identity",
                "app",
                "environment",
                "release",
            ],
            OnConflict::Ignore(&[
                "group_id",
                "bucket",
                "identity",
                "app",
                "environment",
                "release",
            ]),
            &rows,
            |b, k| {
                b.text(&k.group_id)
                    .int(k.bucket)
                    .int(k.identity)
                    .text(&k.labels.app)
                    .text(&k.labels.environment)
                    .text(&k.labels.release);
            },
        )?;
        let rows: Vec<(&ErrorDeviceKey, &i64)> = r
            .devices
            .iter()
            .filter(|(k, _)| k.granularity == g)
            .collect();
        sink.insert(
            &table("rollup_error_devices", g),
            &["group_id", "bucket", "browser", "os", "count"],
            OnConflict::Add(&["count"]),
            &rows,
            |b, (k, n)| {
                b.text(&k.group_id)
                    .int(k.bucket)
                    .text(&k.browser)
                    .text(&k.os)
                    .int(**n);
            },
        )?;
        let rows: Vec<(&SessionCountKey, &SessionTally)> = r
            .sessions
            .iter()
            .filter(|(k, _)| k.granularity == g)
            .collect();
        sink.insert(
            &table("rollup_sessions", g),
            &[
                "project_id",
                "bucket",
                "app",
                "environment",
                "release",
                "sessions",
                "errored",
                "crashed",
            ],
            OnConflict::Add(&["sessions", "errored", "crashed"]),
            &rows,
            |b, (k, t)| {
                b.text(&k.project_id)
                    .int(k.bucket)
                    .text(&k.labels.app)
                    .text(&k.labels.environment)
                    .text(&k.labels.release)
                    .int(t.started)
                    .int(t.errored)
                    .int(t.crashed);
            },
        )?;
    }
    Ok(())
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
