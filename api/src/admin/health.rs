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
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder};
use serde_json::{Value, json};

const DAY_MS: i64 = 24 * 3600 * 1000;
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
    let recent = |s: &'static str| {
        events()
            .filter(webhook_event::Column::Status.eq(s))
            .filter(webhook_event::Column::ReceivedAt.gte(now - DAY_MS))
            .count(&app.db)
    };
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
            "verification_failed": recent(status::VERIFICATION_FAILED).await?,
            "no_config": recent(status::NO_CONFIG).await?,
            "failed": recent(status::FAILED).await?,
        },
        "stuck_processing": stuck,
    })))
}
