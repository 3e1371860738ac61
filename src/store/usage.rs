use super::{on_db, Db, StoreResult};

impl Db {
    /// Atomically adds `units` to the month's counter unless that would pass `limit`.
    /// Returns `Ok(Ok(total))`, the counter after the addition, when it fits and
    /// `Ok(Err(used))` when it does not, so concurrent requests (even from several
    /// processes) never overshoot the quota.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn reserve_usage(
        &self,
        project_id: &str,
        month: &str,
        units: i64,
        limit: i64,
    ) -> StoreResult<Result<i64, i64>> {
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
            if let Some(total) = reserved {
                return Ok(Ok(total));
            }
        });
        Ok(Err(self.usage(project_id, month).await?))
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

/// One project of an organization its owner is looking at, with its usage of a
/// month (for the dashboard's quota banner).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct OwnedUsageRow {
    pub project_id: String,
    pub project_name: String,
    pub plan: String,
    pub units: i64,
    pub alert_settings: Option<String>,
}

impl Db {
    /// The month's usage of every project of `org_id`, with the organization's plan
    /// and each project's alert settings; nothing unless `user_id` owns the
    /// organization. One statement, as it runs on every page an owner opens.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn owned_org_usage(
        &self,
        org_id: &str,
        user_id: &str,
        month: &str,
    ) -> StoreResult<Vec<OwnedUsageRow>> {
        on_db!(self, |pool| Ok(sqlx::query_as(
            "SELECT p.id AS project_id, p.name AS project_name, o.plan,
                    COALESCE(u.units, 0) AS units, p.alert_settings
             FROM projects p
             JOIN organizations o ON o.id = p.org_id AND o.deleted_at IS NULL
             JOIN memberships m ON m.org_id = p.org_id AND m.user_id = $2 AND m.role = 'OWNER'
             LEFT JOIN usage_monthly u ON u.project_id = p.id AND u.month = $3
             WHERE p.org_id = $1 AND p.deleted_at IS NULL
             ORDER BY p.name, p.id",
        )
        .bind(org_id)
        .bind(user_id)
        .bind(month)
        .fetch_all(pool)
        .await?))
    }
}
