//! Plan limits kept in the database so that every process on it shares them: each
//! project's request rate (a GCRA arrival time that processes take leases from) and
//! the property values each day's roll-ups may break down.

use super::{on_db, Db, StoreResult};
use std::collections::HashSet;

/// Tokens taken from a project's shared request rate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLease {
    pub granted: u32,
    /// The project's theoretical arrival time after the lease (µs): with nothing
    /// granted, the next token frees up at `tat + interval - burst window`.
    pub tat_us: i64,
}

/// One (project, event name, property, UTC day) whose property values are capped.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PropDay {
    pub project_id: String,
    pub name: String,
    pub prop: String,
    pub day: i64,
}

/// The first key of the advisory locks that serialize property-value reservations.
const PROP_VALUES_LOCK: i32 = 0x7072_6f70;

const TAKE_RATE_LEASE_PG: &str = "UPDATE rate_limits SET
        granted = GREATEST(0, LEAST($5, ($2 + $4 - GREATEST(tat, $2)) / $3)),
        tat = GREATEST(tat, $2) + GREATEST(0, LEAST($5, ($2 + $4 - GREATEST(tat, $2)) / $3)) * $3
     WHERE project_id = $1 RETURNING granted, tat";
const TAKE_RATE_LEASE_SQLITE: &str = "UPDATE rate_limits SET
        granted = MAX(0, MIN($5, ($2 + $4 - MAX(tat, $2)) / $3)),
        tat = MAX(tat, $2) + MAX(0, MIN($5, ($2 + $4 - MAX(tat, $2)) / $3)) * $3
     WHERE project_id = $1 RETURNING granted, tat";

impl Db {
    /// Takes up to `want` tokens from the project's rate of `interval_us` per token
    /// with a burst window of `burst_us`, in one statement: however many processes
    /// ask at once, they are never granted more than the rate and burst allow.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn take_rate_lease(
        &self,
        project_id: &str,
        now_us: i64,
        interval_us: i64,
        burst_us: i64,
        want: u32,
    ) -> StoreResult<RateLease> {
        let sql = match self {
            Db::Sqlite(_) => TAKE_RATE_LEASE_SQLITE,
            Db::Postgres(_) => TAKE_RATE_LEASE_PG,
        };
        for _ in 0..2 {
            let row: Option<(i64, i64)> = on_db!(self, |pool| sqlx::query_as(sql)
                .bind(project_id)
                .bind(now_us)
                .bind(interval_us.max(1))
                .bind(burst_us)
                .bind(i64::from(want))
                .fetch_optional(pool)
                .await?);
            if let Some((granted, tat_us)) = row {
                return Ok(RateLease {
                    granted: u32::try_from(granted).unwrap_or(0),
                    tat_us,
                });
            }
            // A project's first request: its bucket starts full.
            on_db!(self, |pool| sqlx::query(
                "INSERT INTO rate_limits (project_id, tat, granted) VALUES ($1, 0, 0)
                 ON CONFLICT (project_id) DO NOTHING",
            )
            .bind(project_id)
            .execute(pool)
            .await
            .map(|_| ())?);
        }
        Ok(RateLease {
            granted: 0,
            tat_us: now_us,
        })
    }

    /// Records the property values of `wanted` a day may still break down, at most
    /// `cap` per (project, name, property, day) for every process together, and
    /// returns each day's whole list (values other processes kept included).
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn reserve_prop_values(
        &self,
        wanted: &[(PropDay, Vec<String>)],
        cap: usize,
    ) -> StoreResult<Vec<(PropDay, Vec<String>)>> {
        let mut wanted: Vec<&(PropDay, Vec<String>)> = wanted.iter().collect();
        // One lock order for every process: no deadlock between two writers.
        wanted.sort_by(|a, b| a.0.cmp(&b.0));
        let mut projects: Vec<&str> = wanted.iter().map(|w| w.0.project_id.as_str()).collect();
        projects.dedup();
        on_db!(self, |pool| {
            let mut tx = match self {
                Db::Sqlite(_) => pool.begin_with("BEGIN IMMEDIATE").await?,
                Db::Postgres(_) => pool.begin().await?,
            };
            if let Db::Postgres(_) = self {
                for project_id in &projects {
                    // The two-key form: its key space is apart from the jobs' locks.
                    sqlx::query("SELECT pg_advisory_xact_lock($1, hashtext($2))")
                        .bind(PROP_VALUES_LOCK)
                        .bind(*project_id)
                        .execute(&mut *tx)
                        .await?;
                }
            }
            let mut out = Vec::with_capacity(wanted.len());
            for (day, values) in wanted {
                let mut kept: Vec<String> = sqlx::query_scalar(
                    "SELECT value FROM prop_value_days
                     WHERE project_id = $1 AND name = $2 AND prop = $3 AND day = $4",
                )
                .bind(&day.project_id)
                .bind(&day.name)
                .bind(&day.prop)
                .bind(day.day)
                .fetch_all(&mut *tx)
                .await?;
                let known: HashSet<&str> = kept.iter().map(String::as_str).collect();
                // `values` come distinct and in the order they arrived: the first
                // ones of the day are the ones kept.
                let mut new: Vec<&String> = values
                    .iter()
                    .filter(|v| !known.contains(v.as_str()))
                    .collect();
                new.truncate(cap.saturating_sub(kept.len()));
                for value in &new {
                    sqlx::query(
                        "INSERT INTO prop_value_days (project_id, name, prop, day, value)
                         VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
                    )
                    .bind(&day.project_id)
                    .bind(&day.name)
                    .bind(&day.prop)
                    .bind(day.day)
                    .bind(*value)
                    .execute(&mut *tx)
                    .await?;
                }
                kept.extend(new.into_iter().cloned());
                out.push((day.clone(), kept));
            }
            tx.commit().await?;
            Ok(out)
        })
    }

    /// Forgets the kept property values of days before `day`.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn delete_old_prop_values(&self, day: i64) -> StoreResult<u64> {
        on_db!(self, |pool| Ok(sqlx::query(
            "DELETE FROM prop_value_days WHERE day < $1"
        )
        .bind(day)
        .execute(pool)
        .await?
        .rows_affected()))
    }
}
