//! Security schemes as the OpenAPI spec shows them.

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

/// Personal access token: `Authorization: Bearer ttp_…`.
#[derive(SecurityScheme)]
#[oai(
    rename = "PersonalToken",
    ty = "bearer",
    bearer_format = "ttp_<secret>"
)]
pub struct PersonalTokenBearer(pub Bearer);

/// The read API's credentials; `Missing` is answered 401 by the service (unless
/// development reads are allowed).
#[derive(SecurityScheme)]
pub enum ReadAuth {
    Token(PersonalTokenBearer),
    #[oai(fallback)]
    Missing,
}

impl ReadAuth {
    pub fn token(&self) -> Option<&str> {
        match self {
            ReadAuth::Token(t) => Some(&t.0.token),
            ReadAuth::Missing => None,
        }
    }
}
