//! Memberships and the organization/project management queries behind them.

use super::audit::audited;
use super::coordination::BUMP_CACHE_GENERATION;
use super::{on_db, AuditRow, Db, OrgRow, ProjectRow, StoreResult};

/// An organization as one member sees it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct MyOrgRow {
    pub id: String,
    pub name: String,
    pub plan: String,
    pub created_at: i64,
    pub role: String,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct MemberRow {
    pub user_id: String,
    pub email: String,
    pub name: Option<String>,
    pub role: String,
    pub created_at: i64,
}

impl Db {
    /// The caller's role in a live organization, or `None` (not a member, or gone).
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn member_role(&self, org_id: &str, user_id: &str) -> StoreResult<Option<String>> {
        on_db!(self, |pool| Ok(sqlx::query_scalar(
            "SELECT m.role FROM memberships m JOIN organizations o ON o.id = m.org_id
             WHERE m.org_id = $1 AND m.user_id = $2 AND o.deleted_at IS NULL",
        )
        .bind(org_id)
        .bind(user_id)
        .fetch_optional(pool)
        .await?))
    }

    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn orgs_of_user(&self, user_id: &str) -> StoreResult<Vec<MyOrgRow>> {
        on_db!(self, |pool| Ok(sqlx::query_as(
            "SELECT o.id, o.name, o.plan, o.created_at, m.role FROM organizations o
             JOIN memberships m ON m.org_id = o.id AND m.user_id = $1
             WHERE o.deleted_at IS NULL ORDER BY o.name, o.id",
        )
        .bind(user_id)
        .fetch_all(pool)
        .await?))
    }

    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn org_by_id(&self, id: &str) -> StoreResult<Option<OrgRow>> {
        on_db!(self, |pool| {
            Ok(sqlx::query_as(
            "SELECT id, name, plan, created_at FROM organizations WHERE id = $1 AND deleted_at IS NULL",
        )
        .bind(id)
        .fetch_optional(pool)
        .await?)
        })
    }

    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn rename_org(&self, id: &str, name: &str, audit: &[AuditRow]) -> StoreResult<()> {
        audited!(self, audit, |tx| {
            sqlx::query("UPDATE organizations SET name = $2 WHERE id = $1 AND deleted_at IS NULL")
                .bind(id)
                .bind(name)
                .execute(&mut *tx)
                .await
                .map_err(super::StoreError::classify)?;
        })
    }

    /// Soft-deletes an organization; its projects and keys stop working with it.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn delete_org(&self, id: &str, now: i64, audit: &[AuditRow]) -> StoreResult<()> {
        audited!(self, audit, |tx| {
            sqlx::query(
                "UPDATE organizations SET deleted_at = $2 WHERE id = $1 AND deleted_at IS NULL",
            )
            .bind(id)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            sqlx::query(BUMP_CACHE_GENERATION).execute(&mut *tx).await?;
        })
    }

    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn list_members(&self, org_id: &str) -> StoreResult<Vec<MemberRow>> {
        on_db!(self, |pool| Ok(sqlx::query_as(
            "SELECT u.id AS user_id, u.email, u.name, m.role, m.created_at FROM memberships m
             JOIN users u ON u.id = m.user_id WHERE m.org_id = $1 ORDER BY u.email",
        )
        .bind(org_id)
        .fetch_all(pool)
        .await?))
    }

    /// Changes a role unless that would leave the organization without an owner.
    /// Returns false when the member does not exist; `Err(Conflict)` is not used:
    /// the last-owner rule is checked inside the statement so it holds under races.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn set_member_role(
        &self,
        org_id: &str,
        user_id: &str,
        role: &str,
        audit: &[AuditRow],
    ) -> StoreResult<u64> {
        audited!(self, audit, |tx| {
            sqlx::query(
                "UPDATE memberships SET role = $3 WHERE org_id = $1 AND user_id = $2
                 AND ($3 = 'OWNER' OR role <> 'OWNER'
                      OR (SELECT COUNT(*) FROM memberships o WHERE o.org_id = $1 AND o.role = 'OWNER') > 1)",
            )
            .bind(org_id)
            .bind(user_id)
            .bind(role)
            .execute(&mut *tx)
            .await?
            .rows_affected()
        })
    }

    /// Removes a member unless it is the last owner. Returns rows removed.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn remove_member(
        &self,
        org_id: &str,
        user_id: &str,
        audit: &[AuditRow],
    ) -> StoreResult<u64> {
        audited!(self, audit, |tx| {
            sqlx::query(
                "DELETE FROM memberships WHERE org_id = $1 AND user_id = $2
                 AND (role <> 'OWNER' OR (SELECT COUNT(*) FROM memberships o WHERE o.org_id = $1 AND o.role = 'OWNER') > 1)",
            )
            .bind(org_id)
            .bind(user_id)
            .execute(&mut *tx)
            .await?
            .rows_affected()
        })
    }

    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn projects_of_org(&self, org_id: &str) -> StoreResult<Vec<ProjectRow>> {
        on_db!(self, |pool| {
            Ok(sqlx::query_as(
            "SELECT id, org_id, name, slug, created_at, number FROM projects WHERE org_id = $1 AND deleted_at IS NULL ORDER BY name, id",
        )
        .bind(org_id)
        .fetch_all(pool)
        .await?)
        })
    }

    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn rename_project(
        &self,
        id: &str,
        name: &str,
        audit: &[AuditRow],
    ) -> StoreResult<()> {
        audited!(self, audit, |tx| {
            sqlx::query("UPDATE projects SET name = $2 WHERE id = $1 AND deleted_at IS NULL")
                .bind(id)
                .bind(name)
                .execute(&mut *tx)
                .await?;
        })
    }

    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn delete_project(&self, id: &str, now: i64, audit: &[AuditRow]) -> StoreResult<()> {
        audited!(self, audit, |tx| {
            sqlx::query("UPDATE projects SET deleted_at = $2 WHERE id = $1 AND deleted_at IS NULL")
                .bind(id)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            sqlx::query(BUMP_CACHE_GENERATION).execute(&mut *tx).await?;
        })
    }

    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn api_key_project(&self, key_id: &str) -> StoreResult<Option<(String, String)>> {
        on_db!(self, |pool| Ok(sqlx::query_as(
            "SELECT project_id, public_id FROM api_keys WHERE id = $1 AND deleted_at IS NULL",
        )
        .bind(key_id)
        .fetch_optional(pool)
        .await?))
    }
}
