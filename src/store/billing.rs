//! Organizations' Stripe billing and the Stripe events processed: each event is
//! stored with its effect in one transaction, so a replay finds its id and
//! changes nothing.

use super::audit::{write_audit, AuditRow};
use super::coordination::BUMP_CACHE_GENERATION;
use super::{on_db, Db, StoreResult};
use crate::domain::billing::{BillingState, Decision};
use crate::domain::plans::Plan;

#[derive(Debug, Clone, sqlx::FromRow)]
struct BillingRow {
    plan: String,
    customer_id: Option<String>,
    subscription_id: Option<String>,
    subscription_status: Option<String>,
    price_id: Option<String>,
    current_period_end: Option<i64>,
    cancel_at_period_end: Option<i64>,
    subscription_event_at: Option<i64>,
    subscription_event_rank: Option<i64>,
    past_due_since: Option<i64>,
    invoice_event_at: Option<i64>,
    invoice_event_rank: Option<i64>,
}

impl BillingRow {
    fn state(&self) -> BillingState {
        let at = |t: Option<i64>, rank: Option<i64>| t.map(|t| (t, rank.unwrap_or(0) as i32));
        BillingState {
            customer_id: self.customer_id.clone(),
            subscription_id: self.subscription_id.clone(),
            subscription_status: self.subscription_status.clone(),
            price_id: self.price_id.clone(),
            current_period_end: self.current_period_end,
            cancel_at_period_end: self.cancel_at_period_end.unwrap_or(0) != 0,
            subscription_event: at(self.subscription_event_at, self.subscription_event_rank),
            past_due_since: self.past_due_since,
            invoice_event: at(self.invoice_event_at, self.invoice_event_rank),
        }
    }
}

const SELECT_BILLING: &str =
    "SELECT o.plan, b.customer_id, b.subscription_id, b.subscription_status,
        b.price_id, b.current_period_end, b.cancel_at_period_end, b.subscription_event_at,
        b.subscription_event_rank, b.past_due_since, b.invoice_event_at, b.invoice_event_rank
     FROM organizations o LEFT JOIN org_billing b ON b.org_id = o.id
     WHERE o.id = $1 AND o.deleted_at IS NULL";

/// What became of a Stripe event.
#[derive(Debug)]
pub enum StripeEventOutcome {
    /// Its id was processed before: nothing changed.
    Replay,
    /// No live organization is linked to it.
    NoOrganization,
    Processed {
        decision: Box<Decision>,
        plan_before: Plan,
    },
}

/// The Stripe event as it is recorded.
pub struct StripeEventRecord<'a> {
    pub id: &'a str,
    pub kind: &'a str,
    pub created: i64,
    pub org_id: Option<&'a str>,
    pub now: i64,
    /// Kept while no organization is linked to the event, to apply it once one is.
    pub customer_id: Option<&'a str>,
    pub subscription_id: Option<&'a str>,
    pub payload: &'a [u8],
}

impl Db {
    /// The organization's plan and billing state; `None` for no live organization.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn billing_of(&self, org_id: &str) -> StoreResult<Option<(Plan, BillingState)>> {
        on_db!(self, |pool| {
            let row: Option<BillingRow> = sqlx::query_as(SELECT_BILLING)
                .bind(org_id)
                .fetch_optional(pool)
                .await?;
            Ok(row.map(|r| (Plan::from_stored(&r.plan), r.state())))
        })
    }

    /// The live organization whose Stripe customer, or subscription, this is.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn org_of_stripe(
        &self,
        customer_id: Option<&str>,
        subscription_id: Option<&str>,
    ) -> StoreResult<Option<String>> {
        on_db!(self, |pool| Ok(sqlx::query_scalar(
            "SELECT b.org_id FROM org_billing b JOIN organizations o ON o.id = b.org_id
             WHERE (b.customer_id = $1 OR b.subscription_id = $2) AND o.deleted_at IS NULL
             ORDER BY CASE WHEN b.customer_id = $1 THEN 0 ELSE 1 END LIMIT 1",
        )
        .bind(customer_id)
        .bind(subscription_id)
        .fetch_optional(pool)
        .await?))
    }

    /// Events that arrived before any organization was linked to their customer or
    /// subscription, oldest first, as Stripe sent them.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn waiting_stripe_events(
        &self,
        customer_id: Option<&str>,
        subscription_id: Option<&str>,
    ) -> StoreResult<Vec<String>> {
        on_db!(self, |pool| Ok(sqlx::query_scalar(
            "SELECT payload FROM stripe_events
             WHERE outcome = 'no organization' AND payload IS NOT NULL
               AND (customer_id = $1 OR subscription_id = $2)
             ORDER BY created, id",
        )
        .bind(customer_id)
        .bind(subscription_id)
        .fetch_all(pool)
        .await?))
    }

    /// Records `customer_id` as the organization's Stripe customer unless it has
    /// one already; answers the one it has (of two checkouts at once, the first).
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn claim_customer(
        &self,
        org_id: &str,
        customer_id: &str,
        now: i64,
    ) -> StoreResult<String> {
        on_db!(self, |pool| Ok(sqlx::query_scalar(
            "INSERT INTO org_billing (org_id, customer_id, updated_at) VALUES ($1, $2, $3)
             ON CONFLICT (org_id) DO UPDATE
               SET customer_id = COALESCE(org_billing.customer_id, excluded.customer_id),
                   updated_at = excluded.updated_at
             RETURNING customer_id",
        )
        .bind(org_id)
        .bind(customer_id)
        .bind(now)
        .fetch_one(pool)
        .await?))
    }

    /// Records the event and applies what `decide` makes of the organization's
    /// current state, in one transaction: the billing state, the plan (with the
    /// cache generation, so every process sees it at once) and the audit entry
    /// `audit` writes for a plan change (`from`, `to`).
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn apply_stripe_event(
        &self,
        event: StripeEventRecord<'_>,
        decide: impl Fn(&BillingState, Plan) -> Decision,
        audit: impl Fn(&Decision, Plan, Plan) -> AuditRow,
    ) -> StoreResult<StripeEventOutcome> {
        // Events about one organization are applied one at a time: on PostgreSQL
        // the organization's row is locked first, and the state read by the next
        // statement, whose snapshot then includes what the previous holder wrote
        // (a locking read would return the rows of its own, older snapshot).
        // SQLite's writer lock, taken by the first statement, does the same.
        let lock = matches!(self, Db::Postgres(_));
        on_db!(self, |pool| {
            let mut tx = pool.begin().await?;
            // The first statement writes, so SQLite takes its write lock before the
            // state is read. An event waiting for its organization is taken up again.
            let fresh = sqlx::query(
                "INSERT INTO stripe_events (id, type, created, org_id, outcome, received_at)
                 VALUES ($1, $2, $3, $4, 'received', $5)
                 ON CONFLICT (id) DO UPDATE SET outcome = 'received', org_id = excluded.org_id
                   WHERE stripe_events.outcome = 'no organization'",
            )
            .bind(event.id)
            .bind(event.kind)
            .bind(event.created)
            .bind(event.org_id)
            .bind(event.now)
            .execute(&mut *tx)
            .await?
            .rows_affected()
                == 1;
            if !fresh {
                tx.rollback().await?;
                return Ok(StripeEventOutcome::Replay);
            }
            let row: Option<BillingRow> = match event.org_id {
                Some(org_id) => {
                    if lock {
                        sqlx::query("SELECT id FROM organizations WHERE id = $1 FOR UPDATE")
                            .bind(org_id)
                            .execute(&mut *tx)
                            .await?;
                    }
                    sqlx::query_as(SELECT_BILLING)
                        .bind(org_id)
                        .fetch_optional(&mut *tx)
                        .await?
                }
                None => None,
            };
            let (Some(org_id), Some(row)) = (event.org_id, row) else {
                sqlx::query(
                    "UPDATE stripe_events SET outcome = 'no organization', customer_id = $2,
                        subscription_id = $3, payload = $4 WHERE id = $1",
                )
                .bind(event.id)
                .bind(event.customer_id)
                .bind(event.subscription_id)
                .bind(String::from_utf8_lossy(event.payload).into_owned())
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                return Ok(StripeEventOutcome::NoOrganization);
            };
            let (plan_before, state) = (Plan::from_stored(&row.plan), row.state());
            let decision = decide(&state, plan_before);
            if decision.next != state {
                let next = &decision.next;
                let (sub_at, sub_rank) = next.subscription_event.unzip();
                let (inv_at, inv_rank) = next.invoice_event.unzip();
                sqlx::query(
                    "INSERT INTO org_billing (org_id, customer_id, subscription_id, subscription_status,
                        price_id, current_period_end, cancel_at_period_end, subscription_event_at,
                        subscription_event_rank, past_due_since, invoice_event_at, invoice_event_rank,
                        updated_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
                     ON CONFLICT (org_id) DO UPDATE SET customer_id = excluded.customer_id,
                        subscription_id = excluded.subscription_id,
                        subscription_status = excluded.subscription_status,
                        price_id = excluded.price_id,
                        current_period_end = excluded.current_period_end,
                        cancel_at_period_end = excluded.cancel_at_period_end,
                        subscription_event_at = excluded.subscription_event_at,
                        subscription_event_rank = excluded.subscription_event_rank,
                        past_due_since = excluded.past_due_since,
                        invoice_event_at = excluded.invoice_event_at,
                        invoice_event_rank = excluded.invoice_event_rank,
                        updated_at = excluded.updated_at",
                )
                .bind(org_id)
                .bind(&next.customer_id)
                .bind(&next.subscription_id)
                .bind(&next.subscription_status)
                .bind(&next.price_id)
                .bind(next.current_period_end)
                .bind(i64::from(next.cancel_at_period_end))
                .bind(sub_at)
                .bind(sub_rank.map(i64::from))
                .bind(next.past_due_since)
                .bind(inv_at)
                .bind(inv_rank.map(i64::from))
                .bind(event.now)
                .execute(&mut *tx)
                .await?;
            }
            if let Some(plan) = decision.plan {
                sqlx::query("UPDATE organizations SET plan = $2 WHERE id = $1")
                    .bind(org_id)
                    .bind(plan.as_str())
                    .execute(&mut *tx)
                    .await?;
                sqlx::query(BUMP_CACHE_GENERATION).execute(&mut *tx).await?;
                write_audit!(tx, audit(&decision, plan_before, plan));
            }
            sqlx::query("UPDATE stripe_events SET outcome = $2, payload = NULL WHERE id = $1")
                .bind(event.id)
                .bind(decision.outcome)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(StripeEventOutcome::Processed {
                decision: Box::new(decision),
                plan_before,
            })
        })
    }
}
