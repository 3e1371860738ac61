//! One module per section; each holds its view-models, views and handlers.

pub mod auth;
pub mod errors;
pub mod events;
pub mod notifications;
pub mod onboarding;
pub mod overview;
pub mod performance;
pub mod sessions;
pub mod settings;
