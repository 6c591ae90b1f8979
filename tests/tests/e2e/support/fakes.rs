//! Local stand-ins for what the gateway talks to, on loopback, port 0: Stripe's API
//! (events and webhook endpoints, with errors on demand) and an alert receiver.

use super::tls::{Identity, serve_tls};
use axum::Json;
use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

async fn serve(app: Router) -> String {
    serve_on(app, 0).await
}

/// Plain HTTP, or HTTPS with `identity` (`support::tls`).
async fn serve_as(app: Router, identity: Option<&Identity>) -> String {
    match identity {
        Some(identity) => serve_tls(app, identity).await,
        None => serve(app).await,
    }
}

async fn serve_on(app: Router, port: u16) -> String {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    url
}

#[derive(Default)]
struct Stripe {
    events: Vec<Value>,
    endpoints: Vec<Value>,
    fail_next: Vec<u16>,
    reject_key: bool,
    /// (path, Authorization, Stripe-Version) of every request.
    seen: Vec<(String, String, String)>,
    /// (path, Stripe-Account) of every request made for a connected account.
    on_accounts: Vec<(String, String)>,
}

/// A fake of Stripe's API: `GET /v1/events` (`created[gte]`, `limit`,
/// `starting_after`, `has_more`, newest first) and `GET /v1/webhook_endpoints`.
#[derive(Clone)]
pub struct FakeStripe {
    pub url: String,
    state: Arc<Mutex<Stripe>>,
}

impl FakeStripe {
    pub async fn start() -> Self {
        Self::start_as(None).await
    }

    /// The same over HTTPS, presenting `identity`.
    pub async fn start_tls(identity: &Identity) -> Self {
        Self::start_as(Some(identity)).await
    }

    async fn start_as(identity: Option<&Identity>) -> Self {
        let state = Arc::new(Mutex::new(Stripe::default()));
        let app = Router::new()
            .route("/v1/events", get(events))
            .route("/v1/webhook_endpoints", get(endpoints))
            .with_state(state.clone());
        Self {
            url: serve_as(app, identity).await,
            state,
        }
    }

    /// An event Stripe has (its JSON as sent in a delivery).
    pub fn add_event(&self, body: &str) {
        let event: Value = serde_json::from_str(body).unwrap();
        self.state.lock().unwrap().events.push(event);
    }

    pub fn set_endpoints(&self, endpoints: Vec<Value>) {
        self.state.lock().unwrap().endpoints = endpoints;
    }

    /// The next requests are answered with these statuses, in turn.
    pub fn fail_next(&self, statuses: &[u16]) {
        self.state.lock().unwrap().fail_next = statuses.to_vec();
    }

    pub fn reject_key(&self, reject: bool) {
        self.state.lock().unwrap().reject_key = reject;
    }

    pub fn seen(&self) -> Vec<(String, String, String)> {
        self.state.lock().unwrap().seen.clone()
    }

    /// (path, Stripe-Account) of the requests made for a connected account.
    pub fn on_accounts(&self) -> Vec<(String, String)> {
        self.state.lock().unwrap().on_accounts.clone()
    }
}

/// An endpoint as Stripe lists it.
pub fn endpoint(url: &str, status: &str, events: &[&str]) -> Value {
    json!({"id": "we_1", "object": "webhook_endpoint", "url": url, "status": status,
           "enabled_events": events, "livemode": false})
}

fn gate(state: &Mutex<Stripe>, path: &str, headers: &HeaderMap) -> Option<Response> {
    let mut s = state.lock().unwrap();
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    s.seen.push((
        path.into(),
        header("authorization"),
        header("stripe-version"),
    ));
    let account = header("stripe-account");
    if !account.is_empty() {
        s.on_accounts.push((path.into(), account));
    }
    if s.reject_key {
        let body = json!({"error": {"type": "invalid_request_error", "message": "Invalid API Key provided"}});
        return Some((StatusCode::UNAUTHORIZED, Json(body)).into_response());
    }
    if !s.fail_next.is_empty() {
        let status = s.fail_next.remove(0);
        return Some(
            (
                StatusCode::from_u16(status).unwrap(),
                Json(json!({"error": {}})),
            )
                .into_response(),
        );
    }
    None
}

async fn events(
    State(state): State<Arc<Mutex<Stripe>>>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    if let Some(refused) = gate(&state, "/v1/events", &headers) {
        return refused;
    }
    let account = headers
        .get("stripe-account")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let s = state.lock().unwrap();
    let gte: i64 = q
        .get("created[gte]")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let limit: usize = q
        .get("limit")
        .and_then(|v| v.parse().ok())
        .unwrap_or(10)
        .min(100);
    let mut all: Vec<&Value> = s
        .events
        .iter()
        .filter(|e| e["created"].as_i64().unwrap_or(0) >= gte)
        // A connected account's events, asked for with Stripe-Account; the platform's own otherwise.
        .filter(|e| e["account"].as_str() == account.as_deref())
        .collect();
    // Newest first; equal times by id, as a stable order.
    all.sort_by(|a, b| {
        (b["created"].as_i64(), b["id"].as_str()).cmp(&(a["created"].as_i64(), a["id"].as_str()))
    });
    if let Some(after) = q.get("starting_after") {
        let at = all
            .iter()
            .position(|e| e["id"] == after.as_str())
            .map_or(all.len(), |i| i + 1);
        all.drain(..at);
    }
    let has_more = all.len() > limit;
    let data: Vec<Value> = all.into_iter().take(limit).cloned().collect();
    Json(json!({"object": "list", "url": "/v1/events", "has_more": has_more, "data": data}))
        .into_response()
}

async fn endpoints(State(state): State<Arc<Mutex<Stripe>>>, headers: HeaderMap) -> Response {
    if let Some(refused) = gate(&state, "/v1/webhook_endpoints", &headers) {
        return refused;
    }
    let data = state.lock().unwrap().endpoints.clone();
    Json(json!({"object": "list", "has_more": false, "data": data})).into_response()
}

/// How an alert receiver behaves.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Behaviour {
    Accept,
    /// Never answers.
    Hang,
    Fail,
}

/// A receiver of JSON posts (alerts), recording each.
#[derive(Clone)]
pub struct Receiver {
    pub url: String,
    got: Arc<Mutex<Vec<Value>>>,
}

impl Receiver {
    pub async fn start(behaviour: Behaviour) -> Self {
        Self::start_as(behaviour, None).await
    }

    /// The same over HTTPS, presenting `identity`.
    pub async fn start_tls(behaviour: Behaviour, identity: &Identity) -> Self {
        Self::start_as(behaviour, Some(identity)).await
    }

    async fn start_as(behaviour: Behaviour, identity: Option<&Identity>) -> Self {
        let got = Arc::new(Mutex::new(Vec::new()));
        let app =
            Router::new()
                .route(
                    "/hook",
                    post(
                        move |State(got): State<Arc<Mutex<Vec<Value>>>>,
                              Json(body): Json<Value>| async move {
                            got.lock().unwrap().push(body);
                            match behaviour {
                                Behaviour::Accept => StatusCode::OK,
                                Behaviour::Fail => StatusCode::INTERNAL_SERVER_ERROR,
                                Behaviour::Hang => {
                                    tokio::time::sleep(Duration::from_secs(3600)).await;
                                    StatusCode::OK
                                }
                            }
                        },
                    ),
                )
                .with_state(got.clone());
        Self {
            url: format!("{}/hook", serve_as(app, identity).await),
            got,
        }
    }

    pub fn received(&self) -> Vec<Value> {
        self.got.lock().unwrap().clone()
    }
}

#[derive(Default)]
struct Hooks {
    secret: Option<String>,
    /// Answers to give before 200, in turn.
    refuse: Vec<u16>,
    /// (webhook-id, verified body or None, status answered)
    got: Vec<(String, Option<Value>, u16)>,
    redirect_to: Option<String>,
}

/// A restaurant backend receiving notifications, verifying each with the Standard
/// Webhooks specification's own library (not the gateway's code).
#[derive(Clone)]
pub struct Backend2 {
    pub url: String,
    state: Arc<Mutex<Hooks>>,
}

impl Backend2 {
    pub async fn start() -> Self {
        Self::start_as(None).await
    }

    /// The same over HTTPS, presenting `identity`.
    pub async fn start_tls(identity: &Identity) -> Self {
        Self::start_as(Some(identity)).await
    }

    async fn start_as(identity: Option<&Identity>) -> Self {
        let state = Arc::new(Mutex::new(Hooks::default()));
        let app = Router::new()
            .route("/notify", post(receive))
            .with_state(state.clone());
        Self {
            url: format!("{}/notify", serve_as(app, identity).await),
            state,
        }
    }

    /// The same, on a given port (a backend that comes back where it was).
    pub async fn start_on(port: u16) -> Self {
        let state = Arc::new(Mutex::new(Hooks::default()));
        let app = Router::new()
            .route("/notify", post(receive))
            .with_state(state.clone());
        Self {
            url: format!("{}/notify", serve_on(app, port).await),
            state,
        }
    }

    pub fn set_secret(&self, secret: &str) {
        self.state.lock().unwrap().secret = Some(secret.to_string());
    }

    pub fn refuse_first(&self, statuses: &[u16]) {
        self.state.lock().unwrap().refuse = statuses.to_vec();
    }

    pub fn redirect_to(&self, url: &str) {
        self.state.lock().unwrap().redirect_to = Some(url.to_string());
    }

    /// Every request: its webhook-id, its body if it verified, the status answered.
    pub fn got(&self) -> Vec<(String, Option<Value>, u16)> {
        self.state.lock().unwrap().got.clone()
    }
}

async fn receive(
    State(state): State<Arc<Mutex<Hooks>>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let mut s = state.lock().unwrap();
    let id = headers
        .get("webhook-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let verified = s.secret.as_deref().and_then(|secret| {
        let hook = standardwebhooks::Webhook::new(secret).ok()?;
        hook.verify(&body, &headers).ok()?;
        serde_json::from_slice::<Value>(&body).ok()
    });
    if let Some(to) = s.redirect_to.clone() {
        s.got.push((id, verified, 302));
        return (StatusCode::FOUND, [("location", to)]).into_response();
    }
    let status = if s.refuse.is_empty() {
        200
    } else {
        s.refuse.remove(0)
    };
    s.got.push((id, verified, status));
    StatusCode::from_u16(status).unwrap().into_response()
}
