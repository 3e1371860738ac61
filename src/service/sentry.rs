//! Accepting what the Sentry SDKs send (`/api/{project_number}/envelope/` and
//! `/store/`): authenticate the DSN's key, decode the body, read the envelope, map
//! its event onto our error occurrences, and store it with the same durability,
//! limits and quotas as `/ingest/error`. Other item types are accepted and counted
//! (docs/SENTRY.md).

use crate::error::{AppError, AppResult};
use crate::http::decode::{decode, Decode};
use crate::ingest::normalize;
use crate::ingest::sentry::{auth, envelope, event, performance, session};
use crate::service::ingest::{self, Caller, Prepared};
use crate::service::sourcemaps;
use crate::state::AppState;
use crate::store::IngestWrite;
use dashmap::DashMap;
use std::sync::atomic::{AtomicU64, Ordering};

/// Which of the two routes the request came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    Envelope,
    /// The legacy single-event route (an envelope body is read as one too).
    Store,
}

/// One request as the HTTP edge saw it.
pub struct Request<'a> {
    pub route: Route,
    pub project_number: &'a str,
    pub query: Option<&'a str>,
    pub auth_header: Option<&'a str>,
    pub content_type: Option<&'a str>,
    pub content_encoding: Option<&'a str>,
    pub body: bytes::Bytes,
}

/// Items received, by type and what became of them, and what the SDKs report
/// they discarded (client reports), for `/metrics`.
#[derive(Default)]
pub struct ItemCounts {
    items: DashMap<(String, &'static str), AtomicU64>,
    discarded: DashMap<(&'static str, &'static str), AtomicU64>,
}

impl ItemCounts {
    fn add(&self, kind: &str, outcome: &'static str) {
        // Unknown types are counted under one name: a client must not grow the map.
        let kind = if KNOWN.contains(&kind) { kind } else { "other" };
        self.items
            .entry((kind.to_string(), outcome))
            .or_default()
            .fetch_add(1, Ordering::Relaxed);
    }

    /// A `client_report`: what the SDK dropped before sending, by reason and category.
    fn discarded(&self, report: &serde_json::Value) {
        let known = |list: &[&'static str], v: Option<&str>| -> &'static str {
            v.and_then(|v| list.iter().find(|k| **k == v).copied())
                .unwrap_or("other")
        };
        for d in report
            .get("discarded_events")
            .and_then(|d| d.as_array())
            .into_iter()
            .flatten()
        {
            let reason = known(&REASONS, d.get("reason").and_then(|r| r.as_str()));
            let category = known(&CATEGORIES, d.get("category").and_then(|c| c.as_str()));
            let quantity = d.get("quantity").and_then(|q| q.as_u64()).unwrap_or(0);
            self.discarded
                .entry((reason, category))
                .or_default()
                .fetch_add(quantity, Ordering::Relaxed);
        }
    }

    pub fn exposition(&self) -> String {
        let mut out = String::from(
            "# HELP telemetry_sentry_items_total Items of Sentry envelopes, by type and outcome (stored, counted, dropped).\n\
             # TYPE telemetry_sentry_items_total counter\n",
        );
        let mut rows: Vec<_> = self
            .items
            .iter()
            .map(|e| (e.key().clone(), e.value().load(Ordering::Relaxed)))
            .collect();
        rows.sort();
        for ((kind, outcome), n) in rows {
            out.push_str(&format!(
                "telemetry_sentry_items_total{{type=\"{kind}\",outcome=\"{outcome}\"}} {n}\n"
            ));
        }
        out.push_str(
            "# HELP telemetry_sentry_discarded_total What Sentry SDKs report they dropped before sending (client reports), by reason and category.\n\
             # TYPE telemetry_sentry_discarded_total counter\n",
        );
        let mut rows: Vec<_> = self
            .discarded
            .iter()
            .map(|e| (*e.key(), e.value().load(Ordering::Relaxed)))
            .collect();
        rows.sort();
        for ((reason, category), n) in rows {
            out.push_str(&format!(
                "telemetry_sentry_discarded_total{{reason=\"{reason}\",category=\"{category}\"}} {n}\n"
            ));
        }
        out
    }
}

/// Client-report reasons (the SDKs' outcome reasons).
const REASONS: [&str; 13] = [
    "before_send",
    "event_processor",
    "sample_rate",
    "ratelimit_backoff",
    "send_error",
    "network_error",
    "no_parent_span",
    "queue_overflow",
    "cache_overflow",
    "buffer_overflow",
    "internal_sdk_error",
    "insufficient_data",
    "backpressure",
];

/// Data categories of the rate-limit protocol.
const CATEGORIES: [&str; 15] = [
    "default",
    "error",
    "transaction",
    "monitor",
    "span",
    "log_item",
    "security",
    "attachment",
    "session",
    "profile",
    "profile_chunk",
    "replay",
    "feedback",
    "trace_metric",
    "internal",
];

const KNOWN: [&str; 17] = [
    "event",
    "transaction",
    "span",
    "session",
    "sessions",
    "client_report",
    "attachment",
    "feedback",
    "user_report",
    "log",
    "trace_metric",
    "profile",
    "profile_chunk",
    "replay_event",
    "replay_recording",
    "replay_video",
    "check_in",
];

/// Stores what the request carries; answers the event id, if any.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn receive(state: &AppState, req: Request<'_>) -> AppResult<Option<String>> {
    let number: i64 = req.project_number.parse().map_err(|_| {
        AppError::invalid(
            "project",
            "the project in the URL must be the DSN's project number",
        )
    })?;
    let presented = auth::presented_key(req.query, req.auth_header)
        .map_err(|m| AppError::invalid("sentry_key", m))?;
    // A key in the query or header is checked before the body is decoded.
    let caller = match &presented {
        Some(key) => Some(caller_for(state, key, number).await?),
        None => None,
    };
    let body = decode(req.content_encoding, req.body, state.config.max_body_bytes).map_err(
        |e| match e {
            Decode::TooLarge(limit) => AppError::PayloadTooLarge {
                message: e.to_string(),
                limit: limit as u64,
            },
            Decode::Unsupported(_) => AppError::UnsupportedMediaType(e.to_string()),
            Decode::Corrupt(_) => AppError::invalid("body", e.to_string()),
        },
    )?;
    let as_envelope = req.route == Route::Envelope
        || req
            .content_type
            .is_some_and(|c| c.starts_with("application/x-sentry-envelope"));
    if !as_envelope {
        let caller = caller.ok_or_else(missing_key)?;
        let event: serde_json::Value = serde_json::from_slice(&body)
            .map_err(|e| AppError::invalid("event", format!("the event is not JSON: {e}")))?;
        let now = state.clock.now_ms();
        let (prepared, id) = prepare_event(state, &caller, &event, now).await?;
        ingest::submit(state, caller, prepared, now).await?;
        state.sentry_items.add("event", "stored");
        return Ok(id);
    }
    let parsed = envelope::parse(&body).map_err(|m| AppError::invalid("envelope", m.0))?;
    let caller = match caller {
        Some(c) => c,
        // Forwarded through a tunnel: the DSN is in the envelope header.
        None => {
            let dsn = parsed
                .header
                .get("dsn")
                .and_then(|d| d.as_str())
                .ok_or_else(missing_key)?;
            let dsn = crate::domain::dsn::parse(dsn)
                .ok_or_else(|| AppError::invalid("dsn", "the envelope's `dsn` is not a DSN"))?;
            if dsn.project_number != number {
                return Err(AppError::forbidden(
                    "The envelope's DSN names another project than the URL.",
                ));
            }
            caller_for(state, &dsn.public_id, number).await?
        }
    };
    let mut id = parsed
        .header
        .get("event_id")
        .and_then(|v| v.as_str())
        .map(str::to_string);
    // Every item is read and checked before anything is written: a malformed one
    // refuses the envelope whole.
    let mut writes = Vec::new();
    let mut performance = Vec::new();
    let mut events = 0;
    let now = state.clock.now_ms();
    let sdk = parsed.header.get("sdk");
    for item in &parsed.items {
        let json = || -> AppResult<serde_json::Value> {
            serde_json::from_slice(item.payload).map_err(|e| {
                AppError::invalid(
                    "envelope",
                    format!("item {}: the payload is not JSON: {e}", item.kind),
                )
            })
        };
        match item.kind.as_str() {
            "event" => {
                events += 1;
                if events > 1 {
                    return Err(AppError::invalid(
                        "envelope",
                        "an envelope carries at most one event",
                    ));
                }
                let (prepared, event_id) = prepare_event(state, &caller, &json()?, now).await?;
                id = id.or(event_id);
                writes.push(prepared);
            }
            "session" | "sessions" => {
                let payload = json()?;
                let mapped = if item.kind == "session" {
                    vec![session::to_session(&payload, sdk)
                        .map_err(|m| AppError::invalid("session", m))?]
                } else {
                    session::from_aggregates(&payload, sdk)
                        .map_err(|m| AppError::invalid("sessions", m))?
                };
                for m in mapped {
                    let mut w = normalize::session(&m.session, now)?;
                    w.errored = m.errored;
                    w.crashed = m.crashed;
                    writes.push(ingest::session(state, &caller, w).await?);
                }
            }
            "transaction" => performance.extend(performance::from_transaction(&json()?)),
            "span" => performance.extend(performance::from_spans(&json()?)),
            "feedback" => performance
                .push(event::to_feedback(&json()?).map_err(|m| AppError::invalid("feedback", m))?),
            _ => {}
        }
    }
    if !performance.is_empty() {
        // Page loads, web vitals and feedback of the envelope: one batch, one commit.
        let batch = ingest::Payload::Batch(crate::ingest::wire::BatchIn {
            events: performance,
        });
        writes.push(ingest::prepare(state, &caller, batch, now).await?);
    }
    ingest::submit_together(state, caller, writes, now).await?;
    for item in &parsed.items {
        let outcome = match item.kind.as_str() {
            "event" | "feedback" | "session" | "sessions" | "transaction" | "span" => "stored",
            "client_report" => {
                if let Ok(report) = serde_json::from_slice(item.payload) {
                    state.sentry_items.discarded(&report);
                }
                "counted"
            }
            _ => "dropped",
        };
        state.sentry_items.add(&item.kind, outcome);
    }
    Ok(id)
}

fn missing_key() -> AppError {
    AppError::forbidden(
        "Missing DSN key: send sentry_key in the query string or X-Sentry-Auth (the SDKs do when given the DSN).",
    )
}

/// The key's project must be the one the DSN names.
async fn caller_for(state: &AppState, public_id: &str, number: i64) -> AppResult<Caller> {
    let caller = ingest::authenticate_public_id(state, public_id).await?;
    let project = match state.sentry_projects.get(&number) {
        Some(id) => id.clone(),
        None => {
            let row = state.db.project_by_number(number).await?;
            let id = row.map(|p| p.id).unwrap_or_default();
            // Numbers are never reused, so the answer holds for good.
            if !id.is_empty() {
                state.sentry_projects.insert(number, id.clone());
            }
            id
        }
    };
    if project != caller.project_id() {
        return Err(AppError::forbidden(
            "The DSN's key does not belong to the project number in the URL; copy the DSN from Settings → API keys.",
        ));
    }
    Ok(caller)
}

/// An event checked and mapped, ready to store, with its id.
async fn prepare_event(
    state: &AppState,
    caller: &Caller,
    event: &serde_json::Value,
    now: i64,
) -> AppResult<(Prepared, Option<String>)> {
    let mapped = event::to_error(event).map_err(|m| AppError::invalid("event", m))?;
    let mut w = normalize::error(&mapped.error, now)?;
    sourcemaps::regroup(state, caller.project_id(), &mut w).await;
    if let Some(parts) = &mapped.fingerprint {
        w.fingerprint = crate::domain::grouping::custom_fingerprint(&w.app, parts, &w.fingerprint);
    }
    w.unhandled |= mapped.unhandled;
    w.device_browser = mapped.device_browser;
    w.device_os = mapped.device_os;
    let apps = vec![w.app.clone()];
    let prepared = Prepared {
        write: IngestWrite::Error(Box::new(w)),
        apps,
        units: 1,
    };
    Ok((prepared, mapped.event_id))
}
