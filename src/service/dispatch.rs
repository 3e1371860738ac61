//! The fan-out: an alert claimed from the outbox becomes, in one transaction, the
//! message every channel tells, the bell's notifications and a delivery per
//! mailbox and per webhook that wants it. Whichever process claims an alert does
//! this once; one that dies midway leaves it to be claimed again.

use crate::domain::alert_message::{AlertMessage, GroupRef, OrgRef, ProjectRef};
use crate::domain::alerts::AlertKind;
use crate::domain::ids::new_id;
use crate::domain::notify::{Kind, Prefs};
use crate::domain::plans::Plan;
use crate::error::AppResult;
use crate::service::alerts::settings_of;
use crate::state::AppState;
use crate::store::{AlertRow, NewDelivery, NotificationRow, ProjectRow, WebhookRow};

/// How long a claimed alert is this process's to fan out.
const LEASE_MS: i64 = 60_000;
/// Alerts claimed at once.
const BATCH: i64 = 20;

/// Fans out the alerts waiting in the outbox; returns how many.
#[tracing::instrument(skip_all)]
pub async fn dispatch_waiting(state: &AppState) -> AppResult<usize> {
    let now = state.clock.now_ms();
    let claimed = state.db.claim_alerts(now, LEASE_MS, BATCH).await?;
    let mut done = 0;
    for alert in claimed {
        match dispatch(state, &alert).await {
            Ok(true) => done += 1,
            Ok(false) => {}
            Err(e) => {
                tracing::warn!(error = %e, alert = %alert.id, "alert not fanned out; retried after its lease")
            }
        }
    }
    if done > 0 {
        state.alerts.wake_deliverer();
    }
    Ok(done)
}

async fn dispatch(state: &AppState, alert: &AlertRow) -> AppResult<bool> {
    let now = state.clock.now_ms();
    let kind = AlertKind::parse(&alert.kind);
    let project = state.db.project_by_id(&alert.project_id).await?;
    // An alert whose project or group is gone, or whose kind the project switched
    // off, is marked done with nothing to send.
    let mut stored = "{}".to_string();
    let mut notifications = Vec::new();
    let mut deliveries = Vec::new();
    if let (Some(kind), Some(project)) = (kind, project) {
        if let Some(message) = message(state, alert, kind, &project).await? {
            stored = serde_json::to_string(&message).unwrap_or_default();
            if settings_of(state, &project.id).await?.enabled(kind) {
                fan_out(
                    state,
                    &message,
                    &project,
                    now,
                    &mut notifications,
                    &mut deliveries,
                )
                .await?;
            }
        }
    }
    Ok(state
        .db
        .finish_dispatch(&alert.id, &stored, &notifications, &deliveries, now)
        .await?)
}

/// The bell's notifications and the deliveries (mail per preferences, webhooks
/// per their kinds) of one alert.
async fn fan_out(
    state: &AppState,
    message: &AlertMessage,
    project: &ProjectRow,
    now: i64,
    notifications: &mut Vec<NotificationRow>,
    deliveries: &mut Vec<NewDelivery>,
) -> AppResult<()> {
    let bell_kind = Kind::of_alert(message.kind);
    let target = message
        .url
        .strip_prefix(&state.config.public_url())
        .unwrap_or(&message.url)
        .to_string();
    for r in state.db.alert_recipients(&project.id).await? {
        if bell_kind.owners_only() && r.role != "OWNER" {
            continue;
        }
        let channels = Prefs::from_stored(r.notification_prefs.as_deref()).channels(bell_kind);
        if channels.bell {
            notifications.push(NotificationRow {
                id: new_id(),
                user_id: r.user_id.clone(),
                project_id: project.id.clone(),
                kind: bell_kind.as_str().to_string(),
                title: message.headline(),
                body: Some(message.context()),
                target: Some(target.clone()),
                created_at: now,
                read_at: None,
            });
        }
        if channels.email {
            deliveries.push(NewDelivery {
                id: new_id(),
                webhook_id: None,
                user_id: Some(r.user_id),
                email: Some(r.email),
            });
        }
    }
    for webhook in state.db.webhooks_of(&project.id).await? {
        if wants(&webhook, message.kind) {
            deliveries.push(NewDelivery {
                id: new_id(),
                webhook_id: Some(webhook.id),
                user_id: None,
                email: None,
            });
        }
    }
    Ok(())
}

fn wants(webhook: &WebhookRow, kind: AlertKind) -> bool {
    webhook.disabled_at.is_none()
        && serde_json::from_str::<Vec<String>>(&webhook.kinds)
            .map(|kinds| kinds.iter().any(|k| k == kind.as_str()))
            .unwrap_or(true)
}

/// The alert as every channel tells it; `None` when what it is about is gone.
async fn message(
    state: &AppState,
    alert: &AlertRow,
    kind: AlertKind,
    project: &ProjectRow,
) -> AppResult<Option<AlertMessage>> {
    let base = state.config.public_url();
    let project_ref = ProjectRef {
        id: project.id.clone(),
        name: project.name.clone(),
    };
    let mut message = AlertMessage {
        id: alert.id.clone(),
        kind,
        test: false,
        project: project_ref,
        group: None,
        count: alert.count,
        window_minutes: alert.window_minutes,
        follow_up: alert.follow_up != 0,
        organization: None,
        occurred_at: alert.occurred_at,
        url: String::new(),
    };
    if kind.is_quota() {
        let Some(org) = state.db.org_by_ref(&project.org_id).await? else {
            return Ok(None);
        };
        let month = alert.month.clone().unwrap_or_default();
        let plan = Plan::from_stored(&org.plan);
        message.organization = Some(OrgRef {
            id: org.id.clone(),
            name: org.name,
            plan: plan.as_str().to_string(),
            used: state.db.usage(&project.id, &month).await?,
            limit: plan.limits().monthly_units.unwrap_or(0),
            month,
        });
        // With billing on, the way out of a quota is a bigger plan.
        let page = if state.stripe.is_some() {
            "billing"
        } else {
            "organization"
        };
        message.url = format!("{base}/settings/{page}?org={}", org.id);
        return Ok(Some(message));
    }
    let Some(group_id) = alert.group_id.as_deref() else {
        return Ok(None);
    };
    let Some(group) = state.db.error_group(&project.id, group_id).await? else {
        return Ok(None);
    };
    let url = format!("{base}/errors/{group_id}?project={}", project.id);
    let title = match &group.error_type {
        Some(t) if !group.message.starts_with(t.as_str()) => format!("{t}: {}", group.message),
        _ => group.message.clone(),
    };
    message.group = Some(GroupRef {
        id: group.id.clone(),
        title,
        message: group.message,
        culprit: group.top_frame,
        url: url.clone(),
        occurrences: group.occurrences,
        users: state.db.group_users(group_id).await?,
    });
    message.url = url;
    Ok(Some(message))
}
