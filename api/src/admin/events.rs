//! The webhook event log of a tenant: newest first with keyset pagination, filters by
//! status and type, one event with its payload, and retries of FAILED events.

use super::audit;
use super::auth::{Admin, TenantAccess};
use crate::AppState;
use crate::db::{ms_to_rfc3339, now_ms};
use crate::error::{Error, Result};
use crate::stripe::event;
use crate::webhooks::processor::Work;
use crate::webhooks::status;
use axum::Json;
use axum::extract::{Path, Query, State};
use entity::webhook_event;
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Select};
use serde::Deserialize;
use serde_json::{Value, json};

#[derive(Deserialize, Default)]
pub struct Filter {
    status: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
    limit: Option<u64>,
    cursor: Option<String>,
}

/// Every query of the log goes through here: scoped to the tenant, filtered as asked.
fn scoped(tenant_id: i64, filter: &Filter) -> Result<Select<webhook_event::Entity>> {
    let mut query =
        webhook_event::Entity::find().filter(webhook_event::Column::TenantId.eq(tenant_id));
    if let Some(s) = filter.status.as_deref().filter(|s| !s.is_empty()) {
        if !status::ALL.contains(&s) {
            return Err(Error::bad_request(
                "invalid_filter",
                format!("status is one of {}", status::ALL.join(", ")),
            ));
        }
        query = query.filter(webhook_event::Column::Status.eq(s));
    }
    if let Some(t) = filter.kind.as_deref().filter(|t| !t.is_empty()) {
        query = query.filter(webhook_event::Column::EventType.eq(t));
    }
    Ok(query)
}

fn item(row: &webhook_event::Model) -> Value {
    json!({
        "id": row.id,
        "stripe_event_id": row.stripe_event_id,
        "type": row.event_type,
        "status": row.status,
        "outcome": row.outcome,
        "error": row.error,
        "attempts": row.attempts,
        "order_id": row.order_id,
        "received_at": ms_to_rfc3339(row.received_at),
        "processed_at": row.processed_at.map(ms_to_rfc3339),
    })
}

/// `GET …/webhook-events?status=&type=&limit=&cursor=`
#[utoipa::path(get, path = "/api/v1/admin/tenants/{tenant}/webhook-events", tag = "webhook events", security(("bearer" = [])),
    params(("tenant" = String, Path, description = "the restaurant's slug"), ("status" = Option<String>, Query), ("type" = Option<String>, Query), ("limit" = Option<u64>, Query, description = "1 to 200, default 50"),
           ("cursor" = Option<String>, Query, description = "next_cursor of the previous page")),
    responses((status = 200, description = "newest first: items (id, stripe_event_id, type, status, outcome, error, attempts, order_id, received_at, processed_at) and next_cursor"),
              (status = 400, description = "unknown status or bad cursor")))]
pub async fn list(
    State(app): State<AppState>,
    access: TenantAccess,
    Query(filter): Query<Filter>,
) -> Result<Json<Value>> {
    let limit = filter.limit.unwrap_or(50).clamp(1, 200);
    let mut query = scoped(access.tenant.id, &filter)?;
    if let Some(cursor) = filter.cursor.as_deref().filter(|c| !c.is_empty()) {
        let before: i64 = cursor.parse().map_err(|_| {
            Error::bad_request(
                "invalid_cursor",
                "cursor is the next_cursor of a previous page",
            )
        })?;
        query = query.filter(webhook_event::Column::Id.lt(before));
    }
    // Only the listed columns: the payloads stay in the database.
    let mut rows = query
        .select_only()
        .columns([
            webhook_event::Column::Id,
            webhook_event::Column::TenantId,
            webhook_event::Column::TenantSlug,
            webhook_event::Column::StripeEventId,
            webhook_event::Column::DedupKey,
            webhook_event::Column::EventType,
            webhook_event::Column::Status,
            webhook_event::Column::Outcome,
            webhook_event::Column::Error,
            webhook_event::Column::Attempts,
            webhook_event::Column::OrderId,
            webhook_event::Column::ReceivedAt,
            webhook_event::Column::ProcessedAt,
            webhook_event::Column::NextAttemptAt,
        ])
        .column_as(Expr::cust("NULL"), "payload")
        .order_by_desc(webhook_event::Column::Id)
        .limit(limit + 1)
        .all(&app.db)
        .await?;
    let next_cursor = super::next_cursor(&mut rows, limit, |r| r.id.to_string());
    Ok(Json(
        json!({"items": rows.iter().map(item).collect::<Vec<_>>(), "next_cursor": next_cursor}),
    ))
}

async fn one(app: &AppState, tenant_id: i64, id: i64) -> Result<webhook_event::Model> {
    webhook_event::Entity::find()
        .filter(webhook_event::Column::TenantId.eq(tenant_id))
        .filter(webhook_event::Column::Id.eq(id))
        .one(&app.db)
        .await?
        .ok_or(Error::NotFound("webhook_event_not_found"))
}

/// `GET …/webhook-events/{id}`: with its payload (JSON when it parses).
#[utoipa::path(get, path = "/api/v1/admin/tenants/{tenant}/webhook-events/{id}", tag = "webhook events", security(("bearer" = [])),
    params(("tenant" = String, Path, description = "the restaurant's slug"), ("id" = i64, Path)), responses((status = 200, description = "one event with its payload"), (status = 404, description = "no such event")))]
pub async fn show(
    State(app): State<AppState>,
    access: TenantAccess,
    Path((_, id)): Path<(String, i64)>,
) -> Result<Json<Value>> {
    let row = one(&app, access.tenant.id, id).await?;
    let mut value = item(&row);
    value["payload"] = match row.payload.as_deref() {
        Some(text) => {
            serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_string()))
        }
        None => Value::Null,
    };
    Ok(Json(value))
}

/// Puts a FAILED event back to PROCESSING with a fresh set of attempts, and queues it.
async fn requeue(app: &AppState, row: &webhook_event::Model) -> Result<bool> {
    let facts = match row.payload.as_deref().map(|p| event::parse(p.as_bytes())) {
        Some(Ok(facts)) => facts,
        _ => return Ok(false),
    };
    let lease = now_ms() + app.config.processing.lease.as_millis() as i64;
    let claimed = webhook_event::Entity::update_many()
        .col_expr(
            webhook_event::Column::Status,
            Expr::value(status::PROCESSING),
        )
        .col_expr(webhook_event::Column::Attempts, Expr::value(0))
        .col_expr(webhook_event::Column::NextAttemptAt, Expr::value(lease))
        .col_expr(
            webhook_event::Column::ProcessedAt,
            Expr::value(Option::<i64>::None),
        )
        .filter(webhook_event::Column::Id.eq(row.id))
        .filter(webhook_event::Column::Status.eq(status::FAILED))
        .exec(&app.db)
        .await?
        .rows_affected
        == 1;
    if claimed && let Some(tenant_id) = row.tenant_id {
        app.queue.offer(Work {
            event_row_id: row.id,
            tenant_id,
            attempts: 0,
            facts,
        });
    }
    Ok(claimed)
}

/// `POST …/webhook-events/{id}/retry`: process a FAILED event again.
#[utoipa::path(post, path = "/api/v1/admin/tenants/{tenant}/webhook-events/{id}/retry", tag = "webhook events", security(("bearer" = [])),
    params(("tenant" = String, Path, description = "the restaurant's slug"), ("id" = i64, Path)), responses((status = 200, description = "back to PROCESSING with fresh attempts"),
    (status = 409, description = "`not_failed`"), (status = 422, description = "the stored body is not a Stripe event")))]
pub async fn retry(
    State(app): State<AppState>,
    access: TenantAccess,
    Path((_, id)): Path<(String, i64)>,
) -> Result<Json<Value>> {
    let row = one(&app, access.tenant.id, id).await?;
    if row.status != status::FAILED {
        return Err(Error::Conflict("not_failed"));
    }
    if !requeue(&app, &row).await? {
        return Err(Error::Unprocessable {
            code: "not_retryable",
            message: "the stored body is not a Stripe event; only Stripe can send it again".into(),
        });
    }
    audit::by_admin(
        &app.db,
        &access.admin,
        Some(access.tenant.id),
        "webhook_event.retry",
        json!({"id": id}),
    )
    .await?;
    Ok(Json(json!({"id": id, "status": status::PROCESSING})))
}

/// `POST …/webhook-events/retry?type=`: every FAILED event matching the filter (at most 1000).
#[utoipa::path(post, path = "/api/v1/admin/tenants/{tenant}/webhook-events/retry", tag = "webhook events", security(("bearer" = [])),
    params(("tenant" = String, Path, description = "the restaurant's slug"), ("type" = Option<String>, Query)), responses((status = 200, description = "`{retried, skipped}`: every FAILED event matching (at most 1000)")))]
pub async fn retry_all(
    State(app): State<AppState>,
    access: TenantAccess,
    Query(mut filter): Query<Filter>,
) -> Result<Json<Value>> {
    filter.status = Some(status::FAILED.into());
    let rows = scoped(access.tenant.id, &filter)?
        .order_by_asc(webhook_event::Column::Id)
        .limit(1000)
        .all(&app.db)
        .await?;
    let mut retried = 0;
    let mut skipped = 0;
    for row in &rows {
        if requeue(&app, row).await? {
            retried += 1;
        } else {
            skipped += 1;
        }
    }
    audit::by_admin(
        &app.db,
        &access.admin,
        Some(access.tenant.id),
        "webhook_event.retry_all",
        json!({"type": filter.kind, "retried": retried, "skipped": skipped}),
    )
    .await?;
    Ok(Json(json!({"retried": retried, "skipped": skipped})))
}

#[derive(Deserialize)]
pub struct Page {
    limit: Option<u64>,
    cursor: Option<i64>,
}

/// `GET /api/v1/admin/unrouted-deliveries`: deliveries to slugs that match no tenant,
/// newest first (platform admins). A mistyped endpoint URL in Stripe shows up here.
#[utoipa::path(get, path = "/api/v1/admin/unrouted-deliveries", tag = "webhook events", security(("bearer" = [])),
    params(("limit" = Option<u64>, Query), ("cursor" = Option<i64>, Query)),
    responses((status = 200, description = "items (id, tenant_slug, stripe_event_id, type, status, error, received_at) and next_cursor"),
              (status = 403, description = "platform admins only")))]
pub async fn unrouted(
    State(app): State<AppState>,
    admin: Admin,
    Query(page): Query<Page>,
) -> Result<Json<Value>> {
    admin.require_platform()?;
    let limit = page.limit.unwrap_or(50).clamp(1, 200);
    let mut query = webhook_event::Entity::find().filter(webhook_event::Column::TenantId.is_null());
    if let Some(before) = page.cursor {
        query = query.filter(webhook_event::Column::Id.lt(before));
    }
    let mut rows = query
        .order_by_desc(webhook_event::Column::Id)
        .limit(limit + 1)
        .all(&app.db)
        .await?;
    let next_cursor = super::next_cursor(&mut rows, limit, |r| r.id.to_string());
    let items: Vec<Value> = rows
        .iter()
        .map(|r| {
            json!({"id": r.id, "tenant_slug": r.tenant_slug, "stripe_event_id": r.stripe_event_id, "type": r.event_type,
                   "status": r.status, "error": r.error, "received_at": ms_to_rfc3339(r.received_at)})
        })
        .collect();
    Ok(Json(json!({"items": items, "next_cursor": next_cursor})))
}
