//! A tenant's notification endpoints (CONTRACT §8): add (the secret shown once), list,
//! remove; each one's delivery log, and "send again".

use super::auth::TenantAccess;
use crate::clock::ms_to_rfc3339;
use crate::http::AppState;
use crate::http::error::{Error, ErrorBody, ErrorCode, Result, respond};
use crate::http::extract::{ApiJson, ApiPath, Items};
use crate::notify::patterns::Patterns;
use crate::notify::{AddErrorKind, deliver, endpoints};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

#[derive(Deserialize, utoipa::ToSchema)]
pub struct NewEndpoint {
    /// Where to POST notifications: a public http(s) URL (its host must resolve to
    /// public addresses when it is saved).
    #[schema(
        format = "uri",
        pattern = "^[hH][tT][tT][pP][sS]?://",
        max_length = 2048
    )]
    url: String,
    /// What to send it: event types, exact (`invoice.paid`) or a prefix ending in `*`
    /// (`customer.subscription.*`). `order.*` and `subscription.*` are the gateway's own
    /// notifications; any Stripe event type is forwarded as received. Without it,
    /// `["order.*"]`.
    #[schema(max_items = 50, min_items = 1)]
    event_types: Option<Vec<String>>,
}

/// A new endpoint: its secret is shown this once.
#[derive(Serialize, utoipa::ToSchema)]
pub struct EndpointCreated {
    id: i64,
    url: String,
    event_types: Vec<String>,
    /// `whsec_…` (base64): verify notifications with it (any Standard Webhooks library).
    secret: String,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct EndpointView {
    id: i64,
    url: String,
    event_types: Vec<String>,
    /// Paused: notifications wait in the outbox until it is resumed.
    paused: bool,
    #[schema(format = DateTime)]
    created_at: String,
}

impl From<entity::notification_endpoint::Model> for EndpointView {
    fn from(e: entity::notification_endpoint::Model) -> Self {
        Self {
            event_types: Patterns::from_stored(&e.event_types).list().to_vec(),
            id: e.id,
            url: e.url,
            paused: e.paused,
            created_at: ms_to_rfc3339(e.created_at),
        }
    }
}

#[utoipa::path(post, path = "/api/v1/admin/tenants/{tenant}/notification-endpoints", operation_id = "add_notification_endpoint", tag = "notifications", security(("bearer" = [])),
    params(("tenant" = String, Path, description = "the restaurant's slug")), request_body = NewEndpoint,
    responses((status = 201, description = "added; the secret is shown this once", body = EndpointCreated),
              (status = 422, description = "`invalid_notification_url`: not http(s), or it reaches inside the platform; `invalid_value`: `event_types` is not a list of event types", body = ErrorBody)))]
pub async fn add(
    State(app): State<AppState>,
    access: TenantAccess,
    ApiJson(body): ApiJson<NewEndpoint>,
) -> Result<Response> {
    let allow = app.config.notifications.allow_private;
    let actor = access.admin.actor();
    let patterns = match &body.event_types {
        None => Patterns::default(),
        Some(list) => Patterns::parse(list).map_err(Error::invalid)?,
    };
    let added = endpoints::add(
        &app.db,
        &app.config.keys,
        access.tenant.id,
        &body.url,
        &patterns,
        allow,
        &actor,
    )
    .await
    .map_err(|e| match e.kind() {
        AddErrorKind::Url(why) => Error::with_message(ErrorCode::InvalidNotificationUrl, why),
        AddErrorKind::Db(e) => Error::Storage(e),
    })?;
    Ok(respond(
        StatusCode::CREATED,
        EndpointCreated {
            id: added.endpoint.id,
            url: added.endpoint.url.clone(),
            event_types: patterns.list().to_vec(),
            secret: added.secret.to_string(),
        },
    ))
}

#[utoipa::path(get, path = "/api/v1/admin/tenants/{tenant}/notification-endpoints", operation_id = "list_notification_endpoints", tag = "notifications", security(("bearer" = [])),
    params(("tenant" = String, Path, description = "the restaurant's slug")),
    responses((status = 200, description = "the tenant's endpoints; never their secrets", body = Items<EndpointView>)))]
pub async fn list(
    State(app): State<AppState>,
    access: TenantAccess,
) -> Result<Json<Items<EndpointView>>> {
    let rows = endpoints::list(&app.db, access.tenant.id).await?;
    Ok(Json(Items {
        items: rows.into_iter().map(EndpointView::from).collect(),
    }))
}

#[utoipa::path(delete, path = "/api/v1/admin/tenants/{tenant}/notification-endpoints/{id}", operation_id = "remove_notification_endpoint", tag = "notifications", security(("bearer" = [])),
    params(("tenant" = String, Path, description = "the restaurant's slug"), ("id" = i64, Path)),
    responses((status = 204, description = "removed"), (status = 404, description = "no such endpoint", body = ErrorBody)))]
pub async fn remove(
    State(app): State<AppState>,
    access: TenantAccess,
    ApiPath((_, id)): ApiPath<(String, i64)>,
) -> Result<Response> {
    if !endpoints::remove(&app.db, access.tenant.id, id, &access.admin.actor()).await? {
        return Err(ErrorCode::NotificationEndpointNotFound.into());
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct AttemptView {
    #[schema(format = DateTime)]
    at: String,
    /// The receiver's HTTP status; none when it could not be reached.
    response_status: Option<i32>,
    error: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct DeliveryView {
    id: i64,
    /// The `webhook-id` header: the same on every attempt.
    webhook_id: String,
    #[serde(rename = "type")]
    event_type: String,
    /// `PENDING`, `DELIVERED` or `FAILED`
    status: String,
    #[schema(format = DateTime)]
    created_at: String,
    #[schema(format = DateTime)]
    delivered_at: Option<String>,
    #[schema(format = DateTime)]
    next_attempt_at: Option<String>,
    attempts: Vec<AttemptView>,
}

async fn endpoint_of(app: &AppState, tenant_id: i64, id: i64) -> Result<()> {
    endpoints::find(&app.db, tenant_id, id)
        .await?
        .map(|_| ())
        .ok_or(ErrorCode::NotificationEndpointNotFound.into())
}

#[utoipa::path(get, path = "/api/v1/admin/tenants/{tenant}/notification-endpoints/{id}/deliveries", operation_id = "list_notification_deliveries", tag = "notifications", security(("bearer" = [])),
    params(("tenant" = String, Path, description = "the restaurant's slug"), ("id" = i64, Path)),
    responses((status = 200, description = "the endpoint's notifications, newest first, each with every attempt", body = Items<DeliveryView>),
              (status = 404, description = "no such endpoint", body = ErrorBody)))]
pub async fn deliveries(
    State(app): State<AppState>,
    access: TenantAccess,
    ApiPath((_, id)): ApiPath<(String, i64)>,
) -> Result<Json<Items<DeliveryView>>> {
    endpoint_of(&app, access.tenant.id, id).await?;
    let rows = deliver::log(&app.db, access.tenant.id, id, 100).await?;
    Ok(Json(Items {
        items: rows
            .into_iter()
            .map(|(n, attempts)| DeliveryView {
                id: n.id,
                webhook_id: n.message_id,
                event_type: n.event_type,
                status: n.status,
                created_at: ms_to_rfc3339(n.created_at),
                delivered_at: n.delivered_at.map(ms_to_rfc3339),
                next_attempt_at: n.next_attempt_at.map(ms_to_rfc3339),
                attempts: attempts
                    .into_iter()
                    .map(|a| AttemptView {
                        at: ms_to_rfc3339(a.at),
                        response_status: a.response_status,
                        error: a.error,
                    })
                    .collect(),
            })
            .collect(),
    }))
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct SentAgain {
    id: i64,
    /// `PENDING`: it goes out within a second.
    status: &'static str,
}

#[utoipa::path(post, path = "/api/v1/admin/tenants/{tenant}/notification-endpoints/{id}/deliveries/{delivery}/send-again", operation_id = "send_notification_again", tag = "notifications", security(("bearer" = [])),
    params(("tenant" = String, Path, description = "the restaurant's slug"), ("id" = i64, Path), ("delivery" = i64, Path)),
    responses((status = 200, description = "queued again, with the same webhook-id", body = SentAgain),
              (status = 404, description = "no such notification", body = ErrorBody)))]
pub async fn send_again(
    State(app): State<AppState>,
    access: TenantAccess,
    ApiPath((_, id, delivery)): ApiPath<(String, i64, i64)>,
) -> Result<Json<SentAgain>> {
    endpoint_of(&app, access.tenant.id, id).await?;
    if !deliver::send_again(&app.db, access.tenant.id, delivery).await? {
        return Err(ErrorCode::NotFound.into());
    }
    crate::tenants::audit::record(
        &app.db,
        &access.admin.actor(),
        Some(access.tenant.id),
        "notification.send_again",
        serde_json::json!({"id": delivery}),
    )
    .await?;
    app.changes.notifications();
    Ok(Json(SentAgain {
        id: delivery,
        status: "PENDING",
    }))
}

async fn pause_or_resume(
    app: &AppState,
    access: &TenantAccess,
    id: i64,
    paused: bool,
) -> Result<Json<EndpointView>> {
    let row = endpoints::set_paused(&app.db, access.tenant.id, id, paused, &access.admin.actor())
        .await?
        .ok_or(Error::from(ErrorCode::NotificationEndpointNotFound))?;
    app.changes.notifications();
    Ok(Json(EndpointView::from(row)))
}

#[utoipa::path(post, path = "/api/v1/admin/tenants/{tenant}/notification-endpoints/{id}/pause", operation_id = "pause_notification_endpoint", tag = "notifications", security(("bearer" = [])),
    params(("tenant" = String, Path, description = "the restaurant's slug"), ("id" = i64, Path)),
    responses((status = 200, description = "paused: its notifications wait in the outbox (a deploy of the backend, say)", body = EndpointView),
              (status = 404, description = "no such endpoint", body = ErrorBody)))]
pub async fn pause(
    State(app): State<AppState>,
    access: TenantAccess,
    ApiPath((_, id)): ApiPath<(String, i64)>,
) -> Result<Json<EndpointView>> {
    pause_or_resume(&app, &access, id, true).await
}

#[utoipa::path(post, path = "/api/v1/admin/tenants/{tenant}/notification-endpoints/{id}/resume", operation_id = "resume_notification_endpoint", tag = "notifications", security(("bearer" = [])),
    params(("tenant" = String, Path, description = "the restaurant's slug"), ("id" = i64, Path)),
    responses((status = 200, description = "resumed: what waited goes out in order, oldest first, each after the one before it was delivered", body = EndpointView),
              (status = 404, description = "no such endpoint", body = ErrorBody)))]
pub async fn resume(
    State(app): State<AppState>,
    access: TenantAccess,
    ApiPath((_, id)): ApiPath<(String, i64)>,
) -> Result<Json<EndpointView>> {
    pause_or_resume(&app, &access, id, false).await
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct Resend {
    /// Everything made since this time (RFC 3339) is sent again, delivered or not.
    #[schema(format = DateTime)]
    since: String,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct Resent {
    /// How many notifications go out again (in order, each with its `webhook-id`).
    resent: u64,
}

#[utoipa::path(post, path = "/api/v1/admin/tenants/{tenant}/notification-endpoints/{id}/resend", operation_id = "resend_notifications", tag = "notifications", security(("bearer" = [])),
    params(("tenant" = String, Path, description = "the restaurant's slug"), ("id" = i64, Path)), request_body = Resend,
    responses((status = 200, description = "queued again, in order, with their webhook-ids", body = Resent),
              (status = 404, description = "no such endpoint", body = ErrorBody),
              (status = 422, description = "`invalid_value`: `since` is not an RFC 3339 time", body = ErrorBody)))]
pub async fn resend(
    State(app): State<AppState>,
    access: TenantAccess,
    ApiPath((_, id)): ApiPath<(String, i64)>,
    ApiJson(body): ApiJson<Resend>,
) -> Result<Json<Resent>> {
    let since = chrono::DateTime::parse_from_rfc3339(body.since.trim())
        .map_err(|_| Error::invalid("since is an RFC 3339 time, e.g. 2026-11-20T00:00:00Z"))?
        .timestamp_millis();
    let resent = endpoints::resend(&app.db, access.tenant.id, id, since, &access.admin.actor())
        .await?
        .ok_or(Error::from(ErrorCode::NotificationEndpointNotFound))?;
    app.changes.notifications();
    Ok(Json(Resent { resent }))
}
