use super::{on_db, Db, StoreResult};

impl Db {
    /// Atomically adds `units` to the month's counter unless that would pass `limit`.
    /// Returns `Ok(None)` when it fits and `Ok(Some(used))` when it does not, so
    /// concurrent requests (even from several processes) never overshoot the quota.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn reserve_usage(
        &self,
        project_id: &str,
        month: &str,
        units: i64,
        limit: i64,
    ) -> StoreResult<Option<i64>> {
        on_db!(self, |pool| {
            let reserved: Option<i64> = sqlx::query_scalar(
                "INSERT INTO usage_monthly (project_id, month, units) SELECT $1, $2, $3 WHERE $3 <= $4
                 ON CONFLICT (project_id, month) DO UPDATE SET units = usage_monthly.units + excluded.units
                 WHERE usage_monthly.units + excluded.units <= $4
                 RETURNING units",
            )
            .bind(project_id)
            .bind(month)
            .bind(units)
            .bind(limit)
            .fetch_optional(pool)
            .await?;
            if reserved.is_some() {
                return Ok(None);
            }
        });
        Ok(Some(self.usage(project_id, month).await?))
    }

    /// Gives back units reserved for a request that was not stored.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn release_usage(
        &self,
        project_id: &str,
        month: &str,
        units: i64,
    ) -> StoreResult<()> {
        on_db!(self, |pool| {
            sqlx::query(
                "UPDATE usage_monthly SET units = units - $3 WHERE project_id = $1 AND month = $2",
            )
            .bind(project_id)
            .bind(month)
            .bind(units)
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn usage(&self, project_id: &str, month: &str) -> StoreResult<i64> {
        on_db!(self, |pool| {
            let used: Option<i64> = sqlx::query_scalar(
                "SELECT units FROM usage_monthly WHERE project_id = $1 AND month = $2",
            )
            .bind(project_id)
            .bind(month)
            .fetch_optional(pool)
            .await?;
            Ok(used.unwrap_or(0))
        })
    }
}
