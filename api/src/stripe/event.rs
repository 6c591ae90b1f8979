//! The few fields of a Stripe event that decide what happens to an order.
//!
//! Parsing is lenient about everything it does not use (Stripe adds fields with every
//! API version) and strict about what makes a body an event at all.

use super::ids::is_id;
use super::kept::{currency, expandable_id, int_field, str_field};
use super::subscription::{self, SubscriptionFacts};
use serde::Deserialize;
use serde_json::Value;

/// What one event says about a payment, independent of any stored state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// Money was taken: order `PAID`, payment succeeded.
    Paid {
        amount: Option<i64>,
        currency: Option<String>,
    },
    /// A Checkout Session completed without payment yet: only the ids are recorded.
    Pending,
    /// A payment attempt failed.
    Failed,
    /// A Checkout Session expired.
    Expired,
    /// A charge reports its cumulative refunded amount.
    ChargeRefunded {
        amount: Option<i64>,
        amount_refunded: i64,
        currency: Option<String>,
    },
    /// One refund object, with its own amount and status.
    Refund {
        refund_id: String,
        amount: i64,
        status: RefundStatus,
    },
    /// A PaymentIntent was canceled: the order ends `CANCELED` unless money came.
    Canceled,
    /// A dispute (chargeback or inquiry) on a charge, as the event saw it.
    Dispute(Dispute),
    /// An event type the gateway does not act on.
    Ignored,
}

/// What one dispute event says about its dispute.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Dispute {
    pub id: String,
    pub amount: i64,
    pub currency: Option<String>,
    pub reason: Option<String>,
    pub status: DisputeStatus,
    /// `evidence_details.due_by` (Unix seconds): after it the restaurant loses by default.
    pub evidence_due_by: Option<i64>,
}

/// A dispute's status, ordered as a dispute moves on (an inquiry may escalate to a
/// chargeback; nothing comes back from closed), so that the latest word wins whatever
/// the delivery order.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum DisputeStatus {
    WarningNeedsResponse,
    WarningUnderReview,
    NeedsResponse,
    UnderReview,
    WarningClosed,
    Won,
    Lost,
}

impl DisputeStatus {
    fn parse(text: Option<&str>) -> Option<Self> {
        Some(match text? {
            "warning_needs_response" => Self::WarningNeedsResponse,
            "warning_under_review" => Self::WarningUnderReview,
            "needs_response" => Self::NeedsResponse,
            "under_review" => Self::UnderReview,
            "warning_closed" => Self::WarningClosed,
            "won" => Self::Won,
            "lost" => Self::Lost,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::WarningNeedsResponse => "warning_needs_response",
            Self::WarningUnderReview => "warning_under_review",
            Self::NeedsResponse => "needs_response",
            Self::UnderReview => "under_review",
            Self::WarningClosed => "warning_closed",
            Self::Won => "won",
            Self::Lost => "lost",
        }
    }

    /// Closed: won, lost, or an inquiry that ended without a chargeback.
    pub fn is_closed(self) -> bool {
        self >= Self::WarningClosed
    }

    /// The restaurant must answer by the due date, or lose the money.
    pub fn needs_response(self) -> bool {
        matches!(self, Self::NeedsResponse | Self::WarningNeedsResponse)
    }
}

/// Refund statuses ordered so that the later word wins whatever the delivery order:
/// a refund seen as failed or canceled never counts again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum RefundStatus {
    Pending = 0,
    Succeeded = 1,
    Failed = 2,
}

impl RefundStatus {
    fn parse(text: Option<&str>) -> Self {
        match text {
            Some("succeeded") => Self::Succeeded,
            Some("failed") | Some("canceled") => Self::Failed,
            _ => Self::Pending,
        }
    }

    pub fn rank(self) -> u8 {
        self as u8
    }

    pub fn from_rank(rank: u8) -> Self {
        match rank {
            1 => Self::Succeeded,
            2 => Self::Failed,
            _ => Self::Pending,
        }
    }
}

/// A verified event reduced to what the gateway uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventFacts {
    pub event_id: String,
    pub event_type: String,
    /// Candidate gateway order ids: `metadata.order_id`, then `client_reference_id`.
    pub order_refs: Vec<String>,
    pub checkout_session_id: Option<String>,
    pub payment_intent_id: Option<String>,
    pub charge_id: Option<String>,
    pub effect: Effect,
    /// The event's `livemode`: a test event never touches a live order, nor the reverse.
    /// An event that does not say is taken for a test event.
    pub livemode: bool,
    /// The mode of the tenant's secret that verified it (live or test endpoint), when it
    /// came by webhook: an event that disagrees with it (a test event signed by the
    /// live endpoint's secret) is not applied (`mode_mismatch`).
    pub signed_livemode: Option<bool>,
    /// The connected account the event is about (`account`), for events of a Connect
    /// endpoint.
    pub account: Option<String>,
    /// The event's `created` (Unix seconds): which of a subscription's events is newest.
    pub created: i64,
    /// The customer's e-mail, where the object names one (`customer_details.email`,
    /// `receipt_email`, `billing_details.email`, `customer_email`).
    pub customer_email: Option<String>,
    /// The object's `metadata`, as received (told to the restaurant's backend).
    pub metadata: Option<Value>,
    /// What the event says about a subscription, if it is about one.
    pub subscription: Option<SubscriptionFacts>,
}

impl EventFacts {
    /// Signed by the secret of the other mode than the event's `livemode`.
    pub fn signed_in_other_mode(&self) -> bool {
        self.signed_livemode
            .is_some_and(|signed| signed != self.livemode)
    }

    /// The key of the Payment row this event is about: the PaymentIntent, else the
    /// charge, else (a session paid without a PaymentIntent) the session.
    pub fn payment_key(&self) -> Option<&str> {
        match self.effect {
            Effect::Expired | Effect::Canceled | Effect::Ignored => None,
            Effect::Pending => self.payment_intent_id.as_deref(),
            _ => self
                .payment_intent_id
                .as_deref()
                .or(self.charge_id.as_deref())
                .or(self.checkout_session_id.as_deref()),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("the body is not JSON: {0}")]
    NotJson(String),
    #[error("not a Stripe event object: {0}")]
    NotAnEvent(&'static str),
}

#[derive(Deserialize)]
#[serde(bound = "O: Deserialize<'de>")]
struct RawEvent<O> {
    id: Option<Value>,
    object: Option<Value>,
    #[serde(rename = "type")]
    kind: Option<Value>,
    data: Option<RawData<O>>,
    livemode: Option<Value>,
    account: Option<Value>,
    created: Option<Value>,
}

#[derive(Deserialize)]
#[serde(bound = "O: Deserialize<'de>")]
struct RawData<O> {
    object: Option<O>,
}

fn dispute(object: &Value) -> Option<Dispute> {
    Some(Dispute {
        id: str_field(object, "id")?.to_owned(),
        amount: int_field(object, "amount").unwrap_or(0).max(0),
        currency: currency(object),
        reason: str_field(object, "reason").map(str::to_owned),
        status: DisputeStatus::parse(object.get("status").and_then(Value::as_str))?,
        evidence_due_by: object
            .get("evidence_details")
            .and_then(|d| int_field(d, "due_by")),
    })
}

/// Parses a verified body. Errors mean "not a Stripe event": the delivery is
/// answered 400 and recorded `FAILED` with the reason.
pub fn parse(body: &[u8]) -> Result<EventFacts, ParseError> {
    parse_as::<super::kept::Kept>(body)
}

/// `parse`, building the whole of `data.object`: what `kept` is held to.
#[cfg(test)]
pub(super) fn facts_of_whole(body: &[u8]) -> Result<EventFacts, ParseError> {
    parse_as::<Value>(body)
}

/// `parse`, with `data.object` read as `O`.
fn parse_as<O>(body: &[u8]) -> Result<EventFacts, ParseError>
where
    O: for<'de> Deserialize<'de> + Into<Value>,
{
    let raw: RawEvent<O> =
        serde_json::from_slice(body).map_err(|e| ParseError::NotJson(e.to_string()))?;
    if raw.object.as_ref().and_then(Value::as_str) != Some("event") {
        return Err(ParseError::NotAnEvent("\"object\" is not \"event\""));
    }
    let event_id = match raw.id {
        Some(Value::String(id)) if is_id(&id) => id,
        _ => return Err(ParseError::NotAnEvent("\"id\" is missing or not a string")),
    };
    let event_type = match raw.kind {
        Some(Value::String(t)) if is_id(&t) => t,
        _ => {
            return Err(ParseError::NotAnEvent(
                "\"type\" is missing or not a string",
            ));
        }
    };
    let object = match raw.data.and_then(|d| d.object).map(Into::into) {
        Some(object @ Value::Object(_)) => object,
        _ => {
            return Err(ParseError::NotAnEvent(
                "\"data.object\" is missing or not an object",
            ));
        }
    };
    let livemode = raw.livemode.and_then(|v| v.as_bool()).unwrap_or(false);
    let mut facts = facts(event_id, event_type, &object, livemode);
    facts.created = raw.created.and_then(|c| c.as_i64()).unwrap_or(0);
    facts.account = match raw.account {
        Some(Value::String(account)) if is_id(&account) => Some(account),
        _ => None,
    };
    Ok(facts)
}

/// What an event of `event_type` about an object of `kind` says about a payment.
fn effect(event_type: &str, kind: &str, object: &Value) -> Effect {
    if subscription::is_subscription_checkout(kind, object) {
        // A session that starts a subscription pays no order (CONTRACT §12).
        return Effect::Ignored;
    }
    match (event_type, kind) {
        ("checkout.session.completed", "checkout.session") => {
            match object.get("payment_status").and_then(Value::as_str) {
                Some("paid") | Some("no_payment_required") => Effect::Paid {
                    amount: int_field(object, "amount_total"),
                    currency: currency(object),
                },
                _ => Effect::Pending,
            }
        }
        ("checkout.session.async_payment_succeeded", "checkout.session") => Effect::Paid {
            amount: int_field(object, "amount_total"),
            currency: currency(object),
        },
        ("checkout.session.async_payment_failed", "checkout.session") => Effect::Failed,
        ("checkout.session.expired", "checkout.session") => Effect::Expired,
        ("payment_intent.succeeded", "payment_intent") => Effect::Paid {
            amount: int_field(object, "amount_received")
                .filter(|a| *a > 0)
                .or_else(|| int_field(object, "amount")),
            currency: currency(object),
        },
        ("payment_intent.payment_failed", "payment_intent") => Effect::Failed,
        ("payment_intent.canceled", "payment_intent") => Effect::Canceled,
        (
            "charge.dispute.created"
            | "charge.dispute.updated"
            | "charge.dispute.closed"
            | "charge.dispute.funds_withdrawn"
            | "charge.dispute.funds_reinstated",
            "dispute",
        ) => dispute(object).map_or(Effect::Ignored, Effect::Dispute),
        ("charge.succeeded", "charge") => Effect::Paid {
            amount: int_field(object, "amount"),
            currency: currency(object),
        },
        ("charge.failed", "charge") => Effect::Failed,
        ("charge.refunded", "charge") => Effect::ChargeRefunded {
            amount: int_field(object, "amount"),
            amount_refunded: int_field(object, "amount_refunded").unwrap_or(0).max(0),
            currency: currency(object),
        },
        (
            "refund.created" | "refund.updated" | "refund.failed" | "charge.refund.updated",
            "refund",
        ) => match str_field(object, "id") {
            Some(refund_id) => Effect::Refund {
                refund_id: refund_id.to_owned(),
                amount: int_field(object, "amount").unwrap_or(0).max(0),
                status: RefundStatus::parse(object.get("status").and_then(Value::as_str)),
            },
            None => Effect::Ignored,
        },
        _ => Effect::Ignored,
    }
}

fn facts(event_id: String, event_type: String, object: &Value, livemode: bool) -> EventFacts {
    let mut order_refs = Vec::new();
    if let Some(id) = object
        .get("metadata")
        .and_then(|m| str_field(m, "order_id"))
    {
        order_refs.push(id.to_owned());
    }
    if let Some(id) = str_field(object, "client_reference_id")
        && !order_refs.iter().any(|r| r == id)
    {
        order_refs.push(id.to_owned());
    }
    let own_id = str_field(object, "id").map(str::to_owned);
    let mut checkout_session_id = None;
    let mut payment_intent_id = None;
    let mut charge_id = None;
    let kind = object
        .get("object")
        .and_then(Value::as_str)
        .unwrap_or_default();
    match kind {
        "checkout.session" => {
            checkout_session_id = own_id;
            payment_intent_id = expandable_id(object, "payment_intent");
        }
        "payment_intent" => {
            payment_intent_id = own_id;
            charge_id = expandable_id(object, "latest_charge");
        }
        "charge" => {
            charge_id = own_id;
            payment_intent_id = expandable_id(object, "payment_intent");
        }
        "refund" | "dispute" => {
            charge_id = expandable_id(object, "charge");
            payment_intent_id = expandable_id(object, "payment_intent");
        }
        _ => {}
    }

    let effect = effect(&event_type, kind, object);
    let nested = |key: &str| object.get(key).and_then(|o| str_field(o, "email"));
    let customer_email = nested("customer_details")
        .or_else(|| str_field(object, "receipt_email"))
        .or_else(|| nested("billing_details"))
        .or_else(|| str_field(object, "customer_email"))
        .map(str::to_owned);
    let metadata = object.get("metadata").filter(|m| m.is_object()).cloned();
    let subscription = subscription::facts(&event_type, kind, object);
    EventFacts {
        event_id,
        event_type,
        order_refs,
        checkout_session_id,
        payment_intent_id,
        charge_id,
        effect,
        livemode,
        signed_livemode: None,
        account: None,
        created: 0,
        customer_email,
        metadata,
        subscription,
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

    fn event(kind: &str, object: Value) -> Vec<u8> {
        serde_json::to_vec(&json!({
            "id": "evt_1", "object": "event", "type": kind, "created": 1763800000,
            "livemode": false, "api_version": "2025-11-17.clover", "data": {"object": object}
        }))
        .unwrap()
    }

    #[test]
    fn checkout_session_fixture_paid_names_order_session_and_intent() {
        let mut session = fixture("checkout.session");
        session["metadata"] = json!({"order_id": "ord_1"});
        session["client_reference_id"] = json!("ord_1");
        session["payment_status"] = json!("paid");
        session["payment_intent"] = json!("pi_1");
        session["amount_total"] = json!(2599);
        session["currency"] = json!("EUR");
        let facts = parse(&event("checkout.session.completed", session.clone())).unwrap();
        assert_eq!(facts.order_refs, vec!["ord_1".to_string()]);
        assert_eq!(facts.checkout_session_id.as_deref(), session["id"].as_str());
        assert_eq!(facts.payment_intent_id.as_deref(), Some("pi_1"));
        assert_eq!(
            facts.effect,
            Effect::Paid {
                amount: Some(2599),
                currency: Some("eur".into())
            }
        );
        assert_eq!(facts.payment_key(), Some("pi_1"));

        session["payment_status"] = json!("unpaid");
        let facts = parse(&event("checkout.session.completed", session)).unwrap();
        assert_eq!(facts.effect, Effect::Pending);
    }

    #[test]
    fn payment_intent_and_charge_fixtures_give_amounts() {
        let mut pi = fixture("payment_intent");
        pi["amount_received"] = json!(1200);
        let facts = parse(&event("payment_intent.succeeded", pi.clone())).unwrap();
        assert_eq!(facts.payment_intent_id.as_deref(), pi["id"].as_str());
        assert!(matches!(
            facts.effect,
            Effect::Paid {
                amount: Some(1200),
                ..
            }
        ));

        let mut charge = fixture("charge");
        charge["payment_intent"] = json!({"id": "pi_9", "object": "payment_intent"});
        charge["amount"] = json!(500);
        charge["amount_refunded"] = json!(200);
        let facts = parse(&event("charge.refunded", charge)).unwrap();
        assert_eq!(facts.payment_intent_id.as_deref(), Some("pi_9"));
        assert!(matches!(
            facts.effect,
            Effect::ChargeRefunded {
                amount: Some(500),
                amount_refunded: 200,
                ..
            }
        ));
    }

    #[test]
    fn refund_fixture_is_one_refund() {
        let mut refund = fixture("refund");
        refund["status"] = json!("succeeded");
        refund["amount"] = json!(300);
        let facts = parse(&event("refund.created", refund.clone())).unwrap();
        assert_eq!(
            facts.effect,
            Effect::Refund {
                refund_id: refund["id"].as_str().unwrap().into(),
                amount: 300,
                status: RefundStatus::Succeeded
            }
        );
    }

    #[test]
    fn dispute_fixture_is_one_dispute_on_its_charge() {
        let mut dispute = fixture("dispute");
        dispute["payment_intent"] = json!("pi_7");
        let facts = parse(&event("charge.dispute.created", dispute.clone())).unwrap();
        assert_eq!(facts.payment_intent_id.as_deref(), Some("pi_7"));
        assert_eq!(facts.charge_id.as_deref(), dispute["charge"].as_str());
        assert_eq!(facts.payment_key(), Some("pi_7"));
        let Effect::Dispute(d) = facts.effect else {
            panic!("a dispute: {:?}", facts.effect)
        };
        assert_eq!(d.id, dispute["id"].as_str().unwrap());
        assert_eq!((d.amount, d.currency.as_deref()), (1000, Some("usd")));
        assert_eq!(d.reason.as_deref(), Some("general"));
        assert_eq!(d.status, DisputeStatus::WarningNeedsResponse);
        assert_eq!(d.evidence_due_by, Some(1723679999));

        dispute["payment_intent"] = Value::Null;
        let facts = parse(&event("charge.dispute.closed", dispute)).unwrap();
        assert_eq!(
            facts.payment_key(),
            facts.charge_id.as_deref(),
            "without a PaymentIntent the charge names the payment"
        );
    }

    #[test]
    fn a_canceled_payment_intent_is_a_cancellation() {
        let facts = parse(&event("payment_intent.canceled", fixture("payment_intent"))).unwrap();
        assert_eq!(facts.effect, Effect::Canceled);
        assert_eq!(facts.payment_key(), None);
    }

    #[test]
    fn unknown_types_are_ignored_not_rejected() {
        let facts = parse(&event("customer.created", fixture("customer"))).unwrap();
        assert_eq!(facts.effect, Effect::Ignored);
        assert_eq!(facts.payment_key(), None);
    }

    #[test]
    fn bodies_that_are_not_events_are_rejected_with_a_reason() {
        assert!(matches!(parse(b"not json"), Err(ParseError::NotJson(_))));
        assert!(matches!(parse(b"[]"), Err(ParseError::NotJson(_))));
        assert_eq!(
            parse(br#"{"id":"evt_1","object":"charge"}"#),
            Err(ParseError::NotAnEvent("\"object\" is not \"event\""))
        );
        assert_eq!(
            parse(br#"{"object":"event","type":"x","data":{"object":{}}}"#),
            Err(ParseError::NotAnEvent("\"id\" is missing or not a string"))
        );
        assert_eq!(
            parse(br#"{"id":"evt_\u0000","object":"event","type":"x","data":{"object":{}}}"#),
            Err(ParseError::NotAnEvent("\"id\" is missing or not a string"))
        );
        assert_eq!(
            parse(br#"{"id":"evt_1","object":"event","data":{"object":{}}}"#),
            Err(ParseError::NotAnEvent(
                "\"type\" is missing or not a string"
            ))
        );
        assert_eq!(
            parse(br#"{"id":"evt_1","object":"event","type":"x","data":{"object":3}}"#),
            Err(ParseError::NotAnEvent(
                "\"data.object\" is missing or not an object"
            ))
        );
    }
}
