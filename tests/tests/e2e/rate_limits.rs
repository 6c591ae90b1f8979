//! Per-route rate limits, each keyed by what it protects.

use crate::on_both_backends;
use crate::support::*;
use serde_json::json;

async fn webhooks_are_limited_per_tenant_with_retry_after(backend: Backend) {
    let app = TestApp::spawn_with(
        backend,
        &[
            ("RATE_LIMIT_WEBHOOK_PER_SEC", "1"),
            ("RATE_LIMIT_WEBHOOK_BURST", "3"),
        ],
    )
    .await;
    let a = app.tenant();
    let b = app.tenant();
    // Sent together, so that no token comes back while they are answered.
    let bodies: Vec<String> = (0..5)
        .map(|_| event(&evt_id(), "customer.created", fixture("customer")))
        .collect();
    let replies = crate::exactly_once::futures_join_all(
        bodies.iter().map(|b| app.deliver(&a.slug, &a.secret, b)),
    )
    .await;
    let mut statuses: Vec<u16> = replies.iter().map(|r| r.status().as_u16()).collect();
    for response in replies.iter().filter(|r| r.status() == 429) {
        let wait: u64 = response.headers()["retry-after"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!(wait >= 1);
    }
    statuses.sort();
    assert_eq!(statuses, [200, 200, 200, 429, 429]);
    // Another tenant, from the same address, is not affected.
    let body = event(&evt_id(), "customer.created", fixture("customer"));
    assert_eq!(app.deliver(&b.slug, &b.secret, &body).await.status(), 200);
}

async fn status_polling_is_limited_per_address_and_orders_per_key(backend: Backend) {
    let app = TestApp::spawn_with(
        backend,
        &[
            ("RATE_LIMIT_STATUS_PER_SEC", "1"),
            ("RATE_LIMIT_STATUS_BURST", "2"),
            ("RATE_LIMIT_ORDERS_PER_SEC", "1"),
            ("RATE_LIMIT_ORDERS_BURST", "2"),
        ],
    )
    .await;
    let a = app.tenant();
    let b = app.tenant();
    let order = app.create_order(&a, 100).await;
    app.create_order(&a, 100).await;
    let third = app
        .client
        .post(app.url(&format!("/api/v1/tenants/{}/orders", a.slug)))
        .bearer_auth(&a.api_key)
        .json(&json!({"amount": 100, "currency": "eur"}))
        .send()
        .await
        .unwrap();
    assert_eq!(third.status(), 429);
    assert!(third.headers().contains_key("retry-after"));
    // Another restaurant's key has its own allowance.
    app.create_order(&b, 100).await;

    let url = app.url(&format!("/api/v1/orders/{order}/status"));
    let replies =
        crate::exactly_once::futures_join_all((0..3).map(|_| app.client.get(&url).send())).await;
    let mut statuses: Vec<u16> = replies
        .iter()
        .map(|r| r.as_ref().unwrap().status().as_u16())
        .collect();
    statuses.sort();
    assert_eq!(statuses, [200, 200, 429]);
}

async fn default_limits_let_a_burst_of_hundreds_through(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let tenant = app.tenant();
    // Hundreds at once from one address, within its share of connections
    // (MAX_CONNECTIONS_PER_IP, 256 by default).
    let bodies: Vec<String> = (0..250)
        .map(|_| event(&evt_id(), "customer.created", fixture("customer")))
        .collect();
    let replies = crate::exactly_once::futures_join_all(
        bodies
            .iter()
            .map(|b| app.deliver(&tenant.slug, &tenant.secret, b)),
    )
    .await;
    assert!(replies.iter().all(|r| r.status() == 200));
}

on_both_backends!(
    webhooks_are_limited_per_tenant_with_retry_after,
    status_polling_is_limited_per_address_and_orders_per_key,
    default_limits_let_a_burst_of_hundreds_through,
);
