//! Order creation (restaurant backends, API key) and status polling (widgets, public).

use super::AppState;
use super::client_ip::ClientIp;
use super::error::{Error, ErrorBody, ErrorCode, Result, respond};
use super::extract::{ApiJson, ApiPath, ApiQuery, bearer};
use crate::clock::{ms_to_rfc3339, now_ms};
use crate::orders::store;
use crate::orders::watch::CachedStatus;
use crate::tenants::{self, TenantSlug, api_keys};
use axum::Extension;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use entity::order;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::time::{Duration, Instant};

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateOrder {
    /// In the currency's smallest unit (cents): 1 to 99,999,999, as Stripe allows.
    #[schema(minimum = 1, maximum = 99_999_999)]
    #[serde(deserialize_with = "crate::http::extract::whole_number")]
    pub amount: i64,
    /// A three-letter ISO code, e.g. `eur` (any case).
    #[schema(pattern = "^[A-Za-z]{3}$")]
    pub currency: String,
    /// Your own reference (a table, a ticket): at most 200 characters, no control
    /// characters.
    #[serde(default)]
    #[schema(max_length = 200, pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*$")]
    pub reference: Option<String>,
}

/// Stripe's largest amount is eight digits in the smallest currency unit.
const MAX_AMOUNT: i64 = 99_999_999;

/// A new order.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct OrderCreated {
    pub order_id: String,
    #[schema(value_type = crate::orders::lifecycle::OrderStatus)]
    pub status: String,
    /// Where a widget polls the status (public).
    pub status_url: String,
    /// Live or test, from the API key that created it.
    pub livemode: bool,
}

/// What a widget may know of an order.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct OrderStatusView {
    pub order_id: String,
    #[schema(value_type = crate::orders::lifecycle::OrderStatus)]
    pub status: String,
    pub amount: i64,
    pub currency: String,
    pub livemode: bool,
    #[schema(format = DateTime)]
    pub updated_at: String,
}

/// The owner of the request's API key, when it is a key of `tenant`: what the
/// restaurant's backend calls with. An address that guessed too many keys is refused
/// before any lookup (`Ok(Err(answer))`, as is a key over its own rate limit,
/// `RATE_LIMIT_ORDERS_*`); a key of another tenant is as good as no key.
pub(super) async fn key_owner(
    app: &AppState,
    tenant: &str,
    client: ClientIp,
    headers: &HeaderMap,
) -> Result<std::result::Result<api_keys::KeyOwner, Response>> {
    let client = client.limit_key();
    if let Some(refusal) = app.key_guesses.refusal(client) {
        return Ok(Err(refusal));
    }
    let key = bearer(headers);
    let owner = match key {
        Some(key) => api_keys::authenticate(&app.db, key).await?,
        None => None,
    };
    let tenant = match TenantSlug::parse(tenant) {
        Ok(slug) => tenants::find_by_slug(&app.db, &slug).await?,
        Err(_) => None,
    };
    let Some(owner) = owner.filter(|o| tenant.as_ref().is_some_and(|t| t.id == o.tenant_id)) else {
        app.key_guesses.failed(client);
        return Err(Error::from(ErrorCode::InvalidApiKey));
    };
    let key_hash: [u8; 32] = Sha256::digest(key.unwrap_or_default().as_bytes()).into();
    if let Err(not_until) = app.orders_limiter.check_key(&key_hash) {
        return Ok(Err(super::ratelimit::refused(not_until)));
    }
    Ok(Ok(owner))
}

#[utoipa::path(post, path = "/api/v1/tenants/{tenant}/orders", operation_id = "create_order", tag = "orders",
    params(("tenant" = String, Path, description = "the restaurant's slug")), request_body = CreateOrder, security(("api_key" = [])),
    responses(
        (status = 201, description = "created", body = OrderCreated),
        (status = 401, description = "`invalid_api_key`: missing, revoked, or another tenant's key", body = ErrorBody),
        (status = 422, description = "invalid amount, currency or reference", body = ErrorBody),
        (status = 429, description = "over the API key's rate limit, or this address guessed too many keys; see Retry-After", body = ErrorBody)))]
pub async fn create(
    State(app): State<AppState>,
    ApiPath(tenant): ApiPath<String>,
    Extension(client): Extension<ClientIp>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<CreateOrder>,
) -> Result<Response> {
    let owner = match key_owner(&app, &tenant, client, &headers).await? {
        Ok(owner) => owner,
        Err(refused) => return Ok(refused),
    };
    let tenant_id = owner.tenant_id;
    if body.amount <= 0 || body.amount > MAX_AMOUNT {
        return Err(Error::invalid(format!(
            "amount must be a whole number of the currency's smallest unit, from 1 to {MAX_AMOUNT}"
        )));
    }
    let currency = body.currency.to_ascii_lowercase();
    if currency.len() != 3 || !currency.bytes().all(|b| b.is_ascii_lowercase()) {
        return Err(Error::invalid(
            "currency must be a three-letter ISO code, e.g. \"eur\"",
        ));
    }
    let reference = body
        .reference
        .map(|r| r.trim().to_string())
        .filter(|r| !r.is_empty());
    if reference
        .as_ref()
        .is_some_and(|r| r.chars().count() > 200 || crate::untrusted::has_control(r))
    {
        return Err(Error::invalid(
            "reference must be at most 200 characters, without control characters",
        ));
    }
    let order = store::create(
        &app.db,
        tenant_id,
        body.amount,
        &currency,
        reference,
        owner.mode.livemode(),
        now_ms(),
    )
    .await?;
    Ok(respond(
        StatusCode::CREATED,
        OrderCreated {
            status_url: format!("/api/v1/orders/{}/status", order.id),
            order_id: order.id,
            status: order.status,
            livemode: order.livemode,
        },
    ))
}

fn etag_of(order: &order::Model) -> String {
    let digest = Sha256::digest(format!(
        "{}|{}|{}|{}",
        order.id, order.status, order.updated_at, order.amount
    ));
    format!("\"{}\"", hex::encode(&digest[..12]))
}

fn matches_etag(headers: &HeaderMap, etag: &str) -> bool {
    let Some(value) = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    value
        .split(',')
        .map(|t| t.trim().trim_start_matches("W/"))
        .any(|t| t == etag || t == "*")
}

/// `?wait=N`: hold the request until the status changes or N seconds pass.
#[derive(Debug, Deserialize, Default)]
pub struct Wait {
    wait: Option<u64>,
}

/// The longest a widget may wait in one request.
const MAX_WAIT_SECS: u64 = 60;

fn answer(status: &CachedStatus, unchanged: bool) -> Response {
    let mut response = if unchanged {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        let body = axum::body::Body::from(status.body.as_bytes().to_vec());
        let mut response = (StatusCode::OK, body).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        response
    };
    let headers = response.headers_mut();
    headers.insert(
        header::ETAG,
        HeaderValue::from_str(&status.etag).expect("hex is a valid header"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

/// The answer for an order as it is now: from memory while it has not changed (see
/// `StatusCache`), else read (public: the unguessable order id is the capability).
async fn current_status(app: &AppState, order_id: &str) -> Result<CachedStatus> {
    let cache = &app.changes.watchers.statuses;
    if let Some(known) = cache.get(order_id) {
        app.metrics.status_read(true);
        return Ok(known);
    }
    app.metrics.status_read(false);
    let generation = cache.generation(order_id);
    let order = tokio::time::timeout(
        app.config.storage_timeout,
        store::find_public(&app.db, order_id),
    )
    .await
    .map_err(|_| Error::Unavailable("storage did not answer in time".into()))??
    .ok_or(Error::from(ErrorCode::OrderNotFound))?;
    let etag = etag_of(&order);
    let view = OrderStatusView {
        updated_at: ms_to_rfc3339(order.updated_at),
        order_id: order.id,
        status: order.status,
        amount: order.amount,
        currency: order.currency,
        livemode: order.livemode,
    };
    let body = serde_json::to_string(&view)
        .map_err(|e| Error::Unavailable(format!("status as JSON: {e}")))?;
    let known = CachedStatus {
        body: body.into(),
        etag: etag.into(),
    };
    cache.put(order_id, generation, known.clone());
    Ok(known)
}

#[utoipa::path(get, path = "/api/v1/orders/{order_id}/status", operation_id = "order_status", tag = "orders",
    params(("order_id" = String, Path, description = "the unguessable order id"), ("If-None-Match" = Option<String>, Header, description = "the ETag of a previous answer"),
           ("wait" = Option<u64>, Query, description = "with If-None-Match: hold the request up to this many seconds (at most 60) until the status changes")),
    responses(
        (status = 200, description = "the order's status, with an ETag (public, CORS)", body = OrderStatusView),
        (status = 304, description = "unchanged since If-None-Match (after waiting, with ?wait)"),
        (status = 404, description = "no such order", body = ErrorBody)))]
pub async fn status(
    State(app): State<AppState>,
    ApiPath(order_id): ApiPath<String>,
    ApiQuery(wait): ApiQuery<Wait>,
    headers: HeaderMap,
) -> Result<Response> {
    if !crate::orders::store::is_order_id(&order_id) {
        return Err(Error::from(ErrorCode::OrderNotFound));
    }
    let wait = Duration::from_secs(wait.wait.unwrap_or(0).min(MAX_WAIT_SECS));
    let deadline = Instant::now() + wait;
    // Registered before the first read, so that a change between the read and the
    // wait still wakes this request.
    let notify = (!wait.is_zero()).then(|| app.changes.watchers.watch(&order_id));
    loop {
        let woken = notify.as_ref().map(|n| n.notified());
        tokio::pin!(woken);
        if let Some(w) = woken.as_mut().as_pin_mut() {
            w.enable();
        }
        let current = current_status(&app, &order_id).await?;
        let unchanged = matches_etag(&headers, &current.etag);
        let Some(woken) = woken.as_mut().as_pin_mut() else {
            return Ok(answer(&current, unchanged));
        };
        if !unchanged {
            return Ok(answer(&current, false));
        }
        tokio::select! {
            _ = woken => continue,
            _ = tokio::time::sleep_until(deadline.into()) => return Ok(answer(&current, true)),
            // Shutting down: unchanged so far; the widget asks again (another replica).
            _ = app.changes.watchers.closed() => return Ok(answer(&current, true)),
        }
    }
}
