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
        // A body of `null` says "nothing" as well as no body does.
        <ApiJson<Option<T>> as FromRequest<S>>::from_request(req, state)
            .await
            .map(|ApiJson(value)| value.map(Self))
    }
}

/// `Path<T>`, but a path parameter that does not parse (an id out of range) is a 400
/// `invalid_request` in the API's JSON, like every other error.
pub struct ApiPath<T>(pub T);

impl<S, T> FromRequestParts<S> for ApiPath<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Path(value)| Self(value))
            .map_err(|e| Error::with_message(ErrorCode::InvalidRequest, e.body_text()))
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
        let limit = p.limit.unwrap_or(Self::DEFAULT);
        if !(1..=Self::MAX).contains(&limit) {
            return Err(Error::with_message(
                ErrorCode::InvalidFilter,
                format!("limit is 1 to {}", Self::MAX),
            ));
        }
        Ok(Self {
            limit,
            cursor: p.cursor.filter(|c| !c.is_empty()),
        })
    }
}

/// The paging parameters of a list whose cursor is a row id, as the document states
/// them (what `Paging` enforces).
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)] // read by the document only; `Paging` parses the query
pub struct PageParams {
    /// Rows on the page: 1 to 200 (50 when absent).
    #[param(minimum = 1, maximum = 200)]
    limit: Option<u64>,
    /// The `next_cursor` of the previous page.
    #[param(pattern = "^([0-9]{1,18})?$")]
    cursor: Option<String>,
}

/// The paging parameters of a list whose cursor is a Stripe id (`sub_…`).
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)] // read by the document only; `Paging` parses the query
pub struct StripeIdPageParams {
    /// Rows on the page: 1 to 200 (50 when absent).
    #[param(minimum = 1, maximum = 200)]
    limit: Option<u64>,
    /// The `next_cursor` of the previous page.
    #[param(pattern = "^[A-Za-z0-9_]{0,255}$")]
    cursor: Option<String>,
}

/// The paging parameters of the order list, whose cursor is a time and an order id.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)] // read by the document only; `Paging` parses the query
pub struct OrderPageParams {
    /// Orders on the page: 1 to 200 (50 when absent).
    #[param(minimum = 1, maximum = 200)]
    limit: Option<u64>,
    /// The `next_cursor` of the previous page.
    #[param(pattern = "^([0-9]{1,18}_[0-9a-f]{32})?$")]
    cursor: Option<String>,
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

/// An integer field that also takes a JSON number with a zero fraction (`2599.0`): JSON
/// Schema's `integer` admits those, and clients written in JavaScript send them.
pub fn whole_number<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<i64, D::Error> {
    use serde::de::Error as _;
    let number = serde_json::Number::deserialize(deserializer)?;
    if let Some(n) = number.as_i64() {
        return Ok(n);
    }
    match number.as_f64() {
        Some(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => Ok(f as i64),
        _ => Err(D::Error::custom(format!("{number} is not a whole number"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize)]
    struct Amount {
        #[serde(deserialize_with = "whole_number")]
        amount: i64,
    }

    fn amount(json: &str) -> Result<i64, String> {
        serde_json::from_str::<Amount>(json)
            .map(|a| a.amount)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn whole_numbers_are_taken_in_either_spelling() {
        assert_eq!(amount(r#"{"amount":2599}"#), Ok(2599));
        assert_eq!(amount(r#"{"amount":2599.0}"#), Ok(2599));
        assert_eq!(amount(r#"{"amount":-3}"#), Ok(-3));
        assert!(
            amount(r#"{"amount":25.99}"#)
                .unwrap_err()
                .contains("not a whole number")
        );
        assert!(amount(r#"{"amount":1e300}"#).is_err());
        assert!(amount(r#"{"amount":"2599"}"#).is_err());
    }
}
