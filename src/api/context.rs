//! What every `/api` handler needs from the request: the caller.

use super::problem::ApiResult;
use super::security::ApiAuth;
use crate::http::request::meta;
use crate::service::auth;
use crate::service::principal::{Principal, RequestMeta};
use crate::state::SharedState;
use poem::Request;

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
