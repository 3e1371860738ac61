//! Optional Stripe billing (docs/BILLING.md): `404` on every route while billing
//! is off.

use super::context::caller;
use super::json::ApiJson;
use super::problem::ApiResult;
use super::security::ApiAuth;
use super::ApiTags;
use crate::domain::plans::Plan;
use crate::domain::timeutil::format_rfc3339_ms;
use crate::service::billing::{self, BillingView, Received};
use crate::state::SharedState;
use poem::web::Data;
use poem::Request;
use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::{Enum, Object, OpenApi};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "UPPERCASE")]
pub enum PaidPlan {
    Pro,
    Business,
}

#[derive(Debug, Object)]
pub struct CheckoutBody {
    pub plan: PaidPlan,
}

#[derive(Debug, Object)]
pub struct RedirectUrl {
    /// Send the browser here (a Stripe page, valid for a short while).
    pub url: String,
}

#[derive(Debug, Object)]
pub struct ProjectUsage {
    pub id: String,
    pub name: String,
    pub used: i64,
}

#[derive(Debug, Object)]
pub struct Usage {
    /// The UTC month, `YYYY-MM`.
    pub month: String,
    /// Units ingested this month by all the organization's projects.
    pub used: i64,
    /// The plan's monthly units per project; absent when unlimited.
    pub limit: Option<i64>,
    /// When the monthly quota starts over (RFC 3339).
    pub resets_at: String,
    pub projects: Vec<ProjectUsage>,
}

#[derive(Debug, Object)]
pub struct BillingBody {
    /// `FREE`, `PRO`, `BUSINESS` (or `SELF_HOSTED` when an operator set it).
    pub plan: String,
    /// The Stripe subscription's status (`active`, `past_due`, `canceled`, …);
    /// absent before the first subscription.
    pub subscription_status: Option<String>,
    /// End of the paid period (RFC 3339).
    pub current_period_end: Option<String>,
    /// The subscription ends at the period's end instead of renewing.
    pub cancel_at_period_end: bool,
    /// A payment failed and has not been made good since.
    pub past_due: bool,
    /// The organization's Stripe customer, once it has one.
    pub customer_id: Option<String>,
    pub usage: Usage,
}

impl From<BillingView> for BillingBody {
    fn from(v: BillingView) -> Self {
        let used = v.used();
        let s = v.state;
        BillingBody {
            plan: v.plan.as_str().to_string(),
            subscription_status: s.subscription_status,
            current_period_end: s.current_period_end.map(|t| format_rfc3339_ms(t * 1000)),
            cancel_at_period_end: s.cancel_at_period_end,
            past_due: s.past_due_since.is_some(),
            customer_id: s.customer_id,
            usage: Usage {
                month: v.month,
                used,
                limit: v.plan.limits().monthly_units,
                resets_at: format_rfc3339_ms(v.resets_at),
                projects: v
                    .projects
                    .into_iter()
                    .map(|(id, name, used)| ProjectUsage { id, name, used })
                    .collect(),
            },
        }
    }
}

/// A Stripe event, as Stripe sends it (only `id`, `type`, `created` and
/// `data.object` are read).
#[derive(Debug, Object)]
pub struct StripeEventBody {
    pub id: String,
    #[oai(rename = "type")]
    pub kind: String,
    pub created: i64,
    pub data: serde_json::Value,
}

#[derive(Debug, Object)]
pub struct WebhookReceipt {
    pub received: bool,
    pub event_id: String,
    /// False when the event was processed before (a replay changes nothing).
    pub processed: bool,
    /// What it did: `applied`, `linked`, `ignored`, `already processed`, …
    pub outcome: String,
}

impl From<Received> for WebhookReceipt {
    fn from(r: Received) -> Self {
        WebhookReceipt {
            received: true,
            event_id: r.event_id,
            processed: r.processed,
            outcome: r.outcome,
        }
    }
}

pub struct BillingApi;

#[OpenApi(tag = "ApiTags::Billing")]
impl BillingApi {
    /// The organization's plan, subscription and this month's usage (OWNER).
    #[oai(path = "/api/orgs/:org_id/billing", method = "get")]
    async fn billing(
        &self,
        state: Data<&SharedState>,
        auth: ApiAuth,
        req: &Request,
        org_id: Path<String>,
    ) -> ApiResult<Json<BillingBody>> {
        let (who, _) = caller(&state, &auth, req).await?;
        Ok(Json(
            billing::billing(&state, &who, &org_id.0).await?.into(),
        ))
    }

    /// Start a Stripe Checkout for PRO or BUSINESS (OWNER); `409` while a paid
    /// subscription is active (change it in the portal).
    #[oai(path = "/api/orgs/:org_id/billing/checkout", method = "post")]
    async fn checkout(
        &self,
        state: Data<&SharedState>,
        auth: ApiAuth,
        req: &Request,
        org_id: Path<String>,
        body: ApiJson<CheckoutBody>,
    ) -> ApiResult<Json<RedirectUrl>> {
        let (who, _) = caller(&state, &auth, req).await?;
        let body = body.parse()?;
        let plan = match body.plan {
            PaidPlan::Pro => Plan::Pro,
            PaidPlan::Business => Plan::Business,
        };
        let url = billing::checkout(&state, &who, &org_id.0, plan).await?;
        Ok(Json(RedirectUrl { url }))
    }

    /// Open the Stripe Customer Portal (OWNER): payment method, invoices, plan
    /// changes and cancellation. `409` before the first checkout.
    #[oai(path = "/api/orgs/:org_id/billing/portal", method = "post")]
    async fn portal(
        &self,
        state: Data<&SharedState>,
        auth: ApiAuth,
        req: &Request,
        org_id: Path<String>,
    ) -> ApiResult<Json<RedirectUrl>> {
        let (who, _) = caller(&state, &auth, req).await?;
        let url = billing::portal(&state, &who, &org_id.0).await?;
        Ok(Json(RedirectUrl { url }))
    }

    /// Stripe's webhook: the `Stripe-Signature` header is checked against the raw
    /// body (`400` and nothing changed when it does not match or is older than 5
    /// minutes); each event id is processed once.
    #[oai(path = "/api/billing/stripe/webhook", method = "post")]
    async fn stripe_webhook(
        &self,
        state: Data<&SharedState>,
        req: &Request,
        body: ApiJson<StripeEventBody>,
    ) -> ApiResult<Json<WebhookReceipt>> {
        let received = billing::receive(&state, req.header("stripe-signature"), body.raw()).await?;
        Ok(Json(received.into()))
    }
}
