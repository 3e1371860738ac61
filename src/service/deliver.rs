//! The deliverer: claims deliveries that are due, sends each (a signed webhook
//! request, or a mail), records the attempt and schedules a retry with backoff
//! when it failed. A delivery is claimed by one process at a time; the attempt is
//! recorded only while the claim is still that process's.

use crate::domain::alert_message::{signature, AlertMessage};
use crate::domain::alerts::{answer_of, next_attempt, Answer, WebhookFormat};
use crate::domain::ids::new_id;
use crate::error::AppResult;
use crate::mail::templates;
use crate::state::AppState;
use crate::store::{AttemptRecord, DueDelivery, WebhookRow};
use crate::webhook::{Sent, TIMEOUT};
use futures_util::stream::{self, StreamExt};
use std::time::Duration;

/// Deliveries claimed at once, and sent concurrently.
const BATCH: i64 = 16;
const CONCURRENCY: usize = 8;

/// Sends the deliveries that are due; returns how many were attempted.
#[tracing::instrument(skip_all)]
pub async fn deliver_due(state: &AppState) -> AppResult<usize> {
    let now = state.clock.now_ms();
    // Long enough for every send of the batch to end (each is bounded by
    // TIMEOUT), short enough that a crashed process's deliveries go out soon.
    let lease_ms = (TIMEOUT.as_millis() as i64) * 3;
    let claimed = state
        .db
        .claim_deliveries(&new_id(), now, lease_ms, BATCH)
        .await?;
    let attempted = claimed.len();
    stream::iter(claimed)
        .for_each_concurrent(CONCURRENCY, |delivery| async move {
            if let Err(e) = deliver(state, &delivery).await {
                tracing::warn!(error = %e, delivery = %delivery.id, "delivery attempt not recorded; retried after its lease");
            }
        })
        .await;
    Ok(attempted)
}

async fn deliver(state: &AppState, delivery: &DueDelivery) -> AppResult<()> {
    let stored = state.db.alert_message(&delivery.alert_id).await?;
    let message = stored
        .as_deref()
        .and_then(|m| serde_json::from_str::<AlertMessage>(m).ok());
    let record = match (message, delivery.channel.as_str()) {
        (None, _) => given_up("the alert is gone"),
        (Some(message), "email") => send_mail(state, delivery, &message).await,
        (Some(message), _) => send_webhook(state, delivery, &message).await?,
    };
    if !state
        .db
        .record_attempt(delivery, &record, state.clock.now_ms())
        .await?
    {
        tracing::info!(delivery = %delivery.id, "another process took this delivery over; its attempt is not recorded");
    }
    Ok(())
}

async fn send_webhook(
    state: &AppState,
    delivery: &DueDelivery,
    message: &AlertMessage,
) -> AppResult<AttemptRecord> {
    let webhook = match delivery.webhook_id.as_deref() {
        Some(id) => state.db.webhook(&message.project.id, id).await?,
        None => None,
    };
    let Some(webhook) = webhook else {
        return Ok(given_up("the webhook was deleted"));
    };
    if webhook.disabled_at.is_some() {
        return Ok(given_up("the webhook is disabled"));
    }
    let sent = post_signed(state, &webhook, message, &delivery.id, TIMEOUT).await;
    if sent.error.is_some() || sent.status.is_some_and(|s| !(200..300).contains(&s)) {
        tracing::info!(
            delivery = %delivery.id,
            webhook = %webhook.id,
            status = ?sent.status,
            error = sent.error.as_deref().unwrap_or(""),
            "webhook delivery failed"
        );
    }
    Ok(attempt_record(
        &sent,
        Some(delivery.attempts),
        state.clock.now_ms(),
    ))
}

async fn send_mail(
    state: &AppState,
    delivery: &DueDelivery,
    message: &AlertMessage,
) -> AttemptRecord {
    let Some(to) = delivery.email.as_deref() else {
        return given_up("no address");
    };
    let action = if message.kind.is_quota() {
        "See the usage"
    } else {
        "Open the error"
    };
    let mail = templates::alert(
        to,
        &message.headline(),
        &message.context(),
        action,
        &message.url,
    );
    let started = std::time::Instant::now();
    let result = state.mailer.send(mail).await;
    let sent = Sent {
        status: None,
        latency_ms: started.elapsed().as_millis() as i64,
        response: None,
        error: result.as_ref().err().map(|e| e.to_string()),
    };
    match result {
        Ok(()) => AttemptRecord {
            outcome: "delivered",
            http_status: None,
            latency_ms: sent.latency_ms,
            error: None,
            response: None,
            status: "delivered",
            next_attempt_at: None,
            disable_webhook: None,
        },
        Err(_) => retry_or_fail(
            &sent,
            "error",
            Some(delivery.attempts),
            state.clock.now_ms(),
        ),
    }
}

/// POSTs `message` in the webhook's format with the headers of every webhook
/// request: the signature (which receivers of the generic format verify, over the
/// wall-clock time of sending for their replay check) and the delivery's id (which
/// they deduplicate on; it stays the same across retries).
pub(crate) async fn post_signed(
    state: &AppState,
    webhook: &WebhookRow,
    message: &AlertMessage,
    delivery_id: &str,
    timeout: Duration,
) -> Sent {
    let format = WebhookFormat::parse(&webhook.format).unwrap_or(WebhookFormat::Generic);
    let body = serde_json::to_vec(&message.body(format)).unwrap_or_default();
    let t = chrono::Utc::now().timestamp();
    let headers = [
        (
            "x-telemetry-signature",
            signature(&webhook.secret, t, &body),
        ),
        ("x-telemetry-delivery", delivery_id.to_string()),
    ];
    state
        .webhooks
        .post(&webhook.url, body, &headers, timeout)
        .await
}

/// What an attempt that ended as `sent` at `now` means. `attempts` is how many
/// came before it; `None` for a one-off (a test), which is never retried.
pub(crate) fn attempt_record(sent: &Sent, attempts: Option<i64>, now: i64) -> AttemptRecord {
    match sent.status.map(answer_of) {
        Some(Answer::Delivered) => AttemptRecord {
            outcome: "delivered",
            http_status: sent.status.map(i64::from),
            latency_ms: sent.latency_ms,
            error: sent.error.clone(),
            response: sent.response.clone(),
            status: "delivered",
            next_attempt_at: None,
            disable_webhook: None,
        },
        Some(Answer::Gone) => AttemptRecord {
            outcome: "gone",
            http_status: Some(410),
            latency_ms: sent.latency_ms,
            error: Some("the receiver answered 410 Gone: the webhook is disabled".into()),
            response: sent.response.clone(),
            status: "failed",
            next_attempt_at: None,
            disable_webhook: Some("the receiver answered 410 Gone".into()),
        },
        Some(Answer::Retry) => retry_or_fail(sent, "retry", attempts, now),
        None => retry_or_fail(sent, "error", attempts, now),
    }
}

fn retry_or_fail(
    sent: &Sent,
    outcome: &'static str,
    attempts: Option<i64>,
    now: i64,
) -> AttemptRecord {
    let next = attempts.and_then(|a| next_attempt(a as u32 + 1, now, rand::random::<f64>()));
    let error = sent.error.clone().or_else(|| {
        sent.status
            .map(|s| format!("the receiver answered HTTP {s}"))
    });
    AttemptRecord {
        outcome,
        http_status: sent.status.map(i64::from),
        latency_ms: sent.latency_ms,
        error,
        response: sent.response.clone(),
        status: if next.is_some() { "pending" } else { "failed" },
        next_attempt_at: next,
        disable_webhook: None,
    }
}

fn given_up(why: &str) -> AttemptRecord {
    AttemptRecord {
        outcome: "error",
        http_status: None,
        latency_ms: 0,
        error: Some(why.to_string()),
        response: None,
        status: "cancelled",
        next_attempt_at: None,
        disable_webhook: None,
    }
}
