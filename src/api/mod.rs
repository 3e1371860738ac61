//! Machine-facing HTTP: `/ingest`, `/api` and `/health`, as poem-openapi operations.

pub mod admin;
pub mod alerts;
pub mod analytics;
pub mod auth;
pub mod billing;
pub mod body;
pub mod context;
pub mod errors;
pub mod events;
pub mod health;
pub mod ingest;
pub mod invites;
pub mod json;
pub mod notifications;
pub mod orgs;
pub mod overview;
pub mod problem;
pub mod projects;
pub mod responses;
pub mod security;
pub mod sentry;
pub mod sessions;
pub mod sourcemaps;
pub mod spec;
pub mod telemetry;
pub mod tokens;

use poem_openapi::{OpenApiService, Tags};

#[derive(Tags)]
pub enum ApiTags {
    /// SDK ingest (project API key).
    Ingest,
    /// Reading telemetry (personal access token).
    Telemetry,
    /// Accounts, dashboard sessions and personal access tokens.
    Accounts,
    /// Organizations, members, invites, projects and API keys.
    Organizations,
    /// Health of the server.
    Operations,
    /// Instance administration (administrators only).
    Administration,
    /// Optional Stripe billing (404 while billing is off).
    Billing,
}

pub type Apis = (
    health::HealthApi,
    ingest::IngestApi,
    overview::OverviewApi,
    events::EventsApi,
    errors::ErrorsApi,
    sessions::SessionsApi,
    analytics::AnalyticsApi,
    auth::AuthApi,
    tokens::TokensApi,
    notifications::NotificationsApi,
    orgs::OrgsApi,
    invites::InvitesApi,
    projects::ProjectsApi,
    alerts::AlertsApi,
    sourcemaps::SourcemapsApi,
    // poem-openapi implements tuples of up to 16.
    (admin::AdminApi, billing::BillingApi),
);

pub fn service() -> OpenApiService<Apis, ()> {
    OpenApiService::new(
        (
            health::HealthApi,
            ingest::IngestApi,
            overview::OverviewApi,
            events::EventsApi,
            errors::ErrorsApi,
            sessions::SessionsApi,
            analytics::AnalyticsApi,
            auth::AuthApi,
            tokens::TokensApi,
            notifications::NotificationsApi,
            orgs::OrgsApi,
            invites::InvitesApi,
            projects::ProjectsApi,
            alerts::AlertsApi,
            sourcemaps::SourcemapsApi,
            (admin::AdminApi, billing::BillingApi),
        ),
        "Telemetry Tracker",
        env!("CARGO_PKG_VERSION"),
    )
    .description(
        "Error tracking, product-analytics events and session telemetry. SDKs send to `/ingest/*` \
         with a project API key; the dashboard and scripts use `/api/*` with a session cookie or a bearer token.",
    )
}

pub use spec::spec_json;
