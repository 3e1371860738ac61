//! Orchestration: authorize → domain logic → store → side effects. Shared by the
//! HTTP API, the CLI and the jobs.

pub mod accounts;
pub mod admin;
pub mod alert_watch;
pub mod alerts;
pub mod analytics;
pub mod auth;
pub mod backups;
pub mod billing;
pub mod deliver;
pub mod demo;
pub mod dispatch;
pub mod errors;
pub mod events;
pub mod health;
pub mod ingest;
pub mod invites;
pub mod notifications;
pub mod orgs;
pub mod period;
pub mod preferences;
pub mod principal;
pub mod projects;
pub mod read;
pub mod retention;
pub mod sentry;
pub mod sessions;
pub mod sourcemaps;
pub mod upgrade;
