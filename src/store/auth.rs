//! Dashboard sessions, password resets and account updates.

use super::{on_db, Db, StoreError, StoreResult, UserRow};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct UserSessionRow {
    pub id: String,
    pub user_id: String,
    pub created_at: i64,
    pub last_seen_at: i64,
    pub expires_at: i64,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

pub struct NewUserSession<'a> {
    pub id: &'a str,
    pub user_id: &'a str,
    pub token_hash: &'a str,
    pub now: i64,
    pub expires_at: i64,
    pub ip: Option<&'a str>,
    pub user_agent: Option<&'a str>,
}

const SESSION_COLUMNS: &str = "id, user_id, created_at, last_seen_at, expires_at, ip, user_agent";

/// What a password change ends besides the old password.
#[derive(Debug, Clone, Copy)]
pub struct SignOut<'a> {
    /// The session that stays signed in (the one changing the password), if any.
    pub keep_session: Option<&'a str>,
}

impl Db {
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn user_by_id(&self, id: &str) -> StoreResult<Option<UserRow>> {
        on_db!(self, |pool| {
            Ok(sqlx::query_as(
            "SELECT id, email, name, password_hash, is_admin, created_at, disabled_at FROM users WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(pool)
        .await?)
        })
    }

    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn set_user_name(&self, id: &str, name: Option<&str>, now: i64) -> StoreResult<()> {
        on_db!(self, |pool| {
            sqlx::query("UPDATE users SET name = $2, updated_at = $3 WHERE id = $1")
                .bind(id)
                .bind(name)
                .bind(now)
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    /// Sets a new password and, in the same transaction, ends the user's dashboard
    /// sessions but `keep` and revokes every personal token, when `sign_out` says so.
    /// Returns the sessions ended and the tokens revoked.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn set_user_password(
        &self,
        id: &str,
        password_hash: &str,
        now: i64,
        sign_out: Option<SignOut<'_>>,
    ) -> StoreResult<(u64, u64)> {
        on_db!(self, |pool| {
            let mut tx = pool.begin().await?;
            sqlx::query("UPDATE users SET password_hash = $2, updated_at = $3 WHERE id = $1")
                .bind(id)
                .bind(password_hash)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            let mut ended = (0, 0);
            if let Some(SignOut { keep_session }) = sign_out {
                ended.0 = sqlx::query("DELETE FROM user_sessions WHERE user_id = $1 AND id <> $2")
                    .bind(id)
                    .bind(keep_session.unwrap_or(""))
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                ended.1 = sqlx::query(
                    "UPDATE personal_tokens SET revoked_at = $2 WHERE user_id = $1 AND revoked_at IS NULL",
                )
                .bind(id)
                .bind(now)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            }
            tx.commit().await?;
            Ok(ended)
        })
    }

    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn insert_user_session(&self, s: &NewUserSession<'_>) -> StoreResult<()> {
        on_db!(self, |pool| {
            sqlx::query(
                "INSERT INTO user_sessions (id, user_id, token_hash, created_at, last_seen_at, expires_at, ip, user_agent)
                 VALUES ($1, $2, $3, $4, $4, $5, $6, $7)",
            )
            .bind(s.id)
            .bind(s.user_id)
            .bind(s.token_hash)
            .bind(s.now)
            .bind(s.expires_at)
            .bind(s.ip)
            .bind(s.user_agent)
            .execute(pool)
            .await
            .map_err(StoreError::classify)?;
        });
        Ok(())
    }

    /// A live session by its token hash.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn user_session_by_hash(
        &self,
        token_hash: &str,
        now: i64,
    ) -> StoreResult<Option<UserSessionRow>> {
        let sql = format!(
            "SELECT {SESSION_COLUMNS} FROM user_sessions WHERE token_hash = $1 AND expires_at > $2"
        );
        on_db!(self, |pool| Ok(sqlx::query_as(&sql)
            .bind(token_hash)
            .bind(now)
            .fetch_optional(pool)
            .await?))
    }

    /// Slides a session's expiry forward.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn touch_user_session(&self, id: &str, now: i64, expires_at: i64) -> StoreResult<()> {
        on_db!(self, |pool| {
            sqlx::query(
                "UPDATE user_sessions SET last_seen_at = $2, expires_at = $3 WHERE id = $1",
            )
            .bind(id)
            .bind(now)
            .bind(expires_at)
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn list_user_sessions(
        &self,
        user_id: &str,
        now: i64,
    ) -> StoreResult<Vec<UserSessionRow>> {
        let sql = format!(
            "SELECT {SESSION_COLUMNS} FROM user_sessions WHERE user_id = $1 AND expires_at > $2 ORDER BY last_seen_at DESC"
        );
        on_db!(self, |pool| Ok(sqlx::query_as(&sql)
            .bind(user_id)
            .bind(now)
            .fetch_all(pool)
            .await?))
    }

    /// Ends one of a user's sessions; false when it is not theirs or already gone.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn delete_user_session(&self, user_id: &str, id: &str) -> StoreResult<bool> {
        on_db!(self, |pool| {
            let done = sqlx::query("DELETE FROM user_sessions WHERE user_id = $1 AND id = $2")
                .bind(user_id)
                .bind(id)
                .execute(pool)
                .await?;
            Ok(done.rows_affected() == 1)
        })
    }

    /// Ends every session of a user except `keep` (if any). Returns how many ended.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn delete_other_user_sessions(
        &self,
        user_id: &str,
        keep: Option<&str>,
    ) -> StoreResult<u64> {
        on_db!(self, |pool| Ok(sqlx::query(
            "DELETE FROM user_sessions WHERE user_id = $1 AND id <> $2"
        )
        .bind(user_id)
        .bind(keep.unwrap_or(""))
        .execute(pool)
        .await?
        .rows_affected()))
    }

    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn insert_password_reset(
        &self,
        id: &str,
        user_id: &str,
        token_hash: &str,
        now: i64,
        expires_at: i64,
    ) -> StoreResult<()> {
        on_db!(self, |pool| {
            sqlx::query(
                "INSERT INTO password_resets (id, user_id, token_hash, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(id)
            .bind(user_id)
            .bind(token_hash)
            .bind(now)
            .bind(expires_at)
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    /// Marks a live, unused reset link used and returns its user, atomically, so a
    /// link works once even when clicked twice at the same time.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn use_password_reset(
        &self,
        token_hash: &str,
        now: i64,
    ) -> StoreResult<Option<String>> {
        on_db!(self, |pool| Ok(sqlx::query_scalar(
            "UPDATE password_resets SET used_at = $2
             WHERE token_hash = $1 AND used_at IS NULL AND expires_at > $2
             RETURNING user_id",
        )
        .bind(token_hash)
        .bind(now)
        .fetch_optional(pool)
        .await?))
    }

    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn instance_setting(&self, key: &str) -> StoreResult<Option<String>> {
        on_db!(self, |pool| Ok(sqlx::query_scalar(
            "SELECT value FROM instance_settings WHERE key = $1"
        )
        .bind(key)
        .fetch_optional(pool)
        .await?))
    }
}

/// A sign-up waiting for its address to be confirmed.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SignupRow {
    pub email: String,
    pub password_hash: String,
    pub name: Option<String>,
    pub org_name: Option<String>,
}

impl Db {
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn insert_signup_request(
        &self,
        id: &str,
        s: &SignupRow,
        token_hash: &str,
        now: i64,
        expires_at: i64,
    ) -> StoreResult<()> {
        on_db!(self, |pool| {
            sqlx::query(
                "INSERT INTO signup_requests (id, email, password_hash, name, org_name, token_hash, created_at, expires_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            )
            .bind(id)
            .bind(&s.email)
            .bind(&s.password_hash)
            .bind(&s.name)
            .bind(&s.org_name)
            .bind(token_hash)
            .bind(now)
            .bind(expires_at)
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    /// Uses up a live sign-up link, atomically, and returns what was asked for.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn use_signup_request(
        &self,
        token_hash: &str,
        now: i64,
    ) -> StoreResult<Option<SignupRow>> {
        on_db!(self, |pool| Ok(sqlx::query_as(
            "UPDATE signup_requests SET used_at = $2
             WHERE token_hash = $1 AND used_at IS NULL AND expires_at > $2
             RETURNING email, password_hash, name, org_name",
        )
        .bind(token_hash)
        .bind(now)
        .fetch_optional(pool)
        .await?))
    }
}
