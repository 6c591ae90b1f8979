//! Orders and payments in the database, and applying an event's facts to them.
//!
//! Applying is idempotent: facts only grow (see `lifecycle`), so a repeat of the same
//! event, by a retry or by another replica, leaves the rows as they were. Every query
//! is scoped by tenant.

use super::lifecycle::{OrderStatus, Totals};
use crate::stripe::event::EventFacts;
use entity::{order, payment};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set,
};

pub use super::apply::{Applied, Outcome};

/// Whether `text` can be an order id (`ord_` and letters or digits): anything else is
/// no order, without asking the database.
pub fn is_order_id(text: &str) -> bool {
    text.len() <= 64
        && text
            .strip_prefix("ord_")
            .is_some_and(|rest| !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_alphanumeric()))
}

pub fn new_order_id() -> String {
    let mut bytes = [0u8; 16];
    rand::fill(&mut bytes);
    format!("ord_{}", hex::encode(bytes))
}

fn scoped_order(tenant_id: i64) -> sea_orm::Select<order::Entity> {
    order::Entity::find().filter(order::Column::TenantId.eq(tenant_id))
}

fn scoped_payment(tenant_id: i64) -> sea_orm::Select<payment::Entity> {
    payment::Entity::find().filter(payment::Column::TenantId.eq(tenant_id))
}

/// Applies one verified event (a group of one: see `apply::apply_group`). Call
/// inside a transaction.
pub async fn apply<C: ConnectionTrait>(
    db: &C,
    tenant_id: i64,
    facts: &EventFacts,
    now: i64,
) -> Result<Applied, DbErr> {
    let item = super::apply::Item { tenant_id, facts };
    super::apply::apply_group(db, &[item], now)
        .await?
        .applied
        .pop()
        .ok_or_else(|| DbErr::Custom("applying one event gave no outcome".into()))
}

pub async fn create<C: ConnectionTrait>(
    db: &C,
    tenant_id: i64,
    amount: i64,
    currency: &str,
    reference: Option<String>,
    livemode: bool,
    now: i64,
) -> Result<order::Model, DbErr> {
    order::ActiveModel {
        id: Set(new_order_id()),
        tenant_id: Set(tenant_id),
        amount: Set(amount),
        currency: Set(currency.to_string()),
        reference: Set(reference),
        status: Set(OrderStatus::PaymentPending.as_str().to_string()),
        checkout_session_id: Set(None),
        payment_intent_id: Set(None),
        expired: Set(false),
        canceled: Set(false),
        manual_status: Set(None),
        manual_reason: Set(None),
        livemode: Set(livemode),
        customer_email: Set(None),
        totals: Set(Some(Totals::default().to_json())),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(db)
    .await
}

/// The payments of an order, oldest first.
pub async fn payments_of<C: ConnectionTrait>(
    db: &C,
    tenant_id: i64,
    order_id: &str,
) -> Result<Vec<payment::Model>, DbErr> {
    scoped_payment(tenant_id)
        .filter(payment::Column::OrderId.eq(order_id))
        .order_by_asc(payment::Column::Id)
        .all(db)
        .await
}

/// An order by its unguessable id alone: the capability a widget holds.
pub async fn find_public<C: ConnectionTrait>(
    db: &C,
    order_id: &str,
) -> Result<Option<order::Model>, DbErr> {
    order::Entity::find()
        .filter(order::Column::Id.eq(order_id))
        .one(db)
        .await
}

/// Where a page of the tenant's order list starts: before this (created_at, id).
pub type OrderCursor = (i64, String);

/// The tenant's orders, newest first, `limit + 1` of them, of one status or any.
pub async fn list<C: ConnectionTrait>(
    db: &C,
    tenant_id: i64,
    status: Option<OrderStatus>,
    before: Option<OrderCursor>,
    limit: u64,
) -> Result<Vec<order::Model>, DbErr> {
    let mut query = scoped_order(tenant_id);
    if let Some(s) = status {
        query = query.filter(order::Column::Status.eq(s.as_str()));
    }
    if let Some((at, id)) = before {
        query = query.filter(
            sea_orm::Condition::any()
                .add(order::Column::CreatedAt.lt(at))
                .add(
                    sea_orm::Condition::all()
                        .add(order::Column::CreatedAt.eq(at))
                        .add(order::Column::Id.lt(id)),
                ),
        );
    }
    query
        .order_by_desc(order::Column::CreatedAt)
        .order_by_desc(order::Column::Id)
        .limit(limit + 1)
        .all(db)
        .await
}

/// The payments of these orders of the tenant, oldest first.
pub async fn payments_of_orders<C: ConnectionTrait>(
    db: &C,
    tenant_id: i64,
    order_ids: Vec<String>,
) -> Result<Vec<payment::Model>, DbErr> {
    scoped_payment(tenant_id)
        .filter(payment::Column::OrderId.is_in(order_ids))
        .order_by_asc(payment::Column::Id)
        .all(db)
        .await
}

/// Sets an order's status by hand, as a floor later events can raise but not lower.
/// The status before, and the order after; `None` when the tenant has no such order.
pub async fn override_status<C: ConnectionTrait>(
    db: &C,
    tenant_id: i64,
    order_id: &str,
    status: OrderStatus,
    reason: &str,
    now: i64,
) -> Result<Option<(String, order::Model)>, DbErr> {
    let Some(order) = scoped_order(tenant_id)
        .filter(order::Column::Id.eq(order_id))
        .lock_exclusive()
        .one(db)
        .await?
    else {
        return Ok(None);
    };
    let previous = order.status.clone();
    let mut active: order::ActiveModel = order.into();
    active.status = Set(status.as_str().to_string());
    active.manual_status = Set(Some(status.as_str().to_string()));
    active.manual_reason = Set(Some(reason.to_string()));
    active.updated_at = Set(now);
    Ok(Some((previous, active.update(db).await?)))
}

/// On PostgreSQL, tells every replica (at commit) that these orders changed, so that
/// widgets waiting on any of them wake; elsewhere there is only this process. One
/// statement for all of them.
pub async fn announce<C: ConnectionTrait>(db: &C, order_ids: &[String]) -> Result<(), DbErr> {
    crate::db::announce(db, super::watch::CHANNEL, order_ids).await
}
