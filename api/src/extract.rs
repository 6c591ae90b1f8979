//! Extractors whose rejections speak the API's JSON error format.

use crate::error::Error;
use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, Request};
use serde::de::DeserializeOwned;

/// `Json<T>`, but a bad body is a 400/415/422 `{"error","message"}` like every other error.
pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = Error;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(value)) => Ok(Self(value)),
            Err(rejection) => Err(match rejection {
                JsonRejection::JsonDataError(e) => Error::unprocessable(e.body_text()),
                JsonRejection::MissingJsonContentType(_) => {
                    Error::bad_request("invalid_request", "expected Content-Type: application/json")
                }
                other => Error::bad_request("invalid_request", other.body_text()),
            }),
        }
    }
}
