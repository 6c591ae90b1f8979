//! Extractors whose rejections speak the API's JSON error format, and keyset paging.

use super::error::{Error, ErrorCode};
use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, FromRequestParts, Query, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// `Json<T>`, but a bad body is a 400/422 `{"error","message"}` like every other error.
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
                JsonRejection::JsonDataError(e) => Error::invalid(e.body_text()),
                JsonRejection::MissingJsonContentType(_) => Error::with_message(
                    ErrorCode::InvalidRequest,
                    "expected Content-Type: application/json",
                ),
                other => Error::with_message(ErrorCode::InvalidRequest, other.body_text()),
            }),
        }
    }
}

/// An optional JSON body: none when the request has no body at all.
impl<S, T> axum::extract::OptionalFromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = Error;

    async fn from_request(req: Request, state: &S) -> Result<Option<Self>, Self::Rejection> {
        let empty = !req.headers().contains_key(header::CONTENT_TYPE)
            && req
                .headers()
                .get(header::CONTENT_LENGTH)
                .is_none_or(|n| n.as_bytes() == b"0");
        if empty {
            return Ok(None);
        }
        <Self as FromRequest<S>>::from_request(req, state)
            .await
            .map(Some)
    }
}

/// `Query<T>`, but a bad query string is a 400 `invalid_filter` with the reason.
pub struct ApiQuery<T>(pub T);

impl<S, T> FromRequestParts<S> for ApiQuery<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Query::<T>::from_request_parts(parts, state)
            .await
            .map(|Query(value)| Self(value))
            .map_err(|e| Error::with_message(ErrorCode::InvalidFilter, e.body_text()))
    }
}

/// `?limit=&cursor=` of every list: `limit` is 1 to 200 (50 when absent), `cursor` the
/// `next_cursor` of the previous page.
#[derive(Debug, Clone)]
pub struct Paging {
    pub limit: u64,
    pub cursor: Option<String>,
}

impl Paging {
    pub const DEFAULT: u64 = 50;
    pub const MAX: u64 = 200;

    /// The cursor as the row id it stands for.
    pub fn cursor_id(&self) -> Result<Option<i64>, Error> {
        self.cursor
            .as_deref()
            .map(|c| c.parse().map_err(|_| bad_cursor()))
            .transpose()
    }

    /// Keeps `limit` of the `limit + 1` rows a query fetched: the page, and where the
    /// next one starts when there was one more row.
    pub fn page<T, R>(
        &self,
        mut rows: Vec<R>,
        cursor_of: impl Fn(&R) -> String,
        item: impl Fn(R) -> T,
    ) -> Page<T> {
        let next_cursor = if rows.len() as u64 > self.limit {
            rows.truncate(self.limit as usize);
            rows.last().map(cursor_of)
        } else {
            None
        };
        Page {
            items: rows.into_iter().map(item).collect(),
            next_cursor,
        }
    }
}

pub fn bad_cursor() -> Error {
    Error::with_message(
        ErrorCode::InvalidCursor,
        "cursor is the next_cursor of a previous page",
    )
}

impl<S: Send + Sync> FromRequestParts<S> for Paging {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        #[derive(Deserialize)]
        struct Params {
            limit: Option<u64>,
            cursor: Option<String>,
        }
        let ApiQuery(p) = ApiQuery::<Params>::from_request_parts(parts, state).await?;
        Ok(Self {
            limit: p.limit.unwrap_or(Self::DEFAULT).clamp(1, Self::MAX),
            cursor: p.cursor.filter(|c| !c.is_empty()),
        })
    }
}

/// One page of a list, newest first.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Where the next page starts; absent on the last page.
    pub next_cursor: Option<String>,
}

/// A list that is never paged.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Items<T> {
    pub items: Vec<T>,
}

/// The token of `Authorization: Bearer …`.
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}
