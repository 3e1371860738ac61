//! Project webhooks, the deliveries of alerts to them (and to mailboxes), and the
//! log of every attempt.

use super::audit::{audited, AuditRow};
use super::{on_db, Db, StoreResult};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct WebhookRow {
    pub id: String,
    pub project_id: String,
    pub name: String,
    pub url: String,
    pub format: String,
    /// JSON list of alert kinds.
    pub kinds: String,
    pub secret: String,
    pub created_at: i64,
    pub disabled_at: Option<i64>,
    pub disabled_reason: Option<String>,
}

/// A delivery claimed for sending.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct DueDelivery {
    pub id: String,
    pub alert_id: String,
    pub channel: String,
    pub webhook_id: Option<String>,
    pub email: Option<String>,
    pub attempts: i64,
    pub claim: String,
}

/// How one attempt ended, and what follows for the delivery.
#[derive(Debug, Clone)]
pub struct AttemptRecord {
    pub outcome: &'static str,
    pub http_status: Option<i64>,
    pub latency_ms: i64,
    pub error: Option<String>,
    pub response: Option<String>,
    /// `pending` (with `next_attempt_at`), `delivered` or `failed`.
    pub status: &'static str,
    pub next_attempt_at: Option<i64>,
    /// Disables the webhook with this reason (a `410 Gone`).
    pub disable_webhook: Option<String>,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AttemptRow {
    pub id: String,
    pub delivery_id: String,
    pub alert_id: String,
    pub kind: String,
    pub attempt: i64,
    pub attempted_at: i64,
    pub outcome: String,
    pub http_status: Option<i64>,
    pub latency_ms: i64,
    pub error: Option<String>,
    pub response: Option<String>,
}

const WEBHOOK_COLUMNS: &str =
    "id, project_id, name, url, format, kinds, secret, created_at, disabled_at, disabled_reason";

impl Db {
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn insert_webhook(&self, w: &WebhookRow, audit: &[AuditRow]) -> StoreResult<()> {
        audited!(self, audit, |tx| {
            sqlx::query(
                "INSERT INTO webhooks (id, project_id, name, url, format, kinds, secret, created_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            )
            .bind(&w.id)
            .bind(&w.project_id)
            .bind(&w.name)
            .bind(&w.url)
            .bind(&w.format)
            .bind(&w.kinds)
            .bind(&w.secret)
            .bind(w.created_at)
            .execute(&mut *tx)
            .await?;
        })
    }

    /// The project's webhooks, oldest first.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn webhooks_of(&self, project_id: &str) -> StoreResult<Vec<WebhookRow>> {
        on_db!(self, |pool| Ok(sqlx::query_as(&format!(
            "SELECT {WEBHOOK_COLUMNS} FROM webhooks
             WHERE project_id = $1 AND deleted_at IS NULL ORDER BY created_at, id"
        ))
        .bind(project_id)
        .fetch_all(pool)
        .await?))
    }

    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn webhook(&self, project_id: &str, id: &str) -> StoreResult<Option<WebhookRow>> {
        on_db!(self, |pool| Ok(sqlx::query_as(&format!(
            "SELECT {WEBHOOK_COLUMNS} FROM webhooks
             WHERE project_id = $1 AND id = $2 AND deleted_at IS NULL"
        ))
        .bind(project_id)
        .bind(id)
        .fetch_optional(pool)
        .await?))
    }

    /// Deletes the webhook; its pending deliveries are cancelled with it.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn delete_webhook(
        &self,
        project_id: &str,
        id: &str,
        now: i64,
        audit: &[AuditRow],
    ) -> StoreResult<bool> {
        audited!(self, audit, |tx| {
            let deleted = sqlx::query(
                "UPDATE webhooks SET deleted_at = $3
                 WHERE project_id = $1 AND id = $2 AND deleted_at IS NULL",
            )
            .bind(project_id)
            .bind(id)
            .bind(now)
            .execute(&mut *tx)
            .await?
            .rows_affected()
                > 0;
            sqlx::query(
                "UPDATE alert_deliveries SET status = 'cancelled', finished_at = $2
                 WHERE webhook_id = $1 AND status = 'pending'",
            )
            .bind(id)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            deleted
        })
    }

    /// A delivery for a test alert, claimed by `claim` at once: the caller sends it
    /// and records the attempt like any other.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn insert_test_delivery(
        &self,
        id: &str,
        alert_id: &str,
        webhook_id: &str,
        claim: &str,
        now: i64,
    ) -> StoreResult<()> {
        on_db!(self, |pool| {
            sqlx::query(
                "INSERT INTO alert_deliveries (id, alert_id, channel, webhook_id, status, attempts, next_attempt_at, claim, claimed_until, created_at)
                 VALUES ($1, $2, 'webhook', $3, 'pending', 0, $4, $5, $4 + 60000, $4)",
            )
            .bind(id)
            .bind(alert_id)
            .bind(webhook_id)
            .bind(now)
            .bind(claim)
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    /// Claims up to `limit` deliveries that are due, for `lease_ms`: no other
    /// process sends them meanwhile. One whose sender died is due again once its
    /// lease has passed.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn claim_deliveries(
        &self,
        claim: &str,
        now: i64,
        lease_ms: i64,
        limit: i64,
    ) -> StoreResult<Vec<DueDelivery>> {
        let lock = match self {
            Db::Postgres(_) => " FOR UPDATE SKIP LOCKED",
            Db::Sqlite(_) => "",
        };
        let sql = format!(
            "UPDATE alert_deliveries SET claim = $1, claimed_until = $2 + $3
             WHERE id IN (SELECT id FROM alert_deliveries
                          WHERE status = 'pending' AND next_attempt_at <= $2
                            AND (claimed_until IS NULL OR claimed_until < $2)
                          ORDER BY next_attempt_at LIMIT $4{lock})
             RETURNING id, alert_id, channel, webhook_id, email, attempts, claim"
        );
        on_db!(self, |pool| Ok(sqlx::query_as(&sql)
            .bind(claim)
            .bind(now)
            .bind(lease_ms)
            .bind(limit)
            .fetch_all(pool)
            .await?))
    }

    /// Records an attempt of a delivery this process claimed, and what follows from
    /// it, in one transaction. Returns false when the claim was lost (its lease
    /// passed and another process took the delivery): nothing is written then.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn record_attempt(
        &self,
        delivery: &DueDelivery,
        record: &AttemptRecord,
        now: i64,
    ) -> StoreResult<bool> {
        let finished = (record.status != "pending").then_some(now);
        on_db!(self, |pool| {
            let mut tx = pool.begin().await?;
            let updated = sqlx::query(
                "UPDATE alert_deliveries SET attempts = attempts + 1, status = $3,
                   next_attempt_at = COALESCE($4, next_attempt_at), finished_at = $5,
                   claim = NULL, claimed_until = NULL
                 WHERE id = $1 AND claim = $2",
            )
            .bind(&delivery.id)
            .bind(&delivery.claim)
            .bind(record.status)
            .bind(record.next_attempt_at)
            .bind(finished)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if updated == 0 {
                return Ok(false);
            }
            sqlx::query(
                "INSERT INTO delivery_attempts (id, delivery_id, webhook_id, attempt, attempted_at, outcome, http_status, latency_ms, error, response)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
            )
            .bind(crate::domain::ids::new_id())
            .bind(&delivery.id)
            .bind(&delivery.webhook_id)
            .bind(delivery.attempts + 1)
            .bind(now)
            .bind(record.outcome)
            .bind(record.http_status)
            .bind(record.latency_ms)
            .bind(&record.error)
            .bind(&record.response)
            .execute(&mut *tx)
            .await?;
            if let (Some(reason), Some(webhook)) = (&record.disable_webhook, &delivery.webhook_id) {
                sqlx::query(
                    "UPDATE webhooks SET disabled_at = $2, disabled_reason = $3
                     WHERE id = $1 AND disabled_at IS NULL",
                )
                .bind(webhook)
                .bind(now)
                .bind(reason)
                .execute(&mut *tx)
                .await?;
                sqlx::query(
                    "UPDATE alert_deliveries SET status = 'cancelled', finished_at = $2
                     WHERE webhook_id = $1 AND status = 'pending'",
                )
                .bind(webhook)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
            Ok(true)
        })
    }

    /// A webhook's attempts, newest first; `before` continues from an earlier
    /// page's last (attempted_at, id).
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn webhook_attempts(
        &self,
        webhook_id: &str,
        before: Option<(i64, String)>,
        limit: i64,
    ) -> StoreResult<Vec<AttemptRow>> {
        let (at, id) = before.unwrap_or((i64::MAX, String::new()));
        on_db!(self, |pool| {
            Ok(sqlx::query_as(
            "SELECT a.id, a.delivery_id, d.alert_id, COALESCE(al.kind, 'test') AS kind, a.attempt,
                    a.attempted_at, a.outcome, a.http_status, a.latency_ms, a.error, a.response
             FROM delivery_attempts a
             JOIN alert_deliveries d ON d.id = a.delivery_id
             LEFT JOIN alerts al ON al.id = d.alert_id
             WHERE a.webhook_id = $1 AND (a.attempted_at < $2 OR (a.attempted_at = $2 AND a.id < $3))
             ORDER BY a.attempted_at DESC, a.id DESC LIMIT $4",
        )
        .bind(webhook_id)
        .bind(at)
        .bind(id)
        .bind(limit)
        .fetch_all(pool)
        .await?)
        })
    }
}
