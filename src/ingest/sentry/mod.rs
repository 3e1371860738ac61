//! Sentry SDK wire formats: envelopes, events, and where the key is.

pub mod auth;
pub mod envelope;
pub mod event;
pub mod performance;
pub mod session;
