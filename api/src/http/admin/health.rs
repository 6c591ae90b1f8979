//! Per-tenant health: is it configured, when did Stripe last call, what failed lately.

use super::auth::TenantAccess;
use crate::clock::{ms_to_rfc3339, now_ms};
use crate::http::AppState;
use crate::http::error::{ErrorBody, Result};
use crate::tenants::secrets;
use crate::webhooks::log::{self, EventStatus};
use crate::webhooks::rejected;
use axum::Json;
use axum::extract::State;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};

const DAY_MS: i64 = 24 * 3600 * 1000;
const HOUR_MS: i64 = 3600 * 1000;
/// An event PROCESSING for longer than this is stuck (the lease and retries ran out of time).
const STUCK_AFTER_MS: i64 = 5 * 60 * 1000;

/// The latest delivery of any kind.
#[derive(Serialize, utoipa::ToSchema)]
pub struct LastDelivery {
    #[schema(format = DateTime)]
    at: String,
    #[schema(value_type = crate::webhooks::EventStatus)]
    status: String,
}

/// Failed deliveries of the last 24 hours.
#[derive(Serialize, utoipa::ToSchema)]
pub struct RecentFailures {
    verification_failed: i64,
    no_config: i64,
    failed: i64,
}

/// Rejected deliveries of the last 24 hours that were counted but not stored as rows
/// (beyond 100 a minute: a flood, or a sender that never had the secret).
#[derive(Serialize, utoipa::ToSchema, Default)]
pub struct NotRecorded {
    verification_failed: i64,
    no_config: i64,
}

impl NotRecorded {
    pub fn from_counts(counts: &HashMap<String, i64>) -> Self {
        let n = |s: EventStatus| counts.get(s.as_str()).copied().unwrap_or(0);
        Self {
            verification_failed: n(EventStatus::VerificationFailed),
            no_config: n(EventStatus::NoConfig),
        }
    }
}

/// Deliveries in one clock hour, by status.
#[derive(Serialize, utoipa::ToSchema)]
pub struct HourCounts {
    /// The start of the hour.
    hour: String,
    counts: BTreeMap<String, i64>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct TenantHealth {
    /// An active webhook secret that decrypts (of its own, or, for a restaurant linked to
    /// a connected account, the platform's Connect secret).
    configured: bool,
    last_successful_webhook: Option<String>,
    last_delivery: Option<LastDelivery>,
    recent_failures: RecentFailures,
    not_recorded: NotRecorded,
    stuck_processing: u64,
    /// The last 24 clock hours, oldest first.
    deliveries_per_hour: Vec<HourCounts>,
    /// Deliveries answered 200 over all deliveries to the tenant in the last hour (0 to
    /// 1; none without deliveries). Counted by every replica, added up every 5 s.
    success_rate_1h: Option<f64>,
    /// The time within which 95 % of the last hour's deliveries were answered: the upper
    /// bound of its bucket (10, 25, 50, 100, 250, 500 ms, 1, 2.5, 5, 10, 30 s; 60 000
    /// beyond).
    p95_response_ms_1h: Option<i64>,
    /// Deliveries to the tenant in the last hour.
    deliveries_1h: i64,
}

#[utoipa::path(get, path = "/api/v1/admin/tenants/{tenant}/health", operation_id = "tenant_health", tag = "admin", security(("bearer" = [])), params(("tenant" = String, Path, description = "the restaurant's slug")), responses(
    (status = 200, description = "the tenant at a glance", body = TenantHealth),
    (status = 404, description = "no such tenant, or not the caller's", body = ErrorBody)))]
pub async fn show(State(app): State<AppState>, access: TenantAccess) -> Result<Json<TenantHealth>> {
    let tenant_id = access.tenant.id;
    let now = now_ms();
    let mut configured = matches!(
        secrets::check(&app.db, &app.config.keys, tenant_id).await?,
        secrets::Health::Ok { .. }
    );
    // Linked to a connected account, it is verified with the platform's Connect secret.
    if !configured
        && access.tenant.connect_account_id.is_some()
        && let Some(platform) = crate::tenants::connect::platform(&app.db).await?
    {
        configured = matches!(
            secrets::check(&app.db, &app.config.keys, platform.id).await?,
            secrets::Health::Ok { .. }
        );
    }
    let last_success = log::latest(&app.db, tenant_id, Some(EventStatus::Completed)).await?;
    let last_delivery = log::latest(&app.db, tenant_id, None).await?;
    let first_hour = now / HOUR_MS - 23;
    let mut hours: Vec<HourCounts> = (0..24)
        .map(|i| HourCounts {
            hour: ms_to_rfc3339((first_hour + i) * HOUR_MS),
            counts: BTreeMap::new(),
        })
        .collect();
    let mut by_status: HashMap<String, i64> = HashMap::new();
    for (hour, status, n) in log::counts_by_hour(&app.db, tenant_id, now - DAY_MS).await? {
        *by_status.entry(status.clone()).or_default() += n;
        if let Some(slot) = usize::try_from(hour - first_hour)
            .ok()
            .and_then(|i| hours.get_mut(i))
        {
            slot.counts.insert(status, n);
        }
    }
    let recent = |s: EventStatus| by_status.get(s.as_str()).copied().unwrap_or(0);
    let stuck = log::count_processing_since(&app.db, tenant_id, now - STUCK_AFTER_MS).await?;
    let counted = rejected::counted_since(&app.db, Some(tenant_id), now - DAY_MS).await?;
    let figures = crate::webhooks::stats::last_hour(&app.db, tenant_id, now).await?;
    Ok(Json(TenantHealth {
        configured,
        last_successful_webhook: last_success.map(|e| ms_to_rfc3339(e.received_at)),
        last_delivery: last_delivery.map(|e| LastDelivery {
            at: ms_to_rfc3339(e.received_at),
            status: e.status,
        }),
        recent_failures: RecentFailures {
            verification_failed: recent(EventStatus::VerificationFailed),
            no_config: recent(EventStatus::NoConfig),
            failed: recent(EventStatus::Failed),
        },
        not_recorded: NotRecorded::from_counts(&counted),
        stuck_processing: stuck,
        deliveries_per_hour: hours,
        success_rate_1h: figures.success_rate,
        p95_response_ms_1h: figures.p95_ms,
        deliveries_1h: figures.deliveries,
    }))
}
