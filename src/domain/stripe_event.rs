//! Stripe events as billing reads them. Both API generations are read: the price
//! of a subscription item under `price` (current) or `plan` (older accounts and
//! localstripe), the period end on the item (since 2025-03-31) or the
//! subscription, an invoice's subscription under `parent.subscription_details`
//! or at the top level.

use serde_json::Value;

/// What billing does with an event; anything else is acknowledged and ignored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// `checkout.session.completed`: links the customer and subscription to the
    /// organization named by `client_reference_id`.
    CheckoutCompleted {
        org_id: Option<String>,
        customer: Option<String>,
        subscription: Option<String>,
    },
    /// `customer.subscription.created|updated|deleted`.
    Subscription(Subscription),
    /// `invoice.payment_failed` (`paid: false`), `invoice.paid` or
    /// `invoice.payment_succeeded` (`paid: true`).
    Invoice {
        customer: Option<String>,
        subscription: Option<String>,
        paid: bool,
    },
    Ignored,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscription {
    pub id: String,
    pub customer: Option<String>,
    pub status: String,
    pub price_id: Option<String>,
    /// Unix seconds.
    pub current_period_end: Option<i64>,
    pub cancel_at_period_end: bool,
    /// `metadata.org_id`, which checkout sets.
    pub org_id: Option<String>,
    pub deleted: bool,
    /// Of events created in the same second, the later kind wins: created <
    /// updated < deleted.
    pub rank: i32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub id: String,
    pub kind: String,
    /// Unix seconds.
    pub created: i64,
    pub effect: Effect,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct EventError(pub String);

pub fn parse(body: &[u8]) -> Result<Event, EventError> {
    let v: Value = serde_json::from_slice(body)
        .map_err(|e| EventError(format!("the body is not a JSON Stripe event: {e}")))?;
    let id = text(&v["id"]).ok_or_else(|| EventError("the event has no `id`".into()))?;
    let kind = text(&v["type"]).ok_or_else(|| EventError("the event has no `type`".into()))?;
    let created = v["created"]
        .as_i64()
        .ok_or_else(|| EventError("the event has no `created` time".into()))?;
    let object = &v["data"]["object"];
    if !object.is_object() {
        return Err(EventError("the event has no `data.object`".into()));
    }
    let effect = match kind.as_str() {
        "checkout.session.completed" => Effect::CheckoutCompleted {
            org_id: text(&object["client_reference_id"]),
            customer: reference(&object["customer"]),
            subscription: reference(&object["subscription"]),
        },
        "customer.subscription.created" => Effect::Subscription(subscription(object, 0, false)?),
        "customer.subscription.updated" => Effect::Subscription(subscription(object, 1, false)?),
        "customer.subscription.deleted" => Effect::Subscription(subscription(object, 2, true)?),
        "invoice.payment_failed" | "invoice.paid" | "invoice.payment_succeeded" => {
            Effect::Invoice {
                customer: reference(&object["customer"]),
                subscription: reference(&object["parent"]["subscription_details"]["subscription"])
                    .or_else(|| reference(&object["subscription"])),
                paid: kind != "invoice.payment_failed",
            }
        }
        _ => Effect::Ignored,
    };
    Ok(Event {
        id,
        kind,
        created,
        effect,
    })
}

fn subscription(o: &Value, rank: i32, deleted: bool) -> Result<Subscription, EventError> {
    let item = &o["items"]["data"][0];
    Ok(Subscription {
        id: text(&o["id"]).ok_or_else(|| EventError("the subscription has no `id`".into()))?,
        customer: reference(&o["customer"]),
        status: text(&o["status"]).unwrap_or_else(|| "incomplete".into()),
        price_id: reference(&item["price"])
            .or_else(|| reference(&item["plan"]))
            .or_else(|| reference(&o["plan"])),
        current_period_end: item["current_period_end"]
            .as_i64()
            .or_else(|| o["current_period_end"].as_i64()),
        cancel_at_period_end: o["cancel_at_period_end"].as_bool().unwrap_or(false),
        org_id: text(&o["metadata"]["org_id"]),
        deleted,
        rank,
    })
}

fn text(v: &Value) -> Option<String> {
    v.as_str().filter(|s| !s.is_empty()).map(str::to_string)
}

/// An id, or the `id` of an expanded object.
fn reference(v: &Value) -> Option<String> {
    text(v).or_else(|| text(&v["id"]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn event(kind: &str, object: Value) -> Event {
        parse(
            json!({"id":"evt_1","type":kind,"created":100,"data":{"object":object}})
                .to_string()
                .as_bytes(),
        )
        .unwrap()
    }

    #[test]
    fn subscriptions_of_both_api_generations() {
        let current = event(
            "customer.subscription.updated",
            json!({"id":"sub_1","customer":"cus_1","status":"active","cancel_at_period_end":true,
                   "items":{"data":[{"price":{"id":"price_pro"},"current_period_end":200}]}}),
        );
        let Effect::Subscription(s) = current.effect else {
            panic!()
        };
        assert_eq!(
            (
                s.price_id.as_deref(),
                s.current_period_end,
                s.cancel_at_period_end,
                s.rank
            ),
            (Some("price_pro"), Some(200), true, 1)
        );
        let older = event(
            "customer.subscription.deleted",
            json!({"id":"sub_1","customer":{"id":"cus_1"},"status":"canceled","current_period_end":300,
                   "metadata":{"org_id":"org_1"},"items":{"data":[{"plan":{"id":"price_biz"}}]}}),
        );
        let Effect::Subscription(s) = older.effect else {
            panic!()
        };
        assert_eq!(
            (
                s.customer.as_deref(),
                s.price_id.as_deref(),
                s.current_period_end,
                s.org_id.as_deref(),
                s.deleted
            ),
            (
                Some("cus_1"),
                Some("price_biz"),
                Some(300),
                Some("org_1"),
                true
            )
        );
    }

    #[test]
    fn invoices_checkout_and_the_rest() {
        let failed = event(
            "invoice.payment_failed",
            json!({"customer":"cus_1","parent":{"subscription_details":{"subscription":"sub_1"}}}),
        );
        assert_eq!(
            failed.effect,
            Effect::Invoice {
                customer: Some("cus_1".into()),
                subscription: Some("sub_1".into()),
                paid: false
            }
        );
        let paid = event(
            "invoice.payment_succeeded",
            json!({"customer":"cus_1","subscription":"sub_1"}),
        );
        assert!(matches!(paid.effect, Effect::Invoice { paid: true, .. }));
        let done = event(
            "checkout.session.completed",
            json!({"client_reference_id":"org_1","customer":"cus_1","subscription":"sub_1"}),
        );
        assert!(matches!(
            done.effect,
            Effect::CheckoutCompleted {
                org_id: Some(_),
                ..
            }
        ));
        assert_eq!(
            event("customer.created", json!({"id":"cus_1"})).effect,
            Effect::Ignored
        );
        assert!(parse(b"{}").is_err());
        assert!(parse(b"not json").is_err());
    }
}
