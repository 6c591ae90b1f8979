//! A tenant's orders with their payments, and the manual status override.

use super::audit;
use super::auth::TenantAccess;
use crate::AppState;
use crate::db::{ms_to_rfc3339, now_ms};
use crate::error::{Error, Result};
use crate::extract::ApiJson;
use crate::orders::lifecycle::OrderStatus;
use crate::orders::store;
use axum::Json;
use axum::extract::{Path, Query, State};
use entity::{order, payment};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set,
};
use serde::Deserialize;
use serde_json::{Value, json};

#[derive(Deserialize)]
pub struct Filter {
    status: Option<String>,
    limit: Option<u64>,
    cursor: Option<String>,
}

fn payment_json(p: &payment::Model) -> Value {
    json!({"payment_intent_id": p.payment_intent_id, "charge_id": p.charge_id, "status": p.status,
           "amount": p.amount, "currency": p.currency, "amount_refunded": p.amount_refunded,
           "updated_at": ms_to_rfc3339(p.updated_at)})
}

fn order_json(o: &order::Model, payments: Vec<Value>) -> Value {
    json!({"order_id": o.id, "status": o.status, "amount": o.amount, "currency": o.currency,
           "reference": o.reference, "checkout_session_id": o.checkout_session_id,
           "payment_intent_id": o.payment_intent_id, "manual_status": o.manual_status,
           "manual_reason": o.manual_reason, "created_at": ms_to_rfc3339(o.created_at),
           "updated_at": ms_to_rfc3339(o.updated_at), "payments": payments})
}

/// `GET …/orders?status=&limit=&cursor=`: newest first, each with its payments.
#[utoipa::path(get, path = "/api/v1/admin/tenants/{tenant}/orders", tag = "orders", security(("bearer" = [])),
    params(("tenant" = String, Path, description = "the restaurant's slug"), ("status" = Option<String>, Query), ("limit" = Option<u64>, Query), ("cursor" = Option<String>, Query)),
    responses((status = 200, description = "newest first, each with its payments")))]
pub async fn list(
    State(app): State<AppState>,
    access: TenantAccess,
    Query(filter): Query<Filter>,
) -> Result<Json<Value>> {
    let limit = filter.limit.unwrap_or(50).clamp(1, 200);
    let mut query = order::Entity::find().filter(order::Column::TenantId.eq(access.tenant.id));
    if let Some(s) = filter.status.as_deref().filter(|s| !s.is_empty()) {
        let s = OrderStatus::parse(s).ok_or_else(|| {
            Error::bad_request("invalid_filter", "status is an order status, e.g. PAID")
        })?;
        query = query.filter(order::Column::Status.eq(s.as_str()));
    }
    if let Some(cursor) = filter.cursor.as_deref().filter(|c| !c.is_empty()) {
        let (at, id) = cursor
            .split_once('_')
            .and_then(|(at, id)| Some((at.parse::<i64>().ok()?, id.to_string())))
            .ok_or_else(|| {
                Error::bad_request(
                    "invalid_cursor",
                    "cursor is the next_cursor of a previous page",
                )
            })?;
        query = query.filter(
            sea_orm::Condition::any()
                .add(order::Column::CreatedAt.lt(at))
                .add(
                    sea_orm::Condition::all()
                        .add(order::Column::CreatedAt.eq(at))
                        .add(order::Column::Id.lt(format!("ord_{id}"))),
                ),
        );
    }
    let mut rows = query
        .order_by_desc(order::Column::CreatedAt)
        .order_by_desc(order::Column::Id)
        .limit(limit + 1)
        .all(&app.db)
        .await?;
    let next_cursor = super::next_cursor(&mut rows, limit, |o| {
        format!("{}_{}", o.created_at, o.id.trim_start_matches("ord_"))
    });
    let ids: Vec<String> = rows.iter().map(|o| o.id.clone()).collect();
    let payments = payment::Entity::find()
        .filter(payment::Column::TenantId.eq(access.tenant.id))
        .filter(payment::Column::OrderId.is_in(ids))
        .order_by_asc(payment::Column::Id)
        .all(&app.db)
        .await?;
    let items: Vec<Value> = rows
        .iter()
        .map(|o| {
            let mine = payments
                .iter()
                .filter(|p| p.order_id.as_deref() == Some(o.id.as_str()))
                .map(payment_json)
                .collect();
            order_json(o, mine)
        })
        .collect();
    Ok(Json(json!({"items": items, "next_cursor": next_cursor})))
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct Override {
    status: String,
    reason: String,
}

/// `POST …/orders/{order_id}/override` `{"status","reason"}`: sets the status by hand
/// (a payment settled outside Stripe, say). Later events can raise it, not lower it.
#[utoipa::path(post, path = "/api/v1/admin/tenants/{tenant}/orders/{order_id}/override", tag = "orders", security(("bearer" = [])),
    params(("tenant" = String, Path, description = "the restaurant's slug"), ("order_id" = String, Path)), request_body = Override,
    responses((status = 200, description = "the order with its new status (a floor later events can raise)"),
              (status = 422, description = "unknown status or missing reason"), (status = 404, description = "no such order")))]
pub async fn override_status(
    State(app): State<AppState>,
    access: TenantAccess,
    Path((_, order_id)): Path<(String, String)>,
    ApiJson(body): ApiJson<Override>,
) -> Result<Json<Value>> {
    let status = OrderStatus::parse(body.status.trim())
        .ok_or_else(|| Error::unprocessable("status is an order status, e.g. PAID"))?;
    let reason = body.reason.trim();
    if reason.is_empty() || reason.chars().count() > 500 {
        return Err(Error::unprocessable(
            "a reason (1 to 500 characters) is required",
        ));
    }
    let txn = crate::db::begin_write(&app.db).await?;
    let order = order::Entity::find()
        .filter(order::Column::TenantId.eq(access.tenant.id))
        .filter(order::Column::Id.eq(order_id.as_str()))
        .lock_exclusive()
        .one(&*txn)
        .await?
        .ok_or(Error::NotFound("order_not_found"))?;
    let previous = order.status.clone();
    let mut active: order::ActiveModel = order.into();
    active.status = Set(status.as_str().to_string());
    active.manual_status = Set(Some(status.as_str().to_string()));
    active.manual_reason = Set(Some(reason.to_string()));
    active.updated_at = Set(now_ms());
    let updated = active.update(&*txn).await?;
    audit::by_admin(
        &*txn,
        &access.admin,
        Some(access.tenant.id),
        "order.override",
        json!({"order_id": order_id, "from": previous, "to": status.as_str(), "reason": reason}),
    )
    .await?;
    txn.commit().await?;
    let payments = store::payments_of(&app.db, access.tenant.id, &updated.id).await?;
    Ok(Json(order_json(
        &updated,
        payments.iter().map(payment_json).collect(),
    )))
}
