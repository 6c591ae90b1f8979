//! `/health`, `/ready`, `/metrics`, and the JSON 404 for unknown paths.

use super::AppState;
use super::error::{ErrorBody, ErrorCode, respond};
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use std::time::{Duration, Instant};
use utoipa_axum::{router::OpenApiRouter, routes};

/// `/health` and `/ready`: never rate-limited, so that a balancer can always ask (and
/// a flood of other requests cannot make it drop a healthy replica).
pub fn probes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(health))
        .routes(routes!(ready))
}

/// `/metrics`, limited per address like the other operations routes.
pub fn metrics_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(metrics))
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
    /// Why not, when not ready: what an operator needs to know first.
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
}

#[utoipa::path(get, path = "/health", tag = "operations", responses((status = 200, description = "the process runs", body = Liveness)))]
pub async fn health() -> Response {
    respond(StatusCode::OK, Liveness { status: "ok" })
}

#[utoipa::path(get, path = "/ready", tag = "operations", responses(
    (status = 200, description = "the database answers, migrations are applied, a write commits, and every background task runs", body = Readiness),
    (status = 503, description = "not ready, with the reason", body = Readiness)))]
pub async fn ready(State(app): State<AppState>) -> Response {
    match readiness(&app).await {
        Ok(()) => respond(
            StatusCode::OK,
            Readiness {
                status: "ready",
                reason: None,
            },
        ),
        Err(reason) => {
            tracing::warn!(reason = %reason, "not ready");
            respond(
                StatusCode::SERVICE_UNAVAILABLE,
                Readiness {
                    status: "not_ready",
                    reason: Some(reason),
                },
            )
        }
    }
}

/// Why this replica should not be sent traffic now, if it should not.
async fn readiness(app: &AppState) -> Result<(), String> {
    if let Some((task, why)) = app.tasks.down().into_iter().next() {
        return Err(format!(
            "the {task} stopped ({why}) and is being started again"
        ));
    }
    if let Some(error) = app.storage.failing(Duration::from_secs(10)) {
        return Err(format!(
            "storage: the last commit of webhook events failed: {error}"
        ));
    }
    let wait = app.config.storage_timeout;
    match tokio::time::timeout(wait, crate::db::ready(&app.db)).await {
        Err(_) => return Err(format!("database: no answer within {wait:?}")),
        Ok(Err(e)) => return Err(format!("database unavailable: {e}")),
        Ok(Ok(false)) => return Err("migrations pending: run `gateway migrate`".into()),
        Ok(Ok(true)) => {}
    }
    // A write, at most once a second however often the balancer asks.
    let mut probe = app.write_probe.lock().await;
    let recent = probe
        .as_ref()
        .filter(|(at, _)| at.elapsed() < Duration::from_secs(1))
        .map(|(_, result)| result.clone());
    let result = match recent {
        Some(result) => result,
        None => {
            let result = match tokio::time::timeout(wait, crate::db::probe_write(&app.db)).await {
                Err(_) => Err(format!("no commit within {wait:?}")),
                Ok(Err(e)) => Err(e.to_string()),
                Ok(Ok(())) => Ok(()),
            };
            *probe = Some((Instant::now(), result.clone()));
            result
        }
    };
    result.map_err(|e| format!("storage: a write does not commit: {e}"))
}

#[utoipa::path(get, path = "/metrics", tag = "operations", responses((status = 200, description = "Prometheus text: webhooks by status, latency histogram", body = String, content_type = "text/plain")))]
pub async fn metrics(State(app): State<AppState>) -> Response {
    app.metrics.watched_orders(app.changes.watchers.watched());
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
