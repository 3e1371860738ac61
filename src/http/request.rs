//! What the API and the dashboard both take from a request and give back to the
//! browser: the request's metadata (for CSRF checks, throttling and the audit log)
//! and the site's cookies.

use crate::service::auth::SESSION_COOKIE;
use crate::service::principal::RequestMeta;
use crate::state::AppState;
use poem::http::Method;
use poem::web::cookie::{Cookie, SameSite};
use poem::Request;

pub fn meta(state: &AppState, req: &Request) -> RequestMeta {
    let header = |name: &str| req.header(name).map(str::to_string);
    RequestMeta {
        unsafe_method: !matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS),
        origin: header("origin"),
        referer: header("referer"),
        csrf_token: header("x-csrf-token"),
        ip: super::client_addr(&state.config, req).map(|ip| ip.to_string()),
        user_agent: header("user-agent"),
    }
}

/// Cookies are `Secure` when the server is reached over https.
fn secure(state: &AppState) -> bool {
    state.config.public_url().starts_with("https://")
}

/// An HttpOnly, SameSite=Lax cookie for the whole site; `max_age_secs` 0 deletes it.
pub fn cookie(state: &AppState, name: &str, value: &str, max_age_secs: i64) -> Cookie {
    let mut c = Cookie::new_with_str(name, value);
    c.set_path("/");
    c.set_http_only(true);
    c.set_same_site(SameSite::Lax);
    c.set_secure(secure(state));
    c.set_max_age(std::time::Duration::from_secs(max_age_secs.max(0) as u64));
    c
}

/// The login session cookie, shared by the dashboard and the `/api/auth` routes.
pub fn session_cookie(state: &AppState, token: &str, max_age_secs: i64) -> Cookie {
    cookie(state, SESSION_COOKIE, token, max_age_secs)
}
