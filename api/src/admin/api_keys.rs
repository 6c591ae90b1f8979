//! Tenant API keys: created (shown once), listed by id and prefix, revoked.

use super::audit;
use super::auth::TenantAccess;
use crate::AppState;
use crate::db::{ms_to_rfc3339, now_ms};
use crate::error::{Error, Result};
use crate::tenants::api_keys;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use entity::api_key;
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use serde_json::{Value, json};

#[utoipa::path(post, path = "/api/v1/admin/tenants/{tenant}/api-keys", tag = "api keys", security(("bearer" = [])), params(("tenant" = String, Path, description = "the restaurant's slug")), responses(
    (status = 201, description = "`{id, key}`: the key is shown this once and stored hashed")))]
pub async fn create(State(app): State<AppState>, access: TenantAccess) -> Result<Response> {
    let key = api_keys::create(&app.db, access.tenant.id).await?;
    audit::by_admin(
        &app.db,
        &access.admin,
        Some(access.tenant.id),
        "api_key.create",
        json!({"id": key.id}),
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"id": key.id, "key": key.key})),
    )
        .into_response())
}

#[utoipa::path(get, path = "/api/v1/admin/tenants/{tenant}/api-keys", tag = "api keys", security(("bearer" = [])), params(("tenant" = String, Path, description = "the restaurant's slug")), responses(
    (status = 200, description = "id, prefix, created_at, revoked_at of each key")))]
pub async fn list(State(app): State<AppState>, access: TenantAccess) -> Result<Json<Value>> {
    let rows = api_key::Entity::find()
        .filter(api_key::Column::TenantId.eq(access.tenant.id))
        .order_by_desc(api_key::Column::Id)
        .all(&app.db)
        .await?;
    let items: Vec<Value> = rows
        .into_iter()
        .map(|k| {
            json!({"id": k.id, "prefix": k.prefix, "created_at": ms_to_rfc3339(k.created_at),
                   "revoked_at": k.revoked_at.map(ms_to_rfc3339)})
        })
        .collect();
    Ok(Json(json!({"items": items})))
}

#[utoipa::path(delete, path = "/api/v1/admin/tenants/{tenant}/api-keys/{id}", tag = "api keys", security(("bearer" = [])), params(("tenant" = String, Path, description = "the restaurant's slug"), ("id" = i64, Path)), responses(
    (status = 204, description = "revoked"), (status = 404, description = "no such live key")))]
pub async fn revoke(
    State(app): State<AppState>,
    access: TenantAccess,
    Path((_, id)): Path<(String, i64)>,
) -> Result<Response> {
    let result = api_key::Entity::update_many()
        .col_expr(api_key::Column::RevokedAt, Expr::value(now_ms()))
        .filter(api_key::Column::TenantId.eq(access.tenant.id))
        .filter(api_key::Column::Id.eq(id))
        .filter(api_key::Column::RevokedAt.is_null())
        .exec(&app.db)
        .await?;
    if result.rows_affected == 0 {
        return Err(Error::NotFound("api_key_not_found"));
    }
    audit::by_admin(
        &app.db,
        &access.admin,
        Some(access.tenant.id),
        "api_key.revoke",
        json!({"id": id}),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
