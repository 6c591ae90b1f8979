//! Orders with their payments, the manual override, and the health page.

use super::setup;
use crate::on_both_backends;
use crate::support::*;
use sea_orm::ConnectionTrait;
use serde_json::{Value, json};

async fn orders_health_and_manual_override(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (a, _b, _platform, admin_a) = setup(&app).await;
    let paid = app.create_order(&a, 2599).await;
    let cash = app.create_order(&a, 1200).await;
    let id = evt_id();
    app.deliver(&a.slug, &a.secret, &paid_checkout(&id, &paid, 2599))
        .await;
    app.settled(&id).await;
    app.deliver(
        &a.slug,
        "whsec_wrong_wrong_wrong",
        &event(&evt_id(), "customer.created", fixture("customer")),
    )
    .await;

    let Reply { body: list, .. } = app
        .as_admin(&admin_a)
        .tenant_get(&a.slug, "orders?status=PAID")
        .await;
    let items = list["items"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["order_id"], json!(paid));
    assert_eq!(items[0]["payments"][0]["status"], "succeeded");

    let path = format!("/api/v1/admin/tenants/{}/orders/{cash}/override", a.slug);
    let Reply { status, .. } = app
        .as_admin(&admin_a)
        .post(&path, json!({"status": "PAID", "reason": " "}))
        .await;
    assert_eq!(status, 422, "a reason is required");
    let Reply {
        status,
        body: reply,
    } = app
        .as_admin(&admin_a)
        .post(
            &path,
            json!({"status": "PAID", "reason": "paid in cash at the counter"}),
        )
        .await;
    assert_eq!(status, 200, "{reply}");
    assert_eq!(app.order_status(&cash).await["status"], "PAID");
    // A late expiry does not undo the manual status.
    let mut expired = Payment::new(&cash, 1200).session("unpaid");
    expired["status"] = json!("expired");
    let id = evt_id();
    app.deliver(
        &a.slug,
        &a.secret,
        &event(&id, "checkout.session.expired", expired),
    )
    .await;
    app.settled(&id).await;
    assert_eq!(app.order_status(&cash).await["status"], "PAID");
    app.recorded(&a.slug, "VERIFICATION_FAILED", 1).await;
    let health = app.as_admin(&admin_a).health(&a.slug).await;
    assert_eq!(health["configured"], true);
    assert!(health["last_successful_webhook"].is_string());
    assert!(health["last_delivery"]["at"].is_string());
    assert_eq!(health["recent_failures"]["verification_failed"], 1);
    assert_eq!(health["recent_failures"]["no_config"], 0);
    assert_eq!(health["stuck_processing"], 0);
    let Reply { body: audit, .. } = app
        .as_admin(&admin_a)
        .tenant_get(&a.slug, "audit-log")
        .await;
    let entry = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["action"] == "order.override")
        .unwrap()
        .clone();
    assert_eq!(entry["detail"]["reason"], "paid in cash at the counter");
    assert!(entry["actor"].as_str().unwrap().starts_with("owner-"));
    assert_eq!(entry["ip"], "127.0.0.1");
}

/// The health page's window is the last 24 hours: the recent failures count only those,
/// and the chart has 24 hourly slots whose counts add up to exactly those deliveries.
async fn health_counts_the_last_day_by_hour_and_status(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (a, b, _platform, admin_a) = setup(&app).await;
    let health = || async {
        let Reply { status, body } = app.as_admin(&admin_a).tenant_get(&a.slug, "health").await;
        assert_eq!(status, 200, "{body}");
        body
    };
    let quiet = health().await;
    assert_eq!(quiet["last_delivery"], Value::Null, "Stripe never called");
    assert_eq!(quiet["last_successful_webhook"], Value::Null);

    let ids = app.deliver_customer_events(&a, 2).await;
    for id in &ids {
        app.settled(id).await;
    }
    // Two deliveries signed with the wrong secret; one of them happened two days ago.
    for _ in 0..2 {
        let body = event(&evt_id(), "customer.created", fixture("customer"));
        let response = app.deliver(&a.slug, &b.secret, &body).await;
        assert_eq!(response.status(), 400);
    }
    // Another restaurant's failures are not this one's.
    let body = event(&evt_id(), "customer.created", fixture("customer"));
    app.deliver(&b.slug, &a.secret, &body).await;
    app.recorded(&b.slug, "VERIFICATION_FAILED", 1).await;
    let rows = app.recorded(&a.slug, "VERIFICATION_FAILED", 2).await;
    assert_eq!(rows.len(), 2);
    let db = app.db.connect().await;
    db.execute_unprepared(&format!(
        "UPDATE webhook_event SET received_at = received_at - {} WHERE id = {}",
        48 * 3600 * 1000,
        rows[0]["id"]
    ))
    .await
    .unwrap();
    db.close().await.ok();

    let health = health().await;
    assert_eq!(health["recent_failures"]["verification_failed"], 1);
    assert_eq!(health["recent_failures"]["no_config"], 0);
    assert_eq!(health["recent_failures"]["failed"], 0);
    assert_eq!(health["last_delivery"]["status"], "VERIFICATION_FAILED");
    assert!(health["last_successful_webhook"].is_string());
    let hours = health["deliveries_per_hour"].as_array().unwrap();
    assert_eq!(hours.len(), 24);
    let total = |status: &str| -> i64 {
        hours
            .iter()
            .map(|h| h["counts"][status].as_i64().unwrap_or(0))
            .sum()
    };
    assert_eq!(total("COMPLETED"), 2);
    assert_eq!(
        total("VERIFICATION_FAILED"),
        1,
        "the old one is outside the chart"
    );
    let newest = hours[23]["hour"].as_str().unwrap();
    let oldest = hours[0]["hour"].as_str().unwrap();
    assert!(oldest < newest, "oldest hour first: {oldest} .. {newest}");
}

on_both_backends!(
    orders_health_and_manual_override,
    health_counts_the_last_day_by_hour_and_status,
);
