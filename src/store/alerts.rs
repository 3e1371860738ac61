//! Alerts: each project's settings, the outbox of decided alerts, spikes, and
//! the fan-out of an alert into notifications and deliveries.

use super::audit::{audited, AuditRow};
use super::coordination::BUMP_CACHE_GENERATION;
use super::filters::{in_json_list, json_list};
use super::notifications::NotificationRow;
use super::rollup_write::{OnConflict, RowSink};
use super::{on_db, Db, StoreResult, WriteSummary};
use crate::domain::alerts::AlertKind;
use crate::domain::ids::new_id;

/// A decided alert, waiting in the outbox or fanned out.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AlertRow {
    pub id: String,
    pub kind: String,
    pub project_id: String,
    pub group_id: Option<String>,
    pub count: Option<i64>,
    pub window_minutes: Option<i64>,
    pub follow_up: i64,
    pub month: Option<String>,
    pub occurred_at: i64,
}

/// A member of a project's organization, with their preferences and role.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AlertRecipientRow {
    pub user_id: String,
    pub email: String,
    pub notification_prefs: Option<String>,
    pub role: String,
}

/// One delivery the fan-out creates: to a webhook, or to a user's mailbox.
#[derive(Debug, Clone)]
pub struct NewDelivery {
    pub id: String,
    pub webhook_id: Option<String>,
    pub user_id: Option<String>,
    pub email: Option<String>,
}

/// What a group's spike looks like after this evaluation recorded it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpikeRecord {
    /// Reported before, not due for a follow-up.
    Known,
    /// A new spike, or a follow-up (`true`), written to the outbox.
    Alerted { follow_up: bool },
}

const ALERT_COLUMNS: &str =
    "id, kind, project_id, group_id, count, window_minutes, follow_up, month, occurred_at";

/// The new and regressed groups of an ingest commit, as outbox rows in its own
/// final statement: a group's alert exists exactly when its commit does.
pub(super) fn push_group_alerts(
    sink: &mut impl RowSink,
    summary: &WriteSummary,
    now: i64,
) -> StoreResult<()> {
    let rows: Vec<(String, AlertKind, &str, &str)> = summary
        .new_groups
        .iter()
        .map(|g| (AlertKind::NewGroup, g))
        .chain(
            summary
                .regressed_groups
                .iter()
                .map(|g| (AlertKind::Regression, g)),
        )
        .map(|(kind, (project, group))| (new_id(), kind, project.as_str(), group.as_str()))
        .collect();
    sink.insert(
        "alerts",
        &["id", "kind", "project_id", "group_id", "occurred_at"],
        OnConflict::Fail,
        &rows,
        |b, (id, kind, project, group)| {
            b.text(id)
                .text(kind.as_str())
                .text(project)
                .text(group)
                .int(now);
        },
    )
}

impl Db {
    /// The project's stored settings (JSON), `None` for the defaults.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn alert_settings(&self, project_id: &str) -> StoreResult<Option<String>> {
        on_db!(self, |pool| {
            let stored: Option<Option<String>> =
                sqlx::query_scalar("SELECT alert_settings FROM projects WHERE id = $1")
                    .bind(project_id)
                    .fetch_optional(pool)
                    .await?;
            Ok(stored.flatten())
        })
    }

    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn set_alert_settings(
        &self,
        project_id: &str,
        json: &str,
        audit: &[AuditRow],
    ) -> StoreResult<()> {
        audited!(self, audit, |tx| {
            sqlx::query("UPDATE projects SET alert_settings = $2 WHERE id = $1")
                .bind(project_id)
                .bind(json)
                .execute(&mut *tx)
                .await?;
            // Every process drops its copy of the settings within a poll.
            sqlx::query(BUMP_CACHE_GENERATION).execute(&mut *tx).await?;
        })
    }

    /// A quota alert for the project's organization and `month`, unless one of its
    /// kind is there already. Returns whether this call wrote it.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn insert_quota_alert(
        &self,
        kind: AlertKind,
        project_id: &str,
        month: &str,
        now: i64,
    ) -> StoreResult<bool> {
        on_db!(self, |pool| Ok(sqlx::query(
            "INSERT INTO alerts (id, dedupe_key, kind, project_id, month, occurred_at)
             SELECT $1, 'quota:' || p.org_id || ':' || $2 || ':' || $4, $2, p.id, $4, $5
             FROM projects p WHERE p.id = $3
             ON CONFLICT (dedupe_key) DO NOTHING",
        )
        .bind(new_id())
        .bind(kind.as_str())
        .bind(project_id)
        .bind(month)
        .bind(now)
        .execute(pool)
        .await?
        .rows_affected()
            > 0))
    }

    /// Occurrences of each of `groups` (one project's) since `since`, counted up to
    /// `cap` each, for the groups that are not ignored.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn recent_occurrences(
        &self,
        groups: &[&str],
        since: i64,
        cap: i64,
    ) -> StoreResult<Vec<(String, i64)>> {
        let mut counts = Vec::with_capacity(groups.len());
        on_db!(self, |pool| {
            for group in groups {
                // Bounded by `cap`: a spike is decided once the threshold is reached,
                // however many more there were.
                let n: i64 = sqlx::query_scalar(
                    "SELECT COUNT(*) FROM (
                       SELECT 1 FROM error_occurrences o
                       JOIN error_groups g ON g.id = o.group_id AND g.status <> 'ignored'
                       WHERE o.group_id = $1 AND o.timestamp >= $2 LIMIT $3) AS recent",
                )
                .bind(*group)
                .bind(since)
                .bind(cap)
                .fetch_one(pool)
                .await?;
                counts.push((group.to_string(), n));
            }
        });
        Ok(counts)
    }

    /// Records that `group_id` spikes now with `count` occurrences in the window,
    /// and writes its alert in the same transaction when this is a new spike (the
    /// last one ended more than a window ago) or a follow-up is due. The statement
    /// that updates the group's spike decides; the alert's key makes it once even
    /// when processes decide at the same millisecond.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn record_spike(
        &self,
        project_id: &str,
        group_id: &str,
        count: i64,
        window_minutes: i64,
        follow_up_ms: i64,
        now: i64,
    ) -> StoreResult<SpikeRecord> {
        let window_ms = window_minutes * 60_000;
        on_db!(self, |pool| {
            let mut tx = pool.begin().await?;
            let (started_at, last_alert_at): (i64, i64) = sqlx::query_as(
                "INSERT INTO group_spikes (group_id, started_at, last_alert_at, last_spiking_at)
                 VALUES ($1, $2, $2, $2)
                 ON CONFLICT (group_id) DO UPDATE SET
                   started_at = CASE WHEN group_spikes.last_spiking_at < $2 - $3
                                     THEN $2 ELSE group_spikes.started_at END,
                   last_alert_at = CASE WHEN group_spikes.last_spiking_at < $2 - $3
                                          OR group_spikes.last_alert_at <= $2 - $4
                                        THEN $2 ELSE group_spikes.last_alert_at END,
                   last_spiking_at = CASE WHEN group_spikes.last_spiking_at > $2
                                          THEN group_spikes.last_spiking_at ELSE $2 END
                 RETURNING started_at, last_alert_at",
            )
            .bind(group_id)
            .bind(now)
            .bind(window_ms)
            .bind(follow_up_ms)
            .fetch_one(&mut *tx)
            .await?;
            let mut record = SpikeRecord::Known;
            if last_alert_at == now {
                let follow_up = started_at != now;
                let written = sqlx::query(
                    "INSERT INTO alerts (id, dedupe_key, kind, project_id, group_id, count, window_minutes, follow_up, occurred_at)
                     VALUES ($1, $2, 'spike', $3, $4, $5, $6, $7, $8)
                     ON CONFLICT (dedupe_key) DO NOTHING",
                )
                .bind(new_id())
                .bind(format!("spike:{group_id}:{now}"))
                .bind(project_id)
                .bind(group_id)
                .bind(count)
                .bind(window_minutes)
                .bind(i64::from(follow_up))
                .bind(now)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                if written > 0 {
                    record = SpikeRecord::Alerted { follow_up };
                }
            }
            tx.commit().await?;
            Ok(record)
        })
    }

    /// Claims up to `limit` alerts not yet fanned out (nor claimed by a process
    /// that is still within its lease) for `lease_ms`.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn claim_alerts(
        &self,
        now: i64,
        lease_ms: i64,
        limit: i64,
    ) -> StoreResult<Vec<AlertRow>> {
        let lock = match self {
            Db::Postgres(_) => " FOR UPDATE SKIP LOCKED",
            Db::Sqlite(_) => "",
        };
        let sql = format!(
            "UPDATE alerts SET claimed_until = $1 + $2
             WHERE id IN (SELECT id FROM alerts
                          WHERE dispatched_at IS NULL AND (claimed_until IS NULL OR claimed_until < $1)
                          ORDER BY occurred_at LIMIT $3{lock})
             RETURNING {ALERT_COLUMNS}"
        );
        on_db!(self, |pool| Ok(sqlx::query_as(&sql)
            .bind(now)
            .bind(lease_ms)
            .bind(limit)
            .fetch_all(pool)
            .await?))
    }

    /// Fans a claimed alert out in one transaction: marks it dispatched with the
    /// message every channel tells, and adds the bell's notifications and the
    /// deliveries. Returns false (and writes nothing) when another process did it
    /// first.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn finish_dispatch(
        &self,
        alert_id: &str,
        message: &str,
        notifications: &[NotificationRow],
        deliveries: &[NewDelivery],
        now: i64,
    ) -> StoreResult<bool> {
        on_db!(self, |pool| {
            let mut tx = pool.begin().await?;
            let marked = sqlx::query(
                "UPDATE alerts SET dispatched_at = $2, message = $3
                 WHERE id = $1 AND dispatched_at IS NULL",
            )
            .bind(alert_id)
            .bind(now)
            .bind(message)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if marked == 0 {
                return Ok(false);
            }
            for n in notifications {
                sqlx::query(
                    "INSERT INTO notifications (id, user_id, project_id, kind, title, body, target, created_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                )
                .bind(&n.id)
                .bind(&n.user_id)
                .bind(&n.project_id)
                .bind(&n.kind)
                .bind(&n.title)
                .bind(&n.body)
                .bind(&n.target)
                .bind(n.created_at)
                .execute(&mut *tx)
                .await?;
            }
            for d in deliveries {
                sqlx::query(
                    "INSERT INTO alert_deliveries (id, alert_id, channel, webhook_id, user_id, email, status, attempts, next_attempt_at, created_at)
                     VALUES ($1, $2, $3, $4, $5, $6, 'pending', 0, $7, $7)",
                )
                .bind(&d.id)
                .bind(alert_id)
                .bind(if d.webhook_id.is_some() { "webhook" } else { "email" })
                .bind(&d.webhook_id)
                .bind(&d.user_id)
                .bind(&d.email)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
            Ok(true)
        })
    }

    /// The message an alert was fanned out with.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn alert_message(&self, alert_id: &str) -> StoreResult<Option<String>> {
        on_db!(self, |pool| {
            let found: Option<Option<String>> =
                sqlx::query_scalar("SELECT message FROM alerts WHERE id = $1")
                    .bind(alert_id)
                    .fetch_optional(pool)
                    .await?;
            Ok(found.flatten())
        })
    }

    /// Distinct users (user id, else anonymous id) a group has affected.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn group_users(&self, group_id: &str) -> StoreResult<i64> {
        on_db!(self, |pool| Ok(sqlx::query_scalar(
            "SELECT COUNT(DISTINCT identity) FROM rollup_error_users_daily WHERE group_id = $1",
        )
        .bind(group_id)
        .fetch_one(pool)
        .await?))
    }

    /// Members of the project's organization with their role, for the fan-out.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn alert_recipients(&self, project_id: &str) -> StoreResult<Vec<AlertRecipientRow>> {
        on_db!(self, |pool| Ok(sqlx::query_as(
            "SELECT u.id AS user_id, u.email, u.notification_prefs, m.role FROM projects p
             JOIN organizations o ON o.id = p.org_id AND o.deleted_at IS NULL
             JOIN memberships m ON m.org_id = p.org_id
             JOIN users u ON u.id = m.user_id
             WHERE p.id = $1 AND p.deleted_at IS NULL ORDER BY u.id",
        )
        .bind(project_id)
        .fetch_all(pool)
        .await?))
    }

    /// Settings of the given projects (JSON or `None` for the defaults).
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn alert_settings_of(
        &self,
        project_ids: &[&str],
    ) -> StoreResult<Vec<(String, Option<String>)>> {
        let postgres = matches!(self, Db::Postgres(_));
        let sql = format!(
            "SELECT id, alert_settings FROM projects WHERE {}",
            in_json_list("id", 1, postgres)
        );
        on_db!(self, |pool| Ok(sqlx::query_as(&sql)
            .bind(json_list(project_ids.iter().copied()))
            .fetch_all(pool)
            .await?))
    }

    /// Forgets alerts fanned out before `cutoff`, with their finished deliveries
    /// and logged attempts, and spikes that ended before it. Returns the rows
    /// deleted.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn delete_old_alerts(&self, cutoff: i64) -> StoreResult<u64> {
        let mut deleted = 0;
        on_db!(self, |pool| {
            for sql in [
                "DELETE FROM delivery_attempts WHERE attempted_at < $1",
                "DELETE FROM alert_deliveries WHERE status <> 'pending' AND created_at < $1",
                "DELETE FROM alerts WHERE dispatched_at < $1
                   AND NOT EXISTS (SELECT 1 FROM alert_deliveries d WHERE d.alert_id = alerts.id)",
                "DELETE FROM group_spikes WHERE last_spiking_at < $1",
            ] {
                deleted += sqlx::query(sql)
                    .bind(cutoff)
                    .execute(pool)
                    .await?
                    .rows_affected();
            }
        });
        Ok(deleted)
    }
}
