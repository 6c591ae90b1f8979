//! The composition root: what a running gateway is made of — its database handles,
//! caches, change feed, inbox and processor — and the supervised workers behind
//! them. `http` builds its state on it; nothing here knows HTTP.

use crate::changes::Changes;
use crate::config::Config;
use crate::diagnosis::{StripeCache, alerts};
use crate::metrics::Metrics;
use crate::notify;
use crate::recovery;
use crate::tasks::Tasks;
use crate::tenants::secret_cache::SecretCache;
use crate::webhooks::crosscheck::{self, CrossCheck};
use crate::webhooks::inbox::{Inbox, StorageHealth, WriterContext};
use crate::webhooks::processor::{self, Queue};
use crate::webhooks::rejected::{self, Budget};
use sea_orm::{DatabaseConnection, DbErr};
use std::sync::Arc;

/// A running gateway's parts.
pub struct Runtime {
    pub db: DatabaseConnection,
    pub config: Arc<Config>,
    /// Decrypted webhook secrets by slug, for the webhook path.
    pub secrets: Arc<SecretCache>,
    /// One call per committed change: waiters, caches, the sender, other replicas.
    pub changes: Arc<Changes>,
    pub inbox: Inbox,
    pub metrics: Arc<Metrics>,
    /// The processor's queue, for events an admin retries.
    pub queue: Queue,
    /// The supervised background tasks (which are down, for `/ready`).
    pub tasks: Arc<Tasks>,
    /// What the inbox's commits said lately, for `/ready`.
    pub storage: Arc<StorageHealth>,
    /// What Stripe's API said lately, per tenant (diagnosis).
    pub stripe: Arc<StripeCache>,
    /// The other-tenant check of refused deliveries, off the request's path.
    pub cross_check: CrossCheck,
}

impl Runtime {
    /// Opens the other database handles on `db` (migrated) and starts every worker.
    pub async fn start(config: Config, db: DatabaseConnection) -> Result<Self, DbErr> {
        let config = Arc::new(config);
        let metrics = Arc::new(Metrics::default());
        let tasks = Arc::new(Tasks::default());
        let processor_db = crate::db::connect_processor(&config, &db).await?;
        let writers_db = crate::db::connect_writers(&config, &db).await?;
        let secrets = Arc::new(SecretCache::new(
            db.clone(),
            config.keys.clone(),
            config.secret_cache_ttl,
        ));
        let changes = Arc::new(Changes::new(secrets.clone()));
        if db.get_database_backend() == sea_orm::DbBackend::Postgres {
            let (url, changes) = (config.database_url.clone(), changes.clone());
            tasks.supervise("change listener", move || {
                changes.clone().listen(url.clone())
            });
        }
        let queue = processor::start(
            processor_db,
            db.clone(),
            config.processing.clone(),
            metrics.clone(),
            changes.clone(),
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
        let wake = changes.outbox();
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
                changes: changes.clone(),
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
        Ok(Self {
            db,
            config,
            secrets,
            changes,
            inbox,
            metrics,
            queue,
            tasks,
            storage,
            stripe,
            cross_check,
        })
    }
}
