//! Accepting connections: at most `MAX_CONNECTIONS` open at once (more wait in the
//! kernel's queue), each given `HEADER_TIMEOUT_SECS` to send a request's headers —
//! after connecting, and again after each answer, so an idle keep-alive connection is
//! closed too. A client that never finishes its headers costs one slot for that long,
//! not forever; one that trickles its body is answered 408 after `BODY_TIMEOUT_SECS`
//! (`body_deadline`). One client address holds at most `MAX_CONNECTIONS_PER_IP` of the
//! slots: past that its new connections are closed at once, so one address trickling
//! bytes on every connection it may open leaves the others' slots free.
//! On SIGTERM or Ctrl-C: stop accepting, let requests in flight finish.

use super::client_ip::{self, ClientIp};
use crate::config::Connections;
use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tower::ServiceExt;

/// How long requests in flight get to finish after a shutdown signal.
const DRAIN: Duration = Duration::from_secs(25);

/// Serves `app` on `listener` until the process receives SIGTERM or Ctrl-C; then
/// calls `on_shutdown` (which answers waiting long-polls) and drains.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: &Connections,
    on_shutdown: impl FnOnce(),
) -> std::io::Result<()> {
    let slots = Arc::new(Semaphore::new(limits.max));
    let per_ip = Arc::new(PerIp::default());
    let graceful = GracefulShutdown::new();
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .keep_alive(true);
    let mut shutdown = std::pin::pin!(shutdown_signal());
    loop {
        let slot = tokio::select! {
            slot = slots.clone().acquire_owned() => slot.expect("the semaphore is never closed"),
            _ = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors, say: wait rather than spin.
                    tracing::warn!(error = %e, "could not accept a connection");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        let Some(held) = per_ip.hold(peer.ip(), limits) else {
            tracing::debug!(%peer, "too many connections from this address; closed");
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let app = app.clone();
        let service = tower::service_fn(move |mut req: hyper::Request<Incoming>| {
            req.extensions_mut().insert(ConnectInfo(peer));
            app.clone().oneshot(req.map(Body::new))
        });
        let connection =
            http.serve_connection(TokioIo::new(stream), TowerToHyperService::new(service));
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, %peer, "connection ended with an error");
            }
            drop((slot, held));
        });
    }
    drop(listener);
    on_shutdown();
    tokio::select! {
        _ = graceful.shutdown() => {}
        _ = tokio::time::sleep(DRAIN) => {
            tracing::warn!("requests still in flight after {DRAIN:?}; closing them");
        }
    }
    Ok(())
}

/// Open connections per client address (IPv4, or IPv6 /64).
#[derive(Default)]
struct PerIp {
    open: Mutex<HashMap<IpAddr, usize>>,
}

/// One connection counted against its address, until it is dropped.
struct Held {
    key: Option<IpAddr>,
    of: Arc<PerIp>,
}

impl PerIp {
    /// A hold for a connection from `ip`, or None when the address has its share.
    /// Trusted proxies carry many clients' connections and are not counted.
    fn hold(self: &Arc<Self>, ip: IpAddr, limits: &Connections) -> Option<Held> {
        if client_ip::trusted(ip, &limits.trusted_proxies) {
            return Some(Held {
                key: None,
                of: self.clone(),
            });
        }
        let key = ClientIp(ip).limit_key();
        let mut open = self.open.lock().expect("per-address counts");
        let count = open.entry(key).or_insert(0);
        if *count >= limits.max_per_ip {
            return None;
        }
        *count += 1;
        Some(Held {
            key: Some(key),
            of: self.clone(),
        })
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        let Some(key) = self.key else { return };
        let mut open = self.of.open.lock().expect("per-address counts");
        if let Some(count) = open.get_mut(&key) {
            *count -= 1;
            if *count == 0 {
                open.remove(&key);
            }
        }
    }
}

/// Reads a request's whole body within `BODY_TIMEOUT_SECS` of its headers, up to the
/// largest body any route takes (each route's own limit still applies): a client that
/// trickles its body is answered 408 and the connection closed, whatever the route.
pub async fn body_deadline(
    axum::extract::State(limits): axum::extract::State<BodyLimits>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::http::{HeaderValue, StatusCode, header};
    use axum::response::IntoResponse;
    use http_body_util::BodyExt;
    let (parts, body) = request.into_parts();
    let limited = http_body_util::Limited::new(body, limits.max_bytes);
    let refusal = |status: StatusCode, error: &str, message: String| {
        let body = serde_json::json!({"error": error, "message": message});
        let mut response = (status, axum::Json(body)).into_response();
        response
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
        response
    };
    match tokio::time::timeout(limits.timeout, limited.collect()).await {
        Ok(Ok(collected)) => {
            let body = Body::from(collected.to_bytes());
            next.run(axum::extract::Request::from_parts(parts, body))
                .await
        }
        Ok(Err(e)) if e.is::<http_body_util::LengthLimitError>() => refusal(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("the body is over {} bytes", limits.max_bytes),
        ),
        Ok(Err(_)) => refusal(
            StatusCode::BAD_REQUEST,
            "invalid_body",
            "the request body could not be read".into(),
        ),
        Err(_) => refusal(
            StatusCode::REQUEST_TIMEOUT,
            "body_timeout",
            format!(
                "the request body did not arrive within {} s",
                limits.timeout.as_secs()
            ),
        ),
    }
}

/// What `body_deadline` allows a body.
#[derive(Clone, Copy)]
pub struct BodyLimits {
    pub timeout: Duration,
    pub max_bytes: usize,
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutting down");
}
