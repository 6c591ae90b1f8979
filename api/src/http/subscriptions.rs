//! Subscriptions for the restaurant's backend (CONTRACT §12), with its API key.

use super::AppState;
use super::client_ip::ClientIp;
use super::error::{Error, ErrorBody, ErrorCode, Result};
use super::extract::ApiPath;
use crate::subscriptions::{SubscriptionView, store};
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};

#[utoipa::path(get, path = "/api/v1/tenants/{tenant}/subscriptions/{id}", operation_id = "get_subscription", tag = "subscriptions",
    params(("tenant" = String, Path, description = "the restaurant's slug"),
           ("id" = String, Path, description = "Stripe's subscription id (`sub_…`)", max_length = 255)),
    security(("api_key" = [])),
    responses(
        (status = 200, description = "the subscription as its newest event says (`canceled` is final)", body = SubscriptionView),
        (status = 401, description = "`invalid_api_key`: missing, revoked, or another tenant's key", body = ErrorBody),
        (status = 404, description = "`not_found`: no event about this subscription reached the gateway", body = ErrorBody),
        (status = 429, description = "over the API key's rate limit, or this address guessed too many keys; see Retry-After", body = ErrorBody)))]
pub async fn show(
    State(app): State<AppState>,
    ApiPath((tenant, id)): ApiPath<(String, String)>,
    Extension(client): Extension<ClientIp>,
    headers: HeaderMap,
) -> Result<Response> {
    let owner = match super::orders::key_owner(&app, &tenant, client, &headers).await? {
        Ok(owner) => owner,
        Err(refused) => return Ok(refused),
    };
    let row = store::find(&app.db, owner.tenant_id, &id)
        .await?
        .ok_or(Error::from(ErrorCode::NotFound))?;
    Ok(Json(SubscriptionView::from(&row)).into_response())
}
