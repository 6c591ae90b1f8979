//! Notifications to restaurant backends (CONTRACT §8), verified by the receiver with
//! the Standard Webhooks library.

use crate::on_both_backends;
use crate::support::*;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

const ALLOW: (&str, &str) = ("NOTIFY_ALLOW_PRIVATE", "true");

/// Registers `backend` for the tenant; the endpoint id.
async fn register(app: &TestApp, token: &str, tenant: &Tenant, backend: &Backend2) -> i64 {
    let reply = app
        .as_admin(token)
        .tenant_post(
            &tenant.slug,
            "notification-endpoints",
            json!({"url": backend.url}),
        )
        .await;
    assert_eq!(reply.status, 201, "{:?}", reply.body);
    let secret = reply["secret"].as_str().unwrap();
    assert!(secret.starts_with("whsec_"));
    backend.set_secret(secret);
    reply["id"].as_i64().unwrap()
}

async fn verified(backend: &Backend2, kind: &str, within: Duration) -> (String, Value) {
    eventually(&format!("a verified {kind}"), within, || async {
        let got = backend.got();
        got.iter()
            .find_map(|(id, body, _)| {
                body.as_ref()
                    .filter(|b| b["type"] == kind)
                    .map(|b| (id.clone(), b.clone()))
            })
            .ok_or_else(|| format!("{got:?}"))
    })
    .await
}

async fn a_payment_and_a_refund_are_notified_signed_as_the_specification_says(backend: Backend) {
    let app = TestApp::spawn_with(backend, &[ALLOW]).await;
    let tenant = app.tenant();
    let token = app.platform_admin().await;
    let hooks = Backend2::start().await;
    register(&app, &token, &tenant, &hooks).await;
    let order = app.create_order(&tenant, 2599).await;
    let pay = Payment::new(&order, 2599);
    let body = event(&evt_id(), "checkout.session.completed", pay.session("paid"));
    assert_eq!(
        app.deliver(&tenant.slug, &tenant.secret, &body)
            .await
            .status(),
        200
    );
    let acked = Instant::now();
    let (_, paid) = verified(&hooks, "order.paid", Duration::from_secs(5)).await;
    assert!(
        acked.elapsed() < Duration::from_secs(2),
        "told {:?} after the delivery",
        acked.elapsed()
    );
    assert_eq!(paid["data"]["order_id"], order.as_str());
    assert_eq!(paid["data"]["status"], "PAID");
    assert_eq!(paid["data"]["amount"], 2599);
    assert_eq!(paid["data"]["currency"], "eur");
    assert_eq!(paid["data"]["livemode"], true);
    assert_eq!(paid["data"]["reference"], "table 12");
    assert!(paid["timestamp"].is_string());
    let body = event(&evt_id(), "charge.refunded", pay.charge("succeeded", 2599));
    assert_eq!(
        app.deliver(&tenant.slug, &tenant.secret, &body)
            .await
            .status(),
        200
    );
    verified(&hooks, "order.refunded", Duration::from_secs(5)).await;
    assert!(
        hooks.got().iter().all(|(_, body, _)| body.is_some()),
        "every notification verifies"
    );
}

async fn a_failing_receiver_gets_the_same_webhook_id_until_it_succeeds(backend: Backend) {
    let app = TestApp::spawn_with(backend, &[ALLOW, ("NOTIFY_RETRY_BASE_MS", "200")]).await;
    let tenant = app.tenant();
    let token = app.platform_admin().await;
    let hooks = Backend2::start().await;
    hooks.refuse_first(&[503, 503]);
    let endpoint = register(&app, &token, &tenant, &hooks).await;
    let order = app.create_order(&tenant, 1500).await;
    let body = paid_checkout(&evt_id(), &order, 1500);
    app.deliver(&tenant.slug, &tenant.secret, &body).await;
    let got = eventually("three attempts", Duration::from_secs(10), || async {
        let got = hooks.got();
        if got.len() >= 3 {
            Ok(got)
        } else {
            Err(format!("{got:?}"))
        }
    })
    .await;
    assert_eq!(got.iter().map(|g| g.2).collect::<Vec<_>>(), [503, 503, 200]);
    assert!(
        got.iter().all(|g| g.0 == got[0].0),
        "the same webhook-id every time"
    );
    let admin = app.as_admin(&token);
    let path = format!("notification-endpoints/{endpoint}/deliveries");
    let log = eventually("delivered in the log", Duration::from_secs(5), || async {
        let log = admin.tenant_get(&tenant.slug, &path).await;
        let item = log["items"][0].clone();
        if item["status"] == "DELIVERED" {
            Ok(item)
        } else {
            Err(item.to_string())
        }
    })
    .await;
    assert_eq!(log["webhook_id"], got[0].0.as_str());
    let statuses: Vec<i64> = log["attempts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["response_status"].as_i64().unwrap())
        .collect();
    assert_eq!(statuses, [503, 503, 200]);
    // Send again: the same notification, the same id.
    let again = admin
        .tenant_post(
            &tenant.slug,
            &format!("{path}/{}/send-again", log["id"]),
            json!({}),
        )
        .await;
    assert_eq!(again.status, 200);
    eventually("sent again", Duration::from_secs(5), || async {
        let got = hooks.got();
        if got.len() == 4 && got[3].0 == got[0].0 {
            Ok(())
        } else {
            Err(format!("{got:?}"))
        }
    })
    .await;
}

async fn a_notification_in_the_outbox_survives_a_kill(backend: Backend) {
    // The backend is down (nothing listens on its port) when the order is paid.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let env = [ALLOW, ("NOTIFY_RETRY_BASE_MS", "1000")];
    let mut app = TestApp::spawn_with(backend, &env).await;
    let tenant = app.tenant();
    let token = app.platform_admin().await;
    let url = format!("http://127.0.0.1:{port}/notify");
    let reply = app
        .as_admin(&token)
        .tenant_post(&tenant.slug, "notification-endpoints", json!({"url": url}))
        .await;
    let secret = reply["secret"].as_str().unwrap().to_string();
    let order = app.create_order(&tenant, 900).await;
    let body = paid_checkout(&evt_id(), &order, 900);
    app.deliver(&tenant.slug, &tenant.secret, &body).await;
    app.order_reaches(&order, "PAID").await;
    app.kill();
    let pending = app.db.query("SELECT status FROM notification").await;
    assert_eq!(pending.len(), 1);
    assert_eq!(
        pending[0]["status"], "PENDING",
        "written with the change, not yet delivered"
    );
    // The backend comes up on its port; the gateway restarts.
    let hooks = Backend2::start_on(port).await;
    hooks.set_secret(&secret);
    let _again = TestApp::spawn_on(app.db.clone(), &env).await;
    // The first gateway may have died while it was trying the notification (it tries at
    // once, and the backend was down): then it is tried again when that claim's 30 s
    // lease ends.
    verified(&hooks, "order.paid", Duration::from_secs(40)).await;
}

async fn urls_inside_the_platform_are_refused_and_redirects_not_followed(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let tenant = app.tenant();
    let admin = app.as_admin(&app.platform_admin().await);
    for url in [
        "http://127.0.0.1:9/x",
        "http://localhost/x",
        "http://169.254.169.254/latest",
        "http://10.0.0.1/x",
        "http://[::1]/x",
        "ftp://example.com/x",
    ] {
        let reply = admin
            .tenant_post(&tenant.slug, "notification-endpoints", json!({"url": url}))
            .await;
        assert_eq!(reply.status, 422, "{url}: {:?}", reply.body);
        assert_eq!(reply["error"], "invalid_notification_url");
    }
    // With loopback allowed (tests), a receiver that redirects is not followed.
    let app = TestApp::spawn_with(backend, &[ALLOW, ("NOTIFY_RETRY_BASE_MS", "60000")]).await;
    let tenant = app.tenant();
    let token = app.platform_admin().await;
    let target = Backend2::start().await;
    let hooks = Backend2::start().await;
    hooks.redirect_to(&target.url);
    let endpoint = register(&app, &token, &tenant, &hooks).await;
    let order = app.create_order(&tenant, 700).await;
    app.deliver(
        &tenant.slug,
        &tenant.secret,
        &paid_checkout(&evt_id(), &order, 700),
    )
    .await;
    let path = format!("notification-endpoints/{endpoint}/deliveries");
    let admin = app.as_admin(&token);
    eventually("the redirect logged", Duration::from_secs(5), || async {
        let log = admin.tenant_get(&tenant.slug, &path).await;
        let first = &log["items"][0]["attempts"][0]["response_status"];
        if *first == 302 {
            Ok(())
        } else {
            Err(log.body.to_string())
        }
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(target.got().is_empty(), "the redirect was not followed");
}

on_both_backends!(
    a_payment_and_a_refund_are_notified_signed_as_the_specification_says,
    a_failing_receiver_gets_the_same_webhook_id_until_it_succeeds,
    a_notification_in_the_outbox_survives_a_kill,
    urls_inside_the_platform_are_refused_and_redirects_not_followed,
);
