//! Per-tenant health: is it configured, when did Stripe last call, what failed lately.

use super::auth::TenantAccess;
use crate::AppState;
use crate::db::{ms_to_rfc3339, now_ms};
use crate::error::Result;
use crate::tenants::secrets;
use crate::webhooks::status;
use axum::Json;
use axum::extract::State;
use entity::webhook_event;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
    Statement,
};
use serde_json::{Value, json};
use std::collections::HashMap;

const DAY_MS: i64 = 24 * 3600 * 1000;
const HOUR_MS: i64 = 3600 * 1000;

/// The last 24 hours in one short range of the (tenant, received_at, status) index:
/// deliveries per clock hour and status, oldest hour first (the chart), and per status
/// over exactly the last 24 hours (the recent failures).
async fn last_day(
    app: &AppState,
    tenant_id: i64,
    now: i64,
) -> Result<(Vec<Value>, HashMap<String, i64>)> {
    let first_hour = now / HOUR_MS - 23;
    let backend = app.db.get_database_backend();
    let sql = match backend {
        DbBackend::Postgres => {
            "SELECT received_at / 3600000 AS hour, status, COUNT(*) AS n FROM webhook_event \
             WHERE tenant_id = $1 AND received_at >= $2 GROUP BY 1, 2"
        }
        _ => {
            "SELECT received_at / 3600000 AS hour, status, COUNT(*) AS n FROM webhook_event \
             WHERE tenant_id = ? AND received_at >= ? GROUP BY 1, 2"
        }
    };
    let rows = app
        .db
        .query_all_raw(Statement::from_sql_and_values(
            backend,
            sql,
            [tenant_id.into(), (now - DAY_MS).into()],
        ))
        .await?;
    let mut hours: Vec<Value> = (0..24)
        .map(|i| json!({"hour": ms_to_rfc3339((first_hour + i) * HOUR_MS), "counts": {}}))
        .collect();
    let mut by_status: HashMap<String, i64> = HashMap::new();
    for row in rows {
        let hour: i64 = row.try_get("", "hour")?;
        let status: String = row.try_get("", "status")?;
        let n: i64 = row.try_get("", "n")?;
        *by_status.entry(status.clone()).or_default() += n;
        if let Some(slot) = usize::try_from(hour - first_hour)
            .ok()
            .and_then(|i| hours.get_mut(i))
        {
            slot["counts"][status] = json!(n);
        }
    }
    Ok((hours, by_status))
}
/// An event PROCESSING for longer than this is stuck (the lease and retries ran out of time).
const STUCK_AFTER_MS: i64 = 5 * 60 * 1000;

#[utoipa::path(get, path = "/api/v1/admin/tenants/{tenant}/health", tag = "admin", security(("bearer" = [])), params(("tenant" = String, Path, description = "the restaurant's slug")), responses(
    (status = 200, description = "configured, last_successful_webhook, last_delivery, recent_failures (24 h), stuck_processing")))]
pub async fn show(State(app): State<AppState>, access: TenantAccess) -> Result<Json<Value>> {
    let tenant_id = access.tenant.id;
    let now = now_ms();
    let events =
        || webhook_event::Entity::find().filter(webhook_event::Column::TenantId.eq(tenant_id));
    let configured = matches!(
        secrets::check(&app.db, &app.config.keys, tenant_id).await?,
        secrets::Health::Ok { .. }
    );
    let last_success = events()
        .filter(webhook_event::Column::Status.eq(status::COMPLETED))
        .order_by_desc(webhook_event::Column::Id)
        .one(&app.db)
        .await?;
    let last_delivery = events()
        .order_by_desc(webhook_event::Column::Id)
        .one(&app.db)
        .await?;
    let (per_hour, recent) = last_day(&app, tenant_id, now).await?;
    let recent = |s: &str| recent.get(s).copied().unwrap_or(0);
    let stuck = events()
        .filter(webhook_event::Column::Status.eq(status::PROCESSING))
        .filter(webhook_event::Column::ReceivedAt.lt(now - STUCK_AFTER_MS))
        .count(&app.db)
        .await?;
    Ok(Json(json!({
        "configured": configured,
        "last_successful_webhook": last_success.map(|e| ms_to_rfc3339(e.received_at)),
        "last_delivery": last_delivery.map(|e| json!({"at": ms_to_rfc3339(e.received_at), "status": e.status})),
        "recent_failures": {
            "verification_failed": recent(status::VERIFICATION_FAILED),
            "no_config": recent(status::NO_CONFIG),
            "failed": recent(status::FAILED),
        },
        "stuck_processing": stuck,
        "deliveries_per_hour": per_hour,
    })))
}
