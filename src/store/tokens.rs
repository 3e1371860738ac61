use super::audit::audited;
use super::{on_db, AuditRow, Db, StoreError, StoreResult};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TokenAuthRow {
    pub id: String,
    pub user_id: String,
    pub expires_at: Option<i64>,
    pub last_used_at: Option<i64>,
}

pub struct NewPersonalToken<'a> {
    pub id: &'a str,
    pub user_id: &'a str,
    pub name: &'a str,
    pub prefix: &'a str,
    pub token_hash: &'a str,
    pub created_at: i64,
    pub expires_at: Option<i64>,
}

impl Db {
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn insert_personal_token(
        &self,
        t: &NewPersonalToken<'_>,
        audit: &[AuditRow],
    ) -> StoreResult<()> {
        audited!(self, audit, |tx| {
            sqlx::query(
                "INSERT INTO personal_tokens (id, user_id, name, prefix, token_hash, created_at, expires_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(t.id)
            .bind(t.user_id)
            .bind(t.name)
            .bind(t.prefix)
            .bind(t.token_hash)
            .bind(t.created_at)
            .bind(t.expires_at)
            .execute(&mut *tx)
            .await
            .map_err(StoreError::classify)?;
        })
    }

    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn personal_token_for_auth(
        &self,
        token_hash: &str,
    ) -> StoreResult<Option<TokenAuthRow>> {
        on_db!(self, |pool| {
            Ok(sqlx::query_as(
            "SELECT id, user_id, expires_at, last_used_at FROM personal_tokens WHERE token_hash = $1 AND revoked_at IS NULL",
        )
        .bind(token_hash)
        .fetch_optional(pool)
        .await?)
        })
    }

    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn touch_personal_token(&self, id: &str, now: i64) -> StoreResult<()> {
        on_db!(self, |pool| {
            sqlx::query("UPDATE personal_tokens SET last_used_at = $2 WHERE id = $1")
                .bind(id)
                .bind(now)
                .execute(pool)
                .await?;
        });
        Ok(())
    }
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TokenRow {
    pub id: String,
    pub name: String,
    pub prefix: String,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
    pub expires_at: Option<i64>,
}

impl Db {
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn set_personal_token_expiry(
        &self,
        id: &str,
        expires_at: Option<i64>,
    ) -> StoreResult<()> {
        on_db!(self, |pool| {
            sqlx::query("UPDATE personal_tokens SET expires_at = $2 WHERE id = $1")
                .bind(id)
                .bind(expires_at)
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn list_personal_tokens(&self, user_id: &str) -> StoreResult<Vec<TokenRow>> {
        on_db!(self, |pool| Ok(sqlx::query_as(
            "SELECT id, name, prefix, created_at, last_used_at, expires_at FROM personal_tokens
             WHERE user_id = $1 AND revoked_at IS NULL ORDER BY created_at DESC",
        )
        .bind(user_id)
        .fetch_all(pool)
        .await?))
    }

    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn revoke_personal_token(
        &self,
        user_id: &str,
        id: &str,
        now: i64,
        audit: &[AuditRow],
    ) -> StoreResult<bool> {
        audited!(self, audit, |tx| {
            sqlx::query(
                "UPDATE personal_tokens SET revoked_at = $3 WHERE user_id = $1 AND id = $2 AND revoked_at IS NULL",
            )
            .bind(user_id)
            .bind(id)
            .bind(now)
            .execute(&mut *tx)
            .await?
            .rows_affected() == 1
        })
    }
}
