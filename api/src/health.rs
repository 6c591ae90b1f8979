//! `/health`, `/ready`, `/metrics`, and the JSON 404 for unknown paths.

use crate::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

#[utoipa::path(get, path = "/health", tag = "operations", responses((status = 200, description = "the process runs")))]
pub async fn health() -> Response {
    Json(json!({"status": "ok"})).into_response()
}

#[utoipa::path(get, path = "/ready", tag = "operations", responses(
    (status = 200, description = "the database answers and every migration is applied"),
    (status = 503, description = "not ready, with the reason")))]
pub async fn ready(State(app): State<AppState>) -> Response {
    match crate::db::ready(&app.db).await {
        Ok(true) => Json(json!({"status": "ready"})).into_response(),
        Ok(false) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"status": "not_ready", "reason": "migrations pending: run `gateway migrate`"})),
        )
            .into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "readiness: database unavailable");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({"status": "not_ready", "reason": "database unavailable"})),
            )
                .into_response()
        }
    }
}

#[utoipa::path(get, path = "/metrics", tag = "operations", responses((status = 200, description = "Prometheus text: webhooks by status, latency histogram", content_type = "text/plain")))]
pub async fn metrics(State(app): State<AppState>) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        app.metrics.render(),
    )
        .into_response()
}

pub async fn not_found() -> Response {
    (StatusCode::NOT_FOUND, Json(json!({"error": "not_found"}))).into_response()
}
