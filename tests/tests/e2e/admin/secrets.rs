//! Webhook secrets: set, rotate with a grace period, remove, re-encrypt; honoured by every replica.

use super::setup;
use crate::on_both_backends;
use crate::support::*;
use serde_json::json;
use std::time::Duration;

async fn secrets_are_managed_without_ever_being_shown(backend: Backend) {
    let app = TestApp::spawn_with(backend, &[("RUST_LOG", "debug")]).await;
    let (a, _b, _platform, admin_a) = setup(&app).await;
    let base = format!("/api/v1/admin/tenants/{}/payment-config", a.slug);
    let mut responses = String::new();
    let Reply {
        status,
        body: reply,
    } = app
        .as_admin(&admin_a)
        .put(&base, json!({"webhook_secret": "sk_live_oops"}))
        .await;
    assert_eq!(status, 422);
    assert_eq!(reply["error"], "invalid_webhook_secret");
    assert!(reply["message"].as_str().unwrap().contains("whsec_"));

    let first = format!("whsec_{}", random_hex(16));
    let Reply {
        status,
        body: reply,
    } = app
        .as_admin(&admin_a)
        .put(&base, json!({"webhook_secret": first}))
        .await;
    assert_eq!(status, 200);
    responses += &reply.to_string();
    assert_eq!(reply["configured"], true);
    assert_eq!(
        reply["secrets"][0]["hint"],
        format!("whsec_…{}", &first[first.len() - 4..])
    );
    // Set replaces: the CLI's secret stopped working at once.
    let body = || event(&evt_id(), "customer.created", fixture("customer"));
    assert_eq!(app.deliver(&a.slug, &a.secret, &body()).await.status(), 400);
    assert_eq!(app.deliver(&a.slug, &first, &body()).await.status(), 200);

    // Rotation: old and new both verify during the grace period; a header with both
    // signatures verifies; after the grace period the old one fails, without a restart.
    let second = format!("whsec_{}", random_hex(16));
    let Reply {
        status,
        body: reply,
    } = app
        .as_admin(&admin_a)
        .post(
            &format!("{base}/rotate"),
            json!({"webhook_secret": second, "previous_expires_in_secs": 2}),
        )
        .await;
    assert_eq!(status, 200, "{reply}");
    responses += &reply.to_string();
    assert_eq!(reply["secrets"].as_array().unwrap().len(), 2);
    assert_eq!(app.deliver(&a.slug, &first, &body()).await.status(), 200);
    assert_eq!(app.deliver(&a.slug, &second, &body()).await.status(), 200);
    let b = body();
    let t = now();
    let both = format!(
        "t={t},v1={},v1={}",
        signature(&first, t, &b),
        signature(&second, t, &b)
    );
    assert_eq!(
        app.deliver_with_header(&a.slug, Some(&both), &b)
            .await
            .status(),
        200
    );
    // Once the grace period ends, the previous secret stops verifying.
    app.deliveries_answer(&a.slug, &first, 400, Duration::from_secs(10))
        .await;
    assert_eq!(app.deliver(&a.slug, &second, &body()).await.status(), 200);
    let Reply { status, .. } = app
        .as_admin(&admin_a)
        .post(
            &format!("{base}/rotate"),
            json!({"webhook_secret": second, "previous_expires_in_secs": 90000}),
        )
        .await;
    assert_eq!(status, 422, "at most 24 hours");

    let Reply { body: shown, .. } = app.as_admin(&admin_a).get(&base).await;
    responses += &shown.to_string();
    let Reply { body: audit, .. } = app
        .as_admin(&admin_a)
        .tenant_get(&a.slug, "audit-log")
        .await;
    responses += &audit.to_string();
    let actions: Vec<&str> = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["action"].as_str().unwrap())
        .collect();
    assert!(
        actions.contains(&"payment_config.set") && actions.contains(&"payment_config.rotate"),
        "{actions:?}"
    );

    let Reply { status, .. } = app.as_admin(&admin_a).delete(&base).await;
    assert_eq!(status, 204);
    assert_eq!(app.deliver(&a.slug, &second, &body()).await.status(), 404);
    let Reply { body: shown, .. } = app.as_admin(&admin_a).get(&base).await;
    assert_eq!(shown["configured"], false);

    let everything = responses + &app.logs();
    for secret in [&first, &second, &a.secret] {
        assert!(!everything.contains(secret.as_str()), "a secret leaked");
        assert!(
            !everything.contains(&secret["whsec_".len()..]),
            "a secret leaked"
        );
    }
    assert!(!everything.contains(PASSWORD));
}

async fn keys_rotate_reencrypts_every_secret_and_can_run_again(backend: Backend) {
    let app = TestApp::spawn_with(backend, &[("NOTIFY_ALLOW_PRIVATE", "true")]).await;
    let tenants = [app.tenant(), app.tenant(), app.tenant()];
    // Besides the webhook secrets: a Stripe API key and a notification endpoint's secret.
    app.cli_ok(
        &["config", "set-api-key", &tenants[0].slug],
        Some("rk_test_rotationKey123456"),
    );
    let email = format!("ops-{}@example.com", random_hex(3));
    app.create_admin(&email, "platform_admin", None);
    let admin = app.login(&email).await;
    let hooks = Backend2::start().await;
    let added = app
        .as_admin(&admin)
        .tenant_post(
            &tenants[0].slug,
            "notification-endpoints",
            json!({"url": hooks.url}),
        )
        .await;
    assert_eq!(added.status, 201, "{:?}", added.body);
    hooks.set_secret(added["secret"].as_str().unwrap());
    let new_key = "cd".repeat(32);
    let mut env = app.env.clone();
    env.retain(|(k, _)| k != "PAYMENT_CONFIG_ENC_KEY");
    env.push(("PAYMENT_CONFIG_ENC_KEY".into(), new_key.clone()));
    env.push(("PAYMENT_CONFIG_ENC_KEY_PREVIOUS".into(), ENC_KEY.into()));
    let out = cli(&env, &["keys", "rotate"], None);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    for line in [
        "webhook secrets: 3 re-encrypted",
        "Stripe API keys: 1 re-encrypted",
        "notification endpoint secrets: 1 re-encrypted",
    ] {
        assert!(stdout.contains(line), "{line} in {stdout}");
    }
    let again = cli(&env, &["keys", "rotate"], None);
    let again = String::from_utf8_lossy(&again.stdout);
    assert_eq!(
        again.matches(" 0 re-encrypted").count(),
        3,
        "idempotent: {again}"
    );
    // The new key alone now reads every secret.
    env.retain(|(k, _)| k != "PAYMENT_CONFIG_ENC_KEY_PREVIOUS");
    let check = cli(&env, &["config", "check"], None);
    let said = String::from_utf8_lossy(&check.stdout);
    assert!(check.status.success(), "{said}");
    assert!(said.contains("Stripe API key rk_test_…3456: ok"), "{said}");
    assert!(said.contains("secret: ok"), "{said}");
    // With the old key alone, check names what it cannot open.
    let stale = cli(&app.env, &["config", "check"], None);
    let said = String::from_utf8_lossy(&stale.stdout);
    assert!(!stale.status.success());
    assert!(said.contains("Stripe API key: wrong key"), "{said}");
    assert!(said.contains("secret: wrong key"), "{said}");
    // And a gateway on the new key verifies with them.
    let replica = TestApp::spawn_on(
        app.db.clone(),
        &[
            ("PAYMENT_CONFIG_ENC_KEY", &new_key),
            ("NOTIFY_ALLOW_PRIVATE", "true"),
        ],
    )
    .await;
    for t in &tenants {
        let response = replica
            .deliver(
                &t.slug,
                &t.secret,
                &event(&evt_id(), "customer.created", fixture("customer")),
            )
            .await;
        assert_eq!(response.status(), 200);
    }
    // The notification secret re-sealed under the new key still signs what it sends.
    let order = replica.create_order(&tenants[0], 700).await;
    let body = paid_checkout(&evt_id(), &order, 700);
    replica
        .deliver(&tenants[0].slug, &tenants[0].secret, &body)
        .await;
    eventually(
        "a verified notification",
        Duration::from_secs(15),
        || async {
            let got = hooks.got();
            if got.iter().any(|(_, body, _)| body.is_some()) {
                Ok(())
            } else {
                Err(format!("{got:?}"))
            }
        },
    )
    .await;
}

on_both_backends!(
    secrets_are_managed_without_ever_being_shown,
    keys_rotate_reencrypts_every_secret_and_can_run_again,
);

/// Two gateways on one PostgreSQL: a secret replaced through one is refused by the
/// other within a second.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_through_one_replica_is_honoured_by_another_within_a_second() {
    within_limit(async {
        let one = TestApp::spawn(Backend::Postgres).await;
        let two = TestApp::spawn_on(one.db.clone(), &[]).await;
        let (a, _b, _platform, admin_a) = setup(&one).await;
        let body = || event(&evt_id(), "customer.created", fixture("customer"));
        assert_eq!(
            two.deliver(&a.slug, &a.secret, &body()).await.status(),
            200,
            "replica two has the secret cached"
        );
        let fresh = format!("whsec_{}", random_hex(16));
        let Reply { status, .. } = one.as_admin(&admin_a).set_secret(&a.slug, &fresh).await;
        assert_eq!(status, 200);
        let within = Duration::from_millis(1500); // the cache holds 500 ms; the rest is slack
        two.deliveries_answer(&a.slug, &a.secret, 400, within).await;
        assert_eq!(two.deliver(&a.slug, &fresh, &body()).await.status(), 200);
        let Reply { status, .. } = one
            .as_admin(&admin_a)
            .delete(&format!("/api/v1/admin/tenants/{}/payment-config", a.slug))
            .await;
        assert_eq!(status, 204);
        two.deliveries_answer(&a.slug, &fresh, 404, within).await;
    })
    .await
}
