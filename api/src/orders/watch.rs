//! Widgets waiting for an order to change (`GET …/status?wait=N`): one `Notify` per
//! watched order, woken when the order's status changes — by this process, or, on
//! PostgreSQL, by any replica (its applier sends `pg_notify('order_changed', id)` in
//! the transaction that changed the order, and every replica listens). A waiting
//! widget costs a few hundred bytes and no database query until it is woken.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use tokio::sync::Notify;

/// The PostgreSQL channel of order changes.
pub const CHANNEL: &str = "order_changed";

#[derive(Default)]
pub struct Watchers {
    waiting: Mutex<HashMap<String, Weak<Notify>>>,
    /// Woken when a change wrote notifications: the sender looks at once.
    pub outbox: Arc<Notify>,
}

impl Watchers {
    /// What to wait on for this order (shared by everyone watching it).
    pub fn watch(&self, order_id: &str) -> Arc<Notify> {
        let mut waiting = self.waiting.lock().expect("watchers lock");
        if let Some(notify) = waiting.get(order_id).and_then(Weak::upgrade) {
            return notify;
        }
        // Forget orders nobody waits for any more, now and then.
        if waiting.len() >= 1024 && waiting.len().is_power_of_two() {
            waiting.retain(|_, w| w.strong_count() > 0);
        }
        let notify = Arc::new(Notify::new());
        waiting.insert(order_id.to_string(), Arc::downgrade(&notify));
        notify
    }

    /// Wakes everyone waiting for this order.
    pub fn changed(&self, order_id: &str) {
        let notify = self
            .waiting
            .lock()
            .expect("watchers lock")
            .get(order_id)
            .and_then(Weak::upgrade);
        if let Some(notify) = notify {
            notify.notify_waiters();
        }
    }

    /// Orders watched now (for tests and metrics).
    pub fn watched(&self) -> usize {
        let waiting = self.waiting.lock().expect("watchers lock");
        waiting.values().filter(|w| w.strong_count() > 0).count()
    }
}

/// Listens on PostgreSQL for changes made by any replica, for as long as the gateway
/// runs (supervised: a lost connection ends it, and it is started again).
pub async fn listen(url: String, watchers: Arc<Watchers>) {
    use sea_orm::sqlx::postgres::PgListener;
    let mut listener = match PgListener::connect(&url).await {
        Ok(listener) => listener,
        Err(e) => {
            tracing::warn!(error = %e, "cannot listen for order changes");
            tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            return;
        }
    };
    if let Err(e) = listener.listen(CHANNEL).await {
        tracing::warn!(error = %e, "cannot listen for order changes");
        return;
    }
    loop {
        match listener.recv().await {
            Ok(note) => watchers.changed(note.payload()),
            Err(e) => {
                tracing::warn!(error = %e, "stopped listening for order changes");
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn a_change_wakes_the_waiters_of_that_order_only() {
        let watchers = Watchers::default();
        let a = watchers.watch("ord_a");
        let b = watchers.watch("ord_b");
        let woken = |n: Arc<Notify>| async move { n.notified().await };
        let waiting_a = tokio::spawn(woken(a.clone()));
        let waiting_b = tokio::spawn(woken(b.clone()));
        tokio::time::sleep(Duration::from_millis(20)).await;
        watchers.changed("ord_a");
        tokio::time::timeout(Duration::from_millis(200), waiting_a)
            .await
            .expect("a woken")
            .unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!waiting_b.is_finished(), "b is not woken by a's change");
        waiting_b.abort();
        assert_eq!(watchers.watched(), 2);
        drop((a, b));
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert_eq!(watchers.watched(), 0);
    }
}
