//! The audit log: who changed what, when, from where. Never a secret.

use super::auth::{Admin, TenantAccess};
use crate::AppState;
use crate::db::{ms_to_rfc3339, now_ms};
use crate::error::Result;
use axum::Json;
use axum::extract::{Query, State};
use entity::audit_log;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set,
};
use serde::Deserialize;
use serde_json::{Value, json};

pub async fn record<C: ConnectionTrait>(
    db: &C,
    actor: &str,
    ip: Option<&str>,
    tenant_id: Option<i64>,
    action: &str,
    detail: Value,
) -> Result<(), DbErr> {
    audit_log::ActiveModel {
        tenant_id: Set(tenant_id),
        actor: Set(actor.to_string()),
        action: Set(action.to_string()),
        detail: Set(detail.to_string()),
        ip: Set(ip.map(str::to_owned)),
        created_at: Set(now_ms()),
        ..Default::default()
    }
    .insert(db)
    .await?;
    Ok(())
}

pub async fn by_admin<C: ConnectionTrait>(
    db: &C,
    admin: &Admin,
    tenant_id: Option<i64>,
    action: &str,
    detail: Value,
) -> Result<(), DbErr> {
    record(
        db,
        &admin.email,
        admin.ip.as_deref(),
        tenant_id,
        action,
        detail,
    )
    .await
}

#[derive(Deserialize)]
pub struct Page {
    limit: Option<u64>,
    cursor: Option<i64>,
}

fn item(row: audit_log::Model) -> Value {
    json!({
        "id": row.id,
        "actor": row.actor,
        "action": row.action,
        "detail": serde_json::from_str::<Value>(&row.detail).unwrap_or(Value::Null),
        "ip": row.ip,
        "at": ms_to_rfc3339(row.created_at),
    })
}

async fn page(app: &AppState, tenant_id: Option<i64>, page: Page) -> Result<Json<Value>> {
    let limit = page.limit.unwrap_or(50).clamp(1, 200);
    let mut query = audit_log::Entity::find();
    if let Some(id) = tenant_id {
        query = query.filter(audit_log::Column::TenantId.eq(id));
    }
    if let Some(cursor) = page.cursor {
        query = query.filter(audit_log::Column::Id.lt(cursor));
    }
    let mut rows = query
        .order_by_desc(audit_log::Column::Id)
        .limit(limit + 1)
        .all(&app.db)
        .await?;
    let next = super::next_cursor(&mut rows, limit, |r| r.id.to_string());
    Ok(Json(
        json!({"items": rows.into_iter().map(item).collect::<Vec<_>>(), "next_cursor": next}),
    ))
}

/// `GET /api/v1/admin/tenants/{tenant}/audit-log`
#[utoipa::path(get, path = "/api/v1/admin/tenants/{tenant}/audit-log", tag = "admin", security(("bearer" = [])),
    params(("tenant" = String, Path, description = "the restaurant's slug"), ("limit" = Option<u64>, Query), ("cursor" = Option<i64>, Query)),
    responses((status = 200, description = "changes to this tenant, newest first: actor, action, detail, ip, at")))]
pub async fn tenant_log(
    State(app): State<AppState>,
    access: TenantAccess,
    Query(q): Query<Page>,
) -> Result<Json<Value>> {
    page(&app, Some(access.tenant.id), q).await
}

/// `GET /api/v1/admin/audit-log`: everything (platform admins).
#[utoipa::path(get, path = "/api/v1/admin/audit-log", tag = "admin", security(("bearer" = [])),
    params(("limit" = Option<u64>, Query), ("cursor" = Option<i64>, Query)),
    responses((status = 200, description = "every change, newest first"), (status = 403, description = "platform admins only")))]
pub async fn full_log(
    State(app): State<AppState>,
    admin: Admin,
    Query(q): Query<Page>,
) -> Result<Json<Value>> {
    admin.require_platform()?;
    page(&app, None, q).await
}
