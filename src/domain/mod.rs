//! Pure logic: no IO, no clock of its own.

pub mod alert_message;
pub mod alerts;
pub mod billing;
pub mod dsn;
pub mod grouping;
pub mod identity;
pub mod ids;
pub mod notify;
pub mod plans;
pub mod rbac;
pub mod sessions;
pub mod slug;
pub mod sourcemaps;
pub mod stripe_event;
pub mod timerange;
pub mod timeutil;
pub mod vitals;
