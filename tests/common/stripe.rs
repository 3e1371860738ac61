//! Stripe for billing tests: **localstripe** (PyPI, pinned in
//! tests/stripe/requirements.txt; `.ci/run` installs it into tests/stripe/.venv), a
//! stateful fake Stripe that keeps customers, plans, subscriptions and invoices and
//! sends signed webhooks; and in front of it a small stand-in for the two things
//! localstripe lacks, Checkout and Customer Portal sessions. The stand-in answers
//! `POST /v1/checkout/sessions` and `POST /v1/billing_portal/sessions` with the
//! shapes Stripe documents (`id`, `object`, `url`, …), records what it was asked,
//! and passes every other request through to localstripe.

use poem::http::StatusCode;
use poem::web::Data;
use poem::{handler, post, EndpointExt, Request, Response, Route};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub const SECRET_KEY: &str = "sk_test_telemetry";
pub const WEBHOOK_SECRET: &str = "whsec_telemetry_test";
pub const PRICE_PRO: &str = "price_pro_monthly";
pub const PRICE_BUSINESS: &str = "price_business_monthly";

/// A form as the stand-in received it.
pub type Form = BTreeMap<String, String>;

fn localstripe_bin() -> PathBuf {
    if let Ok(path) = std::env::var("LOCALSTRIPE") {
        return path.into();
    }
    let venv = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/stripe/.venv/bin/localstripe");
    assert!(
        venv.exists(),
        "localstripe is not installed: python3 -m venv tests/stripe/.venv && tests/stripe/.venv/bin/pip install -r tests/stripe/requirements.txt (.ci/run does this)"
    );
    venv
}

#[derive(Default)]
struct Recorded {
    checkouts: Vec<Form>,
    portals: Vec<Form>,
}

struct Shared {
    localstripe: String,
    http: reqwest::Client,
    recorded: Mutex<Recorded>,
}

/// localstripe and the stand-in in front of it, stopped when dropped.
pub struct FakeStripe {
    child: Child,
    /// localstripe itself.
    pub localstripe: String,
    /// The stand-in: what `STRIPE_API_BASE` points at.
    pub base: String,
    shared: Arc<Shared>,
    http: reqwest::Client,
}

impl Drop for FakeStripe {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl FakeStripe {
    /// Starts both, with the PRO and BUSINESS prices created.
    pub async fn start() -> FakeStripe {
        let port = super::process::free_port();
        let child = Command::new(localstripe_bin())
            .args(["--port", &port.to_string(), "--from-scratch"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start localstripe");
        let localstripe = format!("http://127.0.0.1:{port}");
        let http = reqwest::Client::new();
        for _ in 0..200 {
            let up = http
                .get(format!("{localstripe}/v1/customers"))
                .bearer_auth(SECRET_KEY)
                .send()
                .await
                .is_ok_and(|r| r.status().is_success());
            if up {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let shared = Arc::new(Shared {
            localstripe: localstripe.clone(),
            http: http.clone(),
            recorded: Mutex::new(Recorded::default()),
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = Route::new()
            .at("/v1/checkout/sessions", post(checkout))
            .at("/v1/billing_portal/sessions", post(portal))
            .at("/*path", pass_through)
            .data(shared.clone());
        tokio::spawn(async move {
            let acceptor = poem::listener::TcpAcceptor::from_tokio(listener).unwrap();
            let _ = poem::Server::new_with_acceptor(acceptor).run(app).await;
        });
        let stripe = FakeStripe {
            child,
            localstripe,
            base: format!("http://{addr}"),
            shared,
            http,
        };
        for (price, name, amount) in [
            (PRICE_PRO, "Pro", "2900"),
            (PRICE_BUSINESS, "Business", "19900"),
        ] {
            let product = stripe
                .post("/v1/products", &[("name", name), ("type", "service")])
                .await;
            stripe
                .post(
                    "/v1/plans",
                    &[
                        ("id", price),
                        ("product", product["id"].as_str().unwrap()),
                        ("amount", amount),
                        ("currency", "usd"),
                        ("interval", "month"),
                    ],
                )
                .await;
        }
        stripe
    }

    /// The billing settings of a server that talks to this Stripe.
    pub fn configure(&self, c: &mut telemetry_tracker::config::ServeConfig) {
        c.stripe.stripe_secret_key = Some(SECRET_KEY.into());
        c.stripe.stripe_webhook_secret = Some(WEBHOOK_SECRET.into());
        c.stripe.stripe_price_pro = Some(PRICE_PRO.into());
        c.stripe.stripe_price_business = Some(PRICE_BUSINESS.into());
        c.stripe.stripe_api_base = self.base.clone();
    }

    /// localstripe sends its events to `url`, signed with [`WEBHOOK_SECRET`].
    pub async fn send_webhooks_to(&self, url: &str) {
        let res = self
            .http
            .post(format!("{}/_config/webhooks/telemetry", self.localstripe))
            .form(&[("url", url), ("secret", WEBHOOK_SECRET)])
            .send()
            .await
            .unwrap();
        assert!(
            res.status().is_success(),
            "register the webhook: {}",
            res.status()
        );
    }

    async fn call(&self, req: reqwest::RequestBuilder) -> Value {
        let res = req.bearer_auth(SECRET_KEY).send().await.unwrap();
        let status = res.status();
        let body: Value = res.json().await.unwrap_or(Value::Null);
        assert!(status.is_success(), "localstripe answered {status}: {body}");
        body
    }

    pub async fn post(&self, path: &str, form: &[(&str, &str)]) -> Value {
        self.call(
            self.http
                .post(format!("{}{path}", self.localstripe))
                .form(form),
        )
        .await
    }

    pub async fn get(&self, path: &str) -> Value {
        self.call(self.http.get(format!("{}{path}", self.localstripe)))
            .await
    }

    pub async fn delete(&self, path: &str) -> Value {
        self.call(self.http.delete(format!("{}{path}", self.localstripe)))
            .await
    }

    /// A card token (4242… pays).
    pub async fn card(&self, number: &str) -> String {
        let token = self
            .post(
                "/v1/tokens",
                &[
                    ("card[number]", number),
                    ("card[exp_month]", "12"),
                    ("card[exp_year]", "2035"),
                    ("card[cvc]", "123"),
                ],
            )
            .await;
        token["id"].as_str().unwrap().to_string()
    }

    /// What Checkout does once the customer paid: a card on the customer and the
    /// subscription to `price` (localstripe then sends `customer.subscription.created`
    /// and the invoice's events). Returns the subscription.
    pub async fn complete_checkout(&self, customer: &str, price: &str, org_id: &str) -> Value {
        let card = self.card("4242424242424242").await;
        self.post(
            &format!("/v1/customers/{customer}/sources"),
            &[("source", &card)],
        )
        .await;
        self.post(
            "/v1/subscriptions",
            &[
                ("customer", customer),
                ("items[0][plan]", price),
                ("metadata[org_id]", org_id),
            ],
        )
        .await
    }

    pub fn checkouts(&self) -> Vec<Form> {
        self.shared.recorded.lock().unwrap().checkouts.clone()
    }

    pub fn portals(&self) -> Vec<Form> {
        self.shared.recorded.lock().unwrap().portals.clone()
    }
}

/// An event as Stripe would send it, with its `Stripe-Signature` header.
pub fn signed_event(id: &str, kind: &str, created: i64, object: Value) -> (String, String) {
    let body = json!({
        "id": id,
        "object": "event",
        "type": kind,
        "created": created,
        "api_version": "2025-03-31.basil",
        "data": { "object": object },
    })
    .to_string();
    let header =
        telemetry_tracker::stripe::signature::sign(body.as_bytes(), WEBHOOK_SECRET, created);
    (body, header)
}

fn authorized(req: &Request) -> bool {
    req.header("authorization")
        .is_some_and(|a| a.starts_with("Bearer sk_") || a.starts_with("Basic "))
}

fn form_of(body: &[u8]) -> Form {
    form_urlencoded::parse(body).into_owned().collect()
}

fn refuse(status: StatusCode, message: &str) -> Response {
    Response::builder()
        .status(status)
        .content_type("application/json")
        .body(
            json!({ "error": { "type": "invalid_request_error", "message": message } }).to_string(),
        )
}

fn answer(v: Value) -> Response {
    Response::builder()
        .content_type("application/json")
        .body(v.to_string())
}

/// Refuses what Stripe would: an unknown customer.
async fn known_customer(shared: &Shared, form: &Form) -> Result<String, Response> {
    let Some(customer) = form.get("customer") else {
        return Err(refuse(
            StatusCode::BAD_REQUEST,
            "Missing required param: customer.",
        ));
    };
    let found = shared
        .http
        .get(format!("{}/v1/customers/{customer}", shared.localstripe))
        .bearer_auth(SECRET_KEY)
        .send()
        .await
        .is_ok_and(|r| r.status().is_success());
    if !found {
        return Err(refuse(
            StatusCode::BAD_REQUEST,
            &format!("No such customer: '{customer}'"),
        ));
    }
    Ok(customer.clone())
}

/// The form of a session request Stripe would take: authorized, for a known
/// customer.
async fn session_request(
    req: &Request,
    body: poem::Body,
    shared: &Shared,
) -> Result<(Form, String), Response> {
    if !authorized(req) {
        return Err(refuse(StatusCode::UNAUTHORIZED, "Invalid API Key provided"));
    }
    let form = form_of(&body.into_vec().await.unwrap_or_default());
    let customer = known_customer(shared, &form).await?;
    Ok((form, customer))
}

#[handler]
async fn checkout(req: &Request, body: poem::Body, shared: Data<&Arc<Shared>>) -> Response {
    let (form, customer) = match session_request(req, body, &shared).await {
        Ok(asked) => asked,
        Err(refusal) => return refusal,
    };
    let id = format!("cs_test_{}", uuid::Uuid::new_v4().simple());
    let session = json!({
        "id": id,
        "object": "checkout.session",
        "mode": form.get("mode"),
        "customer": customer,
        "client_reference_id": form.get("client_reference_id"),
        "success_url": form.get("success_url"),
        "cancel_url": form.get("cancel_url"),
        "status": "open",
        "payment_status": "unpaid",
        "url": format!("https://checkout.stripe.com/c/pay/{id}"),
        "expires_at": unix_now() + 86_400,
    });
    shared.recorded.lock().unwrap().checkouts.push(form);
    answer(session)
}

#[handler]
async fn portal(req: &Request, body: poem::Body, shared: Data<&Arc<Shared>>) -> Response {
    let (form, customer) = match session_request(req, body, &shared).await {
        Ok(asked) => asked,
        Err(refusal) => return refusal,
    };
    let id = format!("bps_{}", uuid::Uuid::new_v4().simple());
    let session = json!({
        "id": id,
        "object": "billing_portal.session",
        "customer": customer,
        "return_url": form.get("return_url"),
        "configuration": "bpc_default",
        "url": format!("https://billing.stripe.com/p/session/{id}"),
    });
    shared.recorded.lock().unwrap().portals.push(form);
    answer(session)
}

#[handler]
async fn pass_through(req: &Request, body: poem::Body, shared: Data<&Arc<Shared>>) -> Response {
    let target = format!(
        "{}{}",
        shared.localstripe,
        req.uri().path_and_query().map_or("/", |p| p.as_str())
    );
    let mut out = shared.http.request(req.method().clone(), target);
    for name in ["authorization", "content-type", "stripe-version"] {
        if let Some(v) = req.header(name) {
            out = out.header(name, v);
        }
    }
    let res = match out
        .body(body.into_vec().await.unwrap_or_default())
        .send()
        .await
    {
        Ok(r) => r,
        Err(e) => return refuse(StatusCode::BAD_GATEWAY, &e.to_string()),
    };
    let status = res.status();
    let bytes = res.bytes().await.unwrap_or_default();
    Response::builder()
        .status(status)
        .content_type("application/json")
        .body(bytes.to_vec())
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}
