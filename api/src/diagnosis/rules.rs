//! The rules that name causes. Each reads a little of the records (or of what Stripe
//! said) and, when it applies, says so with evidence and the fix.

use super::{Finding, Severity, StripeView, Viewer, events, finding};
use crate::clock::{ms_to_rfc3339, now_ms};
use crate::config::Config;
use crate::orders::disputes;
use crate::stripe::event::{self, Effect};
use crate::stripe::signature::codes;
use crate::tenants::secrets::{self, Health};
use crate::webhooks::log::{EventStatus, Source};
use entity::{order, tenant, webhook_event};
use sea_orm::{
    ColumnTrait, DatabaseConnection, DbErr, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect,
};
use std::collections::HashSet;

/// The records a diagnosis looks at: the last day.
const WINDOW_MS: i64 = 24 * 3600 * 1000;
const STUCK_AFTER_MS: i64 = 5 * 60 * 1000;
const UNFOLLOWED_AFTER_MS: i64 = 30 * 60 * 1000;
/// Stripe delivers within seconds; an event older than this that the gateway lacks
/// was not delivered.
const DELIVERY_GRACE_S: i64 = 5 * 60;

/// The event types without which chargebacks and cancellations never reach orders.
pub const DISPUTE_TYPES: [&str; 3] = [
    "charge.dispute.created",
    "charge.dispute.closed",
    "payment_intent.canceled",
];

/// The event types an endpoint must send for orders to close.
pub const NEEDED_TYPES: [&str; 5] = [
    "checkout.session.completed",
    "checkout.session.async_payment_succeeded",
    "checkout.session.async_payment_failed",
    "checkout.session.expired",
    "charge.refunded",
];

/// The tenants among `tenants` that may have a finding of severity `error` now; the
/// others have none, so the alerts need not diagnose them (at ten thousand
/// restaurants, diagnosing each every minute was two thousand queries a second). A
/// superset of every error rule's condition, in a handful of reads for all tenants:
/// - `no_secret`, `undecryptable_secret`: no unexpired secret, or one that does not open;
/// - `wrong_secret`, `signed_for_another_tenant`, `clock_skew`: a refused delivery in
///   the window; `mode_mismatch`, `failed_events`: such an event in the window;
///   `stuck_processing`: an event `PROCESSING` for longer than `STUCK_AFTER_MS`;
/// - the findings from Stripe: a Stripe API key saved;
/// - `dispute_needs_response`: a payment with a dispute;
/// - `account_charges_disabled`, `account_deauthorized`: a tenant linked to a connected
///   account.
///
/// A rule of severity `error` added to `from_records` or `from_stripe` must be added
/// here too.
pub async fn may_have_errors(
    db: &DatabaseConnection,
    config: &Config,
    tenants: &[tenant::Model],
) -> Result<HashSet<i64>, DbErr> {
    let now = now_ms();
    let healthy = secrets::tenants_healthy(db, &config.keys, now).await?;
    let mut out: HashSet<i64> = tenants
        .iter()
        .map(|t| t.id)
        .filter(|id| !healthy.contains(id))
        .collect();
    out.extend(
        crate::webhooks::log::tenants_in_trouble(db, now - WINDOW_MS, now - STUCK_AFTER_MS).await?,
    );
    out.extend(crate::tenants::stripe_key::tenants_with_key(db).await?);
    out.extend(disputes::tenants_with_disputes(db).await?);
    out.extend(super::backend::may_have_errors(db, config, now).await?);
    out.extend(
        tenants
            .iter()
            .filter(|t| t.connect_account_id.is_some())
            .map(|t| t.id),
    );
    Ok(out)
}

pub async fn from_records(
    db: &DatabaseConnection,
    config: &Config,
    tenant: &tenant::Model,
    viewer: Viewer,
) -> Result<Vec<Finding>, DbErr> {
    let mut out = Vec::new();
    let now = now_ms();
    let since = now - WINDOW_MS;
    secret_findings(db, config, tenant, &mut out).await?;
    delivery_findings(db, tenant, since, viewer, &mut out).await?;
    event_findings(db, tenant, since, now, &mut out).await?;
    order_findings(db, tenant, now, &mut out).await?;
    let ever = events(tenant.id).count(db).await?;
    if ever == 0 && !out.iter().any(|f| f.code == "no_secret") {
        out.push(finding(
            "never_delivered",
            Severity::Warning,
            "Stripe has never called this restaurant's URL.".into(),
            vec![format!("the URL: {}/api/v1/webhooks/stripe/{}", config.watch.public_base_url.as_deref().unwrap_or(""), tenant.slug)],
            "Add an endpoint with this URL in Stripe's dashboard (Developers → Webhooks) and send a test event.",
        ));
    }
    Ok(out)
}

/// The tenant's own secret: missing, or not opening.
async fn secret_findings(
    db: &DatabaseConnection,
    config: &Config,
    tenant: &tenant::Model,
    out: &mut Vec<Finding>,
) -> Result<(), DbErr> {
    match secrets::check(db, &config.keys, tenant.id).await? {
        // Linked to a connected account, it is verified with the platform's Connect
        // secret (see `accounts`).
        Health::Missing if tenant.connect_account_id.is_some() => {}
        Health::Missing => out.push(finding(
            "no_secret",
            Severity::Error,
            "No webhook signing secret is set: every delivery is refused (404 no_config).".into(),
            vec![],
            "Copy the endpoint's signing secret (whsec_…) from Stripe's dashboard, Developers → Webhooks → the endpoint → Signing secret, and save it under Payment settings.",
        )),
        Health::Broken(why) => out.push(finding(
            "undecryptable_secret",
            Severity::Error,
            "The stored webhook secret cannot be decrypted: deliveries are answered 503.".into(),
            vec![why],
            "If the encryption key changed, list the old one in PAYMENT_CONFIG_ENC_KEY_PREVIOUS and run `gateway keys rotate`; if the row was tampered with, enter the secret again.",
        )),
        Health::Ok { .. } => {}
    }

    Ok(())
}

/// Refused deliveries: a wrong secret, a URL of another restaurant, a clock off.
async fn delivery_findings(
    db: &DatabaseConnection,
    tenant: &tenant::Model,
    since: i64,
    viewer: Viewer,
    out: &mut Vec<Finding>,
) -> Result<(), DbErr> {
    let recent = || events(tenant.id).filter(webhook_event::Column::ReceivedAt.gte(since));
    let verified = recent()
        .filter(webhook_event::Column::DedupKey.is_not_null())
        .count(db)
        .await?;
    let rejected = recent()
        .filter(webhook_event::Column::Status.eq(EventStatus::VerificationFailed.as_str()))
        .order_by_desc(webhook_event::Column::Id)
        .limit(200)
        .all(db)
        .await?;
    let no_match: Vec<&webhook_event::Model> = rejected
        .iter()
        .filter(|r| r.error_code.as_deref() == Some(codes::NO_MATCHING_SIGNATURE))
        .collect();
    let elsewhere: Vec<&webhook_event::Model> = no_match
        .iter()
        .copied()
        .filter(|r| r.signed_for_tenant_id.is_some())
        .collect();
    if !elsewhere.is_empty() {
        let owner = match (viewer, elsewhere[0].signed_for_tenant_id) {
            (Viewer::Platform, Some(id)) => crate::tenants::slug_of(db, Some(id))
                .await?
                .map_or("another restaurant".to_string(), |s| {
                    format!("restaurant {s}")
                }),
            _ => "another restaurant".to_string(),
        };
        out.push(finding(
            "signed_for_another_tenant",
            Severity::Error,
            format!("{} deliveries to this restaurant's URL are signed with the secret of {owner}: a Stripe endpoint points at the wrong restaurant.", elsewhere.len()),
            elsewhere.iter().take(3).map(|r| format!("{} at {}", r.stripe_event_id.as_deref().unwrap_or("a delivery"), ms_to_rfc3339(r.received_at))).collect(),
            "In that Stripe account's dashboard, change the endpoint URL to the one shown under that restaurant's Payment settings.",
        ));
    }
    if no_match.len() - elsewhere.len() >= 3 && verified == 0 {
        out.push(finding(
            "wrong_secret",
            Severity::Error,
            format!("The last {} deliveries failed with no matching signature and none verified in 24 hours: the secret saved here is not this endpoint's.", no_match.len()),
            no_match.iter().take(3).map(|r| format!("{}: {}", ms_to_rfc3339(r.received_at), r.error.as_deref().unwrap_or_default())).collect(),
            "Copy the signing secret of exactly this endpoint (Stripe's dashboard → Developers → Webhooks → the endpoint whose URL ends in this restaurant's slug; not the Stripe CLI's secret, and of the same mode, live or test) and save it under Payment settings.",
        ));
    }
    let altered: Vec<&webhook_event::Model> = rejected
        .iter()
        .filter(|r| r.error_code.as_deref() == Some(crate::webhooks::crosscheck::BODY_ALTERED))
        .collect();
    if !altered.is_empty() {
        out.push(finding(
            "body_altered",
            Severity::Error,
            format!("{} deliveries were re-written on their way here: the body as received does not verify, the same JSON as Stripe writes it does. A proxy or framework in front of the gateway parses and re-serialises request bodies.", altered.len()),
            altered.iter().take(3).map(|r| format!("{} at {}", r.stripe_event_id.as_deref().unwrap_or("a delivery"), ms_to_rfc3339(r.received_at))).collect(),
            "Pass the request body through byte for byte to /api/v1/webhooks/stripe/…: no JSON body parser, no compression or re-encoding, no re-indenting in the proxy, load balancer or API gateway in front of it (nginx: plain proxy_pass; an application framework: route the path to the gateway before any body middleware).",
        ));
    }
    let skewed: Vec<&webhook_event::Model> = rejected
        .iter()
        .filter(|r| r.error_code.as_deref() == Some(codes::OUTSIDE_TOLERANCE))
        .collect();
    if !skewed.is_empty() {
        out.push(finding(
            "clock_skew",
            Severity::Error,
            format!("{} deliveries were refused because their signature time is too far from this server's clock.", skewed.len()),
            skewed.iter().take(3).map(|r| r.error.clone().unwrap_or_default()).collect(),
            "Synchronise this server's clock (NTP, e.g. systemd-timesyncd or chrony). Stripe retries the refused deliveries; `gateway recover` fetches any it gave up on.",
        ));
    }

    Ok(())
}

/// Verified events that changed nothing or could not be applied.
async fn event_findings(
    db: &DatabaseConnection,
    tenant: &tenant::Model,
    since: i64,
    now: i64,
    out: &mut Vec<Finding>,
) -> Result<(), DbErr> {
    let recent = || events(tenant.id).filter(webhook_event::Column::ReceivedAt.gte(since));
    let outcome = |o: &'static str| {
        recent()
            .filter(webhook_event::Column::Status.eq(EventStatus::Completed.as_str()))
            .filter(webhook_event::Column::Outcome.eq(o))
            .order_by_desc(webhook_event::Column::Id)
    };
    let mismatched = outcome("mode_mismatch").limit(3).all(db).await?;
    if !mismatched.is_empty() {
        let n = outcome("mode_mismatch").count(db).await?;
        out.push(finding(
            "mode_mismatch",
            Severity::Error,
            format!("{n} events were of the other mode than their order (a test event for a live order, or the reverse) and changed nothing."),
            mismatched.iter().map(|r| format!("{} about order {}", r.stripe_event_id.as_deref().unwrap_or("?"), r.order_id.as_deref().unwrap_or("?"))).collect(),
            "Use a live API key (gk_live_…) with the live Stripe endpoint's secret, and a test key with the test endpoint's; a test endpoint's secret does not belong in production.",
        ));
    }
    let unmatched = outcome("unmatched").limit(3).all(db).await?;
    if !unmatched.is_empty() {
        let n = outcome("unmatched").count(db).await?;
        out.push(finding(
            "unmatched_events",
            Severity::Warning,
            format!("{n} payment events named no order of this restaurant."),
            unmatched.iter().map(|r| format!("{} ({})", r.stripe_event_id.as_deref().unwrap_or("?"), r.event_type.as_deref().unwrap_or("?"))).collect(),
            "Create the Checkout Session with metadata[order_id] (or client_reference_id) set to the gateway's order_id.",
        ));
    }
    // Delivered to the tenant's own URL (through the Connect endpoint they belong).
    let connect = recent()
        .filter(webhook_event::Column::DedupKey.is_not_null())
        .filter(webhook_event::Column::Source.eq(Source::Webhook.as_str()))
        .filter(
            sea_orm::Condition::any()
                .add(webhook_event::Column::Payload.like("%\"account\":\"acct_%"))
                .add(webhook_event::Column::Payload.like("%\"account\": \"acct_%")),
        )
        .one(db)
        .await?;
    if let Some(row) = connect {
        out.push(finding(
            "connect_event",
            Severity::Warning,
            "Events carry an `account`: they come from a Connect endpoint, about connected accounts, not from this restaurant's own account.".into(),
            vec![row.stripe_event_id.unwrap_or_default()],
            "These events come from a Connect endpoint, about connected accounts. Point the platform's Connect endpoint at /api/v1/webhooks/stripe/connect instead, save its signing secret (PUT /api/v1/admin/connect-config), and link each restaurant to its account (PUT /api/v1/admin/tenants/{tenant}/connect); or, for the restaurant's own account, add an endpoint with \"Events on your account\" at this URL.",
        ));
    }

    let stuck = events(tenant.id)
        .filter(webhook_event::Column::Status.eq(EventStatus::Processing.as_str()))
        .filter(webhook_event::Column::ReceivedAt.lt(now - STUCK_AFTER_MS))
        .count(db)
        .await?;
    if stuck > 0 {
        out.push(finding(
            "stuck_processing",
            Severity::Error,
            format!("{stuck} events have been PROCESSING for over 5 minutes."),
            vec![],
            "Check /ready and the logs of every replica: an applier that cannot write (a full disk, a locked table) leaves events waiting. They are applied once storage works.",
        ));
    }
    let failed = recent()
        .filter(webhook_event::Column::Status.eq(EventStatus::Failed.as_str()))
        .filter(webhook_event::Column::DedupKey.is_not_null())
        .order_by_desc(webhook_event::Column::Id)
        .limit(3)
        .all(db)
        .await?;
    if !failed.is_empty() {
        out.push(finding(
            "failed_events",
            Severity::Error,
            "Verified events failed every attempt to apply them.".into(),
            failed.iter().map(|r| format!("{}: {}", r.stripe_event_id.as_deref().unwrap_or("?"), r.error.as_deref().unwrap_or_default())).collect(),
            "Read the error of each under Webhook events; once its cause is fixed, retry them there.",
        ));
    }

    Ok(())
}

/// Orders that a payment did not settle.
async fn order_findings(
    db: &DatabaseConnection,
    tenant: &tenant::Model,
    now: i64,
    out: &mut Vec<Finding>,
) -> Result<(), DbErr> {
    let mismatch_orders = order::Entity::find()
        .filter(order::Column::TenantId.eq(tenant.id))
        .filter(order::Column::Status.eq("AMOUNT_MISMATCH"))
        .limit(5)
        .all(db)
        .await?;
    if !mismatch_orders.is_empty() {
        out.push(finding(
            "amount_mismatch",
            Severity::Warning,
            "Payments succeeded that do not cover their orders (less, or another currency).".into(),
            mismatch_orders.iter().map(|o| format!("{}: expected {} {}", o.id, o.amount, o.currency)).collect(),
            "Check the Checkout Session's amount and currency against the order's. Refund or collect the difference, then settle the order with a manual override.",
        ));
    }
    let unfollowed = order::Entity::find()
        .filter(order::Column::TenantId.eq(tenant.id))
        .filter(order::Column::Status.eq("PAYMENT_PENDING"))
        .filter(order::Column::CheckoutSessionId.is_not_null())
        .filter(order::Column::UpdatedAt.lt(now - UNFOLLOWED_AFTER_MS))
        .limit(5)
        .all(db)
        .await?;
    if !unfollowed.is_empty() {
        out.push(finding(
            "unpaid_checkout_not_followed",
            Severity::Warning,
            "Checkout completed unpaid (a delayed payment method) and no outcome followed within 30 minutes.".into(),
            unfollowed.iter().map(|o| o.id.clone()).collect(),
            "Subscribe the endpoint to checkout.session.async_payment_succeeded and checkout.session.async_payment_failed.",
        ));
    }
    Ok(())
}

pub async fn from_stripe(
    db: &DatabaseConnection,
    config: &Config,
    tenant: &tenant::Model,
    view: &StripeView,
) -> Result<Vec<Finding>, DbErr> {
    let (endpoints, recent, connect) = match view {
        StripeView::NoKey => return Ok(Vec::new()),
        StripeView::Seen {
            endpoints,
            recent,
            connect,
        } => (endpoints, recent, *connect),
        StripeView::Rejected | StripeView::Unusable(_) | StripeView::Failed(_) => {
            return Ok(vec![unasked(view)]);
        }
    };
    // A connected account's events come through the platform's Connect endpoint.
    let path_slug = match connect {
        true => crate::tenants::slug::CONNECT,
        false => tenant.slug.as_str(),
    };
    let mut out = endpoint_findings(config, path_slug, endpoints);
    out.extend(events_not_received(db, tenant.id, recent).await?);
    Ok(out)
}

/// Why Stripe's API could not be asked.
fn unasked(view: &StripeView) -> Finding {
    if let StripeView::Failed(why) = view {
        let fix = if why.contains("tls: ") {
            "The certificate STRIPE_API_BASE presented did not verify (see the evidence). If a proxy with a private CA stands in between, trust that CA with SSL_CERT_FILE (a PEM bundle); otherwise check the machine's clock and its CA store."
        } else {
            "Check that this server reaches api.stripe.com (or STRIPE_API_BASE)."
        };
        return finding(
            "stripe_unreachable",
            Severity::Warning,
            "Stripe's API could not be asked; the checks that need it were skipped.".into(),
            vec![why.clone()],
            fix,
        );
    }
    let evidence = match view {
        StripeView::Unusable(why) => vec![why.clone()],
        _ => vec!["Stripe answered 401 Unauthorized".into()],
    };
    finding(
        "api_key_rejected",
        Severity::Error,
        "The restaurant's Stripe API key does not work: missed events cannot be recovered and Stripe's side cannot be checked.".into(),
        evidence,
        "Create a restricted key in Stripe's dashboard (Developers → API keys → Create restricted key) with Read access to Events and Webhook Endpoints, and save it under Payment settings.",
    )
}

/// The Stripe endpoints that point at this tenant's URL: missing, disabled, or not
/// subscribed to the types orders need.
fn endpoint_findings(
    config: &Config,
    slug: &str,
    endpoints: &[crate::stripe::api::Endpoint],
) -> Vec<Finding> {
    let mut out = Vec::new();
    let path = format!("/api/v1/webhooks/stripe/{slug}");
    let expected = config
        .watch
        .public_base_url
        .as_ref()
        .map(|base| format!("{base}{path}"));
    let ours: Vec<_> = endpoints
        .iter()
        .filter(|e| match &expected {
            Some(url) => e.url.trim_end_matches('/') == url,
            None => e.url.trim_end_matches('/').ends_with(&path),
        })
        .collect();
    if ours.is_empty() {
        out.push(finding(
            "endpoint_missing",
            Severity::Error,
            "No webhook endpoint of the restaurant's Stripe account points at this restaurant's URL.".into(),
            std::iter::once(format!("expected: {}", expected.clone().unwrap_or_else(|| format!("…{path}"))))
                .chain(endpoints.iter().map(|e| format!("found: {} ({})", e.url, e.status)))
                .collect(),
            "Add an endpoint with exactly the expected URL (Developers → Webhooks → Add endpoint), or correct the one that is there.",
        ));
    }
    for e in &ours {
        if e.status != "enabled" {
            out.push(finding(
                "endpoint_disabled",
                Severity::Error,
                "Stripe has disabled the endpoint (it does after days of failed deliveries): nothing is delivered.".into(),
                vec![format!("{}: {}", e.url, e.status)],
                "Fix the cause the other findings name, then enable the endpoint in Stripe's dashboard, and run recover for what was missed.",
            ));
        }
        let all = e.enabled_events.iter().any(|t| t == "*");
        let missing: Vec<&str> = NEEDED_TYPES
            .iter()
            .copied()
            .filter(|t| !all && !e.enabled_events.iter().any(|have| have == t))
            .collect();
        if !missing.is_empty() {
            out.push(finding(
                "event_types_missing",
                Severity::Error,
                "The endpoint is not subscribed to event types orders need.".into(),
                missing.iter().map(|t| format!("missing: {t}")).collect(),
                "In Stripe's dashboard, edit the endpoint and select these events (or all events).",
            ));
        }
        let unheard: Vec<&str> = DISPUTE_TYPES
            .iter()
            .copied()
            .filter(|t| !all && !e.enabled_events.iter().any(|have| have == t))
            .collect();
        if !unheard.is_empty() {
            out.push(finding(
                "dispute_events_missing",
                Severity::Warning,
                "The endpoint is not subscribed to chargebacks or cancellations: a disputed order would stay PAID with nobody told, and its evidence deadline would pass.".into(),
                unheard.iter().map(|t| format!("missing: {t}")).collect(),
                "In Stripe's dashboard, edit the endpoint and select these events (or all events).",
            ));
        }
    }
    out
}

/// Events Stripe has, about payments, that the gateway never stored.
async fn events_not_received(
    db: &DatabaseConnection,
    tenant_id: i64,
    recent: &[crate::stripe::api::ListedEvent],
) -> Result<Option<Finding>, DbErr> {
    let cutoff = crate::clock::now_ms() / 1000 - DELIVERY_GRACE_S;
    let relevant: Vec<&crate::stripe::api::ListedEvent> = recent
        .iter()
        .filter(|e| e.created <= cutoff)
        .filter(|e| event::parse(e.json.as_bytes()).is_ok_and(|f| f.effect != Effect::Ignored))
        .collect();
    if relevant.is_empty() {
        return Ok(None);
    }
    let ids: Vec<String> = relevant.iter().map(|e| e.id.clone()).collect();
    let have: HashSet<String> = events(tenant_id)
        .filter(webhook_event::Column::DedupKey.is_in(ids))
        .all(db)
        .await?
        .into_iter()
        .filter_map(|r| r.dedup_key)
        .collect();
    let missing: Vec<&&crate::stripe::api::ListedEvent> =
        relevant.iter().filter(|e| !have.contains(&e.id)).collect();
    if missing.is_empty() {
        return Ok(None);
    }
    Ok(Some(finding(
        "events_not_received",
        Severity::Error,
        format!(
            "Stripe has {} payment events of the last 3 days that this gateway never received.",
            missing.len()
        ),
        missing.iter().take(5).map(|e| e.id.clone()).collect(),
        "Run \"Recover missed events\" (or `gateway recover SLUG`): they are fetched and applied once. Then fix what kept them away (see the other findings).",
    )))
}
