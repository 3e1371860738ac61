//! The user's own settings: profile, password, dashboard sessions, appearance and
//! notification preferences.

use super::{outcome, shell, trimmed, CsrfForm, NameForm};
use crate::domain::notify::{Channels, Kind, Prefs};
use crate::service::{auth, preferences};
use crate::state::SharedState;
use crate::store::UserSessionRow;
use crate::web::components::{csrf_field, time};
use crate::web::context::{PageCtx, Session};
use crate::web::error::PageResult;
use crate::web::html;
use maud::{html, Markup};
use poem::web::{Data, Form, Path};
use poem::{handler, Request};
use serde::Deserialize;
use std::collections::HashMap;

fn profile_view(ctx: &PageCtx, sessions: &[UserSessionRow]) -> Markup {
    shell(
        ctx,
        "profile",
        "Profile and sessions",
        html! {
            section class="card" {
                h3 class="card-title" { "Profile" }
                form class="stack" method="post" action="/settings/profile" {
                    (csrf_field(&ctx.csrf))
                    label { span class="label-text" { "Email" } input type="email" value=(ctx.who().email) disabled; }
                    label { span class="label-text" { "Name" } input type="text" name="name" value=(ctx.name.as_deref().unwrap_or("")) maxlength="120" autocomplete="name"; }
                    button class="btn btn-primary" type="submit" { "Save" }
                }
            }
            section class="card" {
                h3 class="card-title" { "Password" }
                form class="stack" method="post" action="/settings/password" {
                    (csrf_field(&ctx.csrf))
                    label { span class="label-text" { "Current password" } input type="password" name="current" autocomplete="current-password" required; }
                    label { span class="label-text" { "New password" } input type="password" name="new" autocomplete="new-password" minlength="10" required; span class="hint" { "At least 10 characters." } }
                    label class="checkbox" { input type="checkbox" name="keep_others" value="on"; span { "Keep my other sessions and personal tokens" } }
                    p class="hint" { "Unless you tick this, every other session is logged out and every personal token revoked, so nothing taken before the change keeps working." }
                    button class="btn btn-primary" type="submit" { "Change password" }
                }
            }
            section class="card" {
                div class="card-head" {
                    h3 class="card-title" { "Sessions" }
                    @if sessions.len() > 1 {
                        form class="inline" method="post" action="/settings/sessions/revoke-others" {
                            (csrf_field(&ctx.csrf))
                            button class="btn btn-small" type="submit" { "Log out everywhere else" }
                        }
                    }
                }
                div class="table-wrap" {
                    table class="table table-stack" {
                        thead { tr { th scope="col" { "Device" } th scope="col" { "Address" } th scope="col" { "Signed in" } th scope="col" { "Last active" } th scope="col" { span class="sr-only" { "Actions" } } } }
                        tbody {
                            @for s in sessions {
                                @let current = ctx.who().session_id.as_deref() == Some(s.id.as_str());
                                tr {
                                    td { @if current { span class="badge badge-good" { "This session" } " " } span class="truncate" { (s.user_agent.as_deref().unwrap_or("unknown")) } }
                                    td class="mono" { (s.ip.as_deref().unwrap_or("–")) }
                                    td { (time(s.created_at)) }
                                    td { (time(s.last_seen_at)) }
                                    td {
                                        @if !current {
                                            form class="inline" method="post" action=(format!("/settings/sessions/{}/revoke", s.id)) {
                                                (csrf_field(&ctx.csrf))
                                                button class="btn btn-small" type="submit" { "Log out" }
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        },
    )
}

#[handler]
pub(super) async fn profile(req: &Request, state: Data<&SharedState>) -> PageResult {
    let ctx = PageCtx::load(&state, req).await?;
    let sessions = auth::sessions(&state, ctx.who()).await?;
    Ok(html(profile_view(&ctx, &sessions)))
}

#[handler]
pub(super) async fn update_profile(
    req: &Request,
    state: Data<&SharedState>,
    Form(f): Form<NameForm>,
) -> PageResult {
    let s = Session::for_form(&state, req, &f.csrf).await?;
    let r = auth::update_name(&state, &s.who, Some(&f.name)).await;
    outcome(
        &state,
        req,
        r,
        |_| "Profile saved.".into(),
        "/settings/profile",
    )
}

#[derive(Deserialize)]
struct PasswordForm {
    #[serde(default)]
    csrf: String,
    #[serde(default, deserialize_with = "trimmed")]
    current: String,
    #[serde(default, deserialize_with = "trimmed")]
    new: String,
    #[serde(default, deserialize_with = "trimmed")]
    keep_others: String,
}

#[handler]
pub(super) async fn change_password(
    req: &Request,
    state: Data<&SharedState>,
    Form(f): Form<PasswordForm>,
) -> PageResult {
    let s = Session::for_form(&state, req, &f.csrf).await?;
    let sign_out_others = f.keep_others != "on";
    let r = auth::change_password(&state, &s.who, &f.current, &f.new, sign_out_others).await;
    outcome(
        &state,
        req,
        r,
        move |_| {
            if sign_out_others {
                "Password changed; your other sessions are logged out and your personal tokens revoked.".into()
            } else {
                "Password changed.".into()
            }
        },
        "/settings/profile",
    )
}

#[handler]
pub(super) async fn revoke_session(
    req: &Request,
    state: Data<&SharedState>,
    Path(id): Path<String>,
    Form(f): Form<CsrfForm>,
) -> PageResult {
    let s = Session::for_form(&state, req, &f.csrf).await?;
    let r = auth::revoke_session(&state, &s.who, &id).await;
    outcome(
        &state,
        req,
        r,
        |_| "That session is logged out.".into(),
        "/settings/profile",
    )
}

#[handler]
pub(super) async fn revoke_other_sessions(
    req: &Request,
    state: Data<&SharedState>,
    Form(f): Form<CsrfForm>,
) -> PageResult {
    let s = Session::for_form(&state, req, &f.csrf).await?;
    let r = auth::revoke_other_sessions(&state, &s.who).await;
    outcome(
        &state,
        req,
        r,
        |n| format!("{n} other sessions logged out."),
        "/settings/profile",
    )
}

// ---- appearance ----

#[handler]
pub(super) async fn appearance(req: &Request, state: Data<&SharedState>) -> PageResult {
    let ctx = PageCtx::load(&state, req).await?;
    let choices = [
        (
            "system",
            "System",
            "Follows your device's light or dark setting.",
        ),
        ("light", "Light", "Dark text on a light background."),
        ("dark", "Dark", "Light text on a dark background."),
    ];
    Ok(html(shell(
        &ctx,
        "appearance",
        "Appearance",
        html! {
            form class="stack" method="post" action="/settings/appearance" {
                (csrf_field(&ctx.csrf))
                fieldset {
                    legend { "Theme" }
                    div class="radio-cards" {
                        @for (value, title, hint) in choices {
                            label class="radio-card" {
                                input type="radio" name="theme" value=(value) checked[ctx.theme == value] data-autosubmit;
                                span class="radio-title" { (title) }
                                span class="hint" { (hint) }
                            }
                        }
                    }
                }
                button class="btn btn-primary" type="submit" { "Save" }
            }
            p class="muted small" { "Kept with your account, on every device you log in from." }
        },
    )))
}

#[derive(Deserialize)]
struct ThemeForm {
    #[serde(default)]
    csrf: String,
    #[serde(default, deserialize_with = "trimmed")]
    theme: String,
}

#[handler]
pub(super) async fn set_appearance(
    req: &Request,
    state: Data<&SharedState>,
    Form(f): Form<ThemeForm>,
) -> PageResult {
    let s = Session::for_form(&state, req, &f.csrf).await?;
    let r = preferences::set_theme(&state, &s.who, &f.theme).await;
    outcome(
        &state,
        req,
        r,
        |_| "Theme saved.".into(),
        "/settings/appearance",
    )
}

// ---- notifications ----

#[handler]
pub(super) async fn notification_prefs(req: &Request, state: Data<&SharedState>) -> PageResult {
    let ctx = PageCtx::load(&state, req).await?;
    let prefs = preferences::get(&state, ctx.who()).await?.notifications;
    let mail = state.mailer.is_configured();
    Ok(html(shell(
        &ctx,
        "notifications",
        "Notifications",
        html! {
            p class="muted" { "About the projects of every organization you belong to." }
            form class="stack" method="post" action="/settings/notifications" {
                (csrf_field(&ctx.csrf))
                div class="table-wrap" {
                    table class="table table-stack prefs-table" {
                        thead { tr { th scope="col" { "When" } th scope="col" { "In the bell" } th scope="col" { "By mail" } } }
                        tbody {
                            @for kind in Kind::ALL {
                                @let c = prefs.channels(kind);
                                tr {
                                    th scope="row" { (kind.label()) }
                                    td { label class="checkbox" { input type="checkbox" name=(format!("{}_bell", kind.as_str())) value="on" checked[c.bell]; span class="sr-only" { (kind.label()) " in the bell" } span class="cell-label" aria-hidden="true" { "In the bell" } } }
                                    td { label class="checkbox" { input type="checkbox" name=(format!("{}_email", kind.as_str())) value="on" checked[c.email]; span class="sr-only" { (kind.label()) " by mail" } span class="cell-label" aria-hidden="true" { "By mail" } } }
                                }
                            }
                        }
                    }
                }
                @if !mail {
                    p class="hint" { "This server has no mail server configured (SMTP_URL), so mail is only written to its log." }
                }
                button class="btn btn-primary" type="submit" { "Save" }
            }
        },
    )))
}

#[derive(Deserialize)]
struct NotificationsForm {
    #[serde(default)]
    csrf: String,
    /// The ticked boxes, `{kind}_{channel}` → `on`. The names come from `Kind`, so a
    /// new kind needs no new field here.
    #[serde(flatten)]
    ticked: HashMap<String, String>,
}

#[handler]
pub(super) async fn set_notification_prefs(
    req: &Request,
    state: Data<&SharedState>,
    Form(f): Form<NotificationsForm>,
) -> PageResult {
    let s = Session::for_form(&state, req, &f.csrf).await?;
    let mut prefs = Prefs::default();
    for kind in Kind::ALL {
        let on = |channel: &str| {
            f.ticked
                .get(&format!("{}_{channel}", kind.as_str()))
                .is_some_and(|v| v.trim() == "on")
        };
        prefs.set(
            kind,
            Channels {
                bell: on("bell"),
                email: on("email"),
            },
        );
    }
    let r = preferences::set_notifications(&state, &s.who, prefs).await;
    outcome(
        &state,
        req,
        r,
        |_| "Notification settings saved.".into(),
        "/settings/notifications",
    )
}
