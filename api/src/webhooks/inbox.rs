//! The inbox: where deliveries become durable rows, with grouped commits.
//!
//! Handlers hand a delivery to one writer task and wait for its commit. The writer
//! takes whatever has queued up while it was committing the previous group and writes
//! it in one transaction, so a busy gateway commits hundreds of events per fsync
//! while a quiet one commits each event at once. Only after the commit does the
//! handler answer Stripe, and only then does the event go to the processor.

use super::log::{self, Rejected, Verified};
use super::processor::{Queue, Work};
use super::rejected::Budget;
use crate::clock::now_ms;
use crate::tasks::Tasks;
use sea_orm::{DatabaseConnection, DbErr};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;
use tokio::sync::{Mutex, mpsc, oneshot};

/// What the last commits of verified events said about storage, for `/ready`.
#[derive(Default)]
pub struct StorageHealth {
    last_success_ms: AtomicI64,
    last_failure_ms: AtomicI64,
    last_error: std::sync::Mutex<String>,
}

impl StorageHealth {
    fn commit(&self, error: Option<&DbErr>) {
        match error {
            None => self.last_success_ms.store(now_ms(), Ordering::Relaxed),
            Some(e) => {
                *self.last_error.lock().expect("health lock") = e.to_string();
                self.last_failure_ms.store(now_ms(), Ordering::Relaxed);
            }
        }
    }

    /// Why storage is failing, when the latest commit within `recent` failed.
    pub fn failing(&self, recent: Duration) -> Option<String> {
        let failed = self.last_failure_ms.load(Ordering::Relaxed);
        let succeeded = self.last_success_ms.load(Ordering::Relaxed);
        (failed > succeeded && now_ms() - failed < recent.as_millis() as i64)
            .then(|| self.last_error.lock().expect("health lock").clone())
    }
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
    /// Which rejected deliveries become rows (see `rejected`).
    budget: Arc<Budget>,
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
    /// Starts the writer, supervised by `tasks`: if it ends, it is started again on the
    /// same queue (the deliveries of the group it was writing get 503).
    pub fn start(
        db: DatabaseConnection,
        processor: Queue,
        lease: Duration,
        budget: Arc<Budget>,
        health: Arc<StorageHealth>,
        tasks: &Arc<Tasks>,
    ) -> Self {
        let (tx, rx) = mpsc::channel(4 * MAX_GROUP);
        let rx = Arc::new(Mutex::new(rx));
        tasks.supervise("inbox writer", move || {
            writer(
                db.clone(),
                rx.clone(),
                processor.clone(),
                lease,
                health.clone(),
            )
        });
        Self { tx, budget }
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

    /// Records a rejected delivery without waiting: as a row while the tenant's budget
    /// for the minute lasts, else as a count. Under a flood, drops it rather than
    /// letting unverified traffic slow down real events.
    pub fn record_rejected(&self, rejected: Rejected) {
        if !self
            .budget
            .admit(rejected.tenant_id, rejected.status, now_ms())
        {
            return;
        }
        if self.tx.try_send(Job::Rejected(rejected)).is_err() {
            tracing::warn!("inbox full: a rejected delivery was not recorded");
        }
    }
}

async fn writer(
    db: DatabaseConnection,
    rx: Arc<Mutex<mpsc::Receiver<Job>>>,
    processor: Queue,
    lease: Duration,
    health: Arc<StorageHealth>,
) {
    let mut rx = rx.lock().await;
    let mut jobs = Vec::with_capacity(MAX_GROUP);
    while rx.recv_many(&mut jobs, MAX_GROUP).await > 0 {
        crate::tasks::fault("inbox writer");
        let mut verified = Vec::new();
        let mut rejected = Vec::new();
        for job in jobs.drain(..) {
            match job {
                Job::Verified(event, reply) => verified.push((event, reply)),
                Job::Rejected(r) => rejected.push(r),
            }
        }
        let group: Vec<&Verified> = verified.iter().map(|(event, _)| event).collect();
        let written = log::insert_verified(&db, &group, lease).await;
        health.commit(written.as_ref().err());
        match written {
            Ok(inserted) => {
                for ((event, reply), inserted_id) in verified.into_iter().zip(inserted) {
                    if let Some(id) = inserted_id {
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
                        duplicate: inserted_id.is_none(),
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
        // Rejected deliveries are recorded apart: a row that cannot be written must never
        // cost a verified event its acknowledgement, nor delay it.
        if !rejected.is_empty()
            && let Err(e) = log::insert_rejected(&db, rejected).await
        {
            tracing::error!(error = %e, "could not record rejected deliveries");
        }
    }
}
