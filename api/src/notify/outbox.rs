//! The outbox: a notification per endpoint, written in the transaction that changes an
//! order's status, so that a change is never without its notification (and a rolled
//! back change never has one).

use crate::clock::{ms_to_rfc3339, now_ms};
use crate::orders::disputes::{self, DisputeView};
use crate::orders::lifecycle::OrderStatus;
use entity::{notification, notification_endpoint as endpoint, order};
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, Set};
use serde_json::json;
use std::collections::{BTreeMap, HashMap};

/// `order.` + the status in lower case: `order.paid`, `order.refunded`, …
pub fn event_type(status: &str) -> String {
    format!("order.{}", status.to_ascii_lowercase())
}

/// The dispute each disputed order of `changes` is about (the lost one, else an open
/// one), read only when a change is a dispute's (they are rare).
async fn disputes_of<C: ConnectionTrait>(
    db: &C,
    changes: &[order::Model],
) -> Result<HashMap<(i64, String), DisputeView>, DbErr> {
    let disputed = |o: &&order::Model| {
        o.status == OrderStatus::Disputed.as_str() || o.status == OrderStatus::DisputeLost.as_str()
    };
    let mut by_tenant: BTreeMap<i64, Vec<String>> = BTreeMap::new();
    for o in changes.iter().filter(disputed) {
        by_tenant.entry(o.tenant_id).or_default().push(o.id.clone());
    }
    let mut found = HashMap::new();
    for (tenant_id, order_ids) in by_tenant {
        let payments = disputes::payments_of(db, tenant_id, order_ids.clone()).await?;
        for order_id in order_ids {
            let mine = payments
                .iter()
                .filter(|p| p.order_id.as_deref() == Some(order_id.as_str()));
            if let Some(first) = disputes::of_payments(mine).first() {
                found.insert((tenant_id, order_id), DisputeView::from(first));
            }
        }
    }
    Ok(found)
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
    let disputes = disputes_of(db, changes).await?;
    let mut rows = Vec::new();
    for order in changes {
        let kind = event_type(&order.status);
        let mut data = json!({"order_id": order.id, "status": order.status, "amount": order.amount,
                     "currency": order.currency, "livemode": order.livemode, "reference": order.reference});
        if let Some(dispute) = disputes.get(&(order.tenant_id, order.id.clone())) {
            data["dispute"] = json!(dispute);
        }
        let body = json!({
            "type": kind,
            "timestamp": ms_to_rfc3339(now),
            "data": data,
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
