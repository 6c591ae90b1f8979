//! The processor: applies stored events to orders and payments in the background.
//!
//! Fresh events arrive from the inbox right after their commit. A sweep finds every
//! `PROCESSING` event whose lease ran out (the gateway crashed, or the queue was full,
//! or a retry is due) and claims it, so nothing acknowledged stays `PROCESSING`.
//! Events are applied in groups, one transaction per group; when a group fails, its
//! events are applied one by one so that one bad event cannot hold back the others.
//! A failing event is retried with exponential backoff and ends `FAILED`, with its
//! error, after `PROCESSING_MAX_ATTEMPTS` attempts.

use super::log::{self, AfterFailure};
use crate::changes::Changes;
use crate::clock::now_ms;
use crate::config::Processing;
use crate::metrics::Metrics;
use crate::notify::outbox::Outgoing;
use crate::orders::apply;
use crate::stripe::event::{self, EventFacts};
use crate::tasks::Tasks;
use sea_orm::{DatabaseConnection, DbErr};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Mutex, mpsc};

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
/// Every task here is supervised by `tasks`: an applier that ends is started again on
/// its lane (what it held stays PROCESSING and the sweep takes it once its lease ends).
pub fn start(
    db: DatabaseConnection,
    main: DatabaseConnection,
    settings: Processing,
    metrics: Arc<Metrics>,
    changes: Arc<Changes>,
    tasks: &Arc<Tasks>,
) -> Queue {
    let mut workers = Vec::new();
    for lane in 0..settings.workers.max(1) {
        let (tx, rx) = mpsc::channel(4096);
        workers.push(tx);
        let rx = Arc::new(Mutex::new(rx));
        let (db, settings, metrics) = (db.clone(), settings.clone(), metrics.clone());
        let changes = changes.clone();
        tasks.supervise(format!("applier {lane}"), move || {
            run(
                db.clone(),
                settings.clone(),
                metrics.clone(),
                rx.clone(),
                changes.clone(),
            )
        });
    }
    let queue = Queue { workers };
    let sweeper = queue.clone();
    tasks.supervise("sweep", move || {
        sweep(main.clone(), settings.clone(), sweeper.clone())
    });
    queue
}

async fn run(
    db: DatabaseConnection,
    settings: Processing,
    metrics: Arc<Metrics>,
    rx: Arc<Mutex<mpsc::Receiver<Work>>>,
    changes: Arc<Changes>,
) {
    let mut rx = rx.lock().await;
    let mut group = Vec::with_capacity(settings.batch_size);
    while rx.recv_many(&mut group, settings.batch_size).await > 0 {
        crate::tasks::fault("applier");
        let batch: Vec<Work> = std::mem::take(&mut group);
        match apply_group(&db, &batch).await {
            Ok(changed) => {
                metrics.events_completed(batch.len());
                changes.orders(&changed, true);
            }
            Err(e) => {
                tracing::warn!(error = %e, events = batch.len(), "group failed; applying its events one by one");
                for work in &batch {
                    match apply_group(&db, std::slice::from_ref(work)).await {
                        Ok(changed) => {
                            metrics.events_completed(1);
                            changes.orders(&changed, true);
                        }
                        Err(e) => record_failure(&db, &settings, &metrics, work, &e).await,
                    }
                }
            }
        }
    }
}

/// Applies stored events in one transaction and marks them COMPLETED; the orders whose
/// status changed (on PostgreSQL also announced to every replica, at commit). A
/// handful of statements whatever the group's size (see `orders::apply`).
pub async fn apply_group(db: &DatabaseConnection, group: &[Work]) -> Result<Vec<String>, DbErr> {
    let txn = crate::db::begin_relaxed(db).await?;
    let now = now_ms();
    let items: Vec<apply::Item> = group
        .iter()
        .map(|w| apply::Item {
            tenant_id: w.tenant_id,
            facts: &w.facts,
        })
        .collect();
    let mut applied = apply::apply_group(&*txn, &items, now).await?;
    crate::subscriptions::apply_into(&*txn, &items, now, &mut applied).await?;
    // The restaurant's backend hears of each change: written with it.
    let outgoing = Outgoing {
        orders: &applied.changes,
        subscriptions: &applied.subscriptions,
        forwards: &[],
        presence: None,
    };
    crate::notify::outbox::enqueue(&*txn, outgoing).await?;
    let done: Vec<log::Completed> = group
        .iter()
        .zip(applied.applied)
        .map(|(work, a)| log::Completed {
            row_id: work.event_row_id,
            attempts: work.attempts + 1,
            outcome: a.outcome.as_str(),
            order_id: a.order_id,
        })
        .collect();
    log::mark_completed(&*txn, &done, now).await?;
    let mut changed: Vec<String> = applied.changes.into_iter().map(|c| c.order.id).collect();
    changed.sort();
    changed.dedup();
    crate::orders::store::announce(&*txn, &changed).await?;
    txn.commit().await?;
    Ok(changed)
}

/// Backoff before attempt `n + 1`, after `n` failed attempts.
pub fn backoff(settings: &Processing, failed_attempts: i32) -> Duration {
    let factor = 1u32 << (failed_attempts.clamp(1, 16) - 1) as u32;
    (settings.retry_base * factor).min(Duration::from_secs(15 * 60))
}

#[tracing::instrument(name = "apply", skip_all, fields(
    tenant_id = work.tenant_id,
    event_row_id = work.event_row_id,
    stripe_event_id = %work.facts.event_id,
))]
async fn record_failure(
    db: &DatabaseConnection,
    settings: &Processing,
    metrics: &Metrics,
    work: &Work,
    error: &DbErr,
) {
    let attempts = work.attempts + 1;
    let message = format!("attempt {attempts} of {}: {error}", settings.max_attempts);
    let next = if attempts >= settings.max_attempts {
        metrics.event_failed();
        tracing::error!(event_row_id = work.event_row_id, stripe_event_id = %work.facts.event_id, error = %message, "event failed for good");
        AfterFailure::GiveUp
    } else {
        tracing::warn!(event_row_id = work.event_row_id, stripe_event_id = %work.facts.event_id, error = %message, "event will be retried");
        AfterFailure::RetryAt(now_ms() + backoff(settings, attempts).as_millis() as i64)
    };
    if let Err(e) = log::record_failure(db, work.event_row_id, attempts, &message, next).await {
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
    let due = log::due(db, now, settings.batch_size as u64 * 2).await?;
    let mut claimed = 0;
    for row in due {
        if !log::claim(db, &row, now, settings.lease).await? {
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
            Err(e) => log::mark_unparseable(db, row.id, &e.to_string()).await?,
        }
    }
    Ok(claimed)
}
