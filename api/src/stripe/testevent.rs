//! Realistic Stripe events for `gateway send-test-event`, like the Stripe CLI's `trigger`.

use crate::clock::now_ms;
use serde_json::{Value, json};

fn random_id(prefix: &str) -> String {
    let mut bytes = [0u8; 12];
    rand::fill(&mut bytes);
    format!("{prefix}_test_{}", hex::encode(bytes))
}

/// A Stripe event of `event_type` about `order` (id, amount, currency), live or test.
pub fn build(
    event_type: &str,
    order: Option<(&str, i64, &str)>,
    payment_intent: Option<&str>,
    livemode: bool,
) -> Result<Value, String> {
    let (order_id, amount, currency) = order.unwrap_or(("", 2599, "eur"));
    let metadata = if order_id.is_empty() {
        json!({})
    } else {
        json!({"order_id": order_id})
    };
    let reference = if order_id.is_empty() {
        Value::Null
    } else {
        json!(order_id)
    };
    let pi = payment_intent.map_or_else(|| random_id("pi"), str::to_owned);
    let charge = random_id("ch");
    let session = |status: &str, payment_status: &str| {
        json!({
            "id": random_id("cs"), "object": "checkout.session", "mode": "payment",
            "amount_total": amount, "amount_subtotal": amount, "currency": currency,
            "client_reference_id": reference, "metadata": metadata, "payment_intent": pi,
            "payment_status": payment_status, "status": status, "livemode": livemode,
        })
    };
    let intent = |status: &str| {
        json!({
            "id": pi, "object": "payment_intent", "amount": amount,
            "amount_received": if status == "succeeded" { amount } else { 0 },
            "currency": currency, "metadata": metadata, "status": status, "latest_charge": charge,
            "livemode": livemode,
        })
    };
    let charge_object = |status: &str, refunded: i64| {
        json!({
            "id": charge, "object": "charge", "amount": amount, "amount_captured": amount,
            "amount_refunded": refunded, "refunded": refunded >= amount, "currency": currency,
            "metadata": metadata, "payment_intent": pi, "status": status, "paid": status == "succeeded",
            "livemode": livemode,
        })
    };
    let object = match event_type {
        "checkout.session.completed" | "checkout.session.async_payment_succeeded" => {
            session("complete", "paid")
        }
        "checkout.session.async_payment_failed" => session("complete", "unpaid"),
        "checkout.session.expired" => session("expired", "unpaid"),
        "payment_intent.succeeded" => intent("succeeded"),
        "payment_intent.payment_failed" => intent("requires_payment_method"),
        "charge.succeeded" => charge_object("succeeded", 0),
        "charge.failed" => charge_object("failed", 0),
        "charge.refunded" => charge_object("succeeded", amount),
        other => {
            return Err(format!(
                "unsupported --type {other:?}: use checkout.session.completed, checkout.session.expired, \
                 checkout.session.async_payment_succeeded, checkout.session.async_payment_failed, \
                 payment_intent.succeeded, payment_intent.payment_failed, charge.succeeded, charge.failed or charge.refunded"
            ));
        }
    };
    Ok(json!({
        "id": random_id("evt"), "object": "event", "api_version": "2025-11-17.clover",
        "created": now_ms() / 1000, "livemode": livemode, "pending_webhooks": 1,
        "request": {"id": null, "idempotency_key": null}, "type": event_type,
        "data": {"object": object},
    }))
}
