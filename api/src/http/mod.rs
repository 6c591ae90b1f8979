//! The HTTP server: every route, its limits, and the translation of requests into
//! domain calls and of their results into answers.

pub mod access_log;
pub mod admin;
pub mod client_ip;
pub mod error;
pub mod extract;
pub mod openapi;
pub mod operations;
pub mod orders;
pub mod panel;
pub mod ratelimit;
pub mod server;
pub mod state;
pub mod subscriptions;
pub mod webhooks;

use crate::config::Config;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{Method, StatusCode, header};
use ratelimit::{PeerKey, limiter, spawn_cleanup, too_many_requests};
use sea_orm::DatabaseConnection;
pub use state::AppState;
use std::time::Duration;
use tokio::net::TcpListener;
use tower_governor::GovernorLayer;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::timeout::TimeoutLayer;
use utoipa_axum::{router::OpenApiRouter, routes};

/// Starts the background workers and builds the HTTP application.
pub async fn app(config: Config, db: DatabaseConnection) -> Result<Router, sea_orm::DbErr> {
    Ok(router(AppState::start(config, db).await?))
}

/// The application, and, with `METRICS_BIND_ADDR`, the metrics listener's own router
/// (`/metrics` only; the main one then answers 404 for it); and what waits on orders,
/// to be answered at shutdown.
async fn apps(
    config: Config,
    db: DatabaseConnection,
) -> Result<
    (
        Router,
        Option<Router>,
        std::sync::Arc<crate::orders::watch::Watchers>,
    ),
    sea_orm::DbErr,
> {
    let separate = config.metrics_bind_addr.is_some();
    let state = AppState::start(config, db).await?;
    let metrics = separate.then(|| {
        Router::from(operations::metrics_routes())
            .fallback(operations::not_found)
            .with_state(state.clone())
    });
    let watchers = state.changes.watchers.clone();
    Ok((router(state), metrics, watchers))
}

fn router(state: AppState) -> Router {
    let limits = &state.config.rate_limits;
    let status_limit = limiter(PeerKey, limits.status);
    let other_limit = limiter(PeerKey, limits.other);
    let login_limit = limiter(PeerKey, limits.login);
    spawn_cleanup(status_limit.clone());
    spawn_cleanup(other_limit.clone());
    spawn_cleanup(login_limit.clone());

    // Limited per tenant inside the handler, once the signature verifies.
    // Every route but the status long-poll waits for storage at most as long as the
    // webhook does (plus 2 s for its own work), then answers 503.
    let bounded = TimeoutLayer::with_status_code(
        StatusCode::SERVICE_UNAVAILABLE,
        state.config.storage_timeout + Duration::from_secs(2),
    );
    let webhooks = OpenApiRouter::new()
        .routes(routes!(webhooks::receive))
        .routes(routes!(webhooks::receive_connect))
        .layer(DefaultBodyLimit::max(state.config.webhook_max_body_bytes));
    let orders = OpenApiRouter::new()
        .routes(routes!(orders::create))
        .routes(routes!(subscriptions::show))
        .layer(bounded)
        .layer(DefaultBodyLimit::max(64 * 1024));
    let status = OpenApiRouter::new()
        .routes(routes!(orders::status))
        .layer(GovernorLayer::new(status_limit).error_handler(too_many_requests))
        .layer(
            CorsLayer::new()
                .allow_origin(AllowOrigin::any())
                .allow_methods([Method::GET])
                .allow_headers([header::IF_NONE_MATCH])
                .expose_headers([header::ETAG])
                .max_age(Duration::from_secs(600)),
        );
    let admin = admin::router()
        .layer(bounded)
        .layer(DefaultBodyLimit::max(64 * 1024))
        .layer(GovernorLayer::new(other_limit.clone()).error_handler(too_many_requests));
    let login = admin::login()
        .layer(bounded)
        .layer(DefaultBodyLimit::max(16 * 1024))
        .layer(GovernorLayer::new(login_limit).error_handler(too_many_requests));
    let operations = if state.config.metrics_bind_addr.is_some() {
        OpenApiRouter::new()
    } else {
        operations::metrics_routes()
    };
    let operations = operations
        .merge(OpenApiRouter::from(panel::router()))
        .routes(routes!(openapi::openapi_json))
        .layer(bounded)
        .layer(GovernorLayer::new(other_limit.clone()).error_handler(too_many_requests));

    let (routes, document) = OpenApiRouter::new()
        .merge(webhooks)
        .merge(orders)
        .merge(status)
        .merge(admin)
        .merge(login)
        .merge(operations)
        .merge(operations::probes().layer(bounded))
        .split_for_parts();
    routes
        .route_layer(axum::middleware::from_fn(access_log::route))
        .layer(axum::Extension(std::sync::Arc::new(openapi::document(
            document,
        ))))
        .fallback_service(
            axum::routing::any(operations::not_found)
                .layer(GovernorLayer::new(other_limit).error_handler(too_many_requests)),
        )
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            client_ip::layer,
        ))
        .layer(axum::middleware::from_fn_with_state(
            server::BodyLimits {
                timeout: state.config.connections.body_timeout,
                max_bytes: state.config.webhook_max_body_bytes.max(64 * 1024),
            },
            server::body_deadline,
        ))
        // Outermost: every answer is logged and counted, a 408 for a slow body too.
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            access_log::layer,
        ))
        .with_state(state)
}

/// Migrates, then serves: what `gateway serve` does.
pub async fn run(config: Config, listener: TcpListener) -> anyhow::Result<()> {
    use anyhow::Context;
    let db = crate::runtime::open_database(&config).await?;
    crate::tenants::secrets::upgrade_sealing(&db, &config.keys)
        .await
        .context("re-sealing stored secrets")?;
    if !config.development_keys.is_empty() {
        tracing::warn!(
            settings = ?config.development_keys,
            "DEVELOPMENT KEYS IN USE: generated keys from the data directory stand in for unset settings; \
             set PAYMENT_CONFIG_ENC_KEY and JWT_SECRET (and GATEWAY_ENV=production) before real use"
        );
    }
    let addr = listener.local_addr()?;
    tracing::info!(%addr, "gateway listening");
    let connections = config.connections.clone();
    let metrics_addr = config.metrics_bind_addr;
    let (app, metrics, watchers) = apps(config, db)
        .await
        .context("DATABASE_URL: cannot open the database")?;
    if let (Some(addr), Some(metrics)) = (metrics_addr, metrics) {
        let listener = TcpListener::bind(addr)
            .await
            .with_context(|| format!("METRICS_BIND_ADDR: cannot listen on {addr}"))?;
        let addr = listener.local_addr()?;
        tracing::info!(%addr, "metrics listening");
        let connections = connections.clone();
        tokio::spawn(async move {
            if let Err(e) = server::serve(listener, metrics, &connections, || {}).await {
                tracing::error!(error = %e, "the metrics listener stopped");
            }
        });
    }
    server::serve(listener, app, &connections, || watchers.close())
        .await
        .context("serving HTTP")
}
