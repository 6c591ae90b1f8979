//! Stripe Connect through the real gateway (CONTRACT §11): one Connect endpoint for
//! every connected account, routed by `account` to the linked restaurant, logged,
//! deduplicated and applied as a delivery to the restaurant's own URL; recovery and
//! diagnosis through the platform's key with `Stripe-Account`.

use crate::on_both_backends;
use crate::recovery::with_stripe;
use crate::support::*;
use serde_json::{Value, json};

const PLATFORM_KEY: &str = "rk_live_platformKey123456";

fn for_account(body: &str, account: &str) -> String {
    let mut event: Value = serde_json::from_str(body).unwrap();
    event["account"] = json!(account);
    event.to_string()
}

fn account_event(kind: &str, account: &str, object: Value) -> (String, String) {
    let id = evt_id();
    let body = for_account(&event(&id, kind, object), account);
    (id, body)
}

async fn a_connected_accounts_events_reach_its_restaurant_once(backend: Backend) {
    let (app, stripe) = with_stripe(backend, &[]).await;
    let email = format!("ops-{}@example.com", random_hex(3));
    app.create_admin(&email, "platform_admin", None);
    let admin = app.as_admin(&app.login(&email).await);
    let account = format!("acct_{}", random_hex(8));
    let other_account = format!("acct_{}", random_hex(8));

    // Without a Connect secret the endpoint has no config.
    let early = event(&evt_id(), "checkout.session.completed", json!({}));
    let refused = app.deliver("connect", "whsec_nothingsetyet1", &early).await;
    assert_eq!(refused.status(), 404);

    let connect_secret = format!("whsec_{}", random_hex(16));
    let set = admin
        .put(
            "/api/v1/admin/connect-config",
            json!({"webhook_secret": connect_secret, "stripe_api_key": PLATFORM_KEY}),
        )
        .await;
    assert_eq!(set.status, 200, "{:?}", set.body);
    assert_eq!(set["configured"], true);
    assert_eq!(set["webhook_path"], "/api/v1/webhooks/stripe/connect");
    assert_eq!(set["stripe_api_key"]["hint"], "rk_live_…3456");
    assert!(!set.body.to_string().contains(&connect_secret[6..]));

    // A restaurant with no secret of its own, linked to its account; the slug
    // `connect` and a second claim on the account are refused.
    let slug = format!("connected-{}", random_hex(3));
    app.cli_ok(&["tenant", "create", &slug, "--name", "Connected"], None);
    let reserved = admin
        .post(
            "/api/v1/admin/tenants",
            json!({"slug": "connect", "name": "X"}),
        )
        .await;
    assert_eq!(reserved.status, 422, "{:?}", reserved.body);
    let linked = admin
        .put(
            &format!("/api/v1/admin/tenants/{slug}/connect"),
            json!({"account_id": account}),
        )
        .await;
    assert_eq!(linked.status, 200, "{:?}", linked.body);
    let rival = app.tenant();
    let taken = admin
        .put(
            &format!("/api/v1/admin/tenants/{}/connect", rival.slug),
            json!({"account_id": account}),
        )
        .await;
    assert_eq!(taken.status, 409, "{:?}", taken.body);
    assert_eq!(taken["error"], "account_taken");
    let listed = admin.get("/api/v1/admin/tenants").await;
    let mine = listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["slug"] == slug.as_str())
        .cloned()
        .unwrap();
    assert_eq!(mine["connect_account_id"], account.as_str());
    assert!(
        !listed.body.to_string().contains("\"slug\":\"connect\""),
        "the platform's settings are no restaurant"
    );

    // The restaurant's order is paid through the Connect endpoint.
    let key = app
        .cli_ok(&["tenant", "api-key", &slug], None)
        .trim()
        .to_string();
    let tenant = Tenant {
        slug: slug.clone(),
        secret: String::new(),
        api_key: key,
    };
    let order = app.create_order(&tenant, 2599).await;
    let pay = Payment::new(&order, 2599);
    let (paid_id, paid) =
        account_event("checkout.session.completed", &account, pay.session("paid"));
    let answer: Value = app
        .deliver("connect", &connect_secret, &paid)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(answer["duplicate"], false, "{answer}");
    let row = app.settled(&paid_id).await;
    assert_eq!(row["status"], "COMPLETED");
    assert_eq!(app.order_status(&order).await["status"], "PAID");
    let log = admin.events(&slug, "").await;
    let logged = log
        .iter()
        .find(|e| e["stripe_event_id"] == paid_id.as_str())
        .unwrap();
    assert_eq!(logged["source"], "connect");
    // Stripe's retry is a duplicate; a wrong signature is refused.
    let again: Value = app
        .deliver("connect", &connect_secret, &paid)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(again["duplicate"], true);
    let forged = app.deliver("connect", &rival.secret, &paid).await;
    assert_eq!(forged.status(), 400);

    // The Connect secret rotates like a restaurant's: both verify during the grace.
    let next = format!("whsec_{}", random_hex(16));
    let rotated = admin
        .post(
            "/api/v1/admin/connect-config/rotate",
            json!({"webhook_secret": next, "previous_expires_in_secs": 600}),
        )
        .await;
    assert_eq!(rotated.status, 200, "{:?}", rotated.body);
    assert_eq!(rotated["secrets"].as_array().unwrap().len(), 2);
    for secret in [&next, &connect_secret] {
        let (_, body) = account_event("customer.created", &account, fixture("customer"));
        assert_eq!(app.deliver("connect", secret, &body).await.status(), 200);
    }
    let audit = admin.get("/api/v1/admin/audit-log").await;
    assert!(
        audit.body.to_string().contains("payment_config.rotate"),
        "{:?}",
        audit.body
    );
    assert!(!audit.body.to_string().contains(&next[6..]));

    // An account linked to no restaurant: 200, and listed with its account.
    let (stray_id, stray) = account_event(
        "payment_intent.succeeded",
        &other_account,
        pay.intent("succeeded"),
    );
    let answer = app.deliver("connect", &connect_secret, &stray).await;
    assert_eq!(answer.status(), 200);
    let unrouted = eventually(
        "the unrouted delivery",
        std::time::Duration::from_secs(5),
        || async {
            let page = admin.get("/api/v1/admin/unrouted-deliveries").await;
            page["items"]
                .as_array()
                .unwrap()
                .iter()
                .find(|i| i["stripe_event_id"] == stray_id.as_str())
                .cloned()
                .ok_or_else(|| page.body.to_string())
        },
    )
    .await;
    assert_eq!(unrouted["account_id"], other_account.as_str());
    assert_eq!(unrouted["tenant_slug"], "connect");

    // Recovery and diagnosis use the platform's key for the account.
    let order2 = app.create_order(&tenant, 1200).await;
    let (missed_id, missed) = account_event(
        "checkout.session.completed",
        &account,
        Payment::new(&order2, 1200).session("paid"),
    );
    stripe.add_event(&missed);
    let recovered = admin.tenant_post(&slug, "recover", json!({})).await;
    assert_eq!(recovered.status, 200, "{:?}", recovered.body);
    assert_eq!(recovered["recovered"], 1, "{:?}", recovered.body);
    app.settled(&missed_id).await;
    assert_eq!(app.order_status(&order2).await["status"], "PAID");
    assert!(
        stripe
            .on_accounts()
            .iter()
            .any(|(path, on)| path == "/v1/events" && on == &account),
        "{:?}",
        stripe.on_accounts()
    );
    assert!(
        stripe
            .seen()
            .iter()
            .all(|(_, auth, _)| auth == &format!("Bearer {PLATFORM_KEY}")),
        "the platform's key"
    );
    // Without a secret of its own it is not misconfigured: the Connect secret verifies it.
    let findings = admin.tenant_get(&slug, "diagnosis").await;
    assert_eq!(findings.status, 200);
    assert!(
        !findings.body.to_string().contains("no_secret"),
        "{:?}",
        findings.body
    );
    assert_eq!(admin.health(&slug).await["configured"], true);
    let checked = app.cli_ok(&["config", "check"], None);
    assert!(
        checked.contains(&format!("{slug}: no secret of its own")),
        "{checked}"
    );
    assert!(checked.contains("connect: ok"), "{checked}");
}

async fn an_account_that_cannot_charge_or_left_is_named_and_connect_is_managed_by_cli(
    backend: Backend,
) {
    let receiver = Receiver::start(Behaviour::Accept).await;
    let env = [
        ("ALERT_WEBHOOK_URL", receiver.url.as_str()),
        ("ALERT_INTERVAL_SECS", "1"),
    ];
    let app = TestApp::spawn_with(backend, &env).await;
    let connect_secret = format!("whsec_{}", random_hex(16));
    app.cli_ok(&["config", "set-connect-secret"], Some(&connect_secret));
    let tenant = app.tenant();
    let account = format!("acct_{}", random_hex(8));
    let out = app.cli_ok(&["tenant", "connect", &tenant.slug, &account], None);
    assert!(out.contains(&account), "{out}");
    let email = format!("ops-{}@example.com", random_hex(3));
    app.create_admin(&email, "platform_admin", None);
    let admin = app.as_admin(&app.login(&email).await);

    // send-test-event --connect goes through the Connect endpoint.
    let base = app.url("");
    let sent = app.cli_ok(
        &[
            "send-test-event",
            &tenant.slug,
            "--type",
            "account.updated",
            "--connect",
            &account,
            "--url",
            &base,
        ],
        None,
    );
    assert!(sent.contains("→ 200"), "{sent}");
    let diagnosis = eventually(
        "account_charges_disabled",
        std::time::Duration::from_secs(10),
        || async {
            let d = admin.tenant_get(&tenant.slug, "diagnosis").await;
            d["findings"]
                .as_array()
                .unwrap()
                .iter()
                .find(|f| f["code"] == "account_charges_disabled")
                .cloned()
                .ok_or_else(|| d.body.to_string())
        },
    )
    .await;
    assert_eq!(diagnosis["severity"], "error");
    let fired = eventually("the alert", std::time::Duration::from_secs(15), || async {
        receiver
            .received()
            .into_iter()
            .find(|a| a["code"] == "account_charges_disabled" && a["state"] == "firing")
            .ok_or_else(|| "not yet".to_string())
    })
    .await;
    assert_eq!(fired["tenant"], tenant.slug.as_str());

    // The account disconnects the platform.
    let (_, gone) = account_event(
        "account.application.deauthorized",
        &account,
        json!({"id": "ca_1", "object": "application", "name": "Platform"}),
    );
    assert_eq!(
        app.deliver("connect", &connect_secret, &gone)
            .await
            .status(),
        200
    );
    eventually(
        "account_deauthorized",
        std::time::Duration::from_secs(10),
        || async {
            let d = admin.tenant_get(&tenant.slug, "diagnosis").await;
            if d.body.to_string().contains("account_deauthorized") {
                Ok(())
            } else {
                Err(d.body.to_string())
            }
        },
    )
    .await;

    // Events with `account` at the restaurant's own URL are pointed at the Connect endpoint.
    let (_, misrouted) = account_event("customer.created", &account, fixture("customer"));
    assert_eq!(
        app.deliver(&tenant.slug, &tenant.secret, &misrouted)
            .await
            .status(),
        200
    );
    let d = admin.tenant_get(&tenant.slug, "diagnosis").await;
    let finding = d["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["code"] == "connect_event")
        .cloned()
        .unwrap_or_else(|| panic!("{:?}", d.body));
    assert!(
        finding["fix"]
            .as_str()
            .unwrap()
            .contains("/api/v1/webhooks/stripe/connect"),
        "{finding}"
    );

    // Unlinked, the account's events are unrouted (by another process, the CLI: within
    // the secret cache's second on SQLite, at once where changes are announced).
    app.cli_ok(&["tenant", "connect", &tenant.slug, "--unlink"], None);
    let page = eventually("unrouted", std::time::Duration::from_secs(5), || async {
        let (id, body) = account_event("customer.created", &account, fixture("customer"));
        assert_eq!(
            app.deliver("connect", &connect_secret, &body)
                .await
                .status(),
            200
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        let page = admin.get("/api/v1/admin/unrouted-deliveries").await;
        if page.body.to_string().contains(&id) {
            Ok(page)
        } else {
            Err(page.body.to_string())
        }
    })
    .await;
    assert!(page.body.to_string().contains(&account));
}

on_both_backends!(
    a_connected_accounts_events_reach_its_restaurant_once,
    an_account_that_cannot_charge_or_left_is_named_and_connect_is_managed_by_cli,
);
