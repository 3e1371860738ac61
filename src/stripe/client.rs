//! The few calls billing makes to Stripe's API: a customer, a Checkout session, a
//! Customer Portal session. Form-encoded requests with the secret key, bounded by
//! timeouts; the key never appears in an error or a log line.

use crate::config::Billing;
use serde_json::Value;
use std::time::Duration;

/// The API version the requests are written for.
const STRIPE_VERSION: &str = "2025-03-31.basil";

#[derive(Debug, thiserror::Error)]
pub enum StripeError {
    #[error("Stripe could not be reached ({0})")]
    Unreachable(String),
    #[error("Stripe refused the request ({status}): {message}")]
    Refused { status: u16, message: String },
}

#[derive(Clone)]
pub struct StripeClient {
    http: reqwest::Client,
    billing: Billing,
}

impl StripeClient {
    pub fn new(billing: Billing) -> StripeClient {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(20))
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("telemetry-tracker/", env!("CARGO_PKG_VERSION")))
            .build()
            .expect("HTTP client");
        StripeClient { http, billing }
    }

    pub fn billing(&self) -> &Billing {
        &self.billing
    }

    /// A customer for an organization; its id is kept and reused.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn create_customer(
        &self,
        email: &str,
        org_name: &str,
        org_id: &str,
    ) -> Result<String, StripeError> {
        let answer = self
            .post(
                "/v1/customers",
                &[
                    ("email", email),
                    ("name", org_name),
                    ("metadata[org_id]", org_id),
                ],
            )
            .await?;
        id_of(&answer)
    }

    /// A Checkout session subscribing `customer` to `price`; answers its URL.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn create_checkout_session(
        &self,
        customer: &str,
        price: &str,
        org_id: &str,
        success_url: &str,
        cancel_url: &str,
    ) -> Result<String, StripeError> {
        let answer = self
            .post(
                "/v1/checkout/sessions",
                &[
                    ("mode", "subscription"),
                    ("customer", customer),
                    ("line_items[0][price]", price),
                    ("line_items[0][quantity]", "1"),
                    ("client_reference_id", org_id),
                    ("subscription_data[metadata][org_id]", org_id),
                    ("success_url", success_url),
                    ("cancel_url", cancel_url),
                ],
            )
            .await?;
        url_of(&answer)
    }

    /// A Customer Portal session for `customer`; answers its URL.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn create_portal_session(
        &self,
        customer: &str,
        return_url: &str,
    ) -> Result<String, StripeError> {
        let answer = self
            .post(
                "/v1/billing_portal/sessions",
                &[("customer", customer), ("return_url", return_url)],
            )
            .await?;
        url_of(&answer)
    }

    async fn post(&self, path: &str, form: &[(&str, &str)]) -> Result<Value, StripeError> {
        let response = self
            .http
            .post(format!("{}{path}", self.billing.api_base))
            .bearer_auth(&self.billing.secret_key)
            .header("Stripe-Version", STRIPE_VERSION)
            .form(form)
            .send()
            .await
            .map_err(|e| StripeError::Unreachable(reason(e)))?;
        let status = response.status().as_u16();
        let bytes = response
            .bytes()
            .await
            .map_err(|e| StripeError::Unreachable(reason(e)))?;
        let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        if (200..300).contains(&status) {
            return Ok(body);
        }
        let message = body["error"]["message"]
            .as_str()
            .map(|m| m.chars().take(300).collect())
            .unwrap_or_else(|| format!("HTTP {status}"));
        if status >= 500 {
            return Err(StripeError::Unreachable(format!(
                "HTTP {status}: {message}"
            )));
        }
        Err(StripeError::Refused { status, message })
    }
}

/// What went wrong with a request, without its URL (no secrets are in it, but the
/// operator's Stripe base need not be in answers either).
fn reason(e: reqwest::Error) -> String {
    if e.is_timeout() {
        "timed out".into()
    } else if e.is_connect() {
        "connection failed".into()
    } else {
        e.without_url().to_string()
    }
}

fn id_of(v: &Value) -> Result<String, StripeError> {
    field(v, "id")
}

fn url_of(v: &Value) -> Result<String, StripeError> {
    field(v, "url")
}

fn field(v: &Value, name: &str) -> Result<String, StripeError> {
    v[name]
        .as_str()
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .ok_or_else(|| StripeError::Refused {
            status: 200,
            message: format!("the answer has no `{name}`"),
        })
}
