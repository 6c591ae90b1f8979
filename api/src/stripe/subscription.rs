//! What an event says about a subscription (CONTRACT §12): a subscription object
//! (`customer.subscription.*`), an invoice of one (`invoice.paid`,
//! `invoice.payment_failed`), or the Checkout Session that created one.

use super::ids::is_id;
use serde_json::Value;

/// What one event says about one subscription.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscriptionFacts {
    /// `sub_…`
    pub id: String,
    pub customer: Option<String>,
    pub said: Said,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Said {
    /// The subscription object itself, as of the event.
    Object {
        status: String,
        price_ids: Vec<String>,
        /// The subscription's `current_period_end`, or (newer API versions) the latest
        /// of its items'.
        current_period_end: Option<i64>,
        cancel_at_period_end: bool,
    },
    /// An invoice of it was paid (`active`) or its payment failed (`past_due`).
    Invoice { paid: bool },
    /// A Checkout Session in `subscription` mode created it.
    Checkout { session_id: String },
}

impl SubscriptionFacts {
    /// The status this event gives the subscription, if it says one.
    pub fn status(&self) -> Option<&str> {
        match &self.said {
            Said::Object { status, .. } => Some(status),
            Said::Invoice { paid: true } => Some("active"),
            Said::Invoice { paid: false } => Some("past_due"),
            Said::Checkout { .. } => None,
        }
    }
}

fn id_of(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => is_id(s).then(|| s.clone()),
        Value::Object(_) => id_of(value.get("id")?),
        _ => None,
    }
}

fn field_id(object: &Value, key: &str) -> Option<String> {
    id_of(object.get(key)?)
}

/// Whether a Checkout Session is in `subscription` mode (it pays no order).
pub fn is_subscription_checkout(kind: &str, object: &Value) -> bool {
    kind == "checkout.session" && object.get("mode").and_then(Value::as_str) == Some("subscription")
}

/// The subscription facts of an event of `event_type` about an object of `kind`.
pub fn facts(event_type: &str, kind: &str, object: &Value) -> Option<SubscriptionFacts> {
    let customer = field_id(object, "customer");
    match (event_type, kind) {
        (t, "subscription") if t.starts_with("customer.subscription.") => {
            let status = object.get("status")?.as_str().filter(|s| is_id(s))?;
            let items = object
                .get("items")
                .and_then(|i| i.get("data"))
                .and_then(Value::as_array)
                .map(Vec::as_slice)
                .unwrap_or_default();
            let mut price_ids: Vec<String> = items
                .iter()
                .filter_map(|item| field_id(item, "price"))
                .collect();
            price_ids.dedup();
            let current_period_end = object
                .get("current_period_end")
                .and_then(Value::as_i64)
                .or_else(|| {
                    items
                        .iter()
                        .filter_map(|i| i.get("current_period_end").and_then(Value::as_i64))
                        .max()
                });
            Some(SubscriptionFacts {
                id: field_id(object, "id")?,
                customer,
                said: Said::Object {
                    status: status.to_owned(),
                    price_ids,
                    current_period_end,
                    cancel_at_period_end: object
                        .get("cancel_at_period_end")
                        .and_then(Value::as_bool)
                        .unwrap_or(false),
                },
            })
        }
        ("invoice.paid" | "invoice.payment_failed", "invoice") => {
            // Older API versions name it at the top, newer ones under `parent`.
            let id = field_id(object, "subscription").or_else(|| {
                let details = object.get("parent")?.get("subscription_details")?;
                field_id(details, "subscription")
            })?;
            Some(SubscriptionFacts {
                id,
                customer,
                said: Said::Invoice {
                    paid: event_type == "invoice.paid",
                },
            })
        }
        ("checkout.session.completed", "checkout.session")
            if is_subscription_checkout(kind, object) =>
        {
            Some(SubscriptionFacts {
                id: field_id(object, "subscription")?,
                customer,
                said: Said::Checkout {
                    session_id: field_id(object, "id")?,
                },
            })
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn fixture(resource: &str) -> Value {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../shared/stripe/fixtures3.json"
        );
        let all: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        all["resources"][resource].clone()
    }

    #[test]
    fn a_subscription_object_names_status_prices_and_the_items_period() {
        let sub = fixture("subscription");
        let facts = facts("customer.subscription.updated", "subscription", &sub).unwrap();
        assert_eq!(facts.id, sub["id"].as_str().unwrap());
        assert_eq!(facts.customer.as_deref(), sub["customer"].as_str());
        let Said::Object {
            status,
            price_ids,
            current_period_end,
            cancel_at_period_end,
        } = &facts.said
        else {
            panic!("{facts:?}")
        };
        assert_eq!(status, "active");
        assert_eq!(
            price_ids,
            &vec!["price_1PgafmB7WZ01zgkW6dKueIc5".to_string()]
        );
        let item_end = sub["items"]["data"][0]["current_period_end"].as_i64();
        assert!(item_end.is_some(), "the fixture's item has a period end");
        assert_eq!(*current_period_end, item_end);
        assert!(*cancel_at_period_end);
    }

    #[test]
    fn invoices_name_their_subscription_on_old_and_new_api_versions() {
        let mut invoice = fixture("invoice");
        invoice["parent"] = json!({"type": "subscription_details",
            "subscription_details": {"subscription": "sub_new", "metadata": {}}});
        let new = facts("invoice.payment_failed", "invoice", &invoice).unwrap();
        assert_eq!(
            (new.id.as_str(), new.status()),
            ("sub_new", Some("past_due"))
        );
        invoice["subscription"] = json!("sub_old");
        let old = facts("invoice.paid", "invoice", &invoice).unwrap();
        assert_eq!((old.id.as_str(), old.status()), ("sub_old", Some("active")));
        invoice["subscription"] = Value::Null;
        invoice["parent"] = Value::Null;
        assert_eq!(
            facts("invoice.paid", "invoice", &invoice),
            None,
            "a one-off invoice"
        );
    }

    #[test]
    fn only_a_subscription_mode_checkout_links_one() {
        let mut session = fixture("checkout.session");
        assert_eq!(
            facts("checkout.session.completed", "checkout.session", &session),
            None
        );
        session["mode"] = json!("subscription");
        session["subscription"] = json!("sub_1");
        let linked = facts("checkout.session.completed", "checkout.session", &session).unwrap();
        assert_eq!(linked.id, "sub_1");
        assert_eq!(linked.status(), None);
        assert!(matches!(linked.said, Said::Checkout { .. }));
    }
}
