//! Stripe's side: its signing scheme (written here from Stripe's documentation, not
//! taken from the gateway) and realistic event objects from its published fixtures.

use super::random_hex;
use hmac::{Hmac, KeyInit, Mac};
use serde_json::{Value, json};
use sha2::Sha256;
use std::sync::OnceLock;

pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// `t=…,v1=…` as Stripe signs: HMAC-SHA256 of `t.body`.
pub fn sign(secret: &str, t: i64, body: &str) -> String {
    format!("t={t},v1={}", signature(secret, t, body))
}

pub fn signature(secret: &str, t: i64, body: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{t}.{body}").as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// Stripe's published example objects (`shared/stripe/fixtures3.json`).
pub fn fixture(resource: &str) -> Value {
    static ALL: OnceLock<Value> = OnceLock::new();
    let all = ALL.get_or_init(|| {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../shared/stripe/fixtures3.json"
        );
        serde_json::from_str(&std::fs::read_to_string(path).expect("shared/stripe/fixtures3.json"))
            .unwrap()
    });
    all["resources"][resource].clone()
}

/// A live-mode event envelope around `object`, as Stripe sends it (orders are live
/// unless a test key created them).
pub fn event(id: &str, kind: &str, object: Value) -> String {
    event_in_mode(id, kind, object, true)
}

/// An event envelope of either mode: `livemode: false` is what a test endpoint sends.
pub fn event_in_mode(id: &str, kind: &str, object: Value, livemode: bool) -> String {
    let mut envelope = fixture("event");
    envelope["id"] = json!(id);
    envelope["type"] = json!(kind);
    envelope["created"] = json!(now());
    envelope["livemode"] = json!(livemode);
    envelope["api_version"] = json!("2025-11-17.clover");
    envelope["data"] = json!({"object": object});
    serde_json::to_string(&envelope).unwrap()
}

/// A `checkout.session.completed` event whose session pays `order` in full (EUR).
pub fn paid_checkout(id: &str, order: &str, amount: i64) -> String {
    event(
        id,
        "checkout.session.completed",
        Payment::new(order, amount).session("paid"),
    )
}

pub fn evt_id() -> String {
    format!("evt_{}", random_hex(12))
}

/// Realistic objects for one order's payment, built from Stripe's fixtures.
pub struct Payment {
    pub order_id: String,
    pub amount: i64,
    pub session: String,
    pub intent: String,
    pub charge: String,
}

impl Payment {
    pub fn new(order_id: &str, amount: i64) -> Self {
        Self {
            order_id: order_id.to_string(),
            amount,
            session: format!("cs_test_{}", random_hex(12)),
            intent: format!("pi_{}", random_hex(12)),
            charge: format!("ch_{}", random_hex(12)),
        }
    }

    pub fn session(&self, payment_status: &str) -> Value {
        let mut s = fixture("checkout.session");
        s["id"] = json!(self.session);
        s["metadata"] = json!({"order_id": self.order_id});
        s["client_reference_id"] = json!(self.order_id);
        s["payment_intent"] = json!(self.intent);
        s["payment_status"] = json!(payment_status);
        s["amount_total"] = json!(self.amount);
        s["currency"] = json!("eur");
        s
    }

    /// A PaymentIntent as Checkout creates it: no order metadata of its own.
    pub fn intent(&self, status: &str) -> Value {
        let mut pi = fixture("payment_intent");
        pi["id"] = json!(self.intent);
        pi["amount"] = json!(self.amount);
        pi["amount_received"] = json!(if status == "succeeded" {
            self.amount
        } else {
            0
        });
        pi["currency"] = json!("eur");
        pi["status"] = json!(status);
        pi["metadata"] = json!({});
        pi
    }

    pub fn charge(&self, status: &str, refunded: i64) -> Value {
        let mut ch = fixture("charge");
        ch["id"] = json!(self.charge);
        ch["payment_intent"] = json!(self.intent);
        ch["amount"] = json!(self.amount);
        ch["amount_refunded"] = json!(refunded);
        ch["refunded"] = json!(refunded == self.amount);
        ch["currency"] = json!("eur");
        ch["status"] = json!(status);
        ch["metadata"] = json!({});
        ch
    }
}
