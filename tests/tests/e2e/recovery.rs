//! Recovery from Stripe (CONTRACT §7), against a fake of Stripe's API on loopback.

use crate::on_both_backends;
use crate::support::*;
use serde_json::{Value, json};
use std::time::Duration;

pub const API_KEY: &str = "rk_test_recoveryKey123456";

/// A gateway that asks the fake for Stripe's API (automatic recovery off unless set).
pub async fn with_stripe(backend: Backend, extra: &[(&str, &str)]) -> (TestApp, FakeStripe) {
    let stripe = FakeStripe::start().await;
    let mut env = vec![
        ("STRIPE_API_BASE", stripe.url.as_str()),
        ("RECOVERY_INTERVAL_SECS", "0"),
    ];
    env.extend_from_slice(extra);
    (TestApp::spawn_with(backend, &env).await, stripe)
}

pub fn set_api_key(app: &TestApp, tenant: &Tenant) {
    app.cli_ok(&["config", "set-api-key", &tenant.slug], Some(API_KEY));
}

async fn an_event_stripe_has_and_the_gateway_never_got_is_recovered_once(backend: Backend) {
    let (app, stripe) = with_stripe(backend, &[]).await;
    let tenant = app.tenant();
    set_api_key(&app, &tenant);
    let order = app.create_order(&tenant, 2599).await;
    let id = evt_id();
    let body = paid_checkout(&id, &order, 2599);
    stripe.add_event(&body);
    let out = app.cli_ok(&["recover", &tenant.slug], None);
    assert!(
        out.contains("1 listed by Stripe, 0 already here, 1 recovered, 0 failed"),
        "{out}"
    );
    let paid = app.order_reaches(&order, "PAID").await;
    let admin = app.as_admin(&app.platform_admin().await);
    let listed = admin.events(&tenant.slug, "").await;
    let row = listed
        .iter()
        .find(|e| e["stripe_event_id"] == id.as_str())
        .unwrap();
    assert_eq!(row["source"], "recovered");
    assert_eq!(row["status"], "COMPLETED");
    // Stripe delivers it after all: a duplicate, nothing applied twice.
    let late: Value = app
        .deliver(&tenant.slug, &tenant.secret, &body)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(late["duplicate"], true);
    assert_eq!(
        app.order_status(&order).await["updated_at"],
        paid["updated_at"]
    );
    // Asked as Stripe's API wants: the key as bearer, a pinned version.
    let (path, auth, version) = stripe.seen()[0].clone();
    assert_eq!(path, "/v1/events");
    assert_eq!(auth, format!("Bearer {API_KEY}"));
    assert!(!version.is_empty());
    // A second run finds nothing new.
    let again = admin.tenant_post(&tenant.slug, "recover", json!({})).await;
    assert_eq!(again.status, 200, "{:?}", again.body);
    assert_eq!(
        again.body,
        json!({"listed": 1, "already_had": 1, "recovered": 0, "failed": 0})
    );
}

async fn two_hundred_fifty_events_over_three_pages_are_all_recovered(backend: Backend) {
    let (app, stripe) = with_stripe(backend, &[]).await;
    let tenant = app.tenant();
    set_api_key(&app, &tenant);
    for _ in 0..250 {
        stripe.add_event(&event(&evt_id(), "customer.created", fixture("customer")));
    }
    let admin = app.as_admin(&app.platform_admin().await);
    let summary = admin.tenant_post(&tenant.slug, "recover", json!({})).await;
    assert_eq!(
        summary.body,
        json!({"listed": 250, "already_had": 0, "recovered": 250, "failed": 0})
    );
    let pages = stripe
        .seen()
        .iter()
        .filter(|(p, _, _)| p == "/v1/events")
        .count();
    // Each listing of the 250 walks three pages (100 + 100 + 50). The alert round's
    // diagnosis of this restaurant (it has a Stripe key) may list them too, once
    // (CI once saw six requests: two whole walks), so whole walks are counted.
    assert!(
        pages >= 3 && pages % 3 == 0,
        "{pages} requests: not walks of 100 + 100 + 50"
    );
    let done = app
        .db
        .query("SELECT COUNT(*) AS n FROM webhook_event WHERE source = 'recovered' AND status = 'COMPLETED'")
        .await;
    assert_eq!(done[0]["n"], 250);
}

async fn automatic_recovery_applies_an_event_without_any_command(backend: Backend) {
    let (app, stripe) = with_stripe(backend, &[("RECOVERY_INTERVAL_SECS", "1")]).await;
    let tenant = app.tenant();
    let order = app.create_order(&tenant, 1200).await;
    stripe.add_event(&paid_checkout(&evt_id(), &order, 1200));
    set_api_key(&app, &tenant);
    app.order_reaches(&order, "PAID").await;
}

async fn stripe_errors_are_retried_and_a_rejected_key_is_named(backend: Backend) {
    let (app, stripe) = with_stripe(backend, &[]).await;
    let tenant = app.tenant();
    set_api_key(&app, &tenant);
    stripe.add_event(&event(&evt_id(), "customer.created", fixture("customer")));
    stripe.fail_next(&[429, 500]);
    let out = app.cli_ok(&["recover", &tenant.slug], None);
    assert!(
        out.contains("1 recovered"),
        "retried through 429 and 500: {out}"
    );
    stripe.reject_key(true);
    let refused = app.cli(&["recover", &tenant.slug], None);
    assert_eq!(refused.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("rejected the API key"), "{stderr}");
    assert_eq!(
        said_besides_the_database(&stderr).len(),
        1,
        "one clear line: {stderr}"
    );
    let admin = app.as_admin(&app.platform_admin().await);
    let codes = eventually("api_key_rejected", Duration::from_secs(15), || async {
        let d = admin.tenant_get(&tenant.slug, "diagnosis").await;
        let codes: Vec<String> = d["findings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["code"].as_str().unwrap().to_string())
            .collect();
        if codes.iter().any(|c| c == "api_key_rejected") {
            Ok(codes)
        } else {
            Err(format!("{codes:?}"))
        }
    })
    .await;
    assert!(codes.contains(&"api_key_rejected".to_string()));
    let api = admin.tenant_post(&tenant.slug, "recover", json!({})).await;
    assert_eq!(api.status, 422);
    assert_eq!(api["error"], "stripe_api_key_rejected");
    // The key itself is never shown: not by the API, the logs or the audit log.
    let shown = admin.tenant_get(&tenant.slug, "stripe-api-key").await;
    assert_eq!(shown["hint"], "rk_test_…3456");
    let audit = admin.tenant_get(&tenant.slug, "audit-log").await;
    for text in [shown.body.to_string(), audit.body.to_string(), app.logs()] {
        assert!(!text.contains(API_KEY), "the key leaked");
    }
    assert!(!app.logs().contains("panicked"));
}

on_both_backends!(
    an_event_stripe_has_and_the_gateway_never_got_is_recovered_once,
    two_hundred_fifty_events_over_three_pages_are_all_recovered,
    automatic_recovery_applies_an_event_without_any_command,
    stripe_errors_are_retried_and_a_rejected_key_is_named,
);
