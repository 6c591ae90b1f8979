//! The one error type of the HTTP layer, its codes, and their mapping to responses.
//!
//! 4xx carry `{"error": code}` and, where it helps, a `"message"`; storage trouble is
//! 503 so that Stripe retries; a cause is logged, never sent.

use crate::tenants::admins::AdminError;
use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sea_orm::DbErr;
use serde::Serialize;

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Every error code the API answers with; each has one status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    // 400
    InvalidRequest,
    InvalidFilter,
    InvalidCursor,
    InvalidPayload,
    VerificationFailed,
    // 401
    InvalidToken,
    InvalidCredentials,
    InvalidApiKey,
    // 403
    PlatformAdminOnly,
    // 404
    NotFound,
    NoConfig,
    TenantNotFound,
    OrderNotFound,
    WebhookEventNotFound,
    ApiKeyNotFound,
    NotificationEndpointNotFound,
    PaymentConfigNotFound,
    // 409
    SlugTaken,
    EmailTaken,
    NotFailed,
    NoStripeApiKey,
    AccountTaken,
    // 422
    InvalidValue,
    InvalidWebhookSecret,
    InvalidStripeApiKey,
    InvalidNotificationUrl,
    InvalidAccountId,
    StripeApiKeyRejected,
    NotRetryable,
    // 502
    StripeUnavailable,
    // 429
    RateLimited,
    // 503
    StorageUnavailable,
    /// 500: a bug, logged with its cause (never shown).
    Internal,
    Unavailable,
}

impl ErrorCode {
    pub fn status(self) -> StatusCode {
        use ErrorCode::*;
        match self {
            InvalidRequest | InvalidFilter | InvalidCursor | InvalidPayload
            | VerificationFailed => StatusCode::BAD_REQUEST,
            InvalidToken | InvalidCredentials | InvalidApiKey => StatusCode::UNAUTHORIZED,
            PlatformAdminOnly => StatusCode::FORBIDDEN,
            NotFound
            | NoConfig
            | TenantNotFound
            | OrderNotFound
            | WebhookEventNotFound
            | ApiKeyNotFound
            | PaymentConfigNotFound
            | NotificationEndpointNotFound => StatusCode::NOT_FOUND,
            SlugTaken | EmailTaken | NotFailed | NoStripeApiKey | AccountTaken => {
                StatusCode::CONFLICT
            }
            InvalidValue
            | InvalidWebhookSecret
            | InvalidStripeApiKey
            | InvalidNotificationUrl
            | InvalidAccountId
            | StripeApiKeyRejected
            | NotRetryable => StatusCode::UNPROCESSABLE_ENTITY,
            StripeUnavailable => StatusCode::BAD_GATEWAY,
            RateLimited => StatusCode::TOO_MANY_REQUESTS,
            StorageUnavailable | Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

/// The body of every error answer.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    pub error: ErrorCode,
    /// What to change, in words, where the code alone does not say it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Why a webhook signature did not verify.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A 4xx: the caller can do something about it.
    #[error("{code:?}: {}", message.as_deref().unwrap_or_default())]
    Api {
        code: ErrorCode,
        message: Option<String>,
    },
    /// 503: the database did not answer; the caller should retry.
    #[error("storage unavailable: {0}")]
    Storage(#[from] DbErr),
    /// 503 for reasons other than the database (e.g. the ingest queue is closed).
    #[error("unavailable: {0}")]
    Unavailable(String),
}

impl From<ErrorCode> for Error {
    fn from(code: ErrorCode) -> Self {
        Self::Api {
            code,
            message: None,
        }
    }
}

impl Error {
    pub fn with_message(code: ErrorCode, message: impl Into<String>) -> Self {
        Self::Api {
            code,
            message: Some(message.into()),
        }
    }

    /// 422: well-formed JSON whose values are not acceptable.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::with_message(ErrorCode::InvalidValue, message)
    }

    pub fn code(&self) -> ErrorCode {
        match self {
            Error::Api { code, .. } => *code,
            Error::Storage(e) if crate::db::is_unavailable(e) => ErrorCode::StorageUnavailable,
            Error::Storage(_) => ErrorCode::Internal,
            Error::Unavailable(_) => ErrorCode::Unavailable,
        }
    }
}

impl From<AdminError> for Error {
    fn from(e: AdminError) -> Self {
        match e {
            AdminError::Invalid(message) => Error::invalid(message),
            AdminError::EmailTaken => ErrorCode::EmailTaken.into(),
            AdminError::NoTenant(slug) => {
                Error::with_message(ErrorCode::TenantNotFound, format!("no tenant {slug}"))
            }
            AdminError::Db(e) => Error::Storage(e),
        }
    }
}

/// A JSON answer with a status.
pub fn respond(status: StatusCode, body: impl Serialize) -> Response {
    (status, Json(body)).into_response()
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let code = self.code();
        let message = match self {
            Error::Api { message, .. } => message,
            Error::Storage(err) if code == ErrorCode::Internal => {
                crate::metrics::internal_error();
                tracing::error!(error = %err, "internal error: a statement failed that should not (a bug, not an outage)");
                None
            }
            Error::Storage(err) => {
                tracing::error!(error = %err, "storage unavailable");
                None
            }
            Error::Unavailable(why) => {
                tracing::error!(reason = %why, "service unavailable");
                None
            }
        };
        let body = ErrorBody {
            error: code,
            message,
            reason: None,
        };
        let mut response = respond(code.status(), body);
        if code.status() == StatusCode::SERVICE_UNAVAILABLE {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_serialize_in_snake_case_with_their_status() {
        let text = serde_json::to_string(&ErrorCode::WebhookEventNotFound).unwrap();
        assert_eq!(text, "\"webhook_event_not_found\"");
        assert_eq!(ErrorCode::SlugTaken.status(), StatusCode::CONFLICT);
        assert_eq!(
            Error::from(DbErr::Custom("x".into())).code().status(),
            StatusCode::SERVICE_UNAVAILABLE
        );
        assert_eq!(
            Error::from(DbErr::ConnectionAcquire(sea_orm::ConnAcquireErr::Timeout))
                .code()
                .status(),
            StatusCode::SERVICE_UNAVAILABLE
        );
        assert_eq!(
            Error::from(DbErr::RecordNotFound("a row a statement needs".into()))
                .code()
                .status(),
            StatusCode::INTERNAL_SERVER_ERROR,
            "a bug is not an outage"
        );
    }
}
