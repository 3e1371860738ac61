//! The ingest writer's own PostgreSQL connection, kept from one commit to the next,
//! and the commit of a group of events on it in a single round trip.

use crate::store::array_write::ArrayStatements;
use crate::store::StoreResult;
use sqlx::pool::PoolConnection;
use sqlx::{PgPool, Postgres};
use std::time::Duration;

/// A PostgreSQL connection the ingest writer keeps between its commits: taking one
/// from the pool costs a round trip (sqlx checks an idle connection before handing
/// it out) and handing it back another, on every commit. One whose group failed is
/// closed.
#[derive(Default)]
pub struct WriterConnection {
    pub(super) conn: Option<PoolConnection<Postgres>>,
    /// The statement and lock timeouts (ms) set on the session of `conn`: such a
    /// connection is never handed back to the pool, where it would cut other
    /// queries short.
    pub(super) timeout_ms: Option<u128>,
}

impl WriterConnection {
    /// Lets the connection go (a closed pool must stop the writer too).
    pub(super) fn let_go(&mut self) {
        if let Some(conn) = self.conn.take() {
            if self.timeout_ms.take().is_some() {
                drop(conn.detach());
            }
        }
    }
}

impl Drop for WriterConnection {
    fn drop(&mut self) {
        self.let_go();
    }
}

/// The timeout to set for a budget: whole seconds below it, so that successive
/// groups (each with a little less left) need no new setting.
fn timeout_for(budget_ms: u128) -> u128 {
    if budget_ms >= 2_000 {
        budget_ms / 1_000 * 1_000
    } else {
        budget_ms
    }
}

impl WriterConnection {
    /// Runs `statement` on its own: it commits by itself, one round trip with no
    /// `BEGIN` or `COMMIT`. The budget is the session's statement and lock timeout,
    /// set again only when it is above the budget or a second or more below it.
    pub(super) async fn run_alone(
        &mut self,
        pool: &PgPool,
        statement: ArrayStatements,
        budget: Option<Duration>,
    ) -> StoreResult<()> {
        let mut conn = match self.conn.take() {
            Some(conn) => conn,
            None => {
                self.timeout_ms = None;
                pool.acquire().await?
            }
        };
        let want = budget.map(|b| timeout_for(b.as_millis().max(1)));
        let set = match (want, self.timeout_ms) {
            (None, None) => None,
            // No budget: no timeout (0 turns it off).
            (None, Some(_)) => Some(0),
            (Some(want), None) => Some(want),
            (Some(want), Some(now)) if now > want || now + 1_000 <= want => Some(want),
            (Some(_), Some(_)) => None,
        };
        let mut result = Ok(());
        if let Some(ms) = set {
            let sql = format!("SET statement_timeout = {ms}; SET lock_timeout = {ms}");
            result = sqlx::Executor::execute(&mut *conn, sql.as_str())
                .await
                .map(|_| ())
                .map_err(Into::into);
            self.timeout_ms = (ms > 0).then_some(ms);
        }
        if result.is_ok() {
            result = statement.execute(&mut conn).await;
        }
        match result {
            Ok(()) => {
                self.conn = Some(conn);
                Ok(())
            }
            Err(e) => {
                self.timeout_ms = None;
                let _ = conn.close().await;
                Err(e)
            }
        }
    }
}
