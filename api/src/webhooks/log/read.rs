//! Reading one tenant's log (newest first, by cursor), and the counts health and
//! diagnosis are made of.

use super::EventStatus;
use crate::db::Dialect;
use entity::webhook_event::{self, Column};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect, Select,
};

fn of_tenant(tenant_id: i64) -> Select<webhook_event::Entity> {
    webhook_event::Entity::find().filter(Column::TenantId.eq(tenant_id))
}

/// What a list of one tenant's log is narrowed to.
#[derive(Debug, Default, Clone)]
pub struct Filter {
    pub status: Option<EventStatus>,
    pub event_type: Option<String>,
}

fn filtered(tenant_id: i64, filter: &Filter) -> Select<webhook_event::Entity> {
    let mut query = of_tenant(tenant_id);
    if let Some(s) = filter.status {
        query = query.filter(Column::Status.eq(s.as_str()));
    }
    if let Some(t) = &filter.event_type {
        query = query.filter(Column::EventType.eq(t.as_str()));
    }
    query
}

/// Newest first, `limit + 1` rows before row id `before`, without their payloads.
pub async fn list(
    db: &DatabaseConnection,
    tenant_id: i64,
    filter: &Filter,
    before: Option<i64>,
    limit: u64,
) -> Result<Vec<webhook_event::Model>, DbErr> {
    let mut query = filtered(tenant_id, filter);
    if let Some(before) = before {
        query = query.filter(Column::Id.lt(before));
    }
    // Only the listed columns: the payloads stay in the database.
    query
        .select_only()
        .columns([
            Column::Id,
            Column::TenantId,
            Column::TenantSlug,
            Column::StripeEventId,
            Column::DedupKey,
            Column::EventType,
            Column::Status,
            Column::Outcome,
            Column::Error,
            Column::Attempts,
            Column::OrderId,
            Column::ReceivedAt,
            Column::ProcessedAt,
            Column::NextAttemptAt,
            Column::Source,
            Column::SignedForTenantId,
        ])
        .column_as(Expr::cust("NULL"), "payload")
        .order_by_desc(Column::Id)
        .limit(limit + 1)
        .all(db)
        .await
}

/// One event of the tenant, with its payload.
pub async fn find(
    db: &DatabaseConnection,
    tenant_id: i64,
    row_id: i64,
) -> Result<Option<webhook_event::Model>, DbErr> {
    of_tenant(tenant_id)
        .filter(Column::Id.eq(row_id))
        .one(db)
        .await
}

/// The tenant's FAILED events of a type (any when `None`), oldest first.
pub async fn failed(
    db: &DatabaseConnection,
    tenant_id: i64,
    event_type: Option<String>,
    limit: u64,
) -> Result<Vec<webhook_event::Model>, DbErr> {
    let filter = Filter {
        status: Some(EventStatus::Failed),
        event_type,
    };
    filtered(tenant_id, &filter)
        .order_by_asc(Column::Id)
        .limit(limit)
        .all(db)
        .await
}

/// Deliveries to slugs that match no tenant, newest first (`limit + 1` rows).
pub async fn unrouted(
    db: &DatabaseConnection,
    before: Option<i64>,
    limit: u64,
) -> Result<Vec<webhook_event::Model>, DbErr> {
    let mut query = webhook_event::Entity::find().filter(Column::TenantId.is_null());
    if let Some(before) = before {
        query = query.filter(Column::Id.lt(before));
    }
    query
        .order_by_desc(Column::Id)
        .limit(limit + 1)
        .all(db)
        .await
}

/// The tenant's latest delivery, of a status or of any.
pub async fn latest(
    db: &DatabaseConnection,
    tenant_id: i64,
    status: Option<EventStatus>,
) -> Result<Option<webhook_event::Model>, DbErr> {
    let filter = Filter {
        status,
        event_type: None,
    };
    filtered(tenant_id, &filter)
        .order_by_desc(Column::Id)
        .one(db)
        .await
}

/// How many of the tenant's events have been PROCESSING since before `received_before`.
pub async fn count_processing_since(
    db: &DatabaseConnection,
    tenant_id: i64,
    received_before: i64,
) -> Result<u64, DbErr> {
    of_tenant(tenant_id)
        .filter(Column::Status.eq(EventStatus::Processing.as_str()))
        .filter(Column::ReceivedAt.lt(received_before))
        .count(db)
        .await
}

/// Deliveries received since `since`, counted by clock hour (ms / 3,600,000) and status,
/// in one short range of the (tenant, received_at, status) index.
pub async fn counts_by_hour(
    db: &DatabaseConnection,
    tenant_id: i64,
    since: i64,
) -> Result<Vec<(i64, String, i64)>, DbErr> {
    let sql = "SELECT received_at / 3600000 AS hour, status, COUNT(*) AS n FROM webhook_event \
               WHERE tenant_id = $1 AND received_at >= $2 GROUP BY 1, 2";
    let rows = db
        .query_all_raw(Dialect::of(db).statement(sql, [tenant_id.into(), since.into()]))
        .await?;
    rows.into_iter()
        .map(|row| {
            Ok((
                row.try_get("", "hour")?,
                row.try_get("", "status")?,
                row.try_get("", "n")?,
            ))
        })
        .collect()
}

/// The tenants with an event that an error finding of the diagnosis is made of: a
/// delivery refused for its signature since `since`, an event `FAILED` or of the other
/// mode since `since`, or one `PROCESSING` since before `stuck_before`. Each arm reads
/// only a partial index's rows (their conditions are written as the indexes' are, so
/// that PostgreSQL's cached plans and SQLite's planner both see that they match;
/// SQLite, without statistics, would rather scan a covering index of the whole log
/// for the last arm, so it is told which index to use).
pub async fn tenants_in_trouble<C: ConnectionTrait>(
    db: &C,
    since: i64,
    stuck_before: i64,
) -> Result<Vec<i64>, DbErr> {
    let dialect = Dialect::of(db);
    let sql = format!(
        "SELECT tenant_id FROM webhook_event \
           WHERE dedup_key IS NULL AND received_at >= $1 \
             AND status = 'VERIFICATION_FAILED' AND tenant_id IS NOT NULL \
         UNION SELECT tenant_id FROM webhook_event \
           WHERE (status = 'FAILED' OR outcome = 'mode_mismatch') AND received_at >= $1 \
         UNION SELECT tenant_id FROM webhook_event {} \
           WHERE status = 'PROCESSING' AND received_at < $2",
        dialect.index_hint("ix_webhook_event_processing_due")
    );
    let rows = db
        .query_all_raw(dialect.statement(sql, [since.into(), stuck_before.into()]))
        .await?;
    let mut tenants = Vec::with_capacity(rows.len());
    for row in rows {
        if let Some(id) = row.try_get::<Option<i64>>("", "tenant_id")? {
            tenants.push(id);
        }
    }
    Ok(tenants)
}
