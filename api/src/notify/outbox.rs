//! The outbox: a notification per endpoint, written in the transaction that changes an
//! order's status, so that a change is never without its notification (and a rolled
//! back change never has one).

use crate::clock::{ms_to_rfc3339, now_ms};
use entity::{notification, notification_endpoint as endpoint, order};
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, Set};
use serde_json::json;

/// `order.` + the status in lower case: `order.paid`, `order.refunded`, …
pub fn event_type(status: &str) -> String {
    format!("order.{}", status.to_ascii_lowercase())
}

/// Writes a notification of `order`'s current status for each endpoint of its tenant.
/// Call inside the transaction that changed it.
pub async fn enqueue<C: ConnectionTrait>(db: &C, order: &order::Model) -> Result<usize, DbErr> {
    enqueue_all(db, std::slice::from_ref(order)).await
}

/// `enqueue` for many status changes at once (an order may appear more than once,
/// with the status of each change): one read of the endpoints of their tenants, one
/// insert.
pub async fn enqueue_all<C: ConnectionTrait>(
    db: &C,
    changes: &[order::Model],
) -> Result<usize, DbErr> {
    if changes.is_empty() {
        return Ok(0);
    }
    let tenants: std::collections::BTreeSet<i64> = changes.iter().map(|o| o.tenant_id).collect();
    let endpoints = endpoint::Entity::find()
        .filter(endpoint::Column::TenantId.is_in(tenants))
        .all(db)
        .await?;
    if endpoints.is_empty() {
        return Ok(0);
    }
    let now = now_ms();
    let mut rows = Vec::new();
    for order in changes {
        let kind = event_type(&order.status);
        let body = json!({
            "type": kind,
            "timestamp": ms_to_rfc3339(now),
            "data": {"order_id": order.id, "status": order.status, "amount": order.amount,
                     "currency": order.currency, "livemode": order.livemode, "reference": order.reference},
        })
        .to_string();
        for e in endpoints.iter().filter(|e| e.tenant_id == order.tenant_id) {
            let mut id = [0u8; 12];
            rand::fill(&mut id);
            rows.push(notification::ActiveModel {
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
            });
        }
    }
    let written = rows.len();
    if written > 0 {
        notification::Entity::insert_many(rows)
            .exec_without_returning(db)
            .await?;
    }
    Ok(written)
}
