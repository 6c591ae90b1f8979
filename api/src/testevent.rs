//! `gateway send-test-event`: a realistic signed event, delivered like Stripe would.

use crate::config::Config;
use crate::db::now_ms;
use crate::stripe::signature;
use crate::tenants::secrets;
use crate::vault::{Sealed, webhook_secret_aad};
use entity::{order, tenant};
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter};
use serde_json::{Value, json};

fn random_id(prefix: &str) -> String {
    let mut bytes = [0u8; 12];
    rand::fill(&mut bytes);
    format!("{prefix}_test_{}", hex::encode(bytes))
}

/// A Stripe event of `event_type` about `order` (id, amount, currency).
pub fn build(
    event_type: &str,
    order: Option<(&str, i64, &str)>,
    payment_intent: Option<&str>,
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
            "payment_status": payment_status, "status": status, "livemode": false,
        })
    };
    let intent = |status: &str| {
        json!({
            "id": pi, "object": "payment_intent", "amount": amount,
            "amount_received": if status == "succeeded" { amount } else { 0 },
            "currency": currency, "metadata": metadata, "status": status, "latest_charge": charge,
            "livemode": false,
        })
    };
    let charge_object = |status: &str, refunded: i64| {
        json!({
            "id": charge, "object": "charge", "amount": amount, "amount_captured": amount,
            "amount_refunded": refunded, "refunded": refunded >= amount, "currency": currency,
            "metadata": metadata, "payment_intent": pi, "status": status, "paid": status == "succeeded",
            "livemode": false,
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
        "created": now_ms() / 1000, "livemode": false, "pending_webhooks": 1,
        "request": {"id": null, "idempotency_key": null}, "type": event_type,
        "data": {"object": object},
    }))
}

pub async fn send(
    db: &DatabaseConnection,
    config: &Config,
    tenant: &tenant::Model,
    event_type: &str,
    order_id: Option<&str>,
    url: Option<String>,
) -> Result<(), String> {
    let order = match order_id {
        Some(id) => Some(
            order::Entity::find()
                .filter(order::Column::TenantId.eq(tenant.id))
                .filter(order::Column::Id.eq(id))
                .one(db)
                .await
                .map_err(|e| e.to_string())?
                .ok_or_else(|| format!("tenant {} has no order {id}", tenant.slug))?,
        ),
        None => None,
    };
    let event = build(
        event_type,
        order
            .as_ref()
            .map(|o| (o.id.as_str(), o.amount, o.currency.as_str())),
        order.as_ref().and_then(|o| o.payment_intent_id.as_deref()),
    )?;
    let rows = secrets::active_rows(db, tenant.id, now_ms())
        .await
        .map_err(|e| e.to_string())?;
    let current = rows
        .iter()
        .find(|r| r.expires_at.is_none())
        .ok_or_else(|| {
            format!(
                "tenant {} has no webhook secret: `gateway config set-secret {}`",
                tenant.slug, tenant.slug
            )
        })?;
    let secret = config
        .keys
        .open(
            &Sealed {
                key_id: current.key_id.clone(),
                nonce: current.nonce.clone(),
                ciphertext: current.ciphertext.clone(),
            },
            &webhook_secret_aad(tenant.id),
        )
        .map_err(|e| format!("the secret of {} cannot be decrypted: {e}", tenant.slug))?;
    let body = serde_json::to_vec(&event).expect("JSON values serialize");
    let header = signature::sign_header(&secret, now_ms() / 1000, &body);
    let url = url.unwrap_or_else(|| {
        let port = config.bind_addr.port();
        format!(
            "http://127.0.0.1:{port}/api/v1/webhooks/stripe/{}",
            tenant.slug
        )
    });
    let response = reqwest::Client::new()
        .post(&url)
        .header("content-type", "application/json")
        .header("stripe-signature", header)
        .body(body)
        .send()
        .await
        .map_err(|e| format!("cannot deliver to {url}: {e}"))?;
    let status = response.status();
    let text = response.text().await.unwrap_or_default();
    println!(
        "{} {} → {} {}",
        event["type"].as_str().unwrap_or_default(),
        event["id"].as_str().unwrap_or_default(),
        status.as_u16(),
        text
    );
    if status.is_success() {
        Ok(())
    } else {
        Err(format!("the gateway answered {status}"))
    }
}
