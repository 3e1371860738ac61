//! What keeps the dashboard safe in a browser: response headers (a strict Content
//! Security Policy among them), cookies, and CSRF tokens on every form.

pub use crate::http::request::{cookie, session_cookie};
use crate::service::auth::csrf_token;
use crate::state::AppState;
use poem::web::cookie::SameSite;
use poem::Request;
use rand::RngCore;
use subtle::ConstantTimeEq;

/// The project the dashboard shows, remembered between visits.
pub const PROJECT_COOKIE: &str = "tt_project";
/// A one-shot message for the next page (after a redirect).
pub const FLASH_COOKIE: &str = "tt_flash";
/// The CSRF secret of forms shown before login (double-submit cookie).
pub const FORM_COOKIE: &str = "tt_form";
/// The name of the hidden field carrying the CSRF token.
pub const CSRF_FIELD: &str = "csrf";

pub fn random_secret() -> String {
    let mut bytes = [0u8; 24];
    rand::thread_rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

fn same(a: &str, b: &str) -> bool {
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

/// Checks a form posted by a signed-in user: its token must be the session's.
pub fn session_form_ok(session_token: &str, posted: &str) -> bool {
    same(&csrf_token(session_token), posted)
}

/// The token for forms shown before login, creating the cookie behind it if needed.
pub fn anonymous_form_token(state: &AppState, req: &Request) -> String {
    if let Some(c) = req.cookie().get(FORM_COOKIE) {
        let v = c.value_str().to_string();
        if v.len() == 48 {
            return v;
        }
    }
    let secret = random_secret();
    let mut c = cookie(state, FORM_COOKIE, &secret, 86_400);
    c.set_same_site(SameSite::Strict);
    req.cookie().add(c);
    secret
}

/// Checks a form posted before login against the cookie it was shown with.
pub fn anonymous_form_ok(req: &Request, posted: &str) -> bool {
    req.cookie()
        .get(FORM_COOKIE)
        .is_some_and(|c| !posted.is_empty() && same(c.value_str(), posted))
}

/// A one-shot message shown on the next page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Flash {
    pub error: bool,
    pub text: String,
}

/// Tells the next page that something worked.
pub fn flash(state: &AppState, req: &Request, message: &str) {
    req.cookie()
        .add(cookie(state, FLASH_COOKIE, &format!("ok|{message}"), 60));
}

/// Tells the next page that something was refused, and why.
pub fn flash_error(state: &AppState, req: &Request, message: &str) {
    req.cookie()
        .add(cookie(state, FLASH_COOKIE, &format!("err|{message}"), 60));
}

/// Takes the one-shot message, if any.
pub fn take_flash(state: &AppState, req: &Request) -> Option<Flash> {
    let raw = req.cookie().get(FLASH_COOKIE)?.value_str().to_string();
    req.cookie().add(cookie(state, FLASH_COOKIE, "", 0));
    let (kind, text) = raw.split_once('|')?;
    Some(Flash {
        error: kind == "err",
        text: text.to_string(),
    })
    .filter(|f| !f.text.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_tokens_compare_exactly() {
        let t = csrf_token("tts_abc");
        assert!(session_form_ok("tts_abc", &t));
        assert!(!session_form_ok("tts_abd", &t));
        assert!(!session_form_ok("tts_abc", ""));
    }
}
