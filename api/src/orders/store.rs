//! Orders and payments in the database, and applying an event's facts to them.
//!
//! Applying is idempotent: facts only grow (see `lifecycle`), so a repeat of the same
//! event, by a retry or by another replica, leaves the rows as they were. Every query
//! is scoped by tenant.

use super::lifecycle::{Money, OrderStatus, PaymentFacts, order_status};
use crate::stripe::event::{Effect, EventFacts};
use entity::{order, payment};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set,
};

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

/// The order an event is about: by `metadata.order_id`, by `client_reference_id`, by
/// the session or PaymentIntent id an earlier event recorded, or through the payment.
async fn find_order<C: ConnectionTrait>(
    db: &C,
    tenant_id: i64,
    facts: &EventFacts,
) -> Result<Option<order::Model>, DbErr> {
    for id in &facts.order_refs {
        if let Some(o) = scoped_order(tenant_id)
            .filter(order::Column::Id.eq(id.as_str()))
            .lock_exclusive()
            .one(db)
            .await?
        {
            return Ok(Some(o));
        }
    }
    if let Some(cs) = &facts.checkout_session_id
        && let Some(o) = scoped_order(tenant_id)
            .filter(order::Column::CheckoutSessionId.eq(cs.as_str()))
            .lock_exclusive()
            .one(db)
            .await?
    {
        return Ok(Some(o));
    }
    if let Some(pi) = &facts.payment_intent_id
        && let Some(o) = scoped_order(tenant_id)
            .filter(order::Column::PaymentIntentId.eq(pi.as_str()))
            .lock_exclusive()
            .one(db)
            .await?
    {
        return Ok(Some(o));
    }
    if let Some(key) = facts.payment_key()
        && let Some(p) = scoped_payment(tenant_id)
            .filter(payment::Column::PaymentKey.eq(key))
            .filter(payment::Column::OrderId.is_not_null())
            .one(db)
            .await?
        && let Some(order_id) = p.order_id
    {
        return scoped_order(tenant_id)
            .filter(order::Column::Id.eq(order_id))
            .lock_exclusive()
            .one(db)
            .await;
    }
    Ok(None)
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
    }
}

/// Adds the event's facts to its payment row (created if new) and links it to `order`.
async fn record_payment<C: ConnectionTrait>(
    db: &C,
    tenant_id: i64,
    key: &str,
    facts: &EventFacts,
    order: Option<&order::Model>,
    now: i64,
) -> Result<(), DbErr> {
    let existing = scoped_payment(tenant_id)
        .filter(payment::Column::PaymentKey.eq(key))
        .lock_exclusive()
        .one(db)
        .await?;
    let mut state = existing.as_ref().map(facts_of).unwrap_or_default();
    state.apply(&facts.effect);
    let order_id = existing
        .as_ref()
        .and_then(|p| p.order_id.clone())
        .or_else(|| order.map(|o| o.id.clone()));
    let status = state.status(order.map(|o| o.amount)).to_string();
    let amount_refunded = state.amount_refunded();
    match existing {
        Some(row) => {
            let unchanged = facts_of(&row) == state
                && row.order_id == order_id
                && row.status == status
                && (row.charge_id.is_some() || facts.charge_id.is_none())
                && (row.payment_intent_id.is_some() || facts.payment_intent_id.is_none());
            if unchanged {
                return Ok(());
            }
            let mut active: payment::ActiveModel = row.clone().into();
            active.order_id = Set(order_id);
            active.payment_intent_id = Set(row
                .payment_intent_id
                .or_else(|| facts.payment_intent_id.clone()));
            active.charge_id = Set(row.charge_id.or_else(|| facts.charge_id.clone()));
            active.amount = Set(state.amount);
            active.currency = Set(state.currency.clone());
            active.status = Set(status);
            active.succeeded = Set(state.succeeded);
            active.failed = Set(state.failed);
            active.charge_refunded = Set(state.charge_refunded);
            active.refunds = Set(state.refunds_json());
            active.amount_refunded = Set(amount_refunded);
            active.updated_at = Set(now);
            active.update(db).await?;
        }
        None => {
            payment::ActiveModel {
                tenant_id: Set(tenant_id),
                payment_key: Set(key.to_string()),
                order_id: Set(order_id),
                payment_intent_id: Set(facts.payment_intent_id.clone()),
                charge_id: Set(facts.charge_id.clone()),
                amount: Set(state.amount),
                currency: Set(state.currency.clone()),
                status: Set(status),
                succeeded: Set(state.succeeded),
                failed: Set(state.failed),
                charge_refunded: Set(state.charge_refunded),
                refunds: Set(state.refunds_json()),
                amount_refunded: Set(amount_refunded),
                created_at: Set(now),
                updated_at: Set(now),
                ..Default::default()
            }
            .insert(db)
            .await?;
        }
    }
    Ok(())
}

/// Applies one verified event. Call inside a transaction.
pub async fn apply<C: ConnectionTrait>(
    db: &C,
    tenant_id: i64,
    facts: &EventFacts,
    now: i64,
) -> Result<Applied, DbErr> {
    if facts.effect == Effect::Ignored {
        return Ok(Applied {
            outcome: Outcome::Ignored,
            order_id: None,
        });
    }
    let order = find_order(db, tenant_id, facts).await?;
    if let Some(order) = &order
        && order.livemode != facts.livemode
    {
        return Ok(Applied {
            outcome: Outcome::ModeMismatch,
            order_id: Some(order.id.clone()),
        });
    }
    if let Some(key) = facts.payment_key() {
        record_payment(db, tenant_id, key, facts, order.as_ref(), now).await?;
    }
    let Some(order) = order else {
        return Ok(Applied {
            outcome: Outcome::Unmatched,
            order_id: None,
        });
    };

    // A PaymentIntent seen before its order was known: its payment joins the order now.
    if let Some(pi) = &facts.payment_intent_id {
        payment::Entity::update_many()
            .col_expr(
                payment::Column::OrderId,
                sea_orm::sea_query::Expr::value(order.id.clone()),
            )
            .filter(payment::Column::TenantId.eq(tenant_id))
            .filter(payment::Column::PaymentKey.eq(pi.as_str()))
            .filter(payment::Column::OrderId.is_null())
            .exec(db)
            .await?;
    }
    let payments: Vec<PaymentFacts> = scoped_payment(tenant_id)
        .filter(payment::Column::OrderId.eq(order.id.as_str()))
        .all(db)
        .await?
        .iter()
        .map(facts_of)
        .collect();
    let expired = order.expired || facts.effect == Effect::Expired;
    let money = Money {
        amount: order.amount,
        currency: &order.currency,
    };
    let mut status = order_status(money, expired, &payments);
    // An admin's manual status is a floor: events may raise the order above it.
    if let Some(floor) = order.manual_status.as_deref().and_then(OrderStatus::parse) {
        status = status.max(floor);
    }
    let session = order
        .checkout_session_id
        .clone()
        .or_else(|| facts.checkout_session_id.clone());
    let intent = order
        .payment_intent_id
        .clone()
        .or_else(|| facts.payment_intent_id.clone());
    let status_changed = status.as_str() != order.status;
    if status_changed
        || expired != order.expired
        || session != order.checkout_session_id
        || intent != order.payment_intent_id
    {
        let order_id = order.id.clone();
        let mut active: order::ActiveModel = order.into();
        active.status = Set(status.as_str().to_string());
        active.expired = Set(expired);
        active.checkout_session_id = Set(session);
        active.payment_intent_id = Set(intent);
        if status_changed {
            active.updated_at = Set(now);
        }
        active.update(db).await?;
        return Ok(Applied {
            outcome: if status_changed {
                Outcome::Applied
            } else {
                Outcome::Unchanged
            },
            order_id: Some(order_id),
        });
    }
    Ok(Applied {
        outcome: Outcome::Unchanged,
        order_id: Some(order.id),
    })
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
        manual_status: Set(None),
        manual_reason: Set(None),
        livemode: Set(livemode),
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
/// widgets waiting on any of them wake; elsewhere there is only this process.
pub async fn announce<C: ConnectionTrait>(db: &C, order_ids: &[String]) -> Result<(), DbErr> {
    if db.get_database_backend() != sea_orm::DbBackend::Postgres {
        return Ok(());
    }
    for id in order_ids {
        db.execute_raw(sea_orm::Statement::from_sql_and_values(
            sea_orm::DbBackend::Postgres,
            "SELECT pg_notify($1, $2)",
            [super::watch::CHANNEL.into(), id.as_str().into()],
        ))
        .await?;
    }
    Ok(())
}
