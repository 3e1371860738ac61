//! Pages without a session: log in, sign up (and its mailed confirmation), forgotten
//! and reset passwords, accepting an invite; and logging out.

use crate::error::AppError;
use crate::service::auth::{self, Registered, Registration};
use crate::service::invites;
use crate::state::SharedState;
use crate::web::components::csrf_field;
use crate::web::context::{query_param, Session};
use crate::web::error::{is_local_path, urlencode, PageResult, WebError};
use crate::web::security::{self, anonymous_form_ok, anonymous_form_token};
use crate::web::shell::bare;
use crate::web::{html, see_other};
use maud::{html, Markup};
use poem::http::StatusCode;
use poem::web::{Data, Form};
use poem::{handler, Request, Response};
use serde::Deserialize;

const SESSION_SECS: i64 = 30 * 86_400;
const FORM_EXPIRED: &str = "This form has expired. Please try again.";

fn with_status(status: StatusCode, markup: Markup) -> Response {
    let mut res = html(markup);
    res.set_status(status);
    res
}

fn error_notice(error: Option<&str>) -> Markup {
    html! {
        @if let Some(e) = error {
            div class="notice notice-error" role="alert" { (e) }
        }
    }
}

/// Where to go after signing in: a local `next`, else the overview.
fn destination(next: Option<&str>) -> String {
    next.filter(|n| is_local_path(n)).unwrap_or("/").to_string()
}

fn signed_in(state: &SharedState, req: &Request, token: &str, to: &str) -> Response {
    req.cookie()
        .add(security::session_cookie(state, token, SESSION_SECS));
    see_other(to)
}

// ---- log in ----

struct LoginView<'a> {
    csrf: String,
    next: Option<String>,
    email: &'a str,
    error: Option<&'a str>,
    notice: Option<security::Flash>,
    first_run: bool,
    signup_open: bool,
}

fn login_view(v: &LoginView<'_>) -> Markup {
    bare(
        "Log in",
        html! {
            h1 { "Log in" }
            @if v.first_run {
                div class="notice notice-info" role="status" {
                    "No account exists yet. " a href="/signup" { "Create the first one" } " — it becomes the owner of this server."
                }
            }
            @if let Some(n) = &v.notice {
                div class=(if n.error { "notice notice-error" } else { "notice notice-success" }) role="status" { (n.text) }
            }
            (error_notice(v.error))
            form class="stack" method="post" action="/login" {
                (csrf_field(&v.csrf))
                @if let Some(next) = &v.next { input type="hidden" name="next" value=(next); }
                label { span class="label-text" { "Email" }
                    input type="email" name="email" value=(v.email) autocomplete="username" required autofocus; }
                label { span class="label-text" { "Password" }
                    input type="password" name="password" autocomplete="current-password" required; }
                button class="btn btn-primary" type="submit" { "Log in" }
            }
            p class="auth-foot" {
                a href="/forgot-password" { "Forgot your password?" }
                @if v.signup_open { " · " a href="/signup" { "Create an account" } }
            }
        },
    )
}

#[handler]
pub async fn login_page(req: &Request, state: Data<&SharedState>) -> PageResult {
    if Session::require(&state, req).await.is_ok() {
        return Ok(see_other(&destination(query_param(req, "next").as_deref())));
    }
    let first_run = auth::first_run(&state).await?;
    let signup_open = auth::registration_open(&state).await?;
    Ok(html(login_view(&LoginView {
        csrf: anonymous_form_token(&state, req),
        next: query_param(req, "next"),
        email: "",
        error: None,
        notice: security::take_flash(&state, req),
        first_run,
        signup_open,
    })))
}

#[derive(Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
    next: Option<String>,
}

#[handler]
pub async fn login(
    req: &Request,
    state: Data<&SharedState>,
    Form(f): Form<LoginForm>,
) -> PageResult {
    let again = |error: &str, status: StatusCode| {
        with_status(
            status,
            login_view(&LoginView {
                csrf: anonymous_form_token(&state, req),
                next: f.next.clone(),
                email: &f.email,
                error: Some(error),
                notice: None,
                first_run: false,
                signup_open: false,
            }),
        )
    };
    if !anonymous_form_ok(req, &f.csrf) {
        return Ok(again(FORM_EXPIRED, StatusCode::FORBIDDEN));
    }
    let meta = crate::http::request::meta(&state, req);
    match auth::login(&state, &f.email, &f.password, &meta).await {
        Ok(s) => Ok(signed_in(
            &state,
            req,
            &s.token,
            &destination(f.next.as_deref()),
        )),
        Err(AppError::Unauthorized(m)) => Ok(again(&m, StatusCode::UNAUTHORIZED)),
        Err(AppError::RateLimited {
            message,
            retry_after_secs,
            ..
        }) => {
            let mut res = again(&message, StatusCode::TOO_MANY_REQUESTS);
            res.headers_mut()
                .insert(poem::http::header::RETRY_AFTER, retry_after_secs.into());
            Ok(res)
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(Deserialize)]
pub struct CsrfOnly {
    #[serde(default)]
    csrf: String,
}

#[handler]
pub async fn logout(
    req: &Request,
    state: Data<&SharedState>,
    Form(f): Form<CsrfOnly>,
) -> PageResult {
    let session = Session::for_form(&state, req, &f.csrf).await?;
    auth::logout(&state, &session.who).await?;
    req.cookie().add(security::session_cookie(&state, "", 0));
    security::flash(&state, req, "You are logged out.");
    Ok(see_other("/login"))
}

// ---- sign up ----

struct SignupView<'a> {
    csrf: String,
    error: Option<&'a str>,
    name: &'a str,
    email: &'a str,
    org: &'a str,
    open: bool,
    first_run: bool,
}

fn signup_view(v: &SignupView<'_>) -> Markup {
    bare(
        "Create an account",
        html! {
            h1 { "Create an account" }
            @if !v.open {
                div class="notice notice-info" role="status" {
                    "Sign-up is closed on this server. Ask an organization owner to invite you; the invite mail has a link to create your account."
                }
                p class="auth-foot" { a href="/login" { "Log in" } }
            } @else {
                @if v.first_run {
                    p class="muted" { "You are the first user: your account becomes the owner of this server and of a first organization." }
                }
                (error_notice(v.error))
                form class="stack" method="post" action="/signup" {
                    (csrf_field(&v.csrf))
                    label { span class="label-text" { "Your name" }
                        input type="text" name="name" value=(v.name) autocomplete="name" maxlength="120"; }
                    label { span class="label-text" { "Email" }
                        input type="email" name="email" value=(v.email) autocomplete="email" required; }
                    label { span class="label-text" { "Password" }
                        input type="password" name="password" autocomplete="new-password" minlength="10" required aria-describedby="pw-hint";
                        span class="hint" id="pw-hint" { "At least 10 characters." } }
                    label { span class="label-text" { "Organization name (optional)" }
                        input type="text" name="org" value=(v.org) maxlength="120"; }
                    button class="btn btn-primary" type="submit" { "Create account" }
                }
                p class="auth-foot" { "Already have an account? " a href="/login" { "Log in" } }
            }
        },
    )
}

#[handler]
pub async fn signup_page(req: &Request, state: Data<&SharedState>) -> PageResult {
    let open = auth::registration_open(&state).await?;
    let first_run = auth::first_run(&state).await?;
    Ok(html(signup_view(&SignupView {
        csrf: anonymous_form_token(&state, req),
        error: None,
        name: "",
        email: "",
        org: "",
        open,
        first_run,
    })))
}

#[derive(Deserialize)]
pub struct SignupForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    org: String,
    /// Present when signing up from an invite.
    invite: Option<String>,
}

fn check_email(sent: &str) -> Markup {
    bare(
        "Check your inbox",
        html! {
            h1 { "Check your inbox" }
            p { "If " strong { (sent) } " can be used for a new account, a confirmation link is on its way. Follow it within 24 hours to finish creating the account." }
            p class="muted" { "No mail? Without a mail server configured, the server's log shows the link." }
            p class="auth-foot" { a href="/login" { "Back to log in" } }
        },
    )
}

#[handler]
pub async fn signup(
    req: &Request,
    state: Data<&SharedState>,
    Form(f): Form<SignupForm>,
) -> PageResult {
    let invite = f.invite.as_deref().filter(|t| !t.trim().is_empty());
    let again = |error: &str, status: StatusCode| -> PageResult {
        if let Some(token) = invite {
            return Ok(with_status(status, invite_signup_error(token, error)));
        }
        Ok(with_status(
            status,
            signup_view(&SignupView {
                csrf: anonymous_form_token(&state, req),
                error: Some(error),
                name: &f.name,
                email: &f.email,
                org: &f.org,
                open: true,
                first_run: false,
            }),
        ))
    };
    if !anonymous_form_ok(req, &f.csrf) {
        return again(FORM_EXPIRED, StatusCode::FORBIDDEN);
    }
    let meta = crate::http::request::meta(&state, req);
    let outcome = auth::register(
        &state,
        Registration {
            email: &f.email,
            password: &f.password,
            name: Some(f.name.as_str()),
            org_name: Some(f.org.as_str()),
            invite_token: invite,
        },
        &meta,
    )
    .await;
    match outcome {
        Ok(Registered::SignedIn(s)) => {
            let to = if invite.is_some() { "/" } else { "/onboarding" };
            Ok(signed_in(&state, req, &s.token, to))
        }
        Ok(Registered::Pending) => Ok(html(check_email(f.email.trim()))),
        Err(AppError::Invalid { message, .. }) | Err(AppError::Conflict(message)) => {
            again(&message, StatusCode::BAD_REQUEST)
        }
        Err(AppError::Forbidden { message, .. }) | Err(AppError::NotFound(message)) => {
            again(&message, StatusCode::FORBIDDEN)
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(Deserialize)]
pub struct TokenForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    token: String,
}

#[handler]
pub async fn confirm_page(req: &Request, state: Data<&SharedState>) -> PageResult {
    let token = query_param(req, "token").unwrap_or_default();
    Ok(html(bare(
        "Confirm your account",
        html! {
            h1 { "Confirm your account" }
            p { "One click and your account is ready." }
            form class="stack" method="post" action="/signup/confirm" {
                (csrf_field(&anonymous_form_token(&state, req)))
                input type="hidden" name="token" value=(token);
                button class="btn btn-primary" type="submit" { "Create my account" }
            }
        },
    )))
}

#[handler]
pub async fn confirm(
    req: &Request,
    state: Data<&SharedState>,
    Form(f): Form<TokenForm>,
) -> PageResult {
    if !anonymous_form_ok(req, &f.csrf) {
        return Err(WebError::Forbidden(FORM_EXPIRED.into()));
    }
    let meta = crate::http::request::meta(&state, req);
    let s = auth::confirm_signup(&state, &f.token, &meta).await?;
    Ok(signed_in(&state, req, &s.token, "/onboarding"))
}

// ---- passwords ----

#[handler]
pub async fn forgot_page(req: &Request, state: Data<&SharedState>) -> PageResult {
    Ok(html(forgot_view(&anonymous_form_token(&state, req), None)))
}

fn forgot_view(csrf: &str, sent_to: Option<&str>) -> Markup {
    bare(
        "Forgot your password?",
        html! {
            h1 { "Forgot your password?" }
            @if let Some(email) = sent_to {
                div class="notice notice-success" role="status" {
                    "If " strong { (email) } " has an account, a reset link valid for one hour is on its way."
                }
                p class="muted" { "No mail? Without a mail server configured, the server's log shows the link." }
            } @else {
                p class="muted" { "Enter your address and we will mail you a link to choose a new password." }
                form class="stack" method="post" action="/forgot-password" {
                    (csrf_field(csrf))
                    label { span class="label-text" { "Email" }
                        input type="email" name="email" autocomplete="username" required autofocus; }
                    button class="btn btn-primary" type="submit" { "Send the link" }
                }
            }
            p class="auth-foot" { a href="/login" { "Back to log in" } }
        },
    )
}

#[derive(Deserialize)]
pub struct EmailForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    email: String,
}

#[handler]
pub async fn forgot(
    req: &Request,
    state: Data<&SharedState>,
    Form(f): Form<EmailForm>,
) -> PageResult {
    if !anonymous_form_ok(req, &f.csrf) {
        return Err(WebError::Forbidden(FORM_EXPIRED.into()));
    }
    auth::forgot_password(&state, &f.email).await?;
    Ok(html(forgot_view("", Some(f.email.trim()))))
}

fn reset_view(csrf: &str, token: &str, error: Option<&str>) -> Markup {
    bare(
        "Choose a new password",
        html! {
            h1 { "Choose a new password" }
            (error_notice(error))
            form class="stack" method="post" action="/reset-password" {
                (csrf_field(csrf))
                input type="hidden" name="token" value=(token);
                label { span class="label-text" { "New password" }
                    input type="password" name="password" autocomplete="new-password" minlength="10" required autofocus; }
                button class="btn btn-primary" type="submit" { "Set the password" }
            }
            p class="auth-foot" { a href="/forgot-password" { "Ask for a new link" } }
        },
    )
}

#[handler]
pub async fn reset_page(req: &Request, state: Data<&SharedState>) -> PageResult {
    let token = query_param(req, "token").unwrap_or_default();
    Ok(html(reset_view(
        &anonymous_form_token(&state, req),
        &token,
        None,
    )))
}

#[derive(Deserialize)]
pub struct ResetForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    token: String,
    #[serde(default)]
    password: String,
}

#[handler]
pub async fn reset(
    req: &Request,
    state: Data<&SharedState>,
    Form(f): Form<ResetForm>,
) -> PageResult {
    if !anonymous_form_ok(req, &f.csrf) {
        return Err(WebError::Forbidden(FORM_EXPIRED.into()));
    }
    match auth::reset_password(&state, &f.token, &f.password).await {
        Ok(()) => {
            security::flash(
                &state,
                req,
                "Your password is changed; log in with it. Every other session was logged out.",
            );
            Ok(see_other("/login"))
        }
        Err(AppError::Invalid { message, .. }) => Ok(with_status(
            StatusCode::BAD_REQUEST,
            reset_view(&anonymous_form_token(&state, req), &f.token, Some(&message)),
        )),
        Err(e) => Err(e.into()),
    }
}

// ---- invites ----

fn invite_signup_error(token: &str, error: &str) -> Markup {
    bare(
        "Accept the invitation",
        html! {
            h1 { "Accept the invitation" }
            (error_notice(Some(error)))
            p { a class="btn" href=(format!("/invite?token={}", urlencode(token))) { "Back to the invitation" } }
        },
    )
}

#[handler]
pub async fn invite_page(req: &Request, state: Data<&SharedState>) -> PageResult {
    let token = query_param(req, "token").unwrap_or_default();
    let (invite, org) = invites::invite_preview(&state, &token).await?;
    let here = format!("/invite?token={}", urlencode(&token));
    let session = Session::require(&state, req).await.ok();
    let body = html! {
        h1 { "Join " (org.name) }
        p { "You are invited to the organization " strong { (org.name) } " as " span class="badge badge-role" { (invite.role) } "." }
        @match &session {
            Some(s) if s.who.email.eq_ignore_ascii_case(&invite.email) => {
                form class="stack" method="post" action="/invite" {
                    (csrf_field(&s.csrf()))
                    input type="hidden" name="token" value=(token);
                    button class="btn btn-primary" type="submit" { "Accept and join" }
                }
            }
            Some(s) => {
                div class="notice notice-error" role="alert" {
                    "This invitation is for " strong { (invite.email) } ", but you are logged in as " (s.who.email) ". Log out and log in with the invited address."
                }
            }
            None => {
                p class="muted" { "Create your account for " strong { (invite.email) } " to accept, or log in if you already have one." }
                form class="stack" method="post" action="/signup" {
                    (csrf_field(&anonymous_form_token(&state, req)))
                    input type="hidden" name="invite" value=(token);
                    input type="hidden" name="email" value=(invite.email);
                    label { span class="label-text" { "Your name" }
                        input type="text" name="name" autocomplete="name" maxlength="120"; }
                    label { span class="label-text" { "Choose a password" }
                        input type="password" name="password" autocomplete="new-password" minlength="10" required;
                        span class="hint" { "At least 10 characters." } }
                    button class="btn btn-primary" type="submit" { "Create account and join" }
                }
                p class="auth-foot" { "Already have an account? " a href=(format!("/login?next={}", urlencode(&here))) { "Log in to accept" } }
            }
        }
    };
    Ok(html(bare("Accept the invitation", body)))
}

#[handler]
pub async fn accept_invite(
    req: &Request,
    state: Data<&SharedState>,
    Form(f): Form<TokenForm>,
) -> PageResult {
    let session = Session::for_form(&state, req, &f.csrf).await?;
    let org =
        invites::accept_invite(&state, &session.who, &f.token, &session.meta(&state, req)).await?;
    security::flash(&state, req, &format!("You joined {}.", org.name));
    Ok(see_other("/"))
}
