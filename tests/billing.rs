//! Optional Stripe billing (issue 18, docs/BILLING.md) over HTTP, against
//! localstripe and a stand-in for Checkout and the Customer Portal
//! (tests/common/stripe.rs): checkout to PRO with its limits in force at once,
//! upgrade, downgrade, cancellation, a failed payment and its recovery (banner and
//! mail for owners only), events out of order and replayed, bad and stale
//! signatures, owners only, and billing off meaning no routes and no page.

mod common;

use common::smtp::SmtpSink;
use common::stripe::{signed_event, FakeStripe, PRICE_BUSINESS, PRICE_PRO};
use common::web::Web;
use common::{Backend, TestApp};
use serde_json::{json, Value};
use std::time::Duration;
use telemetry_tracker::domain::rbac::Role;
use telemetry_tracker::service::accounts;

const PASSWORD: &str = "correct horse battery";
const WEBHOOK: &str = "/api/billing/stripe/webhook";

struct Owner {
    token: String,
    org_id: String,
}

async fn start(backend: Backend, stripe: &FakeStripe, smtp: Option<&SmtpSink>) -> TestApp {
    let app = TestApp::start_with(backend, |c| {
        stripe.configure(c);
        c.smtp_url = smtp.map(SmtpSink::url);
    })
    .await;
    stripe.send_webhooks_to(&app.url(WEBHOOK)).await;
    app
}

/// Signs up through the API as a new user would (the first one is signed in at
/// once), with an organization of their own.
async fn sign_up(app: &TestApp, email: &str) -> Owner {
    let res = app
        .http
        .post(app.url("/api/auth/register"))
        .json(&json!({ "email": email, "password": PASSWORD, "org_name": "Acme" }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201, "register {email}");
    let token = res.json::<Value>().await.unwrap()["token"]
        .as_str()
        .unwrap()
        .to_string();
    let orgs = ok(app, "GET", "/api/orgs", &token, None).await;
    Owner {
        token,
        org_id: orgs[0]["id"].as_str().unwrap().to_string(),
    }
}

async fn ok(app: &TestApp, method: &str, path: &str, token: &str, body: Option<Value>) -> Value {
    let (status, body) = app.call(method, path, token, body).await;
    assert!(
        (200..300).contains(&status),
        "{method} {path}: {status} {body}"
    );
    body
}

async fn billing(app: &TestApp, owner: &Owner) -> Value {
    ok(
        app,
        "GET",
        &format!("/api/orgs/{}/billing", owner.org_id),
        &owner.token,
        None,
    )
    .await
}

/// Polls the billing until `done` holds (localstripe sends its events about a
/// second after the change).
async fn billing_until(app: &TestApp, owner: &Owner, done: impl Fn(&Value) -> bool) -> Value {
    let mut last = Value::Null;
    for _ in 0..150 {
        last = billing(app, owner).await;
        if done(&last) {
            return last;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("billing never reached the expected state: {last}");
}

async fn deliver(app: &TestApp, (body, signature): &(String, String)) -> (u16, Value) {
    let res = app
        .http
        .post(app.url(WEBHOOK))
        .header("Content-Type", "application/json; charset=utf-8")
        .header("Stripe-Signature", signature)
        .body(body.clone())
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

async fn create_project(app: &TestApp, owner: &Owner, name: &str) -> (u16, Value) {
    app.call(
        "POST",
        &format!("/api/orgs/{}/projects", owner.org_id),
        &owner.token,
        Some(json!({ "name": name })),
    )
    .await
}

async fn checkout(app: &TestApp, owner: &Owner, plan: &str) -> (u16, Value) {
    app.call(
        "POST",
        &format!("/api/orgs/{}/billing/checkout", owner.org_id),
        &owner.token,
        Some(json!({ "plan": plan })),
    )
    .await
}

/// An event about the subscription as localstripe now holds it.
async fn subscription_event(
    stripe: &FakeStripe,
    sub_id: &str,
    kind: &str,
    created: i64,
) -> (String, String) {
    let sub = stripe.get(&format!("/v1/subscriptions/{sub_id}")).await;
    signed_event(
        &format!("evt_{}", uuid::Uuid::new_v4().simple()),
        kind,
        created,
        sub,
    )
}

/// Checkout through the API, then what Stripe does once the owner paid: the
/// subscription (its `customer.subscription.created` comes from localstripe) and
/// `checkout.session.completed`. Answers the subscription's id.
async fn subscribe(app: &TestApp, stripe: &FakeStripe, owner: &Owner, price: &str) -> String {
    let plan = if price == PRICE_PRO {
        "PRO"
    } else {
        "BUSINESS"
    };
    let (status, answer) = checkout(app, owner, plan).await;
    assert_eq!(status, 200, "checkout: {answer}");
    let asked = stripe.checkouts().pop().unwrap();
    let customer = asked["customer"].clone();
    let sub = stripe
        .complete_checkout(&customer, price, &owner.org_id)
        .await;
    let sub_id = sub["id"].as_str().unwrap().to_string();
    let completed = signed_event(
        &format!("evt_{}", uuid::Uuid::new_v4().simple()),
        "checkout.session.completed",
        now(),
        json!({
            "id": "cs_test_done", "object": "checkout.session", "mode": "subscription",
            "client_reference_id": owner.org_id, "customer": customer, "subscription": sub_id,
            "status": "complete", "payment_status": "paid",
        }),
    );
    assert_eq!(deliver(app, &completed).await.0, 200);
    billing_until(app, owner, |b| {
        b["plan"] == plan && b["subscription_status"] == "active"
    })
    .await;
    sub_id
}

async fn checkout_upgrade_downgrade_and_cancel(backend: Backend) {
    let stripe = FakeStripe::start().await;
    let app = start(backend, &stripe, None).await;
    let owner = sign_up(&app, "owner@example.com").await;

    // New organizations start on FREE, with FREE's limits.
    let before = billing(&app, &owner).await;
    assert_eq!(before["plan"], "FREE");
    assert_eq!(before["subscription_status"], Value::Null);
    assert_eq!(before["usage"]["limit"], 250_000);
    let (status, project) = create_project(&app, &owner, "web").await;
    assert_eq!(status, 201, "{project}");
    let (status, refusal) = create_project(&app, &owner, "api").await;
    assert_eq!(status, 403, "FREE has one project: {refusal}");
    let project_id = project["id"].as_str().unwrap().to_string();
    let key = ok(
        &app,
        "POST",
        &format!("/api/projects/{project_id}/keys"),
        &owner.token,
        Some(json!({})),
    )
    .await;
    let key = key["key"].as_str().unwrap().to_string();
    for n in 1..=5 {
        app.ingest_ok(
            "/ingest/event",
            &key,
            &json!({ "app": format!("app-{n}"), "name": "e", "session_id": "s" }),
        )
        .await;
    }
    let sixth = json!({ "app": "app-6", "name": "e", "session_id": "s" });
    assert_eq!(
        app.post_json("/ingest/event", &key, &sixth).await.status(),
        403,
        "FREE allows 5 apps"
    );

    // Checkout: a customer made once and reused, the org as client_reference_id,
    // the way back to the dashboard.
    let (status, first) = checkout(&app, &owner, "PRO").await;
    assert_eq!(status, 200, "{first}");
    assert!(first["url"]
        .as_str()
        .unwrap()
        .starts_with("https://checkout.stripe.com/"));
    let (_, again) = checkout(&app, &owner, "BUSINESS").await;
    assert!(again["url"].is_string());
    let asked = stripe.checkouts();
    assert_eq!(asked.len(), 2);
    assert!(asked[0]["customer"].starts_with("cus_"));
    assert_eq!(
        asked[0]["customer"], asked[1]["customer"],
        "the customer is reused"
    );
    assert_eq!(asked[0]["line_items[0][price]"], PRICE_PRO);
    assert_eq!(asked[1]["line_items[0][price]"], PRICE_BUSINESS);
    assert_eq!(asked[0]["client_reference_id"], owner.org_id);
    assert_eq!(asked[0]["mode"], "subscription");
    assert!(asked[0]["success_url"].contains("/settings/billing"));
    assert!(asked[0]["cancel_url"].contains("/settings/billing"));
    let customer = stripe
        .get(&format!("/v1/customers/{}", asked[0]["customer"]))
        .await;
    assert_eq!(customer["email"], "owner@example.com");

    // Paid: PRO, and its limits at once.
    let sub_id = subscribe(&app, &stripe, &owner, PRICE_PRO).await;
    let pro = billing(&app, &owner).await;
    assert!(pro["current_period_end"].is_string(), "{pro}");
    assert_eq!(pro["usage"]["limit"], 5_000_000);
    assert_eq!(
        create_project(&app, &owner, "api").await.0,
        201,
        "PRO has ten projects"
    );
    app.ingest_ok("/ingest/event", &key, &sixth).await;
    let (status, refusal) = checkout(&app, &owner, "BUSINESS").await;
    assert_eq!(status, 409, "already subscribed: {refusal}");
    let (status, refusal) = app
        .call(
            "DELETE",
            &format!("/api/orgs/{}", owner.org_id),
            &owner.token,
            None,
        )
        .await;
    assert_eq!(
        status, 409,
        "not deleted while Stripe charges for it: {refusal}"
    );

    // The change is audited with the Stripe event that made it.
    let audit = ok(
        &app,
        "GET",
        &format!("/api/orgs/{}/audit-log", owner.org_id),
        &owner.token,
        None,
    )
    .await;
    let plan_changes: Vec<&Value> = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["action"] == "billing.plan")
        .collect();
    assert_eq!(plan_changes.len(), 1, "{audit}");
    assert_eq!(plan_changes[0]["details"]["to"], "PRO");
    assert!(plan_changes[0]["details"]["stripe_event"]
        .as_str()
        .unwrap()
        .starts_with("evt_"));

    // Upgrade and downgrade in the portal: localstripe changes the subscription,
    // the event Stripe sends is built from it.
    let item = stripe.get(&format!("/v1/subscriptions/{sub_id}")).await["items"]["data"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    // Stripe's `created` has whole seconds; each change here is a second later.
    let tick = || tokio::time::sleep(Duration::from_millis(1_050));
    for (price, plan) in [(PRICE_BUSINESS, "BUSINESS"), (PRICE_PRO, "PRO")] {
        tick().await;
        stripe
            .post(
                &format!("/v1/subscriptions/{sub_id}"),
                &[("items[0][id]", &item), ("items[0][plan]", price)],
            )
            .await;
        let event =
            subscription_event(&stripe, &sub_id, "customer.subscription.updated", now()).await;
        assert_eq!(deliver(&app, &event).await.0, 200);
        assert_eq!(billing(&app, &owner).await["plan"], plan);
    }
    tick().await;
    stripe
        .post(
            &format!("/v1/subscriptions/{sub_id}"),
            &[("cancel_at_period_end", "true")],
        )
        .await;
    let event = subscription_event(&stripe, &sub_id, "customer.subscription.updated", now()).await;
    deliver(&app, &event).await;
    let ending = billing(&app, &owner).await;
    assert_eq!(
        (
            ending["plan"].as_str(),
            ending["cancel_at_period_end"].as_bool()
        ),
        (Some("PRO"), Some(true))
    );

    // The portal, for the same customer.
    let portal = ok(
        &app,
        "POST",
        &format!("/api/orgs/{}/billing/portal", owner.org_id),
        &owner.token,
        None,
    )
    .await;
    assert!(portal["url"]
        .as_str()
        .unwrap()
        .starts_with("https://billing.stripe.com/"));
    let asked = stripe.portals();
    assert_eq!(asked[0]["customer"], stripe.checkouts()[0]["customer"]);
    assert!(asked[0]["return_url"].contains("/settings/billing"));

    // Canceled at once: localstripe sends customer.subscription.deleted.
    tick().await;
    stripe.delete(&format!("/v1/subscriptions/{sub_id}")).await;
    let free = billing_until(&app, &owner, |b| b["plan"] == "FREE").await;
    assert_eq!(free["subscription_status"], "canceled");
    assert_eq!(
        create_project(&app, &owner, "third").await.0,
        403,
        "FREE again"
    );
    let (status, _) = app
        .call(
            "DELETE",
            &format!("/api/orgs/{}", owner.org_id),
            &owner.token,
            None,
        )
        .await;
    assert_eq!(status, 204, "deleted once the subscription ended");
}

async fn payment_failed_and_recovered(backend: Backend) {
    let stripe = FakeStripe::start().await;
    let smtp = SmtpSink::start();
    let app = start(backend, &stripe, Some(&smtp)).await;
    let owner = sign_up(&app, "owner@example.com").await;
    create_project(&app, &owner, "web").await;
    let editor = accounts::create_user(
        &app.state.db,
        &app.state.clock,
        "editor@example.com",
        PASSWORD,
        None,
    )
    .await
    .unwrap();
    app.state
        .db
        .add_membership(&owner.org_id, &editor.user.id, Role::Editor.as_str(), 0)
        .await
        .unwrap();
    let sub_id = subscribe(&app, &stripe, &owner, PRICE_PRO).await;
    let invoice_id = stripe.get(&format!("/v1/subscriptions/{sub_id}")).await["latest_invoice"]
        .as_str()
        .unwrap()
        .to_string();
    let invoice = stripe.get(&format!("/v1/invoices/{invoice_id}")).await;
    let t = now();
    let failed = signed_event(
        "evt_payment_failed",
        "invoice.payment_failed",
        t,
        invoice.clone(),
    );
    let (status, receipt) = deliver(&app, &failed).await;
    assert_eq!(
        (status, receipt["processed"].as_bool()),
        (200, Some(true)),
        "{receipt}"
    );
    let due = billing(&app, &owner).await;
    assert_eq!(
        (due["past_due"].as_bool(), due["plan"].as_str()),
        (Some(true), Some("PRO"))
    );

    // The owners are told by mail and by a banner; the editor sees none.
    let payment_mails = || {
        smtp.messages_to("owner@example.com")
            .into_iter()
            .filter(|m| m.subject().contains("Payment failed for Acme"))
            .collect::<Vec<_>>()
    };
    for _ in 0..100 {
        if !payment_mails().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mail = payment_mails().pop().expect("the owner is mailed");
    assert!(mail.text_part().unwrap().contains("/settings/billing"));
    let owner_web = Web::new(&app.base);
    owner_web.log_in("owner@example.com", PASSWORD).await;
    assert!(owner_web
        .get_ok("/")
        .await
        .has("The latest payment for Acme failed"));
    let billing_page = owner_web.get_ok("/settings/billing").await;
    assert!(billing_page.has("The latest payment failed"));
    let editor_web = Web::new(&app.base);
    editor_web.log_in("editor@example.com", PASSWORD).await;
    assert!(!editor_web.get_ok("/").await.has("latest payment"));
    assert!(smtp
        .messages_to("editor@example.com")
        .iter()
        .all(|m| !m.subject().contains("Payment")));

    // A replay changes nothing and mails nobody again.
    let (status, receipt) = deliver(&app, &failed).await;
    assert_eq!((status, receipt["processed"].as_bool()), (200, Some(false)));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(payment_mails().len(), 1);

    // Paid: the mark goes; a failure created earlier, arriving late, changes nothing.
    let paid = signed_event("evt_paid", "invoice.paid", t + 1, invoice.clone());
    assert_eq!(deliver(&app, &paid).await.0, 200);
    let late = signed_event(
        "evt_late_failure",
        "invoice.payment_failed",
        t - 30,
        invoice,
    );
    assert_eq!(deliver(&app, &late).await.0, 200);
    assert_eq!(billing(&app, &owner).await["past_due"], false);
    assert!(!owner_web.get_ok("/").await.has("The latest payment for"));
}

async fn events_in_any_order_once_and_signed(backend: Backend) {
    let stripe = FakeStripe::start().await;
    let app = start(backend, &stripe, None).await;
    let owner = sign_up(&app, "owner@example.com").await;
    let t = now();
    let sub = |status: &str, price: &str| {
        json!({
            "id": "sub_handmade", "object": "subscription", "customer": "cus_handmade",
            "status": status, "cancel_at_period_end": false, "metadata": { "org_id": owner.org_id },
            "items": { "data": [{ "price": { "id": price }, "current_period_end": t + 86_400 }] },
        })
    };
    // The update (created later) arrives before the creation: the update wins.
    let updated = signed_event(
        "evt_updated",
        "customer.subscription.updated",
        t,
        sub("active", PRICE_BUSINESS),
    );
    let created = signed_event(
        "evt_created",
        "customer.subscription.created",
        t - 5,
        sub("active", PRICE_PRO),
    );
    assert_eq!(deliver(&app, &updated).await.0, 200);
    let (status, receipt) = deliver(&app, &created).await;
    assert_eq!(
        (status, receipt["outcome"].as_str()),
        (200, Some("older than the state applied"))
    );
    assert_eq!(billing(&app, &owner).await["plan"], "BUSINESS");

    // Bad signatures change nothing: another secret, a stale timestamp, none at all,
    // a body other than the one signed.
    let deleted = signed_event(
        "evt_deleted",
        "customer.subscription.deleted",
        t + 1,
        sub("canceled", PRICE_BUSINESS),
    );
    let forged = (
        deleted.0.clone(),
        telemetry_tracker::stripe::signature::sign(deleted.0.as_bytes(), "whsec_other", t + 1),
    );
    let (status, refusal) = deliver(&app, &forged).await;
    assert_eq!(status, 400);
    assert!(
        refusal["error"].as_str().unwrap().contains("signature"),
        "{refusal}"
    );
    let stale_at = now() - 301;
    let stale = (
        deleted.0.clone(),
        telemetry_tracker::stripe::signature::sign(
            deleted.0.as_bytes(),
            common::stripe::WEBHOOK_SECRET,
            stale_at,
        ),
    );
    let (status, refusal) = deliver(&app, &stale).await;
    assert_eq!(status, 400);
    assert!(
        refusal["error"].as_str().unwrap().contains("5 minutes"),
        "{refusal}"
    );
    let tampered = (deleted.0.replace("canceled", "active"), deleted.1.clone());
    assert_eq!(deliver(&app, &tampered).await.0, 400);
    let unsigned = app
        .http
        .post(app.url(WEBHOOK))
        .header("Content-Type", "application/json")
        .body(deleted.0.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(unsigned.status(), 400);
    assert_eq!(billing(&app, &owner).await["plan"], "BUSINESS");

    // Correctly signed (among other v1 values, as while a secret is rolled), the
    // same event is processed: the refusals recorded nothing.
    let rolled = (
        deleted.0.clone(),
        format!("{},v1={}", deleted.1, "0".repeat(64)),
    );
    let (status, receipt) = deliver(&app, &rolled).await;
    assert_eq!(
        (status, receipt["processed"].as_bool()),
        (200, Some(true)),
        "{receipt}"
    );
    assert_eq!(billing(&app, &owner).await["plan"], "FREE");

    // Replays are acknowledged and change nothing, whatever came since.
    let (status, receipt) = deliver(&app, &updated).await;
    assert_eq!((status, receipt["processed"].as_bool()), (200, Some(false)));
    assert_eq!(billing(&app, &owner).await["plan"], "FREE");
    // Events billing does not use are acknowledged.
    let other = signed_event(
        "evt_other",
        "customer.created",
        t,
        json!({ "id": "cus_handmade", "object": "customer" }),
    );
    let (status, receipt) = deliver(&app, &other).await;
    assert_eq!(
        (status, receipt["outcome"].as_str()),
        (200, Some("ignored"))
    );
    // Correctly signed but not an event.
    let junk = (
        "[1,2]".to_string(),
        telemetry_tracker::stripe::signature::sign(b"[1,2]", common::stripe::WEBHOOK_SECRET, now()),
    );
    assert_eq!(deliver(&app, &junk).await.0, 400);
}

async fn owners_only(backend: Backend) {
    let stripe = FakeStripe::start().await;
    let app = start(backend, &stripe, None).await;
    let owner = sign_up(&app, "owner@example.com").await;
    let outsider = app.seed("outsider").await;
    for (role, name) in [(Role::Editor, "editor"), (Role::Viewer, "viewer")] {
        let member = app.seed(name).await;
        app.state
            .db
            .add_membership(&owner.org_id, &member.user_id, role.as_str(), 0)
            .await
            .unwrap();
        for (method, path, body) in [
            ("GET", "billing", None),
            ("POST", "billing/checkout", Some(json!({ "plan": "PRO" }))),
            ("POST", "billing/portal", None),
        ] {
            let url = format!("/api/orgs/{}/{path}", owner.org_id);
            let (status, refusal) = app.call(method, &url, &member.token, body.clone()).await;
            assert_eq!(status, 403, "{method} {path} as {role}: {refusal}");
            assert!(refusal["error"].as_str().unwrap().contains("OWNER"));
            let (status, _) = app.call(method, &url, &outsider.token, body).await;
            assert_eq!(status, 404, "{method} {path} from another organization");
        }
    }
    let (status, refusal) = checkout(&app, &owner, "FREE").await;
    assert_eq!(status, 400, "{refusal}");
    let (status, refusal) = app
        .call(
            "POST",
            &format!("/api/orgs/{}/billing/portal", owner.org_id),
            &owner.token,
            None,
        )
        .await;
    assert_eq!(
        status, 409,
        "no customer before the first checkout: {refusal}"
    );

    // New organizations start on FREE; the owner finds Billing in the settings.
    let created = ok(
        &app,
        "POST",
        "/api/orgs",
        &owner.token,
        Some(json!({ "name": "Second" })),
    )
    .await;
    assert_eq!(created["plan"], "FREE");
    let web = Web::new(&app.base);
    web.log_in("owner@example.com", PASSWORD).await;
    create_project(&app, &owner, "web").await;
    let page = web.get_ok("/settings/billing").await;
    assert!(
        page.has("Choose PRO") && page.has("Choose BUSINESS"),
        "{}",
        page.body
    );
    assert!(web.get_ok("/settings/profile").await.has(">Billing<"));
}

async fn billing_off_has_no_routes(backend: Backend) {
    let app = TestApp::start(backend).await;
    let seed = app.seed("solo").await;
    let org_id = ok(&app, "GET", "/api/orgs", &seed.token, None).await[0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    for (method, path, body) in [
        ("GET", format!("/api/orgs/{org_id}/billing"), None),
        (
            "POST",
            format!("/api/orgs/{org_id}/billing/checkout"),
            Some(json!({ "plan": "PRO" })),
        ),
        ("POST", format!("/api/orgs/{org_id}/billing/portal"), None),
    ] {
        let (status, refusal) = app.call(method, &path, &seed.token, body).await;
        assert_eq!(status, 404, "{method} {path}");
        assert!(refusal["error"]
            .as_str()
            .unwrap()
            .contains("billing is not enabled"));
    }
    let event = signed_event(
        "evt_1",
        "customer.subscription.created",
        now(),
        json!({ "id": "sub_1" }),
    );
    assert_eq!(deliver(&app, &event).await.0, 404);
    let created = ok(
        &app,
        "POST",
        "/api/orgs",
        &seed.token,
        Some(json!({ "name": "Another" })),
    )
    .await;
    assert_eq!(created["plan"], "SELF_HOSTED");
    let web = Web::new(&app.base);
    web.log_in(&seed.email, "correct horse battery").await;
    assert!(!web.get_ok("/settings/profile").await.has(">Billing<"));
    assert_eq!(web.get("/settings/billing").await.status, 404);
}

/// A subscription event about a customer no organization has yet (Checkout made
/// it) waits, and applies once `checkout.session.completed` links the customer.
async fn an_event_before_checkout_waits_for_it(backend: Backend) {
    let stripe = FakeStripe::start().await;
    let app = start(backend, &stripe, None).await;
    let owner = sign_up(&app, "owner@example.com").await;
    let t = now();
    let created = signed_event(
        "evt_early",
        "customer.subscription.created",
        t,
        json!({
            "id": "sub_early", "object": "subscription", "customer": "cus_made_by_checkout",
            "status": "active", "cancel_at_period_end": false,
            "items": { "data": [{ "price": { "id": PRICE_BUSINESS }, "current_period_end": t + 86_400 }] },
        }),
    );
    let (status, receipt) = deliver(&app, &created).await;
    assert_eq!(
        (status, receipt["outcome"].as_str()),
        (200, Some("waiting for its organization")),
        "{receipt}"
    );
    assert_eq!(billing(&app, &owner).await["plan"], "FREE");
    let completed = signed_event(
        "evt_completed",
        "checkout.session.completed",
        t + 1,
        json!({
            "id": "cs_1", "object": "checkout.session", "client_reference_id": owner.org_id,
            "customer": "cus_made_by_checkout", "subscription": "sub_early", "status": "complete",
        }),
    );
    assert_eq!(deliver(&app, &completed).await.0, 200);
    let after = billing(&app, &owner).await;
    assert_eq!(
        (
            after["plan"].as_str(),
            after["subscription_status"].as_str()
        ),
        (Some("BUSINESS"), Some("active")),
        "{after}"
    );
    // Applied once: a retry of the early event is a replay now.
    let (_, receipt) = deliver(&app, &created).await;
    assert_eq!(receipt["processed"], false);
}

/// Another process serving the same database applies the new plan's limits within
/// a second of the webhook reaching this one.
async fn a_plan_change_reaches_every_process(backend: Backend) {
    let stripe = FakeStripe::start().await;
    let app = start(backend, &stripe, None).await;
    let owner = sign_up(&app, "owner@example.com").await;
    let (_, project) = create_project(&app, &owner, "web").await;
    let key = ok(
        &app,
        "POST",
        &format!("/api/projects/{}/keys", project["id"].as_str().unwrap()),
        &owner.token,
        Some(json!({})),
    )
    .await;
    let key = key["key"].as_str().unwrap().to_string();
    let other = common::process::Server::start(
        &app.db,
        &[
            ("STRIPE_SECRET_KEY", common::stripe::SECRET_KEY),
            ("STRIPE_WEBHOOK_SECRET", common::stripe::WEBHOOK_SECRET),
            ("STRIPE_PRICE_PRO", PRICE_PRO),
            ("STRIPE_PRICE_BUSINESS", PRICE_BUSINESS),
            ("STRIPE_API_BASE", &stripe.base),
        ],
    )
    .await;
    let send = |app_label: String| {
        let req = app
            .http
            .post(format!("{}/ingest/event", other.base))
            .bearer_auth(&key)
            .json(&json!({ "app": app_label, "name": "e", "session_id": "s" }));
        async move { req.send().await.unwrap().status().as_u16() }
    };
    for n in 1..=5 {
        assert_eq!(send(format!("app-{n}")).await, 204);
    }
    assert_eq!(send("app-6".into()).await, 403, "FREE allows 5 apps");
    let t = now();
    let created = signed_event(
        "evt_pro",
        "customer.subscription.created",
        t,
        json!({
            "id": "sub_1", "object": "subscription", "customer": "cus_1", "status": "active",
            "metadata": { "org_id": owner.org_id },
            "items": { "data": [{ "price": { "id": PRICE_PRO }, "current_period_end": t + 86_400 }] },
        }),
    );
    assert_eq!(deliver(&app, &created).await.0, 200);
    let changed = std::time::Instant::now();
    while send("app-6".into()).await != 204 {
        assert!(
            changed.elapsed() < Duration::from_millis(1_500),
            "the other process still applies FREE"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

on_both_backends!(
    a_plan_change_reaches_every_process,
    an_event_before_checkout_waits_for_it,
    checkout_upgrade_downgrade_and_cancel,
    payment_failed_and_recovered,
    events_in_any_order_once_and_signed,
    owners_only,
    billing_off_has_no_routes,
);

#[test]
fn start_up_refuses_a_partial_billing_setup() {
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(common::process::BIN)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("STRIPE_SECRET_KEY", "sk_test_secret_value")
        .env("STRIPE_PRICE_PRO", "price_pro")
        .args(["serve", "--port", "0", "--data-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("STRIPE_WEBHOOK_SECRET is missing"),
        "{stderr}"
    );
    assert!(
        stderr.contains("STRIPE_PRICE_BUSINESS is missing"),
        "{stderr}"
    );
    assert!(!stderr.contains("STRIPE_PRICE_PRO is missing"), "{stderr}");
    assert!(
        !stderr.contains("sk_test_secret_value"),
        "the key is never printed"
    );
}
