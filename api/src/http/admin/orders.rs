//! A tenant's orders with their payments, and the manual status override.

use super::auth::TenantAccess;
use crate::clock::{ms_to_rfc3339, now_ms};
use crate::http::AppState;
use crate::http::error::{Error, ErrorBody, ErrorCode, Result};
use crate::http::extract::{ApiJson, ApiPath, ApiQuery, Page, Paging, bad_cursor};
use crate::orders::disputes::{self, DisputeView};
use crate::orders::lifecycle::{self, OrderStatus};
use crate::orders::store;
use crate::tenants::audit;
use axum::Json;
use axum::extract::State;
use entity::{order, payment};
use serde::{Deserialize, Serialize};
use serde_json::json;

#[derive(Deserialize)]
pub struct StatusParam {
    status: Option<String>,
}

/// A payment of an order (one per PaymentIntent).
#[derive(Serialize, utoipa::ToSchema)]
pub struct PaymentView {
    payment_intent_id: Option<String>,
    charge_id: Option<String>,
    status: String,
    amount: Option<i64>,
    currency: Option<String>,
    amount_refunded: i64,
    #[schema(format = DateTime)]
    updated_at: String,
}

/// An order with its payments.
#[derive(Serialize, utoipa::ToSchema)]
pub struct OrderView {
    order_id: String,
    #[schema(value_type = crate::orders::lifecycle::OrderStatus)]
    status: String,
    amount: i64,
    currency: String,
    reference: Option<String>,
    /// Live or test, from the API key that created it.
    livemode: bool,
    /// What the succeeded payments brought in the order's currency: beside `amount`,
    /// what an `AMOUNT_MISMATCH` is about.
    amount_received: i64,
    checkout_session_id: Option<String>,
    payment_intent_id: Option<String>,
    /// The status an admin set by hand, if any: a floor later events can raise.
    manual_status: Option<String>,
    manual_reason: Option<String>,
    #[schema(format = DateTime)]
    created_at: String,
    #[schema(format = DateTime)]
    updated_at: String,
    payments: Vec<PaymentView>,
    /// Disputes on its payments (lost first, then open): amount, reason, status and
    /// the date evidence is due.
    disputes: Vec<DisputeView>,
}

fn payment_view(p: &payment::Model) -> PaymentView {
    PaymentView {
        payment_intent_id: p.payment_intent_id.clone(),
        charge_id: p.charge_id.clone(),
        status: p.status.clone(),
        amount: p.amount,
        currency: p.currency.clone(),
        amount_refunded: p.amount_refunded,
        updated_at: ms_to_rfc3339(p.updated_at),
    }
}

fn order_view(o: order::Model, payments: &[payment::Model]) -> OrderView {
    let mine: Vec<&payment::Model> = payments
        .iter()
        .filter(|p| p.order_id.as_deref() == Some(o.id.as_str()))
        .collect();
    let facts: Vec<_> = mine
        .iter()
        .map(|p| crate::orders::apply::facts_of(p))
        .collect();
    let amount_received = lifecycle::received(&o.currency, &facts);
    let disputes = disputes::of_payments(mine.iter().copied())
        .iter()
        .map(DisputeView::from)
        .collect();
    let payments = mine.into_iter().map(payment_view).collect();
    OrderView {
        created_at: ms_to_rfc3339(o.created_at),
        updated_at: ms_to_rfc3339(o.updated_at),
        order_id: o.id,
        status: o.status,
        amount: o.amount,
        currency: o.currency,
        reference: o.reference,
        livemode: o.livemode,
        amount_received,
        checkout_session_id: o.checkout_session_id,
        payment_intent_id: o.payment_intent_id,
        manual_status: o.manual_status,
        manual_reason: o.manual_reason,
        payments,
        disputes,
    }
}

fn parse_cursor(cursor: &str) -> Result<store::OrderCursor> {
    cursor
        .split_once('_')
        .and_then(|(at, id)| Some((at.parse::<i64>().ok()?, format!("ord_{id}"))))
        .ok_or_else(bad_cursor)
}

/// `GET …/orders?status=&limit=&cursor=`: newest first, each with its payments.
#[utoipa::path(get, path = "/api/v1/admin/tenants/{tenant}/orders", operation_id = "list_orders", tag = "orders", security(("bearer" = [])),
    params(("tenant" = String, Path, description = "the restaurant's slug"), ("status" = Option<crate::orders::lifecycle::OrderStatus>, Query), crate::http::extract::OrderPageParams),
    responses((status = 200, description = "newest first, each with its payments", body = Page<OrderView>),
              (status = 400, description = "unknown status or bad cursor", body = ErrorBody)))]
pub async fn list(
    State(app): State<AppState>,
    access: TenantAccess,
    ApiQuery(param): ApiQuery<StatusParam>,
    paging: Paging,
) -> Result<Json<Page<OrderView>>> {
    let status = match param.status.as_deref() {
        None => None,
        Some(s) => Some(OrderStatus::parse(s).ok_or_else(|| {
            Error::with_message(
                ErrorCode::InvalidFilter,
                "status is an order status, e.g. PAID",
            )
        })?),
    };
    let before = paging.cursor.as_deref().map(parse_cursor).transpose()?;
    let tenant_id = access.tenant.id;
    let rows = store::list(&app.db, tenant_id, status, before, paging.limit).await?;
    let ids = rows.iter().map(|o| o.id.clone()).collect();
    let payments = store::payments_of_orders(&app.db, tenant_id, ids).await?;
    Ok(Json(paging.page(
        rows,
        |o| format!("{}_{}", o.created_at, o.id.trim_start_matches("ord_")),
        |o| order_view(o, &payments),
    )))
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct Override {
    #[schema(value_type = crate::orders::lifecycle::OrderStatus)]
    status: String,
    /// Why, for the audit log: 1 to 500 characters, not only spaces, no control
    /// characters.
    #[schema(
        min_length = 1,
        max_length = 500,
        pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*[^\\s\\u0000-\\u001f\\u007f-\\u009f][^\\u0000-\\u001f\\u007f-\\u009f]*$"
    )]
    reason: String,
}

/// `POST …/orders/{order_id}/override` `{"status","reason"}`: sets the status by hand
/// (a payment settled outside Stripe, say). Later events can raise it, not lower it.
#[utoipa::path(post, path = "/api/v1/admin/tenants/{tenant}/orders/{order_id}/override", operation_id = "override_order_status", tag = "orders", security(("bearer" = [])),
    params(("tenant" = String, Path, description = "the restaurant's slug"), ("order_id" = String, Path)), request_body = Override,
    responses((status = 200, description = "the order with its new status (a floor later events can raise)", body = OrderView),
              (status = 422, description = "unknown status or missing reason", body = ErrorBody), (status = 404, description = "no such order", body = ErrorBody)))]
pub async fn override_status(
    State(app): State<AppState>,
    access: TenantAccess,
    ApiPath((_, order_id)): ApiPath<(String, String)>,
    ApiJson(body): ApiJson<Override>,
) -> Result<Json<OrderView>> {
    let status = OrderStatus::parse(body.status.trim())
        .ok_or_else(|| Error::invalid("status is an order status, e.g. PAID"))?;
    let reason = body.reason.trim();
    if reason.is_empty() || reason.chars().count() > 500 || crate::untrusted::has_control(reason) {
        return Err(Error::invalid(
            "a reason (1 to 500 characters, without control characters) is required",
        ));
    }
    if !store::is_order_id(&order_id) {
        return Err(ErrorCode::OrderNotFound.into());
    }
    let tenant_id = access.tenant.id;
    let txn = crate::db::begin_write(&app.db).await?;
    let (previous, updated) =
        store::override_status(&*txn, tenant_id, &order_id, status, reason, now_ms())
            .await?
            .ok_or(Error::from(ErrorCode::OrderNotFound))?;
    audit::record(
        &*txn,
        &access.admin.actor(),
        Some(tenant_id),
        "order.override",
        json!({"order_id": order_id, "from": previous, "to": status.as_str(), "reason": reason}),
    )
    .await?;
    store::announce(&*txn, std::slice::from_ref(&updated.id)).await?;
    if previous != updated.status {
        let payments = store::payments_of(&*txn, tenant_id, &updated.id).await?;
        let change = crate::orders::apply::OrderChange::of(updated.clone(), &payments);
        let outgoing = crate::notify::outbox::Outgoing {
            orders: std::slice::from_ref(&change),
            ..Default::default()
        };
        crate::notify::outbox::enqueue(&*txn, outgoing).await?;
    }
    txn.commit().await?;
    app.changes.orders(std::slice::from_ref(&updated.id), true);
    let payments = store::payments_of(&app.db, tenant_id, &updated.id).await?;
    Ok(Json(order_view(updated, &payments)))
}
