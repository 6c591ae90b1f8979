//! The leg after the gateway, watched (CONTRACT §12): a restaurant's backend that
//! fails every notification, an order paid that no backend acknowledged in time, and
//! Stripe's deliveries answered badly (the success rate the replaced systems watched).

use super::{Finding, Severity, finding};
use crate::clock::ms_to_rfc3339;
use crate::config::Config;
use entity::{
    notification, notification_attempt as attempt, notification_endpoint as endpoint, tenant,
};
use sea_orm::{
    ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};
use std::collections::{BTreeMap, HashSet};

/// Attempts looked at: the last hour's.
const RECENT_MS: i64 = 3600 * 1000;
/// An endpoint whose last hour had at least this many attempts, none of them answered
/// 2xx, is failing.
const FAILING_AFTER: usize = 3;
/// Notifications that gave up, or orders not acknowledged, are looked for this far back.
const LOOK_BACK_MS: i64 = 7 * 24 * 3600 * 1000;
/// `low_success_rate`: under this share of 200s, with at least this many deliveries.
const LOW_RATE: f64 = 0.95;
const LOW_RATE_MIN_DELIVERIES: i64 = 20;

/// Every finding of this kind for the tenant now.
pub(super) async fn from_records(
    db: &DatabaseConnection,
    config: &Config,
    tenant: &tenant::Model,
    now: i64,
) -> Result<Vec<Finding>, DbErr> {
    let mut out = Vec::new();
    // Only the endpoints there are now: a removed one's notifications end FAILED.
    let urls: BTreeMap<i64, String> = endpoint::Entity::find()
        .filter(endpoint::Column::TenantId.eq(tenant.id))
        .all(db)
        .await?
        .into_iter()
        .map(|e| (e.id, e.url))
        .collect();
    if !urls.is_empty() {
        failing_endpoints(db, tenant.id, &urls, now, &mut out).await?;
        not_acknowledged(db, config, tenant.id, &urls, now, &mut out).await?;
    }
    let figures = crate::webhooks::stats::last_hour(db, tenant.id, now).await?;
    if let Some(rate) = figures.success_rate
        && rate < LOW_RATE
        && figures.deliveries >= LOW_RATE_MIN_DELIVERIES
    {
        out.push(finding(
            "low_success_rate",
            Severity::Warning,
            format!(
                "Only {:.1} % of the last hour's {} deliveries from Stripe were answered 200 (95 % is the least to expect).",
                rate * 100.0,
                figures.deliveries
            ),
            vec![format!("p95 response time: {} ms", figures.p95_ms.unwrap_or(0))],
            "See the other findings and the webhook events' log for the refused deliveries' reasons (a wrong secret, a clock off, a proxy altering the body, storage trouble).",
        ));
    }
    Ok(out)
}

/// Endpoints whose last hour's attempts all failed, and notifications that gave up.
async fn failing_endpoints(
    db: &DatabaseConnection,
    tenant_id: i64,
    urls: &BTreeMap<i64, String>,
    now: i64,
    out: &mut Vec<Finding>,
) -> Result<(), DbErr> {
    let attempts: Vec<(i64, Option<i32>, Option<String>)> = attempt::Entity::find()
        .select_only()
        .columns([
            attempt::Column::NotificationId,
            attempt::Column::ResponseStatus,
            attempt::Column::Error,
        ])
        .filter(attempt::Column::TenantId.eq(tenant_id))
        .filter(attempt::Column::At.gt(now - RECENT_MS))
        .order_by_desc(attempt::Column::Id)
        .limit(2000)
        .into_tuple()
        .all(db)
        .await?;
    let gave_up: Vec<(i64, i64, String)> = notification::Entity::find()
        .select_only()
        .columns([
            notification::Column::Id,
            notification::Column::EndpointId,
            notification::Column::EventType,
        ])
        .filter(notification::Column::TenantId.eq(tenant_id))
        .filter(notification::Column::Status.eq("FAILED"))
        .filter(notification::Column::EndpointId.is_in(urls.keys().copied()))
        .filter(notification::Column::CreatedAt.gt(now - LOOK_BACK_MS))
        .limit(1000)
        .into_tuple()
        .all(db)
        .await?;
    if attempts.is_empty() && gave_up.is_empty() {
        return Ok(());
    }
    let ids: Vec<i64> = attempts.iter().map(|a| a.0).collect();
    let endpoint_of: BTreeMap<i64, i64> = notification::Entity::find()
        .select_only()
        .columns([notification::Column::Id, notification::Column::EndpointId])
        .filter(notification::Column::TenantId.eq(tenant_id))
        .filter(notification::Column::Id.is_in(ids))
        .into_tuple::<(i64, i64)>()
        .all(db)
        .await?
        .into_iter()
        .collect();
    // Per endpoint: attempts, successes, the latest failure's words.
    let mut per: BTreeMap<i64, (usize, usize, Option<String>)> = BTreeMap::new();
    for (notification_id, status, error) in &attempts {
        let Some(endpoint_id) = endpoint_of.get(notification_id) else {
            continue;
        };
        let e = per.entry(*endpoint_id).or_default();
        e.0 += 1;
        let ok = status.is_some_and(|s| (200..300).contains(&s));
        e.1 += usize::from(ok);
        if !ok && e.2.is_none() {
            e.2 = Some(match (status, error) {
                (Some(s), _) => format!("answered {s}"),
                (None, Some(e)) => e.clone(),
                (None, None) => "no answer".into(),
            });
        }
    }
    let mut failing: BTreeMap<i64, Vec<String>> = BTreeMap::new();
    for (endpoint_id, (n, ok, last)) in per {
        if n >= FAILING_AFTER && ok == 0 && urls.contains_key(&endpoint_id) {
            failing.entry(endpoint_id).or_default().push(format!(
                "{n} attempts in the last hour, none answered 2xx; the latest: {}",
                last.unwrap_or_default()
            ));
        }
    }
    let mut given_up: BTreeMap<i64, usize> = BTreeMap::new();
    for (_, endpoint_id, _) in &gave_up {
        *given_up.entry(*endpoint_id).or_default() += 1;
    }
    for (endpoint_id, n) in given_up {
        failing.entry(endpoint_id).or_default().push(format!(
            "{n} notifications of the last 7 days given up after 3 days of retries"
        ));
    }
    if failing.is_empty() {
        return Ok(());
    }
    out.push(finding(
        "notifications_failing",
        Severity::Error,
        format!("The restaurant's backend is not taking notifications at {} endpoint(s): orders paid here may never be closed there.", failing.len()),
        failing.iter().flat_map(|(id, why)| {
            let url = urls.get(id).cloned().unwrap_or_default();
            why.iter().map(move |w| format!("endpoint {id} ({url}): {w}"))
        }).collect(),
        "Make the backend answer 2xx (see the endpoint's deliveries for each attempt's status and error); pause the endpoint while it is being deployed, and once it works, send again what it missed (POST …/notification-endpoints/{id}/resend with `since`, or `gateway notifications resend`).",
    ));
    Ok(())
}

/// Orders paid longer ago than `ACK_DEADLINE_SECS` whose `order.paid` no endpoint
/// answered 2xx.
async fn not_acknowledged(
    db: &DatabaseConnection,
    config: &Config,
    tenant_id: i64,
    urls: &BTreeMap<i64, String>,
    now: i64,
    out: &mut Vec<Finding>,
) -> Result<(), DbErr> {
    let deadline = config.notifications.ack_deadline.as_millis() as i64;
    let waiting: Vec<(String, i64)> = notification::Entity::find()
        .select_only()
        .columns([
            notification::Column::OrderId,
            notification::Column::CreatedAt,
        ])
        .filter(notification::Column::TenantId.eq(tenant_id))
        .filter(notification::Column::Status.ne("DELIVERED"))
        .filter(notification::Column::CreatedAt.lt(now - deadline))
        .filter(notification::Column::CreatedAt.gt(now - LOOK_BACK_MS))
        .filter(notification::Column::EventType.eq("order.paid"))
        .filter(notification::Column::EndpointId.is_in(urls.keys().copied()))
        .filter(notification::Column::OrderId.is_not_null())
        .order_by_asc(notification::Column::CreatedAt)
        .limit(1000)
        .into_tuple()
        .all(db)
        .await?;
    if waiting.is_empty() {
        return Ok(());
    }
    let orders: Vec<String> = waiting.iter().map(|w| w.0.clone()).collect();
    let acknowledged: HashSet<String> = notification::Entity::find()
        .select_only()
        .column(notification::Column::OrderId)
        .filter(notification::Column::TenantId.eq(tenant_id))
        .filter(notification::Column::OrderId.is_in(orders))
        .filter(notification::Column::EventType.eq("order.paid"))
        .filter(notification::Column::Status.eq("DELIVERED"))
        .into_tuple::<String>()
        .all(db)
        .await?
        .into_iter()
        .collect();
    let mut seen = HashSet::new();
    let open: Vec<&(String, i64)> = waiting
        .iter()
        .filter(|(order, _)| !acknowledged.contains(order) && seen.insert(order.clone()))
        .collect();
    if open.is_empty() {
        return Ok(());
    }
    out.push(finding(
        "paid_not_acknowledged",
        Severity::Error,
        format!(
            "{} orders were paid more than {} s ago and no backend has acknowledged their order.paid notification: the restaurant may not know they are paid.",
            open.len(),
            deadline / 1000
        ),
        open.iter().take(10).map(|(order, at)| format!("{order}: paid {}", ms_to_rfc3339(*at))).collect(),
        "Check the notification endpoints (their deliveries show each attempt); if the backend was down or paused, make it answer 2xx and resume the endpoint or send again since the first of these (POST …/resend), then confirm the orders there.",
    ));
    Ok(())
}

/// Tenants that may have one of these findings as errors: an endpoint failing or gave
/// up, or an `order.paid` waiting past the deadline (read through the index of
/// notifications not delivered).
pub(super) async fn may_have_errors(
    db: &DatabaseConnection,
    config: &Config,
    now: i64,
) -> Result<HashSet<i64>, DbErr> {
    let deadline = config.notifications.ack_deadline.as_millis() as i64;
    let rows: Vec<i64> = notification::Entity::find()
        .select_only()
        .column(notification::Column::TenantId)
        .distinct()
        .filter(notification::Column::Status.ne("DELIVERED"))
        .filter(notification::Column::CreatedAt.gt(now - LOOK_BACK_MS))
        .filter(
            sea_orm::Condition::any()
                .add(notification::Column::Status.eq("FAILED"))
                .add(notification::Column::Attempts.gte(FAILING_AFTER as i32))
                .add(notification::Column::CreatedAt.lt(now - deadline)),
        )
        .into_tuple()
        .all(db)
        .await?;
    Ok(rows.into_iter().collect())
}
