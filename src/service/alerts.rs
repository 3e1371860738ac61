//! A project's alert settings and webhooks, as the API and the dashboard change
//! them: VIEWER reads, EDITOR and OWNER change, every change audited.

use crate::domain::alert_message::{AlertMessage, ProjectRef};
use crate::domain::alerts::{AlertKind, AlertSettings, WebhookFormat};
use crate::domain::ids::new_id;
use crate::domain::plans::Plan;
use crate::domain::rbac::{allows, Action};
use crate::domain::timeutil::{month_key, next_month_start_ms};
use crate::error::{AppError, AppResult};
use crate::service::deliver::{attempt_record, post_signed};
use crate::service::orgs::{entry, require, require_project};
use crate::service::principal::{Principal, RequestMeta};
use crate::state::AppState;
use crate::store::{AttemptRow, DueDelivery, WebhookRow};

/// Webhooks per project.
const MAX_WEBHOOKS: usize = 20;
/// Longest webhook URL.
const MAX_URL: usize = 2_048;

#[tracing::instrument(skip_all)]
pub async fn settings(
    state: &AppState,
    who: &Principal,
    project_id: &str,
) -> AppResult<AlertSettings> {
    require_project(state, who, project_id, Action::Read).await?;
    settings_of(state, project_id).await
}

/// The project's settings, without a role check (for the alert workers).
pub(crate) async fn settings_of(state: &AppState, project_id: &str) -> AppResult<AlertSettings> {
    let stored = state.db.alert_settings(project_id).await?;
    Ok(AlertSettings::from_stored(stored.as_deref()))
}

#[tracing::instrument(skip_all)]
pub async fn set_settings(
    state: &AppState,
    who: &Principal,
    project_id: &str,
    settings: AlertSettings,
    meta: &RequestMeta,
) -> AppResult<AlertSettings> {
    let project = require_project(state, who, project_id, Action::Edit).await?;
    if let Some((field, problem)) = settings.problem() {
        return Err(AppError::invalid(field, format!("`{field}` {problem}")));
    }
    let stored = settings.to_stored();
    let audit = entry(
        state,
        &project.org_id,
        who,
        meta,
        "alerts.settings",
        Some(project_id),
        serde_json::from_str(&stored).ok(),
    );
    state
        .db
        .set_alert_settings(project_id, &stored, &[audit])
        .await?;
    state.alerts.forget_settings(project_id);
    Ok(settings)
}

#[tracing::instrument(skip_all)]
pub async fn webhooks(
    state: &AppState,
    who: &Principal,
    project_id: &str,
) -> AppResult<Vec<WebhookRow>> {
    let project = require_project(state, who, project_id, Action::Read).await?;
    let role = require(state, who, &project.org_id, Action::Read).await?;
    let mut hooks = state.db.webhooks_of(project_id).await?;
    if !allows(role, Action::Edit) {
        // Slack's and Discord's URLs are their credentials: viewers see the origin.
        for hook in &mut hooks {
            hook.url = format!("{}/…", origin_of(&hook.url));
        }
    }
    Ok(hooks)
}

/// What a new webhook is asked to be.
#[derive(Debug, Clone)]
pub struct NewWebhook {
    pub url: String,
    pub format: String,
    pub kinds: Option<Vec<String>>,
    pub name: Option<String>,
}

/// Creates a webhook; the row returned carries the secret, which the caller shows
/// this once (generic webhooks sign with it).
#[tracing::instrument(skip_all)]
pub async fn create_webhook(
    state: &AppState,
    who: &Principal,
    project_id: &str,
    new: NewWebhook,
    meta: &RequestMeta,
) -> AppResult<WebhookRow> {
    let project = require_project(state, who, project_id, Action::Edit).await?;
    let format = WebhookFormat::parse(&new.format)
        .ok_or_else(|| AppError::invalid("format", "`format` must be generic, slack or discord"))?;
    let kinds = match &new.kinds {
        None => AlertKind::ALL.to_vec(),
        Some(list) if list.is_empty() => {
            return Err(AppError::invalid(
                "kinds",
                "`kinds` must name at least one kind (or be left out for all)",
            ))
        }
        Some(list) => {
            let mut kinds = Vec::new();
            for k in list {
                let kind = AlertKind::parse(k).ok_or_else(|| {
                    AppError::invalid(
                        "kinds",
                        format!("unknown kind {k:?}; expected new_group, regression, spike, quota_near or quota_exceeded"),
                    )
                })?;
                if !kinds.contains(&kind) {
                    kinds.push(kind);
                }
            }
            kinds
        }
    };
    let url = new.url.trim().to_string();
    if url.len() > MAX_URL {
        return Err(AppError::invalid(
            "url",
            "`url` must be at most 2048 characters",
        ));
    }
    state
        .webhooks
        .check_url(&url)
        .await
        .map_err(|problem| AppError::invalid("url", format!("`url` {problem}")))?;
    let name = match new.name.as_deref().map(str::trim) {
        Some(n) if n.chars().count() > 120 => {
            return Err(AppError::invalid(
                "name",
                "`name` must be at most 120 characters",
            ))
        }
        Some(n) if !n.is_empty() => n.to_string(),
        _ => default_name(&url, format),
    };
    if state.db.webhooks_of(project_id).await?.len() >= MAX_WEBHOOKS {
        return Err(AppError::invalid(
            "webhooks",
            format!("a project has at most {MAX_WEBHOOKS} webhooks; delete one first"),
        ));
    }
    let row = WebhookRow {
        id: new_id(),
        project_id: project_id.to_string(),
        name,
        url,
        format: format.as_str().to_string(),
        kinds: serde_json::to_string(&kinds.iter().map(|k| k.as_str()).collect::<Vec<_>>())
            .unwrap_or_else(|_| "[]".into()),
        secret: format!("whsec_{}", hex::encode(rand::random::<[u8; 24]>())),
        created_at: state.clock.now_ms(),
        disabled_at: None,
        disabled_reason: None,
    };
    // The URL may carry a token (Slack's and Discord's do): the log keeps its host.
    let audit = entry(
        state,
        &project.org_id,
        who,
        meta,
        "webhook.create",
        Some(&row.id),
        Some(
            serde_json::json!({ "format": row.format, "host": host_of(&row.url), "kinds": kinds.iter().map(|k| k.as_str()).collect::<Vec<_>>() }),
        ),
    );
    state.db.insert_webhook(&row, &[audit]).await?;
    Ok(row)
}

#[tracing::instrument(skip_all)]
pub async fn delete_webhook(
    state: &AppState,
    who: &Principal,
    project_id: &str,
    webhook_id: &str,
    meta: &RequestMeta,
) -> AppResult<()> {
    let project = require_project(state, who, project_id, Action::Edit).await?;
    let audit = entry(
        state,
        &project.org_id,
        who,
        meta,
        "webhook.delete",
        Some(webhook_id),
        None,
    );
    let deleted = state
        .db
        .delete_webhook(project_id, webhook_id, state.clock.now_ms(), &[audit])
        .await?;
    if !deleted {
        return Err(AppError::NotFound("no such webhook".into()));
    }
    Ok(())
}

/// How a test delivery went.
#[derive(Debug, Clone)]
pub struct TestOutcome {
    pub delivery_id: String,
    pub status: &'static str,
    pub http_status: Option<u16>,
    pub latency_ms: i64,
    pub error: Option<String>,
}

/// Sends a test alert to the webhook now, records the attempt in its log and
/// answers how it went. A failed test is not retried; a `410` disables the
/// webhook as any delivery's would.
#[tracing::instrument(skip_all)]
pub async fn test_webhook(
    state: &AppState,
    who: &Principal,
    project_id: &str,
    webhook_id: &str,
) -> AppResult<TestOutcome> {
    let project = require_project(state, who, project_id, Action::Edit).await?;
    let webhook = state
        .db
        .webhook(project_id, webhook_id)
        .await?
        .ok_or_else(|| AppError::NotFound("no such webhook".into()))?;
    let now = state.clock.now_ms();
    let alert_id = format!("test_{}", new_id());
    let message = AlertMessage {
        id: alert_id.clone(),
        kind: AlertKind::NewGroup,
        test: true,
        project: ProjectRef {
            id: project.id.clone(),
            name: project.name.clone(),
        },
        group: None,
        count: None,
        window_minutes: None,
        follow_up: false,
        organization: None,
        occurred_at: now,
        url: format!(
            "{}/settings/alerts?project={}",
            state.config.public_url(),
            project.id
        ),
    };
    let delivery = DueDelivery {
        id: new_id(),
        alert_id: alert_id.clone(),
        channel: "webhook".into(),
        webhook_id: Some(webhook.id.clone()),
        email: None,
        attempts: 0,
        claim: new_id(),
    };
    state
        .db
        .insert_test_delivery(&delivery.id, &alert_id, &webhook.id, &delivery.claim, now)
        .await?;
    // Answered before the request's own deadline, so the attempt is recorded
    // and its outcome shown even when the receiver never answers.
    let budget = std::time::Duration::from_secs(state.config.request_deadline_secs)
        .saturating_sub(std::time::Duration::from_secs(1))
        .max(std::time::Duration::from_secs(1));
    let sent = post_signed(state, &webhook, &message, &delivery.id, budget).await;
    let record = attempt_record(&sent, None, state.clock.now_ms());
    state
        .db
        .record_attempt(&delivery, &record, state.clock.now_ms())
        .await?;
    Ok(TestOutcome {
        delivery_id: delivery.id,
        status: match (record.status, record.disable_webhook.is_some()) {
            (_, true) => "disabled",
            ("delivered", _) => "delivered",
            _ => "failed",
        },
        http_status: sent.status,
        latency_ms: sent.latency_ms,
        error: record.error,
    })
}

/// A page of the webhook's delivery log, newest first.
#[tracing::instrument(skip_all)]
pub async fn deliveries(
    state: &AppState,
    who: &Principal,
    project_id: &str,
    webhook_id: &str,
    cursor: Option<&str>,
    limit: i64,
) -> AppResult<(Vec<AttemptRow>, Option<String>)> {
    require_project(state, who, project_id, Action::Read).await?;
    if state.db.webhook(project_id, webhook_id).await?.is_none() {
        return Err(AppError::NotFound("no such webhook".into()));
    }
    let before = match cursor {
        None | Some("") => None,
        Some(c) => Some(parse_cursor(c)?),
    };
    let limit = limit.clamp(1, 100);
    let rows = state
        .db
        .webhook_attempts(webhook_id, before, limit + 1)
        .await?;
    page(rows, limit)
}

/// A project of the organization at or past its quota-near percentage this month.
#[derive(Debug, Clone)]
pub struct QuotaStanding {
    pub project_id: String,
    pub project_name: String,
    pub plan: Plan,
    pub used: i64,
    pub limit: i64,
    /// The project's quota-near percentage (its alert settings).
    pub near_percent: i64,
    /// When the month's units start again (UTC midnight of the next month).
    pub resets_at: i64,
}

impl QuotaStanding {
    pub fn exceeded(&self) -> bool {
        self.used >= self.limit
    }

    /// Whole percent used, 100 and more once exceeded.
    pub fn percent(&self) -> i64 {
        self.used.saturating_mul(100) / self.limit.max(1)
    }
}

/// The projects of the organization that used at least their quota-near
/// percentage of the plan's monthly units, for the organization's owners (others,
/// and unlimited plans, get none). One query: the dashboard asks on every page.
#[tracing::instrument(skip_all)]
pub async fn quota_standing(
    state: &AppState,
    who: &Principal,
    org_id: &str,
) -> AppResult<Vec<QuotaStanding>> {
    let now = state.clock.now_ms();
    let rows = state
        .db
        .owned_org_usage(org_id, &who.user_id, &month_key(now))
        .await?;
    Ok(rows
        .into_iter()
        .filter_map(|r| {
            let plan = Plan::from_stored(&r.plan);
            let limit = plan.limits().monthly_units.filter(|l| *l > 0)?;
            let near_percent = AlertSettings::from_stored(r.alert_settings.as_deref())
                .quota
                .near_percent;
            (r.units.saturating_mul(100) >= limit.saturating_mul(near_percent)).then(|| {
                QuotaStanding {
                    project_id: r.project_id,
                    project_name: r.project_name,
                    plan,
                    used: r.units,
                    limit,
                    near_percent,
                    resets_at: next_month_start_ms(now),
                }
            })
        })
        .collect())
}

fn page(mut rows: Vec<AttemptRow>, limit: i64) -> AppResult<(Vec<AttemptRow>, Option<String>)> {
    let next = if rows.len() as i64 > limit {
        rows.truncate(limit as usize);
        rows.last().map(|r| format!("{}_{}", r.attempted_at, r.id))
    } else {
        None
    };
    Ok((rows, next))
}

fn parse_cursor(c: &str) -> AppResult<(i64, String)> {
    c.split_once('_')
        .and_then(|(at, id)| Some((at.parse().ok()?, id.to_string())))
        .ok_or_else(|| AppError::invalid("cursor", "`cursor` is not one this API returned"))
}

fn host_of(url: &str) -> String {
    url::Url::parse(url)
        .ok()
        .and_then(|u| u.host_str().map(str::to_string))
        .unwrap_or_default()
}

/// `scheme://host[:port]` of a URL.
fn origin_of(url: &str) -> String {
    url::Url::parse(url)
        .map(|u| u.origin().ascii_serialization())
        .unwrap_or_default()
}

fn default_name(url: &str, format: WebhookFormat) -> String {
    let host = host_of(url);
    match format {
        WebhookFormat::Generic => host,
        WebhookFormat::Slack => format!("Slack ({host})"),
        WebhookFormat::Discord => format!("Discord ({host})"),
    }
}
