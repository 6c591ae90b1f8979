//! Per-route rate limits (tower_governor), each keyed by what it protects: status
//! polling and the rest by client address (`ClientIp`:
//! IPv4, or an IPv6 /64). The webhook route is limited per tenant inside its handler,
//! after verification, so that unsigned traffic cannot spend a restaurant's budget.
//! `/health` and `/ready` are never limited: a balancer must always be able to ask.

use super::client_ip::ClientIp;
use crate::config::Quota;
use axum::body::Body;
use axum::http::{HeaderValue, Request, Response, StatusCode, header};
use governor::middleware::NoOpMiddleware;
use std::hash::Hash;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;
use tower_governor::GovernorError;
use tower_governor::governor::{GovernorConfig, GovernorConfigBuilder};
use tower_governor::key_extractor::KeyExtractor;

/// The client's address (see `client_ip`), per IPv4 address or IPv6 /64.
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
        .get::<ClientIp>()
        .map_or(IpAddr::from([0, 0, 0, 0]), |c| c.limit_key())
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

/// A limiter used inside a handler (not as a layer), keyed by `K`.
pub type Keyed<K> = governor::DefaultKeyedRateLimiter<K>;

pub fn keyed<K: Hash + Eq + Clone>(quota: Quota) -> Arc<Keyed<K>> {
    let nanos = (1_000_000_000 / quota.per_second.max(1)).max(1);
    let burst = NonZeroU32::new(quota.burst.max(1)).expect("at least 1");
    let quota = governor::Quota::with_period(Duration::from_nanos(nanos))
        .expect("a positive period")
        .allow_burst(burst);
    Arc::new(governor::RateLimiter::keyed(quota))
}

/// 429 with `Retry-After` for a keyed limiter's refusal.
pub fn refused(not_until: governor::NotUntil<governor::clock::QuantaInstant>) -> Response<Body> {
    use governor::clock::{Clock, DefaultClock};
    let wait = not_until.wait_time_from(DefaultClock::default().now());
    too_many_requests(GovernorError::TooManyRequests {
        wait_time: wait.as_secs() + 1,
        headers: None,
    })
}

/// Forgets idle keys of in-handler limiters now and then.
pub fn spawn_keyed_cleanup<K: Hash + Eq + Clone + Send + Sync + 'static>(limiter: Arc<Keyed<K>>) {
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(Duration::from_secs(60));
        loop {
            ticker.tick().await;
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
    });
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

/// Failed credentials (guessed API keys) per client address: while an address has
/// failed more than its quota allows, it is answered 429 before anything is looked up,
/// so that guessing costs neither a database lookup nor a fresh bucket per guess. A
/// correct key from that address waits too, as a correct password would.
pub struct Guesses {
    failures: Arc<Keyed<IpAddr>>,
    blocked: std::sync::Mutex<std::collections::HashMap<IpAddr, std::time::Instant>>,
}

impl Guesses {
    /// `per_minute` failures an address, after a burst of as many.
    pub fn new(per_minute: u32) -> Self {
        let per_minute = NonZeroU32::new(per_minute.max(1)).expect("at least 1");
        let failures = Arc::new(governor::RateLimiter::keyed(governor::Quota::per_minute(
            per_minute,
        )));
        spawn_keyed_cleanup(failures.clone());
        Self {
            failures,
            blocked: Default::default(),
        }
    }

    /// The 429 to answer `client` with, while it is blocked.
    pub fn refusal(&self, client: IpAddr) -> Option<Response<Body>> {
        let mut blocked = self.blocked.lock().expect("guesses");
        let until = *blocked.get(&client)?;
        let now = std::time::Instant::now();
        if until <= now {
            blocked.remove(&client);
            return None;
        }
        let wait = until - now;
        Some(too_many_requests(GovernorError::TooManyRequests {
            wait_time: wait.as_secs() + 1,
            headers: None,
        }))
    }

    /// Counts a failure of `client`; past the quota, blocks it until a token is back.
    pub fn failed(&self, client: IpAddr) {
        use governor::clock::{Clock, DefaultClock};
        if let Err(not_until) = self.failures.check_key(&client) {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            let mut blocked = self.blocked.lock().expect("guesses");
            if blocked.len() > 100_000 {
                let now = std::time::Instant::now();
                blocked.retain(|_, until| *until > now);
            }
            blocked.insert(client, std::time::Instant::now() + wait);
        }
    }
}

/// Password checks (argon2, ~19 MiB each) at most `running` at a time
/// (`LOGIN_CONCURRENCY`). A few more may wait their turn (eight per running check,
/// holding no memory to speak of, for at most `WAIT`); past that, the caller answers
/// 429 at once. However many logins arrive, memory stays flat.
pub struct PasswordGate {
    running: Arc<tokio::sync::Semaphore>,
    waiting: std::sync::atomic::AtomicUsize,
    max_waiting: usize,
}

impl PasswordGate {
    const WAIT: Duration = Duration::from_secs(5);

    pub fn new(running: usize) -> Self {
        Self {
            running: Arc::new(tokio::sync::Semaphore::new(running.max(1))),
            waiting: Default::default(),
            max_waiting: running.max(1) * 8,
        }
    }

    /// A turn for one check, to move into it; None when too many wait already.
    pub async fn turn(&self) -> Option<tokio::sync::OwnedSemaphorePermit> {
        use std::sync::atomic::Ordering;
        if let Ok(permit) = self.running.clone().try_acquire_owned() {
            return Some(permit);
        }
        if self.waiting.fetch_add(1, Ordering::SeqCst) >= self.max_waiting {
            self.waiting.fetch_sub(1, Ordering::SeqCst);
            return None;
        }
        let permit = tokio::time::timeout(Self::WAIT, self.running.clone().acquire_owned()).await;
        self.waiting.fetch_sub(1, Ordering::SeqCst);
        permit.ok()?.ok()
    }
}
