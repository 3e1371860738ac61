//! Settings → Billing (owners, with billing on): the plan and subscription, this
//! month's usage by project, and the way to Stripe Checkout or the Customer
//! Portal. The same service functions as `/api/orgs/{id}/billing*`.

use super::{outcome, shell, trimmed};
use crate::domain::plans::Plan;
use crate::error::AppError;
use crate::service::billing::{self, BillingView};
use crate::state::SharedState;
use crate::web::components::{count, csrf_field, time};
use crate::web::context::{query_param, PageCtx, Session};
use crate::web::error::PageResult;
use crate::web::{html, see_other};
use maud::{html, Markup};
use poem::web::{Data, Form};
use poem::{handler, Request};
use serde::Deserialize;

const BACK: &str = "/settings/billing";

/// The organization shown: `?org=` (Stripe sends the owner back with it) when it
/// is one of the caller's, else the current project's.
fn org_of(ctx: &PageCtx, req: &Request) -> PageResult<String> {
    let asked = query_param(req, "org");
    if let Some(org) = asked.filter(|o| ctx.projects.iter().any(|p| p.project.org_id == *o)) {
        return Ok(org);
    }
    Ok(ctx.project()?.org_id.clone())
}

fn status_text(v: &BillingView) -> &'static str {
    match v.state.subscription_status.as_deref() {
        None => "no subscription",
        Some("active") => "active",
        Some("trialing") => "in trial",
        Some("past_due") => "payment overdue",
        Some("incomplete") => "waiting for the first payment",
        Some("canceled") => "canceled",
        Some("unpaid") => "unpaid",
        Some("paused") => "paused",
        Some(_) => "ended",
    }
}

fn subscribed(v: &BillingView) -> bool {
    matches!(v.plan, Plan::Pro | Plan::Business)
        && matches!(
            v.state.subscription_status.as_deref(),
            Some("active" | "trialing" | "past_due")
        )
}

fn plan_card(ctx: &PageCtx, org_id: &str, plan: Plan, current: Plan) -> Markup {
    let l = plan.limits();
    let n = |v: Option<i64>| v.map_or("unlimited".to_string(), count);
    html! {
        div class="card plan-option" {
            h4 class="card-title" { (plan.as_str()) }
            ul class="plain small" {
                li { (n(l.monthly_units)) " units a month per project" }
                li { (n(l.projects_per_org)) " projects, " (n(l.keys_per_project)) " API keys each" }
                li { (l.rps.unwrap_or(0)) " requests per second per project" }
                li { (l.retention_days.unwrap_or(0)) " days of data kept" }
            }
            @if plan == current {
                p class="muted" { "Your current plan." }
            } @else {
                form method="post" action="/settings/billing/checkout" {
                    (csrf_field(&ctx.csrf))
                    input type="hidden" name="org" value=(org_id);
                    input type="hidden" name="plan" value=(plan.as_str());
                    button class="btn btn-primary" type="submit" { "Choose " (plan.as_str()) }
                }
            }
        }
    }
}

fn usage_card(v: &BillingView) -> Markup {
    let limit = v.plan.limits().monthly_units;
    html! {
        section class="card" {
            h3 class="card-title" { "Usage in " (v.month) }
            p class="small muted" {
                "Each project may ingest "
                @if let Some(l) = limit { (count(l)) " units" } @else { "any number of units" }
                " a month on the " (v.plan.as_str()) " plan. The count starts over on " (time(v.resets_at)) "."
            }
            @if v.projects.is_empty() {
                p class="muted" { "No projects yet." }
            } @else {
                div class="table-wrap" {
                    table class="table table-stack" {
                        thead { tr { th scope="col" { "Project" } th scope="col" { "Units" } th scope="col" { "Of the quota" } } }
                        tbody {
                            @for (_, name, used) in &v.projects {
                                tr {
                                    td { (name) }
                                    td { (count(*used)) }
                                    td {
                                        @if let Some(l) = limit.filter(|l| *l > 0) {
                                            @let pct = (*used * 100 / l).min(100);
                                            progress max="100" value=(pct) aria-label=(format!("{name}: {pct} % of the quota")) { (pct) " %" }
                                            " " (pct) " %"
                                        } @else { "–" }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

#[handler]
pub(super) async fn billing_get(req: &Request, state: Data<&SharedState>) -> PageResult {
    let ctx = PageCtx::load(&state, req).await?;
    let org_id = org_of(&ctx, req)?;
    let v = billing::billing(&state, ctx.who(), &org_id).await?;
    let returned = query_param(req, "checkout");
    let s = &v.state;
    Ok(html(shell(
        &ctx,
        "billing",
        "Billing",
        html! {
            @match returned.as_deref() {
                Some("success") => div class="notice notice-ok" role="status" {
                    "Thank you. The plan changes as soon as Stripe confirms the payment, usually within seconds; reload this page to see it."
                },
                Some("canceled") => div class="notice" role="status" { "Checkout was canceled; nothing changed." },
                _ => {}
            }
            @if s.past_due_since.is_some() {
                div class="notice notice-error" role="alert" {
                    strong { "The latest payment failed." }
                    " Stripe retries over the next days; update the payment method in the customer portal to keep the "
                    (v.plan.as_str()) " plan."
                }
            }
            section class="card" {
                h3 class="card-title" { "Plan" }
                dl class="meta-list" {
                    dt { "Plan" } dd { span class="badge" { (v.plan.as_str()) } }
                    dt { "Subscription" } dd { (status_text(&v)) }
                    @if let Some(end) = s.current_period_end {
                        dt { @if s.cancel_at_period_end { "Ends" } @else { "Renews" } }
                        dd { (time(end * 1000)) }
                    }
                    dt { "Used this month" } dd {
                        (count(v.used())) " units across " (v.projects.len())
                        @if v.projects.len() == 1 { " project" } @else { " projects" }
                    }
                }
                @if s.cancel_at_period_end {
                    p class="small" { "The subscription is canceled and ends with the period; the organization then returns to FREE." }
                }
                @if s.customer_id.is_some() {
                    form method="post" action="/settings/billing/portal" {
                        (csrf_field(&ctx.csrf))
                        input type="hidden" name="org" value=(org_id);
                        button class="btn" type="submit" { "Manage subscription and invoices" }
                    }
                    p class="small muted" { "Opens Stripe's customer portal: payment method, invoices, plan changes and cancellation." }
                }
            }
            @if v.plan == Plan::SelfHosted {
                section class="card" {
                    h3 class="card-title" { "No subscription needed" }
                    p { "This organization is on the SELF_HOSTED plan, set by the server's operator: no limits, nothing to pay." }
                }
            } @else if !subscribed(&v) {
                section class="card" {
                    h3 class="card-title" { "Choose a plan" }
                    p class="small muted" { "Payment happens on Stripe's checkout page; you come back here afterwards." }
                    div class="grid grid-2" {
                        (plan_card(&ctx, &org_id, Plan::Pro, v.plan))
                        (plan_card(&ctx, &org_id, Plan::Business, v.plan))
                    }
                }
            }
            (usage_card(&v))
        },
    )))
}

#[derive(Deserialize)]
pub(super) struct CheckoutForm {
    #[serde(default)]
    csrf: String,
    #[serde(default, deserialize_with = "trimmed")]
    org: String,
    #[serde(default, deserialize_with = "trimmed")]
    plan: String,
}

#[handler]
pub(super) async fn checkout(
    req: &Request,
    state: Data<&SharedState>,
    Form(f): Form<CheckoutForm>,
) -> PageResult {
    let s = Session::for_form(&state, req, &f.csrf).await?;
    let result = match f.plan.parse::<Plan>() {
        Ok(plan @ (Plan::Pro | Plan::Business)) => {
            billing::checkout(&state, &s.who, &f.org, plan).await
        }
        _ => Err(AppError::invalid("plan", "choose PRO or BUSINESS")),
    };
    to_stripe(&state, req, result)
}

#[derive(Deserialize)]
pub(super) struct OrgForm {
    #[serde(default)]
    csrf: String,
    #[serde(default, deserialize_with = "trimmed")]
    org: String,
}

#[handler]
pub(super) async fn portal(
    req: &Request,
    state: Data<&SharedState>,
    Form(f): Form<OrgForm>,
) -> PageResult {
    let s = Session::for_form(&state, req, &f.csrf).await?;
    to_stripe(&state, req, billing::portal(&state, &s.who, &f.org).await)
}

/// Off to Stripe's page; a refusal (or Stripe out of reach) comes back as a message.
fn to_stripe(state: &SharedState, req: &Request, result: Result<String, AppError>) -> PageResult {
    match result {
        Ok(url) => Ok(see_other(&url)),
        Err(AppError::Unavailable { message, .. }) => outcome(
            state,
            req,
            Err::<(), _>(AppError::Conflict(message)),
            |_| String::new(),
            BACK,
        ),
        Err(e) => outcome(state, req, Err::<(), _>(e), |_| String::new(), BACK),
    }
}
