//! Per-route rate limits (tower_governor), each keyed by what it protects: the webhook
//! route by tenant (Stripe sends every tenant's events from the same few addresses),
//! order creation by API key, status polling and the rest by client address.

use crate::config::Quota;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{HeaderValue, Request, Response, StatusCode, header};
use governor::middleware::NoOpMiddleware;
use sha2::{Digest, Sha256};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;
use tower_governor::GovernorError;
use tower_governor::governor::{GovernorConfig, GovernorConfigBuilder};
use tower_governor::key_extractor::KeyExtractor;

/// The tenant slug in `/api/v1/webhooks/stripe/{tenant}`.
#[derive(Clone, Copy)]
pub struct TenantKey;

impl KeyExtractor for TenantKey {
    type Key = String;
    fn extract<T>(&self, req: &Request<T>) -> Result<String, GovernorError> {
        let path = req.uri().path();
        let tenant = path.rsplit('/').next().unwrap_or_default();
        Ok(tenant.chars().take(64).collect())
    }
}

/// The API key (hashed, never kept in clear), or the client address without one.
#[derive(Clone, Copy)]
pub struct ApiKeyOrPeer;

impl KeyExtractor for ApiKeyOrPeer {
    type Key = [u8; 32];
    fn extract<T>(&self, req: &Request<T>) -> Result<[u8; 32], GovernorError> {
        let source = match req.headers().get(header::AUTHORIZATION) {
            Some(value) => Sha256::digest(value.as_bytes()),
            None => Sha256::digest(peer(req).to_string().as_bytes()),
        };
        Ok(source.into())
    }
}

/// The client address of the TCP connection.
#[derive(Clone, Copy)]
pub struct PeerKey;

impl KeyExtractor for PeerKey {
    type Key = IpAddr;
    fn extract<T>(&self, req: &Request<T>) -> Result<IpAddr, GovernorError> {
        Ok(peer(req))
    }
}

fn peer<T>(req: &Request<T>) -> IpAddr {
    req.extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip())
        .unwrap_or(IpAddr::from([0, 0, 0, 0]))
}

pub type Limiter<K> = Arc<GovernorConfig<K, NoOpMiddleware<governor::clock::QuantaInstant>>>;

pub fn limiter<K: KeyExtractor>(key: K, quota: Quota) -> Limiter<K> {
    let nanos = (1_000_000_000 / quota.per_second.max(1)).max(1);
    Arc::new(
        GovernorConfigBuilder::default()
            .key_extractor(key)
            .per_nanosecond(nanos)
            .burst_size(quota.burst.max(1))
            .finish()
            .expect("a positive period and burst make a valid quota"),
    )
}

pub fn too_many_requests(error: GovernorError) -> Response<Body> {
    let (status, wait) = match error {
        GovernorError::TooManyRequests { wait_time, .. } => {
            (StatusCode::TOO_MANY_REQUESTS, wait_time.max(1))
        }
        _ => (StatusCode::TOO_MANY_REQUESTS, 1),
    };
    let mut response = Response::new(Body::from(r#"{"error":"rate_limited"}"#));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.insert(header::RETRY_AFTER, HeaderValue::from(wait));
    response
}

/// Forgets idle keys now and then, so that the limiters' memory stays bounded.
pub fn spawn_cleanup<K: KeyExtractor + Send + Sync + 'static>(limiter: Limiter<K>)
where
    K::Key: Send + Sync,
{
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(Duration::from_secs(60));
        loop {
            ticker.tick().await;
            limiter.limiter().retain_recent();
        }
    });
}
