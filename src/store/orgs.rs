use super::audit::audited;
use super::coordination::BUMP_CACHE_GENERATION;
use super::{on_db, AuditRow, Db, StoreError, StoreResult};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct OrgRow {
    pub id: String,
    pub name: String,
    pub plan: String,
    pub created_at: i64,
}

impl Db {
    /// Creates an organization and its first member in one transaction.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn insert_org_with_owner(
        &self,
        org: &OrgRow,
        owner_id: &str,
        audit: &[AuditRow],
    ) -> StoreResult<()> {
        audited!(self, audit, |tx| {
            sqlx::query(
                "INSERT INTO organizations (id, name, plan, created_at) VALUES ($1, $2, $3, $4)",
            )
            .bind(&org.id)
            .bind(&org.name)
            .bind(&org.plan)
            .bind(org.created_at)
            .execute(&mut *tx)
            .await
            .map_err(StoreError::classify)?;
            sqlx::query("INSERT INTO memberships (org_id, user_id, role, created_at) VALUES ($1, $2, 'OWNER', $3)")
                .bind(&org.id)
                .bind(owner_id)
                .bind(org.created_at)
                .execute(&mut *tx)
                .await
                .map_err(StoreError::classify)?;
        })
    }

    /// Finds a live organization by id or, failing that, by exact name.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn org_by_ref(&self, reference: &str) -> StoreResult<Option<OrgRow>> {
        on_db!(self, |pool| Ok(sqlx::query_as(
            "SELECT id, name, plan, created_at FROM organizations
             WHERE deleted_at IS NULL AND (id = $1 OR name = $1)
             ORDER BY CASE WHEN id = $1 THEN 0 ELSE 1 END LIMIT 1",
        )
        .bind(reference)
        .fetch_optional(pool)
        .await?))
    }

    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn set_org_plan(&self, org_id: &str, plan: &str) -> StoreResult<bool> {
        on_db!(self, |pool| {
            let mut tx = pool.begin().await?;
            let done = sqlx::query(
                "UPDATE organizations SET plan = $2 WHERE id = $1 AND deleted_at IS NULL",
            )
            .bind(org_id)
            .bind(plan)
            .execute(&mut *tx)
            .await?;
            sqlx::query(BUMP_CACHE_GENERATION).execute(&mut *tx).await?;
            tx.commit().await?;
            Ok(done.rows_affected() == 1)
        })
    }
}

impl Db {
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn add_membership(
        &self,
        org_id: &str,
        user_id: &str,
        role: &str,
        now: i64,
    ) -> StoreResult<()> {
        on_db!(self, |pool| {
            sqlx::query("INSERT INTO memberships (org_id, user_id, role, created_at) VALUES ($1, $2, $3, $4)")
                .bind(org_id)
                .bind(user_id)
                .bind(role)
                .bind(now)
                .execute(pool)
                .await
                .map_err(StoreError::classify)?;
        });
        Ok(())
    }
}
