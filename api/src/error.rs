//! The one error type of the HTTP layer and its mapping to responses.
//!
//! 4xx carry `{"error": code}` and, where it helps, a `"message"`; storage trouble is
//! 503 so that Stripe retries; anything else is a 500 whose cause is logged, not sent.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sea_orm::DbErr;
use serde_json::json;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// 400 with a code and a reason.
    #[error("{code}: {message}")]
    BadRequest { code: &'static str, message: String },
    /// 401.
    #[error("unauthorized: {0}")]
    Unauthorized(&'static str),
    /// 403: signed in, but the role does not allow it (never used to hide a tenant).
    #[error("forbidden: {0}")]
    Forbidden(&'static str),
    /// 404; also what a caller gets for another tenant's data.
    #[error("not found: {0}")]
    NotFound(&'static str),
    /// 409.
    #[error("conflict: {0}")]
    Conflict(&'static str),
    /// 422: well-formed JSON whose values are not acceptable.
    #[error("invalid: {message}")]
    Unprocessable { code: &'static str, message: String },
    /// 503: the database did not answer; the caller should retry.
    #[error("storage unavailable: {0}")]
    Storage(#[from] DbErr),
    /// 503 for reasons other than the database (e.g. the ingest queue is closed).
    #[error("unavailable: {0}")]
    Unavailable(String),
}

impl Error {
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::BadRequest {
            code,
            message: message.into(),
        }
    }

    pub fn unprocessable(message: impl Into<String>) -> Self {
        Self::Unprocessable {
            code: "invalid_request",
            message: message.into(),
        }
    }
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let (status, body) = match &self {
            Error::BadRequest { code, message } => (
                StatusCode::BAD_REQUEST,
                json!({"error": code, "message": message}),
            ),
            Error::Unauthorized(code) => (StatusCode::UNAUTHORIZED, json!({"error": code})),
            Error::Forbidden(code) => (StatusCode::FORBIDDEN, json!({"error": code})),
            Error::NotFound(code) => (StatusCode::NOT_FOUND, json!({"error": code})),
            Error::Conflict(code) => (StatusCode::CONFLICT, json!({"error": code})),
            Error::Unprocessable { code, message } => (
                StatusCode::UNPROCESSABLE_ENTITY,
                json!({"error": code, "message": message}),
            ),
            Error::Storage(err) => {
                tracing::error!(error = %err, "storage unavailable");
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    json!({"error": "storage_unavailable"}),
                )
            }
            Error::Unavailable(why) => {
                tracing::error!(reason = %why, "service unavailable");
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    json!({"error": "unavailable"}),
                )
            }
        };
        let mut response = (status, Json(body)).into_response();
        if status == StatusCode::SERVICE_UNAVAILABLE {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
        }
        response
    }
}
