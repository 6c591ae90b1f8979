//! The other-tenant check (`signed_for_another_tenant`), bounded (CONTRACT §10).
//!
//! A delivery that does not verify for its tenant, but whose timestamp is current, may
//! have been sent to the wrong restaurant's URL: it is checked against every other
//! tenant's secrets. That costs an HMAC of the body per tenant, and anyone can send
//! such a body, so the check never runs on the request's path: the refused delivery is
//! answered at once and handed here, to one worker that checks it on a blocking thread
//! while the process's budget (`BUDGET_PER_SEC` of CPU a second) lasts, then records
//! its row. Past the budget, or with the queue full, the row is recorded unchecked.
//!
//! Within the same budget, a delivery no secret signs is written back the way Stripe
//! writes its payloads and checked with its own tenant's secrets: if that verifies, a
//! proxy or framework re-wrote the body on its way (`body_altered`).

use super::log::Rejected;
use crate::clock::now_ms;
use crate::stripe::rewrite;
use crate::tenants::directory::{self, Directory};
use crate::vault::KeyRing;
use bytes::Bytes;
use sea_orm::DatabaseConnection;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{Mutex, mpsc};

/// The code of a refused delivery whose body was re-written before it reached us.
pub const BODY_ALTERED: &str = "body_altered";

/// The CPU the checks may use a second, for the whole process (5 % of one core).
pub const BUDGET_PER_SEC: Duration = Duration::from_millis(50);
/// Deliveries waiting to be checked; more are recorded unchecked.
const QUEUE: usize = 32;

/// A refused delivery to check: its row, and what to check it with.
pub struct Job {
    pub rejected: Rejected,
    pub body: Bytes,
    pub header: String,
}

#[derive(Clone)]
pub struct CrossCheck {
    tx: mpsc::Sender<Job>,
}

/// What the worker needs.
pub struct Context {
    pub db: DatabaseConnection,
    pub ring: KeyRing,
    pub directory: Arc<Directory>,
    pub tolerance_secs: i64,
    /// Where the checked rows go (the inbox's recorder).
    pub record: mpsc::Sender<Rejected>,
}

impl CrossCheck {
    pub fn start(cx: Context, tasks: &Arc<crate::tasks::Tasks>) -> Self {
        let (tx, rx) = mpsc::channel(QUEUE);
        let cx = Arc::new(cx);
        let rx = Arc::new(Mutex::new(rx));
        let budget = Arc::new(std::sync::Mutex::new(Budget::new(BUDGET_PER_SEC)));
        tasks.supervise("other-tenant check", move || {
            worker(cx.clone(), rx.clone(), budget.clone())
        });
        Self { tx }
    }

    /// Queues `job`; when the queue is full, hands its row to `unchecked` (to record
    /// it as it is).
    pub fn offer(&self, job: Job, unchecked: impl FnOnce(Rejected)) {
        if let Err(mpsc::error::TrySendError::Full(job) | mpsc::error::TrySendError::Closed(job)) =
            self.tx.try_send(job)
        {
            unchecked(job.rejected);
        }
    }
}

async fn worker(
    cx: Arc<Context>,
    rx: Arc<Mutex<mpsc::Receiver<Job>>>,
    budget: Arc<std::sync::Mutex<Budget>>,
) {
    let mut rx = rx.lock().await;
    while let Some(job) = rx.recv().await {
        let mut rejected = job.rejected;
        let allowed = budget.lock().expect("budget").allows(Instant::now());
        if let (true, Some(except)) = (allowed, rejected.tenant_id) {
            match cx.directory.secrets(&cx.db, &cx.ring).await {
                Ok(secrets) => {
                    let tolerance = cx.tolerance_secs;
                    let (body, header) = (job.body, job.header);
                    let checked = tokio::task::spawn_blocking(move || {
                        let started = Instant::now();
                        let now = now_ms() / 1000;
                        let signed =
                            directory::signed_by(&secrets, &body, &header, except, now, tolerance);
                        // Not another tenant's: was it Stripe's body, re-written on its way?
                        let altered = signed.is_none()
                            && rewrite::stripe_layout(&body).is_some_and(|layout| {
                                layout != body
                                    && directory::signed_by_own(
                                        &secrets, &layout, &header, except, now, tolerance,
                                    )
                            });
                        (signed, altered, started.elapsed())
                    })
                    .await;
                    if let Ok((signed, altered, spent)) = checked {
                        budget.lock().expect("budget").spend(spent);
                        rejected.signed_for_tenant_id = signed;
                        if altered {
                            rejected.error_code = BODY_ALTERED;
                            rejected.error = "no signature matches the body as received, but the same JSON \
                                written as Stripe writes it (two-space indentation, keys in their order) \
                                verifies: a proxy or framework in front of the gateway re-wrote the body"
                                .into();
                        }
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "the other tenants' secrets could not be read")
                }
            }
        } else {
            tracing::debug!("other-tenant check skipped: over its CPU budget");
        }
        if cx.record.try_send(rejected).is_err() {
            tracing::warn!("inbox full: a rejected delivery was not recorded");
        }
    }
}

/// A CPU budget that refills at `per_sec` a second, up to one second's worth, and may
/// be overdrawn by one check: the next one waits until it is paid back.
struct Budget {
    per_sec: Duration,
    balance: f64,
    at: Instant,
}

impl Budget {
    fn new(per_sec: Duration) -> Self {
        Self {
            per_sec,
            balance: per_sec.as_secs_f64(),
            at: Instant::now(),
        }
    }

    fn allows(&mut self, now: Instant) -> bool {
        let rate = self.per_sec.as_secs_f64();
        let refill = now.saturating_duration_since(self.at).as_secs_f64() * rate;
        self.balance = (self.balance + refill).min(rate);
        self.at = now;
        self.balance > 0.0
    }

    fn spend(&mut self, spent: Duration) {
        self.balance -= spent.as_secs_f64();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_budget_refills_at_its_rate_and_an_overdraft_is_paid_back_first() {
        let start = Instant::now();
        let mut budget = Budget::new(Duration::from_millis(50));
        assert!(budget.allows(start));
        // One check of 200 ms: four seconds' budget.
        budget.spend(Duration::from_millis(200));
        assert!(!budget.allows(start + Duration::from_secs(1)));
        assert!(!budget.allows(start + Duration::from_millis(2900)));
        assert!(budget.allows(start + Duration::from_millis(3100)));
        // It never saves up more than one second's worth.
        assert!(budget.allows(start + Duration::from_secs(100)));
        budget.spend(Duration::from_millis(60));
        assert!(!budget.allows(start + Duration::from_secs(100)));
    }
}
