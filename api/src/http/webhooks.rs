//! `POST /api/v1/webhooks/stripe/{tenant}`: verify, store durably, answer, then process.
//!
//! `handle` either stores the event or returns a `Refusal`; `Refusal::answer` is the
//! one place where a refusal becomes its log row, its metric label and its response.

use super::AppState;
use super::access_log::{Delivery, RequestId};
use super::error::{Error, ErrorBody, ErrorCode, respond};
use super::extract::ApiPath;
use super::ratelimit::refused;
use crate::clock::now_ms;
use crate::stripe::signature::VerifyError;
use crate::stripe::{event, signature};
use crate::tenants::TenantSlug;
use crate::tenants::api_keys::Mode;
use crate::tenants::secrets::Lookup;
use crate::tenants::slug;
use crate::webhooks::crosscheck;
use crate::webhooks::log::{EventStatus, Rejected, Source, Verified};
use crate::webhooks::stats::Whose;
use axum::Extension;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use std::time::Instant;
use tracing::{Instrument, Span};

/// The answer to a stored delivery.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Received {
    /// Always true.
    pub received: bool,
    pub event_id: String,
    /// True when this tenant already had the event id: nothing is applied twice.
    pub duplicate: bool,
    /// The event's type, for the request's log line (not in the answer).
    #[serde(skip)]
    #[schema(ignore)]
    pub event_type: String,
    /// A Connect event for an account no tenant is linked to: listed as unrouted.
    #[serde(skip)]
    #[schema(ignore)]
    pub unrouted: bool,
    /// The tenant it was stored for (counted in its delivery figures).
    #[serde(skip)]
    #[schema(ignore)]
    pub tenant_id: Option<i64>,
}

/// Why a delivery is not stored as an event to process.
#[derive(Debug)]
enum Refusal {
    /// No tenant has this slug (`tenant_id` None), or it has no usable secret.
    NoConfig {
        tenant_id: Option<i64>,
        why: &'static str,
    },
    /// The signature does not verify: the reason goes to the row and the answer. With
    /// `cross_check` (a current timestamp, no signature matching), the row is recorded
    /// once the other-tenant check has looked at it, off the request's path.
    Unverified {
        /// None for the Connect endpoint (the delivery is listed as unrouted).
        tenant_id: Option<i64>,
        reason: String,
        code: &'static str,
        cross_check: Option<String>,
    },
    /// Verified, but not a Stripe event: the row keeps the body.
    NotAnEvent {
        tenant_id: Option<i64>,
        reason: String,
    },
    /// Verified, but over the tenant's rate limit: 429, no row, Stripe retries.
    Limited(Box<Response>),
    /// Storage, or a secret that cannot be decrypted: 503, no row, Stripe retries.
    Unavailable(Error),
}

impl Refusal {
    /// The tenant the refused delivery was for, when it is known.
    fn tenant_id(&self) -> Option<i64> {
        match self {
            Refusal::NoConfig { tenant_id, .. }
            | Refusal::Unverified { tenant_id, .. }
            | Refusal::NotAnEvent { tenant_id, .. } => *tenant_id,
            Refusal::Limited(_) | Refusal::Unavailable(_) => None,
        }
    }

    fn label(&self) -> &'static str {
        match self {
            Refusal::NoConfig { .. } => "no_config",
            Refusal::Unverified { .. } => "verification_failed",
            Refusal::NotAnEvent { .. } => "invalid_payload",
            Refusal::Limited(_) => "rate_limited",
            Refusal::Unavailable(_) => "unavailable",
        }
    }

    /// Records the row (without waiting for it) and builds the answer.
    fn answer(self, app: &AppState, slug: &str, body: &Bytes) -> Response {
        let (claimed_id, claimed_type) = claimed_id_and_type(body);
        let row =
            |tenant_id, status, (error, error_code): (String, &'static str), payload| Rejected {
                tenant_id,
                tenant_slug: slug.to_string(),
                status,
                stripe_event_id: claimed_id.clone(),
                event_type: claimed_type.clone(),
                error,
                error_code,
                payload,
                signed_for_tenant_id: None,
            };
        let record = |tenant_id, status, error: (String, &'static str), payload| {
            app.inbox
                .record_rejected(row(tenant_id, status, error, payload))
        };
        let refuse = |code: ErrorCode, message: Option<String>, reason: Option<String>| {
            respond(
                code.status(),
                ErrorBody {
                    error: code,
                    message,
                    reason,
                },
            )
        };
        match self {
            Refusal::NoConfig { tenant_id, why } => {
                tracing::warn!(why, "delivery refused: no config");
                record(
                    tenant_id,
                    EventStatus::NoConfig,
                    (why.to_string(), "no_config"),
                    None,
                );
                refuse(ErrorCode::NoConfig, None, None)
            }
            Refusal::Unverified {
                tenant_id,
                reason,
                code,
                cross_check,
            } => {
                tracing::warn!(reason = %reason, code, "webhook verification failed");
                let rejected = row(
                    tenant_id,
                    EventStatus::VerificationFailed,
                    (reason.clone(), code),
                    None,
                );
                // Only rows that will be stored are worth checking.
                if app.inbox.admits_rejected(&rejected) {
                    match cross_check {
                        Some(header) => {
                            let job = crosscheck::Job {
                                rejected,
                                body: body.clone(),
                                header,
                            };
                            // A full queue: recorded unchecked.
                            app.cross_check
                                .offer(job, |row| app.inbox.send_rejected(row));
                        }
                        None => app.inbox.send_rejected(rejected),
                    }
                }
                refuse(ErrorCode::VerificationFailed, None, Some(reason))
            }
            Refusal::NotAnEvent { tenant_id, reason } => {
                tracing::warn!(error = %reason, "verified body is not a Stripe event");
                let payload = Some(String::from_utf8_lossy(body).into_owned());
                record(
                    tenant_id,
                    EventStatus::Failed,
                    (reason.clone(), "invalid_payload"),
                    payload,
                );
                refuse(ErrorCode::InvalidPayload, Some(reason), None)
            }
            Refusal::Limited(response) => *response,
            Refusal::Unavailable(e) => e.into_response(),
        }
    }
}

/// A delivery's own id, for following it through the log: `dlv_` and 8 random bytes.
fn delivery_id() -> String {
    let mut id = [0u8; 8];
    rand::fill(&mut id);
    format!("dlv_{}", hex::encode(id))
}

/// The id and type an unverified body claims, for the log row only.
fn claimed_id_and_type(body: &[u8]) -> (Option<String>, Option<String>) {
    #[derive(Deserialize)]
    struct Claimed {
        id: Option<serde_json::Value>,
        #[serde(rename = "type")]
        kind: Option<serde_json::Value>,
    }
    let short = |v: Option<serde_json::Value>| {
        v.and_then(|v| v.as_str().map(str::to_owned))
            .filter(|s| !s.is_empty() && s.len() <= 255)
    };
    match serde_json::from_slice::<Claimed>(body) {
        Ok(c) => (short(c.id), short(c.kind)),
        Err(_) => (None, None),
    }
}

#[utoipa::path(post, path = "/api/v1/webhooks/stripe/{tenant}", operation_id = "receive_stripe_webhook", tag = "webhooks",
    params(("tenant" = String, Path, description = "the restaurant's slug"), ("Stripe-Signature" = String, Header, description = "t=…,v1=… exactly as Stripe sends it")),
    request_body(content = Object, description = "the Stripe event, verified on its raw bytes", content_type = "application/json"),
    responses(
        (status = 200, description = "verified and durably stored; `duplicate` when this tenant already had the event id", body = Received),
        (status = 400, description = "`verification_failed` (with a `reason`) or `invalid_payload`", body = ErrorBody),
        (status = 404, description = "`no_config`: unknown tenant, or no active Stripe webhook secret", body = ErrorBody),
        (status = 413, description = "body over WEBHOOK_MAX_BODY_BYTES"),
        (status = 429, description = "over the tenant's rate limit; see Retry-After", body = ErrorBody),
        (status = 503, description = "storage unavailable: nothing stored, Stripe retries", body = ErrorBody)))]
pub async fn receive(
    State(app): State<AppState>,
    request_id: Option<Extension<RequestId>>,
    ApiPath(tenant): ApiPath<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (delivery, span) = delivery_span(request_id, &tenant);
    receive_in(app, tenant, headers, body, delivery)
        .instrument(span)
        .await
}

/// A delivery's own id and its span. Every line logged for a delivery, here and in
/// the inbox writer, carries its request id, tenant, that id and (once read) its
/// event id.
fn delivery_span(request_id: Option<Extension<RequestId>>, tenant: &str) -> (String, Span) {
    let delivery = delivery_id();
    let span = tracing::info_span!(
        "webhook",
        request_id = request_id.as_ref().map(|Extension(id)| id.0.as_str()),
        tenant = %crate::untrusted::cut(tenant),
        delivery = %delivery,
        stripe_event_id = tracing::field::Empty,
    );
    (delivery, span)
}

#[utoipa::path(post, path = "/api/v1/webhooks/stripe/connect", operation_id = "receive_stripe_connect_webhook", tag = "webhooks",
    params(("Stripe-Signature" = String, Header, description = "t=…,v1=… exactly as Stripe sends it")),
    request_body(content = Object, description = "an event of a connected account (`account`), verified with the platform's Connect secret", content_type = "application/json"),
    responses(
        (status = 200, description = "verified and durably stored for the restaurant linked to its `account` (`source` `connect`); an event for an account linked to no restaurant is listed in unrouted deliveries", body = Received),
        (status = 400, description = "`verification_failed` (with a `reason`) or `invalid_payload`", body = ErrorBody),
        (status = 404, description = "`no_config`: no Connect endpoint secret is set", body = ErrorBody),
        (status = 413, description = "body over WEBHOOK_MAX_BODY_BYTES"),
        (status = 429, description = "over the linked restaurant's rate limit; see Retry-After", body = ErrorBody),
        (status = 503, description = "storage unavailable: nothing stored, Stripe retries", body = ErrorBody)))]
pub async fn receive_connect(
    State(app): State<AppState>,
    request_id: Option<Extension<RequestId>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (delivery, span) = delivery_span(request_id, slug::CONNECT);
    receive_in(app, slug::CONNECT.to_string(), headers, body, delivery)
        .instrument(span)
        .await
}

async fn receive_in(
    app: AppState,
    tenant: String,
    headers: HeaderMap,
    body: Bytes,
    delivery: String,
) -> Response {
    let started = Instant::now();
    // Bounded: a delivery that storage cannot take in time is answered 503 (a commit that
    // finishes later only makes Stripe's retry a duplicate), well before Stripe gives up.
    let wait = app.config.storage_timeout;
    let handled = match tokio::time::timeout(wait, handle(&app, &tenant, &headers, &body)).await {
        Ok(handled) => handled,
        Err(_) => Err(Refusal::Unavailable(Error::Unavailable(format!(
            "storage did not take the event within {wait:?}"
        )))),
    };
    let mut logged = Delivery {
        tenant: crate::untrusted::cut(&tenant),
        delivery,
        ..Delivery::default()
    };
    let whose;
    let mut response = match handled {
        Ok(received) => {
            whose = received.tenant_id;
            logged.outcome = if received.unrouted {
                "unrouted"
            } else if received.duplicate {
                "duplicate"
            } else {
                "verified"
            };
            logged.stripe_event_id = Some(received.event_id.clone());
            logged.event_type = Some(received.event_type.clone());
            respond(StatusCode::OK, received)
        }
        Err(refusal) => {
            logged.outcome = refusal.label();
            whose = refusal.tenant_id();
            refusal.answer(&app, &tenant, &body)
        }
    };
    // Counted for the tenant's figures: by its id when known, else by the URL's slug
    // (a refusal before the tenant was looked up: rate limit, storage).
    let whose = match whose {
        Some(id) => Some(Whose::Tenant(id)),
        None => TenantSlug::parse(&tenant)
            .ok()
            .map(|s| Whose::Slug(s.as_str().to_owned())),
    };
    if let Some(whose) = whose {
        app.delivery_stats
            .record(whose, response.status().as_u16(), started.elapsed());
    }
    app.metrics.webhook(logged.outcome, started.elapsed());
    // The request's one line (`access_log`) names the delivery.
    response.extensions_mut().insert(logged);
    response
}

async fn handle(
    app: &AppState,
    tenant: &str,
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<Received, Refusal> {
    if tenant == slug::CONNECT {
        return handle_connect(app, headers, body).await;
    }
    let Ok(slug) = TenantSlug::parse(tenant) else {
        return Err(Refusal::NoConfig {
            tenant_id: None,
            why: "not a tenant slug: check the endpoint URL in Stripe's dashboard",
        });
    };
    let lookup = app
        .secrets
        .lookup(&slug)
        .await
        .map_err(|e| Refusal::Unavailable(Error::Storage(e)))?;
    let now_ms = now_ms();
    let (tenant_id, active) = active_secrets(&lookup, now_ms)?;
    let keys: Vec<&[u8]> = active.iter().map(|(secret, _)| *secret).collect();
    let signer = verify(app, tenant_id, headers, body, &keys, now_ms)?;
    let signed_in = active[signer].1;
    // Only verified deliveries spend the tenant's budget: a flood of unsigned requests
    // to its URL cannot make Stripe's real deliveries wait.
    app.webhook_limiter
        .check_key(&tenant_id)
        .map_err(|not_until| Refusal::Limited(Box::new(refused(not_until))))?;
    store(app, tenant_id, &slug, body, signed_in).await
}

type Active<'a> = Vec<(&'a [u8], Mode)>;

/// A delivery to the platform's Connect endpoint: verified with the platform's Connect
/// secret, then routed by its `account` to the linked tenant, where it is stored and
/// applied exactly as a delivery to that tenant's own URL (`source` `connect`). Refused
/// and unlinked deliveries are listed as unrouted (no tenant).
async fn handle_connect(
    app: &AppState,
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<Received, Refusal> {
    let lookup = app
        .secrets
        .lookup(&TenantSlug::connect_platform())
        .await
        .map_err(|e| Refusal::Unavailable(Error::Storage(e)))?;
    let now_ms = now_ms();
    let (platform_id, active) =
        active_secrets(&lookup, now_ms).map_err(|refusal| match refusal {
            Refusal::NoConfig { .. } => Refusal::NoConfig {
                tenant_id: None,
                why: "no Stripe Connect endpoint secret is set: PUT /api/v1/admin/connect-config",
            },
            other => other,
        })?;
    let keys: Vec<&[u8]> = active.iter().map(|(secret, _)| *secret).collect();
    let signer =
        verify(app, platform_id, headers, body, &keys, now_ms).map_err(
            |refusal| match refusal {
                Refusal::Unverified { reason, code, .. } => Refusal::Unverified {
                    tenant_id: None,
                    reason,
                    code,
                    cross_check: None,
                },
                other => other,
            },
        )?;
    let mut facts = event::parse(body).map_err(|why| Refusal::NotAnEvent {
        tenant_id: None,
        reason: why.to_string(),
    })?;
    facts.signed_livemode = Some(active[signer].1.livemode());
    Span::current().record("stripe_event_id", facts.event_id.as_str());
    let linked = match &facts.account {
        Some(account) => app
            .secrets
            .account(account)
            .await
            .map_err(|e| Refusal::Unavailable(Error::Storage(e)))?,
        None => None,
    };
    let Some((tenant_id, tenant_slug)) = linked else {
        return Ok(unrouted(app, body, facts));
    };
    app.webhook_limiter
        .check_key(&tenant_id)
        .map_err(|not_until| Refusal::Limited(Box::new(refused(not_until))))?;
    store_facts(app, tenant_id, &tenant_slug, body, facts, Source::Connect).await
}

/// A verified Connect event that no tenant takes: 200 (Stripe must not retry it for
/// three days, nor disable the endpoint), listed as unrouted with its account.
fn unrouted(app: &AppState, body: &Bytes, facts: event::EventFacts) -> Received {
    let error = match &facts.account {
        Some(account) => format!(
            "no restaurant is linked to connected account {account}: link one with PUT /api/v1/admin/tenants/{{tenant}}/connect"
        ),
        None => "the event names no connected account (no \"account\")".to_string(),
    };
    tracing::warn!(
        account = facts.account.as_deref().unwrap_or("none"),
        "Connect event for no linked restaurant"
    );
    app.inbox.record_rejected(Rejected {
        tenant_id: None,
        tenant_slug: slug::CONNECT.to_string(),
        status: EventStatus::NoConfig,
        stripe_event_id: Some(facts.event_id.clone()),
        event_type: Some(facts.event_type.clone()),
        error,
        error_code: "unlinked_account",
        payload: Some(String::from_utf8_lossy(body).into_owned()),
        signed_for_tenant_id: None,
    });
    Received {
        received: true,
        event_id: facts.event_id,
        duplicate: false,
        event_type: facts.event_type,
        unrouted: true,
        tenant_id: None,
    }
}

/// The tenant's secrets that verify deliveries now (with the mode each signs for), or
/// why there are none.
fn active_secrets(lookup: &Lookup, now_ms: i64) -> Result<(i64, Active<'_>), Refusal> {
    let (tenant_id, secrets) = match lookup {
        Lookup::UnknownTenant => {
            return Err(Refusal::NoConfig {
                tenant_id: None,
                why: "no tenant has this slug: check the endpoint URL in Stripe's dashboard",
            });
        }
        Lookup::NoConfig { tenant_id } => {
            return Err(Refusal::NoConfig {
                tenant_id: Some(*tenant_id),
                why: "the tenant has no Stripe webhook secret configured",
            });
        }
        Lookup::Undecryptable { reason, .. } => {
            // Not the sender's fault: answer 503 so that Stripe retries once fixed.
            tracing::error!(reason = %reason, "the tenant's webhook secret cannot be decrypted; run `gateway config check`");
            return Err(Refusal::Unavailable(Error::Unavailable(
                "webhook secret cannot be decrypted".into(),
            )));
        }
        Lookup::Ready { tenant_id, secrets } => (*tenant_id, secrets),
    };
    let active: Active = secrets
        .iter()
        .filter(|s| s.active_at(now_ms))
        .map(|s| (s.secret.expose(), s.mode))
        .collect();
    if active.is_empty() {
        return Err(Refusal::NoConfig {
            tenant_id: Some(tenant_id),
            why: "every webhook secret of the tenant has expired",
        });
    }
    Ok((tenant_id, active))
}

/// Stripe's signature over the raw body, with one of `active`: which one.
fn verify(
    app: &AppState,
    tenant_id: i64,
    headers: &HeaderMap,
    body: &Bytes,
    active: &[&[u8]],
    now_ms: i64,
) -> Result<usize, Refusal> {
    let header = headers
        .get("stripe-signature")
        .map(|v| v.to_str().unwrap_or("\u{fffd}"));
    let tolerance = app.config.webhook_tolerance_secs;
    let why = match signature::verify(body, header, active, now_ms / 1000, tolerance) {
        Ok(verified) => return Ok(verified.secret_index),
        Err(why) => why,
    };
    // A URL that points at the wrong restaurant: does another tenant's secret sign
    // it? Asked only of a current timestamp, and later (`webhooks::crosscheck`).
    let cross_check = match (&why, header) {
        (VerifyError::NoMatchingSignature, Some(header))
            if signature::parse_header(header)
                .is_ok_and(|parsed| (now_ms / 1000 - parsed.timestamp).abs() <= tolerance) =>
        {
            Some(header.to_string())
        }
        _ => None,
    };
    Err(Refusal::Unverified {
        tenant_id: Some(tenant_id),
        reason: why.to_string(),
        code: why.code(),
        cross_check,
    })
}

/// A verified body: parsed as an event and stored (durably, before the answer).
async fn store(
    app: &AppState,
    tenant_id: i64,
    slug: &TenantSlug,
    body: &Bytes,
    signed_in: Mode,
) -> Result<Received, Refusal> {
    let mut facts = event::parse(body).map_err(|why| Refusal::NotAnEvent {
        tenant_id: Some(tenant_id),
        reason: why.to_string(),
    })?;
    facts.signed_livemode = Some(signed_in.livemode());
    store_facts(app, tenant_id, slug.as_str(), body, facts, Source::Webhook).await
}

/// A verified, parsed event: stored for `tenant_id` (durably, before the answer).
async fn store_facts(
    app: &AppState,
    tenant_id: i64,
    slug: &str,
    body: &Bytes,
    facts: event::EventFacts,
    source: Source,
) -> Result<Received, Refusal> {
    let event_id = facts.event_id.clone();
    let event_type = facts.event_type.as_str().to_owned();
    let span = Span::current();
    span.record("stripe_event_id", event_id.as_str());
    let payload = match std::str::from_utf8(body) {
        Ok(text) => text.to_owned(),
        Err(_) => String::from_utf8_lossy(body).into_owned(),
    };
    let stored = app
        .inbox
        .store(Verified {
            tenant_id,
            tenant_slug: slug.to_string(),
            payload,
            facts,
            source,
            span,
        })
        .await
        .map_err(|e| Refusal::Unavailable(Error::Unavailable(e.to_string())))?;
    Ok(Received {
        received: true,
        event_id,
        duplicate: stored.duplicate,
        event_type,
        unrouted: false,
        tenant_id: Some(tenant_id),
    })
}
