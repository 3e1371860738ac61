//! What an alert says, in each webhook format and as the bell's and the mail's
//! title, and the signature of generic webhook bodies. docs/ALERTS.md documents
//! every field; change both together.

use super::alerts::{AlertKind, WebhookFormat};
use super::timeutil::format_rfc3339_ms;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sha2::Sha256;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ProjectRef {
    pub id: String,
    pub name: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GroupRef {
    pub id: String,
    /// `Type: message`, or the message alone.
    pub title: String,
    pub message: String,
    /// The top stack frame, where the error was thrown.
    pub culprit: Option<String>,
    pub url: String,
    pub occurrences: i64,
    pub users: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OrgRef {
    pub id: String,
    pub name: String,
    pub plan: String,
    /// The UTC month, `YYYY-MM`.
    pub month: String,
    pub used: i64,
    pub limit: i64,
}

/// One alert, as every channel tells it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AlertMessage {
    /// The alert's id; a test alert's starts with `test_`.
    pub id: String,
    pub kind: AlertKind,
    pub test: bool,
    pub project: ProjectRef,
    pub group: Option<GroupRef>,
    /// Spikes: occurrences within the window.
    pub count: Option<i64>,
    pub window_minutes: Option<i64>,
    /// Spikes: a reminder that a spike already reported goes on.
    pub follow_up: bool,
    pub organization: Option<OrgRef>,
    pub occurred_at: i64,
    /// Where the dashboard shows what the alert is about.
    pub url: String,
}

/// Characters of a group's message kept in titles.
const TITLE_CHARS: usize = 140;

fn clip(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

impl AlertMessage {
    /// One line: the bell's title, the mail's subject, the chat message's text.
    pub fn headline(&self) -> String {
        let what = || {
            self.group
                .as_ref()
                .map(|g| clip(&g.title, TITLE_CHARS))
                .unwrap_or_default()
        };
        let prefix = if self.test { "[test] " } else { "" };
        let line = match self.kind {
            AlertKind::NewGroup => format!("New error: {}", what()),
            AlertKind::Regression => format!("Regression: {}", what()),
            AlertKind::Spike if self.follow_up => format!(
                "Still spiking: {} ({} in {} min)",
                what(),
                self.count.unwrap_or_default(),
                self.window_minutes.unwrap_or_default()
            ),
            AlertKind::Spike => format!(
                "Spike: {} ({} in {} min)",
                what(),
                self.count.unwrap_or_default(),
                self.window_minutes.unwrap_or_default()
            ),
            AlertKind::QuotaNear => format!("{} used {}", self.org_name(), self.quota_words()),
            AlertKind::QuotaExceeded => format!(
                "{} reached its monthly quota ({}); new data is refused until {}",
                self.org_name(),
                self.quota_words(),
                self.organization
                    .as_ref()
                    .map(|o| next_month_words(&o.month))
                    .unwrap_or_default()
            ),
        };
        format!("{prefix}{line}")
    }

    /// The second line: project, and what else helps to triage.
    pub fn context(&self) -> String {
        match (&self.group, self.kind.is_quota()) {
            (Some(g), false) => {
                let mut parts = vec![self.project.name.clone()];
                if let Some(c) = &g.culprit {
                    parts.push(clip(c, 200));
                }
                parts.push(format!(
                    "{} occurrence{} · {} user{}",
                    g.occurrences,
                    plural(g.occurrences),
                    g.users,
                    plural(g.users)
                ));
                parts.join(" · ")
            }
            _ => format!("Project {}", self.project.name),
        }
    }

    fn org_name(&self) -> String {
        self.organization
            .as_ref()
            .map(|o| o.name.clone())
            .unwrap_or_else(|| "The organization".into())
    }

    fn quota_words(&self) -> String {
        match &self.organization {
            Some(o) if o.limit > 0 => format!(
                "{}% of its {} units this month ({} of {})",
                o.used * 100 / o.limit,
                o.plan,
                o.used,
                o.limit
            ),
            _ => String::new(),
        }
    }

    /// The documented generic body.
    pub fn generic(&self) -> Value {
        let mut body = json!({
            "type": if self.test { "test" } else { "alert" },
            "id": self.id,
            "kind": self.kind.as_str(),
            "title": self.headline(),
            "url": self.url,
            "project": {"id": self.project.id, "name": self.project.name},
            "occurred_at": format_rfc3339_ms(self.occurred_at),
        });
        if let Some(g) = &self.group {
            body["group"] = json!({
                "id": g.id,
                "title": g.title,
                "message": g.message,
                "culprit": g.culprit,
                "url": g.url,
                "occurrences": g.occurrences,
                "users": g.users,
            });
        }
        if self.kind == AlertKind::Spike {
            body["count"] = json!(self.count);
            body["window_minutes"] = json!(self.window_minutes);
            body["follow_up"] = json!(self.follow_up);
        }
        if let Some(o) = &self.organization {
            body["organization"] = json!({
                "id": o.id,
                "name": o.name,
                "plan": o.plan,
                "month": o.month,
                "used": o.used,
                "limit": o.limit,
            });
        }
        body
    }

    /// A Slack incoming-webhook body: `text` (the notification) and `blocks`.
    pub fn slack(&self) -> Value {
        let headline = slack_escape(&clip(&self.headline(), 150));
        let mut detail = format!("*<{}|{}>*", self.url, headline);
        if let Some(g) = &self.group {
            if g.message != g.title {
                detail.push_str(&format!("\n{}", slack_escape(&clip(&g.message, 1_000))));
            }
        }
        json!({
            "text": format!("{} ({})", self.headline(), self.project.name),
            "blocks": [
                {"type": "section", "text": {"type": "mrkdwn", "text": detail}},
                {"type": "context", "elements": [
                    {"type": "mrkdwn", "text": slack_escape(&clip(&self.context(), 2_000))}
                ]}
            ],
            "unfurl_links": false,
        })
    }

    /// A Discord webhook body: `content` and one embed; mentions in user text are
    /// never pinged.
    pub fn discord(&self) -> Value {
        let mut embed = json!({
            "title": clip(&self.headline(), 256),
            "url": self.url,
            "description": clip(&self.context(), 4_000),
            "color": self.color(),
            "timestamp": format_rfc3339_ms(self.occurred_at),
            "footer": {"text": format!("Telemetry Tracker · {}", clip(&self.project.name, 200))},
        });
        if let Some(g) = &self.group {
            embed["fields"] = json!([
                {"name": "Occurrences", "value": g.occurrences.to_string(), "inline": true},
                {"name": "Users", "value": g.users.to_string(), "inline": true},
            ]);
        }
        json!({
            "content": clip(&self.headline(), 2_000),
            "embeds": [embed],
            "allowed_mentions": {"parse": []},
        })
    }

    pub fn body(&self, format: WebhookFormat) -> Value {
        match format {
            WebhookFormat::Generic => self.generic(),
            WebhookFormat::Slack => self.slack(),
            WebhookFormat::Discord => self.discord(),
        }
    }

    fn color(&self) -> u32 {
        match self.kind {
            AlertKind::NewGroup => 0x1f6feb,
            AlertKind::Regression | AlertKind::QuotaExceeded => 0xcf222e,
            AlertKind::Spike | AlertKind::QuotaNear => 0xbf8700,
        }
    }
}

fn plural(n: i64) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

fn next_month_words(month: &str) -> String {
    let (y, m) = month.split_once('-').unwrap_or(("", ""));
    match (y.parse::<i32>(), m.parse::<u32>()) {
        (Ok(y), Ok(12)) => format!("{}-01-01", y + 1),
        (Ok(y), Ok(m)) => format!("{y}-{:02}-01", m + 1),
        _ => "next month".into(),
    }
}

/// Slack reads `&`, `<` and `>` as markup; everything else is literal.
fn slack_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// `X-Telemetry-Signature` of `body` sent at `t` (unix seconds):
/// `t=<t>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`.
pub fn signature(secret: &str, t: i64, body: &[u8]) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes a key of any size");
    mac.update(t.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("t={t},v1={}", hex::encode(mac.finalize().into_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spike() -> AlertMessage {
        AlertMessage {
            id: "a1".into(),
            kind: AlertKind::Spike,
            test: false,
            project: ProjectRef {
                id: "p1".into(),
                name: "Shop <web>".into(),
            },
            group: Some(GroupRef {
                id: "g1".into(),
                title: "TypeError: x is undefined".into(),
                message: "x is undefined".into(),
                culprit: Some("checkout.js:10".into()),
                url: "http://t/errors/g1?project=p1".into(),
                occurrences: 40,
                users: 1,
            }),
            count: Some(30),
            window_minutes: Some(15),
            follow_up: false,
            organization: None,
            occurred_at: 0,
            url: "http://t/errors/g1?project=p1".into(),
        }
    }

    #[test]
    fn the_generic_body_has_the_documented_fields() {
        let body = spike().generic();
        assert_eq!(body["type"], "alert");
        assert_eq!(body["kind"], "spike");
        assert_eq!(body["count"], 30);
        assert_eq!(body["window_minutes"], 15);
        assert_eq!(body["group"]["culprit"], "checkout.js:10");
        assert_eq!(body["project"]["name"], "Shop <web>");
        assert_eq!(body["occurred_at"], "1970-01-01T00:00:00.000Z");
        assert!(body.get("organization").is_none());
    }

    #[test]
    fn chat_bodies_escape_and_never_ping() {
        let slack = spike().slack();
        assert!(slack["text"]
            .as_str()
            .unwrap()
            .starts_with("Spike: TypeError"));
        let context = slack["blocks"][1]["elements"][0]["text"].as_str().unwrap();
        assert!(context.contains("Shop &lt;web&gt;"), "{context}");
        let discord = spike().discord();
        assert_eq!(discord["allowed_mentions"]["parse"], json!([]));
        assert_eq!(discord["embeds"][0]["fields"][0]["value"], "40");
    }

    #[test]
    fn the_signature_is_an_hmac_of_time_and_body() {
        // Known answer, computed independently (Python's hmac module).
        assert_eq!(
            signature("whsec_test", 1_700_000_000, b"{}"),
            "t=1700000000,v1=35495024f4ef3f94e5a93e22221544c4b75e9a42300cd965ab81cb85cd994e91"
        );
    }
}
