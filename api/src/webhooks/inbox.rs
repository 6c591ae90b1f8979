//! The inbox: where deliveries become durable rows, with grouped commits.
//!
//! Handlers hand a delivery to one writer task and wait for its commit. The writer
//! takes whatever has queued up while it was committing the previous group and writes
//! it in one transaction, so a busy gateway commits hundreds of events per fsync
//! while a quiet one commits each event at once. Only after the commit does the
//! handler answer Stripe.
//!
//! The same transaction applies the group (`orders::apply`) and stores its events
//! `COMPLETED`, so that each event is written once. When applying fails, that
//! transaction is rolled back and a second one stores the events `PROCESSING`; they go
//! to the processor, which retries them with backoff, and their acknowledgement never
//! waits for an apply that cannot succeed.

use super::log::{self, Rejected, Settled, Verified};
use super::processor::{Queue, Work};
use super::rejected::Budget;
use crate::changes::Changes;
use crate::clock::now_ms;
use crate::metrics::Metrics;
use crate::notify::outbox::{Forward, Outgoing};
use crate::orders::apply;
use crate::tasks::Tasks;
use sea_orm::{DatabaseConnection, DbErr};
use std::collections::HashSet;
use std::sync::Arc;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};
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

/// What storing one event of a group did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Written {
    /// The tenant had this event id already (also from earlier in the same group).
    Duplicate,
    /// Stored and applied: `COMPLETED`.
    Applied(i64),
    /// Stored `PROCESSING`: applying failed, the processor retries it.
    Pending(i64),
}

/// What storing a group did: one `Written` for each event, and the orders whose status
/// changed (once the transaction has committed).
#[derive(Debug, Default)]
pub struct GroupWritten {
    pub written: Vec<Written>,
    pub changed: Vec<String>,
    /// Whether notifications were written: only then is the sender woken.
    pub notified: bool,
}

/// Stores a group of verified events and applies the new ones, in one transaction
/// (see the module's documentation). When applying fails, that transaction is rolled
/// back and the group is stored again, `PROCESSING`, for the processor: rare enough
/// that it is cheaper than a savepoint around every apply (two round trips a group).
/// The order changes are announced to other replicas in the transaction (recovery,
/// from the CLI too: no one else would announce them).
pub async fn store_group(
    db: &DatabaseConnection,
    group: &[&Verified],
    lease: Duration,
) -> Result<GroupWritten, DbErr> {
    let how = How {
        lease,
        apply: true,
        announce: true,
    };
    store_group_in_turn(db, group, how, &mut None::<()>).await
}

/// How a group is written.
#[derive(Clone, Copy)]
struct How {
    lease: Duration,
    /// Applied in the same transaction (else stored `PROCESSING`).
    apply: bool,
    /// Its order changes announced to other replicas in the transaction (else the
    /// caller announces them after the commit: `Changes::orders_to_announce`).
    announce: bool,
}

/// `store_group`, holding `turn` until the group's statements have run and giving it
/// up as its commit begins (see `writer`).
async fn store_group_in_turn<T>(
    db: &DatabaseConnection,
    group: &[&Verified],
    how: How,
    turn: &mut Option<T>,
) -> Result<GroupWritten, DbErr> {
    match write_group_again(db, group, how, turn).await? {
        Ok(written) => Ok(written),
        Err(e) => {
            tracing::warn!(error = %e, events = group.len(), "applying failed; the events are stored for the processor");
            let how = How {
                apply: false,
                ..how
            };
            write_group_again(db, group, how, turn)
                .await?
                .map_err(|e| DbErr::Custom(format!("storing without applying: {e}")))
        }
    }
}

/// How often a group is written again because another writer stored one of its
/// events (or created one of its payments) meanwhile: each time, what it stored is
/// read as stored, so a second try succeeds unless yet another writer raced it.
const STORED_MEANWHILE_TRIES: usize = 4;

/// `write_group`, written again when another writer stored one of the group's events
/// or created one of its payments between the group's reads and its inserts: the
/// unique indexes refuse the insert (`log::is_stored_meanwhile`), and the next try
/// reads what that writer stored.
async fn write_group_again<T>(
    db: &DatabaseConnection,
    group: &[&Verified],
    how: How,
    turn: &mut Option<T>,
) -> Result<Result<GroupWritten, DbErr>, DbErr> {
    let mut tries = 1;
    loop {
        let written = write_group(db, group, how, turn).await;
        let raced = match &written {
            Err(e) | Ok(Err(e)) => log::is_stored_meanwhile(e),
            Ok(Ok(_)) => false,
        };
        if !raced || tries == STORED_MEANWHILE_TRIES {
            return written;
        }
        tracing::debug!(
            events = group.len(),
            "another writer stored part of the group meanwhile; writing it again"
        );
        tries += 1;
    }
}

/// One try of `store_group`, applying or not: `Ok(Err(_))` when applying failed and
/// nothing was written. `turn` is given up (dropped) as the commit begins.
async fn write_group<T>(
    db: &DatabaseConnection,
    group: &[&Verified],
    how: How,
    turn: &mut Option<T>,
) -> Result<Result<GroupWritten, DbErr>, DbErr> {
    let How { lease, apply, .. } = how;
    let now = now_ms();
    let txn = crate::db::begin_write(db).await?;
    log::take_turn_at_boundary(&*txn, now).await?;
    let items: Vec<apply::Item> = group
        .iter()
        .map(|e| apply::Item {
            tenant_id: e.tenant_id,
            facts: &e.facts,
        })
        .collect();
    // Applying, the rows the group names are read and locked first; on PostgreSQL the
    // same statement says which of its events are stored already.
    let mut read = None;
    if apply {
        match read_for_apply(&*txn, &items).await {
            Ok(r) => read = Some(r),
            Err(e) => {
                txn.rollback().await?;
                return Ok(Err(e));
            }
        }
    }
    let stored = match read.as_mut().and_then(|r| r.stored.take()) {
        Some(stored) => stored,
        None => log::already_stored(&*txn, group).await?,
    };
    // The first delivery of each new event id is the one stored and applied.
    let mut seen: HashSet<(i64, &str)> = HashSet::new();
    let fresh: Vec<usize> = (0..group.len())
        .filter(|&i| {
            let key = (group[i].tenant_id, group[i].facts.event_id.as_str());
            !stored.contains(&(key.0, key.1.to_string())) && seen.insert(key)
        })
        .collect();
    let forwards = forwards_of(group, &fresh);
    let notified;
    let (settled, changed): (Vec<Settled>, Vec<String>) = if let Some(read) = read {
        let items: Vec<apply::Item> = fresh.iter().map(|&i| items[i]).collect();
        let applied = match apply_in(&*txn, read, &items, &forwards, now, how.announce).await {
            Ok((applied, written)) => {
                notified = written;
                applied
            }
            Err(e) => {
                txn.rollback().await?;
                return Ok(Err(e));
            }
        };
        let settled = applied
            .applied
            .into_iter()
            .map(|a| Settled::Completed {
                outcome: a.outcome.as_str(),
                order_id: a.order_id,
            })
            .collect();
        let mut changed: Vec<String> = applied.changes.into_iter().map(|c| c.order.id).collect();
        changed.sort();
        changed.dedup();
        (settled, changed)
    } else {
        let (settled, written) = store_unapplied(&*txn, group, &fresh, &forwards).await?;
        notified = written;
        (settled, Vec::new())
    };
    let rows: Vec<(&Verified, Settled)> = fresh
        .iter()
        .zip(settled)
        .map(|(&i, settled)| (group[i], settled))
        .collect();
    let ids = log::insert_verified(&*txn, &rows, lease, now).await?;
    drop(turn.take());
    txn.commit().await?;
    let mut written = vec![Written::Duplicate; group.len()];
    for ((&i, (_, settled)), id) in fresh.iter().zip(&rows).zip(ids) {
        // Not inserted (SQLite): another writer stored it meanwhile (applying again
        // changed nothing that it had not).
        let Some(id) = id else { continue };
        written[i] = match settled {
            Settled::Completed { .. } => Written::Applied(id),
            Settled::Processing => Written::Pending(id),
        };
    }
    Ok(Ok(GroupWritten {
        written,
        changed,
        notified: notified > 0,
    }))
}

/// Not applied now: the processor applies the events from their payloads later, except
/// an event signed in the other mode, settled now (its payload cannot say so). They are
/// forwarded all the same; how many notifications that wrote.
async fn store_unapplied<C: sea_orm::ConnectionTrait>(
    db: &C,
    group: &[&Verified],
    fresh: &[usize],
    forwards: &[Forward<'_>],
) -> Result<(Vec<Settled>, usize), DbErr> {
    let settled = fresh
        .iter()
        .map(|&i| match group[i].facts.signed_in_other_mode() {
            true => Settled::Completed {
                outcome: apply::Outcome::ModeMismatch.as_str(),
                order_id: None,
            },
            false => Settled::Processing,
        })
        .collect();
    let outgoing = Outgoing {
        forwards,
        ..Outgoing::default()
    };
    let written = crate::notify::outbox::enqueue(db, outgoing).await?;
    Ok((settled, written))
}

/// Each new event is forwarded to the endpoints that subscribe to its type, whatever
/// applying it does (CONTRACT §12).
fn forwards_of<'a>(group: &[&'a Verified], fresh: &[usize]) -> Vec<Forward<'a>> {
    fresh
        .iter()
        .map(|&i| Forward {
            tenant_id: group[i].tenant_id,
            event_id: &group[i].facts.event_id,
            event_type: &group[i].facts.event_type,
            body: &group[i].payload,
        })
        .collect()
}

/// Reads and locks the rows the whole group names, and which of its events are stored
/// (see `apply::read_group`).
async fn read_for_apply<C: sea_orm::ConnectionTrait>(
    db: &C,
    items: &[apply::Item<'_>],
) -> Result<apply::GroupRead, DbErr> {
    if crate::tasks::refused("inline apply") {
        return Err(DbErr::Custom(
            "inline apply refused (GATEWAY_REFUSE)".into(),
        ));
    }
    apply::read_group(db, items, true).await
}

/// Applies the new items to the rows read and writes what follows from them:
/// notifications of each change and of the events forwarded, and (on PostgreSQL, when
/// `announce`) the announcement to other replicas.
async fn apply_in<C: sea_orm::ConnectionTrait>(
    db: &C,
    read: apply::GroupRead,
    items: &[apply::Item<'_>],
    forwards: &[Forward<'_>],
    now: i64,
    announce: bool,
) -> Result<(apply::GroupApplied, usize), DbErr> {
    // On PostgreSQL the group's read said which of its tenants have endpoints.
    let have_endpoints = read.endpoint_tenants.clone();
    let mut applied = apply::apply_read(db, read, items, now).await?;
    crate::subscriptions::apply_into(db, items, now, &mut applied).await?;
    let outgoing = Outgoing {
        orders: &applied.changes,
        subscriptions: &applied.subscriptions,
        forwards,
        presence: have_endpoints.as_ref(),
    };
    let notified = crate::notify::outbox::enqueue(db, outgoing).await?;
    if announce {
        let ids: Vec<String> = applied.changes.iter().map(|c| c.order.id.clone()).collect();
        crate::orders::store::announce(db, &ids).await?;
    }
    Ok((applied, notified))
}

/// A verified delivery, when it was handed to the writers, and where its answer goes.
type Job = (Verified, Instant, oneshot::Sender<Result<Stored, String>>);

#[derive(Clone)]
pub struct Inbox {
    tx: mpsc::Sender<Job>,
    /// Rejected deliveries go to one recorder of their own, in the order they came:
    /// a row that cannot be written never costs a verified event its acknowledgement.
    rejected: mpsc::Sender<Rejected>,
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
    /// Starts the writer, supervised by `tasks`: if it ends, it is started again on the
    /// same queue (the deliveries of the group it was writing get 503).
    pub fn start(cx: WriterContext, budget: Arc<Budget>, tasks: &Arc<Tasks>) -> Self {
        let (tx, rx) = mpsc::channel(4 * MAX_GROUP);
        let rx = Arc::new(Mutex::new(rx));
        let (rejected, rejected_rx) = mpsc::channel(4 * MAX_GROUP);
        let rejected_rx = Arc::new(Mutex::new(rejected_rx));
        let db = cx.db.clone();
        tasks.supervise("rejected recorder", move || {
            recorder(db.clone(), rejected_rx.clone())
        });
        for n in 0..cx.writer_count() {
            let (cx, rx) = (cx.clone(), rx.clone());
            let name = match n {
                0 => "inbox writer".to_string(),
                n => format!("inbox writer {n}"),
            };
            tasks.supervise(name, move || writer(cx.clone(), rx.clone()));
        }
        Self {
            tx,
            rejected,
            budget,
        }
    }

    /// Stores a verified event; returns once it is committed.
    pub async fn store(&self, event: Verified) -> Result<Stored, InboxError> {
        let (reply, done) = oneshot::channel();
        self.tx
            .send((event, Instant::now(), reply))
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
        if self.admits_rejected(&rejected) {
            self.send_rejected(rejected);
        }
    }

    /// Whether the tenant's budget for the minute takes this rejected delivery as a
    /// row (counting it either way); then `send_rejected` records it.
    pub fn admits_rejected(&self, rejected: &Rejected) -> bool {
        self.budget
            .admit(rejected.tenant_id, rejected.status, now_ms())
    }

    /// Records an admitted rejected delivery without waiting.
    pub fn send_rejected(&self, rejected: Rejected) {
        if self.rejected.try_send(rejected).is_err() {
            tracing::warn!("inbox full: a rejected delivery was not recorded");
        }
    }

    /// Where admitted rejected deliveries are sent, for a task that records them later.
    pub fn rejected_sink(&self) -> mpsc::Sender<Rejected> {
        self.rejected.clone()
    }
}

/// What the writer needs besides its queue.
#[derive(Clone)]
pub struct WriterContext {
    pub db: DatabaseConnection,
    pub processor: Queue,
    pub lease: Duration,
    pub health: Arc<StorageHealth>,
    pub metrics: Arc<Metrics>,
    pub changes: Arc<Changes>,
    /// How many writers take groups from the queue at once.
    pub writers: usize,
}

impl WriterContext {
    fn writer_count(&self) -> usize {
        self.writers.max(1)
    }
}

/// Takes groups from the queue and writes them. The writers take turns: one holds
/// the queue from taking its group until the group's statements have run, and lets
/// it go as its commit begins, so that the next writer takes what queued up meanwhile
/// and runs its statements while the first one waits for the disk. One group's
/// statements run at a time (no writer waits on another's row locks, and the
/// groups are as large as the time between commits makes them), while commits
/// overlap. With writers taking groups as soon as any delivery came, each took a few
/// events at a time: on PostgreSQL three such writers cost 158–202 µs of the
/// database's CPU a webhook in the benchmark, three taking turns 123–141 µs, and one
/// writer alone 110–121 µs (but its commits do not overlap: its latency at half the
/// maximum was two to three times theirs when every event was a new payment).
async fn writer(cx: WriterContext, rx: Arc<Mutex<mpsc::Receiver<Job>>>) {
    let mut jobs = Vec::with_capacity(MAX_GROUP);
    loop {
        let mut queue = rx.lock().await;
        if queue.recv_many(&mut jobs, MAX_GROUP).await == 0 {
            break;
        }
        let taken = Instant::now();
        let statements_ended = OnceLock::new();
        let mut turn = Some(Turn {
            _queue: queue,
            ended: &statements_ended,
        });
        crate::tasks::fault_on("inbox writer", |key| {
            jobs.iter().any(|(event, _, _)| event.facts.event_id == key)
        });
        let verified: Vec<Job> = std::mem::take(&mut jobs);
        for (_, queued, _) in &verified {
            cx.metrics
                .inbox_queued(taken.saturating_duration_since(*queued));
        }
        let group: Vec<&Verified> = verified.iter().map(|(event, _, _)| event).collect();
        let how = How {
            lease: cx.lease,
            apply: true,
            announce: false,
        };
        let written = store_group_in_turn(&cx.db, &group, how, &mut turn).await;
        drop(turn);
        if written.is_ok() {
            let ended = *statements_ended.get().unwrap_or(&taken);
            cx.metrics
                .inbox_group(group.len(), ended - taken, ended.elapsed());
        }
        cx.health.commit(written.as_ref().err());
        match written {
            Ok(GroupWritten {
                written,
                changed,
                notified,
            }) => {
                let applied = written
                    .iter()
                    .filter(|w| matches!(w, Written::Applied(_)))
                    .count();
                cx.metrics.events_completed(applied);
                // The sender is woken only when there is something to send; other
                // replicas are told now, after the commit.
                cx.changes.orders_to_announce(&changed, false);
                if notified {
                    cx.changes.notifications();
                }
                for ((event, _, reply), written) in verified.into_iter().zip(written) {
                    event.span.in_scope(|| match written {
                        Written::Applied(row) => tracing::debug!(row, "stored and applied"),
                        Written::Pending(row) => tracing::debug!(row, "stored; left to an applier"),
                        Written::Duplicate => tracing::debug!("a duplicate: already stored"),
                    });
                    if let Written::Pending(id) = written {
                        // A full queue only delays: the sweep picks the event up later.
                        let work = Work {
                            event_row_id: id,
                            tenant_id: event.tenant_id,
                            attempts: 0,
                            facts: event.facts,
                        };
                        if !cx.processor.offer(work) {
                            tracing::debug!(
                                event_row_id = id,
                                "processor queue full; left to the sweep"
                            );
                        }
                    }
                    let _ = reply.send(Ok(Stored {
                        duplicate: written == Written::Duplicate,
                    }));
                }
            }
            Err(e) => {
                tracing::error!(error = %e, events = verified.len(), "could not store webhook events");
                for (event, _, reply) in verified {
                    event
                        .span
                        .in_scope(|| tracing::debug!(error = %e, "not stored; answered 503"));
                    let _ = reply.send(Err(e.to_string()));
                }
            }
        }
    }
}

/// A writer's turn: its hold on the queue, given up as its group's commit begins,
/// which is when the group's statements ended.
struct Turn<'a> {
    _queue: tokio::sync::MutexGuard<'a, mpsc::Receiver<Job>>,
    ended: &'a OnceLock<Instant>,
}

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        let _ = self.ended.set(Instant::now());
    }
}

/// Records rejected deliveries, whatever queued up since the last write in one insert.
async fn recorder(db: DatabaseConnection, rx: Arc<Mutex<mpsc::Receiver<Rejected>>>) {
    let mut rx = rx.lock().await;
    let mut rejected = Vec::with_capacity(MAX_GROUP);
    while rx.recv_many(&mut rejected, MAX_GROUP).await > 0 {
        if let Err(e) = log::insert_rejected(&db, std::mem::take(&mut rejected)).await {
            tracing::error!(error = %e, "could not record rejected deliveries");
        }
    }
}
