//! A group commit's rows on PostgreSQL, in as few round trips as the data allows:
//! each table's rows are bound as one array per column and inserted from `unnest`,
//! so a statement's text does not depend on how many rows it carries (it is
//! prepared once per connection), and the tables of a group go together in one
//! statement of data-modifying `WITH` clauses.

use super::rollup_write::{conflict_clause, insert_head, Bind, OnConflict, RowSink};
use super::{StoreError, StoreResult};
use sqlx::PgConnection;
use std::cmp::Ordering;

/// One column's values across the rows of a table.
enum Column {
    Text(Vec<Option<String>>),
    Int(Vec<i64>),
}

impl Column {
    fn cast(&self) -> &'static str {
        match self {
            Column::Text(_) => "text[]",
            Column::Int(_) => "int8[]",
        }
    }

    fn compare(&self, a: usize, b: usize) -> Ordering {
        match self {
            Column::Text(v) => v[a].cmp(&v[b]),
            Column::Int(v) => v[a].cmp(&v[b]),
        }
    }

    fn reorder(&mut self, order: &[usize]) {
        match self {
            Column::Text(v) => *v = order.iter().map(|&i| v[i].take()).collect(),
            Column::Int(v) => *v = order.iter().map(|&i| v[i]).collect(),
        }
    }
}

/// Sorts the rows by the columns at `key`. Upserts that lock their rows in one
/// order, whichever writer or process runs them, cannot deadlock each other.
fn sort_rows(columns: &mut [Column], key: &[usize]) {
    let Some(rows) = columns.first().map(|c| match c {
        Column::Text(v) => v.len(),
        Column::Int(v) => v.len(),
    }) else {
        return;
    };
    let mut order: Vec<usize> = (0..rows).collect();
    order.sort_unstable_by(|&a, &b| {
        key.iter()
            .map(|&c| columns[c].compare(a, b))
            .find(|o| o.is_ne())
            .unwrap_or(Ordering::Equal)
    });
    for column in columns {
        column.reorder(&order);
    }
}

/// One data-modifying clause: its SQL with `{}` where its arrays' placeholders go.
struct Part {
    table: String,
    /// `INSERT INTO t (cols) SELECT * FROM unnest({}) …` or an update from `unnest`.
    sql: String,
    columns: Vec<Column>,
}

/// Gathers a row's values into the columns, in the order they are bound.
struct RowCursor<'c> {
    columns: &'c mut Vec<Column>,
    at: usize,
    capacity: usize,
    /// A column bound as text in one row and as a number in another: a bug, reported
    /// as an error rather than written wrongly.
    mixed: bool,
}

impl RowCursor<'_> {
    fn column(&mut self, text: bool) -> Option<&mut Column> {
        if self.columns.len() == self.at {
            self.columns.push(if text {
                Column::Text(Vec::with_capacity(self.capacity))
            } else {
                Column::Int(Vec::with_capacity(self.capacity))
            });
        }
        self.at += 1;
        self.columns.get_mut(self.at - 1)
    }
}

impl Bind for RowCursor<'_> {
    fn text(&mut self, value: &str) -> &mut dyn Bind {
        self.opt(Some(value))
    }

    fn opt(&mut self, value: Option<&str>) -> &mut dyn Bind {
        match self.column(true) {
            Some(Column::Text(values)) => values.push(value.map(str::to_string)),
            _ => self.mixed = true,
        }
        self
    }

    fn int(&mut self, value: i64) -> &mut dyn Bind {
        match self.column(false) {
            Some(Column::Int(values)) => values.push(value),
            _ => self.mixed = true,
        }
        self
    }
}

/// Statements of array-bound parts; a table appears at most once per statement
/// (two clauses of one statement cannot see each other's rows).
#[derive(Default)]
pub(crate) struct ArrayStatements {
    statements: Vec<Vec<Part>>,
}

impl ArrayStatements {
    fn push(&mut self, part: Part) {
        match self.statements.last_mut() {
            Some(parts) if parts.iter().all(|p| p.table != part.table) => parts.push(part),
            _ => self.statements.push(vec![part]),
        }
    }

    /// Whether everything goes out in one statement.
    pub(crate) fn is_single(&self) -> bool {
        self.statements.len() == 1
    }

    /// Runs the statements on `conn` (inside the caller's transaction).
    pub(crate) async fn execute(self, conn: &mut PgConnection) -> StoreResult<()> {
        for parts in self.statements {
            let mut sql = String::new();
            let mut n = 0;
            let one = parts.len() == 1;
            for (i, part) in parts.iter().enumerate() {
                let args: Vec<String> = part
                    .columns
                    .iter()
                    .map(|c| {
                        n += 1;
                        format!("${n}::{}", c.cast())
                    })
                    .collect();
                let clause = part.sql.replacen("{}", &args.join(", "), 1);
                if one {
                    sql = clause;
                } else {
                    sql.push_str(if i == 0 { "WITH " } else { ", " });
                    sql.push_str(&format!("w{i} AS ({clause})"));
                }
            }
            if !one {
                sql.push_str(" SELECT 1");
            }
            let mut query = sqlx::query(&sql);
            for part in parts {
                for column in part.columns {
                    query = match column {
                        Column::Text(values) => query.bind(values),
                        Column::Int(values) => query.bind(values),
                    };
                }
            }
            query.execute(&mut *conn).await?;
        }
        Ok(())
    }
}

impl RowSink for ArrayStatements {
    fn insert<R>(
        &mut self,
        table: &str,
        cols: &[&str],
        on_conflict: OnConflict<'_>,
        rows: &[R],
        bind: impl Fn(&mut dyn Bind, &R),
    ) -> StoreResult<()> {
        if rows.is_empty() {
            return Ok(());
        }
        let mut columns = Vec::with_capacity(cols.len());
        let mut mixed = false;
        for row in rows {
            let mut cursor = RowCursor {
                columns: &mut columns,
                at: 0,
                capacity: rows.len(),
                mixed: false,
            };
            bind(&mut cursor, row);
            mixed |= cursor.mixed || cursor.at != cols.len();
        }
        if mixed {
            return Err(StoreError::Configuration(format!(
                "the rows of {table} do not bind the same types to its columns"
            )));
        }
        let key: Vec<usize> = match on_conflict {
            OnConflict::Fail => Vec::new(),
            OnConflict::Ignore(key) => (0..cols.len())
                .filter(|&i| key.contains(&cols[i]))
                .collect(),
            OnConflict::Add(add) => (0..cols.len())
                .filter(|&i| !add.contains(&cols[i]))
                .collect(),
        };
        if !key.is_empty() {
            sort_rows(&mut columns, &key);
        }
        let sql = format!(
            "{}SELECT * FROM unnest({{}}){}",
            insert_head(table, cols),
            conflict_clause(table, cols, on_conflict)
        );
        self.push(Part {
            table: table.to_string(),
            sql,
            columns,
        });
        Ok(())
    }

    fn set_by_id(&mut self, table: &str, column: &str, value: i64, id: &str) -> StoreResult<()> {
        // Updates of one column of one table gather into one statement.
        let sql = format!(
            "UPDATE {table} SET {column} = u.value FROM unnest({{}}) AS u(id, value) WHERE {table}.id = u.id"
        );
        let found = self
            .statements
            .iter_mut()
            .flatten()
            .find(|p| p.table == table && p.sql == sql);
        match found {
            Some(part) => {
                if let [Column::Text(ids), Column::Int(values)] = part.columns.as_mut_slice() {
                    ids.push(Some(id.to_string()));
                    values.push(value);
                }
            }
            None => self.push(Part {
                table: table.to_string(),
                sql,
                columns: vec![
                    Column::Text(vec![Some(id.to_string())]),
                    Column::Int(vec![value]),
                ],
            }),
        }
        Ok(())
    }
}
