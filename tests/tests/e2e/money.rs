//! Money is checked and live and test never mix (CONTRACT §3, §4).

use crate::on_both_backends;
use crate::support::*;
use serde_json::{Value, json};

/// A PaymentIntent of `amount` in `currency` that names the order.
fn intent_for(order: &str, amount: i64, currency: &str) -> Value {
    let mut pi = Payment::new(order, amount).intent("succeeded");
    pi["currency"] = json!(currency);
    pi["metadata"] = json!({"order_id": order});
    pi
}

async fn pay(app: &TestApp, tenant: &Tenant, object: Value, livemode: bool) -> Value {
    pay_signed(app, tenant, &tenant.secret, object, livemode).await
}

/// A payment event signed with `secret` (of the live or the test endpoint).
async fn pay_signed(
    app: &TestApp,
    tenant: &Tenant,
    secret: &str,
    object: Value,
    livemode: bool,
) -> Value {
    let id = evt_id();
    let body = event_in_mode(&id, "payment_intent.succeeded", object, livemode);
    let response = app.deliver(&tenant.slug, secret, &body).await;
    assert_eq!(response.status(), 200);
    app.settled(&id).await
}

async fn admin_order(app: &TestApp, tenant: &Tenant, order: &str) -> Value {
    let email = format!("ops-{}@example.com", random_hex(3));
    app.create_admin(&email, "platform_admin", None);
    let token = app.login(&email).await;
    let reply = app
        .as_admin(&token)
        .tenant_get(&tenant.slug, "orders")
        .await;
    reply["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["order_id"] == order)
        .unwrap()
        .clone()
}

async fn one_yen_does_not_pay_a_euro_order(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let tenant = app.tenant();
    let order = app.create_order(&tenant, 2599).await;
    let settled = pay(&app, &tenant, intent_for(&order, 1, "jpy"), true).await;
    assert_eq!(settled["status"], "COMPLETED");
    assert_eq!(app.order_status(&order).await["status"], "AMOUNT_MISMATCH");
    let seen = admin_order(&app, &tenant, &order).await;
    assert_eq!(seen["amount"], 2599, "expected");
    assert_eq!(
        seen["amount_received"], 0,
        "received in the order's currency"
    );
    assert_eq!(seen["payments"][0]["currency"], "jpy");
    assert_eq!(seen["payments"][0]["amount"], 1);
    // The right payment afterwards settles it.
    pay(&app, &tenant, intent_for(&order, 2599, "eur"), true).await;
    assert_eq!(app.order_status(&order).await["status"], "PAID");
}

async fn two_payments_that_add_up_pay_the_order(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let tenant = app.tenant();
    let order = app.create_order(&tenant, 3000).await;
    pay(&app, &tenant, intent_for(&order, 1000, "eur"), true).await;
    assert_eq!(app.order_status(&order).await["status"], "AMOUNT_MISMATCH");
    pay(&app, &tenant, intent_for(&order, 2000, "eur"), true).await;
    assert_eq!(app.order_status(&order).await["status"], "PAID");
    let seen = admin_order(&app, &tenant, &order).await;
    assert_eq!(seen["amount_received"], 3000);
    assert_eq!(seen["payments"].as_array().unwrap().len(), 2);
}

async fn a_test_event_never_changes_a_live_order(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let tenant = app.tenant();
    let order = app.create_order(&tenant, 2599).await;
    let before = app.order_status(&order).await;
    assert_eq!(before["livemode"], true, "a live key's order is live");
    let settled = pay(&app, &tenant, intent_for(&order, 2599, "eur"), false).await;
    assert_eq!(settled["status"], "COMPLETED");
    assert_eq!(settled["outcome"], "mode_mismatch");
    assert_eq!(app.order_status(&order).await, before, "untouched");
    let seen = admin_order(&app, &tenant, &order).await;
    assert_eq!(seen["payments"], json!([]), "not even a payment row");
}

async fn a_test_keys_order_is_paid_by_test_events_only(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let tenant = app.tenant();
    let test_key = app
        .cli_ok(&["tenant", "api-key", &tenant.slug, "--test"], None)
        .trim()
        .to_string();
    assert!(test_key.starts_with("gk_test_"), "{test_key}");
    let created: Value = app
        .client
        .post(app.url(&format!("/api/v1/tenants/{}/orders", tenant.slug)))
        .bearer_auth(&test_key)
        .json(&json!({"amount": 1200, "currency": "eur"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(created["livemode"], false);
    let order = created["order_id"].as_str().unwrap().to_string();
    let live = pay(&app, &tenant, intent_for(&order, 1200, "eur"), true).await;
    assert_eq!(live["outcome"], "mode_mismatch");
    assert_eq!(app.order_status(&order).await["status"], "PAYMENT_PENDING");
    // A test event signed by the live endpoint's secret is not the test endpoint's.
    let crossed = pay(&app, &tenant, intent_for(&order, 1200, "eur"), false).await;
    assert_eq!(crossed["status"], "COMPLETED");
    assert_eq!(crossed["outcome"], "mode_mismatch");
    assert_eq!(app.order_status(&order).await["status"], "PAYMENT_PENDING");

    // The test endpoint's secret, beside the live one.
    let email = format!("ops-{}@example.com", random_hex(3));
    app.create_admin(&email, "platform_admin", None);
    let admin = app.as_admin(&app.login(&email).await);
    let config = format!("/api/v1/admin/tenants/{}/payment-config", tenant.slug);
    let test_secret = format!("whsec_{}", random_hex(16));
    let set = admin
        .put(
            &config,
            json!({"webhook_secret": test_secret, "mode": "test"}),
        )
        .await;
    assert_eq!(set.status, 200, "{:?}", set.body);
    let modes: Vec<&str> = set["secrets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["mode"].as_str().unwrap())
        .collect();
    assert_eq!(modes.len(), 2, "{:?}", set.body);
    assert!(
        modes.contains(&"live") && modes.contains(&"test"),
        "{modes:?}"
    );
    let wrong = admin
        .put(
            &config,
            json!({"webhook_secret": test_secret, "mode": "staging"}),
        )
        .await;
    assert_eq!(wrong.status, 422);

    let paid = pay_signed(
        &app,
        &tenant,
        &test_secret,
        intent_for(&order, 1200, "eur"),
        false,
    )
    .await;
    assert_eq!(paid["outcome"], "applied", "{paid}");
    let status = app.order_status(&order).await;
    assert_eq!(status["status"], "PAID");
    assert_eq!(status["livemode"], false);

    // Each mode rotates on its own: the live secret still verifies live events.
    let next_test = format!("whsec_{}", random_hex(16));
    let rotated = admin
        .post(
            &format!("{config}/rotate"),
            json!({"webhook_secret": next_test, "mode": "test", "previous_expires_in_secs": 60}),
        )
        .await;
    assert_eq!(rotated.status, 200, "{:?}", rotated.body);
    assert_eq!(
        rotated["secrets"].as_array().unwrap().len(),
        3,
        "{:?}",
        rotated.body
    );
    let live_order = app.create_order(&tenant, 700).await;
    let live_paid = pay(&app, &tenant, intent_for(&live_order, 700, "eur"), true).await;
    assert_eq!(live_paid["outcome"], "applied");
    let again = app.create_order(&tenant, 700).await;
    let replaced = admin
        .put(
            &config,
            json!({"webhook_secret": format!("whsec_{}", random_hex(16))}),
        )
        .await;
    assert_eq!(replaced.status, 200);
    let left: Vec<&str> = replaced["secrets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["mode"].as_str().unwrap())
        .collect();
    assert_eq!(
        left.iter().filter(|m| **m == "test").count(),
        2,
        "replacing live keeps test: {left:?}"
    );
    assert_eq!(
        app.deliver(
            &tenant.slug,
            &tenant.secret,
            &event(
                &evt_id(),
                "payment_intent.succeeded",
                intent_for(&again, 700, "eur")
            )
        )
        .await
        .status(),
        400,
        "the old live secret stopped"
    );
    // Keys made through the admin API say their mode too.
    let key = admin
        .tenant_post(&tenant.slug, "api-keys", json!({"mode": "test"}))
        .await;
    assert_eq!(key.status, 201);
    assert_eq!(key["mode"], "test");
    assert!(key["key"].as_str().unwrap().starts_with("gk_test_"));
    let default = admin
        .call(
            reqwest::Method::POST,
            &format!("/api/v1/admin/tenants/{}/api-keys", tenant.slug),
            None,
        )
        .await;
    assert_eq!(default.status, 201);
    assert_eq!(default["mode"], "live", "live without a body");
    let wrong = admin
        .tenant_post(&tenant.slug, "api-keys", json!({"mode": "staging"}))
        .await;
    assert_eq!(wrong.status, 422);
}

on_both_backends!(
    one_yen_does_not_pay_a_euro_order,
    two_payments_that_add_up_pay_the_order,
    a_test_event_never_changes_a_live_order,
    a_test_keys_order_is_paid_by_test_events_only,
);
