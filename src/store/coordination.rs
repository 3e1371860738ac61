//! What several processes on one database agree through it: who runs each
//! scheduled job run, a lock so runs of one job never overlap, and the generation
//! of the data that caches depend on.

use super::{on_db, Db, StoreResult};
use sqlx::{Postgres, Transaction};

/// Bumps the cache generation; run inside the transaction of every change that
/// cached credentials depend on.
pub(crate) const BUMP_CACHE_GENERATION: &str =
    "UPDATE cache_generation SET generation = generation + 1 WHERE id = 1";

/// The last scheduled run of a job, by whichever process ran it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct JobClaimRow {
    pub job: String,
    pub tick: i64,
    pub instance: String,
    pub started_at: i64,
    pub finished_at: Option<i64>,
    /// 1 succeeded, 0 failed, `None` still running (or its process died).
    pub ok: Option<i64>,
}

/// Held while a job runs: a PostgreSQL transaction-level advisory lock (it works
/// behind PgBouncer in transaction mode, and a process that dies releases it with
/// its connection). Nothing on SQLite, where one process serves.
pub struct JobLock(Option<Transaction<'static, Postgres>>);

impl JobLock {
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn release(self) {
        if let Some(tx) = self.0 {
            let _ = tx.commit().await;
        }
    }
}

impl Db {
    /// Claims the run of `job` scheduled at `tick` for `instance`: true for exactly
    /// one caller however many processes ask.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn claim_job_run(
        &self,
        job: &str,
        tick: i64,
        instance: &str,
        now: i64,
    ) -> StoreResult<bool> {
        on_db!(self, |pool| {
            let done = sqlx::query(
                "INSERT INTO job_claims (job, tick, instance, started_at) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (job, tick) DO NOTHING",
            )
            .bind(job)
            .bind(tick)
            .bind(instance)
            .bind(now)
            .execute(pool)
            .await?;
            Ok(done.rows_affected() == 1)
        })
    }

    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn finish_job_run(
        &self,
        job: &str,
        tick: i64,
        ok: bool,
        now: i64,
    ) -> StoreResult<()> {
        on_db!(self, |pool| {
            sqlx::query(
                "UPDATE job_claims SET finished_at = $3, ok = $4 WHERE job = $1 AND tick = $2",
            )
            .bind(job)
            .bind(tick)
            .bind(now)
            .bind(i64::from(ok))
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    /// Takes the lock of `job`, or `None` while another process holds it.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn try_lock_job(&self, job: &str) -> StoreResult<Option<JobLock>> {
        match self {
            Db::Sqlite(_) => Ok(Some(JobLock(None))),
            Db::Postgres(pool) => {
                let mut tx = pool.begin().await?;
                let got: bool = sqlx::query_scalar(
                    "SELECT pg_try_advisory_xact_lock(hashtext('telemetry-job:' || $1))",
                )
                .bind(job)
                .fetch_one(&mut *tx)
                .await?;
                Ok(got.then_some(JobLock(Some(tx))))
            }
        }
    }

    /// The latest run of each job.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn last_job_claims(&self) -> StoreResult<Vec<JobClaimRow>> {
        on_db!(self, |pool| Ok(sqlx::query_as(
            "SELECT c.job, c.tick, c.instance, c.started_at, c.finished_at, c.ok FROM job_claims c
             WHERE c.tick = (SELECT MAX(l.tick) FROM job_claims l WHERE l.job = c.job)
             ORDER BY c.job",
        )
        .fetch_all(pool)
        .await?))
    }

    /// Forgets claims older than `before` (they only say who ran what).
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn delete_old_job_claims(&self, before: i64) -> StoreResult<u64> {
        on_db!(self, |pool| Ok(sqlx::query(
            "DELETE FROM job_claims WHERE started_at < $1"
        )
        .bind(before)
        .execute(pool)
        .await?
        .rows_affected()))
    }

    #[tracing::instrument(level = "debug", skip_all)]
    /// A write that changes nothing, proving the database takes writes (file
    /// writable, disk not full, a connection to be had).
    pub async fn probe_write(&self) -> StoreResult<()> {
        on_db!(self, |pool| {
            sqlx::query("UPDATE cache_generation SET generation = generation WHERE id = 1")
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    /// What other processes (or this one) changed, in one statement each process
    /// runs every few hundred milliseconds: the cache generation, whether alerts
    /// wait for their fan-out and whether deliveries are due (`now`). The checks
    /// use partial indexes, so an idle deployment reads almost nothing.
    #[tracing::instrument(level = "trace", skip_all)]
    pub async fn shared_changes(&self, now: i64) -> StoreResult<SharedChanges> {
        on_db!(self, |pool| Ok(sqlx::query_as(
            "SELECT generation,
               EXISTS (SELECT 1 FROM alerts WHERE dispatched_at IS NULL
                         AND (claimed_until IS NULL OR claimed_until < $1)) AS alerts_waiting,
               EXISTS (SELECT 1 FROM alert_deliveries WHERE status = 'pending'
                         AND next_attempt_at <= $1
                         AND (claimed_until IS NULL OR claimed_until < $1)) AS deliveries_due
             FROM cache_generation WHERE id = 1",
        )
        .bind(now)
        .fetch_one(pool)
        .await?))
    }
}

#[derive(Debug, Clone, Copy, sqlx::FromRow)]
pub struct SharedChanges {
    pub generation: i64,
    pub alerts_waiting: bool,
    pub deliveries_due: bool,
}
