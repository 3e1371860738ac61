//! Accepting one ingest request: authenticate the key, validate, apply the plan's
//! limits, then hand the write to the pipeline and wait for its commit.

use crate::domain::plans::Plan;
use crate::domain::timeutil::{format_rfc3339_ms, month_key, next_month_start_ms};
use crate::error::{AppError, AppResult};
use crate::ingest::keys::KeyCheck;
use crate::ingest::limits::AppCheck;
use crate::ingest::normalize;
use crate::ingest::pipeline::{Submission, SubmitError, Write};
use crate::ingest::wire::{BatchIn, ErrorIn, EventIn, SessionIn};
use crate::service::{alert_watch, sourcemaps};
use crate::state::AppState;
use crate::store::{IngestWrite, SessionWrite};

pub const MISSING_KEY: &str = "Missing or invalid API key. Send Authorization: Bearer tt_live_<publicId>_<secret> or X-API-Key with the same value.";
const APP_RESTRICTED: &str =
    "This API key is restricted to a specific app label; send a matching `app` field.";

pub enum Payload {
    Event(EventIn),
    Batch(BatchIn),
    Error(ErrorIn),
    Session(SessionIn),
}

/// The project an ingest request writes to, and under which key.
#[derive(Clone)]
pub struct Caller {
    project_id: String,
    key_id: Option<String>,
    allowed_app: Option<String>,
    plan: Plan,
}

/// Resolves the presented key (or development mode's default project). Runs before
/// the body is parsed, so unauthenticated callers learn nothing about validation.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn authenticate(state: &AppState, key: Option<&str>) -> AppResult<Caller> {
    let now = state.clock.now_ms();
    if let Some(raw) = key {
        // A presented key must be good, even in development mode.
        return match state.keys.verify(&state.db, raw, now).await? {
            KeyCheck::Valid(k) => Ok(Caller {
                project_id: k.project_id,
                key_id: Some(k.key_id),
                allowed_app: k.allowed_app.map(|a| a.trim().to_string()),
                plan: Plan::from_stored(&k.plan),
            }),
            KeyCheck::Revoked(at) => Err(AppError::Unauthorized(format!(
                "This API key was revoked on {}; create a new key in Settings → API keys.",
                format_rfc3339_ms(at)
            ))),
            KeyCheck::Expired(at) => Err(AppError::Unauthorized(format!(
                "This API key expired on {}; create a new key in Settings → API keys.",
                format_rfc3339_ms(at)
            ))),
            KeyCheck::Invalid => Err(AppError::Unauthorized(MISSING_KEY.into())),
        };
    }
    match (
        &state.config.default_project_id,
        state.config.ingest_allow_unauthenticated,
    ) {
        (Some(project_id), true) => match state.db.project_plan(project_id).await? {
            Some(plan) => Ok(Caller {
                project_id: project_id.clone(),
                key_id: None,
                allowed_app: None,
                plan: Plan::from_stored(&plan),
            }),
            None => Err(AppError::forbidden(
                "Project not found or organization inactive.",
            )),
        },
        _ => Err(AppError::Unauthorized(MISSING_KEY.into())),
    }
}

/// Resolves a DSN's key by its public id alone (Sentry SDKs send no secret). A
/// revoked or expired key refuses the DSN; an app restriction does not apply.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn authenticate_public_id(state: &AppState, public_id: &str) -> AppResult<Caller> {
    let now = state.clock.now_ms();
    match state
        .keys
        .verify_public_id(&state.db, public_id, now)
        .await?
    {
        KeyCheck::Valid(k) => Ok(Caller {
            project_id: k.project_id,
            key_id: Some(k.key_id),
            allowed_app: None,
            plan: Plan::from_stored(&k.plan),
        }),
        KeyCheck::Revoked(at) => Err(AppError::Unauthorized(format!(
            "The DSN's key was revoked on {}; copy a new DSN from Settings → API keys.",
            format_rfc3339_ms(at)
        ))),
        KeyCheck::Expired(at) => Err(AppError::Unauthorized(format!(
            "The DSN's key expired on {}; copy a new DSN from Settings → API keys.",
            format_rfc3339_ms(at)
        ))),
        KeyCheck::Invalid => Err(AppError::Unauthorized(
            "Unknown DSN key: copy the DSN from Settings → API keys.".into(),
        )),
    }
}

impl Caller {
    pub fn project_id(&self) -> &str {
        &self.project_id
    }
}

/// Stores one ingest request durably, or refuses it having stored nothing.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn ingest(state: &AppState, caller: Caller, payload: Payload) -> AppResult<()> {
    let now = state.clock.now_ms();
    let prepared = prepare(state, &caller, payload, now).await?;
    submit(state, caller, prepared, now).await
}

/// A write checked and normalised, with the app labels it uses and the units it
/// costs.
pub struct Prepared {
    pub write: IngestWrite,
    pub apps: Vec<String>,
    pub units: i64,
}

/// Checks and normalises a payload, writing nothing.
pub async fn prepare(
    state: &AppState,
    caller: &Caller,
    payload: Payload,
    now: i64,
) -> AppResult<Prepared> {
    let (write, apps, units): (IngestWrite, Vec<String>, i64) = match &payload {
        Payload::Event(e) => {
            let w = normalize::event(e, now)?;
            let apps = vec![w.app.clone()];
            (IngestWrite::Events(vec![w]), apps, 1)
        }
        Payload::Batch(b) => {
            let events = normalize::batch(b, now, state.config.ingest_batch_max)?;
            let apps = events.iter().map(|e| e.app.clone()).collect();
            let n = events.len() as i64;
            (IngestWrite::Events(events), apps, n)
        }
        Payload::Error(e) => {
            let mut w = normalize::error(e, now)?;
            sourcemaps::regroup(state, &caller.project_id, &mut w).await;
            let apps = vec![w.app.clone()];
            (IngestWrite::Error(Box::new(w)), apps, 1)
        }
        Payload::Session(s) => {
            return session(state, caller, normalize::session(s, now)?).await;
        }
    };
    Ok(Prepared { write, apps, units })
}

/// A session write with what it costs: only a new, open session costs a unit;
/// updates and ends are free and never blocked, so a session can always be closed.
/// (The writer meters what it actually created; this only decides whether limits
/// apply.)
pub async fn session(state: &AppState, caller: &Caller, w: SessionWrite) -> AppResult<Prepared> {
    let apps = w.app.iter().cloned().collect();
    let units = if w.ended_at.is_none()
        && caller.plan.limits().monthly_units.is_some()
        && !state
            .db
            .session_exists(&caller.project_id, &w.session_id)
            .await?
    {
        1
    } else {
        0
    };
    Ok(Prepared {
        write: IngestWrite::Session(Box::new(w)),
        apps,
        units,
    })
}

/// Applies the caller's restrictions and the plan's limits to a prepared write,
/// then hands it to the writer and waits for its commit.
pub async fn submit(
    state: &AppState,
    caller: Caller,
    prepared: Prepared,
    now: i64,
) -> AppResult<()> {
    submit_together(state, caller, vec![prepared], now).await
}

/// Several writes of one request (a Sentry envelope's event and sessions): the
/// restrictions and limits are decided once for all of them — one request against
/// the rate, the units of all against the quota — so a refusal stores none; then
/// they go to the writer as one job, committed in one transaction: all or none.
pub async fn submit_together(
    state: &AppState,
    caller: Caller,
    writes: Vec<Prepared>,
    now: i64,
) -> AppResult<()> {
    let writes: Vec<Prepared> = writes
        .into_iter()
        .filter(|p| !matches!(&p.write, IngestWrite::Events(events) if events.is_empty()))
        .collect();
    if writes.is_empty() {
        return Ok(());
    }
    let apps: Vec<&str> = writes
        .iter()
        .flat_map(|p| p.apps.iter().map(String::as_str))
        .collect();
    let units = writes.iter().map(|p| p.units).sum();
    let admitted = admit(state, &caller, &apps, units, now).await?;
    let writes = writes
        .into_iter()
        .map(|p| Write {
            reserved_units: if admitted.metered { p.units } else { 0 },
            write: p.write,
        })
        .collect();
    enqueue(state, caller, writes, admitted, now).await
}

/// What admission decided: the app labels first seen, and whether the units were
/// reserved against the monthly quota.
struct Admitted {
    new_apps: Vec<String>,
    metered: bool,
    month: String,
}

async fn admit(
    state: &AppState,
    caller: &Caller,
    apps: &[&str],
    units: i64,
    now: i64,
) -> AppResult<Admitted> {
    if let Some(allowed) = &caller.allowed_app {
        if apps.iter().any(|a| a != allowed) {
            return Err(AppError::Forbidden {
                message: APP_RESTRICTED.into(),
                code: Some("app_restricted"),
                limit: None,
            });
        }
    }

    let limits = caller.plan.limits();
    let metered = units > 0;
    if metered {
        if let Some(rps) = limits.rps {
            state
                .rps
                .take(&state.db, &state.clock, &caller.project_id, rps)
                .await?
                .map_err(|retry| AppError::RateLimited {
                    message: "Ingest rate limit exceeded for this project (plan max RPS).".into(),
                    code: "ingest_rps",
                    limit: Some(i64::from(rps)),
                    retry_after_secs: retry,
                })?;
        }
    }
    let cap = if metered {
        limits.apps_per_project
    } else {
        None
    };
    let new_apps = match state
        .apps
        .admit(&state.db, &caller.project_id, apps, cap, now)
        .await?
    {
        AppCheck::Accepted(new) => new,
        AppCheck::OverCap => {
            return Err(AppError::Forbidden {
                message: "Distinct app label limit reached for this project (plan limit).".into(),
                code: Some("max_apps_per_project"),
                limit: limits.apps_per_project.map(|c| c as i64),
            })
        }
    };

    let month = month_key(now);
    let reserved = match limits.monthly_units {
        Some(limit) if metered => {
            let reserved = state
                .db
                .reserve_usage(&caller.project_id, &month, units, limit)
                .await?;
            match reserved {
                Err(used) => {
                    alert_watch::quota_refused(state, &caller.project_id, &month).await;
                    let resets = next_month_start_ms(now);
                    return Err(AppError::QuotaExceeded {
                        limit,
                        used,
                        resets_at: format_rfc3339_ms(resets),
                        retry_after_secs: ((resets - now) / 1000).max(1) as u64,
                    });
                }
                Ok(total) => {
                    alert_watch::usage_moved(state, &caller.project_id, &month, total, limit).await;
                }
            }
            true
        }
        _ => false,
    };
    Ok(Admitted {
        new_apps,
        metered: reserved,
        month,
    })
}

/// Hands a request's admitted writes to the writer and waits for their commit; the
/// units they reserved go back when they are not stored.
async fn enqueue(
    state: &AppState,
    caller: Caller,
    writes: Vec<Write>,
    admitted: Admitted,
    now: i64,
) -> AppResult<()> {
    let reserved: i64 = writes.iter().map(|w| w.reserved_units).sum();
    let month = admitted.month;
    let outcome = state
        .queue
        .submit(
            Submission {
                project_id: caller.project_id.clone(),
                key_id: caller.key_id,
                writes,
                new_apps: admitted.new_apps,
            },
            now,
            std::time::Instant::now()
                + std::time::Duration::from_secs(state.config.request_deadline_secs),
        )
        .await;
    if outcome.is_err() && reserved > 0 {
        if let Err(e) = state
            .db
            .release_usage(&caller.project_id, &month, reserved)
            .await
        {
            tracing::warn!(error = %e, "could not release reserved usage");
        }
    }
    outcome.map_err(|e| match e {
        SubmitError::Full => AppError::Unavailable {
            message: "The ingest queue is full; retry shortly.".into(),
            retry_after_secs: 1,
        },
        SubmitError::Failed(msg) => {
            tracing::error!(error = %msg, "ingest not stored");
            AppError::Unavailable {
                message: "The event could not be stored; nothing was kept. Retry shortly.".into(),
                retry_after_secs: 2,
            }
        }
    })
}
