//! `/health`, `/ready`, `/metrics`, and the JSON 404 for unknown paths.

use super::AppState;
use super::error::{ErrorBody, ErrorCode, respond};
use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Serialize;

/// `/health` and `/ready`: never rate-limited, so that a balancer can always ask (and
/// a flood of other requests cannot make it drop a healthy replica).
pub fn probes() -> Router<AppState> {
    Router::new()
        .route("/health", get(health))
        .route("/ready", get(ready))
}

/// `/metrics`, limited per address like the other operations routes.
pub fn limited_router() -> Router<AppState> {
    Router::new().route("/metrics", get(metrics))
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct Liveness {
    /// `ok`
    status: &'static str,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct Readiness {
    /// `ready` or `not_ready`
    status: &'static str,
    /// Why not, when not ready.
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<&'static str>,
}

#[utoipa::path(get, path = "/health", tag = "operations", responses((status = 200, description = "the process runs", body = Liveness)))]
pub async fn health() -> Response {
    respond(StatusCode::OK, Liveness { status: "ok" })
}

#[utoipa::path(get, path = "/ready", tag = "operations", responses(
    (status = 200, description = "the database answers and every migration is applied", body = Readiness),
    (status = 503, description = "not ready, with the reason", body = Readiness)))]
pub async fn ready(State(app): State<AppState>) -> Response {
    let not_ready = |reason| {
        respond(
            StatusCode::SERVICE_UNAVAILABLE,
            Readiness {
                status: "not_ready",
                reason: Some(reason),
            },
        )
    };
    match crate::db::ready(&app.db).await {
        Ok(true) => respond(
            StatusCode::OK,
            Readiness {
                status: "ready",
                reason: None,
            },
        ),
        Ok(false) => not_ready("migrations pending: run `gateway migrate`"),
        Err(e) => {
            tracing::warn!(error = %e, "readiness: database unavailable");
            not_ready("database unavailable")
        }
    }
}

#[utoipa::path(get, path = "/metrics", tag = "operations", responses((status = 200, description = "Prometheus text: webhooks by status, latency histogram", body = String, content_type = "text/plain")))]
pub async fn metrics(State(app): State<AppState>) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        app.metrics.render(),
    )
        .into_response()
}

pub async fn not_found() -> Response {
    respond(
        StatusCode::NOT_FOUND,
        ErrorBody {
            error: ErrorCode::NotFound,
            message: None,
            reason: None,
        },
    )
}
