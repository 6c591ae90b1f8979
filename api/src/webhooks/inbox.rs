//! The inbox: where deliveries become durable rows, with grouped commits.
//!
//! Handlers hand a delivery to one writer task and wait for its commit. The writer
//! takes whatever has queued up while it was committing the previous group and writes
//! it in one transaction, so a busy gateway commits hundreds of events per fsync
//! while a quiet one commits each event at once. Only after the commit does the
//! handler answer Stripe, and only then does the event go to the processor.

use super::processor::{Queue, Work};
use super::status;
use crate::db::now_ms;
use crate::stripe::event::EventFacts;
use entity::webhook_event;
use sea_orm::{DatabaseConnection, DbErr, EntityTrait, Set, TryInsertResult};
use std::collections::HashMap;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

/// A verified event, to be stored `PROCESSING` unless the tenant already has it.
#[derive(Debug)]
pub struct Verified {
    pub tenant_id: i64,
    pub tenant_slug: String,
    pub payload: String,
    pub facts: EventFacts,
}

/// A delivery that will not be processed: unverified, unknown tenant, or not an event.
#[derive(Debug)]
pub struct Rejected {
    pub tenant_id: Option<i64>,
    pub tenant_slug: String,
    pub status: &'static str,
    pub stripe_event_id: Option<String>,
    pub event_type: Option<String>,
    pub error: String,
    /// Only for verified bodies.
    pub payload: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stored {
    pub duplicate: bool,
}

enum Job {
    Verified(Verified, oneshot::Sender<Result<Stored, String>>),
    Rejected(Rejected),
}

#[derive(Clone)]
pub struct Inbox {
    tx: mpsc::Sender<Job>,
}

#[derive(Debug, thiserror::Error)]
pub enum InboxError {
    #[error("storage unavailable: {0}")]
    Storage(String),
    #[error("the inbox is shut down")]
    Closed,
}

const MAX_GROUP: usize = 512;

impl Inbox {
    /// Starts the writer task.
    pub fn start(db: DatabaseConnection, processor: Queue, lease: Duration) -> Self {
        let (tx, rx) = mpsc::channel(4 * MAX_GROUP);
        tokio::spawn(writer(db, rx, processor, lease));
        Self { tx }
    }

    /// Stores a verified event; returns once it is committed.
    pub async fn store(&self, event: Verified) -> Result<Stored, InboxError> {
        let (reply, done) = oneshot::channel();
        self.tx
            .send(Job::Verified(event, reply))
            .await
            .map_err(|_| InboxError::Closed)?;
        done.await
            .map_err(|_| InboxError::Closed)?
            .map_err(InboxError::Storage)
    }

    /// Records a rejected delivery without waiting; under a flood, drops it rather
    /// than letting unverified traffic slow down real events.
    pub fn record_rejected(&self, rejected: Rejected) {
        if self.tx.try_send(Job::Rejected(rejected)).is_err() {
            tracing::warn!("inbox full: a rejected delivery was not recorded");
        }
    }
}

async fn writer(
    db: DatabaseConnection,
    mut rx: mpsc::Receiver<Job>,
    processor: Queue,
    lease: Duration,
) {
    let mut jobs = Vec::with_capacity(MAX_GROUP);
    while rx.recv_many(&mut jobs, MAX_GROUP).await > 0 {
        let mut verified = Vec::new();
        let mut rejected = Vec::new();
        for job in jobs.drain(..) {
            match job {
                Job::Verified(event, reply) => verified.push((event, reply)),
                Job::Rejected(r) => rejected.push(r),
            }
        }
        match write_group(&db, &verified, rejected, lease).await {
            Ok(results) => {
                for ((event, reply), result) in verified.into_iter().zip(results) {
                    if let Some(id) = result.inserted_id {
                        // A full queue only delays: the sweep picks the event up later.
                        let work = Work {
                            event_row_id: id,
                            tenant_id: event.tenant_id,
                            attempts: 0,
                            facts: event.facts,
                        };
                        if !processor.offer(work) {
                            tracing::debug!(
                                event_row_id = id,
                                "processor queue full; left to the sweep"
                            );
                        }
                    }
                    let _ = reply.send(Ok(Stored {
                        duplicate: result.inserted_id.is_none(),
                    }));
                }
            }
            Err(e) => {
                tracing::error!(error = %e, events = verified.len(), "could not store webhook events");
                for (_, reply) in verified {
                    let _ = reply.send(Err(e.to_string()));
                }
            }
        }
    }
}

/// Text as PostgreSQL can store it (no NUL).
fn storable(text: String) -> String {
    if text.contains('\0') {
        text.replace('\0', "\u{fffd}")
    } else {
        text
    }
}

async fn record_rejected_rows(
    db: &DatabaseConnection,
    rejected: Vec<Rejected>,
    now: i64,
) -> Result<(), DbErr> {
    let rows = rejected.into_iter().map(|r| webhook_event::ActiveModel {
        tenant_id: Set(r.tenant_id),
        tenant_slug: Set(r.tenant_slug),
        stripe_event_id: Set(r.stripe_event_id.map(storable)),
        dedup_key: Set(None),
        event_type: Set(r.event_type.map(storable)),
        status: Set(r.status.to_string()),
        outcome: Set(None),
        error: Set(Some(storable(r.error))),
        attempts: Set(0),
        payload: Set(r.payload.map(storable)),
        order_id: Set(None),
        received_at: Set(now),
        processed_at: Set(Some(now)),
        next_attempt_at: Set(None),
        ..Default::default()
    });
    let txn = crate::db::begin_write(db).await?;
    webhook_event::Entity::insert_many(rows)
        .exec_without_returning(&*txn)
        .await?;
    txn.commit().await
}

struct GroupResult {
    inserted_id: Option<i64>,
}

async fn write_group(
    db: &DatabaseConnection,
    verified: &[(Verified, oneshot::Sender<Result<Stored, String>>)],
    rejected: Vec<Rejected>,
    lease: Duration,
) -> Result<Vec<GroupResult>, DbErr> {
    let now = now_ms();
    let txn = crate::db::begin_write(db).await?;
    // The first delivery of an event id in this group is the one inserted; the rest
    // are duplicates of it, like deliveries of an id already stored.
    let mut first_of: HashMap<(i64, &str), usize> = HashMap::new();
    let mut rows = Vec::new();
    for (i, (event, _)) in verified.iter().enumerate() {
        if first_of.contains_key(&(event.tenant_id, event.facts.event_id.as_str())) {
            continue;
        }
        first_of.insert((event.tenant_id, event.facts.event_id.as_str()), i);
        rows.push(webhook_event::ActiveModel {
            tenant_id: Set(Some(event.tenant_id)),
            tenant_slug: Set(event.tenant_slug.clone()),
            stripe_event_id: Set(Some(event.facts.event_id.clone())),
            dedup_key: Set(Some(event.facts.event_id.clone())),
            event_type: Set(Some(event.facts.event_type.clone())),
            status: Set(status::PROCESSING.to_string()),
            outcome: Set(None),
            error: Set(None),
            attempts: Set(0),
            payload: Set(Some(event.payload.clone())),
            order_id: Set(None),
            received_at: Set(now),
            processed_at: Set(None),
            next_attempt_at: Set(Some(now + lease.as_millis() as i64)),
            ..Default::default()
        });
    }
    let mut inserted: HashMap<(i64, String), i64> = HashMap::new();
    if !rows.is_empty() {
        let result = webhook_event::Entity::insert_many(rows)
            .on_conflict_do_nothing_on([
                webhook_event::Column::TenantId,
                webhook_event::Column::DedupKey,
            ])
            .exec_with_returning_many(&*txn)
            .await?;
        if let TryInsertResult::Inserted(models) = result {
            for m in models {
                if let (Some(tenant_id), Some(key)) = (m.tenant_id, m.dedup_key) {
                    inserted.insert((tenant_id, key), m.id);
                }
            }
        }
    }
    txn.commit().await?;
    // Rejected deliveries are recorded apart: a row that cannot be written must never
    // cost a verified event its acknowledgement.
    if !rejected.is_empty()
        && let Err(e) = record_rejected_rows(db, rejected, now).await
    {
        tracing::error!(error = %e, "could not record rejected deliveries");
    }
    Ok(verified
        .iter()
        .enumerate()
        .map(|(i, (event, _))| {
            let key = (event.tenant_id, event.facts.event_id.clone());
            let is_first =
                first_of.get(&(event.tenant_id, event.facts.event_id.as_str())) == Some(&i);
            GroupResult {
                inserted_id: if is_first {
                    inserted.get(&key).copied()
                } else {
                    None
                },
            }
        })
        .collect())
}
