//! Order independence through the real gateway: deliveries of one payment's events in
//! different orders end in the same order and payment state. (Every one of the 5040
//! orders is checked against the same code in `api/tests/permutations.rs`.)

use crate::on_both_backends;
use crate::support::*;
use serde_json::{Value, json};

fn events_for(pay: &Payment) -> Vec<(String, String)> {
    let mut failed = pay.intent("requires_payment_method");
    failed["last_payment_error"] = json!({"code": "card_declined"});
    let mut expired = pay.session("unpaid");
    expired["status"] = json!("expired");
    let kinds = [
        ("checkout.session.completed", pay.session("paid")),
        ("payment_intent.succeeded", pay.intent("succeeded")),
        ("charge.succeeded", pay.charge("succeeded", 0)),
        ("payment_intent.payment_failed", failed),
        ("checkout.session.expired", expired),
        ("charge.refunded", pay.charge("succeeded", 1000)),
        ("charge.refunded", pay.charge("succeeded", pay.amount)),
    ];
    kinds
        .into_iter()
        .map(|(kind, object)| {
            let id = evt_id();
            let body = event(&id, kind, object);
            (id, body)
        })
        .collect()
}

fn shuffled(n: usize, seed: u64) -> Vec<usize> {
    let mut order: Vec<usize> = (0..n).collect();
    let mut state = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    for i in (1..n).rev() {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let j = (state >> 33) as usize % (i + 1);
        order.swap(i, j);
    }
    order
}

async fn any_delivery_order_ends_refunded_with_one_payment(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let tenant = app.tenant();
    let mut orders: Vec<Vec<usize>> = vec![(0..7).collect(), (0..7).rev().collect()];
    orders.extend((1..=6).map(|seed| shuffled(7, seed)));
    let mut finals = Vec::new();
    for delivery_order in &orders {
        let order = app.create_order(&tenant, 2599).await;
        let pay = Payment::new(&order, 2599);
        let events = events_for(&pay);
        for i in delivery_order {
            let response = app
                .deliver(&tenant.slug, &tenant.secret, &events[*i].1)
                .await;
            assert_eq!(response.status(), 200);
        }
        for (id, _) in &events {
            let row = app.settled(id).await;
            assert_eq!(row["status"], "COMPLETED", "{row}");
        }
        let status = app.order_status(&order).await;
        let payments = app
            .db
            .query(&format!(
                "SELECT status, amount, currency, amount_refunded, succeeded, failed FROM payments WHERE tenant_id IS NOT NULL AND order_id = '{order}'"
            ))
            .await;
        finals.push((delivery_order.clone(), status["status"].clone(), payments));
    }
    for (delivery_order, status, payments) in &finals {
        assert_eq!(status, &Value::from("REFUNDED"), "order {delivery_order:?}");
        assert_eq!(payments.len(), 1, "order {delivery_order:?}: {payments:?}");
        assert_eq!(payments, &finals[0].2, "order {delivery_order:?}");
        assert_eq!(payments[0]["status"], "refunded");
        assert_eq!(payments[0]["amount_refunded"], 2599);
    }
}

async fn a_late_failure_or_expiry_never_moves_a_paid_order_back(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let tenant = app.tenant();
    let order = app.create_order(&tenant, 800).await;
    let pay = Payment::new(&order, 800);
    let paid = evt_id();
    app.deliver(
        &tenant.slug,
        &tenant.secret,
        &event(&paid, "checkout.session.completed", pay.session("paid")),
    )
    .await;
    app.settled(&paid).await;
    let mut expired = pay.session("unpaid");
    expired["status"] = json!("expired");
    for (kind, object) in [
        (
            "payment_intent.payment_failed",
            pay.intent("requires_payment_method"),
        ),
        ("checkout.session.expired", expired),
        ("charge.failed", pay.charge("failed", 0)),
    ] {
        let id = evt_id();
        app.deliver(&tenant.slug, &tenant.secret, &event(&id, kind, object))
            .await;
        let row = app.settled(&id).await;
        assert_eq!(row["outcome"], "unchanged", "{kind}");
    }
    assert_eq!(app.order_status(&order).await["status"], "PAID");
}

async fn an_unpaid_checkout_keeps_the_order_pending_then_failure_and_expiry_apply(
    backend: Backend,
) {
    let app = TestApp::spawn(backend).await;
    let tenant = app.tenant();
    let order = app.create_order(&tenant, 900).await;
    let pay = Payment::new(&order, 900);
    let id = evt_id();
    app.deliver(
        &tenant.slug,
        &tenant.secret,
        &event(&id, "checkout.session.completed", pay.session("unpaid")),
    )
    .await;
    app.settled(&id).await;
    assert_eq!(app.order_status(&order).await["status"], "PAYMENT_PENDING");
    let id = evt_id();
    app.deliver(
        &tenant.slug,
        &tenant.secret,
        &event(
            &id,
            "checkout.session.async_payment_failed",
            pay.session("unpaid"),
        ),
    )
    .await;
    app.settled(&id).await;
    assert_eq!(app.order_status(&order).await["status"], "PAYMENT_FAILED");
    let mut expired = pay.session("unpaid");
    expired["status"] = json!("expired");
    let id = evt_id();
    app.deliver(
        &tenant.slug,
        &tenant.secret,
        &event(&id, "checkout.session.expired", expired),
    )
    .await;
    app.settled(&id).await;
    assert_eq!(app.order_status(&order).await["status"], "EXPIRED");
}

on_both_backends!(
    any_delivery_order_ends_refunded_with_one_payment,
    a_late_failure_or_expiry_never_moves_a_paid_order_back,
    an_unpaid_checkout_keeps_the_order_pending_then_failure_and_expiry_apply,
);
