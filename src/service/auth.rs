//! Accounts: registration, login, dashboard sessions, tokens as credentials,
//! password change and reset, and CSRF protection for cookie-authenticated calls.

use crate::domain::ids::new_id;
use crate::domain::timeutil::{DAY_MS, MINUTE_MS};
use crate::error::{AppError, AppResult};
use crate::mail::templates;
use crate::service::accounts::{self, hash_password, token_hash, verify_password, CreatedToken};
use crate::service::orgs::{self, actor, entry};
use crate::service::principal::{Credential, Principal, RequestMeta};
use crate::service::{billing, invites};
use crate::state::AppState;
use crate::store::{
    AuditRow, NewUserSession, SignOut, SignupRow, TokenRow, UserRow, UserSessionRow,
};
use rand::RngCore;

pub const SESSION_COOKIE: &str = "telemetry_session";
const SESSION_PREFIX: &str = "tts_";
const SESSION_TTL_MS: i64 = 30 * DAY_MS;
const RESET_TTL_MS: i64 = 60 * MINUTE_MS;
const SIGNUP_TTL_MS: i64 = DAY_MS;
const INVALID_LOGIN: &str = "Invalid email or password.";
const DISABLED: &str =
    "This account is disabled. Ask an administrator of this Telemetry Tracker to enable it.";
/// Argon2id hash of a random password: verified against when the email is unknown
/// so that a login takes as long whether or not the account exists.
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$0fyvnmcEIuvMnhSP5XqMX7kYn3tHiX2yt8Bdg8dT1Vg";

fn random_token(prefix: &str) -> String {
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    format!("{prefix}{}", hex::encode(bytes))
}

/// The CSRF token of a session: derived from its secret, so only its holder knows it.
pub fn csrf_token(session_token: &str) -> String {
    token_hash(&format!("csrf:{session_token}"))[..32].to_string()
}

/// Origins allowed to make cookie-authenticated changes: the public URL's and any
/// configured dashboard or CORS origins.
fn trusted_origins(state: &AppState) -> Vec<String> {
    let c = &state.config;
    let mut origins = vec![origin_of(&c.public_url())];
    origins.extend(c.dashboard_origin.iter().map(|o| origin_of(o)));
    origins.extend(
        c.cors_origins
            .iter()
            .filter(|o| !o.trim().is_empty())
            .map(|o| origin_of(o)),
    );
    origins
}

/// Whether a browser page from `origin` may call `/api` with the user's cookie:
/// the dashboard's own origin and the configured dashboard and CORS origins.
pub fn is_trusted_origin(state: &AppState, origin: &str) -> bool {
    let origin = origin_of(origin);
    trusted_origins(state).contains(&origin)
}

/// `scheme://host[:port]` of a URL, without path.
fn origin_of(url: &str) -> String {
    let url = url.trim().trim_end_matches('/');
    match url.find("://") {
        Some(i) => match url[i + 3..].find('/') {
            Some(j) => url[..i + 3 + j].to_ascii_lowercase(),
            None => url.to_ascii_lowercase(),
        },
        None => url.to_ascii_lowercase(),
    }
}

fn check_csrf(state: &AppState, token: &str, meta: &RequestMeta) -> AppResult<()> {
    if !meta.unsafe_method {
        return Ok(());
    }
    if meta.csrf_token.as_deref() == Some(csrf_token(token).as_str()) {
        return Ok(());
    }
    let trusted = trusted_origins(state);
    let from = meta
        .origin
        .as_deref()
        .filter(|o| !o.is_empty() && *o != "null")
        .or(meta.referer.as_deref())
        .map(origin_of);
    match from {
        Some(origin) if trusted.contains(&origin) => Ok(()),
        _ => Err(AppError::Forbidden {
            message: "Cross-site request refused: send it from the dashboard's origin or with its X-CSRF-Token.".into(),
            code: Some("csrf"),
            limit: None,
        }),
    }
}

/// Resolves a session cookie, a session bearer token or a personal access token.
#[tracing::instrument(skip_all)]
pub async fn authenticate(
    state: &AppState,
    credential: Credential<'_>,
    meta: &RequestMeta,
) -> AppResult<Principal> {
    let now = state.clock.now_ms();
    let unauthorized = || {
        AppError::Unauthorized(
            "Log in, or send Authorization: Bearer <personal access token>.".into(),
        )
    };
    let (user_id, session_id) = match credential {
        Credential::None => return Err(unauthorized()),
        Credential::Bearer(token) if token.starts_with("ttp_") => {
            let row = state
                .db
                .personal_token_for_auth(&token_hash(token))
                .await?
                .filter(|t| t.expires_at.is_none_or(|exp| exp > now))
                .ok_or_else(unauthorized)?;
            // Like sessions and keys: at most one write a minute per token.
            if row.last_used_at.is_none_or(|at| now - at > MINUTE_MS) {
                state.db.touch_personal_token(&row.id, now).await?;
            }
            (row.user_id, None)
        }
        Credential::Bearer(token) | Credential::Cookie(token) => {
            let is_cookie = matches!(credential, Credential::Cookie(_));
            let session = live_session(state, token, now)
                .await?
                .ok_or_else(unauthorized)?;
            if is_cookie {
                check_csrf(state, token, meta)?;
            }
            (session.user_id, Some(session.id))
        }
    };
    let user = state
        .db
        .user_by_id(&user_id)
        .await?
        .filter(|u| u.disabled_at.is_none())
        .ok_or_else(unauthorized)?;
    Ok(Principal {
        user_id: user.id,
        email: user.email,
        is_admin: user.is_admin != 0,
        session_id,
    })
}

async fn live_session(
    state: &AppState,
    token: &str,
    now: i64,
) -> AppResult<Option<UserSessionRow>> {
    if !token.starts_with(SESSION_PREFIX) {
        return Ok(None);
    }
    let Some(session) = state
        .db
        .user_session_by_hash(&token_hash(token), now)
        .await?
    else {
        return Ok(None);
    };
    // Sliding expiry, written at most once a minute per session.
    if now - session.last_seen_at > MINUTE_MS {
        state
            .db
            .touch_user_session(&session.id, now, now + SESSION_TTL_MS)
            .await?;
    }
    Ok(Some(session))
}

/// A new dashboard session; returns its secret token (the cookie value).
async fn start_session(state: &AppState, user_id: &str, meta: &RequestMeta) -> AppResult<String> {
    let token = random_token(SESSION_PREFIX);
    let now = state.clock.now_ms();
    let user_agent = meta
        .user_agent
        .as_deref()
        .map(|ua| ua.chars().take(512).collect::<String>());
    state
        .db
        .insert_user_session(&NewUserSession {
            id: &new_id(),
            user_id,
            token_hash: &token_hash(&token),
            now,
            expires_at: now + SESSION_TTL_MS,
            ip: meta.ip.as_deref(),
            user_agent: user_agent.as_deref(),
        })
        .await?;
    Ok(token)
}

pub struct SignedIn {
    pub user: UserRow,
    pub token: String,
}

/// Whether nobody has an account yet: the next to sign up administers the instance.
#[tracing::instrument(skip_all)]
pub async fn first_run(state: &AppState) -> AppResult<bool> {
    Ok(state.db.count_users().await? == 0)
}

/// Whether sign-up is open: always for the first user, then by setting or by the
/// instance administrator's choice.
#[tracing::instrument(skip_all)]
pub async fn registration_open(state: &AppState) -> AppResult<bool> {
    if first_run(state).await? {
        return Ok(true);
    }
    if let Some(fixed) = state.config.allow_registration {
        return Ok(fixed);
    }
    Ok(state
        .db
        .instance_setting("allow_registration")
        .await?
        .as_deref()
        == Some("true"))
}

pub struct Registration<'a> {
    pub email: &'a str,
    pub password: &'a str,
    pub name: Option<&'a str>,
    pub org_name: Option<&'a str>,
    pub invite_token: Option<&'a str>,
}

/// The outcome of a sign-up.
pub enum Registered {
    /// The account exists and this is its first session.
    SignedIn(SignedIn),
    /// A confirmation mail is on its way (open registration).
    Pending,
}

/// Signs up. The first user, and anyone with an invite, gets an account at once.
/// With registration open, everyone else confirms by mail, and the answer is the
/// same whether or not the address already has an account.
#[tracing::instrument(skip_all)]
pub async fn register(
    state: &AppState,
    r: Registration<'_>,
    meta: &RequestMeta,
) -> AppResult<Registered> {
    let now = state.clock.now_ms();
    let invite = match r.invite_token {
        Some(token) => Some(
            state
                .db
                .invite_by_token(&token_hash(token), now)
                .await?
                .ok_or_else(|| {
                    AppError::NotFound("This invite link is invalid, used or expired.".into())
                })?,
        ),
        None => None,
    };
    // Checked before anything is created: a refused invite leaves no account behind.
    if let Some(invite) = &invite {
        if !invite
            .email
            .eq_ignore_ascii_case(&accounts::normalize_email(r.email)?)
        {
            return Err(AppError::forbidden(format!(
                "This invite is for {}; sign up with that address.",
                invite.email
            )));
        }
    }
    let first_user = state.db.count_users().await? == 0;
    if invite.is_none() && !registration_open(state).await? {
        return Err(AppError::forbidden(
            "Registration is closed on this server; ask an organization owner for an invite.",
        ));
    }
    let name = r.name.map(str::trim).filter(|n| !n.is_empty());
    if name.is_some_and(|n| n.chars().count() > 120) {
        return Err(AppError::invalid(
            "name",
            "`name` must be at most 120 characters",
        ));
    }
    // With an invite the new user joins that organization; otherwise they get one.
    let org_name = match (&invite, r.org_name.map(str::trim).filter(|n| !n.is_empty())) {
        (Some(_), _) => None,
        (None, Some(n)) => Some(n.to_string()),
        (None, None) => Some(format!(
            "{}'s organization",
            name.unwrap_or_else(|| r.email.split('@').next().unwrap_or("My"))
        )),
    };
    // Without mail the confirmation link is logged for the operator: sign-up stays
    // possible, and the answer still never tells whether the address is taken.
    if invite.is_none() && !first_user {
        request_signup(state, r.email, r.password, name, org_name.as_deref()).await?;
        return Ok(Registered::Pending);
    }
    let created = accounts::create_user_with_hash(
        &state.db,
        &state.clock,
        &accounts::normalize_email(r.email)?,
        hash_password(r.password)?,
        org_name.as_deref(),
        billing::new_org_plan(state),
    )
    .await?;
    if let Some(invite) = invite {
        invites::accept_invite_as(state, &invite, &created.user.id, &created.user.email, meta)
            .await?;
    }
    Ok(Registered::SignedIn(
        welcome(state, created.user.id, name, meta).await?,
    ))
}

/// Names the account, sends the welcome mail and opens the first session.
async fn welcome(
    state: &AppState,
    user_id: String,
    name: Option<&str>,
    meta: &RequestMeta,
) -> AppResult<SignedIn> {
    if let Some(name) = name {
        state
            .db
            .set_user_name(&user_id, Some(name), state.clock.now_ms())
            .await?;
    }
    let user = state
        .db
        .user_by_id(&user_id)
        .await?
        .ok_or_else(|| AppError::NotFound("no such user".into()))?;
    orgs::send_mail(
        state,
        templates::welcome(&user.email, &state.config.public_url()),
    );
    let token = start_session(state, &user.id, meta).await?;
    Ok(SignedIn { user, token })
}

async fn request_signup(
    state: &AppState,
    email: &str,
    password: &str,
    name: Option<&str>,
    org_name: Option<&str>,
) -> AppResult<()> {
    let email = accounts::normalize_email(email)?;
    // Hashed either way, so both answers take as long.
    let password_hash = hash_password(password)?;
    let public = state.config.public_url();
    if state.db.user_by_email(&email).await?.is_some() {
        orgs::send_mail(
            state,
            templates::signup_existing(&email, &format!("{public}/forgot-password")),
        );
        return Ok(());
    }
    let token = random_token("ttc_");
    let now = state.clock.now_ms();
    let request = SignupRow {
        email,
        password_hash,
        name: name.map(str::to_string),
        org_name: org_name.map(str::to_string),
    };
    state
        .db
        .insert_signup_request(
            &new_id(),
            &request,
            &token_hash(&token),
            now,
            now + SIGNUP_TTL_MS,
        )
        .await?;
    let link = format!("{public}/signup/confirm?token={token}");
    orgs::send_mail(state, templates::signup_confirm(&request.email, &link));
    Ok(())
}

/// Creates the account of a confirmed sign-up and opens its first session.
#[tracing::instrument(skip_all)]
pub async fn confirm_signup(
    state: &AppState,
    token: &str,
    meta: &RequestMeta,
) -> AppResult<SignedIn> {
    let request = state
        .db
        .use_signup_request(&token_hash(token.trim()), state.clock.now_ms())
        .await?
        .ok_or_else(|| {
            AppError::NotFound("This sign-up link is invalid, used or expired.".into())
        })?;
    let created = accounts::create_user_with_hash(
        &state.db,
        &state.clock,
        &request.email,
        request.password_hash,
        request.org_name.as_deref(),
        billing::new_org_plan(state),
    )
    .await?;
    welcome(state, created.user.id, request.name.as_deref(), meta).await
}

#[tracing::instrument(skip_all)]
pub async fn login(
    state: &AppState,
    email: &str,
    password: &str,
    meta: &RequestMeta,
) -> AppResult<SignedIn> {
    let email = email.trim().to_lowercase();
    let address = meta.ip.as_deref().unwrap_or("unknown");
    if let Err(retry) = state.login_failures.check(&email, address) {
        return Err(AppError::RateLimited {
            message: format!(
                "Too many failed sign-ins; try again in {}.",
                crate::domain::timeutil::wait_in_words(retry)
            ),
            code: "login_throttled",
            limit: None,
            retry_after_secs: retry,
        });
    }
    let user = state.db.user_by_email(&email).await?;
    let hash = user
        .as_ref()
        .map(|u| u.password_hash.clone())
        .unwrap_or_else(|| DUMMY_HASH.to_string());
    let password = password.to_string();
    let ok = tokio::task::spawn_blocking(move || verify_password(&password, &hash))
        .await
        .map_err(|e| AppError::Internal(e.to_string()))?;
    match user {
        Some(user) if ok && user.disabled_at.is_some() => Err(AppError::Forbidden {
            message: DISABLED.into(),
            code: Some("account_disabled"),
            limit: None,
        }),
        Some(user) if ok => {
            state.login_failures.succeeded(&email, address);
            let token = start_session(state, &user.id, meta).await?;
            state
                .db
                .record_login(&user.id, state.clock.now_ms())
                .await?;
            Ok(SignedIn { user, token })
        }
        _ => {
            state.login_failures.failed(&email, address);
            Err(AppError::Unauthorized(INVALID_LOGIN.into()))
        }
    }
}

#[tracing::instrument(skip_all)]
pub async fn logout(state: &AppState, who: &Principal) -> AppResult<()> {
    if let Some(id) = &who.session_id {
        state.db.delete_user_session(&who.user_id, id).await?;
    }
    Ok(())
}

#[tracing::instrument(skip_all)]
pub async fn sessions(state: &AppState, who: &Principal) -> AppResult<Vec<UserSessionRow>> {
    Ok(state
        .db
        .list_user_sessions(&who.user_id, state.clock.now_ms())
        .await?)
}

#[tracing::instrument(skip_all)]
pub async fn revoke_session(state: &AppState, who: &Principal, id: &str) -> AppResult<()> {
    if state.db.delete_user_session(&who.user_id, id).await? {
        Ok(())
    } else {
        Err(AppError::NotFound("no such session".into()))
    }
}

#[tracing::instrument(skip_all)]
pub async fn revoke_other_sessions(state: &AppState, who: &Principal) -> AppResult<u64> {
    Ok(state
        .db
        .delete_other_user_sessions(&who.user_id, who.session_id.as_deref())
        .await?)
}

#[tracing::instrument(skip_all)]
pub async fn update_name(
    state: &AppState,
    who: &Principal,
    name: Option<&str>,
) -> AppResult<UserRow> {
    let name = name.map(str::trim).filter(|n| !n.is_empty());
    if name.is_some_and(|n| n.chars().count() > 120) {
        return Err(AppError::invalid(
            "name",
            "`name` must be at most 120 characters",
        ));
    }
    state
        .db
        .set_user_name(&who.user_id, name, state.clock.now_ms())
        .await?;
    state
        .db
        .user_by_id(&who.user_id)
        .await?
        .ok_or_else(|| AppError::NotFound("no such user".into()))
}

/// Changes the password after checking the current one. With `sign_out_others`
/// (the default of both front ends) the user's other sessions end and every personal
/// token is revoked: a session or token stolen before the change stops working.
#[tracing::instrument(skip_all)]
pub async fn change_password(
    state: &AppState,
    who: &Principal,
    current: &str,
    new: &str,
    sign_out_others: bool,
) -> AppResult<()> {
    let user = state
        .db
        .user_by_id(&who.user_id)
        .await?
        .ok_or_else(|| AppError::NotFound("no such user".into()))?;
    if !verify_password(current, &user.password_hash) {
        return Err(AppError::invalid(
            "current_password",
            "the current password is wrong",
        ));
    }
    let hash = hash_password(new)?;
    let sign_out = sign_out_others.then_some(SignOut {
        keep_session: who.session_id.as_deref(),
    });
    state
        .db
        .set_user_password(&who.user_id, &hash, state.clock.now_ms(), sign_out)
        .await?;
    Ok(())
}

/// Emails a single-use reset link valid for an hour when the address has an
/// account. The answer is the same either way.
#[tracing::instrument(skip_all)]
pub async fn forgot_password(state: &AppState, email: &str) -> AppResult<()> {
    let email = email.trim().to_lowercase();
    let Some(user) = state.db.user_by_email(&email).await? else {
        return Ok(());
    };
    let token = random_token("ttr_");
    let now = state.clock.now_ms();
    state
        .db
        .insert_password_reset(
            &new_id(),
            &user.id,
            &token_hash(&token),
            now,
            now + RESET_TTL_MS,
        )
        .await?;
    let link = format!("{}/reset-password?token={token}", state.config.public_url());
    orgs::send_mail(state, templates::password_reset(&user.email, &link));
    Ok(())
}

/// Sets a new password with a reset link's token; every session of the user ends
/// and every personal token is revoked.
#[tracing::instrument(skip_all)]
pub async fn reset_password(state: &AppState, token: &str, new: &str) -> AppResult<()> {
    let hash = hash_password(new)?;
    let now = state.clock.now_ms();
    let user_id = state
        .db
        .use_password_reset(&token_hash(token.trim()), now)
        .await?
        .ok_or_else(|| {
            AppError::invalid(
                "token",
                "this reset link is invalid, used or expired; ask for a new one",
            )
        })?;
    // Whoever asked for the link may not be the only one who had the account.
    let sign_out = SignOut { keep_session: None };
    state
        .db
        .set_user_password(&user_id, &hash, now, Some(sign_out))
        .await?;
    Ok(())
}

/// The caller's personal access tokens.
#[tracing::instrument(skip_all)]
pub async fn tokens(state: &AppState, who: &Principal) -> AppResult<Vec<TokenRow>> {
    Ok(state.db.list_personal_tokens(&who.user_id).await?)
}

#[tracing::instrument(skip_all)]
pub async fn create_token(
    state: &AppState,
    who: &Principal,
    name: &str,
    expires_in_days: Option<u32>,
    meta: &RequestMeta,
) -> AppResult<CreatedToken> {
    let orgs = state.db.orgs_of_user(&who.user_id).await?;
    let by = actor(who, meta);
    accounts::create_token_by(
        &state.db,
        &state.clock,
        &who.email,
        Some(name),
        expires_in_days,
        Some((&by, &orgs)),
    )
    .await
}

#[tracing::instrument(skip_all)]
pub async fn revoke_token(
    state: &AppState,
    who: &Principal,
    id: &str,
    meta: &RequestMeta,
) -> AppResult<()> {
    let audit: Vec<AuditRow> = state
        .db
        .orgs_of_user(&who.user_id)
        .await?
        .iter()
        .map(|org| entry(state, &org.id, who, meta, "token.revoke", Some(id), None))
        .collect();
    if !state
        .db
        .revoke_personal_token(&who.user_id, id, state.clock.now_ms(), &audit)
        .await?
    {
        return Err(AppError::NotFound("no such token".into()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins() {
        assert_eq!(
            origin_of("https://Example.com/path?x"),
            "https://example.com"
        );
        assert_eq!(origin_of("http://127.0.0.1:3001"), "http://127.0.0.1:3001");
        assert_eq!(origin_of("http://127.0.0.1:3001/"), "http://127.0.0.1:3001");
    }

    #[test]
    fn dummy_hash_is_a_valid_argon2id_hash() {
        assert!(argon2::PasswordHash::new(DUMMY_HASH).is_ok());
        assert!(!verify_password("anything at all", DUMMY_HASH));
    }
}
