//! A project's alert settings, webhooks and their delivery log (docs/ALERTS.md).

// A handler takes one argument per path and query parameter (the delivery log has
// four), and the `OpenApi` macro keeps attributes off the methods it expands.
#![allow(clippy::too_many_arguments)]

use super::context::caller;
use super::json::ApiJson;
use super::problem::ApiResult;
use super::responses::{Created, NoContent};
use super::security::ApiAuth;
use super::ApiTags;
use crate::domain::alerts::{AlertSettings, QuotaRule, SpikeRule};
use crate::domain::timeutil::format_rfc3339_ms;
use crate::service::alerts::{self, NewWebhook};
use crate::state::SharedState;
use crate::store::{AttemptRow, WebhookRow};
use poem::web::Data;
use poem::Request;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};

/// Spike alerts: at least `threshold` occurrences of one group within
/// `window_minutes`.
#[derive(Debug, Object)]
pub struct SpikeSettings {
    pub enabled: bool,
    /// 1–100000.
    pub threshold: i64,
    /// 1–1440.
    pub window_minutes: i64,
}

/// Quota alerts: near at `near_percent` of the monthly units, and exceeded.
#[derive(Debug, Object)]
pub struct QuotaSettings {
    pub enabled: bool,
    /// 50–99.
    pub near_percent: i64,
}

#[derive(Debug, Object)]
pub struct AlertSettingsBody {
    pub new_group: bool,
    pub regression: bool,
    pub spike: SpikeSettings,
    pub quota: QuotaSettings,
}

impl From<AlertSettings> for AlertSettingsBody {
    fn from(s: AlertSettings) -> Self {
        AlertSettingsBody {
            new_group: s.new_group,
            regression: s.regression,
            spike: SpikeSettings {
                enabled: s.spike.enabled,
                threshold: s.spike.threshold,
                window_minutes: s.spike.window_minutes,
            },
            quota: QuotaSettings {
                enabled: s.quota.enabled,
                near_percent: s.quota.near_percent,
            },
        }
    }
}

#[derive(Debug, Object)]
pub struct SpikeChange {
    pub enabled: Option<bool>,
    pub threshold: Option<i64>,
    pub window_minutes: Option<i64>,
}

#[derive(Debug, Object)]
pub struct QuotaChange {
    pub enabled: Option<bool>,
    pub near_percent: Option<i64>,
}

/// The settings to store; what is left out keeps its current value.
#[derive(Debug, Object)]
pub struct AlertSettingsChange {
    pub new_group: Option<bool>,
    pub regression: Option<bool>,
    pub spike: Option<SpikeChange>,
    pub quota: Option<QuotaChange>,
}

impl AlertSettingsChange {
    fn apply(self, to: AlertSettings) -> AlertSettings {
        let spike = self.spike.map_or(to.spike, |c| SpikeRule {
            enabled: c.enabled.unwrap_or(to.spike.enabled),
            threshold: c.threshold.unwrap_or(to.spike.threshold),
            window_minutes: c.window_minutes.unwrap_or(to.spike.window_minutes),
        });
        let quota = self.quota.map_or(to.quota, |c| QuotaRule {
            enabled: c.enabled.unwrap_or(to.quota.enabled),
            near_percent: c.near_percent.unwrap_or(to.quota.near_percent),
        });
        AlertSettings {
            new_group: self.new_group.unwrap_or(to.new_group),
            regression: self.regression.unwrap_or(to.regression),
            spike,
            quota,
        }
    }
}

#[derive(Debug, Object)]
pub struct WebhookCreate {
    /// `http(s)` URL the alerts are POSTed to.
    #[oai(validator(max_length = 2048))]
    pub url: String,
    /// `generic` (signed JSON), `slack` or `discord`.
    pub format: String,
    /// Alert kinds it receives: `new_group`, `regression`, `spike`, `quota_near`,
    /// `quota_exceeded`. Default: all.
    pub kinds: Option<Vec<String>>,
    #[oai(validator(max_length = 120))]
    pub name: Option<String>,
}

#[derive(Debug, Object)]
pub struct Webhook {
    pub id: String,
    pub name: String,
    /// Where alerts are POSTed; VIEWERs see only its origin (chat services'
    /// webhook URLs are their credentials).
    pub url: String,
    pub format: String,
    pub kinds: Vec<String>,
    pub created_at: String,
    /// Set when a receiver answered `410 Gone`; nothing is sent to it any more.
    pub disabled_at: Option<String>,
    pub disabled_reason: Option<String>,
    /// The signing secret of a `generic` webhook, in the response that created it only.
    #[oai(skip_serializing_if_is_none)]
    pub secret: Option<String>,
}

impl Webhook {
    fn of(w: WebhookRow, with_secret: bool) -> Webhook {
        let secret = (with_secret && w.format == "generic").then_some(w.secret);
        Webhook {
            kinds: serde_json::from_str(&w.kinds).unwrap_or_default(),
            id: w.id,
            name: w.name,
            url: w.url,
            format: w.format,
            created_at: format_rfc3339_ms(w.created_at),
            disabled_at: w.disabled_at.map(format_rfc3339_ms),
            disabled_reason: w.disabled_reason,
            secret,
        }
    }
}

/// How a test delivery went.
#[derive(Debug, Object)]
pub struct WebhookTestResult {
    pub delivery_id: String,
    /// `delivered`, `failed`, or `disabled` (the receiver answered 410).
    pub status: String,
    pub http_status: Option<u16>,
    pub latency_ms: i64,
    pub error: Option<String>,
}

/// One attempt of a delivery.
#[derive(Debug, Object)]
pub struct DeliveryAttempt {
    pub id: String,
    /// The delivery; the same in every retry, and sent as `X-Telemetry-Delivery`.
    pub delivery_id: String,
    pub alert_id: String,
    /// The alert's kind, or `test`.
    pub kind: String,
    /// 1 for the first attempt of the delivery.
    pub attempt: i64,
    /// `delivered` (2xx), `gone` (410: the webhook was disabled), `retry` (another
    /// status) or `error` (no answer: timeout, refused, not allowed).
    pub outcome: String,
    pub http_status: Option<i64>,
    pub latency_ms: i64,
    pub error: Option<String>,
    /// The start of the receiver's answer.
    pub response: Option<String>,
    pub attempted_at: String,
}

impl From<AttemptRow> for DeliveryAttempt {
    fn from(a: AttemptRow) -> Self {
        DeliveryAttempt {
            id: a.id,
            delivery_id: a.delivery_id,
            alert_id: a.alert_id,
            kind: a.kind,
            attempt: a.attempt,
            outcome: a.outcome,
            http_status: a.http_status,
            latency_ms: a.latency_ms,
            error: a.error,
            response: a.response,
            attempted_at: format_rfc3339_ms(a.attempted_at),
        }
    }
}

#[derive(Debug, Object)]
pub struct DeliveryPage {
    pub items: Vec<DeliveryAttempt>,
    pub next_cursor: Option<String>,
}

pub struct AlertsApi;

#[OpenApi(tag = "ApiTags::Organizations")]
impl AlertsApi {
    /// Which alerts the project sends (any member).
    #[oai(path = "/api/projects/:project_id/alert-settings", method = "get")]
    async fn settings(
        &self,
        state: Data<&SharedState>,
        auth: ApiAuth,
        req: &Request,
        project_id: Path<String>,
    ) -> ApiResult<Json<AlertSettingsBody>> {
        let (who, _) = caller(&state, &auth, req).await?;
        Ok(Json(
            alerts::settings(&state, &who, &project_id.0).await?.into(),
        ))
    }

    /// Change which alerts the project sends (EDITOR or OWNER); fields left out
    /// keep their value.
    #[oai(path = "/api/projects/:project_id/alert-settings", method = "put")]
    async fn set_settings(
        &self,
        state: Data<&SharedState>,
        auth: ApiAuth,
        req: &Request,
        project_id: Path<String>,
        body: ApiJson<AlertSettingsChange>,
    ) -> ApiResult<Json<AlertSettingsBody>> {
        let (who, meta) = caller(&state, &auth, req).await?;
        let change = body.parse()?;
        let current = alerts::settings(&state, &who, &project_id.0).await?;
        Ok(Json(
            alerts::set_settings(&state, &who, &project_id.0, change.apply(current), &meta)
                .await?
                .into(),
        ))
    }

    #[oai(path = "/api/projects/:project_id/webhooks", method = "get")]
    async fn webhooks(
        &self,
        state: Data<&SharedState>,
        auth: ApiAuth,
        req: &Request,
        project_id: Path<String>,
    ) -> ApiResult<Json<Vec<Webhook>>> {
        let (who, _) = caller(&state, &auth, req).await?;
        Ok(Json(
            alerts::webhooks(&state, &who, &project_id.0)
                .await?
                .into_iter()
                .map(|w| Webhook::of(w, false))
                .collect(),
        ))
    }

    /// Add a webhook (EDITOR or OWNER). A `generic` webhook's signing `secret` is
    /// in this response only.
    #[oai(path = "/api/projects/:project_id/webhooks", method = "post")]
    async fn create_webhook(
        &self,
        state: Data<&SharedState>,
        auth: ApiAuth,
        req: &Request,
        project_id: Path<String>,
        body: ApiJson<WebhookCreate>,
    ) -> ApiResult<Created<Webhook>> {
        let (who, meta) = caller(&state, &auth, req).await?;
        let body = body.parse()?;
        let new = NewWebhook {
            url: body.url,
            format: body.format,
            kinds: body.kinds,
            name: body.name,
        };
        let row = alerts::create_webhook(&state, &who, &project_id.0, new, &meta).await?;
        Ok(Created::Created(Json(Webhook::of(row, true))))
    }

    #[oai(
        path = "/api/projects/:project_id/webhooks/:webhook_id",
        method = "delete"
    )]
    async fn delete_webhook(
        &self,
        state: Data<&SharedState>,
        auth: ApiAuth,
        req: &Request,
        project_id: Path<String>,
        webhook_id: Path<String>,
    ) -> ApiResult<NoContent> {
        let (who, meta) = caller(&state, &auth, req).await?;
        alerts::delete_webhook(&state, &who, &project_id.0, &webhook_id.0, &meta).await?;
        Ok(NoContent::NoContent)
    }

    /// Send a test alert to the webhook now (EDITOR or OWNER) and answer how it went.
    #[oai(
        path = "/api/projects/:project_id/webhooks/:webhook_id/test",
        method = "post"
    )]
    async fn test_webhook(
        &self,
        state: Data<&SharedState>,
        auth: ApiAuth,
        req: &Request,
        project_id: Path<String>,
        webhook_id: Path<String>,
    ) -> ApiResult<Json<WebhookTestResult>> {
        let (who, _) = caller(&state, &auth, req).await?;
        let outcome = alerts::test_webhook(&state, &who, &project_id.0, &webhook_id.0).await?;
        Ok(Json(WebhookTestResult {
            delivery_id: outcome.delivery_id,
            status: outcome.status.to_string(),
            http_status: outcome.http_status,
            latency_ms: outcome.latency_ms,
            error: outcome.error,
        }))
    }

    /// The webhook's recent delivery attempts, newest first.
    #[oai(
        path = "/api/projects/:project_id/webhooks/:webhook_id/deliveries",
        method = "get"
    )]
    async fn deliveries(
        &self,
        state: Data<&SharedState>,
        auth: ApiAuth,
        req: &Request,
        project_id: Path<String>,
        webhook_id: Path<String>,
        cursor: Query<Option<String>>,
        #[oai(validator(minimum(value = "1"), maximum(value = "100")))] limit: Query<Option<i64>>,
    ) -> ApiResult<Json<DeliveryPage>> {
        let (who, _) = caller(&state, &auth, req).await?;
        let (rows, next_cursor) = alerts::deliveries(
            &state,
            &who,
            &project_id.0,
            &webhook_id.0,
            cursor.0.as_deref(),
            limit.0.unwrap_or(50),
        )
        .await?;
        Ok(Json(DeliveryPage {
            items: rows.into_iter().map(DeliveryAttempt::from).collect(),
            next_cursor,
        }))
    }
}
