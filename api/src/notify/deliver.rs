//! Delivering the outbox: due notifications are claimed (so that replicas do not send
//! the same one at once), signed afresh at each attempt with the same `webhook-id`,
//! POSTed without following redirects, and their attempt logged. A non-2xx answer or a
//! timeout is retried after `NOTIFY_RETRY_BASE_MS`, doubling, at most 6 hours apart,
//! until 3 days after the change; then the notification is `FAILED`.

use super::{endpoints, signature};
use crate::clock::now_ms;
use crate::config::Notifications;
use crate::outbound;
use crate::vault::KeyRing;
use entity::{notification, notification_attempt as attempt, notification_endpoint as endpoint};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set,
};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;

const GIVE_UP_AFTER_MS: i64 = 3 * 24 * 3600 * 1000;
const LONGEST_WAIT: Duration = Duration::from_secs(6 * 3600);
/// How long a claimed notification is left to its claimer.
const LEASE_MS: i64 = 30_000;
pub(super) const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);
/// Attempts in flight at once, per replica.
pub(super) const IN_FLIGHT: usize = 64;

/// The delay before attempt `n + 1`, after `n` failed.
pub fn backoff(base: Duration, failed: i32) -> Duration {
    let factor = 1u32 << (failed.clamp(1, 20) - 1) as u32;
    base.saturating_mul(factor).min(LONGEST_WAIT)
}

/// What sending a notification needs.
#[derive(Clone, Copy)]
pub(super) struct Sender<'a> {
    pub db: &'a DatabaseConnection,
    pub ring: &'a KeyRing,
    pub settings: &'a Notifications,
    pub http: &'a reqwest::Client,
}

impl Sender<'_> {
    /// Sends one claimed notification and records the attempt.
    pub async fn send(&self, n: notification::Model) -> Result<(), DbErr> {
        attempt_one(self.db, self.ring, self.settings, self.http, n).await
    }
}

/// Endpoints whose notifications wait: paused, or sending a backlog in order (see
/// `ordered`).
fn held_endpoints() -> sea_orm::sea_query::SelectStatement {
    sea_orm::sea_query::Query::select()
        .column(endpoint::Column::Id)
        .from(endpoint::Entity)
        .cond_where(
            sea_orm::Condition::any()
                .add(endpoint::Column::Paused.eq(true))
                .add(endpoint::Column::InOrderUntil.is_not_null()),
        )
        .to_owned()
}

/// Claims a due notification for this sender until its lease ends: only one sender (of
/// any replica) takes it.
pub(super) async fn claim(
    db: &DatabaseConnection,
    n: &notification::Model,
    now: i64,
) -> Result<bool, DbErr> {
    Ok(notification::Entity::update_many()
        .col_expr(
            notification::Column::NextAttemptAt,
            Expr::value(now + LEASE_MS),
        )
        .filter(notification::Column::Id.eq(n.id))
        .filter(notification::Column::Status.eq("PENDING"))
        .filter(notification::Column::NextAttemptAt.eq(n.next_attempt_at))
        .exec(db)
        .await?
        .rows_affected
        == 1)
}

pub(super) async fn deliver_due(
    db: &DatabaseConnection,
    ring: &KeyRing,
    settings: &Notifications,
    http: &reqwest::Client,
    slots: &Arc<Semaphore>,
) -> Result<usize, DbErr> {
    let now = now_ms();
    let free = slots.available_permits().min(50);
    if free == 0 {
        return Ok(0);
    }
    let due = notification::Entity::find()
        .filter(notification::Column::Status.eq("PENDING"))
        .filter(notification::Column::NextAttemptAt.lte(now))
        .filter(notification::Column::EndpointId.not_in_subquery(held_endpoints()))
        .order_by_asc(notification::Column::NextAttemptAt)
        .limit(free as u64)
        .all(db)
        .await?;
    let mut sent = 0;
    for n in due {
        if claim(db, &n, now).await? {
            let Ok(slot) = slots.clone().acquire_owned().await else {
                break;
            };
            let (db, ring, settings, http) =
                (db.clone(), ring.clone(), settings.clone(), http.clone());
            tokio::spawn(async move {
                if let Err(e) = attempt_one(&db, &ring, &settings, &http, n).await {
                    // The lease runs out and the notification is tried again.
                    tracing::warn!(error = %e, "a notification's attempt could not be recorded");
                }
                drop(slot);
            });
            sent += 1;
        }
    }
    Ok(sent)
}

/// Every line logged for an attempt carries the notification's tenant, id and
/// `webhook-id` (what the restaurant's backend sees).
#[tracing::instrument(name = "notification", skip_all, fields(
    tenant_id = n.tenant_id,
    notification = n.id,
    webhook_id = %n.message_id,
))]
async fn attempt_one(
    db: &DatabaseConnection,
    ring: &KeyRing,
    settings: &Notifications,
    http: &reqwest::Client,
    n: notification::Model,
) -> Result<(), DbErr> {
    let Some(target) = endpoint::Entity::find()
        .filter(endpoint::Column::TenantId.eq(n.tenant_id))
        .filter(endpoint::Column::Id.eq(n.endpoint_id))
        .one(db)
        .await?
    else {
        // The endpoint was removed: nothing to deliver to.
        return finish(
            db,
            &n,
            "FAILED",
            None,
            Some("the endpoint was removed".into()),
        )
        .await;
    };
    // The URL as the client reads it; its host's addresses are checked as they are
    // dialled (a name may resolve elsewhere than when the endpoint was saved).
    let outcome = match (
        outbound::parse_target(&target.url, settings.allow_private),
        endpoints::secret(ring, &target),
    ) {
        (Err(e), _) => Err(format!("refused: {e}")),
        (_, Err(e)) => Err(format!("the endpoint's secret cannot be decrypted: {e}")),
        (Ok(url), Ok(secret)) => {
            let timestamp = now_ms() / 1000;
            let response = http
                .post(url)
                .header("content-type", "application/json")
                .header("webhook-id", &n.message_id)
                .header("webhook-timestamp", timestamp.to_string())
                .header(
                    "webhook-signature",
                    signature(&secret, &n.message_id, timestamp, &n.payload),
                )
                .body(n.payload.clone())
                .send()
                .await;
            match response {
                Ok(r) => Ok(r.status().as_u16()),
                Err(e) => Err(outbound::describe(&e)),
            }
        }
    };
    let (status, error) = match outcome {
        Ok(code) => (Some(code), None),
        Err(e) => (None, Some(e)),
    };
    attempt::ActiveModel {
        notification_id: Set(n.id),
        tenant_id: Set(n.tenant_id),
        at: Set(now_ms()),
        response_status: Set(status.map(i32::from)),
        error: Set(error.clone()),
        ..Default::default()
    }
    .insert(db)
    .await?;
    if status.is_some_and(|s| (200..300).contains(&s)) {
        crate::metrics::notification("delivered");
        tracing::debug!(status, "notification delivered");
        return finish(db, &n, "DELIVERED", Some(now_ms()), None).await;
    }
    tracing::debug!(
        status,
        error = error.as_deref(),
        "notification attempt failed"
    );
    let failed = n.attempts + 1;
    let next = now_ms() + backoff(settings.retry_base, failed).as_millis() as i64;
    if next > n.created_at + GIVE_UP_AFTER_MS {
        crate::metrics::notification("gave_up");
        tracing::warn!(message_id = %n.message_id, "a notification failed for 3 days; given up");
        return finish(db, &n, "FAILED", None, error).await;
    }
    crate::metrics::notification("failed");
    notification::Entity::update_many()
        .col_expr(notification::Column::Attempts, Expr::value(failed))
        .col_expr(notification::Column::NextAttemptAt, Expr::value(next))
        .filter(notification::Column::Id.eq(n.id))
        .exec(db)
        .await?;
    Ok(())
}

async fn finish(
    db: &DatabaseConnection,
    n: &notification::Model,
    status: &str,
    delivered_at: Option<i64>,
    _error: Option<String>,
) -> Result<(), DbErr> {
    notification::Entity::update_many()
        .col_expr(notification::Column::Status, Expr::value(status))
        .col_expr(notification::Column::Attempts, Expr::value(n.attempts + 1))
        .col_expr(
            notification::Column::NextAttemptAt,
            Expr::value(Option::<i64>::None),
        )
        .col_expr(notification::Column::DeliveredAt, Expr::value(delivered_at))
        .filter(notification::Column::Id.eq(n.id))
        .exec(db)
        .await?;
    Ok(())
}

/// Sends a notification again (from the panel): back to PENDING, due now.
pub async fn send_again(db: &DatabaseConnection, tenant_id: i64, id: i64) -> Result<bool, DbErr> {
    Ok(notification::Entity::update_many()
        .col_expr(notification::Column::Status, Expr::value("PENDING"))
        .col_expr(notification::Column::NextAttemptAt, Expr::value(now_ms()))
        .filter(notification::Column::TenantId.eq(tenant_id))
        .filter(notification::Column::Id.eq(id))
        .exec(db)
        .await?
        .rows_affected
        == 1)
}

/// The endpoint's notifications, newest first, with their attempts.
pub async fn log(
    db: &DatabaseConnection,
    tenant_id: i64,
    endpoint_id: i64,
    limit: u64,
) -> Result<Vec<(notification::Model, Vec<attempt::Model>)>, DbErr> {
    let rows = notification::Entity::find()
        .filter(notification::Column::TenantId.eq(tenant_id))
        .filter(notification::Column::EndpointId.eq(endpoint_id))
        .order_by_desc(notification::Column::Id)
        .limit(limit)
        .all(db)
        .await?;
    let ids: Vec<i64> = rows.iter().map(|n| n.id).collect();
    let attempts = attempt::Entity::find()
        .filter(attempt::Column::TenantId.eq(tenant_id))
        .filter(attempt::Column::NotificationId.is_in(ids))
        .order_by_asc(attempt::Column::Id)
        .all(db)
        .await?;
    Ok(rows
        .into_iter()
        .map(|n| {
            let mine = attempts
                .iter()
                .filter(|a| a.notification_id == n.id)
                .cloned()
                .collect();
            (n, mine)
        })
        .collect())
}
