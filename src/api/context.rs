//! What every `/api` handler needs from the request: the caller and the request's
//! metadata (for CSRF checks, throttling and the audit log).

use super::problem::ApiResult;
use super::security::ApiAuth;
use crate::ratelimit::client_ip;
use crate::service::auth::{self, Principal, RequestMeta};
use crate::state::SharedState;
use poem::http::Method;
use poem::Request;

pub fn meta(state: &SharedState, req: &Request) -> RequestMeta {
    let header = |name: &str| req.header(name).map(str::to_string);
    let peer = req.remote_addr().as_socket_addr().map(|a| a.ip());
    RequestMeta {
        unsafe_method: !matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS),
        origin: header("origin"),
        referer: header("referer"),
        csrf_token: header("x-csrf-token"),
        ip: client_ip(
            peer,
            req.header("x-forwarded-for"),
            state.config.trust_proxy,
        )
        .map(|ip| ip.to_string()),
        user_agent: header("user-agent"),
    }
}

/// The authenticated caller, or 401/403 (CSRF) as JSON.
pub async fn caller(
    state: &SharedState,
    auth: &ApiAuth,
    req: &Request,
) -> ApiResult<(Principal, RequestMeta)> {
    let meta = meta(state, req);
    let who = auth::authenticate(state, auth.credential(), &meta).await?;
    Ok((who, meta))
}
