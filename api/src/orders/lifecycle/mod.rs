//! The order state machine, as a join of facts.
//!
//! Stripe retries, duplicates and reorders deliveries, so the state of an order must
//! not depend on the order in which events arrive. Every event therefore only adds a
//! fact (a payment succeeded, failed, was refunded up to N, was disputed, a session
//! expired, a PaymentIntent was canceled), each fact only ever grows (booleans are
//! or-ed, amounts take the maximum, refunds and disputes are sets whose members only
//! move on), and the status is computed from the facts. Applying an event twice, or events
//! in another order, reaches the same facts and so the same status.

use crate::stripe::event::{Dispute, DisputeStatus, Effect, RefundStatus};
use std::collections::BTreeMap;
use std::fmt;

mod totals;
pub use totals::Totals;

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, utoipa::ToSchema,
)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum OrderStatus {
    PaymentPending,
    PaymentFailed,
    Expired,
    /// The PaymentIntent was canceled before any money came.
    Canceled,
    /// A payment succeeded but does not cover the order (less, or another currency).
    AmountMismatch,
    Paid,
    PartiallyRefunded,
    Refunded,
    /// A dispute (chargeback) is open on a payment: the money may go back.
    Disputed,
    /// A dispute was lost: the money went back to the customer.
    DisputeLost,
}

impl OrderStatus {
    pub const ALL: [OrderStatus; 10] = [
        Self::PaymentPending,
        Self::PaymentFailed,
        Self::Expired,
        Self::Canceled,
        Self::AmountMismatch,
        Self::Paid,
        Self::PartiallyRefunded,
        Self::Refunded,
        Self::Disputed,
        Self::DisputeLost,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::PaymentPending => "PAYMENT_PENDING",
            Self::PaymentFailed => "PAYMENT_FAILED",
            Self::Expired => "EXPIRED",
            Self::AmountMismatch => "AMOUNT_MISMATCH",
            Self::Paid => "PAID",
            Self::PartiallyRefunded => "PARTIALLY_REFUNDED",
            Self::Refunded => "REFUNDED",
            Self::Canceled => "CANCELED",
            Self::Disputed => "DISPUTED",
            Self::DisputeLost => "DISPUTE_LOST",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == text)
    }
}

impl fmt::Display for OrderStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Everything known about one payment (one PaymentIntent).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PaymentFacts {
    pub succeeded: bool,
    pub failed: bool,
    pub amount: Option<i64>,
    pub currency: Option<String>,
    /// The largest cumulative `amount_refunded` a charge event reported.
    pub charge_refunded: i64,
    /// Refund id → (amount, status), from refund events.
    pub refunds: BTreeMap<String, (i64, RefundStatus)>,
    /// Dispute id → what the furthest-moved events said of it.
    pub disputes: BTreeMap<String, Dispute>,
}

/// Joins what two events said of one dispute: the further status wins whole; at the
/// same status, each field takes the larger value. The result depends only on the set
/// of events, not on their order.
fn join_dispute(known: &mut Dispute, seen: &Dispute) {
    if seen.status > known.status {
        *known = seen.clone();
    } else if seen.status == known.status {
        known.amount = known.amount.max(seen.amount);
        known.currency = known.currency.take().max(seen.currency.clone());
        known.reason = known.reason.take().max(seen.reason.clone());
        known.evidence_due_by = known.evidence_due_by.max(seen.evidence_due_by);
    }
}

fn join_max(a: Option<i64>, b: Option<i64>) -> Option<i64> {
    a.max(b)
}

fn join_min_str(a: Option<String>, b: Option<&String>) -> Option<String> {
    match (a, b) {
        (Some(a), Some(b)) => Some(if *b < a { b.clone() } else { a }),
        (a, b) => a.or_else(|| b.cloned()),
    }
}

impl PaymentFacts {
    /// Adds what one event says. Commutative, associative and idempotent.
    pub fn apply(&mut self, effect: &Effect) {
        match effect {
            Effect::Paid { amount, currency } => {
                self.succeeded = true;
                self.amount = join_max(self.amount, *amount);
                self.currency = join_min_str(self.currency.take(), currency.as_ref());
            }
            Effect::Failed => self.failed = true,
            Effect::ChargeRefunded {
                amount,
                amount_refunded,
                currency,
            } => {
                // Only a charge that succeeded can be refunded.
                self.succeeded = true;
                self.amount = join_max(self.amount, *amount);
                self.currency = join_min_str(self.currency.take(), currency.as_ref());
                self.charge_refunded = self.charge_refunded.max(*amount_refunded);
            }
            Effect::Refund {
                refund_id,
                amount,
                status,
            } => {
                self.succeeded = true;
                let entry = self
                    .refunds
                    .entry(refund_id.clone())
                    .or_insert((*amount, *status));
                entry.0 = entry.0.max(*amount);
                entry.1 = entry.1.max(*status);
            }
            Effect::Dispute(dispute) => {
                // Only a charge that succeeded can be disputed.
                self.succeeded = true;
                match self.disputes.get_mut(&dispute.id) {
                    Some(known) => join_dispute(known, dispute),
                    None => {
                        self.disputes.insert(dispute.id.clone(), dispute.clone());
                    }
                }
            }
            Effect::Pending | Effect::Expired | Effect::Canceled | Effect::Ignored => {}
        }
    }

    /// The refunded amount: what the charge reports or the sum of succeeded refunds,
    /// whichever is larger (the two describe the same money, seen from two sides).
    pub fn amount_refunded(&self) -> i64 {
        let from_refunds: i64 = self
            .refunds
            .values()
            .filter(|(_, status)| *status == RefundStatus::Succeeded)
            .map(|(amount, _)| *amount)
            .sum();
        self.charge_refunded.max(from_refunds)
    }

    /// A lost dispute, else an open one: what the disputes say of this payment.
    pub fn dispute_state(&self) -> Option<OrderStatus> {
        let mut state = None;
        for dispute in self.disputes.values() {
            match dispute.status {
                DisputeStatus::Lost => return Some(OrderStatus::DisputeLost),
                s if !s.is_closed() => state = Some(OrderStatus::Disputed),
                _ => {}
            }
        }
        state
    }

    /// `fallback_amount` (the order's amount) stands in while no event named the amount.
    pub fn status(&self, fallback_amount: Option<i64>) -> &'static str {
        let refunded = self.amount_refunded();
        let amount = self.amount.or(fallback_amount).unwrap_or(0);
        match self.dispute_state() {
            Some(OrderStatus::DisputeLost) => return "dispute_lost",
            Some(_) => return "disputed",
            None => {}
        }
        if refunded > 0 {
            if amount > 0 && refunded >= amount {
                "refunded"
            } else {
                "partially_refunded"
            }
        } else if self.succeeded {
            "succeeded"
        } else if self.failed {
            "failed"
        } else {
            "pending"
        }
    }

    pub fn refunds_json(&self) -> String {
        let map: BTreeMap<&str, (i64, u8)> = self
            .refunds
            .iter()
            .map(|(id, (amount, status))| (id.as_str(), (*amount, status.rank())))
            .collect();
        serde_json::to_string(&map).expect("a map of numbers serializes")
    }

    pub fn disputes_json(&self) -> String {
        serde_json::to_string(&self.disputes).expect("disputes serialize")
    }

    /// The stored disputes (`{}` or unreadable text: none).
    pub fn disputes_from_json(text: &str) -> BTreeMap<String, Dispute> {
        serde_json::from_str(text).unwrap_or_default()
    }

    pub fn refunds_from_json(text: &str) -> BTreeMap<String, (i64, RefundStatus)> {
        let map: BTreeMap<String, (i64, u8)> = serde_json::from_str(text).unwrap_or_default();
        map.into_iter()
            .map(|(id, (amount, rank))| (id, (amount, RefundStatus::from_rank(rank))))
            .collect()
    }
}

/// What an order is owed and what its succeeded payments brought in its currency.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Money<'a> {
    pub amount: i64,
    pub currency: &'a str,
}

/// The sum of the succeeded payments in `currency` (a payment that does not say its
/// amount or currency counts for nothing: money is checked, never assumed).
pub fn received(currency: &str, payments: &[PaymentFacts]) -> i64 {
    payments
        .iter()
        .filter(|p| p.succeeded && p.currency.as_deref() == Some(currency))
        .filter_map(|p| p.amount)
        .sum()
}

/// How an order ended without money: its session expired, its PaymentIntent was canceled.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Ended {
    pub expired: bool,
    pub canceled: bool,
}

/// The status of an order from its own facts and those of its payments.
///
/// `PAID` only when the succeeded payments in the order's currency add up to at least
/// its amount; a succeeded payment short of that (less, or another currency) is
/// `AMOUNT_MISMATCH` until another payment covers it. A lost dispute makes it
/// `DISPUTE_LOST`, an open one `DISPUTED`; a won one leaves what the payments say.
/// Expiry and cancellation only end an order that no money reached.
pub fn order_status(order: Money, ended: Ended, payments: &[PaymentFacts]) -> OrderStatus {
    status_of(order, ended, &Totals::of_payments(order.currency, payments))
}

/// `order_status` from the order's running totals (see `totals`).
pub fn status_of(order: Money, ended: Ended, totals: &Totals) -> OrderStatus {
    if totals.dispute_lost > 0 {
        return OrderStatus::DisputeLost;
    }
    if totals.disputed > 0 {
        return OrderStatus::Disputed;
    }
    // A succeeded payment that never said its amount stands for the order's.
    let paid_total = totals.amounts + totals.amountless * order.amount;
    if totals.refunded > 0 {
        if paid_total > 0 && totals.refunded >= paid_total {
            OrderStatus::Refunded
        } else {
            OrderStatus::PartiallyRefunded
        }
    } else if totals.succeeded > 0 {
        if totals.received >= order.amount {
            OrderStatus::Paid
        } else {
            OrderStatus::AmountMismatch
        }
    } else if ended.expired {
        OrderStatus::Expired
    } else if ended.canceled {
        OrderStatus::Canceled
    } else if totals.failed > 0 {
        OrderStatus::PaymentFailed
    } else {
        OrderStatus::PaymentPending
    }
}

#[cfg(test)]
mod tests;
