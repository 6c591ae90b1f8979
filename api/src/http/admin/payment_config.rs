//! A tenant's Stripe configuration: set, replace, rotate with a grace period, delete.
//! Responses show a hint and a fingerprint of each secret, never the secret.

use super::auth::TenantAccess;
use crate::clock::{ms_to_rfc3339, now_ms};
use crate::http::AppState;
use crate::http::error::{Error, ErrorBody, ErrorCode, Result};
use crate::http::extract::ApiJson;
use crate::tenants::api_keys::Mode;
use crate::tenants::secrets::{self, MAX_GRACE, WebhookSecret};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// One active secret, described without its value.
#[derive(Serialize, utoipa::ToSchema)]
pub struct SecretView {
    /// `whsec_…` and the last four characters.
    hint: String,
    /// SHA-256 of the secret, shortened: compare it with the secret you hold.
    fingerprint: String,
    #[schema(format = DateTime)]
    created_at: String,
    /// When a rotated-out secret stops verifying; none for the current one.
    #[schema(format = DateTime)]
    expires_at: Option<String>,
    /// `live` or `test`: the Stripe endpoint it signs for.
    #[schema(value_type = crate::http::admin::api_keys::KeyMode)]
    mode: String,
}

/// A tenant's Stripe configuration; never a secret.
#[derive(Serialize, utoipa::ToSchema)]
pub struct PaymentConfigView {
    /// `stripe`
    provider: &'static str,
    configured: bool,
    secrets: Vec<SecretView>,
    #[schema(format = DateTime)]
    updated_at: Option<String>,
    /// The path of the endpoint URL to give Stripe.
    webhook_path: String,
}

/// Active secrets, described without their values.
pub(super) fn secret_views(rows: Vec<entity::webhook_secret::Model>) -> Vec<SecretView> {
    rows.into_iter()
        .map(|r| SecretView {
            hint: r.hint,
            fingerprint: r.fingerprint,
            created_at: ms_to_rfc3339(r.created_at),
            expires_at: r.expires_at.map(ms_to_rfc3339),
            mode: r.mode,
        })
        .collect()
}

async fn describe(app: &AppState, access: &TenantAccess) -> Result<Json<PaymentConfigView>> {
    let tenant_id = access.tenant.id;
    let updated_at = secrets::config_updated_at(&app.db, tenant_id).await?;
    let rows = secrets::active_rows(&app.db, tenant_id, now_ms()).await?;
    Ok(Json(PaymentConfigView {
        provider: "stripe",
        configured: !rows.is_empty(),
        secrets: secret_views(rows),
        updated_at: updated_at.map(ms_to_rfc3339),
        webhook_path: format!("/api/v1/webhooks/stripe/{}", access.tenant.slug),
    }))
}

/// `GET …/payment-config`
#[utoipa::path(get, path = "/api/v1/admin/tenants/{tenant}/payment-config", operation_id = "show_payment_config", tag = "payment config", security(("bearer" = [])), params(("tenant" = String, Path, description = "the restaurant's slug")), responses(
    (status = 200, description = "never a secret", body = PaymentConfigView),
    (status = 404, description = "no such tenant, or not the caller's", body = ErrorBody)))]
pub async fn show(
    State(app): State<AppState>,
    access: TenantAccess,
) -> Result<Json<PaymentConfigView>> {
    describe(&app, &access).await
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct SetSecret {
    /// The endpoint's signing secret, as Stripe's dashboard shows it.
    #[schema(pattern = "^whsec_[A-Za-z0-9+/=_-]{8,200}$")]
    webhook_secret: String,
    /// Which of the restaurant's Stripe endpoints it signs for: `live` (the default) or
    /// `test`. The other mode's secret is left as it is.
    #[schema(value_type = Option<crate::http::admin::api_keys::KeyMode>)]
    mode: Option<String>,
}

pub(super) fn parse_mode(mode: Option<&str>) -> Result<Mode> {
    match mode {
        None => Ok(Mode::Live),
        Some(m) => Mode::parse(m).ok_or_else(|| Error::invalid("mode is \"live\" or \"test\"")),
    }
}

/// How long a rotated-out secret keeps verifying: 3600 s unless given, at most 24 hours.
pub(super) fn grace(secs: Option<u64>) -> Result<Duration> {
    let secs = secs.unwrap_or(3600);
    if secs > MAX_GRACE.as_secs() {
        return Err(Error::invalid(
            "previous_expires_in_secs is at most 86400 (24 hours, as Stripe allows)",
        ));
    }
    Ok(Duration::from_secs(secs))
}

pub(super) fn parse_secret(text: &str) -> Result<WebhookSecret> {
    WebhookSecret::parse(text)
        .map_err(|e| Error::with_message(ErrorCode::InvalidWebhookSecret, e.to_string()))
}

/// `PUT …/payment-config`: set or replace; the old secret stops working now.
#[utoipa::path(put, path = "/api/v1/admin/tenants/{tenant}/payment-config", operation_id = "set_webhook_secret", tag = "payment config", security(("bearer" = [])), params(("tenant" = String, Path, description = "the restaurant's slug")),
    request_body = SetSecret, responses(
    (status = 200, description = "set; every older secret stops verifying now", body = PaymentConfigView),
    (status = 422, description = "`invalid_webhook_secret`: not a Stripe webhook secret (whsec_…)", body = ErrorBody)))]
pub async fn put(
    State(app): State<AppState>,
    access: TenantAccess,
    ApiJson(body): ApiJson<SetSecret>,
) -> Result<Json<PaymentConfigView>> {
    let secret = parse_secret(&body.webhook_secret)?;
    let mode = parse_mode(body.mode.as_deref())?;
    let actor = access.admin.actor();
    secrets::set(
        &app.db,
        &app.config.keys,
        access.tenant.id,
        &secret,
        mode,
        &actor,
    )
    .await?;
    app.changes.secrets(&access.tenant.slug);
    describe(&app, &access).await
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct Rotate {
    /// The endpoint's new signing secret.
    #[schema(pattern = "^whsec_[A-Za-z0-9+/=_-]{8,200}$")]
    webhook_secret: String,
    /// How long the previous secret keeps verifying: at most 86400 (24 hours, as Stripe
    /// allows); 3600 when absent.
    #[schema(minimum = 0, maximum = 86400)]
    previous_expires_in_secs: Option<u64>,
    /// The mode whose secret rotates: `live` (the default) or `test`.
    #[schema(value_type = Option<crate::http::admin::api_keys::KeyMode>)]
    mode: Option<String>,
}

/// `POST …/payment-config/rotate`: the new secret now, the old one until it expires.
#[utoipa::path(post, path = "/api/v1/admin/tenants/{tenant}/payment-config/rotate", operation_id = "rotate_webhook_secret", tag = "payment config", security(("bearer" = [])), params(("tenant" = String, Path, description = "the restaurant's slug")),
    request_body = Rotate, responses(
    (status = 200, description = "the new secret verifies now; the previous one until it expires", body = PaymentConfigView),
    (status = 422, description = "not a Stripe webhook secret, or a grace period over 24 hours", body = ErrorBody)))]
pub async fn rotate(
    State(app): State<AppState>,
    access: TenantAccess,
    ApiJson(body): ApiJson<Rotate>,
) -> Result<Json<PaymentConfigView>> {
    let secret = parse_secret(&body.webhook_secret)?;
    let mode = parse_mode(body.mode.as_deref())?;
    let grace = grace(body.previous_expires_in_secs)?;
    secrets::rotate(
        &app.db,
        &app.config.keys,
        access.tenant.id,
        &secret,
        mode,
        grace,
        &access.admin.actor(),
    )
    .await?;
    app.changes.secrets(&access.tenant.slug);
    describe(&app, &access).await
}

/// `DELETE …/payment-config`
#[utoipa::path(delete, path = "/api/v1/admin/tenants/{tenant}/payment-config", operation_id = "delete_payment_config", tag = "payment config", security(("bearer" = [])), params(("tenant" = String, Path, description = "the restaurant's slug")), responses(
    (status = 204, description = "removed; deliveries now answer 404 no_config"), (status = 404, description = "nothing configured", body = ErrorBody)))]
pub async fn delete(State(app): State<AppState>, access: TenantAccess) -> Result<Response> {
    let removed = secrets::delete(&app.db, access.tenant.id, &access.admin.actor()).await?;
    app.changes.secrets(&access.tenant.slug);
    if !removed {
        return Err(ErrorCode::PaymentConfigNotFound.into());
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}
