use super::audit::audited;
use super::{on_db, AuditRow, Db, StoreError, StoreResult};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct InviteRow {
    pub id: String,
    pub org_id: String,
    pub email: String,
    pub role: String,
    pub invited_by: Option<String>,
    pub created_at: i64,
    pub expires_at: i64,
    pub accepted_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

const COLUMNS: &str =
    "id, org_id, email, role, invited_by, created_at, expires_at, accepted_at, revoked_at";

impl Db {
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn insert_invite(
        &self,
        invite: &InviteRow,
        token_hash: &str,
        audit: &[AuditRow],
    ) -> StoreResult<()> {
        audited!(self, audit, |tx| {
            sqlx::query(
                "INSERT INTO invites (id, org_id, email, role, token_hash, invited_by, created_at, expires_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            )
            .bind(&invite.id)
            .bind(&invite.org_id)
            .bind(&invite.email)
            .bind(&invite.role)
            .bind(token_hash)
            .bind(&invite.invited_by)
            .bind(invite.created_at)
            .bind(invite.expires_at)
            .execute(&mut *tx)
            .await
            .map_err(StoreError::classify)?;
        })
    }

    /// Pending (not accepted, not revoked) invites of an organization.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn pending_invites(&self, org_id: &str) -> StoreResult<Vec<InviteRow>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM invites WHERE org_id = $1 AND accepted_at IS NULL AND revoked_at IS NULL ORDER BY created_at DESC"
        );
        on_db!(self, |pool| Ok(sqlx::query_as(&sql)
            .bind(org_id)
            .fetch_all(pool)
            .await?))
    }

    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn invite_in_org(&self, org_id: &str, id: &str) -> StoreResult<Option<InviteRow>> {
        let sql = format!("SELECT {COLUMNS} FROM invites WHERE org_id = $1 AND id = $2");
        on_db!(self, |pool| Ok(sqlx::query_as(&sql)
            .bind(org_id)
            .bind(id)
            .fetch_optional(pool)
            .await?))
    }

    /// A usable invite by token: pending and not expired.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn invite_by_token(
        &self,
        token_hash: &str,
        now: i64,
    ) -> StoreResult<Option<InviteRow>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM invites WHERE token_hash = $1 AND accepted_at IS NULL AND revoked_at IS NULL AND expires_at > $2"
        );
        on_db!(self, |pool| Ok(sqlx::query_as(&sql)
            .bind(token_hash)
            .bind(now)
            .fetch_optional(pool)
            .await?))
    }

    /// Accepts an invite for a user in one transaction: the invite is used up and the
    /// membership created (or its role kept if the user already belongs). False when
    /// the invite was used or revoked meanwhile.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn accept_invite(
        &self,
        invite: &InviteRow,
        user_id: &str,
        now: i64,
        audit: &[AuditRow],
    ) -> StoreResult<bool> {
        audited!(self, audit, |tx| {
            let used = sqlx::query(
                "UPDATE invites SET accepted_at = $2 WHERE id = $1 AND accepted_at IS NULL AND revoked_at IS NULL AND expires_at > $2",
            )
            .bind(&invite.id)
            .bind(now)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if used != 1 {
                return Ok(false);
            }
            sqlx::query(
                "INSERT INTO memberships (org_id, user_id, role, created_at) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (org_id, user_id) DO NOTHING",
            )
            .bind(&invite.org_id)
            .bind(user_id)
            .bind(&invite.role)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            true
        })
    }

    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn revoke_invite(&self, id: &str, now: i64, audit: &[AuditRow]) -> StoreResult<bool> {
        audited!(self, audit, |tx| {
            sqlx::query(
                "UPDATE invites SET revoked_at = $2 WHERE id = $1 AND accepted_at IS NULL AND revoked_at IS NULL",
            )
            .bind(id)
            .bind(now)
            .execute(&mut *tx)
            .await?
            .rows_affected() == 1
        })
    }

    /// A new token and a new 7-day window for a pending invite (resend).
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn renew_invite(
        &self,
        id: &str,
        token_hash: &str,
        expires_at: i64,
        audit: &[AuditRow],
    ) -> StoreResult<bool> {
        audited!(self, audit, |tx| {
            sqlx::query(
                "UPDATE invites SET token_hash = $2, expires_at = $3 WHERE id = $1 AND accepted_at IS NULL AND revoked_at IS NULL",
            )
            .bind(id)
            .bind(token_hash)
            .bind(expires_at)
            .execute(&mut *tx)
            .await?
            .rows_affected() == 1
        })
    }
}
