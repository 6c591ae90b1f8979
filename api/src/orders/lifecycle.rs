//! The order state machine, as a join of facts.
//!
//! Stripe retries, duplicates and reorders deliveries, so the state of an order must
//! not depend on the order in which events arrive. Every event therefore only adds a
//! fact (a payment succeeded, failed, was refunded up to N, a session expired), each
//! fact only ever grows (booleans are or-ed, amounts take the maximum, refunds are a
//! set), and the status is computed from the facts. Applying an event twice, or events
//! in another order, reaches the same facts and so the same status.

use crate::stripe::event::{Effect, RefundStatus};
use std::collections::BTreeMap;
use std::fmt;

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, utoipa::ToSchema,
)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum OrderStatus {
    PaymentPending,
    PaymentFailed,
    Expired,
    /// A payment succeeded but does not cover the order (less, or another currency).
    AmountMismatch,
    Paid,
    PartiallyRefunded,
    Refunded,
}

impl OrderStatus {
    pub const ALL: [OrderStatus; 7] = [
        Self::PaymentPending,
        Self::PaymentFailed,
        Self::Expired,
        Self::AmountMismatch,
        Self::Paid,
        Self::PartiallyRefunded,
        Self::Refunded,
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
            Effect::Pending | Effect::Expired | Effect::Ignored => {}
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

    /// `fallback_amount` (the order's amount) stands in while no event named the amount.
    pub fn status(&self, fallback_amount: Option<i64>) -> &'static str {
        let refunded = self.amount_refunded();
        let amount = self.amount.or(fallback_amount).unwrap_or(0);
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

/// The status of an order from its own facts and those of its payments.
///
/// `PAID` only when the succeeded payments in the order's currency add up to at least
/// its amount; a succeeded payment short of that (less, or another currency) is
/// `AMOUNT_MISMATCH` until another payment covers it.
pub fn order_status(order: Money, expired: bool, payments: &[PaymentFacts]) -> OrderStatus {
    let paid: Vec<&PaymentFacts> = payments.iter().filter(|p| p.succeeded).collect();
    let refunded: i64 = paid.iter().map(|p| p.amount_refunded()).sum();
    let paid_total: i64 = paid.iter().map(|p| p.amount.unwrap_or(order.amount)).sum();
    if refunded > 0 {
        if paid_total > 0 && refunded >= paid_total {
            OrderStatus::Refunded
        } else {
            OrderStatus::PartiallyRefunded
        }
    } else if !paid.is_empty() {
        if received(order.currency, payments) >= order.amount {
            OrderStatus::Paid
        } else {
            OrderStatus::AmountMismatch
        }
    } else if expired {
        OrderStatus::Expired
    } else if payments.iter().any(|p| p.failed) {
        OrderStatus::PaymentFailed
    } else {
        OrderStatus::PaymentPending
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paid(amount: i64) -> Effect {
        Effect::Paid {
            amount: Some(amount),
            currency: Some("eur".into()),
        }
    }

    fn refunded(amount_refunded: i64) -> Effect {
        Effect::ChargeRefunded {
            amount: Some(2599),
            amount_refunded,
            currency: Some("eur".into()),
        }
    }

    fn status_after(effects: &[Effect]) -> OrderStatus {
        let mut payment = PaymentFacts::default();
        let mut expired = false;
        for effect in effects {
            expired |= *effect == Effect::Expired;
            payment.apply(effect);
        }
        order_status(EUR_2599, expired, &[payment])
    }

    const EUR_2599: Money = Money {
        amount: 2599,
        currency: "eur",
    };

    fn payment_of(amount: i64, currency: &str) -> PaymentFacts {
        let mut p = PaymentFacts::default();
        p.apply(&Effect::Paid {
            amount: Some(amount),
            currency: Some(currency.into()),
        });
        p
    }

    #[test]
    fn money_is_checked_before_an_order_is_paid() {
        let order = Money {
            amount: 3000,
            currency: "eur",
        };
        assert_eq!(
            order_status(EUR_2599, false, &[payment_of(1, "jpy")]),
            OrderStatus::AmountMismatch,
            "1 JPY does not pay 25.99 EUR"
        );
        assert_eq!(
            order_status(EUR_2599, false, &[payment_of(2599, "usd")]),
            OrderStatus::AmountMismatch,
            "the same number in another currency does not either"
        );
        let first = payment_of(1000, "eur");
        assert_eq!(
            order_status(order, false, std::slice::from_ref(&first)),
            OrderStatus::AmountMismatch
        );
        assert_eq!(
            order_status(order, false, &[first, payment_of(2000, "eur")]),
            OrderStatus::Paid,
            "two payments that add up pay it"
        );
        assert_eq!(
            order_status(EUR_2599, false, &[payment_of(5000, "eur")]),
            OrderStatus::Paid,
            "more than enough pays it"
        );
        let mut unknown = PaymentFacts::default();
        unknown.apply(&Effect::Paid {
            amount: None,
            currency: None,
        });
        assert_eq!(
            order_status(EUR_2599, false, &[unknown]),
            OrderStatus::AmountMismatch,
            "a payment that does not say how much is not assumed to be enough"
        );
    }

    #[test]
    fn the_contract_transitions() {
        assert_eq!(status_after(&[]), OrderStatus::PaymentPending);
        assert_eq!(
            status_after(&[Effect::Pending]),
            OrderStatus::PaymentPending
        );
        assert_eq!(status_after(&[paid(2599)]), OrderStatus::Paid);
        assert_eq!(status_after(&[Effect::Failed]), OrderStatus::PaymentFailed);
        assert_eq!(
            status_after(&[Effect::Failed, Effect::Expired]),
            OrderStatus::Expired
        );
        assert_eq!(
            status_after(&[Effect::Expired, Effect::Failed]),
            OrderStatus::Expired
        );
        assert_eq!(
            status_after(&[Effect::Failed, paid(2599)]),
            OrderStatus::Paid
        );
        assert_eq!(
            status_after(&[paid(2599), refunded(1000)]),
            OrderStatus::PartiallyRefunded
        );
        assert_eq!(
            status_after(&[paid(2599), refunded(2599)]),
            OrderStatus::Refunded
        );
    }

    #[test]
    fn late_failures_and_expiries_never_move_a_paid_order_back() {
        assert_eq!(
            status_after(&[paid(2599), Effect::Failed]),
            OrderStatus::Paid
        );
        assert_eq!(
            status_after(&[paid(2599), Effect::Expired]),
            OrderStatus::Paid
        );
        assert_eq!(
            status_after(&[paid(2599), refunded(2599), Effect::Failed, Effect::Expired]),
            OrderStatus::Refunded
        );
    }

    #[test]
    fn refunded_amount_only_grows() {
        assert_eq!(
            status_after(&[refunded(2599), refunded(1000)]),
            OrderStatus::Refunded
        );
        let mut p = PaymentFacts::default();
        p.apply(&refunded(2599));
        p.apply(&refunded(1000));
        assert_eq!(p.amount_refunded(), 2599);
    }

    #[test]
    fn a_refund_before_the_payment_still_ends_refunded() {
        assert_eq!(
            status_after(&[refunded(2599), paid(2599)]),
            OrderStatus::Refunded
        );
    }

    #[test]
    fn refund_objects_count_once_and_only_when_succeeded() {
        let refund = |status| Effect::Refund {
            refund_id: "re_1".into(),
            amount: 2599,
            status,
        };
        let mut p = PaymentFacts::default();
        p.apply(&paid(2599));
        p.apply(&refund(RefundStatus::Pending));
        assert_eq!(p.amount_refunded(), 0);
        p.apply(&refund(RefundStatus::Succeeded));
        p.apply(&refund(RefundStatus::Succeeded));
        assert_eq!(p.amount_refunded(), 2599);
        assert_eq!(p.status(None), "refunded");
        p.apply(&refund(RefundStatus::Pending));
        assert_eq!(
            p.amount_refunded(),
            2599,
            "a late 'pending' does not undo it"
        );
        p.apply(&refund(RefundStatus::Failed));
        assert_eq!(
            p.amount_refunded(),
            0,
            "a failed refund gives the money back"
        );
        let round_trip = PaymentFacts::refunds_from_json(&p.refunds_json());
        assert_eq!(round_trip, p.refunds);
    }

    /// Every permutation of a realistic set of effects reaches the same facts.
    #[test]
    fn every_delivery_order_reaches_the_same_facts() {
        let effects = [
            Effect::Pending,
            paid(2599),
            paid(2599),
            Effect::Failed,
            Effect::Expired,
            refunded(1000),
            refunded(2599),
        ];
        let mut seen = None;
        permutations(effects.len(), &mut |order| {
            let mut p = PaymentFacts::default();
            for i in order {
                p.apply(&effects[*i]);
            }
            let result = (
                p.clone(),
                status_after(
                    &order
                        .iter()
                        .map(|i| effects[*i].clone())
                        .collect::<Vec<_>>(),
                ),
            );
            match &seen {
                None => seen = Some(result),
                Some(first) => assert_eq!(first, &result, "order {order:?}"),
            }
        });
        assert_eq!(seen.unwrap().1, OrderStatus::Refunded);
    }

    /// Calls `f` with every permutation of `0..n` (Heap's algorithm).
    pub fn permutations(n: usize, f: &mut dyn FnMut(&[usize])) {
        let mut items: Vec<usize> = (0..n).collect();
        let mut c = vec![0; n];
        f(&items);
        let mut i = 0;
        while i < n {
            if c[i] < i {
                if i % 2 == 0 {
                    items.swap(0, i);
                } else {
                    items.swap(c[i], i);
                }
                f(&items);
                c[i] += 1;
                i = 0;
            } else {
                c[i] = 0;
                i += 1;
            }
        }
    }
}
