//! Optional Stripe billing (docs/BILLING.md): an organization's plan and usage,
//! Checkout and Customer Portal sessions for its owners, and the webhook that
//! keeps its plan in step with its subscription. With billing off every entry
//! point answers 404, as if it did not exist.

use crate::config::Billing;
use crate::domain::billing::{decide, BillingState, Prices};
use crate::domain::ids::new_id;
use crate::domain::plans::Plan;
use crate::domain::rbac::{Action, Role};
use crate::domain::stripe_event::{self, Effect};
use crate::domain::timeutil::{month_key, next_month_start_ms};
use crate::error::{AppError, AppResult};
use crate::mail::templates;
use crate::service::orgs::{require, send_mail};
use crate::service::principal::Principal;
use crate::state::AppState;
use crate::store::{AuditRow, StripeEventOutcome, StripeEventRecord};
use crate::stripe::signature;
use crate::stripe::{StripeClient, StripeError};

/// An organization's billing as its owners see it.
#[derive(Debug, Clone)]
pub struct BillingView {
    pub plan: Plan,
    pub state: BillingState,
    pub month: String,
    pub resets_at: i64,
    /// Units used this month by each project: id, name, used.
    pub projects: Vec<(String, String, i64)>,
}

impl BillingView {
    pub fn used(&self) -> i64 {
        self.projects.iter().map(|p| p.2).sum()
    }
}

/// What the webhook made of an event.
#[derive(Debug, Clone)]
pub struct Received {
    pub event_id: String,
    /// False for a replay of an event already processed.
    pub processed: bool,
    pub outcome: String,
}

fn client(state: &AppState) -> AppResult<&StripeClient> {
    state
        .stripe
        .as_ref()
        .ok_or_else(|| AppError::NotFound("billing is not enabled on this server".into()))
}

fn prices(billing: &Billing) -> Prices<'_> {
    Prices {
        pro: &billing.price_pro,
        business: &billing.price_business,
    }
}

fn unavailable(e: StripeError) -> AppError {
    tracing::warn!(error = %e, "Stripe request failed");
    let advice = match e {
        StripeError::Unreachable(_) => "try again in a moment",
        // A refusal means the server's settings (key, prices) need the operator.
        StripeError::Refused { .. } => {
            "the server's Stripe settings may need attention (docs/BILLING.md)"
        }
    };
    AppError::Unavailable {
        message: format!("{e}; {advice}"),
        retry_after_secs: 5,
    }
}

/// The plan, subscription and this month's usage (OWNER).
#[tracing::instrument(skip_all)]
pub async fn billing(state: &AppState, who: &Principal, org_id: &str) -> AppResult<BillingView> {
    client(state)?;
    require(state, who, org_id, Action::Administer).await?;
    let (plan, billing) = state
        .db
        .billing_of(org_id)
        .await?
        .ok_or_else(|| AppError::NotFound("no such organization".into()))?;
    let now = state.clock.now_ms();
    let month = month_key(now);
    let mut projects = Vec::new();
    for p in state.db.projects_of_org(org_id).await? {
        let used = state.db.usage(&p.id, &month).await?;
        projects.push((p.id, p.name, used));
    }
    Ok(BillingView {
        plan,
        state: billing,
        month,
        resets_at: next_month_start_ms(now),
        projects,
    })
}

/// A Checkout session subscribing the organization to `plan` (OWNER): its URL.
#[tracing::instrument(skip_all)]
pub async fn checkout(
    state: &AppState,
    who: &Principal,
    org_id: &str,
    plan: Plan,
) -> AppResult<String> {
    let stripe = client(state)?;
    require(state, who, org_id, Action::Administer).await?;
    let price = prices(stripe.billing())
        .price(plan)
        .ok_or_else(|| AppError::invalid("plan", "`plan` must be PRO or BUSINESS"))?
        .to_string();
    let (current, billing) = state
        .db
        .billing_of(org_id)
        .await?
        .ok_or_else(|| AppError::NotFound("no such organization".into()))?;
    if current == Plan::SelfHosted {
        return Err(AppError::Conflict(
            "This organization is on SELF_HOSTED, set by the server's operator: it has no limits and needs no subscription.".into(),
        ));
    }
    if matches!(current, Plan::Pro | Plan::Business)
        && matches!(
            billing.subscription_status.as_deref(),
            Some("active" | "trialing" | "past_due")
        )
    {
        return Err(AppError::Conflict(format!(
            "This organization is already subscribed to {current}; change or cancel the plan in the customer portal."
        )));
    }
    let customer = customer_of(state, stripe, who, org_id, billing).await?;
    let back = format!(
        "{}/settings/billing?org={org_id}",
        state.config.public_url()
    );
    stripe
        .create_checkout_session(
            &customer,
            &price,
            org_id,
            &format!("{back}&checkout=success&session_id={{CHECKOUT_SESSION_ID}}"),
            &format!("{back}&checkout=canceled"),
        )
        .await
        .map_err(unavailable)
}

/// A Customer Portal session for the organization (OWNER): its URL.
#[tracing::instrument(skip_all)]
pub async fn portal(state: &AppState, who: &Principal, org_id: &str) -> AppResult<String> {
    let stripe = client(state)?;
    require(state, who, org_id, Action::Administer).await?;
    let (_, billing) = state
        .db
        .billing_of(org_id)
        .await?
        .ok_or_else(|| AppError::NotFound("no such organization".into()))?;
    let customer = billing.customer_id.ok_or_else(|| {
        AppError::Conflict(
            "This organization has no Stripe customer yet; choose a plan first.".into(),
        )
    })?;
    let back = format!(
        "{}/settings/billing?org={org_id}",
        state.config.public_url()
    );
    stripe
        .create_portal_session(&customer, &back)
        .await
        .map_err(unavailable)
}

/// The organization's Stripe customer, created on its first checkout.
async fn customer_of(
    state: &AppState,
    stripe: &StripeClient,
    who: &Principal,
    org_id: &str,
    billing: BillingState,
) -> AppResult<String> {
    if let Some(id) = billing.customer_id {
        return Ok(id);
    }
    let org = state
        .db
        .org_by_id(org_id)
        .await?
        .ok_or_else(|| AppError::NotFound("no such organization".into()))?;
    let created = stripe
        .create_customer(&who.email, &org.name, org_id)
        .await
        .map_err(unavailable)?;
    // Of two checkouts started at once, the first customer stored is the one used.
    Ok(state
        .db
        .claim_customer(org_id, &created, state.clock.now_ms())
        .await?)
}

/// A Stripe webhook delivery: verified, then processed once.
#[tracing::instrument(skip_all)]
pub async fn receive(
    state: &AppState,
    signature_header: Option<&str>,
    body: &[u8],
) -> AppResult<Received> {
    let stripe = client(state)?;
    let now = state.clock.now_ms();
    signature::verify(
        signature_header,
        body,
        &stripe.billing().webhook_secret,
        now / 1000,
    )
    .map_err(|e| AppError::invalid("Stripe-Signature", e.to_string()))?;
    let received = process(state, stripe, body).await?;
    // Checkout linked a customer: events about it that came first are applied now,
    // oldest first.
    if let (true, Ok(event)) = (received.processed, stripe_event::parse(body)) {
        if let Effect::CheckoutCompleted {
            customer,
            subscription,
            ..
        } = &event.effect
        {
            let waiting = state
                .db
                .waiting_stripe_events(customer.as_deref(), subscription.as_deref())
                .await?;
            for payload in waiting {
                let applied = process(state, stripe, payload.as_bytes()).await?;
                tracing::info!(event = %applied.event_id, outcome = %applied.outcome, "applied an event that arrived before checkout");
            }
        }
    }
    Ok(received)
}

/// Applies one verified event (or one that waited for its organization).
async fn process(state: &AppState, stripe: &StripeClient, body: &[u8]) -> AppResult<Received> {
    let billing = stripe.billing();
    let now = state.clock.now_ms();
    let event = stripe_event::parse(body).map_err(|e| AppError::Invalid {
        message: e.0,
        field: None,
    })?;
    if event.effect == Effect::Ignored {
        return Ok(Received {
            event_id: event.id,
            processed: true,
            outcome: "ignored".into(),
        });
    }
    let org_id = org_of(state, &event.effect).await?;
    let (customer, subscription) = references(&event.effect);
    let prices = prices(billing);
    let outcome = state
        .db
        .apply_stripe_event(
            StripeEventRecord {
                id: &event.id,
                kind: &event.kind,
                created: event.created,
                org_id: org_id.as_deref(),
                now,
                customer_id: customer,
                subscription_id: subscription,
                payload: body,
            },
            |current, plan| decide(current, plan, &event, &prices, now),
            |decision, from, to| AuditRow {
                id: new_id(),
                org_id: org_id.clone().unwrap_or_default(),
                actor_id: None,
                actor_email: None,
                action: "billing.plan".into(),
                target: Some(format!("{from} → {to}")),
                details: Some(
                    serde_json::json!({
                        "from": from.as_str(),
                        "to": to.as_str(),
                        "stripe_event": event.id,
                        "stripe_event_type": event.kind,
                        "subscription_status": decision.next.subscription_status,
                    })
                    .to_string(),
                ),
                ip: None,
                created_at: now,
            },
        )
        .await?;
    let (processed, outcome) = match outcome {
        StripeEventOutcome::Replay => (false, "already processed".to_string()),
        StripeEventOutcome::NoOrganization => {
            tracing::warn!(event = %event.id, kind = %event.kind, "Stripe event for no organization yet: kept until checkout links its customer");
            (true, "waiting for its organization".to_string())
        }
        StripeEventOutcome::Processed {
            decision,
            plan_before,
        } => {
            if let Some(plan) = decision.plan {
                tracing::info!(org = ?org_id, from = %plan_before, to = %plan, event = %event.id, "plan changed by Stripe");
                // This process's limits change now; the others' when they see the
                // cache generation move.
                state.keys.clear();
            }
            if decision.payment_failed {
                if let Some(org_id) = &org_id {
                    tell_owners_payment_failed(state, org_id).await?;
                }
            }
            (true, decision.outcome.to_string())
        }
    };
    Ok(Received {
        event_id: event.id,
        processed,
        outcome,
    })
}

/// The customer and subscription an event is about.
fn references(effect: &Effect) -> (Option<&str>, Option<&str>) {
    match effect {
        Effect::CheckoutCompleted {
            customer,
            subscription,
            ..
        }
        | Effect::Invoice {
            customer,
            subscription,
            ..
        } => (customer.as_deref(), subscription.as_deref()),
        Effect::Subscription(s) => (s.customer.as_deref(), Some(s.id.as_str())),
        Effect::Ignored => (None, None),
    }
}

/// The organization an event is about: checkout names it; otherwise the one its
/// customer (or subscription) belongs to, or the subscription's `metadata.org_id`,
/// which checkout sets.
async fn org_of(state: &AppState, effect: &Effect) -> AppResult<Option<String>> {
    let (named, customer, subscription) = match effect {
        Effect::CheckoutCompleted {
            org_id,
            customer,
            subscription,
        } => (org_id.as_deref(), customer, subscription.as_deref()),
        Effect::Subscription(s) => (s.org_id.as_deref(), &s.customer, Some(s.id.as_str())),
        Effect::Invoice {
            customer,
            subscription,
            ..
        } => (None, customer, subscription.as_deref()),
        Effect::Ignored => return Ok(None),
    };
    // Checkout's own reference first: it is what links the customer.
    if let (Effect::CheckoutCompleted { .. }, Some(id)) = (effect, named) {
        if state.db.org_by_id(id).await?.is_some() {
            return Ok(Some(id.to_string()));
        }
    }
    if let Some(id) = state
        .db
        .org_of_stripe(customer.as_deref(), subscription)
        .await?
    {
        return Ok(Some(id));
    }
    match named {
        Some(id) if state.db.org_by_id(id).await?.is_some() => Ok(Some(id.to_string())),
        _ => Ok(None),
    }
}

async fn tell_owners_payment_failed(state: &AppState, org_id: &str) -> AppResult<()> {
    let Some(org) = state.db.org_by_id(org_id).await? else {
        return Ok(());
    };
    let link = format!(
        "{}/settings/billing?org={org_id}",
        state.config.public_url()
    );
    for member in state.db.list_members(org_id).await? {
        if member.role.parse::<Role>() == Ok(Role::Owner) {
            send_mail(
                state,
                templates::payment_failed(&member.email, &org.name, &link),
            );
        }
    }
    Ok(())
}

/// Whether the organization's payment failed and is not yet made good, for the
/// banner its owners see; false for everyone else and with billing off.
#[tracing::instrument(skip_all)]
pub async fn past_due(state: &AppState, who: &Principal, org_id: &str) -> AppResult<bool> {
    if state.stripe.is_none() {
        return Ok(false);
    }
    let role = state.db.member_role(org_id, &who.user_id).await?;
    if role.and_then(|r| r.parse::<Role>().ok()) != Some(Role::Owner) {
        return Ok(false);
    }
    Ok(state
        .db
        .billing_of(org_id)
        .await?
        .is_some_and(|(_, b)| b.past_due_since.is_some()))
}

/// An organization with a paid subscription running is not deleted: Stripe would
/// go on charging for it. The owner cancels in the portal first.
pub async fn refuse_while_subscribed(state: &AppState, org_id: &str) -> AppResult<()> {
    if state.stripe.is_none() {
        return Ok(());
    }
    let live = state.db.billing_of(org_id).await?.is_some_and(|(_, b)| {
        matches!(
            b.subscription_status.as_deref(),
            Some("active" | "trialing" | "past_due" | "unpaid" | "incomplete")
        )
    });
    if live {
        return Err(AppError::Conflict(
            "This organization has a Stripe subscription; cancel it in Settings → Billing (customer portal) before deleting the organization.".into(),
        ));
    }
    Ok(())
}

/// The plan new organizations start on: FREE with billing on, else SELF_HOSTED.
pub fn new_org_plan(state: &AppState) -> Plan {
    if state.stripe.is_some() {
        Plan::Free
    } else {
        Plan::SelfHosted
    }
}
