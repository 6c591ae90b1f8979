//! Applying a group of verified events to orders and payments with a handful of
//! set-based statements, whatever the group's size:
//!
//! 1. one read of every order the group names (by id, session or PaymentIntent),
//!    locked, and of every payment it names: an order keeps the running totals of its
//!    payments (`lifecycle::Totals`), so its other payments are not read (only those
//!    of an order from before totals were kept, once);
//! 2. the events joined in memory one after another, in the group's order, exactly
//!    as applying them one at a time would (see `lifecycle`: facts only grow);
//! 3. one insert of the new payments, one upsert of the changed payments and one of
//!    the changed orders.
//!
//! Every read is scoped by the tenant of the event that asks, and every match in
//! memory compares the tenant too. The permutation tests apply the same events one by
//! one and as one group and expect the same rows.

use super::lifecycle::{PaymentFacts, Totals};
use crate::stripe::event::EventFacts;
use entity::{order, payment};
use sea_orm::{ConnectionTrait, DbErr};
use std::collections::HashSet;

mod join;
mod read;
mod write;

use read::load;
#[doc(hidden)]
pub use read::postgres_reads;

/// What applying an event did, as recorded in the event's `outcome`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The order's status changed.
    Applied,
    /// The order was found and the facts recorded; its status stayed (e.g. a late
    /// failure for a paid order, or a duplicate success).
    Unchanged,
    /// No order matched; payment facts are kept and count once an order is linked.
    Unmatched,
    /// An event type the gateway does not act on.
    Ignored,
    /// A test event about a live order, or a live event about a test order: the order
    /// is left as it was.
    ModeMismatch,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Applied => "applied",
            Self::Unchanged => "unchanged",
            Self::Unmatched => "unmatched",
            Self::Ignored => "ignored",
            Self::ModeMismatch => "mode_mismatch",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    pub outcome: Outcome,
    pub order_id: Option<String>,
}

/// What a payment row knows, as the lifecycle reads it.
pub fn facts_of(row: &payment::Model) -> PaymentFacts {
    PaymentFacts {
        succeeded: row.succeeded,
        failed: row.failed,
        amount: row.amount,
        currency: row.currency.clone(),
        charge_refunded: row.charge_refunded,
        refunds: PaymentFacts::refunds_from_json(&row.refunds),
        disputes: PaymentFacts::disputes_from_json(&row.disputes),
    }
}

/// One event of a group, with the tenant it was delivered to.
#[derive(Debug, Clone, Copy)]
pub struct Item<'a> {
    pub tenant_id: i64,
    pub facts: &'a EventFacts,
}

/// What applying a group did.
#[derive(Debug, Default)]
pub struct GroupApplied {
    /// One for each item, in the same order.
    pub applied: Vec<Applied>,
    /// Every status change, with the order as it was right after it: what the
    /// restaurant's backend is told, in the order it happened.
    pub changes: Vec<OrderChange>,
    /// Every subscription whose status changed, as it was right after (filled by
    /// `subscriptions::apply_into`, which the callers run beside).
    pub subscriptions: Vec<entity::subscription::Model>,
}

/// An order's status change, with what the restaurant's backend is told besides the
/// order's row (CONTRACT §12).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderChange {
    pub order: order::Model,
    /// The succeeded payments' sum in the order's currency.
    pub amount_received: i64,
    pub amount_refunded: i64,
    /// The `metadata` of the Stripe object whose event made the change (none for an
    /// admin's change).
    pub metadata: Option<serde_json::Value>,
}

impl OrderChange {
    /// The change to `order` (as it is now), its amounts summed from its payments.
    pub fn of(order: order::Model, payments: &[payment::Model]) -> Self {
        let facts: Vec<PaymentFacts> = payments.iter().map(facts_of).collect();
        let totals = Totals::of_payments(&order.currency, &facts);
        Self::with(order, &totals, None)
    }

    fn with(order: order::Model, totals: &Totals, metadata: Option<serde_json::Value>) -> Self {
        Self {
            amount_received: totals.received,
            amount_refunded: totals.refunded,
            order,
            metadata,
        }
    }
}

/// Applies the items in their order. Call inside a transaction.
pub async fn apply_group<C: ConnectionTrait>(
    db: &C,
    items: &[Item<'_>],
    now: i64,
) -> Result<GroupApplied, DbErr> {
    let read = read_group(db, items, false).await?;
    apply_read(db, read, items, now).await
}

/// The rows a group may touch, read and locked (see `read_group`).
pub struct GroupRead {
    rows: Rows,
    /// Which of the group's events the tenant has stored already, as `(tenant, event
    /// id)`: read in the same statement on PostgreSQL when asked; `None` otherwise.
    pub stored: Option<HashSet<(i64, String)>>,
    /// Which of the group's tenants have notification endpoints: read in the same
    /// statement, when `stored` is.
    pub endpoint_tenants: Option<HashSet<i64>>,
}

/// Reads and locks every order and payment the items name. Asked with `stored`, on
/// PostgreSQL the same statement also says which of the items' events are stored
/// already: the caller can then apply only the new ones (`apply_read`), one round trip
/// a group fewer than reading that first.
pub async fn read_group<C: ConnectionTrait>(
    db: &C,
    items: &[Item<'_>],
    stored: bool,
) -> Result<GroupRead, DbErr> {
    let events: Vec<(i64, &str)> = match stored {
        true => items
            .iter()
            .map(|i| (i.tenant_id, i.facts.event_id.as_str()))
            .collect(),
        false => Vec::new(),
    };
    let (rows, seen) = load(db, items, stored.then_some(&events[..])).await?;
    let (stored, endpoint_tenants) = match seen {
        Some(seen) => (Some(seen.stored), Some(seen.endpoint_tenants)),
        None => (None, None),
    };
    Ok(GroupRead {
        rows,
        stored,
        endpoint_tenants,
    })
}

/// Applies the items in their order to the rows read (by `read_group`, for these items
/// or more) and writes what changed.
pub async fn apply_read<C: ConnectionTrait>(
    db: &C,
    read: GroupRead,
    items: &[Item<'_>],
    now: i64,
) -> Result<GroupApplied, DbErr> {
    let mut rows = read.rows;
    let mut out = GroupApplied::default();
    for item in items {
        let applied = rows.apply(item.tenant_id, item.facts, now, &mut out.changes);
        out.applied.push(applied);
    }
    rows.keep_totals();
    rows.write(db).await?;
    Ok(out)
}

struct OrderRow {
    model: order::Model,
    original: order::Model,
    /// The running totals of the order's payments, as they are now in memory; `None`
    /// for an order from before they were kept, whose payments are then all read and
    /// summed (see `Rows::totals`).
    totals: Option<Totals>,
}

struct PaymentRow {
    model: payment::Model,
    /// `None` for a payment this group creates.
    original: Option<payment::Model>,
}

/// The rows the group may touch, as they are now in memory.
#[derive(Default)]
struct Rows {
    orders: Vec<OrderRow>,
    payments: Vec<PaymentRow>,
}
