//! A restaurant's subscriptions, for its admins (CONTRACT §12).

use super::auth::TenantAccess;
use crate::http::AppState;
use crate::http::error::{Error, ErrorBody, Result};
use crate::http::extract::{ApiQuery, Page, Paging};
use crate::subscriptions::{SubscriptionView, store};
use axum::Json;
use axum::extract::State;
use serde::Deserialize;

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StatusFilter {
    /// Only subscriptions of this status (`active`, `past_due`, `canceled`, …); empty
    /// for every status.
    #[param(max_length = 32, pattern = "^[a-z_]{0,32}$")]
    status: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/admin/tenants/{tenant}/subscriptions", operation_id = "list_subscriptions", tag = "subscriptions", security(("bearer" = [])),
    params(("tenant" = String, Path, description = "the restaurant's slug"), StatusFilter, crate::http::extract::StripeIdPageParams),
    responses((status = 200, description = "by subscription id", body = Page<SubscriptionView>),
              (status = 400, description = "a bad status or cursor", body = ErrorBody)))]
pub async fn list(
    State(app): State<AppState>,
    access: TenantAccess,
    ApiQuery(filter): ApiQuery<StatusFilter>,
    paging: Paging,
) -> Result<Json<Page<SubscriptionView>>> {
    let status = filter.status.filter(|s| !s.is_empty());
    if status
        .as_deref()
        .is_some_and(|s| s.len() > 32 || !s.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'))
    {
        return Err(Error::with_message(
            crate::http::error::ErrorCode::InvalidFilter,
            "status is a Stripe subscription status, e.g. active or past_due",
        ));
    }
    let after = paging.cursor.as_deref().filter(|c| !c.is_empty());
    if after.is_some_and(|c| {
        c.len() > 255 || !c.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
    }) {
        return Err(crate::http::extract::bad_cursor());
    }
    let rows = store::list(
        &app.db,
        access.tenant.id,
        status.as_deref(),
        after,
        paging.limit + 1,
    )
    .await?;
    Ok(Json(paging.page(
        rows,
        |r| r.id.clone(),
        |r| SubscriptionView::from(&r),
    )))
}
