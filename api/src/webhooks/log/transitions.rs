//! A stored event's way through its statuses: completed by a group, a failed attempt,
//! claimed when its lease runs out, retried by an admin.

use super::EventStatus;
use crate::clock::now_ms;
use crate::db::Dialect;
use entity::webhook_event::{self, Column};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect,
};
use std::time::Duration;

/// One applied event, for `mark_completed`.
#[derive(Debug, Clone)]
pub struct Completed {
    pub row_id: i64,
    pub attempts: i32,
    pub outcome: &'static str,
    pub order_id: Option<String>,
}

/// PROCESSING → COMPLETED, with what applying did, for a whole group in one statement
/// (a few hundred rows a statement). Guarded by status: a row another replica
/// completed first is left as it is.
pub async fn mark_completed<C: ConnectionTrait>(
    db: &C,
    done: &[Completed],
    now: i64,
) -> Result<(), DbErr> {
    let dialect = Dialect::of(db);
    for chunk in done.chunks(250) {
        let mut values: Vec<sea_orm::Value> = Vec::with_capacity(chunk.len() * 5 + 1);
        let mut param = |v: sea_orm::Value| {
            values.push(v);
            format!("${}", values.len())
        };
        let processed_at = param(now.into());
        let mut outcome = String::from("CASE id");
        let mut order_id = String::from("CASE id");
        let mut attempts = String::from("CASE id");
        let mut ids = Vec::with_capacity(chunk.len());
        for c in chunk {
            let id = param(c.row_id.into());
            outcome += &format!(" WHEN {id} THEN {}", param(c.outcome.into()));
            order_id += &format!(" WHEN {id} THEN {}", param(c.order_id.clone().into()));
            attempts += &format!(" WHEN {id} THEN {}", param(c.attempts.into()));
            ids.push(id);
        }
        let sql = format!(
            "UPDATE webhook_event SET status = 'COMPLETED', error = NULL, next_attempt_at = NULL, \
             processed_at = {processed_at}, outcome = {outcome} END, order_id = {order_id} END, \
             attempts = {attempts} END WHERE status = 'PROCESSING' AND id IN ({})",
            ids.join(", ")
        );
        db.execute_raw(dialect.statement(sql, values)).await?;
    }
    Ok(())
}

/// What to do after a failed attempt.
pub enum AfterFailure {
    /// Try again at this time (ms).
    RetryAt(i64),
    /// PROCESSING → FAILED.
    GiveUp,
}

/// Records a failed attempt of a PROCESSING event.
pub async fn record_failure(
    db: &DatabaseConnection,
    row_id: i64,
    attempts: i32,
    error: &str,
    next: AfterFailure,
) -> Result<(), DbErr> {
    let mut update = webhook_event::Entity::update_many()
        .col_expr(Column::Attempts, Expr::value(attempts))
        .col_expr(Column::Error, Expr::value(error))
        .filter(Column::Id.eq(row_id))
        .filter(Column::Status.eq(EventStatus::Processing.as_str()));
    update = match next {
        AfterFailure::RetryAt(due) => update.col_expr(Column::NextAttemptAt, Expr::value(due)),
        AfterFailure::GiveUp => update
            .col_expr(Column::Status, Expr::value(EventStatus::Failed.as_str()))
            .col_expr(Column::ProcessedAt, Expr::value(now_ms()))
            .col_expr(Column::NextAttemptAt, Expr::value(Option::<i64>::None)),
    };
    update.exec(db).await?;
    Ok(())
}

/// PROCESSING events whose lease ran out (crash, full queue, or a retry now due).
pub async fn due(
    db: &DatabaseConnection,
    now: i64,
    limit: u64,
) -> Result<Vec<webhook_event::Model>, DbErr> {
    webhook_event::Entity::find()
        // Written out, not bound: the due index holds only PROCESSING rows, and a plan
        // for a bound status could not use it.
        .filter(Expr::cust("webhook_event.status = 'PROCESSING'"))
        .filter(Column::NextAttemptAt.lte(now))
        .order_by_asc(Column::NextAttemptAt)
        .limit(limit)
        .all(db)
        .await
}

/// Takes a due event for `lease`: only one claimer (of any replica) wins it.
pub async fn claim(
    db: &DatabaseConnection,
    row: &webhook_event::Model,
    now: i64,
    lease: Duration,
) -> Result<bool, DbErr> {
    Ok(webhook_event::Entity::update_many()
        .col_expr(
            Column::NextAttemptAt,
            Expr::value(now + lease.as_millis() as i64),
        )
        .filter(Column::Id.eq(row.id))
        .filter(Column::Status.eq(EventStatus::Processing.as_str()))
        .filter(Column::NextAttemptAt.eq(row.next_attempt_at))
        .exec(db)
        .await?
        .rows_affected
        == 1)
}

/// A stored body that no longer parses as an event: FAILED with the reason.
pub async fn mark_unparseable(
    db: &DatabaseConnection,
    row_id: i64,
    error: &str,
) -> Result<(), DbErr> {
    webhook_event::Entity::update_many()
        .col_expr(Column::Status, Expr::value(EventStatus::Failed.as_str()))
        .col_expr(Column::Error, Expr::value(error))
        .col_expr(Column::ProcessedAt, Expr::value(now_ms()))
        .filter(Column::Id.eq(row_id))
        .exec(db)
        .await?;
    Ok(())
}

/// FAILED → PROCESSING with a fresh set of attempts; false when it was not FAILED.
pub async fn requeue_failed<C: ConnectionTrait>(
    db: &C,
    row_id: i64,
    lease: Duration,
) -> Result<bool, DbErr> {
    let lease_until = now_ms() + lease.as_millis() as i64;
    Ok(webhook_event::Entity::update_many()
        .col_expr(
            Column::Status,
            Expr::value(EventStatus::Processing.as_str()),
        )
        .col_expr(Column::Attempts, Expr::value(0))
        .col_expr(Column::NextAttemptAt, Expr::value(lease_until))
        .col_expr(Column::ProcessedAt, Expr::value(Option::<i64>::None))
        .filter(Column::Id.eq(row_id))
        .filter(Column::Status.eq(EventStatus::Failed.as_str()))
        .exec(db)
        .await?
        .rows_affected
        == 1)
}
