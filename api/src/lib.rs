//! The Stripe webhook gateway for restaurant platforms.
//!
//! `run(config, listener)` starts the whole service on a bound listener; `main` only
//! parses the command line. Tests and the benchmark start it the same way.

pub mod admin;
pub mod cli;
pub mod config;
pub mod db;
pub mod error;
pub mod extract;
pub mod health;
pub mod keyrotation;
pub mod metrics;
pub mod openapi;
pub mod orders;
pub mod panel;
pub mod ratelimit;
pub mod stripe;
pub mod tenants;
pub mod testevent;
pub mod vault;
pub mod webhooks;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{Method, header};
use axum::routing::{get, post};
use config::Config;
use metrics::Metrics;
use ratelimit::{ApiKeyOrPeer, PeerKey, TenantKey, limiter, spawn_cleanup, too_many_requests};
use sea_orm::DatabaseConnection;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tenants::secrets::SecretCache;
use tokio::net::TcpListener;
use tower_governor::GovernorLayer;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::timeout::TimeoutLayer;
use webhooks::inbox::Inbox;

#[derive(Clone)]
pub struct AppState {
    pub db: DatabaseConnection,
    pub config: Arc<Config>,
    pub secrets: Arc<SecretCache>,
    pub inbox: Inbox,
    pub metrics: Arc<Metrics>,
    /// The processor's queue, for events an admin retries.
    pub queue: webhooks::processor::Queue,
    /// Login attempts per account (the route itself is limited per address).
    pub login_limiter: Arc<governor::DefaultKeyedRateLimiter<String>>,
}

/// Starts the background workers and builds the HTTP application.
pub async fn app(config: Config, db: DatabaseConnection) -> Result<Router, sea_orm::DbErr> {
    let config = Arc::new(config);
    let metrics = Arc::new(Metrics::default());
    let processor_db = db::connect_processor(&config, &db).await?;
    let queue = webhooks::processor::start(
        processor_db,
        db.clone(),
        config.processing.clone(),
        metrics.clone(),
    );
    let inbox = Inbox::start(db.clone(), queue.clone(), config.processing.lease);
    let state = AppState {
        secrets: Arc::new(SecretCache::new(config.secret_cache_ttl)),
        db,
        inbox,
        metrics,
        config: config.clone(),
        queue,
        login_limiter: Arc::new(governor::RateLimiter::keyed(governor::Quota::per_minute(
            std::num::NonZeroU32::new(10).expect("10 > 0"),
        ))),
    };
    Ok(router(state))
}

fn router(state: AppState) -> Router {
    let limits = &state.config.rate_limits;
    let webhook_limit = limiter(TenantKey, limits.webhook);
    let orders_limit = limiter(ApiKeyOrPeer, limits.orders);
    let status_limit = limiter(PeerKey, limits.status);
    let other_limit = limiter(PeerKey, limits.other);
    spawn_cleanup(webhook_limit.clone());
    spawn_cleanup(orders_limit.clone());
    spawn_cleanup(status_limit.clone());
    spawn_cleanup(other_limit.clone());

    let webhooks = Router::new()
        .route(webhooks::route::PATH, post(webhooks::route::receive))
        .layer(DefaultBodyLimit::max(state.config.webhook_max_body_bytes))
        .layer(GovernorLayer::new(webhook_limit).error_handler(too_many_requests));
    let orders = Router::new()
        .route(orders::route::CREATE_PATH, post(orders::route::create))
        .layer(DefaultBodyLimit::max(64 * 1024))
        .layer(GovernorLayer::new(orders_limit).error_handler(too_many_requests));
    let status = Router::new()
        .route(orders::route::STATUS_PATH, get(orders::route::status))
        .layer(GovernorLayer::new(status_limit).error_handler(too_many_requests))
        .layer(
            CorsLayer::new()
                .allow_origin(AllowOrigin::any())
                .allow_methods([Method::GET])
                .allow_headers([header::IF_NONE_MATCH])
                .expose_headers([header::ETAG])
                .max_age(Duration::from_secs(600)),
        );
    let login_limit = limiter(PeerKey, limits.login);
    spawn_cleanup(login_limit.clone());
    let admin = admin::router()
        .layer(DefaultBodyLimit::max(64 * 1024))
        .layer(GovernorLayer::new(other_limit.clone()).error_handler(too_many_requests));
    let login = Router::new()
        .route(admin::LOGIN_PATH, post(admin::accounts::login))
        .layer(DefaultBodyLimit::max(16 * 1024))
        .layer(GovernorLayer::new(login_limit).error_handler(too_many_requests));
    let operations = Router::new()
        .route("/health", get(health::health))
        .route("/ready", get(health::ready))
        .route("/metrics", get(health::metrics))
        .route("/api/v1/openapi.json", get(openapi::openapi_json))
        .route("/admin", get(panel::redirect))
        .route("/admin/", get(panel::index))
        .route("/admin/app.js", get(panel::script))
        .route("/admin/app.css", get(panel::style))
        .layer(GovernorLayer::new(other_limit.clone()).error_handler(too_many_requests));

    Router::new()
        .merge(webhooks)
        .merge(orders)
        .merge(status)
        .merge(admin)
        .merge(login)
        .merge(operations)
        .fallback_service(
            axum::routing::any(health::not_found)
                .layer(GovernorLayer::new(other_limit).error_handler(too_many_requests)),
        )
        .layer(TimeoutLayer::with_status_code(
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            Duration::from_secs(20),
        ))
        .with_state(state)
}

/// Serves `app` on `listener` until the process receives SIGTERM or Ctrl-C.
pub async fn serve(listener: TcpListener, app: Router) -> std::io::Result<()> {
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown_signal())
    .await
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutting down");
}

/// Migrates, then serves: what `gateway serve` does.
pub async fn run(config: Config, listener: TcpListener) -> Result<(), String> {
    let db = db::connect(&config)
        .await
        .map_err(|e| format!("DATABASE_URL: cannot open the database: {e}"))?;
    db::migrate(&db)
        .await
        .map_err(|e| format!("DATABASE_URL: cannot apply migrations: {e}"))?;
    if !config.development_keys.is_empty() {
        tracing::warn!(
            settings = ?config.development_keys,
            "DEVELOPMENT KEYS IN USE: generated keys from the data directory stand in for unset settings; \
             set PAYMENT_CONFIG_ENC_KEY and JWT_SECRET (and GATEWAY_ENV=production) before real use"
        );
    }
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    tracing::info!(%addr, "gateway listening");
    let app = app(config, db)
        .await
        .map_err(|e| format!("DATABASE_URL: cannot open the database: {e}"))?;
    serve(listener, app).await.map_err(|e| e.to_string())
}
