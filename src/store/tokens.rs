use super::{on_db, Db, StoreError, StoreResult};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TokenAuthRow {
    pub id: String,
    pub user_id: String,
    pub expires_at: Option<i64>,
}

impl Db {
    pub async fn insert_personal_token(
        &self,
        id: &str,
        user_id: &str,
        name: &str,
        prefix: &str,
        token_hash: &str,
        now: i64,
    ) -> StoreResult<()> {
        on_db!(self, pool => {
            sqlx::query(
                "INSERT INTO personal_tokens (id, user_id, name, prefix, token_hash, created_at)
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(id)
            .bind(user_id)
            .bind(name)
            .bind(prefix)
            .bind(token_hash)
            .bind(now)
            .execute(pool)
            .await
            .map_err(StoreError::classify)?;
        });
        Ok(())
    }

    pub async fn personal_token_for_auth(
        &self,
        token_hash: &str,
    ) -> StoreResult<Option<TokenAuthRow>> {
        on_db!(self, pool => Ok(sqlx::query_as(
            "SELECT id, user_id, expires_at FROM personal_tokens WHERE token_hash = $1 AND revoked_at IS NULL",
        )
        .bind(token_hash)
        .fetch_optional(pool)
        .await?))
    }

    pub async fn touch_personal_token(&self, id: &str, now: i64) -> StoreResult<()> {
        on_db!(self, pool => {
            sqlx::query("UPDATE personal_tokens SET last_used_at = $2 WHERE id = $1")
                .bind(id)
                .bind(now)
                .execute(pool)
                .await?;
        });
        Ok(())
    }
}
