//! A tenant's Stripe configuration: set, replace, rotate with a grace period, delete.
//! Responses show a hint and a fingerprint of each secret, never the secret.

use super::audit;
use super::auth::TenantAccess;
use crate::AppState;
use crate::db::{ms_to_rfc3339, now_ms};
use crate::error::{Error, Result};
use crate::extract::ApiJson;
use crate::tenants::secrets::{self, MAX_GRACE, WebhookSecret};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use entity::payment_config;
use sea_orm::EntityTrait;
use serde::Deserialize;
use serde_json::{Value, json};
use std::time::Duration;

async fn describe(app: &AppState, tenant_id: i64) -> Result<Value> {
    let config = payment_config::Entity::find_by_id(tenant_id)
        .one(&app.db)
        .await?;
    let rows = secrets::active_rows(&app.db, tenant_id, now_ms()).await?;
    let secrets: Vec<Value> = rows
        .iter()
        .map(|r| {
            json!({
                "hint": r.hint,
                "fingerprint": r.fingerprint,
                "created_at": ms_to_rfc3339(r.created_at),
                "expires_at": r.expires_at.map(ms_to_rfc3339),
            })
        })
        .collect();
    Ok(json!({
        "provider": "stripe",
        "configured": !rows.is_empty(),
        "secrets": secrets,
        "updated_at": config.map(|c| ms_to_rfc3339(c.updated_at)),
        "webhook_path": null,
    }))
}

fn with_path(mut v: Value, slug: &str) -> Value {
    v["webhook_path"] = json!(format!("/api/v1/webhooks/stripe/{slug}"));
    v
}

/// `GET …/payment-config`
#[utoipa::path(get, path = "/api/v1/admin/tenants/{tenant}/payment-config", tag = "payment config", security(("bearer" = [])), params(("tenant" = String, Path, description = "the restaurant's slug")), responses(
    (status = 200, description = "provider, configured, secrets (hint, fingerprint, created_at, expires_at), updated_at; never a secret"),
    (status = 404, description = "no such tenant, or not the caller's")))]
pub async fn show(State(app): State<AppState>, access: TenantAccess) -> Result<Json<Value>> {
    Ok(Json(with_path(
        describe(&app, access.tenant.id).await?,
        &access.tenant.slug,
    )))
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct SetSecret {
    webhook_secret: String,
}

fn parse_secret(text: &str) -> Result<WebhookSecret> {
    WebhookSecret::parse(text).map_err(|e| Error::Unprocessable {
        code: "invalid_webhook_secret",
        message: e.to_string(),
    })
}

/// `PUT …/payment-config`: set or replace; the old secret stops working now.
#[utoipa::path(put, path = "/api/v1/admin/tenants/{tenant}/payment-config", tag = "payment config", security(("bearer" = [])), params(("tenant" = String, Path, description = "the restaurant's slug")),
    request_body = SetSecret, responses(
    (status = 200, description = "set; every older secret stops verifying now"),
    (status = 422, description = "`invalid_webhook_secret`: not a Stripe webhook secret (whsec_…)")))]
pub async fn put(
    State(app): State<AppState>,
    access: TenantAccess,
    ApiJson(body): ApiJson<SetSecret>,
) -> Result<Json<Value>> {
    let secret = parse_secret(&body.webhook_secret)?;
    secrets::set(&app.db, &app.config.keys, access.tenant.id, &secret).await?;
    app.secrets.invalidate(&access.tenant.slug);
    audit::by_admin(
        &app.db,
        &access.admin,
        Some(access.tenant.id),
        "payment_config.set",
        json!({"hint": secret.hint(), "fingerprint": secret.fingerprint()}),
    )
    .await?;
    Ok(Json(with_path(
        describe(&app, access.tenant.id).await?,
        &access.tenant.slug,
    )))
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct Rotate {
    webhook_secret: String,
    previous_expires_in_secs: Option<u64>,
}

/// `POST …/payment-config/rotate`: the new secret now, the old one until it expires.
#[utoipa::path(post, path = "/api/v1/admin/tenants/{tenant}/payment-config/rotate", tag = "payment config", security(("bearer" = [])), params(("tenant" = String, Path, description = "the restaurant's slug")),
    request_body = Rotate, responses(
    (status = 200, description = "the new secret verifies now; the previous one until it expires"),
    (status = 422, description = "not a Stripe webhook secret, or a grace period over 24 hours")))]
pub async fn rotate(
    State(app): State<AppState>,
    access: TenantAccess,
    ApiJson(body): ApiJson<Rotate>,
) -> Result<Json<Value>> {
    let secret = parse_secret(&body.webhook_secret)?;
    let grace = body.previous_expires_in_secs.unwrap_or(3600);
    if grace > MAX_GRACE.as_secs() {
        return Err(Error::unprocessable(
            "previous_expires_in_secs is at most 86400 (24 hours, as Stripe allows)",
        ));
    }
    secrets::rotate(
        &app.db,
        &app.config.keys,
        access.tenant.id,
        &secret,
        Duration::from_secs(grace),
    )
    .await?;
    app.secrets.invalidate(&access.tenant.slug);
    audit::by_admin(
        &app.db,
        &access.admin,
        Some(access.tenant.id),
        "payment_config.rotate",
        json!({"hint": secret.hint(), "fingerprint": secret.fingerprint(), "previous_expires_in_secs": grace}),
    )
    .await?;
    Ok(Json(with_path(
        describe(&app, access.tenant.id).await?,
        &access.tenant.slug,
    )))
}

/// `DELETE …/payment-config`
#[utoipa::path(delete, path = "/api/v1/admin/tenants/{tenant}/payment-config", tag = "payment config", security(("bearer" = [])), params(("tenant" = String, Path, description = "the restaurant's slug")), responses(
    (status = 204, description = "removed; deliveries now answer 404 no_config"), (status = 404, description = "nothing configured")))]
pub async fn delete(State(app): State<AppState>, access: TenantAccess) -> Result<Response> {
    let removed = secrets::delete(&app.db, access.tenant.id).await?;
    app.secrets.invalidate(&access.tenant.slug);
    if !removed {
        return Err(Error::NotFound("payment_config_not_found"));
    }
    audit::by_admin(
        &app.db,
        &access.admin,
        Some(access.tenant.id),
        "payment_config.delete",
        json!({}),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
