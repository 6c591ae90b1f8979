//! The restaurant's Stripe API key, recovery of missed events, and diagnosis.

use super::auth::TenantAccess;
use crate::clock::{ms_to_rfc3339, now_ms};
use crate::diagnosis::{self, Asker, Finding, Viewer};
use crate::http::AppState;
use crate::http::error::{Error, ErrorBody, ErrorCode, Result};
use crate::http::extract::ApiJson;
use crate::recovery::{self, RecoverError, Summary};
use crate::stripe::api::ApiError;
use crate::tenants::admins::Role;
use crate::tenants::audit;
use crate::tenants::stripe_key::{self, StripeApiKey};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::json;

/// What is known of the key: never the key.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ApiKeyView {
    configured: bool,
    /// `rk_live_…a1b2`
    hint: Option<String>,
    /// `live` or `test`
    mode: Option<&'static str>,
}

pub(super) async fn view(app: &AppState, tenant_id: i64) -> Result<Json<ApiKeyView>> {
    let info = stripe_key::info(&app.db, tenant_id).await?;
    Ok(Json(ApiKeyView::of(info)))
}

impl ApiKeyView {
    /// What a saved key's `info` (or none) shows.
    pub(super) fn of(info: Option<stripe_key::KeyInfo>) -> Self {
        ApiKeyView {
            configured: info.is_some(),
            mode: info
                .as_ref()
                .map(|i| if i.livemode { "live" } else { "test" }),
            hint: info.map(|i| i.hint),
        }
    }
}

#[utoipa::path(get, path = "/api/v1/admin/tenants/{tenant}/stripe-api-key", operation_id = "show_stripe_api_key", tag = "stripe", security(("bearer" = [])),
    params(("tenant" = String, Path, description = "the restaurant's slug")),
    responses((status = 200, description = "configured, hint and mode; never the key", body = ApiKeyView)))]
pub async fn show(State(app): State<AppState>, access: TenantAccess) -> Result<Json<ApiKeyView>> {
    view(&app, access.tenant.id).await
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct SetApiKey {
    /// A restricted key with read access to Events and Webhook Endpoints (`rk_live_…`).
    #[schema(pattern = "^[rs]k_(live|test)_[A-Za-z0-9]{8,250}$")]
    api_key: String,
}

#[utoipa::path(put, path = "/api/v1/admin/tenants/{tenant}/stripe-api-key", operation_id = "set_stripe_api_key", tag = "stripe", security(("bearer" = [])),
    params(("tenant" = String, Path, description = "the restaurant's slug")), request_body = SetApiKey,
    responses((status = 200, description = "set; sealed like the webhook secret", body = ApiKeyView),
              (status = 422, description = "`invalid_stripe_api_key`", body = ErrorBody)))]
pub async fn put(
    State(app): State<AppState>,
    access: TenantAccess,
    ApiJson(body): ApiJson<SetApiKey>,
) -> Result<Json<ApiKeyView>> {
    let key = StripeApiKey::parse(&body.api_key)
        .map_err(|e| Error::with_message(ErrorCode::InvalidStripeApiKey, e.to_string()))?;
    let actor = access.admin.actor();
    stripe_key::set(&app.db, &app.config.keys, access.tenant.id, &key, &actor).await?;
    app.stripe.forget(access.tenant.id);
    view(&app, access.tenant.id).await
}

#[utoipa::path(delete, path = "/api/v1/admin/tenants/{tenant}/stripe-api-key", operation_id = "delete_stripe_api_key", tag = "stripe", security(("bearer" = [])),
    params(("tenant" = String, Path, description = "the restaurant's slug")),
    responses((status = 204, description = "removed"), (status = 404, description = "no key was set", body = ErrorBody)))]
pub async fn delete(State(app): State<AppState>, access: TenantAccess) -> Result<Response> {
    let removed = stripe_key::delete(&app.db, access.tenant.id, &access.admin.actor()).await?;
    app.stripe.forget(access.tenant.id);
    if !removed {
        return Err(ErrorCode::NotFound.into());
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[derive(Deserialize, Default, utoipa::ToSchema)]
pub struct Recover {
    /// RFC 3339; by default where the last recovery ended (or 3 days back).
    #[schema(format = DateTime)]
    since: Option<String>,
}

/// Maps a failed recovery to what the caller can do about it.
pub fn recover_error(e: RecoverError) -> Error {
    match e {
        RecoverError::NoKey => Error::with_message(ErrorCode::NoStripeApiKey, e.to_string()),
        RecoverError::Key(e) => Error::Unavailable(e.to_string()),
        RecoverError::Api(ApiError::KeyRejected) => Error::with_message(
            ErrorCode::StripeApiKeyRejected,
            ApiError::KeyRejected.to_string(),
        ),
        RecoverError::Api(e) => Error::with_message(ErrorCode::StripeUnavailable, e.to_string()),
        RecoverError::Db(e) => Error::Storage(e),
    }
}

/// `POST …/recover`: fetch this tenant's events from Stripe and apply those never received.
#[utoipa::path(post, path = "/api/v1/admin/tenants/{tenant}/recover", operation_id = "recover_tenant", tag = "stripe", security(("bearer" = [])),
    params(("tenant" = String, Path, description = "the restaurant's slug")), request_body(content = Option<Recover>, description = "optional"),
    responses((status = 200, description = "what was listed, already had, recovered, failed", body = Summary),
              (status = 409, description = "`no_stripe_api_key`", body = ErrorBody),
              (status = 422, description = "`stripe_api_key_rejected`, or a bad `since`", body = ErrorBody),
              (status = 502, description = "`stripe_unavailable`", body = ErrorBody)))]
pub async fn recover(
    State(app): State<AppState>,
    access: TenantAccess,
    body: Option<ApiJson<Recover>>,
) -> Result<Json<Summary>> {
    // An empty `since` is no `since`, as an empty form field sends it.
    let since = match body
        .and_then(|ApiJson(b)| b.since)
        .filter(|s| !s.is_empty())
    {
        None => None,
        Some(text) => Some(
            chrono::DateTime::parse_from_rfc3339(&text)
                .map_err(|_| {
                    Error::invalid("since is an RFC 3339 time, e.g. 2026-11-20T00:00:00Z")
                })?
                .timestamp_millis(),
        ),
    };
    let base = &app.config.watch.stripe_api_base;
    let lease = app.config.processing.lease;
    let summary = recovery::recover(
        &app.db,
        &app.config.keys,
        base,
        &access.tenant,
        since,
        lease,
    )
    .await
    .map_err(recover_error)?;
    let detail = json!({"listed": summary.listed, "recovered": summary.recovered, "since": since});
    audit::record(
        &app.db,
        &access.admin.actor(),
        Some(access.tenant.id),
        "recover",
        detail,
    )
    .await?;
    Ok(Json(summary))
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct Diagnosis {
    /// Errors first.
    findings: Vec<Finding>,
    #[schema(format = DateTime)]
    checked_at: String,
}

#[utoipa::path(get, path = "/api/v1/admin/tenants/{tenant}/diagnosis", operation_id = "diagnose_tenant", tag = "stripe", security(("bearer" = [])),
    params(("tenant" = String, Path, description = "the restaurant's slug")),
    responses((status = 200, description = "every finding, with evidence and fix", body = Diagnosis)))]
pub async fn diagnose(
    State(app): State<AppState>,
    access: TenantAccess,
) -> Result<Json<Diagnosis>> {
    let viewer = match access.admin.role {
        Role::PlatformAdmin => Viewer::Platform,
        Role::TenantAdmin => Viewer::Tenant,
    };
    let findings = diagnosis::diagnose(
        &app.db,
        &app.config,
        &app.stripe,
        &access.tenant,
        viewer,
        Asker::Person,
    )
    .await?;
    Ok(Json(Diagnosis {
        findings,
        checked_at: ms_to_rfc3339(now_ms()),
    }))
}
