//! Alerts and webhooks over HTTP (issue 15, docs/ALERTS.md): every kind fires
//! exactly once per its rule and lands in the bell, the mail (a real SMTP
//! listener) and each webhook (real local HTTP receivers, one per format) with the
//! documented body and a signature verified here; failed deliveries are retried on
//! the application clock, `410 Gone` disables a webhook, private targets are
//! refused without `TELEMETRY_WEBHOOK_ALLOW_PRIVATE`, and only EDITOR and OWNER
//! change anything.

mod common;

use common::receiver::{Mode, Receiver, Recorded};
use common::smtp::{ReceivedMail, SmtpSink};
use common::{Backend, Seed, TestApp};
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;
use std::time::{Duration, Instant};
use telemetry_tracker::domain::plans::Plan;
use telemetry_tracker::domain::timeutil::{month_key, next_month_start_ms, DAY_MS, MINUTE_MS};
use telemetry_tracker::service::accounts;

/// `TELEMETRY_DASHBOARD_ORIGIN` of every app here: links must use it.
const ORIGIN: &str = "https://tracker.example.com";
const PASSWORD: &str = "correct horse battery";
/// How long anything that should happen may take.
const WAIT: Duration = Duration::from_secs(15);
/// Grace after a sentinel alert arrived, for anything that should not arrive.
const GRACE: Duration = Duration::from_millis(1_200);
const ALL_KINDS: [&str; 5] = [
    "new_group",
    "quota_exceeded",
    "quota_near",
    "regression",
    "spike",
];
const FREE_UNITS: i64 = 250_000;

// ---------------------------------------------------------------------------
// The harness
// ---------------------------------------------------------------------------

/// A webhook of the project and the receiver it points at.
struct Hook {
    format: &'static str,
    id: String,
    /// Shown once, for `generic` webhooks.
    secret: Option<String>,
    rx: Receiver,
}

/// An app (with mail and private webhook targets allowed), its owner and webhooks.
struct Ctx {
    app: TestApp,
    sink: SmtpSink,
    seed: Seed,
    hooks: Vec<Hook>,
}

struct Member {
    email: String,
    token: String,
}

/// One generic, one Slack and one Discord webhook, all answering 200.
const STANDARD: &[(Mode, &str)] = &[
    (Mode::Ok, "generic"),
    (Mode::Ok, "slack"),
    (Mode::Ok, "discord"),
];

impl Ctx {
    async fn new(backend: Backend, hooks: &[(Mode, &'static str)]) -> Ctx {
        Self::with_plan(backend, hooks, None).await
    }

    async fn with_plan(
        backend: Backend,
        hooks: &[(Mode, &'static str)],
        plan: Option<Plan>,
    ) -> Ctx {
        let sink = SmtpSink::start();
        let smtp = sink.url();
        let app = TestApp::start_with(backend, |c| {
            c.smtp_url = Some(smtp);
            c.webhook_allow_private = true;
            c.public_url = Some(ORIGIN.into());
        })
        .await;
        let seed = app.seed("ada").await;
        if let Some(plan) = plan {
            accounts::set_org_plan(&app.state.db, &seed.org_id, plan)
                .await
                .unwrap();
        }
        // The owner takes new groups by mail too (the default is the bell only),
        // so that every kind can be seen in the mail.
        app.state
            .db
            .set_notification_prefs(
                &seed.user_id,
                r#"{"new_issue":{"bell":true,"email":true}}"#,
                app.state.clock.now_ms(),
            )
            .await
            .unwrap();
        let mut ctx = Ctx {
            app,
            sink,
            seed,
            hooks: Vec::new(),
        };
        for (mode, format) in hooks {
            ctx.add_hook(*mode, format, None).await;
        }
        ctx
    }

    fn project_path(&self, rest: &str) -> String {
        format!("/api/projects/{}{rest}", self.seed.project_id)
    }

    /// A request as the owner.
    async fn call(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        call(&self.app, &self.seed.token, method, path, body).await
    }

    /// Creates a webhook pointing at a new receiver in `mode`.
    async fn add_hook(&mut self, mode: Mode, format: &'static str, kinds: Option<Value>) -> &Hook {
        let rx = Receiver::start(mode);
        let created = create_hook(&self.app, &self.seed, &rx.url(), format, kinds).await;
        self.hooks.push(Hook {
            format,
            id: created["id"].as_str().unwrap().to_string(),
            secret: created["secret"].as_str().map(str::to_string),
            rx,
        });
        self.hooks.last().unwrap()
    }

    fn hook(&self, format: &str) -> &Hook {
        self.hooks
            .iter()
            .find(|h| h.format == format)
            .unwrap_or_else(|| panic!("no {format} webhook"))
    }

    async fn put_settings(&self, settings: Value) {
        let (status, body) = self
            .call(
                "PUT",
                &self.project_path("/alert-settings"),
                Some(settings.clone()),
            )
            .await;
        assert_eq!(status, 200, "PUT alert-settings: {body}");
        assert_eq!(body, settings, "PUT answers with the stored settings");
    }

    /// One occurrence of the error `message` (word-only messages: digits would be
    /// normalised by grouping).
    async fn occur(&self, message: &str) {
        self.app
            .ingest_ok("/ingest/error", &self.seed.key, &error_body(message))
            .await;
    }

    async fn occur_n(&self, message: &str, n: usize) {
        for _ in 0..n {
            self.occur(message).await;
        }
    }

    /// The id of the group whose message is `message`.
    async fn group_id(&self, message: &str) -> String {
        let list = self
            .app
            .read_ok(&self.seed, "/api/errors?from=0&limit=500")
            .await;
        list["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|g| g["message"].as_str().is_some_and(|m| m.contains(message)))
            .unwrap_or_else(|| panic!("no group {message:?} in {list}"))["id"]
            .as_str()
            .unwrap()
            .to_string()
    }

    async fn set_status(&self, group_id: &str, status: &str) {
        let res = self
            .app
            .http
            .patch(self.app.url(&format!("/api/errors/{group_id}")))
            .bearer_auth(&self.seed.token)
            .header("X-Project-Id", &self.seed.project_id)
            .json(&json!({ "status": status }))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "{status} {group_id}");
    }

    /// Alert bodies (type `alert`) received by the first generic webhook, oldest first.
    fn alerts(&self) -> Vec<Value> {
        alert_bodies(self.hook("generic"))
    }

    fn alerts_of(&self, kind: &str) -> Vec<Value> {
        self.alerts()
            .into_iter()
            .filter(|a| a["kind"] == kind)
            .collect()
    }

    /// Alerts of `kind` about the group `group_id`.
    fn group_alerts(&self, kind: &str, group_id: &str) -> Vec<Value> {
        self.alerts_of(kind)
            .into_iter()
            .filter(|a| a["group"]["id"] == group_id)
            .collect()
    }

    /// Waits until the generic webhook has `n` alerts of `kind` matching `filter`,
    /// then until each chat webhook and the owner's bell have each of them; returns
    /// their generic bodies.
    async fn wait_alerts(
        &self,
        kind: &str,
        n: usize,
        filter: impl Fn(&Value) -> bool,
    ) -> Vec<Value> {
        let deadline = Instant::now() + WAIT;
        let found = loop {
            let found: Vec<Value> = self
                .alerts_of(kind)
                .into_iter()
                .filter(|a| filter(a))
                .collect();
            if found.len() >= n {
                break found;
            }
            assert!(
                Instant::now() < deadline,
                "waited {WAIT:?} for {n} {kind} alert(s); the generic webhook got {:#?}",
                self.alerts()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        for alert in &found {
            let title = stable(alert["title"].as_str().unwrap()).to_string();
            for hook in self.hooks.iter().filter(|h| h.format != "generic") {
                let t = title.clone();
                hook.rx
                    .wait_until(
                        &format!("{} message {title:?}", hook.format),
                        WAIT,
                        move |all| all.iter().any(|r| chat_text(r).starts_with(&t)),
                    )
                    .await;
            }
            self.wait_bell(&self.seed.token, bell_kind(kind), &title)
                .await;
        }
        found
    }

    async fn wait_bell(&self, token: &str, kind: &str, title: &str) -> Value {
        let deadline = Instant::now() + WAIT;
        loop {
            let items = bell(&self.app, token).await;
            if let Some(n) = items.iter().find(|n| {
                n["kind"] == kind
                    && n["title"]
                        .as_str()
                        .is_some_and(|t| t.starts_with(stable(title)))
            }) {
                return n.clone();
            }
            assert!(
                Instant::now() < deadline,
                "waited {WAIT:?} for a {kind} notification {title:?}; the bell has {items:#?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits for a mail to `to` whose subject contains `text`.
    async fn wait_mail(&self, to: &str, text: &str) -> ReceivedMail {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(m) = self.mails(to, text).into_iter().next() {
                return m;
            }
            assert!(
                Instant::now() < deadline,
                "waited {WAIT:?} for a mail to {to} about {text:?}; got {:?}",
                self.sink
                    .messages()
                    .iter()
                    .map(|m| (m.rcpt_to.clone(), m.subject()))
                    .collect::<Vec<_>>()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits until `n` mails to `to` have `text` in their subject, then a moment
    /// more, and asserts there are exactly `n`.
    async fn assert_mails(&self, to: &str, text: &str, n: usize) {
        let deadline = Instant::now() + WAIT;
        while self.mails(to, text).len() < n {
            assert!(
                Instant::now() < deadline,
                "waited {WAIT:?} for {n} mail(s) to {to} about {text:?}; got {:?}",
                self.sink
                    .messages()
                    .iter()
                    .map(|m| (m.rcpt_to.clone(), m.subject()))
                    .collect::<Vec<_>>()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
        let subjects: Vec<String> = self
            .mails(to, text)
            .iter()
            .map(ReceivedMail::subject)
            .collect();
        assert_eq!(
            subjects.len(),
            n,
            "mails to {to} about {text:?}: {subjects:#?}"
        );
    }

    fn mails(&self, to: &str, text: &str) -> Vec<ReceivedMail> {
        self.sink
            .messages_to(to)
            .into_iter()
            .filter(|m| m.subject().contains(text))
            .collect()
    }

    /// Every chat webhook got exactly as many messages as the generic one got
    /// alerts, and each generic alert has its chat message.
    fn assert_chats_match(&self) {
        let alerts = self.alerts();
        for hook in self.hooks.iter().filter(|h| h.format != "generic") {
            let texts: Vec<String> = hook.rx.requests().iter().map(chat_text).collect();
            assert_eq!(
                texts.len(),
                alerts.len(),
                "{} webhook: {texts:#?} for alerts {alerts:#?}",
                hook.format
            );
            for a in &alerts {
                let title = stable(a["title"].as_str().unwrap());
                assert!(
                    texts.iter().any(|t| t.starts_with(title)),
                    "{} webhook has no message for {title:?}: {texts:#?}",
                    hook.format
                );
            }
        }
    }

    async fn deliveries(&self, hook_id: &str, query: &str) -> Value {
        let (status, body) = self
            .call(
                "GET",
                &self.project_path(&format!("/webhooks/{hook_id}/deliveries{query}")),
                None,
            )
            .await;
        assert_eq!(status, 200, "deliveries: {body}");
        body
    }

    /// Waits until the delivery log of `hook_id` has at least `n` attempts.
    async fn wait_deliveries(&self, hook_id: &str, n: usize, timeout: Duration) -> Vec<Value> {
        let deadline = Instant::now() + timeout;
        loop {
            let log = self.deliveries(hook_id, "").await;
            let items = log["items"].as_array().unwrap().clone();
            if items.len() >= n {
                return items;
            }
            assert!(
                Instant::now() < deadline,
                "waited {timeout:?} for {n} attempt(s) in the delivery log: {log}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn webhooks(&self) -> Vec<Value> {
        let (status, body) = self
            .call("GET", &self.project_path("/webhooks"), None)
            .await;
        assert_eq!(status, 200, "{body}");
        body.as_array().unwrap().clone()
    }

    async fn member(&self, name: &str, role: &str) -> Member {
        member(&self.app, &self.seed.org_id, name, role).await
    }
}

async fn call(
    app: &TestApp,
    token: &str,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = app
        .http
        .request(method.parse().unwrap(), app.url(path))
        .bearer_auth(token);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let res = req.send().await.expect("request");
    let status = res.status().as_u16();
    let text = res.text().await.unwrap_or_default();
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or(Value::String(text))
    };
    (status, body)
}

async fn create_hook(
    app: &TestApp,
    seed: &Seed,
    url: &str,
    format: &str,
    kinds: Option<Value>,
) -> Value {
    let mut body = json!({ "url": url, "format": format, "name": format!("{format} receiver") });
    if let Some(kinds) = kinds {
        body["kinds"] = kinds;
    }
    let (status, created) = call(
        app,
        &seed.token,
        "POST",
        &format!("/api/projects/{}/webhooks", seed.project_id),
        Some(body),
    )
    .await;
    assert_eq!(status, 201, "POST webhooks {url} ({format}): {created}");
    created
}

async fn member(app: &TestApp, org_id: &str, name: &str, role: &str) -> Member {
    let (db, clock) = (&app.state.db, &app.state.clock);
    let email = format!("{name}@example.com");
    let created = accounts::create_user(db, clock, &email, PASSWORD, None)
        .await
        .unwrap();
    db.add_membership(org_id, &created.user.id, role, clock.now_ms())
        .await
        .unwrap();
    let token = accounts::create_token(db, clock, &email, None)
        .await
        .unwrap();
    Member {
        email,
        token: token.token,
    }
}

async fn bell(app: &TestApp, token: &str) -> Vec<Value> {
    let (status, body) = call(app, token, "GET", "/api/notifications", None).await;
    assert_eq!(status, 200, "{body}");
    body["items"].as_array().unwrap().clone()
}

fn bell_of(items: &[Value], kind: &str) -> Vec<Value> {
    items
        .iter()
        .filter(|n| n["kind"] == kind)
        .cloned()
        .collect()
}

/// A title up to its first digit: counts and usage in it may be read at slightly
/// different moments for different channels.
fn stable(title: &str) -> &str {
    title
        .find(|c: char| c.is_ascii_digit())
        .map_or(title, |i| &title[..i])
}

/// The bell's name of an alert kind.
fn bell_kind(kind: &str) -> &str {
    match kind {
        "new_group" => "new_issue",
        k => k,
    }
}

fn error_body(message: &str) -> Value {
    json!({
        "app": "web",
        "message": message,
        "user_id": "buyer",
        "stack": format!(
            "TypeError: {message}\n    at checkout (https://shop.example.com/assets/cart.js:10:5)\n    at submit (https://shop.example.com/assets/form.js:3:1)"
        ),
    })
}

fn alert_bodies(hook: &Hook) -> Vec<Value> {
    hook.rx
        .requests()
        .iter()
        .map(Recorded::json)
        .filter(|b| b["type"] == "alert")
        .collect()
}

/// The headline a chat message carries: Slack's `text`, Discord's `content`.
fn chat_text(r: &Recorded) -> String {
    let body = r.json();
    body["text"]
        .as_str()
        .or(body["content"].as_str())
        .unwrap_or_default()
        .to_string()
}

fn settings(threshold: i64, window_minutes: i64) -> Value {
    json!({
        "new_group": true,
        "regression": true,
        "spike": { "enabled": true, "threshold": threshold, "window_minutes": window_minutes },
        "quota": { "enabled": true, "near_percent": 90 }
    })
}

fn defaults() -> Value {
    settings(25, 15)
}

/// Checks `X-Telemetry-Signature` the way docs/ALERTS.md tells receivers to:
/// HMAC-SHA256 of `"<t>.<raw body>"` with the secret, compared in constant time,
/// and `t` within five minutes (of the wall clock or of the app's, which tests move).
fn verify_signature(r: &Recorded, secret: &str, app: &TestApp) {
    let header = r
        .header("x-telemetry-signature")
        .unwrap_or_else(|| panic!("no signature header on {}", r.text()));
    let mut t = None;
    let mut v1 = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", value)) => t = Some(value.to_string()),
            Some(("v1", value)) => v1.push(value.to_string()),
            _ => {}
        }
    }
    let t = t.unwrap_or_else(|| panic!("no t= in {header}"));
    let seconds: i64 = t
        .parse()
        .unwrap_or_else(|_| panic!("t is not a number: {header}"));
    let wall = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let app_now = app.state.clock.now_ms() / 1000;
    assert!(
        (seconds - wall).abs() <= 300 || (seconds - app_now).abs() <= 300,
        "t={seconds} is neither near {wall} nor near {app_now}"
    );
    let mac = |body: &[u8]| {
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
        mac.update(t.as_bytes());
        mac.update(b".");
        mac.update(body);
        mac
    };
    assert!(
        v1.iter().any(|sig| {
            hex::decode(sig).is_ok_and(|sig| mac(&r.body).verify_slice(&sig).is_ok())
        }),
        "the signature {header} does not match the body {}",
        r.text()
    );
    // The same check refuses a body changed by a byte, and another secret.
    let mut tampered = r.body.clone();
    tampered.push(b' ');
    assert!(!v1
        .iter()
        .any(|sig| hex::decode(sig).is_ok_and(|sig| mac(&tampered).verify_slice(&sig).is_ok())));
    let mut other = Hmac::<Sha256>::new_from_slice(b"whsec_not_the_secret").unwrap();
    other.update(format!("{t}.").as_bytes());
    other.update(&r.body);
    let other = hex::encode(other.finalize().into_bytes());
    assert!(!v1.contains(&other));
}

/// The headers every delivery carries, whatever its format.
fn assert_delivery_headers(r: &Recorded) -> String {
    assert_eq!(r.method, "POST");
    assert!(
        r.header("content-type")
            .is_some_and(|v| v.starts_with("application/json")),
        "{:?}",
        r.headers
    );
    assert!(
        r.header("x-telemetry-signature")
            .is_some_and(|v| v.starts_with("t=") && v.contains(",v1=")),
        "{:?}",
        r.headers
    );
    let delivery = r
        .header("x-telemetry-delivery")
        .unwrap_or_else(|| panic!("no X-Telemetry-Delivery in {:?}", r.headers))
        .to_string();
    assert!(!delivery.is_empty());
    delivery
}

fn assert_rfc3339(value: &Value) {
    let s = value
        .as_str()
        .unwrap_or_else(|| panic!("not a string: {value}"));
    time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|e| panic!("{s} is not RFC 3339: {e}"));
}

/// The request of `hook` whose generic body has the alert id `id`.
fn request_of<'a>(all: &'a [Recorded], id: &Value) -> &'a Recorded {
    all.iter()
        .find(|r| r.json()["id"] == *id)
        .unwrap_or_else(|| panic!("no request for alert {id}"))
}

// ---------------------------------------------------------------------------
// New groups
// ---------------------------------------------------------------------------

/// A new group alerts once, in every channel, with the documented bodies; its
/// second occurrence does not alert again.
async fn a_new_group_alerts_once_everywhere(backend: Backend) {
    let ctx = Ctx::new(backend, STANDARD).await;
    let editor = ctx.member("eve", "EDITOR").await;
    ctx.occur("checkout exploded").await;
    let group_id = ctx.group_id("checkout exploded").await;
    let alert = ctx.wait_alerts("new_group", 1, |_| true).await.remove(0);

    // The generic body, field by field.
    assert_eq!(alert["type"], "alert");
    assert!(
        alert["id"].as_str().is_some_and(|id| !id.is_empty()),
        "{alert}"
    );
    assert_eq!(alert["kind"], "new_group");
    let title = alert["title"].as_str().unwrap().to_string();
    assert!(title.starts_with("New error: "), "{title}");
    assert!(title.contains("checkout exploded"), "{title}");
    let url = alert["url"].as_str().unwrap();
    assert!(url.starts_with(ORIGIN) && url.contains(&group_id), "{url}");
    assert_eq!(
        alert["project"],
        json!({ "id": ctx.seed.project_id, "name": "ada web" })
    );
    let group = &alert["group"];
    assert_eq!(group["id"], group_id.as_str());
    assert!(
        group["title"]
            .as_str()
            .unwrap()
            .contains("checkout exploded"),
        "{group}"
    );
    assert!(
        group["message"]
            .as_str()
            .unwrap()
            .contains("checkout exploded"),
        "{group}"
    );
    assert!(
        group["culprit"]
            .as_str()
            .is_some_and(|c| c.contains("checkout")),
        "the top frame: {group}"
    );
    assert!(
        group["url"]
            .as_str()
            .is_some_and(|u| u.starts_with(ORIGIN) && u.contains(&group_id)),
        "{group}"
    );
    assert_eq!(group["occurrences"], 1, "{group}");
    assert_eq!(group["users"], 1, "{group}");
    assert_rfc3339(&alert["occurred_at"]);
    for absent in ["organization", "count", "window_minutes"] {
        assert!(
            alert.get(absent).is_none_or(Value::is_null),
            "{absent}: {alert}"
        );
    }

    // Headers and signature of the generic delivery.
    let generic = ctx.hook("generic");
    let requests = generic.rx.requests();
    let request = request_of(&requests, &alert["id"]);
    assert_eq!(request.path, "/hook");
    let delivery_id = assert_delivery_headers(request);
    verify_signature(request, generic.secret.as_deref().unwrap(), &ctx.app);

    // Slack: text plus blocks, links not unfurled, signed and numbered too.
    let slack = ctx.hook("slack").rx.requests();
    assert_eq!(slack.len(), 1);
    assert_delivery_headers(&slack[0]);
    let body = slack[0].json();
    assert!(
        body["text"].as_str().unwrap().starts_with("New error: "),
        "{body}"
    );
    assert!(
        body["text"].as_str().unwrap().contains("checkout exploded"),
        "{body}"
    );
    assert_eq!(body["blocks"][0]["type"], "section", "{body}");
    assert_eq!(body["blocks"][0]["text"]["type"], "mrkdwn", "{body}");
    assert!(
        body["blocks"][0]["text"]["text"]
            .as_str()
            .unwrap()
            .contains(ORIGIN),
        "the section links to the dashboard: {body}"
    );
    assert_eq!(body["blocks"][1]["type"], "context", "{body}");
    assert_eq!(body["unfurl_links"], false);

    // Discord: content plus one embed, never pinging anyone.
    let discord = ctx.hook("discord").rx.requests();
    assert_eq!(discord.len(), 1);
    assert_delivery_headers(&discord[0]);
    let body = discord[0].json();
    assert!(
        body["content"].as_str().unwrap().starts_with("New error: "),
        "{body}"
    );
    let embed = &body["embeds"][0];
    assert!(
        embed["title"].as_str().unwrap().starts_with("New error: "),
        "{body}"
    );
    assert!(embed["url"].as_str().unwrap().starts_with(ORIGIN), "{body}");
    assert!(embed["description"].is_string(), "{body}");
    assert!(embed["color"].is_u64(), "{body}");
    assert_rfc3339(&embed["timestamp"]);
    assert!(embed["footer"]["text"].is_string(), "{body}");
    assert_eq!(body["allowed_mentions"], json!({ "parse": [] }));

    // The bell of every member; the mail as each one's preferences say.
    let mail = ctx.wait_mail(&ctx.seed.email, "New error: ").await;
    assert!(mail.subject().contains(&title), "{}", mail.subject());
    assert!(
        mail.text_part().unwrap().contains(ORIGIN),
        "the mail links to the dashboard"
    );
    assert!(mail.html_part().is_some(), "plain and HTML");
    ctx.wait_bell(&editor.token, "new_issue", &title).await;

    // The same group again: no alert. A new group afterwards is the sentinel.
    ctx.occur("checkout exploded").await;
    ctx.occur("basket vanished").await;
    ctx.wait_alerts("new_group", 2, |_| true).await;
    tokio::time::sleep(GRACE).await;
    let alerts = ctx.alerts_of("new_group");
    assert_eq!(alerts.len(), 2, "{alerts:#?}");
    assert_eq!(ctx.group_alerts("new_group", &group_id).len(), 1);
    assert_eq!(ctx.alerts().len(), 2, "nothing else: {:#?}", ctx.alerts());
    ctx.assert_chats_match();
    assert_eq!(
        bell_of(&bell(&ctx.app, &ctx.seed.token).await, "new_issue").len(),
        2
    );
    assert_eq!(
        bell_of(&bell(&ctx.app, &editor.token).await, "new_issue").len(),
        2
    );
    ctx.assert_mails(&ctx.seed.email, "New error: ", 2).await;
    assert!(
        ctx.sink.messages_to(&editor.email).is_empty(),
        "new groups are not mailed by default"
    );

    // The delivery log: one delivered attempt per alert, newest first, naming the
    // delivery the receiver saw.
    let log = ctx.deliveries(&generic.id, "").await;
    let items = log["items"].as_array().unwrap();
    assert_eq!(items.len(), 2, "{log}");
    let first = items
        .iter()
        .find(|i| i["alert_id"] == alert["id"])
        .unwrap_or_else(|| panic!("no attempt for {} in {log}", alert["id"]));
    assert_eq!(first["delivery_id"], delivery_id.as_str());
    assert_eq!(first["kind"], "new_group");
    assert_eq!(first["attempt"], 1);
    assert_eq!(first["outcome"], "delivered");
    assert_eq!(first["http_status"], 200);
    assert!(
        first["latency_ms"].is_i64() || first["latency_ms"].is_u64(),
        "{first}"
    );
    assert!(first["error"].is_null(), "{first}");
    assert_rfc3339(&first["attempted_at"]);
    assert!(
        items[0]["attempted_at"].as_str() >= items[1]["attempted_at"].as_str(),
        "newest first: {log}"
    );
}

// ---------------------------------------------------------------------------
// Regressions and ignored groups
// ---------------------------------------------------------------------------

/// A resolved group that occurs again alerts once per regression.
async fn a_regression_alerts_once_per_regression(backend: Backend) {
    let ctx = Ctx::new(backend, STANDARD).await;
    ctx.occur("payment declined").await;
    let group_id = ctx.group_id("payment declined").await;
    ctx.wait_alerts("new_group", 1, |_| true).await;

    ctx.set_status(&group_id, "resolved").await;
    ctx.occur("payment declined").await;
    let alert = ctx.wait_alerts("regression", 1, |_| true).await.remove(0);
    assert_eq!(alert["group"]["id"], group_id.as_str());
    let title = alert["title"].as_str().unwrap();
    assert!(title.starts_with("Regression: "), "{title}");
    assert!(
        alert["url"].as_str().unwrap().starts_with(ORIGIN),
        "{alert}"
    );
    assert_eq!(alert["group"]["occurrences"], 2, "{alert}");
    let generic = ctx.hook("generic");
    let requests = generic.rx.requests();
    verify_signature(
        request_of(&requests, &alert["id"]),
        generic.secret.as_deref().unwrap(),
        &ctx.app,
    );
    let slack = ctx.hook("slack").rx.requests();
    assert!(slack
        .iter()
        .any(|r| chat_text(r).starts_with("Regression: ")));
    let mail = ctx.wait_mail(&ctx.seed.email, "Regression: ").await;
    assert!(mail.subject().contains(title), "{}", mail.subject());

    // Unresolved now: occurring again is no regression.
    ctx.occur("payment declined").await;
    // Resolved again and back: a second regression.
    ctx.set_status(&group_id, "resolved").await;
    ctx.occur("payment declined").await;
    ctx.wait_alerts("regression", 2, |_| true).await;
    // The sentinel, then nothing more than expected.
    ctx.occur("shipping form broke").await;
    ctx.wait_alerts("new_group", 2, |_| true).await;
    tokio::time::sleep(GRACE).await;
    assert_eq!(ctx.alerts_of("regression").len(), 2, "{:#?}", ctx.alerts());
    assert_eq!(ctx.alerts().len(), 4, "{:#?}", ctx.alerts());
    ctx.assert_chats_match();
    let items = bell(&ctx.app, &ctx.seed.token).await;
    assert_eq!(bell_of(&items, "regression").len(), 2, "{items:#?}");
    ctx.assert_mails(&ctx.seed.email, "Regression: ", 2).await;
}

/// An ignored group never alerts: not when it occurs again, not when it spikes.
async fn ignored_groups_never_alert(backend: Backend) {
    let ctx = Ctx::new(backend, STANDARD).await;
    ctx.put_settings(settings(3, 15)).await;
    ctx.occur("noisy extension").await;
    let ignored = ctx.group_id("noisy extension").await;
    ctx.wait_alerts("new_group", 1, |_| true).await;
    ctx.set_status(&ignored, "ignored").await;

    // Far past the spike threshold.
    ctx.occur_n("noisy extension", 5).await;
    // The sentinel: a new group that spikes too, evaluated after the ignored one.
    ctx.occur_n("real problem", 3).await;
    let sentinel = ctx.group_id("real problem").await;
    ctx.wait_alerts("spike", 1, |a| a["group"]["id"] == sentinel.as_str())
        .await;
    tokio::time::sleep(GRACE).await;
    let about_ignored: Vec<Value> = ctx
        .alerts()
        .into_iter()
        .filter(|a| a["group"]["id"] == ignored.as_str())
        .collect();
    assert_eq!(
        about_ignored.len(),
        1,
        "only its first sighting: {about_ignored:#?}"
    );
    assert_eq!(about_ignored[0]["kind"], "new_group");
    assert_eq!(ctx.alerts().len(), 3, "{:#?}", ctx.alerts());
    ctx.assert_chats_match();
    let items = bell(&ctx.app, &ctx.seed.token).await;
    assert_eq!(bell_of(&items, "spike").len(), 1, "{items:#?}");
    assert!(bell_of(&items, "regression").is_empty(), "{items:#?}");
}

// ---------------------------------------------------------------------------
// Spikes
// ---------------------------------------------------------------------------

/// A spike alerts once when a group reaches the threshold within the window; more
/// occurrences of the same spike do not alert again; a spike that stopped and
/// starts again alerts anew.
async fn a_spike_alerts_once_per_spike(backend: Backend) {
    let ctx = Ctx::new(backend, STANDARD).await;
    ctx.put_settings(settings(5, 15)).await;
    // One below the threshold: no spike. The sentinel reaches it.
    ctx.occur_n("inventory timeout", 4).await;
    let spiking = ctx.group_id("inventory timeout").await;
    ctx.occur_n("coupon rejected", 5).await;
    let sentinel = ctx.group_id("coupon rejected").await;
    let first = ctx
        .wait_alerts("spike", 1, |a| a["group"]["id"] == sentinel.as_str())
        .await
        .remove(0);
    tokio::time::sleep(GRACE).await;
    assert!(
        ctx.group_alerts("spike", &spiking).is_empty(),
        "4 of 5 is no spike: {:#?}",
        ctx.alerts()
    );
    assert_eq!(first["window_minutes"], 15, "{first}");
    assert!(first["count"].as_i64().unwrap() >= 5, "{first}");

    // The fifth occurrence: a spike, in every channel.
    ctx.occur("inventory timeout").await;
    let alert = ctx
        .wait_alerts("spike", 1, |a| a["group"]["id"] == spiking.as_str())
        .await
        .remove(0);
    assert_eq!(alert["type"], "alert");
    assert!(alert["count"].as_i64().unwrap() >= 5, "{alert}");
    assert_eq!(alert["window_minutes"], 15, "{alert}");
    assert_eq!(alert["follow_up"], false, "{alert}");
    let title = alert["title"].as_str().unwrap().to_string();
    assert!(title.starts_with("Spike: "), "{title}");
    assert!(
        alert["url"].as_str().unwrap().starts_with(ORIGIN),
        "{alert}"
    );
    assert_eq!(alert["group"]["occurrences"], 5, "{alert}");
    let generic = ctx.hook("generic");
    let requests = generic.rx.requests();
    verify_signature(
        request_of(&requests, &alert["id"]),
        generic.secret.as_deref().unwrap(),
        &ctx.app,
    );
    let mail = ctx.wait_mail(&ctx.seed.email, stable(&title)).await;
    assert!(
        mail.text_part().unwrap().contains(ORIGIN),
        "the mail links to the dashboard"
    );

    // More of the same spike: nothing. A third group spiking is the sentinel.
    ctx.occur_n("inventory timeout", 3).await;
    ctx.occur_n("address lookup failed", 5).await;
    let third = ctx.group_id("address lookup failed").await;
    ctx.wait_alerts("spike", 1, |a| a["group"]["id"] == third.as_str())
        .await;
    tokio::time::sleep(GRACE).await;
    assert_eq!(
        ctx.group_alerts("spike", &spiking).len(),
        1,
        "{:#?}",
        ctx.alerts_of("spike")
    );

    // Half an hour of quiet (two whole windows), then a new spike: alerted anew.
    ctx.app.state.clock.advance(31 * MINUTE_MS);
    ctx.occur_n("inventory timeout", 5).await;
    let again = ctx
        .wait_alerts("spike", 2, |a| a["group"]["id"] == spiking.as_str())
        .await
        .remove(1);
    assert_eq!(again["follow_up"], false, "a new spike: {again}");
    assert_eq!(again["count"], 5, "only the new window counts: {again}");
    assert!(
        again["title"].as_str().unwrap().starts_with("Spike: "),
        "{again}"
    );
    assert_ne!(again["id"], alert["id"]);
    tokio::time::sleep(GRACE).await;
    assert_eq!(
        ctx.alerts_of("spike").len(),
        4,
        "{:#?}",
        ctx.alerts_of("spike")
    );
    ctx.assert_chats_match();
    let items = bell(&ctx.app, &ctx.seed.token).await;
    assert_eq!(bell_of(&items, "spike").len(), 4, "{items:#?}");
    ctx.assert_mails(&ctx.seed.email, "Spike: ", 4).await;
}

/// A spike that goes on is followed up ("still spiking") at most once an hour.
async fn a_continuing_spike_is_followed_up_hourly(backend: Backend) {
    let ctx = Ctx::new(backend, STANDARD).await;
    ctx.put_settings(settings(5, 1_440)).await;
    ctx.occur_n("search index stale", 5).await;
    let spiking = ctx.group_id("search index stale").await;
    let first = ctx
        .wait_alerts("spike", 1, |a| a["group"]["id"] == spiking.as_str())
        .await
        .remove(0);
    assert_eq!(first["follow_up"], false);
    assert_eq!(first["window_minutes"], 1_440);

    // Half an hour later it still occurs: too early for a follow-up.
    ctx.app.state.clock.advance(30 * MINUTE_MS);
    ctx.occur("search index stale").await;
    ctx.occur_n("avatar upload failed", 5).await;
    let sentinel = ctx.group_id("avatar upload failed").await;
    ctx.wait_alerts("spike", 1, |a| a["group"]["id"] == sentinel.as_str())
        .await;
    tokio::time::sleep(GRACE).await;
    assert_eq!(
        ctx.group_alerts("spike", &spiking).len(),
        1,
        "{:#?}",
        ctx.alerts_of("spike")
    );

    // Past the hour: one follow-up, in every channel.
    ctx.app.state.clock.advance(31 * MINUTE_MS);
    ctx.occur("search index stale").await;
    let follow_up = ctx
        .wait_alerts("spike", 2, |a| a["group"]["id"] == spiking.as_str())
        .await
        .remove(1);
    assert_eq!(follow_up["follow_up"], true, "{follow_up}");
    assert!(follow_up["count"].as_i64().unwrap() >= 5, "{follow_up}");
    assert_eq!(follow_up["window_minutes"], 1_440);
    let title = follow_up["title"].as_str().unwrap().to_string();
    assert!(title.starts_with("Still spiking: "), "{title}");
    let slack = ctx.hook("slack").rx.requests();
    assert!(
        slack
            .iter()
            .any(|r| chat_text(r).starts_with("Still spiking: ")),
        "{:?}",
        slack.iter().map(chat_text).collect::<Vec<_>>()
    );
    let discord = ctx.hook("discord").rx.requests();
    assert!(discord
        .iter()
        .any(|r| chat_text(r).starts_with("Still spiking: ")));
    ctx.wait_mail(&ctx.seed.email, "Still spiking: ").await;
    let generic = ctx.hook("generic");
    let requests = generic.rx.requests();
    verify_signature(
        request_of(&requests, &follow_up["id"]),
        generic.secret.as_deref().unwrap(),
        &ctx.app,
    );
    tokio::time::sleep(GRACE).await;
    assert_eq!(ctx.group_alerts("spike", &spiking).len(), 2);
    ctx.assert_chats_match();
}

// ---------------------------------------------------------------------------
// Quotas
// ---------------------------------------------------------------------------

fn event() -> Value {
    json!({ "app": "web", "name": "page_view" })
}

/// Quota near and exceeded each alert once per organization and month, to the
/// owners only (bell and mail) and to the project's webhooks.
async fn quota_alerts_come_once_a_month_to_owners(backend: Backend) {
    let ctx = Ctx::with_plan(backend, STANDARD, Some(Plan::Free)).await;
    let editor = ctx.member("eve", "EDITOR").await;
    let db = &ctx.app.state.db;
    let project = &ctx.seed.project_id;
    let month = month_key(ctx.app.state.clock.now_ms());
    let near = FREE_UNITS * 90 / 100;

    // One unit below 90 %, then two events: the first reaches it.
    let used = db.usage(project, &month).await.unwrap();
    assert!(
        db.reserve_usage(project, &month, near - 1 - used, FREE_UNITS)
            .await
            .unwrap()
            .is_ok(),
        "pre-filled"
    );
    ctx.app
        .ingest_ok("/ingest/event", &ctx.seed.key, &event())
        .await;
    ctx.app
        .ingest_ok("/ingest/event", &ctx.seed.key, &event())
        .await;
    let alert = ctx.wait_alerts("quota_near", 1, |_| true).await.remove(0);
    let org = &alert["organization"];
    assert_eq!(org["id"], ctx.seed.org_id.as_str(), "{alert}");
    assert_eq!(org["name"], "ada", "{alert}");
    assert_eq!(org["plan"], "FREE", "{alert}");
    assert_eq!(org["month"], month.as_str(), "{alert}");
    assert_eq!(org["limit"], FREE_UNITS, "{alert}");
    let used_then = org["used"].as_i64().unwrap();
    assert!((near..=near + 1).contains(&used_then), "{alert}");
    assert_eq!(alert["project"]["id"], project.as_str());
    assert!(alert.get("group").is_none_or(Value::is_null), "{alert}");
    assert!(
        alert["url"].as_str().unwrap().starts_with(ORIGIN),
        "{alert}"
    );
    assert_rfc3339(&alert["occurred_at"]);
    let generic = ctx.hook("generic");
    let requests = generic.rx.requests();
    verify_signature(
        request_of(&requests, &alert["id"]),
        generic.secret.as_deref().unwrap(),
        &ctx.app,
    );
    let near_title = stable(alert["title"].as_str().unwrap()).to_string();
    let mail = ctx.wait_mail(&ctx.seed.email, &near_title).await;
    assert!(mail.html_part().is_some());

    // Up to the limit: the next request is refused, and that alerts once.
    let used = db.usage(project, &month).await.unwrap();
    assert!(
        db.reserve_usage(project, &month, FREE_UNITS - used, FREE_UNITS)
            .await
            .unwrap()
            .is_ok(),
        "pre-filled"
    );
    for _ in 0..2 {
        let res = ctx
            .app
            .post_json("/ingest/event", &ctx.seed.key, &event())
            .await;
        assert_eq!(res.status(), 429);
    }
    let exceeded = ctx
        .wait_alerts("quota_exceeded", 1, |_| true)
        .await
        .remove(0);
    assert_eq!(exceeded["organization"]["id"], ctx.seed.org_id.as_str());
    assert_eq!(exceeded["organization"]["limit"], FREE_UNITS);
    assert_eq!(exceeded["organization"]["month"], month.as_str());
    let exceeded_title = stable(exceeded["title"].as_str().unwrap()).to_string();
    ctx.wait_mail(&ctx.seed.email, &exceeded_title).await;
    let requests = generic.rx.requests();
    verify_signature(
        request_of(&requests, &exceeded["id"]),
        generic.secret.as_deref().unwrap(),
        &ctx.app,
    );

    // Once a month: more refusals, nothing more (counted at the end, after a
    // sentinel; errors are refused too now, so the sentinel comes next month).
    let res = ctx
        .app
        .post_json("/ingest/event", &ctx.seed.key, &event())
        .await;
    assert_eq!(res.status(), 429);

    // Next month: usage starts over, and reaching 90 % alerts again.
    let now = ctx.app.state.clock.now_ms();
    ctx.app
        .state
        .clock
        .advance(next_month_start_ms(now) - now + DAY_MS);
    let next = month_key(ctx.app.state.clock.now_ms());
    assert_ne!(next, month);
    ctx.app
        .ingest_ok("/ingest/event", &ctx.seed.key, &event())
        .await;
    let used = db.usage(project, &next).await.unwrap();
    assert!(
        db.reserve_usage(project, &next, near - 1 - used, FREE_UNITS)
            .await
            .unwrap()
            .is_ok(),
        "pre-filled"
    );
    ctx.app
        .ingest_ok("/ingest/event", &ctx.seed.key, &event())
        .await;
    let again = ctx
        .wait_alerts("quota_near", 1, |a| {
            a["organization"]["month"] == next.as_str()
        })
        .await
        .remove(0);
    assert_ne!(again["id"], alert["id"]);
    ctx.occur("sentinel after quota").await;
    ctx.wait_alerts("new_group", 1, |_| true).await;
    tokio::time::sleep(GRACE).await;

    assert_eq!(ctx.alerts_of("quota_near").len(), 2, "{:#?}", ctx.alerts());
    assert_eq!(
        ctx.alerts_of("quota_exceeded").len(),
        1,
        "{:#?}",
        ctx.alerts()
    );
    ctx.assert_chats_match();
    let owner_bell = bell(&ctx.app, &ctx.seed.token).await;
    assert_eq!(
        bell_of(&owner_bell, "quota_near").len(),
        2,
        "{owner_bell:#?}"
    );
    assert_eq!(
        bell_of(&owner_bell, "quota_exceeded").len(),
        1,
        "{owner_bell:#?}"
    );
    ctx.assert_mails(&ctx.seed.email, &near_title, 2).await;
    ctx.assert_mails(&ctx.seed.email, &exceeded_title, 1).await;
    // The editor hears of the new group, never of the quota.
    let editor_bell = bell(&ctx.app, &editor.token).await;
    assert!(
        bell_of(&editor_bell, "new_issue").len() == 1,
        "{editor_bell:#?}"
    );
    assert!(
        bell_of(&editor_bell, "quota_near").is_empty()
            && bell_of(&editor_bell, "quota_exceeded").is_empty(),
        "owners only: {editor_bell:#?}"
    );
    assert!(
        ctx.sink.messages_to(&editor.email).is_empty(),
        "owners only: {:?}",
        ctx.sink
            .messages_to(&editor.email)
            .iter()
            .map(ReceivedMail::subject)
            .collect::<Vec<_>>()
    );
}

// ---------------------------------------------------------------------------
// Delivery: retries, time-outs, 410
// ---------------------------------------------------------------------------

/// A receiver answering 500 then 200 gets the alert again once the retry is due
/// on the app clock, not before; the log has both attempts.
async fn failed_deliveries_are_retried_with_backoff(backend: Backend) {
    let ctx = Ctx::new(backend, &[(Mode::FailThenOk(1), "generic")]).await;
    let hook = ctx.hook("generic");
    ctx.occur("flaky receiver").await;
    let first = hook.rx.wait_for(1, WAIT).await;
    assert_eq!(first[0].answered, Some(500));
    let log = ctx.wait_deliveries(&hook.id, 1, WAIT).await;
    assert_eq!(log[0]["attempt"], 1, "{log:#?}");
    assert_eq!(log[0]["outcome"], "retry", "{log:#?}");
    assert_eq!(log[0]["http_status"], 500, "{log:#?}");
    assert!(
        log[0]["response"]
            .as_str()
            .is_some_and(|r| r.contains("failing on purpose")),
        "the receiver's answer is kept: {log:#?}"
    );

    // Not due yet: two polls of the deliverer pass without a second attempt.
    tokio::time::sleep(Duration::from_millis(2_200)).await;
    assert_eq!(hook.rx.count(), 1, "retried before the backoff");

    // A minute (plus the most jitter) later on the app clock: retried, delivered.
    ctx.app.state.clock.advance(67_000);
    let both = hook.rx.wait_for(2, WAIT).await;
    assert_eq!(both[1].answered, Some(200));
    let (a, b) = (both[0].json(), both[1].json());
    assert_eq!(a["id"], b["id"], "the same alert");
    assert_eq!(a["kind"], "new_group");
    let d0 = assert_delivery_headers(&both[0]);
    let d1 = assert_delivery_headers(&both[1]);
    assert_eq!(
        d0, d1,
        "one delivery id across attempts, for receivers to dedupe"
    );
    for r in &both {
        verify_signature(r, hook.secret.as_deref().unwrap(), &ctx.app);
    }

    let log = ctx.wait_deliveries(&hook.id, 2, WAIT).await;
    assert_eq!(log.len(), 2, "{log:#?}");
    assert_eq!(
        (
            log[0]["attempt"].as_i64(),
            log[0]["outcome"].as_str(),
            log[0]["http_status"].as_i64()
        ),
        (Some(2), Some("delivered"), Some(200)),
        "newest first: {log:#?}"
    );
    assert_eq!(
        (log[1]["attempt"].as_i64(), log[1]["outcome"].as_str()),
        (Some(1), Some("retry")),
        "{log:#?}"
    );
    for item in &log {
        assert_eq!(item["delivery_id"], d0.as_str());
        assert_eq!(item["alert_id"], a["id"]);
        assert_eq!(item["kind"], "new_group");
    }

    // Cursor pagination, one attempt a page.
    let page = ctx.deliveries(&hook.id, "?limit=1").await;
    assert_eq!(page["items"].as_array().unwrap().len(), 1, "{page}");
    assert_eq!(page["items"][0]["attempt"], 2);
    let cursor = page["next_cursor"]
        .as_str()
        .expect("a next page")
        .to_string();
    let page = ctx
        .deliveries(&hook.id, &format!("?limit=1&cursor={cursor}"))
        .await;
    assert_eq!(page["items"].as_array().unwrap().len(), 1, "{page}");
    assert_eq!(page["items"][0]["attempt"], 1);
    assert!(page["next_cursor"].is_null(), "{page}");

    // Delivered is done: later retries never come.
    ctx.app.state.clock.advance(6 * MINUTE_MS);
    ctx.occur("after the retry").await;
    hook.rx.wait_for(3, WAIT).await;
    tokio::time::sleep(GRACE).await;
    assert_eq!(
        hook.rx.count(),
        3,
        "{:?}",
        hook.rx
            .requests()
            .iter()
            .map(Recorded::text)
            .collect::<Vec<_>>()
    );
}

/// A receiver that never answers costs one attempt of at most the 10 s timeout,
/// recorded without an HTTP status and retried later.
async fn a_silent_receiver_times_out(backend: Backend) {
    let ctx = Ctx::new(backend, &[(Mode::Never, "generic")]).await;
    let hook = ctx.hook("generic");
    let started = Instant::now();
    ctx.occur("receiver asleep").await;
    let got = hook.rx.wait_for(1, WAIT).await;
    assert_eq!(got[0].answered, None);
    verify_signature(&got[0], hook.secret.as_deref().unwrap(), &ctx.app);
    let log = ctx
        .wait_deliveries(&hook.id, 1, Duration::from_secs(20))
        .await;
    let attempt = &log[0];
    assert!(
        matches!(attempt["outcome"].as_str(), Some("retry" | "error")),
        "{attempt}"
    );
    assert!(attempt["http_status"].is_null(), "{attempt}");
    assert!(
        attempt["error"].as_str().is_some_and(|e| !e.is_empty()),
        "{attempt}"
    );
    let latency = attempt["latency_ms"].as_i64().unwrap();
    assert!(
        (9_000..=12_000).contains(&latency),
        "the 10 s timeout: {attempt}"
    );
    assert!(started.elapsed() < Duration::from_secs(20));
    // The bell is not held up by the webhook.
    let items = bell(&ctx.app, &ctx.seed.token).await;
    assert_eq!(bell_of(&items, "new_issue").len(), 1, "{items:#?}");
}

/// `410 Gone` disables the webhook: nothing more is sent to it, retries included.
async fn a_gone_receiver_disables_its_webhook(backend: Backend) {
    let mut ctx = Ctx::new(backend, &[(Mode::Gone, "generic")]).await;
    let gone_id = ctx.hooks[0].id.clone();
    ctx.add_hook(Mode::Ok, "slack", None).await;
    ctx.occur("gone receiver").await;
    ctx.hooks[0].rx.wait_for(1, WAIT).await;
    ctx.hooks[1].rx.wait_for(1, WAIT).await;

    let deadline = Instant::now() + WAIT;
    let disabled = loop {
        let hooks = ctx.webhooks().await;
        let hook = hooks
            .iter()
            .find(|h| h["id"] == gone_id.as_str())
            .unwrap()
            .clone();
        if !hook["disabled_at"].is_null() {
            break hook;
        }
        assert!(Instant::now() < deadline, "not disabled: {hook}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_rfc3339(&disabled["disabled_at"]);
    assert!(
        disabled["disabled_reason"]
            .as_str()
            .is_some_and(|r| r.contains("410")),
        "{disabled}"
    );
    let log = ctx.wait_deliveries(&gone_id, 1, WAIT).await;
    assert_eq!(log[0]["outcome"], "gone", "{log:#?}");
    assert_eq!(log[0]["http_status"], 410, "{log:#?}");

    // Past any retry, and a new alert: only the live webhook hears of it.
    ctx.app.state.clock.advance(67_000);
    ctx.occur("after the gone").await;
    ctx.hooks[1].rx.wait_for(2, WAIT).await;
    tokio::time::sleep(GRACE).await;
    assert_eq!(
        ctx.hooks[0].rx.count(),
        1,
        "a disabled webhook gets nothing"
    );
    assert_eq!(ctx.wait_deliveries(&gone_id, 1, WAIT).await.len(), 1);

    // The test button tells the same story about a receiver that is gone.
    let rx = Receiver::start(Mode::Gone);
    let created = create_hook(&ctx.app, &ctx.seed, &rx.url(), "discord", None).await;
    let (status, result) = ctx
        .call(
            "POST",
            &ctx.project_path(&format!(
                "/webhooks/{}/test",
                created["id"].as_str().unwrap()
            )),
            None,
        )
        .await;
    assert_eq!(status, 200, "{result}");
    assert_eq!(result["status"], "disabled", "{result}");
    assert_eq!(result["http_status"], 410, "{result}");
}

// ---------------------------------------------------------------------------
// The API: webhooks, settings, filters, SSRF, roles
// ---------------------------------------------------------------------------

/// Webhooks are created (the secret shown once), listed, tested and deleted.
async fn webhooks_are_created_tested_and_deleted(backend: Backend) {
    let ctx = Ctx::new(backend, &[]).await;
    let rx = Receiver::start(Mode::Ok);
    let generic = create_hook(&ctx.app, &ctx.seed, &rx.url(), "generic", None).await;
    for field in [
        "id",
        "name",
        "url",
        "format",
        "kinds",
        "created_at",
        "secret",
    ] {
        assert!(generic.get(field).is_some(), "{field} in {generic}");
    }
    assert_eq!(generic["url"], rx.url().as_str());
    assert_eq!(generic["format"], "generic");
    assert_eq!(generic["name"], "generic receiver");
    assert!(generic["disabled_at"].is_null() && generic["disabled_reason"].is_null());
    assert_rfc3339(&generic["created_at"]);
    let mut kinds: Vec<String> = serde_json::from_value(generic["kinds"].clone()).unwrap();
    kinds.sort();
    assert_eq!(kinds, ALL_KINDS, "every kind by default");
    let secret = generic["secret"].as_str().unwrap().to_string();
    assert!(
        secret.starts_with("whsec_") && secret.len() > 20,
        "{secret}"
    );

    let slack_rx = Receiver::start(Mode::Ok);
    let slack = create_hook(
        &ctx.app,
        &ctx.seed,
        &slack_rx.url(),
        "slack",
        Some(json!(["spike"])),
    )
    .await;
    assert!(slack.get("secret").is_none_or(Value::is_null), "{slack}");
    assert_eq!(slack["kinds"], json!(["spike"]));

    let list = ctx.webhooks().await;
    assert_eq!(list.len(), 2, "{list:#?}");
    for hook in &list {
        assert!(
            hook.get("secret").is_none_or(Value::is_null),
            "shown once: {hook}"
        );
        assert!(!hook.to_string().contains(&secret), "shown once: {hook}");
    }

    // The test button: sent now, signed, answered with the attempt.
    let id = generic["id"].as_str().unwrap();
    let (status, result) = ctx
        .call(
            "POST",
            &ctx.project_path(&format!("/webhooks/{id}/test")),
            None,
        )
        .await;
    assert_eq!(status, 200, "{result}");
    assert_eq!(result["status"], "delivered", "{result}");
    assert_eq!(result["http_status"], 200, "{result}");
    assert!(result["latency_ms"].as_i64().is_some(), "{result}");
    assert!(result["error"].is_null(), "{result}");
    let got = rx.wait_for(1, WAIT).await;
    let body = got[0].json();
    assert_eq!(body["type"], "test", "{body}");
    assert_eq!(body["project"]["id"], ctx.seed.project_id.as_str());
    let delivery = assert_delivery_headers(&got[0]);
    assert_eq!(result["delivery_id"], delivery.as_str());
    verify_signature(&got[0], &secret, &ctx.app);
    let log = ctx.wait_deliveries(id, 1, WAIT).await;
    assert_eq!(log[0]["outcome"], "delivered", "{log:#?}");
    assert_eq!(log[0]["delivery_id"], delivery.as_str());
    // Test alerts are for the receiver alone: the bell stays quiet.
    assert!(bell(&ctx.app, &ctx.seed.token).await.is_empty());

    // Slack's test message reads as one.
    let slack_id = slack["id"].as_str().unwrap();
    let (status, result) = ctx
        .call(
            "POST",
            &ctx.project_path(&format!("/webhooks/{slack_id}/test")),
            None,
        )
        .await;
    assert_eq!(
        (status, result["status"].as_str()),
        (200, Some("delivered")),
        "{result}"
    );
    let got = slack_rx.wait_for(1, WAIT).await;
    assert!(got[0].json()["text"].is_string());

    // Delete: gone from the list; deleting again or an unknown id is 404.
    let (status, body) = ctx
        .call(
            "DELETE",
            &ctx.project_path(&format!("/webhooks/{slack_id}")),
            None,
        )
        .await;
    assert_eq!(status, 204, "{body}");
    let list = ctx.webhooks().await;
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["id"], id);
    let (status, _) = ctx
        .call(
            "DELETE",
            &ctx.project_path(&format!("/webhooks/{slack_id}")),
            None,
        )
        .await;
    assert_eq!(status, 404);
    let (status, _) = ctx
        .call(
            "POST",
            &ctx.project_path("/webhooks/no-such-hook/test"),
            None,
        )
        .await;
    assert_eq!(status, 404);

    // Bad requests name the field.
    for (body, field) in [
        (
            json!({ "url": "ftp://example.com/hook", "format": "generic" }),
            "url",
        ),
        (json!({ "url": "not a url", "format": "generic" }), "url"),
        (json!({ "url": rx.url(), "format": "teams" }), "format"),
        (
            json!({ "url": rx.url(), "format": "generic", "kinds": ["bogus"] }),
            "kinds",
        ),
    ] {
        let (status, answer) = ctx
            .call("POST", &ctx.project_path("/webhooks"), Some(body.clone()))
            .await;
        assert_eq!(status, 400, "{body} → {answer}");
        assert!(answer.to_string().contains(field), "{body} → {answer}");
    }
    assert_eq!(ctx.webhooks().await.len(), 1);
}

/// Settings: defaults, validation naming the field, and a kind switched off
/// reaching nobody (bell, mail or webhook).
async fn settings_switch_kinds_off(backend: Backend) {
    let ctx = Ctx::new(backend, STANDARD).await;
    let (status, got) = ctx
        .call("GET", &ctx.project_path("/alert-settings"), None)
        .await;
    assert_eq!(status, 200, "{got}");
    assert_eq!(got, defaults());

    for (change, field) in [
        (
            json!({ "spike": { "enabled": true, "threshold": 0, "window_minutes": 15 } }),
            "spike.threshold",
        ),
        (
            json!({ "spike": { "enabled": true, "threshold": 100_001, "window_minutes": 15 } }),
            "spike.threshold",
        ),
        (
            json!({ "spike": { "enabled": true, "threshold": 25, "window_minutes": 0 } }),
            "spike.window_minutes",
        ),
        (
            json!({ "spike": { "enabled": true, "threshold": 25, "window_minutes": 1_441 } }),
            "spike.window_minutes",
        ),
        (
            json!({ "quota": { "enabled": true, "near_percent": 49 } }),
            "quota.near_percent",
        ),
        (
            json!({ "quota": { "enabled": true, "near_percent": 100 } }),
            "quota.near_percent",
        ),
    ] {
        let mut body = defaults();
        for (k, v) in change.as_object().unwrap() {
            body[k] = v.clone();
        }
        let (status, answer) = ctx
            .call(
                "PUT",
                &ctx.project_path("/alert-settings"),
                Some(body.clone()),
            )
            .await;
        assert_eq!(status, 400, "{body} → {answer}");
        assert!(answer.to_string().contains(field), "{field}: {answer}");
    }
    // The edges are accepted.
    let edges = json!({
        "new_group": true, "regression": true,
        "spike": { "enabled": true, "threshold": 100_000, "window_minutes": 1_440 },
        "quota": { "enabled": true, "near_percent": 99 }
    });
    ctx.put_settings(edges.clone()).await;
    ctx.put_settings(settings(1, 1)).await;
    ctx.put_settings(json!({
        "new_group": true, "regression": true,
        "spike": { "enabled": true, "threshold": 25, "window_minutes": 15 },
        "quota": { "enabled": true, "near_percent": 50 }
    }))
    .await;
    ctx.put_settings(defaults()).await;
    let (_, got) = ctx
        .call("GET", &ctx.project_path("/alert-settings"), None)
        .await;
    assert_eq!(got, defaults());

    // New groups on: alerted.
    ctx.occur("first failure").await;
    let first = ctx.group_id("first failure").await;
    ctx.wait_alerts("new_group", 1, |_| true).await;

    // New groups off: nothing anywhere. A regression (still on) is the sentinel.
    let mut off = defaults();
    off["new_group"] = json!(false);
    ctx.put_settings(off).await;
    ctx.occur("unheard failure").await;
    ctx.set_status(&first, "resolved").await;
    ctx.occur("first failure").await;
    ctx.wait_alerts("regression", 1, |_| true).await;
    tokio::time::sleep(GRACE).await;
    assert_eq!(ctx.alerts().len(), 2, "{:#?}", ctx.alerts());
    ctx.assert_chats_match();
    let items = bell(&ctx.app, &ctx.seed.token).await;
    assert!(
        !items.iter().any(|n| n["title"]
            .as_str()
            .unwrap_or("")
            .contains("unheard failure")),
        "{items:#?}"
    );
    assert!(ctx.mails(&ctx.seed.email, "unheard failure").is_empty());

    // Regressions off, new groups on again: the regression goes unheard, the new
    // group is the sentinel.
    let mut off = defaults();
    off["regression"] = json!(false);
    ctx.put_settings(off).await;
    ctx.set_status(&first, "resolved").await;
    ctx.occur("first failure").await;
    ctx.occur("later failure").await;
    ctx.wait_alerts("new_group", 2, |_| true).await;
    tokio::time::sleep(GRACE).await;
    assert_eq!(ctx.alerts_of("regression").len(), 1, "{:#?}", ctx.alerts());
    assert_eq!(ctx.alerts().len(), 3, "{:#?}", ctx.alerts());
    ctx.assert_chats_match();
    let items = bell(&ctx.app, &ctx.seed.token).await;
    assert_eq!(bell_of(&items, "regression").len(), 1, "{items:#?}");
    ctx.assert_mails(&ctx.seed.email, "Regression: ", 1).await;
}

/// A webhook gets only the kinds it chose.
async fn webhooks_get_only_their_kinds(backend: Backend) {
    let mut ctx = Ctx::new(backend, &[(Mode::Ok, "generic")]).await;
    ctx.add_hook(Mode::Ok, "generic", Some(json!(["regression"])))
        .await;
    let listed = ctx.webhooks().await;
    let only = listed
        .iter()
        .find(|h| h["id"] == ctx.hooks[1].id.as_str())
        .unwrap();
    assert_eq!(only["kinds"], json!(["regression"]));

    ctx.occur("filtered failure").await;
    let group = ctx.group_id("filtered failure").await;
    ctx.hooks[0].rx.wait_for(1, WAIT).await;
    ctx.set_status(&group, "resolved").await;
    ctx.occur("filtered failure").await;
    let all = ctx.hooks[0].rx.wait_for(2, WAIT).await;
    let regression = ctx.hooks[1].rx.wait_for(1, WAIT).await;
    tokio::time::sleep(GRACE).await;
    let kinds = |hook: &Hook| -> Vec<String> {
        alert_bodies(hook)
            .iter()
            .map(|a| a["kind"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(kinds(&ctx.hooks[0]), ["new_group", "regression"], "{all:?}");
    assert_eq!(kinds(&ctx.hooks[1]), ["regression"], "{regression:?}");
    verify_signature(
        &regression[0],
        ctx.hooks[1].secret.as_deref().unwrap(),
        &ctx.app,
    );
    // Each webhook signs with its own secret.
    assert_ne!(ctx.hooks[0].secret, ctx.hooks[1].secret);
    assert_eq!(regression[0].json()["id"], all[1].json()["id"], "one alert");
    assert_ne!(
        regression[0].header("x-telemetry-delivery"),
        all[1].header("x-telemetry-delivery"),
        "one delivery per webhook"
    );
}

/// Loopback, private, link-local and metadata targets are refused unless
/// `TELEMETRY_WEBHOOK_ALLOW_PRIVATE` is set.
async fn private_targets_are_refused_by_default(backend: Backend) {
    let app = TestApp::start(backend).await;
    assert!(!app.state.config.webhook_allow_private, "off by default");
    let seed = app.seed("ada").await;
    let rx = Receiver::start(Mode::Ok);
    let path = format!("/api/projects/{}/webhooks", seed.project_id);
    for url in [
        rx.url(),
        "http://127.0.0.1:9/x".to_string(),
        "http://localhost:9/x".to_string(),
        "http://[::1]:9/x".to_string(),
        "http://[::ffff:127.0.0.1]:9/x".to_string(),
        "http://0.0.0.0:9/x".to_string(),
        "http://10.0.0.1/".to_string(),
        "http://172.16.5.4/".to_string(),
        "http://192.168.1.1/hook".to_string(),
        "http://169.254.169.254/latest/meta-data/".to_string(),
        "https://[fd00::1]/".to_string(),
        "http://[fe80::1]/".to_string(),
    ] {
        for format in ["generic", "slack"] {
            let (status, answer) = call(
                &app,
                &seed.token,
                "POST",
                &path,
                Some(json!({ "url": url, "format": format })),
            )
            .await;
            assert_eq!(status, 400, "{url} ({format}) → {answer}");
            assert!(answer.to_string().contains("url"), "{url} → {answer}");
        }
    }
    let (status, list) = call(&app, &seed.token, "GET", &path, None).await;
    assert_eq!(status, 200);
    assert_eq!(list, json!([]), "nothing was created");
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(rx.count(), 0, "nothing was sent");
}

/// VIEWER reads settings, webhooks and deliveries; EDITOR and OWNER change them;
/// another organization sees nothing.
async fn viewers_read_editors_change(backend: Backend) {
    let ctx = Ctx::new(backend, &[(Mode::Ok, "generic")]).await;
    let viewer = ctx.member("vic", "VIEWER").await;
    let editor = ctx.member("eve", "EDITOR").await;
    let hook_id = ctx.hooks[0].id.clone();
    let settings_path = ctx.project_path("/alert-settings");
    let hooks_path = ctx.project_path("/webhooks");
    let hook_path = ctx.project_path(&format!("/webhooks/{hook_id}"));
    let rx = Receiver::start(Mode::Ok);
    let new_hook = json!({ "url": rx.url(), "format": "discord" });

    // VIEWER: reads …
    let (status, got) = call(&ctx.app, &viewer.token, "GET", &settings_path, None).await;
    assert_eq!((status, got), (200, defaults()));
    let (status, list) = call(&ctx.app, &viewer.token, "GET", &hooks_path, None).await;
    assert_eq!(status, 200, "{list}");
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert!(list[0].get("secret").is_none_or(Value::is_null));
    // A chat webhook's URL is its credential: a viewer sees the origin only.
    let origin = ctx.hooks[0].rx.url().trim_end_matches("/hook").to_string();
    assert_eq!(list[0]["url"], format!("{origin}/…"), "{list}");
    let (status, log) = call(
        &ctx.app,
        &viewer.token,
        "GET",
        &format!("{hook_path}/deliveries"),
        None,
    )
    .await;
    assert_eq!(status, 200, "{log}");
    // … and changes nothing.
    for (method, path, body) in [
        ("PUT", settings_path.clone(), Some(settings(5, 15))),
        ("POST", hooks_path.clone(), Some(new_hook.clone())),
        ("DELETE", hook_path.clone(), None),
        ("POST", format!("{hook_path}/test"), None),
    ] {
        let (status, answer) = call(&ctx.app, &viewer.token, method, &path, body).await;
        assert_eq!(status, 403, "{method} {path} as VIEWER: {answer}");
    }
    let (_, got) = ctx.call("GET", &settings_path, None).await;
    assert_eq!(got, defaults());
    assert_eq!(ctx.webhooks().await.len(), 1);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(ctx.hooks[0].rx.count(), 0, "the viewer's test sent nothing");

    // EDITOR: changes.
    let (status, got) = call(
        &ctx.app,
        &editor.token,
        "PUT",
        &settings_path,
        Some(settings(5, 15)),
    )
    .await;
    assert_eq!((status, got), (200, settings(5, 15)));
    let (status, created) = call(
        &ctx.app,
        &editor.token,
        "POST",
        &hooks_path,
        Some(new_hook.clone()),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let (status, result) = call(
        &ctx.app,
        &editor.token,
        "POST",
        &format!("{hook_path}/test"),
        None,
    )
    .await;
    assert_eq!(
        (status, result["status"].as_str()),
        (200, Some("delivered")),
        "{result}"
    );
    let created_path = ctx.project_path(&format!("/webhooks/{}", created["id"].as_str().unwrap()));
    let (status, _) = call(&ctx.app, &editor.token, "DELETE", &created_path, None).await;
    assert_eq!(status, 204);
    // OWNER too.
    let (status, _) = ctx.call("DELETE", &hook_path, None).await;
    assert_eq!(status, 204);
    assert!(ctx.webhooks().await.is_empty());

    // Another organization's owner: not found, whatever the route.
    let outsider = ctx.app.seed("otto").await;
    for (method, path, body) in [
        ("GET", settings_path.clone(), None),
        ("PUT", settings_path.clone(), Some(defaults())),
        ("GET", hooks_path.clone(), None),
        ("POST", hooks_path.clone(), Some(new_hook.clone())),
    ] {
        let (status, answer) = call(&ctx.app, &outsider.token, method, &path, body).await;
        assert_eq!(
            status, 404,
            "{method} {path} from another organization: {answer}"
        );
    }
    let (_, got) = ctx.call("GET", &settings_path, None).await;
    assert_eq!(got, settings(5, 15), "unchanged by the outsider");
}

on_both_backends!(
    a_new_group_alerts_once_everywhere,
    a_regression_alerts_once_per_regression,
    ignored_groups_never_alert,
    a_spike_alerts_once_per_spike,
    a_continuing_spike_is_followed_up_hourly,
    quota_alerts_come_once_a_month_to_owners,
    failed_deliveries_are_retried_with_backoff,
    a_silent_receiver_times_out,
    a_gone_receiver_disables_its_webhook,
    webhooks_are_created_tested_and_deleted,
    settings_switch_kinds_off,
    webhooks_get_only_their_kinds,
    private_targets_are_refused_by_default,
    viewers_read_editors_change,
);
