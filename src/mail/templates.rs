//! The messages the server sends. Each has a plain-text part and an HTML part
//! with the same content: a short explanation, the action as a button-like
//! link, and the raw URL for copy and paste. The HTML loads nothing from
//! elsewhere (no images, no web fonts) and escapes every user-provided string.

use super::{one_line, Email};
use maud::{html, Markup, PreEscaped, DOCTYPE};

const PRODUCT: &str = "Telemetry Tracker";

const STYLE: &str = "\
body{margin:0;padding:0;background:#f4f5f7;color:#1f2328;\
font-family:-apple-system,'Segoe UI',Helvetica,Arial,sans-serif;font-size:15px;line-height:1.5}\
.wrap{max-width:560px;margin:0 auto;padding:24px 16px}\
.brand{font-size:17px;font-weight:bold;margin:0 0 16px}\
.card{background:#ffffff;border:1px solid #d8dee4;border-radius:6px;padding:24px}\
h1{font-size:20px;margin:0 0 16px}\
.button{display:inline-block;background:#1f6feb;color:#ffffff !important;\
text-decoration:none;font-weight:bold;padding:10px 18px;border-radius:6px}\
.url{word-break:break-all;font-family:monospace;font-size:13px;color:#57606a}\
.note{color:#57606a;font-size:13px}\
.footer{color:#57606a;font-size:12px;margin-top:16px}";

/// One message's content, rendered into both parts.
struct Content<'a> {
    heading: String,
    /// Paragraphs before the action. Plain strings: escaped in HTML.
    intro: Vec<String>,
    /// A numbered list after the intro (may be empty).
    steps: Vec<String>,
    action_label: &'a str,
    link: &'a str,
    /// Paragraphs after the action (validity, safety notes).
    notes: Vec<String>,
}

impl Content<'_> {
    fn text(&self) -> String {
        let mut out = String::new();
        out.push_str(&self.heading);
        out.push_str("\n\n");
        for p in &self.intro {
            out.push_str(p);
            out.push_str("\n\n");
        }
        for (i, step) in self.steps.iter().enumerate() {
            out.push_str(&format!("{}. {step}\n", i + 1));
        }
        if !self.steps.is_empty() {
            out.push('\n');
        }
        out.push_str(self.action_label);
        out.push_str(":\n");
        out.push_str(self.link);
        out.push_str("\n\n");
        for p in &self.notes {
            out.push_str(p);
            out.push_str("\n\n");
        }
        out.push_str("-- \n");
        out.push_str(PRODUCT);
        out.push('\n');
        out
    }

    fn html(&self) -> String {
        let page: Markup = html! {
            (DOCTYPE)
            html lang="en" {
                head {
                    meta charset="utf-8";
                    meta name="viewport" content="width=device-width, initial-scale=1";
                    title { (self.heading) }
                    style { (PreEscaped(STYLE)) }
                }
                body {
                    div class="wrap" {
                        p class="brand" { (PRODUCT) }
                        div class="card" {
                            h1 { (self.heading) }
                            @for p in &self.intro {
                                p { (p) }
                            }
                            @if !self.steps.is_empty() {
                                ol {
                                    @for step in &self.steps {
                                        li { (step) }
                                    }
                                }
                            }
                            p {
                                a class="button" href=(self.link) { (self.action_label) }
                            }
                            p class="note" {
                                "If the button does not work, copy this address into your browser:"
                                br;
                                span class="url" { (self.link) }
                            }
                            @for p in &self.notes {
                                p class="note" { (p) }
                            }
                        }
                        p class="footer" { "Sent by " (PRODUCT) "." }
                    }
                }
            }
        };
        page.into_string()
    }

    fn into_email(self, to: &str, subject: String) -> Email {
        Email {
            to: to.to_string(),
            subject: one_line(&subject),
            text: self.text(),
            html: self.html(),
        }
    }
}

/// An invitation to join an organization. The link is valid for 7 days and works once.
pub fn invite(to: &str, org_name: &str, inviter_email: &str, role: &str, link: &str) -> Email {
    let org = one_line(org_name);
    let inviter = one_line(inviter_email);
    let role = one_line(role);
    let content = Content {
        heading: format!("Join {org} on {PRODUCT}"),
        intro: vec![
            format!("{inviter} invited you to join the organization {org} on {PRODUCT}, with the role {role}."),
            "Accept the invitation to see its projects and errors.".to_string(),
        ],
        steps: vec![],
        action_label: "Accept the invitation",
        link,
        notes: vec![
            "This link is valid for 7 days and can be used only once.".to_string(),
            "If you did not expect this invitation, you can ignore this mail.".to_string(),
        ],
    };
    content.into_email(to, format!("You're invited to {org} on {PRODUCT}"))
}

/// A password reset link, valid for 1 hour and usable once.
pub fn password_reset(to: &str, link: &str) -> Email {
    let content = Content {
        heading: "Reset your password".to_string(),
        intro: vec![format!(
            "Someone asked to reset the password of the {PRODUCT} account for {}.",
            one_line(to)
        )],
        steps: vec![],
        action_label: "Choose a new password",
        link,
        notes: vec![
            "This link is valid for 1 hour and can be used only once.".to_string(),
            "If you did not ask for this, ignore this mail; your password is unchanged."
                .to_string(),
        ],
    };
    content.into_email(to, format!("Reset your {PRODUCT} password"))
}

/// A welcome message for a new account, with first steps.
pub fn welcome(to: &str, dashboard_url: &str) -> Email {
    let content = Content {
        heading: format!("Welcome to {PRODUCT}"),
        intro: vec![
            format!("Your {PRODUCT} account for {} is ready.", one_line(to)),
            "Where to start:".to_string(),
        ],
        steps: vec![
            "Create a project for your application.".to_string(),
            "Create an API key for that project.".to_string(),
            "Point an SDK at this server with that key: errors and events then show up on the dashboard."
                .to_string(),
        ],
        action_label: "Open the dashboard",
        link: dashboard_url,
        notes: vec![],
    };
    content.into_email(to, format!("Welcome to {PRODUCT}"))
}

/// Confirms a sign-up: the account is created when the link is followed (24 hours, once).
pub fn signup_confirm(to: &str, link: &str) -> Email {
    let content = Content {
        heading: format!("Confirm your {PRODUCT} account"),
        intro: vec![format!(
            "Someone signed up for {PRODUCT} with the address {}. Follow the link to create the account.",
            one_line(to)
        )],
        steps: vec![],
        action_label: "Create my account",
        link,
        notes: vec![
            "This link is valid for 24 hours and can be used only once.".to_string(),
            "If you did not sign up, ignore this mail; no account is created.".to_string(),
        ],
    };
    content.into_email(to, format!("Confirm your {PRODUCT} account"))
}

/// Sent instead of a confirmation when the address already has an account, so the
/// sign-up answer never tells whether an address is registered.
pub fn signup_existing(to: &str, reset_link: &str) -> Email {
    let content = Content {
        heading: format!("You already have a {PRODUCT} account"),
        intro: vec![format!(
            "Someone tried to sign up for {PRODUCT} with {}, which already has an account. Log in instead, or reset the password if you have lost it.",
            one_line(to)
        )],
        steps: vec![],
        action_label: "Reset my password",
        link: reset_link,
        notes: vec!["If this was not you, ignore this mail; nothing changed.".to_string()],
    };
    content.into_email(to, format!("Your {PRODUCT} account"))
}

/// To an organization's owners: the subscription's payment failed.
pub fn payment_failed(to: &str, org_name: &str, link: &str) -> Email {
    let content = Content {
        heading: format!("A payment for {} failed", one_line(org_name)),
        intro: vec![format!(
            "Stripe could not collect the latest payment of {}'s subscription. Stripe tries again over the next days; if every attempt fails, the organization returns to the FREE plan and its limits.",
            one_line(org_name)
        )],
        steps: vec![],
        action_label: "Update the payment method",
        link,
        notes: vec![
            "You get this mail because you are an owner of the organization.".to_string(),
        ],
    };
    content.into_email(to, format!("[{PRODUCT}] Payment failed for {org_name}"))
}

/// An alert (a new or regressed error group, a spike, a quota) the user asked to
/// get by mail.
pub fn alert(to: &str, title: &str, context: &str, action_label: &str, link: &str) -> Email {
    let title = one_line(title);
    let content = Content {
        heading: title.clone(),
        intro: vec![one_line(context)],
        steps: vec![],
        action_label,
        link,
        notes: vec![
            "You get this mail because of your notification settings; change them under Settings → Notifications."
                .to_string(),
        ],
    };
    content.into_email(to, format!("[{PRODUCT}] {title}"))
}
