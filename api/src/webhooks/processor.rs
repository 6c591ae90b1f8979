//! The processor: applies stored events to orders and payments in the background.
//!
//! Fresh events arrive from the inbox right after their commit. A sweep finds every
//! `PROCESSING` event whose lease ran out (the gateway crashed, or the queue was full,
//! or a retry is due) and claims it, so nothing acknowledged stays `PROCESSING`.
//! Events are applied in groups, one transaction per group; when a group fails, its
//! events are applied one by one so that one bad event cannot hold back the others.
//! A failing event is retried with exponential backoff and ends `FAILED`, with its
//! error, after `PROCESSING_MAX_ATTEMPTS` attempts.

use super::status;
use crate::config::Processing;
use crate::db::now_ms;
use crate::metrics::Metrics;
use crate::orders::store::{self, Applied};
use crate::stripe::event::{self, EventFacts};
use entity::webhook_event;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect,
};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

/// One stored event to apply.
#[derive(Debug)]
pub struct Work {
    pub event_row_id: i64,
    pub tenant_id: i64,
    /// Attempts made before this one.
    pub attempts: i32,
    pub facts: EventFacts,
}

/// Hands events to the appliers: all events of one tenant to the same applier, so
/// that appliers never contend for the same orders.
#[derive(Clone)]
pub struct Queue {
    workers: Vec<mpsc::Sender<Work>>,
}

impl Queue {
    fn lane(&self, work: &Work) -> &mpsc::Sender<Work> {
        &self.workers[work.tenant_id.unsigned_abs() as usize % self.workers.len()]
    }

    /// Queues without waiting; false when the lane is full (the sweep will find it).
    pub fn offer(&self, work: Work) -> bool {
        self.lane(&work).try_send(work).is_ok()
    }

    pub async fn send(&self, work: Work) -> bool {
        self.lane(&work).send(work).await.is_ok()
    }
}

/// Starts the appliers and the sweep. `db` is the processor's connection (see
/// `db::connect_processor`); `main` is the ordinary pool, for the sweep.
pub fn start(
    db: DatabaseConnection,
    main: DatabaseConnection,
    settings: Processing,
    metrics: Arc<Metrics>,
) -> Queue {
    let mut workers = Vec::new();
    for _ in 0..settings.workers.max(1) {
        let (tx, rx) = mpsc::channel(4096);
        workers.push(tx);
        tokio::spawn(run(db.clone(), settings.clone(), metrics.clone(), rx));
    }
    let queue = Queue { workers };
    tokio::spawn(sweep(main, settings, queue.clone()));
    queue
}

async fn run(
    db: DatabaseConnection,
    settings: Processing,
    metrics: Arc<Metrics>,
    mut rx: mpsc::Receiver<Work>,
) {
    let mut group = Vec::with_capacity(settings.batch_size);
    while rx.recv_many(&mut group, settings.batch_size).await > 0 {
        let batch: Vec<Work> = std::mem::take(&mut group);
        match apply_group(&db, &batch).await {
            Ok(()) => metrics.events_completed(batch.len()),
            Err(e) => {
                tracing::warn!(error = %e, events = batch.len(), "group failed; applying its events one by one");
                for work in &batch {
                    match apply_group(&db, std::slice::from_ref(work)).await {
                        Ok(()) => metrics.events_completed(1),
                        Err(e) => record_failure(&db, &settings, &metrics, work, &e).await,
                    }
                }
            }
        }
    }
}

async fn apply_group(db: &DatabaseConnection, group: &[Work]) -> Result<(), DbErr> {
    let txn = crate::db::begin_relaxed(db).await?;
    let now = now_ms();
    for work in group {
        let applied = store::apply(&*txn, work.tenant_id, &work.facts, now).await?;
        mark_completed(&*txn, work, &applied, now).await?;
    }
    txn.commit().await
}

async fn mark_completed<C: ConnectionTrait>(
    db: &C,
    work: &Work,
    applied: &Applied,
    now: i64,
) -> Result<(), DbErr> {
    // Guarded by status: if another replica completed it first, this is a no-op, and
    // the apply above changed nothing either (facts only grow).
    webhook_event::Entity::update_many()
        .col_expr(
            webhook_event::Column::Status,
            Expr::value(status::COMPLETED),
        )
        .col_expr(
            webhook_event::Column::Outcome,
            Expr::value(applied.outcome.as_str()),
        )
        .col_expr(
            webhook_event::Column::OrderId,
            Expr::value(applied.order_id.clone()),
        )
        .col_expr(
            webhook_event::Column::Error,
            Expr::value(Option::<String>::None),
        )
        .col_expr(
            webhook_event::Column::Attempts,
            Expr::value(work.attempts + 1),
        )
        .col_expr(webhook_event::Column::ProcessedAt, Expr::value(now))
        .col_expr(
            webhook_event::Column::NextAttemptAt,
            Expr::value(Option::<i64>::None),
        )
        .filter(webhook_event::Column::Id.eq(work.event_row_id))
        .filter(webhook_event::Column::Status.eq(status::PROCESSING))
        .exec(db)
        .await?;
    Ok(())
}

/// Backoff before attempt `n + 1`, after `n` failed attempts.
pub fn backoff(settings: &Processing, failed_attempts: i32) -> Duration {
    let factor = 1u32 << (failed_attempts.clamp(1, 16) - 1) as u32;
    (settings.retry_base * factor).min(Duration::from_secs(15 * 60))
}

async fn record_failure(
    db: &DatabaseConnection,
    settings: &Processing,
    metrics: &Metrics,
    work: &Work,
    error: &DbErr,
) {
    let attempts = work.attempts + 1;
    let now = now_ms();
    let give_up = attempts >= settings.max_attempts;
    let message = format!("attempt {attempts} of {}: {error}", settings.max_attempts);
    let mut update = webhook_event::Entity::update_many()
        .col_expr(webhook_event::Column::Attempts, Expr::value(attempts))
        .col_expr(webhook_event::Column::Error, Expr::value(message.clone()))
        .filter(webhook_event::Column::Id.eq(work.event_row_id))
        .filter(webhook_event::Column::Status.eq(status::PROCESSING));
    if give_up {
        update = update
            .col_expr(webhook_event::Column::Status, Expr::value(status::FAILED))
            .col_expr(webhook_event::Column::ProcessedAt, Expr::value(now))
            .col_expr(
                webhook_event::Column::NextAttemptAt,
                Expr::value(Option::<i64>::None),
            );
        metrics.event_failed();
        tracing::error!(event_row_id = work.event_row_id, stripe_event_id = %work.facts.event_id, error = %message, "event failed for good");
    } else {
        let due = now + backoff(settings, attempts).as_millis() as i64;
        update = update.col_expr(webhook_event::Column::NextAttemptAt, Expr::value(due));
        tracing::warn!(event_row_id = work.event_row_id, stripe_event_id = %work.facts.event_id, error = %message, "event will be retried");
    }
    if let Err(e) = update.exec(db).await {
        // The lease still runs out, so the sweep retries it when storage is back.
        tracing::error!(event_row_id = work.event_row_id, error = %e, "could not record a processing failure");
    }
}

/// Finds events whose lease ran out and claims them, every `sweep_interval`.
async fn sweep(db: DatabaseConnection, settings: Processing, queue: Queue) {
    let mut ticker = tokio::time::interval(settings.sweep_interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        match sweep_once(&db, &settings, &queue).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(events = n, "sweep claimed events for processing"),
            Err(e) => tracing::warn!(error = %e, "sweep could not read the event log"),
        }
    }
}

pub async fn sweep_once(
    db: &DatabaseConnection,
    settings: &Processing,
    queue: &Queue,
) -> Result<usize, DbErr> {
    let now = now_ms();
    let due = webhook_event::Entity::find()
        .filter(webhook_event::Column::Status.eq(status::PROCESSING))
        .filter(webhook_event::Column::NextAttemptAt.lte(now))
        .order_by_asc(webhook_event::Column::NextAttemptAt)
        .limit(settings.batch_size as u64 * 2)
        .all(db)
        .await?;
    let mut claimed = 0;
    for row in due {
        // Claim: only one sweeper (of any replica) wins the row until its new lease ends.
        let won = webhook_event::Entity::update_many()
            .col_expr(
                webhook_event::Column::NextAttemptAt,
                Expr::value(now + settings.lease.as_millis() as i64),
            )
            .filter(webhook_event::Column::Id.eq(row.id))
            .filter(webhook_event::Column::Status.eq(status::PROCESSING))
            .filter(webhook_event::Column::NextAttemptAt.eq(row.next_attempt_at))
            .exec(db)
            .await?
            .rows_affected
            == 1;
        if !won {
            continue;
        }
        let (Some(tenant_id), Some(payload)) = (row.tenant_id, row.payload.as_deref()) else {
            continue;
        };
        match event::parse(payload.as_bytes()) {
            Ok(facts) => {
                let work = Work {
                    event_row_id: row.id,
                    tenant_id,
                    attempts: row.attempts,
                    facts,
                };
                if !queue.send(work).await {
                    break;
                }
                claimed += 1;
            }
            Err(e) => {
                webhook_event::Entity::update_many()
                    .col_expr(webhook_event::Column::Status, Expr::value(status::FAILED))
                    .col_expr(webhook_event::Column::Error, Expr::value(e.to_string()))
                    .col_expr(webhook_event::Column::ProcessedAt, Expr::value(now))
                    .filter(webhook_event::Column::Id.eq(row.id))
                    .exec(db)
                    .await?;
            }
        }
    }
    Ok(claimed)
}
