//! `POST /api/v1/webhooks/stripe/{tenant}`: verify, store durably, answer, then process.

use super::inbox::{Rejected, Verified};
use super::status;
use crate::AppState;
use crate::error::Error;
use crate::stripe::{event, signature};
use crate::tenants::TenantSlug;
use crate::tenants::secrets::Lookup;
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;
use std::time::Instant;

pub const PATH: &str = "/api/v1/webhooks/stripe/{tenant}";

fn reject(status: StatusCode, body: serde_json::Value) -> Response {
    (status, Json(body)).into_response()
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

#[tracing::instrument(name = "webhook", skip_all, fields(tenant = %tenant))]
#[utoipa::path(post, path = "/api/v1/webhooks/stripe/{tenant}", tag = "webhooks",
    params(("tenant" = String, Path, description = "the restaurant's slug"), ("Stripe-Signature" = String, Header, description = "t=…,v1=… exactly as Stripe sends it")),
    request_body(content = Object, description = "the Stripe event, verified on its raw bytes", content_type = "application/json"),
    responses(
        (status = 200, description = "verified and durably stored; `duplicate` when this tenant already had the event id", body = Object,
         example = json!({"received": true, "event_id": "evt_1", "duplicate": false})),
        (status = 400, description = "`verification_failed` (with a `reason`) or `invalid_payload`"),
        (status = 404, description = "`no_config`: unknown tenant, or no active Stripe webhook secret"),
        (status = 413, description = "body over WEBHOOK_MAX_BODY_BYTES"),
        (status = 429, description = "over the tenant's rate limit; see Retry-After"),
        (status = 503, description = "storage unavailable: nothing stored, Stripe retries")))]
pub async fn receive(
    State(app): State<AppState>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let started = Instant::now();
    let (label, response) = handle(&app, &tenant, &headers, &body).await;
    app.metrics.webhook(label, started.elapsed());
    response
}

async fn handle(
    app: &AppState,
    tenant: &str,
    headers: &HeaderMap,
    body: &Bytes,
) -> (&'static str, Response) {
    let no_config = || reject(StatusCode::NOT_FOUND, json!({"error": "no_config"}));
    let Ok(slug) = TenantSlug::parse(tenant) else {
        return (status::NO_CONFIG, no_config());
    };
    let lookup = match app.secrets.lookup(&app.db, &app.config.keys, &slug).await {
        Ok(lookup) => lookup,
        Err(e) => return ("UNAVAILABLE", Error::Storage(e).into_response()),
    };
    let (tenant_id, secrets) = match &*lookup {
        Lookup::UnknownTenant => {
            tracing::warn!("delivery for an unknown tenant");
            app.inbox.record_rejected(rejected(
                None,
                &slug,
                status::NO_CONFIG,
                body,
                "no tenant has this slug: check the endpoint URL in Stripe's dashboard",
            ));
            return (status::NO_CONFIG, no_config());
        }
        Lookup::NoConfig { tenant_id } => {
            tracing::warn!("delivery for a tenant without a Stripe config");
            app.inbox.record_rejected(rejected(
                Some(*tenant_id),
                &slug,
                status::NO_CONFIG,
                body,
                "the tenant has no Stripe webhook secret configured",
            ));
            return (status::NO_CONFIG, no_config());
        }
        Lookup::Undecryptable { reason, .. } => {
            // Not the sender's fault: answer 503 so that Stripe retries once fixed.
            tracing::error!(reason = %reason, "the tenant's webhook secret cannot be decrypted; run `gateway config check`");
            return (
                "UNAVAILABLE",
                Error::Unavailable("webhook secret cannot be decrypted".into()).into_response(),
            );
        }
        Lookup::Ready { tenant_id, secrets } => (*tenant_id, secrets),
    };
    let now_ms = crate::db::now_ms();
    let active: Vec<&[u8]> = secrets
        .iter()
        .filter(|s| s.expires_at.is_none_or(|at| at > now_ms))
        .map(|s| s.secret.expose())
        .collect();
    if active.is_empty() {
        app.inbox.record_rejected(rejected(
            Some(tenant_id),
            &slug,
            status::NO_CONFIG,
            body,
            "every webhook secret of the tenant has expired",
        ));
        return (status::NO_CONFIG, no_config());
    }

    let header = headers
        .get("stripe-signature")
        .map(|v| v.to_str().unwrap_or("\u{fffd}"));
    if let Err(why) = signature::verify(
        body,
        header,
        &active,
        now_ms / 1000,
        app.config.webhook_tolerance_secs,
    ) {
        tracing::warn!(reason = why.code(), "webhook verification failed");
        let reason = why.to_string();
        app.inbox.record_rejected(rejected(
            Some(tenant_id),
            &slug,
            status::VERIFICATION_FAILED,
            body,
            &reason,
        ));
        return (
            status::VERIFICATION_FAILED,
            reject(
                StatusCode::BAD_REQUEST,
                json!({"error": "verification_failed", "reason": reason}),
            ),
        );
    }

    let facts = match event::parse(body) {
        Ok(facts) => facts,
        Err(why) => {
            tracing::warn!(error = %why, "verified body is not a Stripe event");
            let (id, kind) = claimed_id_and_type(body);
            app.inbox.record_rejected(Rejected {
                tenant_id: Some(tenant_id),
                tenant_slug: slug.to_string(),
                status: status::FAILED,
                stripe_event_id: id,
                event_type: kind,
                error: why.to_string(),
                payload: Some(String::from_utf8_lossy(body).into_owned()),
            });
            return (
                "INVALID_PAYLOAD",
                reject(
                    StatusCode::BAD_REQUEST,
                    json!({"error": "invalid_payload", "message": why.to_string()}),
                ),
            );
        }
    };
    let event_id = facts.event_id.clone();
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
        })
        .await;
    match stored {
        Ok(stored) => {
            tracing::debug!(stripe_event_id = %event_id, duplicate = stored.duplicate, "event stored");
            let label = if stored.duplicate {
                "DUPLICATE"
            } else {
                status::PROCESSING
            };
            (
                label,
                (StatusCode::OK, Json(json!({"received": true, "event_id": event_id, "duplicate": stored.duplicate}))).into_response(),
            )
        }
        Err(e) => (
            "UNAVAILABLE",
            Error::Unavailable(e.to_string()).into_response(),
        ),
    }
}

fn rejected(
    tenant_id: Option<i64>,
    slug: &TenantSlug,
    status: &'static str,
    body: &[u8],
    error: &str,
) -> Rejected {
    let (stripe_event_id, event_type) = claimed_id_and_type(body);
    Rejected {
        tenant_id,
        tenant_slug: slug.to_string(),
        status,
        stripe_event_id,
        event_type,
        error: error.to_string(),
        payload: None,
    }
}
