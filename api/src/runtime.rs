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

/// Opens and migrates the database for `serve` and every CLI command, and settles the
/// development keys: a key made now is written beside the database only when nothing
/// there is sealed yet; otherwise the command stops and names the missing key (a new
/// key could open none of the stored secrets).
pub async fn open_database(config: &Config) -> anyhow::Result<DatabaseConnection> {
    let db = crate::db::open_migrated(config).await?;
    let fresh: Vec<_> = config.development_keys.iter().filter(|k| k.fresh).collect();
    if fresh.is_empty() {
        return Ok(db);
    }
    let sealed = crate::tenants::keyrotation::sealed_values(&db)
        .await
        .map_err(|e| anyhow::anyhow!("DATABASE_URL: cannot count the sealed secrets: {e}"))?;
    if let Some(key) = fresh.iter().find(|k| k.setting == "PAYMENT_CONFIG_ENC_KEY")
        && sealed > 0
    {
        anyhow::bail!(
            "PAYMENT_CONFIG_ENC_KEY is not set and there is no development key at {}, but the \
             database holds {sealed} sealed secrets: set PAYMENT_CONFIG_ENC_KEY to the key that \
             sealed them, or run from where that key file is (no new key was made)",
            key.path.display()
        );
    }
    for key in fresh {
        key.persist().map_err(|e| anyhow::anyhow!(e))?;
        tracing::warn!(
            setting = key.setting,
            path = %key.path.display(),
            "generated a DEVELOPMENT key"
        );
    }
    Ok(db)
}

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
    /// Deliveries counted per tenant and minute (health's success rate and p95).
    pub delivery_stats: Arc<crate::webhooks::stats::DeliveryStats>,
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
        let announces = crate::db::Dialect::of(&db).announces();
        let announcements = announces.then(|| {
            let (announcements, pending) = crate::db::Announcements::new();
            let url = crate::db::session_url(&config).to_string();
            tasks.supervise("change announcer", move || {
                crate::db::announce_after(
                    url.clone(),
                    crate::changes::ORDERS_CHANNEL,
                    pending.clone(),
                )
            });
            announcements
        });
        let changes = Arc::new(Changes::new(secrets.clone(), announcements));
        if announces {
            let (url, changes) = (crate::db::session_url(&config).to_string(), changes.clone());
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
        let storage = Arc::new(StorageHealth::default());
        let stripe = Arc::new(StripeCache::default());
        start_workers(&tasks, &db, &config, &budget, &stripe, &metrics, &changes);
        let delivery_stats = Arc::new(crate::webhooks::stats::DeliveryStats::default());
        let (stats_db, stats) = (db.clone(), delivery_stats.clone());
        tasks.supervise("delivery counts", move || {
            crate::webhooks::stats::flush_every(stats_db.clone(), stats.clone())
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
            delivery_stats,
        })
    }
}

/// The workers that run beside the request path: rejected rows' upkeep, recovery,
/// the notification sender and the alerts.
fn start_workers(
    tasks: &Arc<Tasks>,
    db: &DatabaseConnection,
    config: &Arc<Config>,
    budget: &Arc<Budget>,
    stripe: &Arc<StripeCache>,
    metrics: &Arc<Metrics>,
    changes: &Changes,
) {
    let (upkeep_db, upkeep_budget) = (db.clone(), budget.clone());
    let retention = rejected::Retention {
        rejected: config.rejected_retention,
        events: config.event_retention,
    };
    tasks.supervise("event log upkeep", move || {
        rejected::upkeep(upkeep_db.clone(), upkeep_budget.clone(), retention)
    });
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
        notify::sender::run(
            notify_db.clone(),
            ring.clone(),
            settings.clone(),
            wake.clone(),
        )
    });
    let upkept = metrics.clone();
    tasks.supervise("metrics upkeep", move || {
        let metrics = upkept.clone();
        async move {
            loop {
                tokio::time::sleep(std::time::Duration::from_secs(5)).await;
                metrics.upkeep();
            }
        }
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
}
