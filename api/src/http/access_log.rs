//! One line per request: its id (`X-Request-Id`, taken from the client when it is a
//! plain token, else made here, and echoed in the answer), method, route template,
//! status and duration, and for a Stripe delivery its tenant, event and outcome; and
//! the same figures in the metrics. Everything logged while the request is handled
//! carries the id.

use super::AppState;
use axum::extract::{MatchedPath, Request, State};
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;
use std::time::Instant;

pub const HEADER: &str = "x-request-id";

/// The request's id, for handlers that want to name it (the webhook handler puts it
/// in the span every line about a delivery carries).
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

/// What the webhook handler learned of a delivery, added to its request's line.
#[derive(Debug, Clone, Default)]
pub struct Delivery {
    pub tenant: String,
    pub delivery: String,
    pub stripe_event_id: Option<String>,
    pub event_type: Option<String>,
    pub outcome: &'static str,
}

/// The route template that answered (set by `route`, read by `layer`).
#[derive(Debug, Clone)]
struct Route(String);

/// What the route of a request that matched none is called in logs and metrics.
pub const UNMATCHED: &str = "unmatched";

/// The outermost layer: names the request, logs and counts it once it is answered.
/// (No span around the whole request: entering one at every poll costs more than the
/// line; the webhook handler's own span carries the id into the lines it causes.)
pub async fn layer(State(app): State<AppState>, mut request: Request, next: Next) -> Response {
    let started = Instant::now();
    let id = request
        .headers()
        .get(HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|v| acceptable(v))
        .map_or_else(new_id, str::to_owned);
    request.extensions_mut().insert(RequestId(id.clone()));
    let method = request.method().clone();
    let mut response = next.run(request).await;
    let elapsed = started.elapsed();
    let extensions = response.extensions();
    let route = extensions
        .get::<Route>()
        .map_or(UNMATCHED, |r| r.0.as_str());
    let status = response.status().as_u16();
    let delivery = extensions.get::<Delivery>();
    tracing::info!(
        request_id = %id,
        method = %method,
        route,
        status,
        duration_ms = elapsed.as_secs_f64() * 1000.0,
        tenant = delivery.map(|d| tracing::field::display(&d.tenant)),
        delivery = delivery.map(|d| tracing::field::display(&d.delivery)),
        stripe_event_id = delivery.and_then(|d| d.stripe_event_id.as_deref()),
        event_type = delivery.and_then(|d| d.event_type.as_deref()),
        outcome = delivery.map(|d| d.outcome),
        "answered"
    );
    app.metrics
        .http_request(method.as_str(), route, status, elapsed);
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(HEADER, value);
    }
    response
}

/// On every route (after routing): remembers which template matched.
pub async fn route(request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned());
    let mut response = next.run(request).await;
    if let Some(route) = route {
        response.extensions_mut().insert(Route(route));
    }
    response
}

/// A client's id is kept when it is a plain token of at most 128 characters (what
/// proxies and tracing systems send): anything else could forge a log line.
fn acceptable(id: &str) -> bool {
    (1..=128).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':' | b'='))
}

fn new_id() -> String {
    format!("req_{:016x}", rand::random::<u64>())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_tokens_are_taken_from_the_client() {
        assert!(acceptable("3f2a9c1e-77b0-4c1e-9d7e-5b2f8c0a1d44"));
        assert!(acceptable("Root=1-67891233-abcdef012345678912345678"));
        assert!(!acceptable(""));
        assert!(!acceptable("a\nforged line"));
        assert!(!acceptable("with space"));
        assert!(!acceptable(&"x".repeat(129)));
        assert!(new_id().starts_with("req_"));
        assert_ne!(new_id(), new_id());
    }
}
