//! The audit log, read: a tenant's changes, or every change (platform admins).

use super::auth::{Admin, TenantAccess};
use crate::clock::ms_to_rfc3339;
use crate::http::AppState;
use crate::http::error::{ErrorBody, Result};
use crate::http::extract::{Page, Paging};
use crate::tenants::audit;
use axum::Json;
use axum::extract::State;
use entity::audit_log;
use serde::Serialize;
use serde_json::Value;

/// One change.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AuditEntry {
    pub id: i64,
    /// The admin's email, or `cli`.
    pub actor: String,
    pub action: String,
    /// What changed; never a secret.
    #[schema(value_type = Object)]
    pub detail: Value,
    pub ip: Option<String>,
    #[schema(format = DateTime)]
    pub at: String,
}

fn entry(row: audit_log::Model) -> AuditEntry {
    AuditEntry {
        id: row.id,
        actor: row.actor,
        action: row.action,
        detail: serde_json::from_str(&row.detail).unwrap_or(Value::Null),
        ip: row.ip,
        at: ms_to_rfc3339(row.created_at),
    }
}

async fn page(
    app: &AppState,
    tenant_id: Option<i64>,
    paging: Paging,
) -> Result<Json<Page<AuditEntry>>> {
    let rows = audit::page(&app.db, tenant_id, paging.cursor_id()?, paging.limit).await?;
    Ok(Json(paging.page(rows, |r| r.id.to_string(), entry)))
}

/// `GET /api/v1/admin/tenants/{tenant}/audit-log`
#[utoipa::path(get, path = "/api/v1/admin/tenants/{tenant}/audit-log", operation_id = "tenant_audit_log", tag = "admin", security(("bearer" = [])),
    params(("tenant" = String, Path, description = "the restaurant's slug"), crate::http::extract::PageParams),
    responses((status = 200, description = "changes to this tenant, newest first", body = Page<AuditEntry>),
              (status = 404, description = "no such tenant, or not the caller's", body = ErrorBody)))]
pub async fn tenant_log(
    State(app): State<AppState>,
    access: TenantAccess,
    paging: Paging,
) -> Result<Json<Page<AuditEntry>>> {
    page(&app, Some(access.tenant.id), paging).await
}

/// `GET /api/v1/admin/audit-log`: everything (platform admins).
#[utoipa::path(get, path = "/api/v1/admin/audit-log", operation_id = "audit_log", tag = "admin", security(("bearer" = [])),
    params(crate::http::extract::PageParams),
    responses((status = 200, description = "every change, newest first", body = Page<AuditEntry>),
              (status = 403, description = "platform admins only", body = ErrorBody)))]
pub async fn full_log(
    State(app): State<AppState>,
    admin: Admin,
    paging: Paging,
) -> Result<Json<Page<AuditEntry>>> {
    admin.require_platform()?;
    page(&app, None, paging).await
}
