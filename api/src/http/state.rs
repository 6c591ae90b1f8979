//! What every handler shares, and starting the workers behind it.

use super::ratelimit::{Guesses, Keyed, PasswordGate, keyed, spawn_keyed_cleanup};
use crate::config::Config;
use crate::diagnosis::{StripeCache, alerts};
use crate::metrics::Metrics;
use crate::notify;
use crate::orders::watch::{self, Watchers};
use crate::recovery;
use crate::tasks::Tasks;
use crate::tenants::secrets::SecretCache;
use crate::webhooks::crosscheck::{self, CrossCheck};
use crate::webhooks::inbox::{Inbox, StorageHealth, WriterContext};
use crate::webhooks::processor::{self, Queue};
use crate::webhooks::rejected::{self, Budget};
use sea_orm::{DatabaseConnection, DbErr};
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Arc;

/// When `/ready` last wrote, and what came of it.
pub type LastProbe = (std::time::Instant, Result<(), String>);

/// What every handler shares: one `Arc`, so that handing it to a request is one
/// reference count, not one per field (axum clones the state for every extractor).
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

impl std::ops::Deref for AppState {
    type Target = Shared;
    fn deref(&self) -> &Shared {
        &self.0
    }
}

pub struct Shared {
    pub db: DatabaseConnection,
    pub config: Arc<Config>,
    pub secrets: Arc<SecretCache>,
    pub inbox: Inbox,
    pub metrics: Arc<Metrics>,
    /// The processor's queue, for events an admin retries.
    pub queue: Queue,
    /// Login attempts per account and address (the route itself is limited per
    /// address): guesses from one address cannot lock the account out elsewhere.
    pub login_limiter: Arc<Keyed<(String, IpAddr)>>,
    /// Verified deliveries per tenant: spent only after the signature verifies.
    pub webhook_limiter: Arc<Keyed<i64>>,
    /// Orders per API key (its hash), once the key is known to be valid.
    pub orders_limiter: Arc<Keyed<[u8; 32]>>,
    /// Failed API keys per client address (`ratelimit::Guesses`).
    pub key_guesses: Arc<Guesses>,
    /// Password checks running at once (`LOGIN_CONCURRENCY`): argon2 takes ~19 MiB each.
    pub password_checks: Arc<PasswordGate>,
    /// The supervised background tasks (which are down, for `/ready`).
    pub tasks: Arc<Tasks>,
    /// What the inbox's commits said lately, for `/ready`.
    pub storage: Arc<StorageHealth>,
    /// The last write probe and when it ran, so that `/ready` writes at most once a second.
    pub write_probe: Arc<tokio::sync::Mutex<Option<LastProbe>>>,
    /// Every tenant's secrets, for naming a delivery signed for another restaurant.
    /// The other-tenant check of refused deliveries, off the request's path.
    pub cross_check: CrossCheck,
    /// What Stripe's API said lately, per tenant (diagnosis, alerts).
    pub stripe: Arc<StripeCache>,
    /// Widgets waiting for an order to change.
    pub watchers: Arc<Watchers>,
}

impl AppState {
    /// Starts the processor and the inbox writer on `db`.
    pub async fn start(config: Config, db: DatabaseConnection) -> Result<Self, DbErr> {
        let config = Arc::new(config);
        let metrics = Arc::new(Metrics::default());
        let tasks = Arc::new(Tasks::default());
        let processor_db = crate::db::connect_processor(&config, &db).await?;
        let writers_db = crate::db::connect_writers(&config, &db).await?;
        let watchers = Arc::new(Watchers::default());
        let secrets = Arc::new(SecretCache::new(config.secret_cache_ttl));
        if db.get_database_backend() == sea_orm::DbBackend::Postgres {
            let (url, w, s) = (
                config.database_url.clone(),
                watchers.clone(),
                secrets.clone(),
            );
            tasks.supervise("order listener", move || {
                watch::listen(url.clone(), w.clone(), s.clone())
            });
        }
        let queue = processor::start(
            processor_db,
            db.clone(),
            config.processing.clone(),
            metrics.clone(),
            watchers.clone(),
            &tasks,
        );
        let budget = Arc::new(Budget::default());
        let (upkeep_db, upkeep_budget) = (db.clone(), budget.clone());
        let retention = config.rejected_retention;
        tasks.supervise("rejected upkeep", move || {
            rejected::upkeep(upkeep_db.clone(), upkeep_budget.clone(), retention)
        });
        let storage = Arc::new(StorageHealth::default());
        let stripe = Arc::new(StripeCache::default());
        if let Some(interval) = config.watch.recovery_interval {
            let (db, ring, base) = (
                db.clone(),
                config.keys.clone(),
                config.watch.stripe_api_base.clone(),
            );
            let lease = config.processing.lease;
            tasks.supervise("recovery", move || {
                recovery::every(db.clone(), ring.clone(), base.clone(), interval, lease)
            });
        }
        let (notify_db, ring, settings) = (
            db.clone(),
            config.keys.clone(),
            config.notifications.clone(),
        );
        let wake = watchers.outbox.clone();
        tasks.supervise("notification sender", move || {
            notify::deliver::run(
                notify_db.clone(),
                ring.clone(),
                settings.clone(),
                wake.clone(),
            )
        });
        let (alerts_db, alerts_config, alerts_cache, alerts_metrics) =
            (db.clone(), config.clone(), stripe.clone(), metrics.clone());
        tasks.supervise("alerts", move || {
            alerts::every(
                alerts_db.clone(),
                alerts_config.clone(),
                alerts_cache.clone(),
                alerts_metrics.clone(),
            )
        });
        let inbox = Inbox::start(
            WriterContext {
                db: writers_db,
                processor: queue.clone(),
                lease: config.processing.lease,
                health: storage.clone(),
                metrics: metrics.clone(),
                watchers: watchers.clone(),
                writers: config.processing.inbox_writers,
            },
            budget,
            &tasks,
        );
        let cross_check = CrossCheck::start(
            crosscheck::Context {
                db: db.clone(),
                ring: config.keys.clone(),
                directory: Arc::default(),
                tolerance_secs: config.webhook_tolerance_secs,
                record: inbox.rejected_sink(),
            },
            &tasks,
        );
        Ok(Self(Arc::new(Shared {
            secrets,
            db,
            inbox,
            metrics,
            queue,
            login_limiter: {
                let limiter = Arc::new(governor::RateLimiter::keyed(governor::Quota::per_minute(
                    NonZeroU32::new(10).expect("10 > 0"),
                )));
                spawn_keyed_cleanup(limiter.clone());
                limiter
            },
            orders_limiter: {
                let limiter = keyed(config.rate_limits.orders);
                spawn_keyed_cleanup(limiter.clone());
                limiter
            },
            key_guesses: Arc::new(Guesses::new(config.rate_limits.key_guesses_per_minute)),
            password_checks: Arc::new(PasswordGate::new(config.login_concurrency)),
            webhook_limiter: {
                let limiter = keyed(config.rate_limits.webhook);
                spawn_keyed_cleanup(limiter.clone());
                limiter
            },
            config,
            tasks,
            storage,
            write_probe: Arc::default(),
            cross_check,
            stripe,
            watchers,
        })))
    }
}
