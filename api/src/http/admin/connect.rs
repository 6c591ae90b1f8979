//! Stripe Connect settings (CONTRACT §11), platform admins only: the platform's Connect
//! endpoint secrets (per mode, rotated like a restaurant's) and Stripe API key, and the
//! link of each restaurant to its connected account.

use super::auth::{PlatformAdmin, TenantAccess};
use super::payment_config::{SecretView, grace, parse_mode, parse_secret, secret_views};
use super::stripe::{ApiKeyView, view as key_view};
use crate::clock::now_ms;
use crate::http::AppState;
use crate::http::error::{Error, ErrorBody, ErrorCode, Result};
use crate::http::extract::ApiJson;
use crate::tenants::connect::{self, AccountId, LinkError};
use crate::tenants::secrets;
use crate::tenants::slug::CONNECT;
use crate::tenants::stripe_key::{self, StripeApiKey};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

/// The platform's Connect settings; never a secret or a key.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ConnectConfigView {
    /// A Connect endpoint secret is set: the Connect endpoint verifies deliveries.
    configured: bool,
    secrets: Vec<SecretView>,
    /// The platform's Stripe API key, for recovery and diagnosis of linked restaurants
    /// (with `Stripe-Account`).
    stripe_api_key: ApiKeyView,
    /// The path of the Connect endpoint URL to give Stripe.
    webhook_path: &'static str,
}

async fn describe(app: &AppState) -> Result<Json<ConnectConfigView>> {
    let platform = connect::platform(&app.db).await?;
    let rows = match &platform {
        Some(p) => secrets::active_rows(&app.db, p.id, now_ms()).await?,
        None => Vec::new(),
    };
    let stripe_api_key = match &platform {
        Some(p) => key_view(app, p.id).await?.0,
        None => ApiKeyView::of(None),
    };
    Ok(Json(ConnectConfigView {
        configured: !rows.is_empty(),
        secrets: secret_views(rows),
        stripe_api_key,
        webhook_path: "/api/v1/webhooks/stripe/connect",
    }))
}

#[utoipa::path(get, path = "/api/v1/admin/connect-config", operation_id = "show_connect_config", tag = "connect", security(("bearer" = [])),
    responses((status = 200, description = "never a secret or a key", body = ConnectConfigView),
              (status = 403, description = "platform admins only", body = ErrorBody)))]
pub async fn show(
    State(app): State<AppState>,
    _admin: PlatformAdmin,
) -> Result<Json<ConnectConfigView>> {
    describe(&app).await
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct SetConnectConfig {
    /// The Connect endpoint's signing secret (Stripe's dashboard → Developers →
    /// Webhooks → the endpoint listening to "Events on Connected accounts").
    #[schema(pattern = "^whsec_[A-Za-z0-9+/=_-]{8,200}$")]
    webhook_secret: Option<String>,
    /// Which Connect endpoint the secret is of: `live` (the default) or `test`.
    #[schema(value_type = Option<crate::http::admin::api_keys::KeyMode>)]
    mode: Option<String>,
    /// The platform's Stripe API key (a restricted key with read access to Events and
    /// Webhook Endpoints).
    #[schema(pattern = "^[rs]k_(live|test)_[A-Za-z0-9]{8,250}$")]
    stripe_api_key: Option<String>,
}

#[utoipa::path(put, path = "/api/v1/admin/connect-config", operation_id = "set_connect_config", tag = "connect", security(("bearer" = [])),
    request_body = SetConnectConfig,
    responses((status = 200, description = "what is given is set (a secret replaces that mode's older one now); with neither, nothing changes", body = ConnectConfigView),
              (status = 403, description = "platform admins only", body = ErrorBody),
              (status = 422, description = "not a Stripe webhook secret or API key, or a mode that is neither live nor test", body = ErrorBody)))]
pub async fn put(
    State(app): State<AppState>,
    PlatformAdmin(admin): PlatformAdmin,
    ApiJson(body): ApiJson<SetConnectConfig>,
) -> Result<Json<ConnectConfigView>> {
    let secret = body
        .webhook_secret
        .as_deref()
        .map(parse_secret)
        .transpose()?;
    let mode = parse_mode(body.mode.as_deref())?;
    let key = body
        .stripe_api_key
        .as_deref()
        .map(|k| {
            StripeApiKey::parse(k)
                .map_err(|e| Error::with_message(ErrorCode::InvalidStripeApiKey, e.to_string()))
        })
        .transpose()?;
    if secret.is_none() && key.is_none() {
        // Nothing to set: what is set now.
        return describe(&app).await;
    }
    let platform = connect::ensure_platform(&app.db).await?;
    let actor = admin.actor();
    if let Some(secret) = &secret {
        secrets::set(&app.db, &app.config.keys, platform.id, secret, mode, &actor).await?;
        app.changes.secrets(CONNECT);
    }
    if let Some(key) = &key {
        stripe_key::set(&app.db, &app.config.keys, platform.id, key, &actor).await?;
        app.stripe.forget_all();
    }
    describe(&app).await
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct RotateConnect {
    /// The Connect endpoint's new signing secret.
    #[schema(pattern = "^whsec_[A-Za-z0-9+/=_-]{8,200}$")]
    webhook_secret: String,
    /// How long the previous secret keeps verifying: at most 86400; 3600 when absent.
    #[schema(minimum = 0, maximum = 86400)]
    previous_expires_in_secs: Option<u64>,
    /// `live` (the default) or `test`.
    #[schema(value_type = Option<crate::http::admin::api_keys::KeyMode>)]
    mode: Option<String>,
}

#[utoipa::path(post, path = "/api/v1/admin/connect-config/rotate", operation_id = "rotate_connect_secret", tag = "connect", security(("bearer" = [])),
    request_body = RotateConnect,
    responses((status = 200, description = "the new secret verifies now; the previous one until it expires", body = ConnectConfigView),
              (status = 403, description = "platform admins only", body = ErrorBody),
              (status = 422, description = "not a Stripe webhook secret, or a grace period over 24 hours", body = ErrorBody)))]
pub async fn rotate(
    State(app): State<AppState>,
    PlatformAdmin(admin): PlatformAdmin,
    ApiJson(body): ApiJson<RotateConnect>,
) -> Result<Json<ConnectConfigView>> {
    let secret = parse_secret(&body.webhook_secret)?;
    let mode = parse_mode(body.mode.as_deref())?;
    let grace = grace(body.previous_expires_in_secs)?;
    let platform = connect::ensure_platform(&app.db).await?;
    secrets::rotate(
        &app.db,
        &app.config.keys,
        platform.id,
        &secret,
        mode,
        grace,
        &admin.actor(),
    )
    .await?;
    app.changes.secrets(CONNECT);
    describe(&app).await
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct LinkAccount {
    /// The restaurant's connected account (`acct_…`).
    #[schema(pattern = "^acct_[A-Za-z0-9]{1,250}$")]
    account_id: String,
}

/// A restaurant's link to its connected account.
#[derive(Serialize, utoipa::ToSchema)]
pub struct LinkView {
    tenant: String,
    account_id: Option<String>,
}

#[utoipa::path(put, path = "/api/v1/admin/tenants/{tenant}/connect", operation_id = "link_connected_account", tag = "connect", security(("bearer" = [])),
    params(("tenant" = String, Path, description = "the restaurant's slug")), request_body = LinkAccount,
    responses((status = 200, description = "linked: the Connect endpoint routes the account's events here", body = LinkView),
              (status = 403, description = "platform admins only: a restaurant must not claim another's account", body = ErrorBody),
              (status = 409, description = "`account_taken`: another restaurant is linked to this account", body = ErrorBody),
              (status = 422, description = "`invalid_account_id`", body = ErrorBody)))]
pub async fn link(
    State(app): State<AppState>,
    access: TenantAccess,
    ApiJson(body): ApiJson<LinkAccount>,
) -> Result<Json<LinkView>> {
    access.admin.require_platform()?;
    let account = AccountId::parse(&body.account_id)
        .map_err(|e| Error::with_message(ErrorCode::InvalidAccountId, e.to_string()))?;
    match connect::link(&app.db, access.tenant.id, &account, &access.admin.actor()).await {
        Ok(()) => {}
        Err(LinkError::Taken(why)) => {
            return Err(Error::with_message(
                ErrorCode::AccountTaken,
                format!("connected account {why} is linked to another restaurant"),
            ));
        }
        Err(LinkError::Db(e)) => return Err(e.into()),
    }
    app.changes.secrets(&access.tenant.slug);
    app.stripe.forget(access.tenant.id);
    Ok(Json(LinkView {
        tenant: access.tenant.slug,
        account_id: Some(account.to_string()),
    }))
}

#[utoipa::path(delete, path = "/api/v1/admin/tenants/{tenant}/connect", operation_id = "unlink_connected_account", tag = "connect", security(("bearer" = [])),
    params(("tenant" = String, Path, description = "the restaurant's slug")),
    responses((status = 204, description = "unlinked: the account's events are listed as unrouted"),
              (status = 403, description = "platform admins only", body = ErrorBody),
              (status = 404, description = "the restaurant is linked to no account", body = ErrorBody)))]
pub async fn unlink(State(app): State<AppState>, access: TenantAccess) -> Result<Response> {
    access.admin.require_platform()?;
    if !connect::unlink(&app.db, &access.tenant, &access.admin.actor()).await? {
        return Err(ErrorCode::NotFound.into());
    }
    app.changes.secrets(&access.tenant.slug);
    app.stripe.forget(access.tenant.id);
    Ok(StatusCode::NO_CONTENT.into_response())
}
