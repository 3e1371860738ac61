//! Instance administration: the registration policy, users as the administrators
//! see them, disabling, enabling, promoting and deleting accounts, and the
//! instance-level audit log written in the same transaction as each change.

use super::{on_db, Db, StoreResult};

/// An entry of the instance audit log, to be written with the change it records.
#[derive(Debug, Clone)]
pub struct InstanceAudit {
    pub id: String,
    pub actor_id: Option<String>,
    pub action: String,
    pub target: Option<String>,
    pub details: Option<String>,
    pub ip: Option<String>,
    pub created_at: i64,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct InstanceAuditRow {
    pub id: String,
    pub actor_id: Option<String>,
    pub actor_email: Option<String>,
    pub action: String,
    pub target: Option<String>,
    pub details: Option<String>,
    pub ip: Option<String>,
    pub created_at: i64,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AdminUserRow {
    pub id: String,
    pub email: String,
    pub name: Option<String>,
    pub is_admin: i64,
    pub created_at: i64,
    pub last_login_at: Option<i64>,
    pub disabled_at: Option<i64>,
}

/// (user id, organization id, organization name, role) of the users' memberships.
pub type UserMembershipRow = (String, String, String, String);

/// Writes `$audit` in the transaction `$tx` (on either backend).
macro_rules! write_audit {
    ($tx:ident, $a:expr) => {
        sqlx::query(
            "INSERT INTO instance_audit_log (id, actor_id, action, target, details, ip, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&$a.id)
        .bind(&$a.actor_id)
        .bind(&$a.action)
        .bind(&$a.target)
        .bind(&$a.details)
        .bind(&$a.ip)
        .bind($a.created_at)
        .execute(&mut *$tx)
        .await?
    };
}

/// Runs `$body` in a transaction `$tx` and, when it answers `true` (something
/// changed), writes `$audit` in the same transaction: a change and its record are
/// stored together or not at all. Evaluates to `StoreResult<bool>`.
macro_rules! audited_change {
    ($db:expr, $audit:expr, |$tx:ident| $body:expr) => {
        on_db!($db, |pool| {
            let mut $tx = pool.begin().await?;
            let changed: bool = $body;
            if changed {
                write_audit!($tx, $audit);
            }
            $tx.commit().await?;
            Ok(changed)
        })
    };
}

impl Db {
    /// Sets an instance setting, with its audit entry.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn set_instance_setting(
        &self,
        key: &str,
        value: &str,
        audit: &InstanceAudit,
    ) -> StoreResult<()> {
        audited_change!(self, audit, |tx| {
            sqlx::query(
                "INSERT INTO instance_settings (key, value) VALUES ($1, $2)
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            )
            .bind(key)
            .bind(value)
            .execute(&mut *tx)
            .await?;
            true
        })
        .map(drop)
    }

    /// Users by email, `search` matching part of the email or name, after `after`
    /// (an email) for the next page.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn admin_users(
        &self,
        search: Option<&str>,
        after: Option<&str>,
        limit: i64,
    ) -> StoreResult<Vec<AdminUserRow>> {
        let pattern = search.map(|s| {
            let escaped = s
                .to_lowercase()
                .replace('\\', "\\\\")
                .replace('%', "\\%")
                .replace('_', "\\_");
            format!("%{escaped}%")
        });
        on_db!(self, |pool| {
            Ok(sqlx::query_as(
            "SELECT id, email, name, is_admin, created_at, last_login_at, disabled_at FROM users
             WHERE ($1 IS NULL OR LOWER(email) LIKE $1 ESCAPE '\\' OR LOWER(COALESCE(name, '')) LIKE $1 ESCAPE '\\')
               AND email > $2
             ORDER BY email LIMIT $3",
        )
        .bind(pattern)
        .bind(after.unwrap_or(""))
        .bind(limit)
        .fetch_all(pool)
        .await?)
        })
    }

    /// One user as the administrators see it.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn admin_user(&self, id: &str) -> StoreResult<Option<AdminUserRow>> {
        on_db!(self, |pool| Ok(sqlx::query_as(
            "SELECT id, email, name, is_admin, created_at, last_login_at, disabled_at FROM users
             WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(pool)
        .await?))
    }

    /// The organizations each of `user_ids` belongs to, by name.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn memberships_of_users(
        &self,
        user_ids: &[&str],
    ) -> StoreResult<Vec<UserMembershipRow>> {
        let postgres = matches!(self, Db::Postgres(_));
        let sql = format!(
            "SELECT m.user_id, o.id, o.name, m.role FROM memberships m
             JOIN organizations o ON o.id = m.org_id
             WHERE o.deleted_at IS NULL AND {} ORDER BY o.name",
            super::filters::in_json_list("m.user_id", 1, postgres)
        );
        on_db!(self, |pool| Ok(sqlx::query_as(&sql)
            .bind(super::filters::json_list(user_ids.iter().copied()))
            .fetch_all(pool)
            .await?))
    }

    /// Active administrators.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn count_admins(&self) -> StoreResult<i64> {
        on_db!(self, |pool| Ok(sqlx::query_scalar(
            "SELECT COUNT(*) FROM users WHERE is_admin = 1 AND disabled_at IS NULL"
        )
        .fetch_one(pool)
        .await?))
    }

    /// Makes a user an administrator or not. `keep_one`: refuses (answers `false`,
    /// nothing written) when that would leave no active administrator — decided by
    /// the statement that changes the row, so two administrators demoting each other
    /// at once cannot both succeed.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn set_user_admin(
        &self,
        id: &str,
        admin: bool,
        now: i64,
        audit: &InstanceAudit,
    ) -> StoreResult<bool> {
        audited_change!(self, audit, |tx| {
            sqlx::query(
                "UPDATE users SET is_admin = $2, updated_at = $3 WHERE id = $1 AND is_admin <> $2
                 AND ($2 = 1 OR EXISTS (SELECT 1 FROM users o WHERE o.id <> $1 AND o.is_admin = 1
                                        AND o.disabled_at IS NULL))",
            )
            .bind(id)
            .bind(i64::from(admin))
            .bind(now)
            .execute(&mut *tx)
            .await?
            .rows_affected()
                > 0
        })
    }

    /// Disables an account: its sessions end and its tokens are revoked in the same
    /// transaction. Refuses (`false`) the last active administrator.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn disable_user(
        &self,
        id: &str,
        now: i64,
        audit: &InstanceAudit,
    ) -> StoreResult<bool> {
        audited_change!(self, audit, |tx| {
            let changed = sqlx::query(
                "UPDATE users SET disabled_at = $2, updated_at = $2 WHERE id = $1 AND disabled_at IS NULL
                 AND (is_admin = 0 OR EXISTS (SELECT 1 FROM users o WHERE o.id <> $1 AND o.is_admin = 1
                                              AND o.disabled_at IS NULL))",
            )
            .bind(id)
            .bind(now)
            .execute(&mut *tx)
            .await?
            .rows_affected()
                > 0;
            if changed {
                sqlx::query("DELETE FROM user_sessions WHERE user_id = $1")
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                sqlx::query(
                    "UPDATE personal_tokens SET revoked_at = $2 WHERE user_id = $1 AND revoked_at IS NULL",
                )
                .bind(id)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            }
            changed
        })
    }

    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn enable_user(
        &self,
        id: &str,
        now: i64,
        audit: &InstanceAudit,
    ) -> StoreResult<bool> {
        audited_change!(self, audit, |tx| {
            sqlx::query(
                "UPDATE users SET disabled_at = NULL, updated_at = $2 WHERE id = $1 AND disabled_at IS NOT NULL",
            )
            .bind(id)
            .bind(now)
            .execute(&mut *tx)
            .await?
            .rows_affected()
                > 0
        })
    }

    /// Organizations whose only owner is the user (they would be left without one).
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn orgs_solely_owned_by(&self, id: &str) -> StoreResult<Vec<String>> {
        on_db!(self, |pool| Ok(sqlx::query_scalar(
            "SELECT o.name FROM memberships m JOIN organizations o ON o.id = m.org_id
             WHERE m.user_id = $1 AND m.role = 'OWNER' AND o.deleted_at IS NULL
               AND NOT EXISTS (SELECT 1 FROM memberships x WHERE x.org_id = m.org_id
                               AND x.role = 'OWNER' AND x.user_id <> $1)
             ORDER BY o.name",
        )
        .bind(id)
        .fetch_all(pool)
        .await?))
    }

    /// Deletes an account with its sessions, tokens, password resets, memberships and
    /// notifications; invitations it sent stay, without their sender. Refuses
    /// (`false`) the last active administrator.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn delete_user(&self, id: &str, audit: &InstanceAudit) -> StoreResult<bool> {
        on_db!(self, |pool| {
            let mut tx = pool.begin().await?;
            let allowed: Option<String> = sqlx::query_scalar(
                "SELECT id FROM users WHERE id = $1
                 AND (is_admin = 0 OR disabled_at IS NOT NULL
                      OR EXISTS (SELECT 1 FROM users o WHERE o.id <> $1 AND o.is_admin = 1
                                 AND o.disabled_at IS NULL))",
            )
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
            if allowed.is_none() {
                return Ok(false);
            }
            for sql in [
                "DELETE FROM user_sessions WHERE user_id = $1",
                "DELETE FROM personal_tokens WHERE user_id = $1",
                "DELETE FROM password_resets WHERE user_id = $1",
                "DELETE FROM memberships WHERE user_id = $1",
                "DELETE FROM notifications WHERE user_id = $1",
                "UPDATE invites SET invited_by = NULL WHERE invited_by = $1",
                "DELETE FROM users WHERE id = $1",
            ] {
                sqlx::query(sql).bind(id).execute(&mut *tx).await?;
            }
            write_audit!(tx, audit);
            tx.commit().await?;
            Ok(true)
        })
    }

    /// Records a sign-in.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn record_login(&self, id: &str, now: i64) -> StoreResult<()> {
        on_db!(self, |pool| {
            sqlx::query("UPDATE users SET last_login_at = $2 WHERE id = $1")
                .bind(id)
                .bind(now)
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    /// Records a change made outside the routes above (a test mail, the CLI).
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn write_instance_audit(&self, audit: &InstanceAudit) -> StoreResult<()> {
        audited_change!(self, audit, |_tx| true).map(drop)
    }

    /// Newest first; `before` continues from an earlier page's last `created_at`.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn instance_audit_log(
        &self,
        before: Option<i64>,
        limit: i64,
    ) -> StoreResult<Vec<InstanceAuditRow>> {
        on_db!(self, |pool| {
            Ok(sqlx::query_as(
            "SELECT a.id, a.actor_id, u.email AS actor_email, a.action, a.target, a.details, a.ip, a.created_at
             FROM instance_audit_log a LEFT JOIN users u ON u.id = a.actor_id
             WHERE a.created_at < $1 ORDER BY a.created_at DESC, a.id DESC LIMIT $2",
        )
        .bind(before.unwrap_or(i64::MAX))
        .bind(limit)
        .fetch_all(pool)
        .await?)
        })
    }

    /// The database's size in bytes, as the database itself counts it.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn database_size(&self) -> StoreResult<i64> {
        Ok(match self {
            Db::Sqlite(pool) => {
                sqlx::query_scalar(
                    "SELECT page_count * page_size FROM pragma_page_count(), pragma_page_size()",
                )
                .fetch_one(pool)
                .await?
            }
            Db::Postgres(pool) => {
                sqlx::query_scalar("SELECT pg_database_size(current_database())")
                    .fetch_one(pool)
                    .await?
            }
        })
    }

    /// (users, organizations, projects) that exist.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn instance_counts(&self) -> StoreResult<(i64, i64, i64)> {
        on_db!(self, |pool| Ok(sqlx::query_as(
            "SELECT (SELECT COUNT(*) FROM users),
                    (SELECT COUNT(*) FROM organizations WHERE deleted_at IS NULL),
                    (SELECT COUNT(*) FROM projects WHERE deleted_at IS NULL)",
        )
        .fetch_one(pool)
        .await?))
    }
}
