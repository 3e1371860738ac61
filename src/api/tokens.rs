//! `/api/tokens`: the caller's personal access tokens.

use super::context::caller;
use super::json::ApiJson;
use super::problem::ApiResult;
use super::responses::{Created, NoContent};
use super::security::ApiAuth;
use super::ApiTags;
use crate::domain::timeutil::format_rfc3339_ms;
use crate::service::auth;
use crate::state::SharedState;
use poem::web::Data;
use poem::Request;
use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};

#[derive(Debug, Object)]
pub struct NewToken {
    #[oai(validator(min_length = 1, max_length = 120))]
    pub name: String,
    /// Days until the token stops working; none: it never expires.
    #[oai(validator(minimum(value = "1"), maximum(value = "3650")))]
    pub expires_in_days: Option<u32>,
}

#[derive(Debug, Object)]
pub struct CreatedTokenBody {
    pub id: String,
    /// Shown only this once.
    pub token: String,
}

#[derive(Debug, Object)]
pub struct Token {
    pub id: String,
    pub name: String,
    pub prefix: String,
    pub created_at: String,
    pub last_used_at: Option<String>,
    pub expires_at: Option<String>,
}

pub struct TokensApi;

#[OpenApi(tag = "ApiTags::Accounts")]
impl TokensApi {
    /// The caller's personal access tokens.
    #[oai(path = "/api/tokens", method = "get")]
    async fn tokens(
        &self,
        state: Data<&SharedState>,
        auth: ApiAuth,
        req: &Request,
    ) -> ApiResult<Json<Vec<Token>>> {
        let (who, _) = caller(&state, &auth, req).await?;
        let rows = auth::tokens(&state, &who).await?;
        Ok(Json(
            rows.into_iter()
                .map(|t| Token {
                    id: t.id,
                    name: t.name,
                    prefix: t.prefix,
                    created_at: format_rfc3339_ms(t.created_at),
                    last_used_at: t.last_used_at.map(format_rfc3339_ms),
                    expires_at: t.expires_at.map(format_rfc3339_ms),
                })
                .collect(),
        ))
    }

    /// Create a personal access token; it acts with the caller's roles.
    #[oai(path = "/api/tokens", method = "post")]
    async fn create_token(
        &self,
        state: Data<&SharedState>,
        auth: ApiAuth,
        req: &Request,
        body: ApiJson<NewToken>,
    ) -> ApiResult<Created<CreatedTokenBody>> {
        let (who, meta) = caller(&state, &auth, req).await?;
        let body = body.parse()?;
        let t = auth::create_token(&state, &who, &body.name, body.expires_in_days, &meta).await?;
        Ok(Created::Created(Json(CreatedTokenBody {
            id: t.id,
            token: t.token,
        })))
    }

    /// Revoke one of the caller's tokens.
    #[oai(path = "/api/tokens/:id", method = "delete")]
    async fn revoke_token(
        &self,
        state: Data<&SharedState>,
        auth: ApiAuth,
        req: &Request,
        id: Path<String>,
    ) -> ApiResult<NoContent> {
        let (who, meta) = caller(&state, &auth, req).await?;
        auth::revoke_token(&state, &who, &id.0, &meta).await?;
        Ok(NoContent::NoContent)
    }
}
