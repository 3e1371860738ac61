//! The SQLite ingest writer's own connection, used from the writer's thread
//! directly. Through sqlx every statement is a hand-off to a worker thread and an
//! answer back; a commit of single events from many clients is a dozen small
//! statements, and those hand-offs took longer than the writing. Groups of nothing
//! but events (the common case) are written here, with statements prepared once and
//! kept; everything else goes through `Db::write_ingest_group`.

use super::ingest_write::{
    event_usage, events_of, push_bookkeeping, push_event_inserts, WriteItem, WriteOutcome,
    WriteSummary,
};
use super::rollup_write::{
    conflict_clause, insert_head, push_event_rollups, Bind, EventRollups, OnConflict, RowSink,
};
use super::{Db, StoreResult};
use rusqlite::{Connection, OpenFlags, Transaction, TransactionBehavior};

pub struct DirectWriter {
    conn: Connection,
}

impl Db {
    /// A direct connection for the ingest writer to the same SQLite file as the
    /// pool, with the pool's durability setting; `None` on PostgreSQL, and for a
    /// database that is not a file in WAL mode (in memory), which the pool keeps.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn direct_writer(&self) -> StoreResult<Option<DirectWriter>> {
        let Db::Sqlite(pool) = self else {
            return Ok(None);
        };
        let file = super::sqlite_file::main_file(pool).await?;
        let journal: String = sqlx::query_scalar("PRAGMA journal_mode")
            .fetch_one(pool)
            .await?;
        if file.is_empty() || !journal.eq_ignore_ascii_case("wal") {
            return Ok(None);
        }
        let synchronous: i64 = sqlx::query_scalar("PRAGMA synchronous")
            .fetch_one(pool)
            .await?;
        // Never creates the file: a database deleted under us is a fault.
        let conn = Connection::open_with_flags(
            file,
            OpenFlags::SQLITE_OPEN_READ_WRITE
                | OpenFlags::SQLITE_OPEN_NO_MUTEX
                | OpenFlags::SQLITE_OPEN_URI,
        )?;
        conn.busy_timeout(super::SQLITE_BUSY_TIMEOUT)?;
        conn.execute_batch(&format!(
            "PRAGMA synchronous = {synchronous};
             PRAGMA foreign_keys = ON;
             PRAGMA cache_size = -{};
             PRAGMA wal_autocheckpoint = {};
             PRAGMA journal_size_limit = {};",
            super::SQLITE_CACHE_KIB,
            super::WRITER_CHECKPOINT_PAGES,
            super::WAL_SIZE_LIMIT_BYTES,
        ))?;
        conn.set_prepared_statement_cache_capacity(64);
        Ok(Some(DirectWriter { conn }))
    }
}

impl DirectWriter {
    /// Writes a group of nothing but events in one transaction: the events, their
    /// usage, app labels and key touches, and their roll-ups.
    /// How long the next commits wait for the write lock (their requests' deadline).
    pub fn wait_at_most(&mut self, wait: std::time::Duration) -> StoreResult<()> {
        self.conn
            .busy_timeout(wait.min(super::SQLITE_BUSY_TIMEOUT))?;
        Ok(())
    }

    pub fn write_events(
        &mut self,
        items: &[WriteItem<'_>],
        new_apps: &[(String, String)],
        used_keys: &[&str],
        rollups: &EventRollups,
        now: i64,
    ) -> WriteOutcome {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut sink = Prepared(&tx);
        push_event_inserts(&mut sink, &events_of(items), now)?;
        push_bookkeeping(&mut sink, &event_usage(items), new_apps, used_keys, now)?;
        push_event_rollups(&mut sink, rollups, now)?;
        tx.commit()?;
        Ok(WriteSummary::default())
    }
}

/// Rows written one at a time through cached prepared statements.
struct Prepared<'t>(&'t Transaction<'t>);

impl RowSink for Prepared<'_> {
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
        let placeholders = vec!["?"; cols.len()].join(", ");
        let sql = format!(
            "{}VALUES ({placeholders}){}",
            insert_head(table, cols),
            conflict_clause(table, cols, on_conflict)
        );
        let mut statement = self.0.prepare_cached(&sql)?;
        for row in rows {
            let mut params = Params {
                statement: &mut statement,
                next: 1,
                failed: None,
            };
            bind(&mut params, row);
            if let Some(e) = params.failed {
                return Err(e.into());
            }
            statement.raw_execute()?;
        }
        Ok(())
    }

    fn set_by_id(&mut self, table: &str, column: &str, value: i64, id: &str) -> StoreResult<()> {
        self.0
            .prepare_cached(&format!("UPDATE {table} SET {column} = ? WHERE id = ?"))?
            .execute((value, id))?;
        Ok(())
    }
}

/// Binds a row's values to the statement's parameters in order.
struct Params<'s, 'c> {
    statement: &'s mut rusqlite::CachedStatement<'c>,
    next: usize,
    /// The first binding that failed; reported once the row is bound.
    failed: Option<rusqlite::Error>,
}

impl Params<'_, '_> {
    fn bind(&mut self, value: impl rusqlite::ToSql) -> &mut dyn Bind {
        if let Err(e) = self.statement.raw_bind_parameter(self.next, value) {
            self.failed.get_or_insert(e);
        }
        self.next += 1;
        self
    }
}

impl Bind for Params<'_, '_> {
    fn text(&mut self, value: &str) -> &mut dyn Bind {
        self.bind(value)
    }

    fn opt(&mut self, value: Option<&str>) -> &mut dyn Bind {
        self.bind(value)
    }

    fn int(&mut self, value: i64) -> &mut dyn Bind {
        self.bind(value)
    }
}
