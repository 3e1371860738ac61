//! `/api/auth/*`: accounts, dashboard sessions and the signed-in user.

use super::context::caller;
use super::json::ApiJson;
use super::problem::ApiResult;
use super::responses::NoContent;
use super::security::ApiAuth;
use super::ApiTags;
use crate::domain::timeutil::format_rfc3339_ms;
use crate::http::request::meta;
use crate::service::auth::{self, csrf_token, Registration};
use crate::service::{accounts, orgs};
use crate::state::SharedState;
use crate::store::{MyOrgRow, UserRow};
use poem::web::Data;
use poem::Request;
use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};

#[derive(Debug, Object)]
pub struct RegisterBody {
    #[oai(validator(max_length = 254))]
    pub email: String,
    /// At least 10 characters.
    #[oai(validator(min_length = 10, max_length = 1024))]
    pub password: String,
    #[oai(validator(max_length = 120))]
    pub name: Option<String>,
    /// Name of the organization created for you (not with an invite).
    #[oai(validator(max_length = 120))]
    pub org_name: Option<String>,
    /// Sign up through an invite (joins its organization with its role).
    #[oai(validator(max_length = 200))]
    pub invite_token: Option<String>,
}

#[derive(Debug, Object)]
pub struct LoginBody {
    #[oai(validator(max_length = 254))]
    pub email: String,
    #[oai(validator(max_length = 1024))]
    pub password: String,
}

#[derive(Debug, Object)]
pub struct User {
    pub id: String,
    pub email: String,
    pub name: Option<String>,
    /// The instance administrator (the first user).
    pub is_admin: bool,
    pub created_at: String,
}

impl From<UserRow> for User {
    fn from(u: UserRow) -> Self {
        User {
            id: u.id,
            email: u.email,
            name: u.name,
            is_admin: u.is_admin != 0,
            created_at: format_rfc3339_ms(u.created_at),
        }
    }
}

#[derive(Debug, Object)]
pub struct Membership {
    pub org_id: String,
    pub org_name: String,
    pub role: String,
    pub plan: String,
}

impl From<MyOrgRow> for Membership {
    fn from(o: MyOrgRow) -> Self {
        Membership {
            org_id: o.id,
            org_name: o.name,
            role: o.role,
            plan: o.plan,
        }
    }
}

#[derive(Debug, Object)]
pub struct SignedIn {
    pub user: User,
    /// The session token: also set as the `telemetry_session` cookie; scripts may send
    /// it as `Authorization: Bearer`.
    pub token: String,
    /// Send as `X-CSRF-Token` on cookie-authenticated changes from other origins.
    pub csrf_token: String,
}

#[derive(ApiResponse)]
pub enum SignInResponse {
    #[oai(status = 200)]
    Ok(Json<SignedIn>, #[oai(header = "Set-Cookie")] String),
    /// The account was created and this is its first session.
    #[oai(status = 201)]
    Created(Json<SignedIn>, #[oai(header = "Set-Cookie")] String),
    /// A confirmation mail is on its way; the account is created from its link.
    #[oai(status = 202)]
    Pending(Json<Message>),
}

#[derive(Debug, Object)]
pub struct ConfirmBody {
    /// The token from the confirmation mail's link.
    #[oai(validator(max_length = 200))]
    pub token: String,
}

#[derive(ApiResponse)]
pub enum LogoutResponse {
    #[oai(status = 204)]
    NoContent(#[oai(header = "Set-Cookie")] String),
}

#[derive(Debug, Object)]
pub struct Me {
    pub user: User,
    pub orgs: Vec<Membership>,
}

#[derive(Debug, Object)]
pub struct UpdateMe {
    /// Up to 120 characters; empty or null clears it.
    #[oai(validator(max_length = 120))]
    pub name: Option<String>,
}

#[derive(Debug, Object)]
pub struct DashboardSession {
    pub id: String,
    pub created_at: String,
    pub last_seen_at: String,
    pub expires_at: String,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    /// The session making this request.
    pub current: bool,
}

#[derive(Debug, Object)]
pub struct Revoked {
    pub revoked: u64,
}

#[derive(Debug, Object)]
pub struct ChangePassword {
    #[oai(validator(max_length = 1024))]
    pub current_password: String,
    /// At least 10 characters.
    #[oai(validator(min_length = 10, max_length = 1024))]
    pub new_password: String,
    /// End every other dashboard session and revoke every personal access token
    /// (default `true`), so a session or token taken before the change stops working.
    #[oai(default = "default_true")]
    pub sign_out_others: bool,
}

fn default_true() -> bool {
    true
}

#[derive(Debug, Object)]
pub struct ForgotPassword {
    #[oai(validator(max_length = 254))]
    pub email: String,
}

#[derive(Debug, Object)]
pub struct ResetPassword {
    #[oai(validator(max_length = 200))]
    pub token: String,
    /// At least 10 characters.
    #[oai(validator(min_length = 10, max_length = 1024))]
    pub password: String,
}

#[derive(Debug, Object)]
pub struct Message {
    pub message: String,
}

#[derive(ApiResponse)]
pub enum AcceptedMessage {
    #[oai(status = 202)]
    Accepted(Json<Message>),
}

#[derive(Debug, Object)]
pub struct RegistrationPolicy {
    /// Whether anyone may sign up now (always before the first user exists).
    pub open: bool,
}

fn session_cookie(state: &SharedState, token: &str, max_age_secs: i64) -> String {
    crate::http::request::session_cookie(state, token, max_age_secs).to_string()
}

fn signed_in(state: &SharedState, s: auth::SignedIn) -> (Json<SignedIn>, String) {
    let cookie = session_cookie(state, &s.token, 30 * 86_400);
    let csrf = csrf_token(&s.token);
    (
        Json(SignedIn {
            user: s.user.into(),
            token: s.token,
            csrf_token: csrf,
        }),
        cookie,
    )
}

pub struct AuthApi;

#[OpenApi(tag = "ApiTags::Accounts")]
impl AuthApi {
    /// Whether sign-up is open.
    #[oai(path = "/api/auth/registration", method = "get")]
    async fn registration(&self, state: Data<&SharedState>) -> ApiResult<Json<RegistrationPolicy>> {
        Ok(Json(RegistrationPolicy {
            open: auth::registration_open(&state).await?,
        }))
    }

    /// Create an account: always for the first user (who gets an organization and
    /// administers the instance), afterwards only when registration is open or with an
    /// invite. With open registration the answer is 202 and the account is created
    /// from the mailed link, whether or not the address is taken.
    #[oai(path = "/api/auth/register", method = "post")]
    async fn register(
        &self,
        state: Data<&SharedState>,
        req: &Request,
        body: ApiJson<RegisterBody>,
    ) -> ApiResult<SignInResponse> {
        let meta = meta(&state, req);
        let body = body.parse()?;
        let b = &body;
        let reg = Registration {
            email: &b.email,
            password: &b.password,
            name: b.name.as_deref(),
            org_name: b.org_name.as_deref(),
            invite_token: b.invite_token.as_deref(),
        };
        match auth::register(&state, reg, &meta).await? {
            auth::Registered::SignedIn(s) => {
                let (json, cookie) = signed_in(&state, s);
                Ok(SignInResponse::Created(json, cookie))
            }
            auth::Registered::Pending => Ok(SignInResponse::Pending(Json(Message {
                message: "Check your inbox: the link in the mail finishes signing up.".into(),
            }))),
        }
    }

    /// Finish a sign-up from the confirmation mail's link: creates the account and logs in.
    #[oai(path = "/api/auth/register/confirm", method = "post")]
    async fn confirm(
        &self,
        state: Data<&SharedState>,
        req: &Request,
        body: ApiJson<ConfirmBody>,
    ) -> ApiResult<SignInResponse> {
        let meta = meta(&state, req);
        let body = body.parse()?;
        let (json, cookie) = signed_in(
            &state,
            auth::confirm_signup(&state, &body.token, &meta).await?,
        );
        Ok(SignInResponse::Created(json, cookie))
    }

    /// Log in with email and password. Sets the session cookie and returns the token.
    #[oai(path = "/api/auth/login", method = "post")]
    async fn login(
        &self,
        state: Data<&SharedState>,
        req: &Request,
        body: ApiJson<LoginBody>,
    ) -> ApiResult<SignInResponse> {
        let meta = meta(&state, req);
        let body = body.parse()?;
        let (json, cookie) = signed_in(
            &state,
            auth::login(&state, &body.email, &body.password, &meta).await?,
        );
        Ok(SignInResponse::Ok(json, cookie))
    }

    /// End this session.
    #[oai(path = "/api/auth/logout", method = "post")]
    async fn logout(
        &self,
        state: Data<&SharedState>,
        auth: ApiAuth,
        req: &Request,
    ) -> ApiResult<LogoutResponse> {
        let (who, _) = caller(&state, &auth, req).await?;
        auth::logout(&state, &who).await?;
        Ok(LogoutResponse::NoContent(session_cookie(&state, "", 0)))
    }

    /// The caller and their organizations.
    #[oai(path = "/api/auth/me", method = "get")]
    async fn me(
        &self,
        state: Data<&SharedState>,
        auth: ApiAuth,
        req: &Request,
    ) -> ApiResult<Json<Me>> {
        let (who, _) = caller(&state, &auth, req).await?;
        let user = accounts::user(&state.db, &who.user_id).await?;
        let orgs = orgs::my_orgs(&state, &who).await?;
        Ok(Json(Me {
            user: user.into(),
            orgs: orgs.into_iter().map(Membership::from).collect(),
        }))
    }

    /// Change the caller's display name.
    #[oai(path = "/api/auth/me", method = "patch")]
    async fn update_me(
        &self,
        state: Data<&SharedState>,
        auth: ApiAuth,
        req: &Request,
        body: ApiJson<UpdateMe>,
    ) -> ApiResult<Json<User>> {
        let (who, _) = caller(&state, &auth, req).await?;
        let body = body.parse()?;
        Ok(Json(
            auth::update_name(&state, &who, body.name.as_deref())
                .await?
                .into(),
        ))
    }

    /// The caller's dashboard sessions (never their tokens).
    #[oai(path = "/api/auth/sessions", method = "get")]
    async fn sessions(
        &self,
        state: Data<&SharedState>,
        auth: ApiAuth,
        req: &Request,
    ) -> ApiResult<Json<Vec<DashboardSession>>> {
        let (who, _) = caller(&state, &auth, req).await?;
        let rows = auth::sessions(&state, &who).await?;
        Ok(Json(
            rows.into_iter()
                .map(|s| DashboardSession {
                    current: who.session_id.as_deref() == Some(s.id.as_str()),
                    id: s.id,
                    created_at: format_rfc3339_ms(s.created_at),
                    last_seen_at: format_rfc3339_ms(s.last_seen_at),
                    expires_at: format_rfc3339_ms(s.expires_at),
                    ip: s.ip,
                    user_agent: s.user_agent,
                })
                .collect(),
        ))
    }

    /// End one of the caller's sessions.
    #[oai(path = "/api/auth/sessions/:id", method = "delete")]
    async fn revoke_session(
        &self,
        state: Data<&SharedState>,
        auth: ApiAuth,
        req: &Request,
        id: Path<String>,
    ) -> ApiResult<NoContent> {
        let (who, _) = caller(&state, &auth, req).await?;
        auth::revoke_session(&state, &who, &id.0).await?;
        Ok(NoContent::NoContent)
    }

    /// End every session of the caller except this one.
    #[oai(path = "/api/auth/sessions/revoke-others", method = "post")]
    async fn revoke_others(
        &self,
        state: Data<&SharedState>,
        auth: ApiAuth,
        req: &Request,
    ) -> ApiResult<Json<Revoked>> {
        let (who, _) = caller(&state, &auth, req).await?;
        Ok(Json(Revoked {
            revoked: auth::revoke_other_sessions(&state, &who).await?,
        }))
    }

    /// Change the password (needs the current one); other sessions end.
    #[oai(path = "/api/auth/password", method = "post")]
    async fn change_password(
        &self,
        state: Data<&SharedState>,
        auth: ApiAuth,
        req: &Request,
        body: ApiJson<ChangePassword>,
    ) -> ApiResult<NoContent> {
        let (who, _) = caller(&state, &auth, req).await?;
        let body = body.parse()?;
        auth::change_password(
            &state,
            &who,
            &body.current_password,
            &body.new_password,
            body.sign_out_others,
        )
        .await?;
        Ok(NoContent::NoContent)
    }

    /// Email a password reset link (valid one hour, single use). The answer never
    /// tells whether the address has an account.
    #[oai(path = "/api/auth/forgot-password", method = "post")]
    async fn forgot_password(
        &self,
        state: Data<&SharedState>,
        body: ApiJson<ForgotPassword>,
    ) -> ApiResult<AcceptedMessage> {
        let body = body.parse()?;
        auth::forgot_password(&state, &body.email).await?;
        Ok(AcceptedMessage::Accepted(Json(Message {
            message: "If an account uses this address, a reset link is on its way.".into(),
        })))
    }

    /// Set a new password with a reset link's token; every session ends.
    #[oai(path = "/api/auth/reset-password", method = "post")]
    async fn reset_password(
        &self,
        state: Data<&SharedState>,
        body: ApiJson<ResetPassword>,
    ) -> ApiResult<NoContent> {
        let body = body.parse()?;
        auth::reset_password(&state, &body.token, &body.password).await?;
        Ok(NoContent::NoContent)
    }
}
