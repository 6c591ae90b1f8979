//! Tenant API keys: created (shown once), listed by id and prefix, revoked.

use super::auth::TenantAccess;
use crate::clock::ms_to_rfc3339;
use crate::http::AppState;
use crate::http::error::{Error, ErrorBody, ErrorCode, Result, respond};
use crate::http::extract::ApiJson;
use crate::http::extract::ApiPath;
use crate::tenants::api_keys;
use crate::tenants::api_keys::Mode;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use crate::http::extract::Items;

/// A new key: shown this once.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ApiKeyCreated {
    id: i64,
    key: String,
    /// `live` or `test`: the mode of every order the key creates.
    mode: &'static str,
}

/// `{"mode": "live" | "test"}`; live when absent.
#[derive(Deserialize, Default, utoipa::ToSchema)]
pub struct NewApiKey {
    /// `live` (the default) or `test`.
    #[schema(value_type = Option<KeyMode>)]
    mode: Option<String>,
}

/// A key's mode: a test key's orders are paid only by test-mode events.
#[derive(utoipa::ToSchema)]
#[schema(rename_all = "snake_case")]
#[allow(dead_code)] // the document's name for the two values `NewApiKey.mode` takes
pub enum KeyMode {
    Live,
    Test,
}

/// A key as it is listed: never the key itself.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ApiKeyView {
    id: i64,
    /// The first characters of the key, to tell keys apart.
    prefix: String,
    /// `live` or `test`
    mode: &'static str,
    created_at: String,
    revoked_at: Option<String>,
}

#[utoipa::path(post, path = "/api/v1/admin/tenants/{tenant}/api-keys", operation_id = "create_api_key", tag = "api keys", security(("bearer" = [])), params(("tenant" = String, Path, description = "the restaurant's slug")),
    request_body(content = Option<NewApiKey>, description = "optional: the mode, live by default"), responses(
    (status = 201, description = "the key is shown this once and stored hashed", body = ApiKeyCreated),
    (status = 422, description = "mode is neither live nor test", body = ErrorBody)))]
pub async fn create(
    State(app): State<AppState>,
    access: TenantAccess,
    body: Option<ApiJson<NewApiKey>>,
) -> Result<Response> {
    let requested = body.map(|ApiJson(b)| b).unwrap_or_default();
    let mode = match requested.mode.as_deref() {
        None => Mode::Live,
        Some(m) => Mode::parse(m).ok_or_else(|| Error::invalid("mode is \"live\" or \"test\""))?,
    };
    let key = api_keys::create(&app.db, access.tenant.id, mode, &access.admin.actor()).await?;
    Ok(respond(
        StatusCode::CREATED,
        ApiKeyCreated {
            id: key.id,
            key: key.key,
            mode: key.mode.as_str(),
        },
    ))
}

#[utoipa::path(get, path = "/api/v1/admin/tenants/{tenant}/api-keys", operation_id = "list_api_keys", tag = "api keys", security(("bearer" = [])), params(("tenant" = String, Path, description = "the restaurant's slug")), responses(
    (status = 200, description = "every key of the tenant, newest first", body = Items<ApiKeyView>)))]
pub async fn list(
    State(app): State<AppState>,
    access: TenantAccess,
) -> Result<Json<Items<ApiKeyView>>> {
    let rows = api_keys::list(&app.db, access.tenant.id).await?;
    Ok(Json(Items {
        items: rows
            .into_iter()
            .map(|k| ApiKeyView {
                id: k.id,
                prefix: k.prefix,
                mode: Mode::from_livemode(k.livemode).as_str(),
                created_at: ms_to_rfc3339(k.created_at),
                revoked_at: k.revoked_at.map(ms_to_rfc3339),
            })
            .collect(),
    }))
}

#[utoipa::path(delete, path = "/api/v1/admin/tenants/{tenant}/api-keys/{id}", operation_id = "revoke_api_key", tag = "api keys", security(("bearer" = [])), params(("tenant" = String, Path, description = "the restaurant's slug"), ("id" = i64, Path)), responses(
    (status = 204, description = "revoked"), (status = 404, description = "no such live key", body = ErrorBody)))]
pub async fn revoke(
    State(app): State<AppState>,
    access: TenantAccess,
    ApiPath((_, id)): ApiPath<(String, i64)>,
) -> Result<Response> {
    if !api_keys::revoke(&app.db, access.tenant.id, id, &access.admin.actor()).await? {
        return Err(ErrorCode::ApiKeyNotFound.into());
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}
