use super::audit::audited;
use super::coordination::BUMP_CACHE_GENERATION;
use super::{on_db, AuditRow, Db, StoreError, StoreResult};

pub struct NewApiKey<'a> {
    pub id: &'a str,
    pub project_id: &'a str,
    pub public_id: &'a str,
    pub secret_hash: &'a str,
    pub label: Option<&'a str>,
    pub allowed_app: Option<&'a str>,
    pub created_at: i64,
    pub expires_at: Option<i64>,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ApiKeyRow {
    pub id: String,
    pub project_id: String,
    pub public_id: String,
    pub label: Option<String>,
    pub allowed_app: Option<String>,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
    pub expires_at: Option<i64>,
    pub revoked_at: Option<i64>,
    /// The number of the key's project, for its DSN.
    pub project_number: i64,
}

/// Everything ingest needs to accept or refuse a key, in one lookup.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ApiKeyAuthRow {
    pub id: String,
    pub project_id: String,
    pub secret_hash: String,
    pub allowed_app: Option<String>,
    pub expires_at: Option<i64>,
    pub revoked_at: Option<i64>,
    pub plan: String,
}

impl Db {
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn insert_api_key(&self, k: &NewApiKey<'_>, audit: &[AuditRow]) -> StoreResult<()> {
        audited!(self, audit, |tx| {
            sqlx::query(
                "INSERT INTO api_keys (id, project_id, public_id, secret_hash, label, allowed_app, created_at, expires_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            )
            .bind(k.id)
            .bind(k.project_id)
            .bind(k.public_id)
            .bind(k.secret_hash)
            .bind(k.label)
            .bind(k.allowed_app)
            .bind(k.created_at)
            .bind(k.expires_at)
            .execute(&mut *tx)
            .await
            .map_err(StoreError::classify)?;
        })
    }

    /// Keys that count against the plan's cap: neither revoked nor deleted.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn count_active_api_keys(&self, project_id: &str) -> StoreResult<i64> {
        on_db!(self, |pool| {
            Ok(sqlx::query_scalar(
            "SELECT COUNT(*) FROM api_keys WHERE project_id = $1 AND revoked_at IS NULL AND deleted_at IS NULL",
        )
        .bind(project_id)
        .fetch_one(pool)
        .await?)
        })
    }

    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn list_api_keys(&self, project_id: &str) -> StoreResult<Vec<ApiKeyRow>> {
        on_db!(self, |pool| {
            Ok(sqlx::query_as(
            "SELECT k.id, k.project_id, k.public_id, k.label, k.allowed_app, k.created_at, k.last_used_at,
                    k.expires_at, k.revoked_at, p.number AS project_number
             FROM api_keys k JOIN projects p ON p.id = k.project_id
             WHERE k.project_id = $1 AND k.deleted_at IS NULL ORDER BY k.created_at, k.id",
        )
        .bind(project_id)
        .fetch_all(pool)
        .await?)
        })
    }

    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn revoke_api_key(
        &self,
        id: &str,
        now: i64,
        audit: &[AuditRow],
    ) -> StoreResult<bool> {
        audited!(self, audit, |tx| {
            let done = sqlx::query(
                "UPDATE api_keys SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL AND deleted_at IS NULL",
            )
            .bind(id)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            sqlx::query(BUMP_CACHE_GENERATION).execute(&mut *tx).await?;
            done.rows_affected() == 1
        })
    }

    /// A key whose project and organization are live, revoked or not (so that its
    /// holder can be told). Revocation and expiry are left to the caller, which
    /// checks the secret first and compares against its own clock.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn api_key_for_auth(&self, public_id: &str) -> StoreResult<Option<ApiKeyAuthRow>> {
        on_db!(self, |pool| {
            Ok(sqlx::query_as(
            "SELECT k.id, k.project_id, k.secret_hash, k.allowed_app, k.expires_at, k.revoked_at, o.plan
             FROM api_keys k
             JOIN projects p ON p.id = k.project_id
             JOIN organizations o ON o.id = p.org_id
             WHERE k.public_id = $1 AND k.deleted_at IS NULL
               AND p.deleted_at IS NULL AND o.deleted_at IS NULL",
        )
        .bind(public_id)
        .fetch_optional(pool)
        .await?)
        })
    }
}
