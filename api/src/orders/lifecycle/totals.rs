//! An order's running totals: what `order_status` needs of its payments, kept on the
//! order's row so that applying an event reads only the payments it names, however
//! many the order already has.
//!
//! Each payment contributes a fixed vector (`Totals::of_payment`); the order's totals
//! are the sum of its payments' contributions. When a payment changes, the order's
//! totals lose what it contributed and gain what it contributes now, so they always
//! equal the sum computed from every payment (the permutation tests check that).

use super::{OrderStatus, PaymentFacts};
use std::ops::{AddAssign, SubAssign};

/// The sum over an order's payments of what the order's status and notifications need.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Totals {
    /// Succeeded payments.
    pub succeeded: i64,
    /// Succeeded payments that never said their amount (each counts as the order's).
    pub amountless: i64,
    /// The amounts of the succeeded payments that said theirs, in any currency.
    pub amounts: i64,
    /// The amounts of the succeeded payments in the order's currency.
    pub received: i64,
    /// The refunded amounts of the succeeded payments.
    pub refunded: i64,
    /// Payments that failed.
    pub failed: i64,
    /// Payments with an open dispute (and none lost).
    pub disputed: i64,
    /// Payments with a lost dispute.
    pub dispute_lost: i64,
}

impl Totals {
    /// What one payment adds to the totals of an order in `currency`.
    pub fn of_payment(currency: &str, p: &PaymentFacts) -> Self {
        let dispute = p.dispute_state();
        let succeeded = i64::from(p.succeeded);
        Self {
            succeeded,
            amountless: i64::from(p.succeeded && p.amount.is_none()),
            amounts: succeeded * p.amount.unwrap_or(0),
            received: match p.succeeded && p.currency.as_deref() == Some(currency) {
                true => p.amount.unwrap_or(0),
                false => 0,
            },
            // Only a succeeded payment can be refunded (its refund events say so).
            refunded: succeeded * p.amount_refunded(),
            failed: i64::from(p.failed),
            disputed: i64::from(dispute == Some(OrderStatus::Disputed)),
            dispute_lost: i64::from(dispute == Some(OrderStatus::DisputeLost)),
        }
    }

    /// The totals of an order in `currency` with these payments.
    pub fn of_payments(currency: &str, payments: &[PaymentFacts]) -> Self {
        let mut totals = Self::default();
        for p in payments {
            totals += Self::of_payment(currency, p);
        }
        totals
    }

    /// As stored on the order's row.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("numbers serialize")
    }

    /// The stored totals; `None` when not kept yet (an order from before they were)
    /// or unreadable (see `apply::Rows::check_totals`).
    pub fn from_json(text: Option<&str>) -> Option<Self> {
        serde_json::from_str(text?).ok()
    }
}

impl AddAssign for Totals {
    fn add_assign(&mut self, o: Self) {
        self.succeeded += o.succeeded;
        self.amountless += o.amountless;
        self.amounts += o.amounts;
        self.received += o.received;
        self.refunded += o.refunded;
        self.failed += o.failed;
        self.disputed += o.disputed;
        self.dispute_lost += o.dispute_lost;
    }
}

impl SubAssign for Totals {
    fn sub_assign(&mut self, o: Self) {
        self.succeeded -= o.succeeded;
        self.amountless -= o.amountless;
        self.amounts -= o.amounts;
        self.received -= o.received;
        self.refunded -= o.refunded;
        self.failed -= o.failed;
        self.disputed -= o.disputed;
        self.dispute_lost -= o.dispute_lost;
    }
}
