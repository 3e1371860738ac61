//! What every `/api` handler needs from the request: the caller and the request's
//! metadata (for CSRF checks, throttling and the audit log).

use super::problem::ApiResult;
use super::security::ApiAuth;
use crate::http::client_addr;
use crate::service::auth::{self, Principal, RequestMeta};
use crate::state::SharedState;
use poem::http::Method;
use poem::Request;

pub fn meta(state: &SharedState, req: &Request) -> RequestMeta {
    let header = |name: &str| req.header(name).map(str::to_string);
    RequestMeta {
        unsafe_method: !matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS),
        origin: header("origin"),
        referer: header("referer"),
        csrf_token: header("x-csrf-token"),
        ip: client_addr(&state.config, req).map(|ip| ip.to_string()),
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
