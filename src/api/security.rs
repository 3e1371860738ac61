//! Security schemes as the OpenAPI spec shows them.

use crate::service::principal::Credential;
use poem_openapi::auth::{ApiKey, Bearer};
use poem_openapi::SecurityScheme;

/// Project API key as a bearer token: `Authorization: Bearer tt_live_<publicId>_<secret>`.
#[derive(SecurityScheme)]
#[oai(
    rename = "IngestKeyBearer",
    ty = "bearer",
    bearer_format = "tt_live_<publicId>_<secret>"
)]
pub struct IngestKeyBearer(pub Bearer);

/// Project API key in the `X-API-Key` header.
#[derive(SecurityScheme)]
#[oai(
    rename = "IngestKeyHeader",
    ty = "api_key",
    key_name = "X-API-Key",
    key_in = "header"
)]
pub struct IngestKeyHeader(pub ApiKey);

/// Either form of the project API key; `Authorization` wins when both are sent.
/// `Missing` lets the service decide (development mode may accept key-less ingest).
#[derive(SecurityScheme)]
pub enum IngestKey {
    Bearer(IngestKeyBearer),
    Header(IngestKeyHeader),
    #[oai(fallback)]
    Missing,
}

impl IngestKey {
    pub fn value(&self) -> Option<&str> {
        match self {
            IngestKey::Bearer(b) => Some(&b.0.token),
            IngestKey::Header(h) => Some(&h.0.key),
            IngestKey::Missing => None,
        }
    }
}

/// A personal access token (`ttp_…`), or the session token returned by login (`tts_…`).
#[derive(SecurityScheme)]
#[oai(
    rename = "BearerToken",
    ty = "bearer",
    bearer_format = "ttp_<secret> | tts_<secret>"
)]
pub struct BearerToken(pub Bearer);

/// The dashboard's session cookie. Unsafe methods also need a same-origin `Origin`
/// (or `Referer`) or the session's `X-CSRF-Token`.
#[derive(SecurityScheme)]
#[oai(
    rename = "SessionCookie",
    ty = "api_key",
    key_name = "telemetry_session",
    key_in = "cookie"
)]
pub struct SessionCookie(pub ApiKey);

/// Credentials of every `/api` route; `Missing` is answered 401 by the service.
#[derive(SecurityScheme)]
pub enum ApiAuth {
    Bearer(BearerToken),
    Cookie(SessionCookie),
    #[oai(fallback)]
    Missing,
}

impl ApiAuth {
    pub fn credential(&self) -> Credential<'_> {
        match self {
            ApiAuth::Bearer(b) => Credential::Bearer(b.0.token.trim()),
            ApiAuth::Cookie(c) => Credential::Cookie(c.0.key.trim()),
            ApiAuth::Missing => Credential::None,
        }
    }
}
