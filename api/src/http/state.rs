//! What every handler shares, and starting the workers behind it.

use crate::config::Config;
use crate::metrics::Metrics;
use crate::tenants::secrets::SecretCache;
use crate::webhooks::inbox::Inbox;
use crate::webhooks::processor::{self, Queue};
use sea_orm::{DatabaseConnection, DbErr};
use std::num::NonZeroU32;
use std::sync::Arc;

#[derive(Clone)]
pub struct AppState {
    pub db: DatabaseConnection,
    pub config: Arc<Config>,
    pub secrets: Arc<SecretCache>,
    pub inbox: Inbox,
    pub metrics: Arc<Metrics>,
    /// The processor's queue, for events an admin retries.
    pub queue: Queue,
    /// Login attempts per account (the route itself is limited per address).
    pub login_limiter: Arc<governor::DefaultKeyedRateLimiter<String>>,
}

impl AppState {
    /// Starts the processor and the inbox writer on `db`.
    pub async fn start(config: Config, db: DatabaseConnection) -> Result<Self, DbErr> {
        let config = Arc::new(config);
        let metrics = Arc::new(Metrics::default());
        let processor_db = crate::db::connect_processor(&config, &db).await?;
        let queue = processor::start(
            processor_db,
            db.clone(),
            config.processing.clone(),
            metrics.clone(),
        );
        let inbox = Inbox::start(db.clone(), queue.clone(), config.processing.lease);
        Ok(Self {
            secrets: Arc::new(SecretCache::new(config.secret_cache_ttl)),
            db,
            inbox,
            metrics,
            config,
            queue,
            login_limiter: Arc::new(governor::RateLimiter::keyed(governor::Quota::per_minute(
                NonZeroU32::new(10).expect("10 > 0"),
            ))),
        })
    }
}
