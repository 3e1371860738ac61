//! Machine-facing HTTP: `/ingest`, `/api` and `/health`, as poem-openapi operations.

pub mod body;
pub mod health;
pub mod ingest;
pub mod problem;
pub mod read;
pub mod security;

use poem_openapi::{OpenApiService, Tags};

#[derive(Tags)]
pub enum ApiTags {
    /// SDK ingest (project API key).
    Ingest,
    /// Reading telemetry (personal access token).
    Telemetry,
    /// Health of the server.
    Operations,
}

pub type Apis = (health::HealthApi, ingest::IngestApi, read::ReadApi);

pub fn service() -> OpenApiService<Apis, ()> {
    OpenApiService::new(
        (health::HealthApi, ingest::IngestApi, read::ReadApi),
        "Telemetry Tracker",
        env!("CARGO_PKG_VERSION"),
    )
    .description(
        "Error tracking, product-analytics events and session telemetry. SDKs send to `/ingest/*` \
         with a project API key; scripts read through `/api/*` with a personal access token.",
    )
}

/// The spec as committed in `openapi/openapi.json`: deterministic and free of hostnames.
pub fn spec_json() -> String {
    service().spec()
}
