//! Alerts of the current project: which kinds fire (with the spike and quota
//! thresholds), its webhooks (add, send a test, remove) and what each delivery
//! attempt got back.

use super::{outcome, refused, shell, trimmed};
use crate::domain::alerts::{AlertKind, AlertSettings, QuotaRule, SpikeRule, WebhookFormat};
use crate::error::{AppError, AppResult};
use crate::service::alerts::{self, NewWebhook, TestOutcome};
use crate::state::SharedState;
use crate::store::{AttemptRow, WebhookRow};
use crate::web::components::{count, csrf_field, empty, pager, time};
use crate::web::context::{query_param, PageCtx, Session};
use crate::web::error::PageResult;
use crate::web::security::{self, Flash};
use crate::web::{html, see_other};
use maud::{html, Markup};
use poem::web::{Data, Form, Path};
use poem::{handler, Request};
use serde::Deserialize;
use std::collections::HashMap;

/// Delivery attempts shown per webhook (a page of them).
const RECENT: i64 = 10;

/// The page of `project`; at one webhook, whose card then shows the message
/// about it (rather than the top of the page, scrolled away).
fn back(project: &str, hook: Option<&str>) -> String {
    let mut to = format!("/settings/alerts?project={}", urlencoding(project));
    if let Some(h) = hook {
        let h = urlencoding(h);
        to.push_str(&format!("&at={h}#hook-{h}"));
    }
    to
}

fn urlencoding(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

fn kind_name(kind: AlertKind) -> &'static str {
    match kind {
        AlertKind::NewGroup => "New error groups",
        AlertKind::Regression => "Regressions",
        AlertKind::Spike => "Spikes",
        AlertKind::QuotaNear => "Quota nearly used",
        AlertKind::QuotaExceeded => "Quota used up",
    }
}

/// The kind of a delivery attempt as the log shows it (`test` for tests).
fn attempt_kind(kind: &str) -> &str {
    match AlertKind::parse(kind) {
        Some(AlertKind::NewGroup) => "New error group",
        Some(AlertKind::Regression) => "Regression",
        Some(AlertKind::Spike) => "Spike",
        Some(AlertKind::QuotaNear) => "Quota nearly used",
        Some(AlertKind::QuotaExceeded) => "Quota used up",
        None if kind == "test" => "Test",
        None => kind,
    }
}

fn format_name(format: &str) -> &str {
    match WebhookFormat::parse(format) {
        Some(WebhookFormat::Generic) => "Generic JSON",
        Some(WebhookFormat::Slack) => "Slack",
        Some(WebhookFormat::Discord) => "Discord",
        None => format,
    }
}

/// Where a webhook posts, without the path (Slack's and Discord's carry a token).
fn host_of(url: &str) -> String {
    url::Url::parse(url)
        .ok()
        .and_then(|u| {
            let host = u.host_str()?.to_string();
            Some(match u.port() {
                Some(p) => format!("{host}:{p}"),
                None => host,
            })
        })
        .unwrap_or_else(|| "–".into())
}

fn kinds_of(hook: &WebhookRow) -> String {
    let kinds: Vec<AlertKind> = serde_json::from_str::<Vec<String>>(&hook.kinds)
        .unwrap_or_default()
        .iter()
        .filter_map(|k| AlertKind::parse(k))
        .collect();
    if AlertKind::ALL.iter().all(|k| kinds.contains(k)) {
        return "All kinds".into();
    }
    kinds
        .into_iter()
        .map(kind_name)
        .collect::<Vec<_>>()
        .join(", ")
}

fn clip(text: &str, chars: usize) -> String {
    let mut out: String = text.chars().take(chars).collect();
    if text.chars().count() > chars {
        out.push('…');
    }
    out
}

fn latency(ms: i64) -> String {
    if ms < 1000 {
        format!("{ms} ms")
    } else {
        format!("{:.1} s", ms as f64 / 1000.0)
    }
}

fn outcome_badge(outcome: &str) -> Markup {
    match outcome {
        "delivered" => html! { span class="badge badge-good" { "Delivered" } },
        "gone" => html! { span class="badge badge-poor" { "Gone" } },
        _ => html! { span class="badge badge-poor" { "Failed" } },
    }
}

/// What went wrong (unless the status says it all) and what the receiver answered.
fn answer(a: &AttemptRow) -> Markup {
    let plain = a
        .http_status
        .map(|s| format!("the receiver answered HTTP {s}"));
    let error = a
        .error
        .as_deref()
        .filter(|e| Some(*e) != plain.as_deref() && !e.trim().is_empty());
    let body = a.response.as_deref().filter(|r| !r.trim().is_empty());
    html! {
        @if let Some(e) = error { span class="small" { (clip(e, 240)) } }
        @if let Some(b) = body { code class="small" title=(clip(b, 1000)) { (clip(b, 160)) } }
        @if error.is_none() && body.is_none() { span class="muted" { "–" } }
    }
}

/// A webhook with a page of its delivery log.
struct HookView {
    hook: WebhookRow,
    attempts: Vec<AttemptRow>,
    /// The cursor of the next (older) page.
    older: Option<String>,
    /// Whether this is an older page rather than the newest.
    paged: bool,
    /// The message about what was just done to it.
    notice: Option<Flash>,
}

/// The alert kinds, as a form for editors and owners, as a list for viewers.
fn settings_card(ctx: &PageCtx, project: &str, s: &AlertSettings) -> Markup {
    let on = |b: bool| if b { "On" } else { "Off" };
    html! {
        section class="card" {
            h3 class="card-title" { "Alert kinds" }
            @if ctx.can_edit() {
                form class="stack" method="post" action=(back(project, None)) {
                    (csrf_field(&ctx.csrf))
                    input type="hidden" name="project" value=(project);
                    div class="alert-kinds" {
                        label class="checkbox" {
                            input type="checkbox" name="new_group" value="on" checked[s.new_group];
                            span class="kind-text" { span { "New error groups" } span class="hint" { "An error is seen for the first time." } }
                        }
                        label class="checkbox" {
                            input type="checkbox" name="regression" value="on" checked[s.regression];
                            span class="kind-text" { span { "Regressions" } span class="hint" { "A resolved error occurs again. Ignored errors never alert." } }
                        }
                        div {
                            label class="checkbox" {
                                input type="checkbox" name="spike" value="on" checked[s.spike.enabled];
                                span class="kind-text" { span { "Spikes" } span class="hint" { "One error group occurs this often within the window: one alert per group and window, then a “still spiking” reminder at most hourly." } }
                            }
                            div class="filters kind-options" {
                                label class="field" { span { "Occurrences" } input type="number" name="threshold" min="1" max="100000" required value=(s.spike.threshold); }
                                label class="field" { span { "Within minutes" } input type="number" name="window_minutes" min="1" max="1440" required value=(s.spike.window_minutes); }
                            }
                        }
                        div {
                            label class="checkbox" {
                                input type="checkbox" name="quota" value="on" checked[s.quota.enabled];
                                span class="kind-text" { span { "Monthly quota" } span class="hint" { "Once a month each, to the organization's owners: when the percentage below is reached, and when the quota is used up (new data is refused until the month ends)." } }
                            }
                            div class="filters kind-options" {
                                label class="field" { span { "Warn at percent" } input type="number" name="near_percent" min="50" max="99" required value=(s.quota.near_percent); }
                            }
                        }
                    }
                    p class="hint" { "Each member chooses whether alerts reach them in the bell and by mail under " a href="/settings/notifications" { "Notifications" } "; webhooks get the kinds ticked for them below." }
                    button class="btn btn-primary" type="submit" { "Save alert settings" }
                }
            } @else {
                dl class="meta-list" {
                    dt { "New error groups" } dd { (on(s.new_group)) }
                    dt { "Regressions" } dd { (on(s.regression)) }
                    dt { "Spikes" } dd {
                        (on(s.spike.enabled))
                        @if s.spike.enabled { " · at least " (count(s.spike.threshold)) " occurrences of one error group within " (s.spike.window_minutes) " minutes" }
                    }
                    dt { "Monthly quota" } dd {
                        (on(s.quota.enabled))
                        @if s.quota.enabled { " · a warning at " (s.quota.near_percent) " % of the monthly units, and when they are used up" }
                    }
                }
                p class="hint" { "Only owners and editors change alerts and webhooks." }
            }
        }
    }
}

fn add_card(ctx: &PageCtx, project: &str) -> Markup {
    html! {
        section class="card" id="add-webhook" {
            h3 class="card-title" { "Add a webhook" }
            form class="stack" method="post" action=(format!("/settings/alerts/webhooks?project={}", urlencoding(project))) {
                (csrf_field(&ctx.csrf))
                input type="hidden" name="project" value=(project);
                label {
                    span class="label-text" { "URL" }
                    input type="url" name="url" required maxlength="2048" placeholder="https://hooks.slack.com/services/…" autocomplete="off";
                    span class="hint" { "http:// or https://; addresses of private networks are refused." }
                }
                label {
                    span class="label-text" { "Format" }
                    select name="format" {
                        option value="generic" { "Generic JSON, signed" }
                        option value="slack" { "Slack incoming webhook" }
                        option value="discord" { "Discord webhook" }
                    }
                    span class="hint" { "Generic posts the documented JSON body, signed with a secret shown once after adding." }
                }
                label {
                    span class="label-text" { "Name (optional)" }
                    input type="text" name="name" maxlength="120" placeholder="#alerts channel";
                }
                fieldset {
                    legend { "Sends" }
                    div class="kind-grid" {
                        @for kind in AlertKind::ALL {
                            label class="checkbox" {
                                input type="checkbox" name=(format!("kind_{}", kind.as_str())) value="on" checked;
                                span { (kind_name(kind)) }
                            }
                        }
                    }
                }
                button class="btn btn-primary" type="submit" { "Add webhook" }
            }
        }
    }
}

fn deliveries(v: &HookView, project: &str, editor: bool) -> Markup {
    let hook = &v.hook.id;
    let newest = v
        .paged
        .then(|| format!("{}#hook-{}", back(project, None), urlencoding(hook)));
    let older = v.older.as_ref().map(|c| {
        format!(
            "/settings/alerts?project={}&hook={}&cursor={}#hook-{}",
            urlencoding(project),
            urlencoding(hook),
            urlencoding(c),
            urlencoding(hook)
        )
    });
    html! {
        h4 class="card-subtitle" { "Recent deliveries" }
        @if v.attempts.is_empty() {
            p class="muted small" {
                "Nothing sent yet."
                @if editor && v.hook.disabled_at.is_none() { " Send a test to check that the receiver answers." }
            }
        } @else {
            div class="table-wrap" {
                table class="table table-stack deliveries" {
                    thead { tr { th scope="col" { "When" } th scope="col" { "Alert" } th scope="col" { "Result" } th scope="col" { "Error or answer" } } }
                    tbody {
                        @for a in &v.attempts {
                            tr {
                                td class="nowrap" { (time(a.attempted_at)) }
                                td class="nowrap" { (attempt_kind(&a.kind)) span class="muted small" { " · attempt " (a.attempt) } }
                                td class="nowrap" {
                                    (outcome_badge(&a.outcome)) " "
                                    span class="small" {
                                        @if let Some(s) = a.http_status { "HTTP " (s) " · " }
                                        (latency(a.latency_ms))
                                    }
                                }
                                td class="answer" { (answer(a)) }
                            }
                        }
                    }
                }
            }
        }
        (pager(newest, older, ""))
    }
}

fn hook_card(ctx: &PageCtx, project: &str, v: &HookView) -> Markup {
    let h = &v.hook;
    let editor = ctx.can_edit();
    html! {
        section class="card webhook" id=(format!("hook-{}", h.id)) {
            div class="card-head" {
                h3 class="card-title" { (h.name) }
                div class="card-actions" {
                    span class="badge badge-neutral" { (format_name(&h.format)) }
                    @if h.disabled_at.is_some() { span class="badge badge-poor" { "Disabled" } }
                    @else { span class="badge badge-good" { "Active" } }
                }
            }
            @if let Some(f) = &v.notice {
                @if f.error { div class="notice notice-error" role="alert" { (f.text) } }
                @else { div class="notice notice-success" role="status" { (f.text) } }
            }
            dl class="meta-list" {
                dt { "Posts to" } dd class="mono" { (host_of(&h.url)) }
                dt { "Sends" } dd { (kinds_of(h)) }
                dt { "Added" } dd { (time(h.created_at)) }
                @if let Some(at) = h.disabled_at {
                    dt { "Disabled" } dd {
                        (time(at)) ": " (h.disabled_reason.as_deref().unwrap_or("disabled"))
                        ". Nothing is sent to it any more"
                        @if editor { "; remove it and add it again once the receiver is back" }
                        "."
                    }
                }
            }
            @if editor {
                div class="webhook-actions" {
                    @if h.disabled_at.is_none() {
                        form class="inline" method="post" action=(format!("/settings/alerts/webhooks/{}/test", h.id)) {
                            (csrf_field(&ctx.csrf))
                            input type="hidden" name="project" value=(project);
                            button class="btn btn-small" type="submit" { "Send test" }
                        }
                        " "
                    }
                    form class="inline" method="post" action=(format!("/settings/alerts/webhooks/{}/remove", h.id)) data-confirm=(format!("Remove the webhook {}? Alerts stop going to it.", h.name)) {
                        (csrf_field(&ctx.csrf))
                        input type="hidden" name="project" value=(project);
                        button class="btn btn-small btn-danger" type="submit" { "Remove" }
                    }
                }
            }
            (deliveries(v, project, editor))
        }
    }
}

fn alerts_view(
    ctx: &PageCtx,
    settings: &AlertSettings,
    hooks: &[HookView],
    created: Option<&WebhookRow>,
) -> Markup {
    let project = ctx.project.as_ref();
    let project_id = project.map_or("", |p| p.id.as_str());
    shell(
        ctx,
        "alerts",
        "Alerts",
        html! {
            p class="muted" {
                "Alerts of the project " @if let Some(p) = project { strong { (p.name) } } " (switch project at the top). They reach the organization's members in the bell and by mail, and the webhooks below."
            }
            @if let Some(h) = created {
                div class="secret" {
                    p { strong { "Signing secret of " (h.name) } " — shown only once; copy it now. Receivers check each body's X-Telemetry-Signature header with it." }
                    code id="new-secret" { (h.secret) }
                    button class="btn btn-small copy" type="button" data-copy="#new-secret" { "Copy secret" }
                }
            }
            (settings_card(ctx, project_id, settings))
            h3 class="section-title" { "Webhooks" }
            @if hooks.is_empty() {
                section class="card" {
                    @if ctx.can_edit() {
                        (empty("No webhooks yet", "Add one to post this project's alerts to a Slack or Discord channel, or as signed JSON to any HTTPS endpoint.", html! {
                            a class="btn" href="#add-webhook" { "Add a webhook" }
                        }))
                    } @else {
                        (empty("No webhooks yet", "Owners and editors can add webhooks that post this project's alerts to Slack, Discord or any HTTPS endpoint.", html! {}))
                    }
                }
            }
            @for v in hooks { (hook_card(ctx, project_id, v)) }
            @if ctx.can_edit() { (add_card(ctx, project_id)) }
        },
    )
}

async fn alerts_page(
    state: &SharedState,
    req: &Request,
    created: Option<&WebhookRow>,
) -> PageResult {
    let mut ctx = PageCtx::load(state, req).await?;
    let project = ctx.project()?.id.clone();
    let at = query_param(req, "at");
    // A message about one webhook goes into its card (put back if it is gone).
    let mut flash = ctx.flash.take();
    let who = ctx.who();
    let (settings, hooks) = futures_util::try_join!(
        alerts::settings(state, who, &project),
        alerts::webhooks(state, who, &project),
    )?;
    let paged = query_param(req, "hook");
    let cursor = query_param(req, "cursor");
    let mut views = Vec::with_capacity(hooks.len());
    for hook in hooks {
        let before = cursor
            .as_deref()
            .filter(|_| paged.as_deref() == Some(hook.id.as_str()));
        let (attempts, older) =
            alerts::deliveries(state, who, &project, &hook.id, before, RECENT).await?;
        let notice = (at.as_deref() == Some(hook.id.as_str()))
            .then(|| flash.take())
            .flatten();
        views.push(HookView {
            hook,
            attempts,
            older,
            paged: before.is_some(),
            notice,
        });
    }
    ctx.flash = flash;
    Ok(html(alerts_view(&ctx, &settings, &views, created)))
}

#[handler]
pub(super) async fn alerts_get(req: &Request, state: Data<&SharedState>) -> PageResult {
    alerts_page(&state, req, None).await
}

/// `GET /settings/alerts/webhooks` (a reload after adding one): the page.
#[handler]
pub(super) async fn to_alerts(req: &Request) -> poem::Response {
    let project = query_param(req, "project").unwrap_or_default();
    see_other(&back(&project, None))
}

#[derive(Deserialize)]
struct SettingsForm {
    #[serde(default)]
    csrf: String,
    #[serde(default, deserialize_with = "trimmed")]
    project: String,
    #[serde(default)]
    new_group: Option<String>,
    #[serde(default)]
    regression: Option<String>,
    #[serde(default)]
    spike: Option<String>,
    #[serde(default, deserialize_with = "trimmed")]
    threshold: String,
    #[serde(default, deserialize_with = "trimmed")]
    window_minutes: String,
    #[serde(default)]
    quota: Option<String>,
    #[serde(default, deserialize_with = "trimmed")]
    near_percent: String,
}

/// What the form calls a setting, and the numbers it takes.
fn out_of_range(field: &str) -> AppError {
    let message = match field {
        "spike.threshold" => {
            "The spike occurrences must be a whole number from 1 to 100,000; nothing was saved."
        }
        "spike.window_minutes" => {
            "The spike window must be a whole number of minutes from 1 to 1,440; nothing was saved."
        }
        _ => "The quota warning must be a whole percent from 50 to 99; nothing was saved.",
    };
    AppError::invalid(field, message)
}

impl SettingsForm {
    fn settings(&self) -> AppResult<AlertSettings> {
        let number = |text: &str, field: &str| {
            text.replace([',', ' '], "")
                .parse::<i64>()
                .map_err(|_| out_of_range(field))
        };
        let ticked = |v: &Option<String>| v.as_deref().is_some_and(|v| v.trim() == "on");
        let settings = AlertSettings {
            new_group: ticked(&self.new_group),
            regression: ticked(&self.regression),
            spike: SpikeRule {
                enabled: ticked(&self.spike),
                threshold: number(&self.threshold, "spike.threshold")?,
                window_minutes: number(&self.window_minutes, "spike.window_minutes")?,
            },
            quota: QuotaRule {
                enabled: ticked(&self.quota),
                near_percent: number(&self.near_percent, "quota.near_percent")?,
            },
        };
        match settings.problem() {
            Some((field, _)) => Err(out_of_range(field)),
            None => Ok(settings),
        }
    }
}

#[handler]
pub(super) async fn save_settings(
    req: &Request,
    state: Data<&SharedState>,
    Form(f): Form<SettingsForm>,
) -> PageResult {
    let s = Session::for_form(&state, req, &f.csrf).await?;
    let r = match f.settings() {
        Ok(settings) => {
            alerts::set_settings(&state, &s.who, &f.project, settings, &s.meta(&state, req)).await
        }
        Err(e) => Err(e),
    };
    outcome(
        &state,
        req,
        r,
        |_| "Alert settings saved.".into(),
        &back(&f.project, None),
    )
}

#[derive(Deserialize)]
struct WebhookForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    project: String,
    #[serde(default)]
    url: String,
    #[serde(default)]
    format: String,
    #[serde(default)]
    name: String,
    /// The ticked kinds, `kind_{kind}` → `on`.
    #[serde(flatten)]
    ticked: HashMap<String, String>,
}

/// The service's message about a field, in the form's words.
fn in_form_words(e: AppError) -> AppError {
    match e {
        AppError::Invalid { message, field } => AppError::Invalid {
            message: message
                .replace("`url`", "The URL")
                .replace("`format`", "The format")
                .replace("`name`", "The name"),
            field,
        },
        other => other,
    }
}

#[handler]
pub(super) async fn create_webhook(
    req: &Request,
    state: Data<&SharedState>,
    Form(f): Form<WebhookForm>,
) -> PageResult {
    let s = Session::for_form(&state, req, &f.csrf).await?;
    let project = f.project.trim().to_string();
    let kinds: Vec<String> = AlertKind::ALL
        .into_iter()
        .filter(|k| {
            f.ticked
                .get(&format!("kind_{}", k.as_str()))
                .is_some_and(|v| v.trim() == "on")
        })
        .map(|k| k.as_str().to_string())
        .collect();
    if kinds.is_empty() {
        let e = AppError::invalid("kinds", "Tick at least one kind for the webhook to send.");
        return refused(&state, req, e, &back(&project, None));
    }
    let new = NewWebhook {
        url: f.url.trim().to_string(),
        format: f.format.trim().to_string(),
        kinds: Some(kinds),
        name: Some(f.name.trim().to_string()).filter(|n| !n.is_empty()),
    };
    match alerts::create_webhook(&state, &s.who, &project, new, &s.meta(&state, req)).await {
        Ok(h) if h.format == WebhookFormat::Generic.as_str() => {
            alerts_page(&state, req, Some(&h)).await
        }
        Ok(h) => {
            security::flash(
                &state,
                req,
                &format!("Webhook {} added. Send a test to check it.", h.name),
            );
            Ok(see_other(&back(&project, Some(&h.id))))
        }
        Err(e) => refused(&state, req, in_form_words(e), &back(&project, None)),
    }
}

#[derive(Deserialize)]
struct ProjectForm {
    #[serde(default)]
    csrf: String,
    #[serde(default, deserialize_with = "trimmed")]
    project: String,
}

/// How a test went, in a sentence.
fn tested(t: &TestOutcome) -> (bool, String) {
    let answer = match (t.http_status, t.error.as_deref()) {
        (Some(s), _) => format!("HTTP {s}"),
        (None, Some(e)) => clip(e, 240),
        (None, None) => "no answer".into(),
    };
    let took = latency(t.latency_ms);
    match t.status {
        "delivered" => (true, format!("Test delivered: {answer} in {took}.")),
        "disabled" => (
            false,
            "Test failed: the receiver answered 410 Gone, so the webhook is now disabled.".into(),
        ),
        _ => (false, format!("Test failed: {answer} after {took}.")),
    }
}

#[handler]
pub(super) async fn test_webhook(
    req: &Request,
    state: Data<&SharedState>,
    Path(id): Path<String>,
    Form(f): Form<ProjectForm>,
) -> PageResult {
    let s = Session::for_form(&state, req, &f.csrf).await?;
    let to = back(&f.project, Some(&id));
    match alerts::test_webhook(&state, &s.who, &f.project, &id).await {
        Ok(t) => {
            match tested(&t) {
                (true, text) => security::flash(&state, req, &text),
                (false, text) => security::flash_error(&state, req, &text),
            }
            Ok(see_other(&to))
        }
        Err(e) => refused(&state, req, e, &to),
    }
}

#[handler]
pub(super) async fn remove_webhook(
    req: &Request,
    state: Data<&SharedState>,
    Path(id): Path<String>,
    Form(f): Form<ProjectForm>,
) -> PageResult {
    let s = Session::for_form(&state, req, &f.csrf).await?;
    let r = alerts::delete_webhook(&state, &s.who, &f.project, &id, &s.meta(&state, req)).await;
    outcome(
        &state,
        req,
        r,
        |_| "Webhook removed.".into(),
        &back(&f.project, None),
    )
}
