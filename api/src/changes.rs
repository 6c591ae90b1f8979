//! One change feed. A committed change is announced by one call here, which tells
//! everything in this process that depends on it — the widgets waiting on an order
//! (`orders::watch`), the cached order statuses, the secret cache, the notification
//! sender — and, on PostgreSQL, every other replica: order changes through
//! `pg_notify('orders_changed', ids)` (an id a line), secret changes through triggers
//! (migration `secret_changes`), both heard by `listen`. The inbox's order changes are
//! announced just after their commit, by a connection of its own
//! (`db::announce_after`: out of the commit's lock for announcements); the rarer ones
//! (the processor, an admin's override, recovery) in the changing transaction
//! (`orders::store::announce`).

use crate::orders::watch::Watchers;
use crate::tenants::secret_cache::SecretCache;
use std::sync::Arc;
use tokio::sync::Notify;

/// The PostgreSQL channel of order changes.
pub use crate::orders::watch::CHANNEL as ORDERS_CHANNEL;

/// The PostgreSQL channel of changes to tenants' secrets (see the migration
/// `secret_changes`: triggers announce them, whoever makes them).
pub const SECRETS_CHANNEL: &str = "secrets_changed";

pub struct Changes {
    /// Widgets waiting on orders, and the orders' cached statuses.
    pub watchers: Arc<Watchers>,
    secrets: Arc<SecretCache>,
    /// Woken when a change wrote notifications: the sender looks at once.
    outbox: Arc<Notify>,
    /// On PostgreSQL, where `orders_to_announce` leaves order ids for other replicas.
    announcements: Option<crate::db::Announcements>,
}

impl Changes {
    pub fn new(secrets: Arc<SecretCache>, announcements: Option<crate::db::Announcements>) -> Self {
        Self {
            watchers: Arc::default(),
            secrets,
            outbox: Arc::default(),
            announcements,
        }
    }

    /// `orders`, for changes whose transaction did not announce them: other replicas
    /// are told too, just after (the inbox's groups).
    pub fn orders_to_announce(&self, order_ids: &[String], notified: bool) {
        self.orders(order_ids, notified);
        if let Some(announcements) = &self.announcements {
            announcements.push(order_ids);
        }
    }

    /// Orders whose change was committed here (with their notifications, when
    /// `notified`): their waiters wake and read the new status.
    pub fn orders(&self, order_ids: &[String], notified: bool) {
        for id in order_ids {
            self.watchers.changed(id);
        }
        if notified && !order_ids.is_empty() {
            self.outbox.notify_one();
        }
    }

    /// Notifications were written without an order changing (sent again): the sender
    /// looks at once.
    pub fn notifications(&self) {
        self.outbox.notify_one();
    }

    /// A tenant's secrets changed here: this process honours it at once (the database
    /// announces it to the others).
    pub fn secrets(&self, slug: &str) {
        self.secrets.invalidate(slug);
    }

    /// What the notification sender waits on.
    pub fn outbox(&self) -> Arc<Notify> {
        self.outbox.clone()
    }

    /// Listens on PostgreSQL for changes made by any replica (orders, and tenants'
    /// secrets), for as long as the gateway runs (supervised: a lost connection ends
    /// it, and it is started again). While it listens, cached secrets are kept until
    /// they change; when the connection is lost, announcements may have been missed,
    /// so both caches start afresh and secrets are re-read at the ordinary interval
    /// until it is back.
    pub async fn listen(self: Arc<Self>, url: String) {
        let mut listener = match crate::db::listen(&url, &[ORDERS_CHANNEL, SECRETS_CHANNEL]).await {
            Ok(listener) => listener,
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for changes");
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                return;
            }
        };
        self.secrets.set_announced(true);
        loop {
            match listener.next().await {
                Some((channel, payload)) if channel == SECRETS_CHANNEL => {
                    self.secrets.forget_announced(&payload)
                }
                Some((_, order_ids)) => {
                    for order_id in crate::db::unpack(&order_ids) {
                        self.watchers.changed(order_id);
                    }
                }
                None => {
                    self.secrets.set_announced(false);
                    self.watchers.statuses.clear();
                    tracing::warn!("stopped listening for changes; listening again");
                    return;
                }
            }
        }
    }
}
