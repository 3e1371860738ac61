//! How a Stripe event changes an organization's billing state and plan. Events
//! arrive at least once and in any order, so each is judged against what the
//! state already holds: the subscription's own status, and the `created` time of
//! the event that set it (a later-created event wins; of events created in the
//! same second, created < updated < deleted, and a payment failure < a payment).

use crate::domain::plans::Plan;
use crate::domain::stripe_event::{Effect, Event, Subscription};

/// An organization's billing as the events applied so far left it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BillingState {
    pub customer_id: Option<String>,
    pub subscription_id: Option<String>,
    pub subscription_status: Option<String>,
    pub price_id: Option<String>,
    /// Unix seconds.
    pub current_period_end: Option<i64>,
    pub cancel_at_period_end: bool,
    /// `created` and rank of the subscription event applied last.
    pub subscription_event: Option<(i64, i32)>,
    /// Milliseconds; set by a failed payment, cleared by a paid invoice.
    pub past_due_since: Option<i64>,
    pub invoice_event: Option<(i64, i32)>,
}

/// The price ids of the paid plans.
pub struct Prices<'a> {
    pub pro: &'a str,
    pub business: &'a str,
}

impl Prices<'_> {
    pub fn plan(&self, price_id: &str) -> Option<Plan> {
        if price_id == self.pro {
            Some(Plan::Pro)
        } else if price_id == self.business {
            Some(Plan::Business)
        } else {
            None
        }
    }

    pub fn price(&self, plan: Plan) -> Option<&str> {
        match plan {
            Plan::Pro => Some(self.pro),
            Plan::Business => Some(self.business),
            Plan::Free | Plan::SelfHosted => None,
        }
    }
}

/// What an event does to one organization.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// The state to store (equal to the current one when nothing changes).
    pub next: BillingState,
    /// The plan the organization moves to, when it changes.
    pub plan: Option<Plan>,
    /// Recorded with the event id: what became of it.
    pub outcome: &'static str,
    /// A payment failed just now (the owners are told).
    pub payment_failed: bool,
}

/// Access continues while a subscription is paid, in trial, or in its grace period.
fn plan_of(s: &Subscription, prices: &Prices) -> Option<Plan> {
    if s.deleted {
        return Some(Plan::Free);
    }
    match s.status.as_str() {
        "active" | "trialing" | "past_due" => s.price_id.as_deref().and_then(|p| prices.plan(p)),
        "canceled" | "unpaid" | "incomplete_expired" | "paused" => Some(Plan::Free),
        // `incomplete`: the first payment is under way; nothing changes until it ends.
        _ => None,
    }
}

fn newer(stored: Option<(i64, i32)>, event: (i64, i32)) -> bool {
    stored.is_none_or(|s| event >= s)
}

pub fn decide(
    current: &BillingState,
    current_plan: Plan,
    event: &Event,
    prices: &Prices,
    now_ms: i64,
) -> Decision {
    let unchanged = |outcome| Decision {
        next: current.clone(),
        plan: None,
        outcome,
        payment_failed: false,
    };
    let changed_plan = |plan: Option<Plan>| plan.filter(|p| *p != current_plan);
    match &event.effect {
        Effect::CheckoutCompleted {
            customer,
            subscription,
            ..
        } => {
            let mut next = current.clone();
            if next.customer_id.is_none() {
                next.customer_id.clone_from(customer);
            }
            // The subscription's own events set its state; a subscription already
            // known (its events came first) is kept.
            let ended = matches!(
                current.subscription_status.as_deref(),
                None | Some("canceled" | "incomplete_expired")
            );
            if subscription.is_some() && (current.subscription_id.is_none() || ended) {
                if next.subscription_id != *subscription {
                    next.subscription_status = None;
                }
                next.subscription_id.clone_from(subscription);
            }
            Decision {
                next,
                plan: None,
                outcome: "linked",
                payment_failed: false,
            }
        }
        Effect::Subscription(s) => {
            let other = current
                .subscription_id
                .as_deref()
                .is_some_and(|id| id != s.id);
            if s.deleted && other {
                return unchanged("another subscription ended");
            }
            if !newer(current.subscription_event, (event.created, s.rank)) {
                return unchanged("older than the state applied");
            }
            let mut next = current.clone();
            next.subscription_id = Some(s.id.clone());
            next.subscription_status = Some(s.status.clone());
            next.price_id.clone_from(&s.price_id);
            next.current_period_end = s.current_period_end;
            next.cancel_at_period_end = s.cancel_at_period_end && !s.deleted;
            next.subscription_event = Some((event.created, s.rank));
            if next.customer_id.is_none() {
                next.customer_id.clone_from(&s.customer);
            }
            if s.deleted {
                next.past_due_since = None;
            }
            Decision {
                next,
                plan: changed_plan(plan_of(s, prices)),
                outcome: "applied",
                payment_failed: false,
            }
        }
        Effect::Invoice {
            subscription, paid, ..
        } => {
            if subscription.is_some()
                && current.subscription_id.is_some()
                && *subscription != current.subscription_id
            {
                return unchanged("invoice of another subscription");
            }
            let rank = i32::from(*paid);
            if !newer(current.invoice_event, (event.created, rank)) {
                return unchanged("older than the state applied");
            }
            let mut next = current.clone();
            next.invoice_event = Some((event.created, rank));
            let failed_now = !*paid && current.past_due_since.is_none();
            next.past_due_since = if *paid {
                None
            } else {
                current.past_due_since.or(Some(now_ms))
            };
            Decision {
                next,
                plan: None,
                outcome: "applied",
                payment_failed: failed_now,
            }
        }
        Effect::Ignored => unchanged("ignored"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PRICES: Prices = Prices {
        pro: "price_pro",
        business: "price_biz",
    };

    fn sub(kind: &str, created: i64, id: &str, status: &str, price: &str) -> Event {
        let rank = match kind {
            "created" => 0,
            "updated" => 1,
            _ => 2,
        };
        Event {
            id: format!("evt_{kind}_{created}"),
            kind: format!("customer.subscription.{kind}"),
            created,
            effect: Effect::Subscription(Subscription {
                id: id.into(),
                customer: Some("cus_1".into()),
                status: status.into(),
                price_id: Some(price.into()),
                current_period_end: Some(created + 1000),
                cancel_at_period_end: false,
                org_id: None,
                deleted: kind == "deleted",
                rank,
            }),
        }
    }

    /// Applies events in order, as the store would, returning the final plan.
    fn run(events: &[Event]) -> (BillingState, Plan) {
        let (mut state, mut plan) = (BillingState::default(), Plan::Free);
        for e in events {
            let d = decide(&state, plan, e, &PRICES, 0);
            state = d.next;
            plan = d.plan.unwrap_or(plan);
        }
        (state, plan)
    }

    #[test]
    fn any_order_ends_in_the_latest_state() {
        let created = sub("created", 10, "sub_1", "active", "price_pro");
        let upgraded = sub("updated", 20, "sub_1", "active", "price_biz");
        let deleted = sub("deleted", 30, "sub_1", "canceled", "price_biz");
        assert_eq!(run(&[created.clone(), upgraded.clone()]).1, Plan::Business);
        assert_eq!(run(&[upgraded.clone(), created.clone()]).1, Plan::Business);
        assert_eq!(
            run(&[deleted.clone(), upgraded.clone(), created.clone()]).1,
            Plan::Free
        );
        // Same second: updated after created, whatever the arrival.
        let same = sub("updated", 10, "sub_1", "active", "price_biz");
        assert_eq!(run(&[same, created]).1, Plan::Business);
    }

    #[test]
    fn an_old_subscription_ending_leaves_the_new_one() {
        let old = sub("created", 10, "sub_old", "active", "price_pro");
        let new = sub("created", 20, "sub_new", "active", "price_biz");
        let old_deleted = sub("deleted", 30, "sub_old", "canceled", "price_pro");
        let (state, plan) = run(&[old, new, old_deleted]);
        assert_eq!(
            (state.subscription_id.as_deref(), plan),
            (Some("sub_new"), Plan::Business)
        );
    }

    #[test]
    fn incomplete_changes_nothing_and_payments_mark_past_due() {
        assert_eq!(
            run(&[sub("created", 10, "sub_1", "incomplete", "price_pro")]).1,
            Plan::Free
        );
        let invoice = |created, paid| Event {
            id: format!("evt_in_{created}"),
            kind: "invoice".into(),
            created,
            effect: Effect::Invoice {
                customer: None,
                subscription: Some("sub_1".into()),
                paid,
            },
        };
        let start = sub("created", 10, "sub_1", "active", "price_pro");
        let (state, _) = run(&[start.clone(), invoice(20, false)]);
        assert!(state.past_due_since.is_some());
        let (state, _) = run(&[start.clone(), invoice(30, true), invoice(20, false)]);
        assert!(
            state.past_due_since.is_none(),
            "a later payment wins over an earlier failure"
        );
        let d = decide(&run(&[start]).0, Plan::Pro, &invoice(20, false), &PRICES, 5);
        assert!(d.payment_failed && d.next.past_due_since == Some(5));
    }
}
