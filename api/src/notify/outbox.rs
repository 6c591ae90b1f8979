//! The outbox: a notification per endpoint, written in the transaction that makes the
//! change it tells of, so that a change is never without its notification (and a
//! rolled back change never has one).
//!
//! Three kinds go out (CONTRACT §8, §12), each to the endpoints whose `event_types`
//! match its type: `order.<status>` for an order's status change,
//! `subscription.<status>` for a subscription's, and `stripe.<type>` carrying a
//! verified Stripe event as received, the first time it is stored (so a duplicate or a
//! recovered copy is not forwarded again; a unique index keeps it once per endpoint).

use super::patterns::Patterns;
use crate::clock::{ms_to_rfc3339, now_ms};
use crate::orders::apply::OrderChange;
use crate::orders::disputes::{self, DisputeView};
use crate::orders::lifecycle::OrderStatus;
use crate::subscriptions::{SubscriptionView, shown_status};
use entity::{notification, notification_endpoint as endpoint, subscription};
use sea_orm::sea_query::OnConflict;
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QuerySelect, Set};
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

/// `order.` + the status in lower case: `order.paid`, `order.refunded`, …
pub fn event_type(status: &str) -> String {
    format!("order.{}", status.to_ascii_lowercase())
}

/// A verified Stripe event stored for the first time, to forward.
#[derive(Debug, Clone, Copy)]
pub struct Forward<'a> {
    pub tenant_id: i64,
    pub event_id: &'a str,
    pub event_type: &'a str,
    /// The body as received.
    pub body: &'a str,
}

/// What one transaction tells the restaurants' backends.
#[derive(Default, Clone, Copy)]
pub struct Outgoing<'a> {
    pub orders: &'a [OrderChange],
    pub subscriptions: &'a [subscription::Model],
    pub forwards: &'a [Forward<'a>],
    /// Which of the tenants have endpoints, when the caller read it already in the same
    /// transaction (the webhook path's group read, on PostgreSQL): a group of tenants
    /// without any writes no notification and reads no endpoint.
    pub presence: Option<&'a HashSet<i64>>,
}

impl Outgoing<'_> {
    fn is_empty(&self) -> bool {
        self.orders.is_empty() && self.subscriptions.is_empty() && self.forwards.is_empty()
    }

    fn tenants(&self) -> BTreeSet<i64> {
        let orders = self.orders.iter().map(|c| c.order.tenant_id);
        let subscriptions = self.subscriptions.iter().map(|s| s.tenant_id);
        let forwards = self.forwards.iter().map(|f| f.tenant_id);
        orders.chain(subscriptions).chain(forwards).collect()
    }
}

/// The dispute each disputed order of `changes` is about (the lost one, else an open
/// one), read only when a change is a dispute's (they are rare).
async fn disputes_of<C: ConnectionTrait>(
    db: &C,
    changes: &[OrderChange],
) -> Result<HashMap<(i64, String), DisputeView>, DbErr> {
    let disputed = |o: &&OrderChange| {
        o.order.status == OrderStatus::Disputed.as_str()
            || o.order.status == OrderStatus::DisputeLost.as_str()
    };
    let mut by_tenant: BTreeMap<i64, Vec<String>> = BTreeMap::new();
    for c in changes.iter().filter(disputed) {
        by_tenant
            .entry(c.order.tenant_id)
            .or_default()
            .push(c.order.id.clone());
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

/// The body of an order's notification (CONTRACT §8, §12).
fn order_data(change: &OrderChange, dispute: Option<&DisputeView>) -> serde_json::Value {
    let o = &change.order;
    let mut data = json!({"order_id": o.id, "status": o.status, "amount": o.amount,
        "currency": o.currency, "livemode": o.livemode, "reference": o.reference,
        "payment_intent_id": o.payment_intent_id, "checkout_session_id": o.checkout_session_id,
        "customer_email": o.customer_email, "metadata": change.metadata,
        "amount_received": change.amount_received, "amount_refunded": change.amount_refunded});
    if let Some(dispute) = dispute {
        data["dispute"] = json!(dispute);
    }
    data
}

/// One message, before it is addressed to endpoints.
struct Message {
    tenant_id: i64,
    kind: String,
    /// What endpoints' patterns match: its own type, or a Stripe event's as Stripe
    /// named it.
    matched_as: String,
    body: String,
    source_event: Option<String>,
    order_id: Option<String>,
}

type Endpoints = Vec<(i64, i64, Patterns)>;

/// The endpoints of these tenants: tenant, id, patterns.
async fn endpoints_of<C: ConnectionTrait>(
    db: &C,
    tenants: BTreeSet<i64>,
) -> Result<Endpoints, DbErr> {
    let rows: Vec<(i64, i64, String)> = endpoint::Entity::find()
        .select_only()
        .columns([
            endpoint::Column::TenantId,
            endpoint::Column::Id,
            endpoint::Column::EventTypes,
        ])
        .filter(endpoint::Column::TenantId.is_in(tenants))
        .into_tuple()
        .all(db)
        .await?;
    Ok(rows
        .into_iter()
        .map(|(tenant, id, types)| (tenant, id, Patterns::from_stored(&types)))
        .collect())
}

/// The messages of `out` that some endpoint of their tenant wants.
async fn messages<C: ConnectionTrait>(
    db: &C,
    out: Outgoing<'_>,
    endpoints: &Endpoints,
    timestamp: &str,
) -> Result<Vec<Message>, DbErr> {
    let wanted = |tenant: i64, kind: &str| {
        endpoints
            .iter()
            .any(|(t, _, p)| *t == tenant && p.matches(kind))
    };
    let mut messages = Vec::new();
    let changes: Vec<OrderChange> = out
        .orders
        .iter()
        .filter(|c| wanted(c.order.tenant_id, &event_type(&c.order.status)))
        .cloned()
        .collect();
    let disputes = disputes_of(db, &changes).await?;
    for change in changes {
        let (tenant_id, kind) = (change.order.tenant_id, event_type(&change.order.status));
        let dispute = disputes.get(&(tenant_id, change.order.id.clone()));
        let body =
            json!({"type": kind, "timestamp": timestamp, "data": order_data(&change, dispute)});
        messages.push(Message {
            tenant_id,
            matched_as: kind.clone(),
            kind,
            body: body.to_string(),
            source_event: None,
            order_id: Some(change.order.id.clone()),
        });
    }
    for sub in out.subscriptions {
        let kind = format!("subscription.{}", shown_status(sub));
        if wanted(sub.tenant_id, &kind) {
            let body =
                json!({"type": kind, "timestamp": timestamp, "data": SubscriptionView::from(sub)});
            messages.push(Message {
                tenant_id: sub.tenant_id,
                matched_as: kind.clone(),
                kind,
                body: body.to_string(),
                source_event: None,
                order_id: None,
            });
        }
    }
    for f in out
        .forwards
        .iter()
        .filter(|f| wanted(f.tenant_id, f.event_type))
    {
        let kind = format!("stripe.{}", f.event_type);
        // The event goes as received, byte for byte: it was parsed, so it is JSON.
        let body = format!(
            "{{\"type\":{},\"timestamp\":\"{timestamp}\",\"data\":{}}}",
            serde_json::Value::from(kind.as_str()),
            f.body
        );
        messages.push(Message {
            tenant_id: f.tenant_id,
            kind,
            matched_as: f.event_type.to_owned(),
            body,
            source_event: Some(f.event_id.to_owned()),
            order_id: None,
        });
    }
    Ok(messages)
}

/// A notification row for each endpoint each message goes to.
fn addressed(
    messages: &[Message],
    endpoints: &Endpoints,
    now: i64,
) -> Vec<notification::ActiveModel> {
    let mut rows = Vec::new();
    for m in messages {
        let to = endpoints
            .iter()
            .filter(|(t, _, p)| *t == m.tenant_id && p.matches(&m.matched_as));
        for (_, endpoint_id, _) in to {
            let mut id = [0u8; 12];
            rand::fill(&mut id);
            rows.push(notification::ActiveModel {
                tenant_id: Set(m.tenant_id),
                endpoint_id: Set(*endpoint_id),
                message_id: Set(format!("msg_{}", hex::encode(id))),
                event_type: Set(m.kind.clone()),
                payload: Set(m.body.clone()),
                status: Set("PENDING".into()),
                attempts: Set(0),
                next_attempt_at: Set(Some(now)),
                created_at: Set(now),
                delivered_at: Set(None),
                source_event: Set(m.source_event.clone()),
                order_id: Set(m.order_id.clone()),
                ..Default::default()
            });
        }
    }
    rows
}

/// Writes a notification of each change and forwarded event for each endpoint of its
/// tenant that subscribes to its type. Call inside the transaction of the change.
pub async fn enqueue<C: ConnectionTrait>(db: &C, out: Outgoing<'_>) -> Result<usize, DbErr> {
    if out.is_empty() {
        return Ok(0);
    }
    let tenants = match out.presence {
        Some(have) => out
            .tenants()
            .into_iter()
            .filter(|t| have.contains(t))
            .collect(),
        None => out.tenants(),
    };
    if tenants.is_empty() {
        return Ok(0);
    }
    let endpoints = endpoints_of(db, tenants).await?;
    if endpoints.is_empty() {
        return Ok(0);
    }
    let now = now_ms();
    let messages = messages(db, out, &endpoints, &ms_to_rfc3339(now)).await?;
    let rows = addressed(&messages, &endpoints, now);
    let written = rows.len();
    if written > 0 {
        notification::Entity::insert_many(rows)
            .on_conflict(
                OnConflict::columns([
                    notification::Column::EndpointId,
                    notification::Column::SourceEvent,
                ])
                .do_nothing()
                .to_owned(),
            )
            .exec_without_returning(db)
            .await?;
    }
    Ok(written)
}
