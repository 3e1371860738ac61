use super::body::JsonBody;
use super::problem::ApiResult;
use super::security::IngestKey;
use super::ApiTags;
use crate::ingest::wire::{BatchIn, ErrorIn, EventIn, SessionIn};
use crate::service::ingest::{authenticate, ingest, Payload};
use crate::state::SharedState;
use poem::web::Data;
use poem_openapi::{ApiResponse, OpenApi};
use serde::de::DeserializeOwned;

/// Success of an ingest request: stored durably, nothing in the body.
#[derive(ApiResponse)]
pub enum Accepted {
    /// Stored (committed) before this answer.
    #[oai(status = 204)]
    NoContent,
}

pub struct IngestApi;

async fn accept<T: DeserializeOwned>(
    state: &SharedState,
    key: IngestKey,
    body: JsonBody<T>,
    wrap: fn(T) -> Payload,
) -> ApiResult<Accepted> {
    // Boxed, so the (large) pipeline future is not copied through every layer of
    // the HTTP stack on the hot path.
    Box::pin(async move {
        let caller = authenticate(state, key.value()).await?;
        let payload = wrap(body.parse()?);
        ingest(state, caller, payload).await?;
        Ok(Accepted::NoContent)
    })
    .await
}

/// Ingest routes used by the SDKs. JSON is also accepted as `text/plain` for
/// beacon-style senders. Every success is `204` after the data is committed.
#[OpenApi(tag = "ApiTags::Ingest")]
impl IngestApi {
    /// Record one event.
    #[oai(path = "/ingest/event", method = "post")]
    async fn event(
        &self,
        state: Data<&SharedState>,
        key: IngestKey,
        body: JsonBody<EventIn>,
    ) -> ApiResult<Accepted> {
        accept(&state, key, body, Payload::Event).await
    }

    /// Record up to 100 events, all or nothing. An empty batch is a no-op.
    #[oai(path = "/ingest/batch", method = "post")]
    async fn batch(
        &self,
        state: Data<&SharedState>,
        key: IngestKey,
        body: JsonBody<BatchIn>,
    ) -> ApiResult<Accepted> {
        accept(&state, key, body, Payload::Batch).await
    }

    /// Record one error; it is grouped by fingerprint.
    #[oai(path = "/ingest/error", method = "post")]
    async fn error(
        &self,
        state: Data<&SharedState>,
        key: IngestKey,
        body: JsonBody<ErrorIn>,
    ) -> ApiResult<Accepted> {
        accept(&state, key, body, Payload::Error).await
    }

    /// Start, update (identify) or end a session.
    #[oai(path = "/ingest/session", method = "post")]
    async fn session(
        &self,
        state: Data<&SharedState>,
        key: IngestKey,
        body: JsonBody<SessionIn>,
    ) -> ApiResult<Accepted> {
        accept(&state, key, body, Payload::Session).await
    }
}
