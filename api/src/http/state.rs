//! What every handler shares: the runtime (`crate::runtime`), and what only HTTP needs.

use super::ratelimit::{Guesses, Keyed, PasswordGate, keyed, spawn_keyed_cleanup};
use crate::config::Config;
use crate::runtime::Runtime;
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

/// What only HTTP needs, beside the runtime (which `Shared` dereferences to: a
/// handler reads `app.db`, `app.inbox`, … from it).
pub struct Shared {
    pub runtime: Runtime,
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
    /// The last write probe and when it ran, so that `/ready` writes at most once a second.
    pub write_probe: Arc<tokio::sync::Mutex<Option<LastProbe>>>,
}

impl std::ops::Deref for Shared {
    type Target = Runtime;
    fn deref(&self) -> &Runtime {
        &self.runtime
    }
}

impl AppState {
    /// Starts the runtime on `db` and the HTTP layer's limiters beside it.
    pub async fn start(config: Config, db: DatabaseConnection) -> Result<Self, DbErr> {
        let runtime = Runtime::start(config, db).await?;
        let config = runtime.config.clone();
        Ok(Self(Arc::new(Shared {
            login_limiter: {
                let limiter = Arc::new(governor::RateLimiter::keyed(governor::Quota::per_minute(
                    NonZeroU32::new(10).expect("10 > 0"),
                )));
                spawn_keyed_cleanup(limiter.clone());
                limiter
            },
            webhook_limiter: {
                let limiter = keyed(config.rate_limits.webhook);
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
            write_probe: Arc::default(),
            runtime,
        })))
    }
}
