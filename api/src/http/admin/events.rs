//! The webhook event log of a tenant: newest first with keyset pagination, filters by
//! status and type, one event with its payload, and retries of FAILED events.

use super::auth::{Admin, TenantAccess};
use super::health::NotRecorded;
use crate::clock::{ms_to_rfc3339, now_ms};
use crate::http::AppState;
use crate::http::error::{Error, ErrorBody, ErrorCode, Result};
use crate::http::extract::{ApiPath, ApiQuery, Page, Paging};
use crate::stripe::event;
use crate::tenants::audit;
use crate::webhooks::log::{self, EventStatus, Filter};
use crate::webhooks::processor::Work;
use crate::webhooks::rejected;
use axum::Json;
use axum::extract::State;
use entity::webhook_event;
use sea_orm::ConnectionTrait;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

#[derive(Deserialize, Default)]
pub struct FilterParams {
    status: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
}

impl FilterParams {
    fn parse(self) -> Result<Filter> {
        let status = match self.status.as_deref() {
            None => None,
            Some(s) => Some(EventStatus::parse(s).ok_or_else(|| {
                let all: Vec<&str> = EventStatus::ALL.iter().map(|s| s.as_str()).collect();
                Error::with_message(
                    ErrorCode::InvalidFilter,
                    format!("status is one of {}", all.join(", ")),
                )
            })?),
        };
        Ok(Filter {
            status,
            event_type: match self.kind.filter(|t| !t.is_empty()) {
                Some(t) if crate::untrusted::has_control(&t) || t.chars().count() > 200 => {
                    return Err(Error::with_message(
                        ErrorCode::InvalidFilter,
                        "type is a Stripe event type, e.g. checkout.session.completed",
                    ));
                }
                kind => kind,
            },
        })
    }
}

/// One delivery in the log.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct EventItem {
    id: i64,
    stripe_event_id: Option<String>,
    #[serde(rename = "type")]
    event_type: Option<String>,
    /// PROCESSING, COMPLETED, FAILED, VERIFICATION_FAILED or NO_CONFIG
    #[schema(value_type = crate::webhooks::EventStatus)]
    status: String,
    /// What applying did: applied, unchanged, unmatched or ignored.
    outcome: Option<String>,
    /// Why it failed, in words.
    error: Option<String>,
    attempts: i32,
    order_id: Option<String>,
    #[schema(format = DateTime)]
    received_at: String,
    #[schema(format = DateTime)]
    processed_at: Option<String>,
    /// `webhook` (delivered by Stripe to the restaurant's URL), `connect` (delivered to
    /// the platform's Connect endpoint and routed by its account) or `recovered`
    /// (fetched from Stripe's API).
    source: String,
}

fn item(row: webhook_event::Model) -> EventItem {
    EventItem {
        id: row.id,
        stripe_event_id: row.stripe_event_id,
        event_type: row.event_type,
        status: row.status,
        outcome: row.outcome,
        error: row.error,
        attempts: row.attempts,
        order_id: row.order_id,
        received_at: ms_to_rfc3339(row.received_at),
        processed_at: row.processed_at.map(ms_to_rfc3339),
        source: row.source,
    }
}

/// `GET …/webhook-events?status=&type=&limit=&cursor=`
#[utoipa::path(get, path = "/api/v1/admin/tenants/{tenant}/webhook-events", operation_id = "list_webhook_events", tag = "webhook events", security(("bearer" = [])),
    params(("tenant" = String, Path, description = "the restaurant's slug"), ("status" = Option<crate::webhooks::EventStatus>, Query), ("type" = Option<String>, Query, pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]{0,200}$", description = "a Stripe event type, e.g. checkout.session.completed"), crate::http::extract::PageParams),
    responses((status = 200, description = "newest first", body = EventPage),
              (status = 400, description = "unknown status or bad cursor", body = ErrorBody)))]
pub async fn list(
    State(app): State<AppState>,
    access: TenantAccess,
    ApiQuery(filter): ApiQuery<FilterParams>,
    paging: Paging,
) -> Result<Json<EventPage>> {
    let filter = filter.parse()?;
    let rows = log::list(
        &app.db,
        access.tenant.id,
        &filter,
        paging.cursor_id()?,
        paging.limit,
    )
    .await?;
    let since = now_ms() - 24 * 3600 * 1000;
    let counted = rejected::counted_since(&app.db, Some(access.tenant.id), since).await?;
    Ok(Json(EventPage {
        page: paging.page(rows, |r| r.id.to_string(), item),
        not_recorded: NotRecorded::from_counts(&counted),
    }))
}

/// A page of the log, and what it does not hold.
#[derive(Serialize, utoipa::ToSchema)]
pub struct EventPage {
    #[serde(flatten)]
    page: Page<EventItem>,
    /// Rejected deliveries of the last 24 hours counted but not stored (over 100 a minute).
    not_recorded: NotRecorded,
}

/// One delivery with its payload.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct EventDetail {
    #[serde(flatten)]
    item: EventItem,
    /// The verified body (JSON when it parses, else its text); `null` for deliveries
    /// that were not verified (their body is not kept).
    #[schema(value_type = Option<Value>)]
    payload: Value,
}

async fn one(app: &AppState, tenant_id: i64, id: i64) -> Result<webhook_event::Model> {
    log::find(&app.db, tenant_id, id)
        .await?
        .ok_or(ErrorCode::WebhookEventNotFound.into())
}

/// `GET …/webhook-events/{id}`: with its payload (JSON when it parses).
#[utoipa::path(get, path = "/api/v1/admin/tenants/{tenant}/webhook-events/{id}", operation_id = "show_webhook_event", tag = "webhook events", security(("bearer" = [])),
    params(("tenant" = String, Path, description = "the restaurant's slug"), ("id" = i64, Path)),
    responses((status = 200, description = "one event with its payload", body = EventDetail), (status = 404, description = "no such event", body = ErrorBody)))]
pub async fn show(
    State(app): State<AppState>,
    access: TenantAccess,
    ApiPath((_, id)): ApiPath<(String, i64)>,
) -> Result<Json<EventDetail>> {
    let mut row = one(&app, access.tenant.id, id).await?;
    let payload = match row.payload.take() {
        Some(text) => serde_json::from_str(&text).unwrap_or(Value::String(text)),
        None => Value::Null,
    };
    Ok(Json(EventDetail {
        item: item(row),
        payload,
    }))
}

/// Puts a FAILED event back to PROCESSING with a fresh set of attempts; the work to
/// queue once the transaction commits. None when its stored body is not an event, or
/// it was not FAILED.
async fn requeue<C: ConnectionTrait>(
    app: &AppState,
    txn: &C,
    row: &webhook_event::Model,
) -> Result<Option<Work>> {
    let (Some(Ok(facts)), Some(tenant_id)) = (
        row.payload.as_deref().map(|p| event::parse(p.as_bytes())),
        row.tenant_id,
    ) else {
        return Ok(None);
    };
    let claimed = log::requeue_failed(txn, row.id, app.config.processing.lease).await?;
    Ok(claimed.then_some(Work {
        event_row_id: row.id,
        tenant_id,
        attempts: 0,
        facts,
    }))
}

/// An event sent back to processing.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Retried {
    id: i64,
    /// `PROCESSING`
    status: &'static str,
}

/// `POST …/webhook-events/{id}/retry`: process a FAILED event again.
#[utoipa::path(post, path = "/api/v1/admin/tenants/{tenant}/webhook-events/{id}/retry", operation_id = "retry_webhook_event", tag = "webhook events", security(("bearer" = [])),
    params(("tenant" = String, Path, description = "the restaurant's slug"), ("id" = i64, Path)), responses((status = 200, description = "back to PROCESSING with fresh attempts", body = Retried),
    (status = 409, description = "`not_failed`", body = ErrorBody), (status = 422, description = "the stored body is not a Stripe event", body = ErrorBody)))]
pub async fn retry(
    State(app): State<AppState>,
    access: TenantAccess,
    ApiPath((_, id)): ApiPath<(String, i64)>,
) -> Result<Json<Retried>> {
    let row = one(&app, access.tenant.id, id).await?;
    if EventStatus::parse(&row.status) != Some(EventStatus::Failed) {
        return Err(ErrorCode::NotFailed.into());
    }
    let txn = crate::db::begin_write(&app.db).await?;
    let Some(work) = requeue(&app, &*txn, &row).await? else {
        return Err(Error::with_message(
            ErrorCode::NotRetryable,
            "the stored body is not a Stripe event; only Stripe can send it again",
        ));
    };
    let actor = access.admin.actor();
    audit::record(
        &*txn,
        &actor,
        Some(access.tenant.id),
        "webhook_event.retry",
        json!({"id": id}),
    )
    .await?;
    txn.commit().await?;
    // If the queue is full, the sweep takes it when its lease runs out.
    app.queue.offer(work);
    Ok(Json(Retried {
        id,
        status: EventStatus::Processing.as_str(),
    }))
}

/// What a bulk retry did.
#[derive(Serialize, utoipa::ToSchema)]
pub struct RetriedAll {
    retried: u32,
    /// FAILED events whose stored body is not an event.
    skipped: u32,
}

#[derive(Deserialize)]
pub struct TypeParam {
    #[serde(rename = "type")]
    kind: Option<String>,
}

/// `POST …/webhook-events/retry?type=`: every FAILED event matching the filter (at most 1000).
#[utoipa::path(post, path = "/api/v1/admin/tenants/{tenant}/webhook-events/retry", operation_id = "retry_failed_webhook_events", tag = "webhook events", security(("bearer" = [])),
    params(("tenant" = String, Path, description = "the restaurant's slug"), ("type" = Option<String>, Query, pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]{0,200}$", description = "only events of this Stripe type")),
    responses((status = 200, description = "every FAILED event matching (at most 1000)", body = RetriedAll)))]
pub async fn retry_all(
    State(app): State<AppState>,
    access: TenantAccess,
    ApiQuery(params): ApiQuery<TypeParam>,
) -> Result<Json<RetriedAll>> {
    let kind = params.kind.filter(|t| !t.is_empty());
    if kind
        .as_deref()
        .is_some_and(|t| crate::untrusted::has_control(t) || t.chars().count() > 200)
    {
        return Err(Error::with_message(
            ErrorCode::InvalidFilter,
            "type is a Stripe event type, e.g. checkout.session.completed",
        ));
    }
    let rows = log::failed(&app.db, access.tenant.id, kind.clone(), 1000).await?;
    let txn = crate::db::begin_write(&app.db).await?;
    let mut queued = Vec::new();
    for row in &rows {
        queued.extend(requeue(&app, &*txn, row).await?);
    }
    let retried = queued.len() as u32;
    let skipped = rows.len() as u32 - retried;
    let detail = json!({"type": kind, "retried": retried, "skipped": skipped});
    let actor = access.admin.actor();
    audit::record(
        &*txn,
        &actor,
        Some(access.tenant.id),
        "webhook_event.retry_all",
        detail,
    )
    .await?;
    txn.commit().await?;
    for work in queued {
        app.queue.offer(work);
    }
    Ok(Json(RetriedAll { retried, skipped }))
}

/// A delivery to a slug that matches no restaurant.
#[derive(Serialize, utoipa::ToSchema)]
pub struct UnroutedItem {
    id: i64,
    /// The slug in the URL Stripe called.
    tenant_slug: String,
    stripe_event_id: Option<String>,
    #[serde(rename = "type")]
    event_type: Option<String>,
    #[schema(value_type = crate::webhooks::EventStatus)]
    status: String,
    error: Option<String>,
    /// For a verified event of the Connect endpoint: the connected account it names,
    /// which no restaurant is linked to.
    account_id: Option<String>,
    #[schema(format = DateTime)]
    received_at: String,
}

/// The `account` a stored (verified) body names.
fn account_of(payload: Option<&str>) -> Option<String> {
    #[derive(Deserialize)]
    struct Named {
        account: Option<String>,
    }
    serde_json::from_str::<Named>(payload?).ok()?.account
}

/// `GET /api/v1/admin/unrouted-deliveries`: deliveries to slugs that match no tenant,
/// newest first (platform admins). A mistyped endpoint URL in Stripe shows up here.
#[utoipa::path(get, path = "/api/v1/admin/unrouted-deliveries", operation_id = "unrouted_deliveries", tag = "webhook events", security(("bearer" = [])),
    params(crate::http::extract::PageParams),
    responses((status = 200, description = "newest first", body = Page<UnroutedItem>),
              (status = 403, description = "platform admins only", body = ErrorBody)))]
pub async fn unrouted(
    State(app): State<AppState>,
    admin: Admin,
    paging: Paging,
) -> Result<Json<Page<UnroutedItem>>> {
    admin.require_platform()?;
    let rows = log::unrouted(&app.db, paging.cursor_id()?, paging.limit).await?;
    Ok(Json(paging.page(
        rows,
        |r| r.id.to_string(),
        |r| UnroutedItem {
            id: r.id,
            tenant_slug: r.tenant_slug,
            stripe_event_id: r.stripe_event_id,
            event_type: r.event_type,
            account_id: account_of(r.payload.as_deref()),
            status: r.status,
            error: r.error,
            received_at: ms_to_rfc3339(r.received_at),
        },
    )))
}
