//! A client for the two Stripe API calls the gateway makes with a restaurant's key:
//! listing events (recovery, `events_not_received`) and listing webhook endpoints
//! (diagnosis). 429 and 5xx are retried with backoff; 401 is `KeyRejected`.

use serde::Deserialize;
use serde_json::Value;
use std::time::Duration;

/// The API version the gateway reads events in.
pub const STRIPE_VERSION: &str = "2025-11-17.clover";

const ATTEMPTS: u32 = 4;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error(
        "Stripe rejected the API key (401): it is wrong, revoked, or lacks read access to Events and Webhook Endpoints"
    )]
    KeyRejected,
    #[error("Stripe answered {status} after {ATTEMPTS} attempts: {body}")]
    Status { status: u16, body: String },
    #[error("Stripe could not be reached: {0}")]
    Unreachable(String),
    #[error("Stripe's answer could not be read: {0}")]
    Unreadable(String),
}

/// One event as Stripe lists it: its JSON, as the gateway will store it.
#[derive(Debug, Clone)]
pub struct ListedEvent {
    pub id: String,
    pub created: i64,
    pub json: String,
}

/// One webhook endpoint of the Stripe account.
#[derive(Debug, Clone, Deserialize)]
pub struct Endpoint {
    pub url: String,
    pub status: String,
    #[serde(default)]
    pub enabled_events: Vec<String>,
    #[serde(default)]
    pub livemode: bool,
}

#[derive(Deserialize)]
struct List<T> {
    data: Vec<T>,
    #[serde(default)]
    has_more: bool,
}

/// Percent-encodes all but unreserved characters (`created[gte]` → `created%5Bgte%5D`).
fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

pub struct StripeApi {
    base: String,
    key: String,
    /// A connected account the platform's key acts for (`Stripe-Account`).
    account: Option<String>,
    http: reqwest::Client,
}

impl StripeApi {
    pub fn new(base: &str, key: &str) -> Self {
        Self {
            base: base.trim_end_matches('/').to_string(),
            key: key.to_string(),
            account: None,
            http: crate::outbound::client(
                Duration::from_secs(20),
                crate::outbound::Destinations::Trusted,
            ),
        }
    }

    /// Calls made for a connected account with the platform's key (`Stripe-Account`).
    pub fn on_account(mut self, account: Option<&str>) -> Self {
        self.account = account.map(str::to_owned);
        self
    }

    async fn get(&self, path: &str, query: &[(&str, String)]) -> Result<Value, ApiError> {
        let query: Vec<String> = query
            .iter()
            .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
            .collect();
        let url = format!("{}{path}?{}", self.base, query.join("&"));
        let mut wait = Duration::from_millis(250);
        for attempt in 1..=ATTEMPTS {
            let mut request = self
                .http
                .get(&url)
                .bearer_auth(&self.key)
                .header("Stripe-Version", STRIPE_VERSION);
            if let Some(account) = &self.account {
                request = request.header("Stripe-Account", account);
            }
            let response = request
                .send()
                .await
                .map_err(|e| ApiError::Unreachable(crate::outbound::describe(&e)))?;
            let status = response.status().as_u16();
            if status == 401 {
                return Err(ApiError::KeyRejected);
            }
            let retryable = status == 429 || status >= 500;
            if retryable && attempt < ATTEMPTS {
                tracing::warn!(status, attempt, "Stripe's API asked to try again");
                tokio::time::sleep(wait).await;
                wait *= 2;
                continue;
            }
            let body = response
                .text()
                .await
                .map_err(|e| ApiError::Unreadable(e.to_string()))?;
            if !(200..300).contains(&status) {
                let body: String = body.chars().take(300).collect();
                return Err(ApiError::Status { status, body });
            }
            return serde_json::from_str(&body).map_err(|e| ApiError::Unreadable(e.to_string()));
        }
        unreachable!("the last attempt returns")
    }

    /// Every event created at or after `since` (Unix seconds), newest first, following
    /// `has_more` (at most `max` events).
    pub async fn events_since(&self, since: i64, max: usize) -> Result<Vec<ListedEvent>, ApiError> {
        let mut events = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let mut query = vec![("created[gte]", since.to_string()), ("limit", "100".into())];
            if let Some(id) = &after {
                query.push(("starting_after", id.clone()));
            }
            let page: List<Value> = serde_json::from_value(self.get("/v1/events", &query).await?)
                .map_err(|e| ApiError::Unreadable(e.to_string()))?;
            for event in &page.data {
                let id = event["id"].as_str().unwrap_or_default().to_string();
                let created = event["created"].as_i64().unwrap_or_default();
                events.push(ListedEvent {
                    id,
                    created,
                    json: event.to_string(),
                });
            }
            after = events.last().map(|e| e.id.clone());
            if !page.has_more || page.data.is_empty() || events.len() >= max {
                return Ok(events);
            }
        }
    }

    /// The account's webhook endpoints.
    pub async fn webhook_endpoints(&self) -> Result<Vec<Endpoint>, ApiError> {
        let query = [("limit", "100".to_string())];
        let page: List<Endpoint> =
            serde_json::from_value(self.get("/v1/webhook_endpoints", &query).await?)
                .map_err(|e| ApiError::Unreadable(e.to_string()))?;
        Ok(page.data)
    }
}
