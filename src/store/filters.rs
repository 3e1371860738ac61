//! Filters shared by the telemetry list queries.

use crate::domain::timerange::Granularity;
use sqlx::{Database, Encode, QueryBuilder, Type};

/// The common narrowing of every telemetry list: a project, a half-open time range
/// `[from, to)` in Unix milliseconds and optional app/environment/release labels.
#[derive(Debug, Clone, Default)]
pub struct Scope {
    pub project_id: String,
    pub from: i64,
    pub to: i64,
    pub app: Option<String>,
    pub environment: Option<String>,
    pub release: Option<String>,
    /// The roll-ups that answer counts for this range (its bounds are aligned to them).
    pub granularity: Granularity,
}

/// `column` is one of a list bound as parameter `$param`, a JSON array of strings
/// (`json_list`): the statement's text is the same whatever the list's length, so
/// it is prepared once — an `IN` list of n values is a new statement for every n.
pub(crate) fn in_json_list(column: &str, param: usize, postgres: bool) -> String {
    if postgres {
        format!("{column} = ANY(SELECT json_array_elements_text(${param}::json))")
    } else {
        format!("{column} IN (SELECT value FROM json_each(${param}))")
    }
}

/// The list for [`in_json_list`].
pub(crate) fn json_list<'a>(values: impl IntoIterator<Item = &'a str>) -> String {
    serde_json::Value::Array(
        values
            .into_iter()
            .map(|v| serde_json::Value::String(v.to_string()))
            .collect(),
    )
    .to_string()
}

/// Appends `(v1, v2, …)`, each value bound, for an `IN` list.
pub(crate) fn push_list<'a, DB, T>(
    qb: &mut QueryBuilder<'a, DB>,
    values: impl IntoIterator<Item = T>,
) where
    DB: Database,
    T: Encode<'a, DB> + Type<DB> + 'a,
{
    qb.push("(");
    {
        let mut list = qb.separated(", ");
        for v in values {
            list.push_bind(v);
        }
    }
    qb.push(")");
}

/// Appends the bucket range and label conditions of `scope` on a roll-up aliased `alias`.
pub(crate) fn push_rollup_scope<'a, DB>(qb: &mut QueryBuilder<'a, DB>, scope: &Scope, alias: &str)
where
    DB: Database,
    String: Encode<'a, DB> + Type<DB>,
    i64: Encode<'a, DB> + Type<DB>,
{
    qb.push(format!(" {alias}.bucket >= "))
        .push_bind(scope.from);
    qb.push(format!(" AND {alias}.bucket < "))
        .push_bind(scope.to);
    push_labels(qb, scope, alias);
}

/// `AND alias.app = …` for each label filter of `scope`.
pub(crate) fn push_labels<'a, DB>(qb: &mut QueryBuilder<'a, DB>, scope: &Scope, alias: &str)
where
    DB: Database,
    String: Encode<'a, DB> + Type<DB>,
{
    for (col, value) in [
        ("app", &scope.app),
        ("environment", &scope.environment),
        ("release", &scope.release),
    ] {
        if let Some(v) = value {
            qb.push(format!(" AND {alias}.{col} = "))
                .push_bind(v.clone());
        }
    }
}

/// A position in a list ordered by `(value DESC, id DESC)`.
#[derive(Debug, Clone)]
pub struct Cursor {
    pub value: i64,
    pub id: String,
}

/// Appends `AND`-joined conditions for `scope` on a table aliased `alias` whose time
/// column is `time_col`.
pub(crate) fn push_scope<'a, DB>(
    qb: &mut QueryBuilder<'a, DB>,
    scope: &Scope,
    alias: &str,
    time_col: &str,
) where
    DB: Database,
    String: Encode<'a, DB> + Type<DB>,
    i64: Encode<'a, DB> + Type<DB>,
{
    qb.push(format!(" {alias}.project_id = "))
        .push_bind(scope.project_id.clone());
    qb.push(format!(" AND {alias}.{time_col} >= "))
        .push_bind(scope.from);
    qb.push(format!(" AND {alias}.{time_col} < "))
        .push_bind(scope.to);
    push_labels(qb, scope, alias);
}

/// Appends the keyset condition that continues a `(value DESC, id DESC)` listing.
pub(crate) fn push_cursor<'a, DB>(
    qb: &mut QueryBuilder<'a, DB>,
    cursor: Option<&Cursor>,
    alias: &str,
    col: &str,
) where
    DB: Database,
    String: Encode<'a, DB> + Type<DB>,
    i64: Encode<'a, DB> + Type<DB>,
{
    if let Some(c) = cursor {
        qb.push(format!(" AND ({alias}.{col} < "))
            .push_bind(c.value)
            .push(format!(" OR ({alias}.{col} = "))
            .push_bind(c.value)
            .push(format!(" AND {alias}.id < "))
            .push_bind(c.id.clone())
            .push("))");
    }
}
