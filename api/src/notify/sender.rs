//! The notification sender: one loop per replica that sends, each round, the backlogs
//! to send in order (`ordered`) and then whatever else is due (`deliver`), side by side.

use super::deliver::{ATTEMPT_TIMEOUT, IN_FLIGHT, Sender, deliver_due};
use super::ordered;
use crate::config::Notifications;
use crate::outbound::{self, Destinations};
use crate::vault::KeyRing;
use sea_orm::DatabaseConnection;
use std::sync::Arc;
use std::time::{Duration, Instant};

const DRAIN_EVERY: Duration = Duration::from_millis(500);
use tokio::sync::{Notify, Semaphore};

/// Sends due notifications until the gateway stops; `wake` makes it look at once (a
/// commit just wrote some).
pub async fn run(
    db: DatabaseConnection,
    ring: KeyRing,
    settings: Notifications,
    wake: Arc<Notify>,
) {
    // Tenants choose these URLs: every address dialled is checked (CONTRACT §9).
    let http = outbound::client(
        ATTEMPT_TIMEOUT,
        Destinations::Public {
            allow_private: settings.allow_private,
        },
    );
    // Attempts run side by side: a receiver that hangs holds one slot for its timeout,
    // never the others' notifications.
    let slots = Arc::new(Semaphore::new(IN_FLIGHT));
    let draining = ordered::Draining::default();
    // Backlogs to send in order (after a resume or a resend) are looked for twice a
    // second, not at every wake: a busy gateway wakes the sender with every commit
    // that changed an order, and such backlogs are rare.
    let mut drained_at: Option<Instant> = None;
    loop {
        let woken = wake.notified();
        let sender = Sender {
            db: &db,
            ring: &ring,
            settings: &settings,
            http: &http,
        };
        if drained_at.is_none_or(|at| at.elapsed() >= DRAIN_EVERY) {
            drained_at = Some(Instant::now());
            if let Err(e) = ordered::drain(&sender, &draining).await {
                tracing::warn!(error = %e, "notifications to send in order could not be read");
            }
        }
        match deliver_due(&db, &ring, &settings, &http, &slots).await {
            Ok(0) => {}
            Ok(_) => continue,
            Err(e) => tracing::warn!(error = %e, "notifications could not be read"),
        }
        tokio::select! {
            _ = woken => {}
            _ = tokio::time::sleep(Duration::from_millis(500)) => {}
        }
    }
}
