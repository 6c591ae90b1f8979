//! The outbox: a notification per endpoint, written in the transaction that changes an
//! order's status, so that a change is never without its notification (and a rolled
//! back change never has one).

use crate::clock::{ms_to_rfc3339, now_ms};
use entity::{notification, notification_endpoint as endpoint, order};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, Set,
};
use serde_json::json;

/// `order.` + the status in lower case: `order.paid`, `order.refunded`, …
pub fn event_type(status: &str) -> String {
    format!("order.{}", status.to_ascii_lowercase())
}

/// Writes a notification of `order`'s current status for each endpoint of its tenant.
/// Call inside the transaction that changed it.
pub async fn enqueue<C: ConnectionTrait>(db: &C, order: &order::Model) -> Result<usize, DbErr> {
    let endpoints = endpoint::Entity::find()
        .filter(endpoint::Column::TenantId.eq(order.tenant_id))
        .all(db)
        .await?;
    let now = now_ms();
    let kind = event_type(&order.status);
    let body = json!({
        "type": kind,
        "timestamp": ms_to_rfc3339(now),
        "data": {"order_id": order.id, "status": order.status, "amount": order.amount,
                 "currency": order.currency, "livemode": order.livemode, "reference": order.reference},
    })
    .to_string();
    for e in &endpoints {
        let mut id = [0u8; 12];
        rand::fill(&mut id);
        notification::ActiveModel {
            tenant_id: Set(order.tenant_id),
            endpoint_id: Set(e.id),
            message_id: Set(format!("msg_{}", hex::encode(id))),
            event_type: Set(kind.clone()),
            payload: Set(body.clone()),
            status: Set("PENDING".into()),
            attempts: Set(0),
            next_attempt_at: Set(Some(now)),
            created_at: Set(now),
            delivered_at: Set(None),
            ..Default::default()
        }
        .insert(db)
        .await?;
    }
    Ok(endpoints.len())
}

/// Writes notifications for an order of the tenant, read in the same transaction.
pub async fn enqueue_changed<C: ConnectionTrait>(
    db: &C,
    tenant_id: i64,
    order_id: &str,
) -> Result<(), DbErr> {
    let order = order::Entity::find()
        .filter(order::Column::TenantId.eq(tenant_id))
        .filter(order::Column::Id.eq(order_id))
        .one(db)
        .await?;
    if let Some(o) = order {
        enqueue(db, &o).await?;
    }
    Ok(())
}
