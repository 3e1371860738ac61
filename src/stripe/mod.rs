//! Stripe, for optional billing (docs/BILLING.md): the API client and webhook
//! signatures (the events themselves are read in `domain::stripe_event`).

pub mod client;
pub mod signature;

pub use client::{StripeClient, StripeError};
