//! Widgets waiting for an order to change (`GET …/status?wait=N`): one `Notify` per
//! watched order, woken when the order's status changes — by this process, or, on
//! PostgreSQL, by any replica (which announces the orders it changed on
//! `orders_changed`, and every replica listens: `changes`). A waiting widget costs a
//! few hundred bytes and no database query until it is woken.
//!
//! The same changes keep `StatusCache` honest: widgets that poll an order that did
//! not change are answered from memory, without a query.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};
use tokio::sync::Notify;

/// The PostgreSQL channel of order changes: each announcement names changed orders,
/// one a line (`db::announce::pack`).
pub const CHANNEL: &str = "orders_changed";

#[derive(Default)]
pub struct Watchers {
    waiting: Mutex<HashMap<String, Weak<Notify>>>,
    /// What widgets were last told of each order; forgotten at every change.
    pub statuses: StatusCache,
    /// Set when the process shuts down: every waiting widget is answered at once.
    closed: AtomicBool,
    closing: Notify,
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

    /// Wakes everyone waiting for this order (and forgets its cached status first, so
    /// that what they read next is the new one).
    pub fn changed(&self, order_id: &str) {
        self.statuses.forget(order_id);
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

    /// The process is shutting down: every widget waiting now, and any that comes
    /// while requests drain, is answered at once instead of when its wait ends.
    pub fn close(&self) {
        self.closed.store(true, Ordering::SeqCst);
        self.closing.notify_waiters();
    }

    /// Returns once `close` was called (at once if it was already).
    pub async fn closed(&self) {
        let closing = self.closing.notified();
        tokio::pin!(closing);
        closing.as_mut().enable();
        if self.closed.load(Ordering::SeqCst) {
            return;
        }
        closing.await
    }

    /// Orders watched now (for tests and metrics).
    pub fn watched(&self) -> usize {
        let waiting = self.waiting.lock().expect("watchers lock");
        waiting.values().filter(|w| w.strong_count() > 0).count()
    }
}

/// A widget's answer, ready to send: the JSON body and its ETag.
#[derive(Clone)]
pub struct CachedStatus {
    pub body: Arc<str>,
    pub etag: Arc<str>,
}

/// The status answers of recently polled orders, so that polling an unchanged order
/// costs no query. An entry is forgotten when its order changes (in this process, or
/// on PostgreSQL in any replica: `Watchers::changed`), and after `TTL` in any case,
/// which bounds how stale an answer can be when a change was not announced (a CLI on
/// SQLite, a LISTEN connection being re-established).
///
/// A read that began before a change must not put the old answer back after the change
/// forgot it: each of the `STRIPES` has a generation that every change bumps, and an
/// answer is kept only if its stripe's generation did not move while it was read.
pub struct StatusCache {
    entries: Mutex<HashMap<String, (CachedStatus, Instant)>>,
    generations: Box<[AtomicU64]>,
}

const STRIPES: usize = 256;
/// The longest an answer is served from memory.
pub const TTL: Duration = Duration::from_secs(1);
/// At most this many orders are kept (a few hundred bytes each); past it, all are
/// forgotten and the cache fills again with the orders polled now.
const CAPACITY: usize = 50_000;

impl Default for StatusCache {
    fn default() -> Self {
        Self {
            entries: Mutex::new(HashMap::new()),
            generations: (0..STRIPES).map(|_| AtomicU64::new(0)).collect(),
        }
    }
}

impl StatusCache {
    fn stripe(&self, order_id: &str) -> &AtomicU64 {
        let hash = order_id.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
            (h ^ b as u64).wrapping_mul(0x100_0000_01b3)
        });
        &self.generations[hash as usize % STRIPES]
    }

    /// The cached answer, if fresh.
    pub fn get(&self, order_id: &str) -> Option<CachedStatus> {
        let entries = self.entries.lock().expect("status cache lock");
        let (status, at) = entries.get(order_id)?;
        (at.elapsed() < TTL).then(|| status.clone())
    }

    /// Call before reading the order: what `put` needs to know that no change came
    /// between the read and the put.
    pub fn generation(&self, order_id: &str) -> u64 {
        self.stripe(order_id).load(Ordering::Acquire)
    }

    /// Keeps an answer read at `generation`, unless the order changed since.
    pub fn put(&self, order_id: &str, generation: u64, status: CachedStatus) {
        let mut entries = self.entries.lock().expect("status cache lock");
        if self.stripe(order_id).load(Ordering::Acquire) != generation {
            return;
        }
        if entries.len() >= CAPACITY {
            entries.clear();
        }
        entries.insert(order_id.to_string(), (status, Instant::now()));
    }

    /// Forgets an order's answer: it changed.
    pub fn forget(&self, order_id: &str) {
        let mut entries = self.entries.lock().expect("status cache lock");
        self.stripe(order_id).fetch_add(1, Ordering::AcqRel);
        entries.remove(order_id);
    }

    pub fn len(&self) -> usize {
        self.entries.lock().expect("status cache lock").len()
    }

    /// Forgets every answer (changes may have gone unannounced).
    pub fn clear(&self) {
        let mut entries = self.entries.lock().expect("status cache lock");
        for g in self.generations.iter() {
            g.fetch_add(1, Ordering::AcqRel);
        }
        entries.clear();
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
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

    fn answer(text: &'static str) -> CachedStatus {
        CachedStatus {
            body: text.into(),
            etag: "\"e\"".into(),
        }
    }

    #[test]
    fn a_cached_status_is_forgotten_when_its_order_changes() {
        let watchers = Watchers::default();
        let cache = &watchers.statuses;
        let g = cache.generation("ord_a");
        cache.put("ord_a", g, answer("paid"));
        cache.put("ord_b", cache.generation("ord_b"), answer("pending"));
        assert_eq!(&*cache.get("ord_a").unwrap().body, "paid");
        watchers.changed("ord_a");
        assert!(cache.get("ord_a").is_none(), "a change forgets the answer");
        assert_eq!(&*cache.get("ord_b").unwrap().body, "pending", "others stay");
    }

    #[test]
    fn an_answer_read_before_a_change_is_not_kept_after_it() {
        let cache = StatusCache::default();
        let before = cache.generation("ord_a");
        // The order changes while the old answer is being read from the database.
        cache.forget("ord_a");
        cache.put("ord_a", before, answer("pending (old)"));
        assert!(cache.get("ord_a").is_none());
        let after = cache.generation("ord_a");
        cache.put("ord_a", after, answer("paid"));
        assert_eq!(&*cache.get("ord_a").unwrap().body, "paid");
    }
}
