//! Outgoing mail: invitations, password resets and welcome messages.
//!
//! With `SMTP_URL` set, messages go out over SMTP as `multipart/alternative`
//! (plain text + HTML). Without it, the server still works: each message is
//! written to the log (so an operator can pass the link on by hand) and dropped.

pub mod outbox;
pub mod templates;

pub use outbox::Outbox;

use lettre::message::{header::ContentType, Mailbox, MultiPart, SinglePart};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How long one delivery (connect, greeting, envelope, data, quit) may take.
pub const SEND_TIMEOUT: Duration = Duration::from_secs(10);

/// A message ready to send: both a plain-text and an HTML part.
#[derive(Debug, Clone)]
pub struct Email {
    pub to: String,
    pub subject: String,
    pub text: String,
    pub html: String,
}

#[derive(Debug, thiserror::Error)]
pub enum MailError {
    #[error("invalid SMTP_URL: {0}")]
    Config(String),
    #[error("invalid address {0:?}")]
    Address(String),
    #[error("sending mail failed: {0}")]
    Send(String),
}

// One mailer lives in the shared state; its size does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Clone)]
pub enum Mailer {
    Smtp {
        transport: AsyncSmtpTransport<Tokio1Executor>,
        from: Mailbox,
    },
    /// No SMTP configured: messages are logged (tracing info, with the link text) and dropped.
    Log,
    /// Kept in memory (unit tests).
    Memory(Arc<Mutex<Vec<Email>>>),
}

impl Mailer {
    /// `smtp_url` `None` (or blank) → [`Mailer::Log`]. Otherwise an `smtp://` or
    /// `smtps://` URL: `smtp://host:25`, `smtps://user:pass@host:465`,
    /// `smtp://host:587?tls=required`, `smtp://host:587?tls=opportunistic`.
    /// `from` is a mailbox such as `Telemetry Tracker <telemetry@localhost>`; it
    /// is checked even when no SMTP server is configured.
    pub fn from_config(smtp_url: Option<&str>, from: &str) -> Result<Mailer, MailError> {
        let from = parse_mailbox(from)?;
        let Some(url) = smtp_url.map(str::trim).filter(|u| !u.is_empty()) else {
            return Ok(Mailer::Log);
        };
        // The URL may carry a password: never echo it back in an error.
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
            .map_err(|e| MailError::Config(e.to_string()))?
            .timeout(Some(SEND_TIMEOUT))
            .build();
        Ok(Mailer::Smtp { transport, from })
    }

    /// A mailer that keeps every message in memory, and the list it writes to.
    pub fn memory() -> (Mailer, Arc<Mutex<Vec<Email>>>) {
        let store = Arc::new(Mutex::new(Vec::new()));
        (Mailer::Memory(Arc::clone(&store)), store)
    }

    /// True only when messages really leave the process (SMTP).
    pub fn is_configured(&self) -> bool {
        matches!(self, Mailer::Smtp { .. })
    }

    /// Sends one message and answers what the SMTP server said (`250 …`); without
    /// SMTP, what became of it. Over SMTP the whole delivery is bounded by
    /// [`SEND_TIMEOUT`].
    pub async fn send_with_answer(&self, email: Email) -> Result<String, MailError> {
        match self {
            Mailer::Smtp { transport, from } => {
                let message = build_message(from, &email)?;
                match tokio::time::timeout(SEND_TIMEOUT, transport.send(message)).await {
                    Ok(Ok(response)) => {
                        tracing::debug!(to = %email.to, subject = %email.subject, "mail sent");
                        Ok(format!(
                            "{} {}",
                            response.code(),
                            response.message().collect::<Vec<_>>().join(" ")
                        ))
                    }
                    Ok(Err(e)) => Err(MailError::Send(e.to_string())),
                    Err(_) => Err(MailError::Send(format!(
                        "timed out after {} s",
                        SEND_TIMEOUT.as_secs()
                    ))),
                }
            }
            Mailer::Log => {
                // Validate as SMTP would, so misuse shows up without a mail server too.
                parse_mailbox(&email.to)?;
                tracing::info!(
                    to = %email.to,
                    subject = %email.subject,
                    "SMTP is not configured; mail not sent. Its text follows:\n{}",
                    email.text
                );
                Ok("written to the log (no SMTP server)".into())
            }
            Mailer::Memory(store) => {
                parse_mailbox(&email.to)?;
                store
                    .lock()
                    .unwrap_or_else(|poisoned| poisoned.into_inner())
                    .push(email);
                Ok("kept in memory".into())
            }
        }
    }

    /// Sends one message (see [`Mailer::send_with_answer`]).
    pub async fn send(&self, email: Email) -> Result<(), MailError> {
        self.send_with_answer(email).await.map(drop)
    }
}

impl std::fmt::Debug for Mailer {
    // The transport holds the server's credentials: show only what is safe.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Mailer::Smtp { from, .. } => f
                .debug_struct("Smtp")
                .field("from", &from.to_string())
                .finish_non_exhaustive(),
            Mailer::Log => f.write_str("Log"),
            Mailer::Memory(store) => {
                let n = store.lock().map(|v| v.len()).unwrap_or(0);
                f.debug_struct("Memory").field("messages", &n).finish()
            }
        }
    }
}

fn parse_mailbox(s: &str) -> Result<Mailbox, MailError> {
    let trimmed = s.trim();
    if trimmed.is_empty() || trimmed.chars().any(char::is_control) {
        return Err(MailError::Address(s.to_string()));
    }
    trimmed
        .parse::<Mailbox>()
        .map_err(|_| MailError::Address(s.to_string()))
}

/// Replaces control characters (CR, LF, tabs, …) with spaces and collapses runs
/// of whitespace, so a value can go into a header or a single line of text.
pub(crate) fn one_line(s: &str) -> String {
    s.split(|c: char| c.is_control() || c.is_whitespace())
        .filter(|part| !part.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

fn build_message(from: &Mailbox, email: &Email) -> Result<Message, MailError> {
    let to = parse_mailbox(&email.to)?;
    Message::builder()
        .from(from.clone())
        .to(to)
        .subject(one_line(&email.subject))
        .multipart(
            MultiPart::alternative()
                .singlepart(
                    SinglePart::builder()
                        .header(ContentType::TEXT_PLAIN)
                        .body(email.text.clone()),
                )
                .singlepart(
                    SinglePart::builder()
                        .header(ContentType::TEXT_HTML)
                        .body(email.html.clone()),
                ),
        )
        .map_err(|e| MailError::Send(format!("could not build the message: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    const FROM: &str = "Telemetry Tracker <telemetry@localhost>";

    fn sample(to: &str) -> Email {
        Email {
            to: to.into(),
            subject: "Hello".into(),
            text: "text body".into(),
            html: "<p>html body</p>".into(),
        }
    }

    #[tokio::test]
    async fn memory_mailer_records_messages() {
        let (mailer, sent) = Mailer::memory();
        assert!(!mailer.is_configured());
        mailer.send(sample("a@example.com")).await.unwrap();
        mailer
            .send(templates::password_reset(
                "b@example.com",
                "https://t.example/reset/xyz",
            ))
            .await
            .unwrap();
        let sent = sent.lock().unwrap();
        assert_eq!(sent.len(), 2);
        assert_eq!(sent[0].to, "a@example.com");
        assert_eq!(sent[1].to, "b@example.com");
        assert!(sent[1].text.contains("https://t.example/reset/xyz"));
    }

    #[tokio::test]
    async fn memory_and_log_reject_bad_recipients() {
        let (mailer, sent) = Mailer::memory();
        let err = mailer.send(sample("not an address")).await.unwrap_err();
        assert!(matches!(err, MailError::Address(_)), "{err:?}");
        let err = mailer
            .send(sample("a@example.com\r\nBcc: evil@example.com"))
            .await
            .unwrap_err();
        assert!(matches!(err, MailError::Address(_)), "{err:?}");
        assert!(sent.lock().unwrap().is_empty());
        assert!(Mailer::Log.send(sample("nope")).await.is_err());
        Mailer::Log.send(sample("ok@example.com")).await.unwrap();
    }

    #[test]
    fn from_config_without_url_logs() {
        let m = Mailer::from_config(None, FROM).unwrap();
        assert!(matches!(m, Mailer::Log));
        assert!(!m.is_configured());
        let m = Mailer::from_config(Some("  "), FROM).unwrap();
        assert!(matches!(m, Mailer::Log));
    }

    #[tokio::test]
    async fn from_config_accepts_smtp_urls() {
        for url in [
            "smtp://localhost:25",
            "smtp://127.0.0.1:2525",
            "smtps://user:pass@mail.example.com:465",
            "smtp://mail.example.com:587?tls=required",
            "smtp://mail.example.com?tls=opportunistic",
        ] {
            let m = Mailer::from_config(Some(url), FROM).unwrap_or_else(|e| panic!("{url}: {e}"));
            assert!(m.is_configured(), "{url}");
        }
        let bare = Mailer::from_config(Some("smtp://localhost"), "telemetry@localhost").unwrap();
        assert!(bare.is_configured());
    }

    #[test]
    fn from_config_rejects_garbage_urls() {
        for url in [
            "not a url",
            "http://mail.example.com",
            "smtp://",
            "smtp://host:99999",
            "smtp://host:25?tls=sometimes",
            "mail.example.com:25",
        ] {
            match Mailer::from_config(Some(url), FROM) {
                Err(MailError::Config(_)) => {}
                other => panic!("{url}: expected a config error, got {other:?}"),
            }
        }
    }

    #[test]
    fn from_config_rejects_bad_from_addresses() {
        for from in [
            "",
            "nobody",
            "Telemetry Tracker <>",
            "Telemetry Tracker <telemetry@localhost",
            "a@b.example\r\nBcc: x@y.example",
        ] {
            for url in [None, Some("smtp://localhost:25")] {
                match Mailer::from_config(url, from) {
                    Err(MailError::Address(_)) => {}
                    other => panic!("{from:?}: expected an address error, got {other:?}"),
                }
            }
        }
    }

    #[test]
    fn debug_never_shows_credentials() {
        let m = Mailer::from_config(Some("smtps://alice:s3cr3t-pw@mail.example.com:465"), FROM)
            .unwrap();
        let shown = format!("{m:?}");
        assert!(!shown.contains("s3cr3t-pw"), "{shown}");
        assert!(!shown.contains("alice"), "{shown}");
        assert!(shown.contains("telemetry@localhost"), "{shown}");
        let err = Mailer::from_config(Some("smtps://alice:s3cr3t-pw@"), FROM).unwrap_err();
        assert!(!err.to_string().contains("s3cr3t-pw"), "{err}");
    }

    #[test]
    fn built_message_is_multipart_alternative_without_header_injection() {
        let from: Mailbox = FROM.parse().unwrap();
        let mut email = templates::invite(
            "new@example.com",
            "Acme\r\nBcc: evil@example.com",
            "boss@example.com",
            "member",
            "https://t.example/invite/abc",
        );
        assert!(!email.subject.contains('\n') && !email.subject.contains('\r'));
        // Even a hand-made subject with line breaks stays one header.
        email.subject = "Hi\r\nBcc: evil@example.com".into();
        let raw = String::from_utf8(build_message(&from, &email).unwrap().formatted()).unwrap();
        assert!(raw.contains("multipart/alternative"), "{raw}");
        assert!(raw.contains("text/plain"), "{raw}");
        assert!(raw.contains("text/html"), "{raw}");
        assert!(!raw.contains("\r\nBcc:"), "{raw}");
        assert!(raw.contains("To: new@example.com"), "{raw}");
    }

    #[test]
    fn one_line_strips_line_breaks() {
        assert_eq!(one_line(" a\r\nb\tc\n\n d "), "a b c d");
        assert_eq!(one_line("plain"), "plain");
    }

    #[test]
    fn templates_carry_the_link_in_both_parts() {
        let link = "https://tracker.example.com/invite/tok_123?x=1&y=2";
        let emails = [
            templates::invite("a@example.com", "Acme", "boss@example.com", "admin", link),
            templates::password_reset("a@example.com", link),
            templates::welcome("a@example.com", link),
        ];
        for e in &emails {
            assert_eq!(e.to, "a@example.com");
            assert!(e.subject.contains("Telemetry Tracker"), "{}", e.subject);
            assert!(e.text.contains(link), "{}", e.text);
            // In HTML `&` is written as `&amp;`, in the href and in the printed URL.
            let escaped = link.replace('&', "&amp;");
            assert!(
                e.html.contains(&format!("href=\"{escaped}\"")),
                "{}",
                e.html
            );
            assert!(e.html.matches(&escaped).count() >= 2, "{}", e.html);
            assert!(e.html.contains("Telemetry Tracker"));
            assert!(!e.html.contains("<img"), "no images");
        }
    }

    #[test]
    fn invite_mentions_role_expiry_and_org() {
        let e = templates::invite(
            "a@example.com",
            "Acme",
            "boss@example.com",
            "admin",
            "https://t.example/i/1",
        );
        assert_eq!(e.subject, "You're invited to Acme on Telemetry Tracker");
        for part in [&e.text, &e.html] {
            assert!(part.contains("admin"));
            assert!(part.contains("boss@example.com"));
            assert!(part.contains("7 days"));
            assert!(part.contains("once"));
        }
    }

    #[test]
    fn password_reset_mentions_expiry_and_safety() {
        let e = templates::password_reset("a@example.com", "https://t.example/r/1");
        for part in [&e.text, &e.html] {
            assert!(part.contains("1 hour"));
            assert!(part.contains("once"));
            assert!(part.contains("password is unchanged"));
        }
    }

    #[test]
    fn welcome_says_where_to_start() {
        let e = templates::welcome("a@example.com", "https://t.example/");
        for part in [&e.text, &e.html] {
            assert!(part.contains("project"));
            assert!(part.contains("API key"));
            assert!(part.contains("SDK"));
        }
    }

    #[test]
    fn templates_escape_user_strings() {
        let e = templates::invite(
            "a@example.com",
            "<script>alert(1)</script>",
            "x\"><b>@example.com",
            "<i>owner</i>",
            "https://t.example/i/1",
        );
        assert!(!e.html.contains("<script>"), "{}", e.html);
        assert!(
            e.html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
            "{}",
            e.html
        );
        assert!(!e.html.contains("<b>"), "{}", e.html);
        assert!(!e.html.contains("<i>"), "{}", e.html);
        // The plain-text part is not HTML: it shows the name as typed.
        assert!(e.text.contains("<script>alert(1)</script>"));
    }
}
