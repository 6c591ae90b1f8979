//! Realistic Stripe events for `gateway send-test-event`, like the Stripe CLI's `trigger`.

use crate::clock::now_ms;
use serde_json::{Value, json};

fn random_id(prefix: &str) -> String {
    let mut bytes = [0u8; 12];
    rand::fill(&mut bytes);
    format!("{prefix}_test_{}", hex::encode(bytes))
}

/// The event types `build` makes.
pub const TYPES: [&str; 15] = [
    "checkout.session.completed",
    "checkout.session.expired",
    "checkout.session.async_payment_succeeded",
    "checkout.session.async_payment_failed",
    "payment_intent.succeeded",
    "payment_intent.payment_failed",
    "payment_intent.canceled",
    "charge.succeeded",
    "charge.failed",
    "charge.refunded",
    "charge.dispute.created",
    "charge.dispute.updated",
    "charge.dispute.closed",
    "account.updated",
    "account.application.deauthorized",
];

/// What a test event is about, beyond its type.
#[derive(Debug, Default, Clone)]
pub struct About<'a> {
    /// The order: id, amount, currency.
    pub order: Option<(&'a str, i64, &'a str)>,
    /// The order's PaymentIntent, if an event recorded one.
    pub payment_intent: Option<&'a str>,
    pub livemode: bool,
    /// A dispute's status (`charge.dispute.*`): by default `needs_response` when
    /// created, `under_review` when updated, `won` when closed.
    pub dispute_status: Option<&'a str>,
    /// The connected account the event is about (`account`), sent through the Connect
    /// endpoint.
    pub account: Option<&'a str>,
}

/// A Stripe event of `event_type` about `about`, live or test.
pub fn build(event_type: &str, about: &About) -> Result<Value, String> {
    let (order, payment_intent, livemode) = (about.order, about.payment_intent, about.livemode);
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
        "payment_intent.canceled" => intent("canceled"),
        "charge.dispute.created" | "charge.dispute.updated" | "charge.dispute.closed" => {
            let status = about.dispute_status.unwrap_or(match event_type {
                "charge.dispute.created" => "needs_response",
                "charge.dispute.updated" => "under_review",
                _ => "won",
            });
            json!({
                "id": format!("dp_{}", pi.trim_start_matches("pi_")), "object": "dispute", "amount": amount,
                "currency": currency, "charge": charge, "payment_intent": pi,
                "reason": "fraudulent", "status": status, "livemode": livemode, "metadata": {},
                "evidence_details": {"due_by": now_ms() / 1000 + 7 * 24 * 3600, "has_evidence": false,
                                     "past_due": false, "submission_count": 0},
                "is_charge_refundable": false,
            })
        }
        "account.updated" | "account.application.deauthorized" => {
            let account = about.account.unwrap_or("acct_test");
            if event_type == "account.updated" {
                json!({"id": account, "object": "account", "charges_enabled": false,
                       "payouts_enabled": false, "details_submitted": true,
                       "requirements": {"disabled_reason": "requirements.past_due"}})
            } else {
                json!({"id": random_id("ca"), "object": "application", "name": "Restaurant platform"})
            }
        }
        other => {
            return Err(format!(
                "unsupported --type {other:?}: use one of {}",
                TYPES.join(", ")
            ));
        }
    };
    let mut event = json!({
        "id": random_id("evt"), "object": "event", "api_version": "2025-11-17.clover",
        "created": now_ms() / 1000, "livemode": livemode, "pending_webhooks": 1,
        "request": {"id": null, "idempotency_key": null}, "type": event_type,
        "data": {"object": object},
    });
    if let Some(account) = about.account {
        event["account"] = json!(account);
    }
    Ok(event)
}
