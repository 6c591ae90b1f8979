//! The part of an event's `data.object` the gateway reads (and how it reads a field),
//! kept as JSON while the rest is skipped unread. A Stripe object is mostly what the
//! gateway never looks at (a PaymentIntent's payment method options, a session's line
//! items, a charge's outcome…); building all of it as JSON values to read a few
//! fields took 8.4 µs of a Stripe-sized `payment_intent.succeeded`'s parse, keeping
//! these 4.7 µs.
//!
//! `kept` must name every top-level field that `event` and `subscription` read from
//! the object; the test below holds it to that over every fixture of
//! `shared/stripe`.

use super::ids::is_id;
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_json::{Map, Value};
use std::fmt;

/// The fields of `data.object` that anything reads.
fn kept(key: &str) -> bool {
    matches!(
        key,
        "id" | "object"
            | "metadata"
            | "client_reference_id"
            | "payment_intent"
            | "latest_charge"
            | "charge"
            | "customer"
            | "customer_details"
            | "customer_email"
            | "receipt_email"
            | "billing_details"
            | "payment_status"
            | "mode"
            | "status"
            | "amount"
            | "amount_total"
            | "amount_received"
            | "amount_refunded"
            | "currency"
            | "reason"
            | "evidence_details"
            | "items"
            | "current_period_end"
            | "cancel_at_period_end"
            | "subscription"
            | "parent"
    )
}

/// A field that is an id (a short string of id characters).
pub(super) fn str_field<'a>(object: &'a Value, key: &str) -> Option<&'a str> {
    object.get(key)?.as_str().filter(|s| is_id(s))
}

pub(super) fn int_field(object: &Value, key: &str) -> Option<i64> {
    object.get(key)?.as_i64()
}

/// An id field that Stripe may send as a string or, when expanded, as an object.
pub(super) fn expandable_id(object: &Value, key: &str) -> Option<String> {
    match object.get(key)? {
        Value::String(s) if is_id(s) => Some(s.clone()),
        nested @ Value::Object(_) => str_field(nested, "id").map(str::to_owned),
        _ => None,
    }
}

pub(super) fn currency(object: &Value) -> Option<String> {
    str_field(object, "currency").map(str::to_ascii_lowercase)
}

/// `data.object` with only the `kept` fields; anything but an object becomes `null`
/// (which the parser refuses as not an object, as it refuses any other).
pub struct Kept(pub Value);

impl<'de> de::Deserialize<'de> for Kept {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(KeptVisitor)
    }
}

impl From<Kept> for Value {
    fn from(kept: Kept) -> Value {
        kept.0
    }
}

struct KeptVisitor;

macro_rules! not_an_object {
    ($($name:ident: $ty:ty),*) => {
        $(fn $name<E: de::Error>(self, _: $ty) -> Result<Kept, E> {
            Ok(Kept(Value::Null))
        })*
    };
}

impl<'de> Visitor<'de> for KeptVisitor {
    type Value = Kept;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Kept, A::Error> {
        let mut object = Map::new();
        while let Some(key) = map.next_key_seed(KeySeed)? {
            match key {
                Some(key) => {
                    object.insert(key, map.next_value::<Value>()?);
                }
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(Kept(Value::Object(object)))
    }

    fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Kept, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Kept(Value::Null))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Kept, E> {
        Ok(Kept(Value::Null))
    }

    not_an_object!(visit_bool: bool, visit_i64: i64, visit_u64: u64, visit_f64: f64, visit_str: &str);
}

/// A key: `Some(owned)` when kept, `None` (nothing allocated) when skipped.
struct KeySeed;

impl<'de> DeserializeSeed<'de> for KeySeed {
    type Value = Option<String>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_str(KeyVisitor)
    }
}

struct KeyVisitor;

impl Visitor<'_> for KeyVisitor {
    type Value = Option<String>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a field name")
    }

    fn visit_str<E: de::Error>(self, key: &str) -> Result<Self::Value, E> {
        Ok(kept(key).then(|| key.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixtures() -> Vec<(String, Value)> {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../shared/stripe/fixtures3.json"
        );
        let all: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        all["resources"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(name, object)| (name.clone(), object.clone()))
            .collect()
    }

    /// Every event type the gateway acts on, beside a few it ignores.
    const TYPES: &[&str] = &[
        "checkout.session.completed",
        "checkout.session.async_payment_succeeded",
        "checkout.session.async_payment_failed",
        "checkout.session.expired",
        "payment_intent.succeeded",
        "payment_intent.payment_failed",
        "payment_intent.canceled",
        "payment_intent.processing",
        "charge.succeeded",
        "charge.failed",
        "charge.refunded",
        "charge.dispute.created",
        "charge.dispute.closed",
        "charge.dispute.funds_withdrawn",
        "refund.created",
        "refund.updated",
        "charge.refund.updated",
        "customer.subscription.created",
        "customer.subscription.updated",
        "customer.subscription.deleted",
        "invoice.paid",
        "invoice.payment_failed",
        "customer.created",
    ];

    /// Fields set one at a time on each fixture, each to a value that changes what
    /// some event type says (where the fixture's own value, or its absence, may not).
    fn variations() -> Vec<(&'static str, Value)> {
        use serde_json::json;
        vec![
            ("", Value::Null),
            ("metadata", json!({"order_id": "ord_1"})),
            ("client_reference_id", json!("ord_2")),
            ("latest_charge", json!({"id": "ch_v", "object": "charge"})),
            ("payment_intent", json!("pi_v")),
            ("charge", json!("ch_c")),
            ("customer", json!({"id": "cus_v"})),
            ("customer_details", json!({"email": "d@example.com"})),
            ("customer_email", json!("c@example.com")),
            ("receipt_email", json!("r@example.com")),
            ("billing_details", json!({"email": "b@example.com"})),
            ("payment_status", json!("paid")),
            ("mode", json!("subscription")),
            ("status", json!("canceled")),
            ("amount", json!(4321)),
            ("amount_total", json!(5432)),
            ("amount_received", json!(777)),
            ("amount_refunded", json!(99)),
            ("currency", json!("CHF")),
            ("reason", json!("fraudulent")),
            ("evidence_details", json!({"due_by": 1763900000})),
            (
                "items",
                json!({"data": [{"price": "price_v", "current_period_end": 17}]}),
            ),
            ("current_period_end", json!(1763999999)),
            ("cancel_at_period_end", json!(true)),
            ("subscription", json!("sub_v")),
            (
                "parent",
                json!({"subscription_details": {"subscription": "sub_p"}}),
            ),
        ]
    }

    #[test]
    fn the_kept_fields_give_the_facts_the_whole_object_gives_for_every_stripe_fixture() {
        let mut compared = 0;
        // Every fixture as it is; the objects the gateway reads with each variation.
        const READ: &[&str] = &[
            "checkout.session",
            "payment_intent",
            "charge",
            "refund",
            "dispute",
            "subscription",
            "invoice",
        ];
        let cases = fixtures().into_iter().flat_map(|(name, object)| {
            let varied = match READ.contains(&name.as_str()) {
                true => variations(),
                false => vec![("", Value::Null)],
            };
            varied.into_iter().map(move |(key, value)| {
                let mut object = object.clone();
                if let (Some(o), false) = (object.as_object_mut(), key.is_empty()) {
                    o.insert(key.into(), value);
                }
                (format!("{name} with {key}"), object)
            })
        });
        for (name, object) in cases {
            for kind in TYPES {
                let body = serde_json::json!({"id": "evt_1", "object": "event", "type": kind,
                    "created": 1763800000, "livemode": false, "data": {"object": object}});
                let bytes = serde_json::to_vec(&body).unwrap();
                let whole = super::super::event::facts_of_whole(&bytes);
                let kept = super::super::event::parse(&bytes);
                assert_eq!(kept, whole, "{name} as {kind}");
                compared += 1;
            }
        }
        assert!(compared > 1000, "only {compared} compared");
    }

    #[test]
    fn only_the_kept_fields_are_kept_and_anything_but_an_object_is_null() {
        let Kept(v) = serde_json::from_str(
            r#"{"id":"pi_1","payment_method_options":{"card":{"x":[1,2,{"y":null}]}},"amount":5,"metadata":{"a":"b"}}"#,
        )
        .unwrap();
        assert_eq!(
            v,
            serde_json::json!({"id":"pi_1","amount":5,"metadata":{"a":"b"}})
        );
        for other in ["1", "\"x\"", "[1,{}]", "true", "null", "1.5", "-3"] {
            let Kept(v) = serde_json::from_str(other).unwrap();
            assert_eq!(v, Value::Null, "{other}");
        }
    }
}
