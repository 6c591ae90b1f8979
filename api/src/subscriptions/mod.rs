//! Subscriptions (CONTRACT §12): a row per Stripe subscription, kept by the events
//! about it whatever the order they arrive in.
//!
//! Each event carries a rank: `(canceled, created, event id)` for the status it gives
//! (a canceled subscription stays canceled; otherwise the newest event wins, the event
//! id breaking ties), `(created, event id)` for the subscription object's details
//! (customer, prices, period). A row keeps, for each, what its best-ranked event said,
//! so that any order of the same events leaves the same row.

pub mod store;

pub use store::{Subscribed, apply, apply_into};

use crate::clock::ms_to_rfc3339;
use crate::stripe::event::EventFacts;
use crate::stripe::subscription::{Said, SubscriptionFacts};
use entity::subscription;

/// What a subscription's row says before any event gave it a status (a Checkout
/// Session in `subscription` mode came first).
pub const UNKNOWN_STATUS: &str = "incomplete";
pub const CANCELED: &str = "canceled";

fn status_rank(canceled: bool, created: i64, event_id: &str) -> (bool, i64, &str) {
    (canceled, created, event_id)
}

/// A fresh row for `facts`, before any event is merged into it: every rank the lowest.
pub fn empty(
    tenant_id: i64,
    facts: &SubscriptionFacts,
    livemode: bool,
    now: i64,
) -> subscription::Model {
    subscription::Model {
        tenant_id,
        id: facts.id.clone(),
        customer: None,
        status: String::new(),
        price_ids: "[]".into(),
        current_period_end: None,
        cancel_at_period_end: false,
        livemode,
        checkout_session_id: None,
        status_created: i64::MIN,
        status_event_id: String::new(),
        detail_created: i64::MIN,
        detail_event_id: String::new(),
        created_at: now,
        updated_at: now,
    }
}

/// Merges one event into a row (see the module's documentation). Returns whether the
/// row changed.
pub fn merge(row: &mut subscription::Model, event: &EventFacts, facts: &SubscriptionFacts) -> bool {
    let before = row.clone();
    let (created, event_id) = (event.created, event.event_id.as_str());
    if let Some(status) = facts.status() {
        let ours = status_rank(status == CANCELED, created, event_id);
        let theirs = status_rank(
            row.status == CANCELED,
            row.status_created,
            &row.status_event_id,
        );
        if ours > theirs {
            row.status = status.to_owned();
            row.status_created = created;
            row.status_event_id = event_id.to_owned();
        }
    }
    match &facts.said {
        Said::Object {
            price_ids,
            current_period_end,
            cancel_at_period_end,
            ..
        } if (created, event_id) > (row.detail_created, row.detail_event_id.as_str()) => {
            row.detail_created = created;
            row.detail_event_id = event_id.to_owned();
            row.price_ids = serde_json::to_string(price_ids).expect("strings serialize");
            row.current_period_end = *current_period_end;
            row.cancel_at_period_end = *cancel_at_period_end;
            if facts.customer.is_some() {
                row.customer = facts.customer.clone();
            }
        }
        Said::Checkout { session_id } if row.checkout_session_id.is_none() => {
            row.checkout_session_id = Some(session_id.clone());
        }
        _ => {}
    }
    // Only the subscription object's customer is authoritative; others fill a gap.
    if row.customer.is_none() {
        row.customer = facts.customer.clone();
    }
    row.livemode = event.livemode;
    *row != before
}

/// The status shown for a row (`incomplete` until an event gave one).
pub fn shown_status(row: &subscription::Model) -> &str {
    match row.status.as_str() {
        "" => UNKNOWN_STATUS,
        status => status,
    }
}

/// A subscription as the restaurant's backend and its admins see it.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct SubscriptionView {
    /// Stripe's subscription id (`sub_…`).
    pub id: String,
    pub customer: Option<String>,
    /// Stripe's status (`active`, `trialing`, `past_due`, `canceled`, …); `incomplete`
    /// until an event said one.
    pub status: String,
    pub price_ids: Vec<String>,
    #[schema(format = DateTime)]
    pub current_period_end: Option<String>,
    pub cancel_at_period_end: bool,
    pub livemode: bool,
    #[schema(format = DateTime)]
    pub updated_at: String,
}

impl From<&subscription::Model> for SubscriptionView {
    fn from(row: &subscription::Model) -> Self {
        Self {
            id: row.id.clone(),
            customer: row.customer.clone(),
            status: shown_status(row).to_owned(),
            price_ids: price_ids(row),
            current_period_end: row.current_period_end.map(|s| ms_to_rfc3339(s * 1000)),
            cancel_at_period_end: row.cancel_at_period_end,
            livemode: row.livemode,
            updated_at: ms_to_rfc3339(row.updated_at),
        }
    }
}

/// The row's price ids.
pub fn price_ids(row: &subscription::Model) -> Vec<String> {
    serde_json::from_str(&row.price_ids).unwrap_or_default()
}

#[cfg(test)]
mod tests;
