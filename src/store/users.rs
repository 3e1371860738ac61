use super::{on_db, Db, StoreError, StoreResult};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct UserRow {
    pub id: String,
    pub email: String,
    pub name: Option<String>,
    pub password_hash: String,
    pub is_admin: i64,
    pub created_at: i64,
    /// Set while an administrator has disabled the account.
    pub disabled_at: Option<i64>,
}

const COLUMNS: &str = "id, email, name, password_hash, is_admin, created_at, disabled_at";

impl Db {
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn count_users(&self) -> StoreResult<i64> {
        on_db!(self, |pool| {
            let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users")
                .fetch_one(pool)
                .await?;
            Ok(n)
        })
    }

    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn insert_user(&self, user: &UserRow) -> StoreResult<()> {
        on_db!(self, |pool| {
            sqlx::query(
                "INSERT INTO users (id, email, name, password_hash, is_admin, created_at, updated_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $6)",
            )
            .bind(&user.id)
            .bind(&user.email)
            .bind(&user.name)
            .bind(&user.password_hash)
            .bind(user.is_admin)
            .bind(user.created_at)
            .execute(pool)
            .await
            .map_err(StoreError::classify)?;
        });
        Ok(())
    }

    /// (theme, notification preferences as JSON) of a user.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn user_prefs(&self, id: &str) -> StoreResult<Option<(String, Option<String>)>> {
        on_db!(self, |pool| Ok(sqlx::query_as(
            "SELECT theme, notification_prefs FROM users WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(pool)
        .await?))
    }

    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn set_user_theme(&self, id: &str, theme: &str, now: i64) -> StoreResult<()> {
        on_db!(self, |pool| {
            sqlx::query("UPDATE users SET theme = $2, updated_at = $3 WHERE id = $1")
                .bind(id)
                .bind(theme)
                .bind(now)
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn set_notification_prefs(&self, id: &str, prefs: &str, now: i64) -> StoreResult<()> {
        on_db!(self, |pool| {
            sqlx::query("UPDATE users SET notification_prefs = $2, updated_at = $3 WHERE id = $1")
                .bind(id)
                .bind(prefs)
                .bind(now)
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn user_by_email(&self, email: &str) -> StoreResult<Option<UserRow>> {
        let sql = format!("SELECT {COLUMNS} FROM users WHERE email = $1");
        on_db!(self, |pool| Ok(sqlx::query_as(&sql)
            .bind(email)
            .fetch_optional(pool)
            .await?))
    }
}
