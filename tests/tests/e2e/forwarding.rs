//! Everything Stripe says, to the restaurant's backend (CONTRACT §12): Stripe events
//! forwarded by type, richer order notifications, subscriptions, and an endpoint paused,
//! resumed and sent again in order. Every notification is verified by the receiver with
//! the Standard Webhooks reference library.

use crate::on_both_backends;
use crate::support::*;
use serde_json::{Value, json};
use std::time::Duration;

const ALLOW: (&str, &str) = ("NOTIFY_ALLOW_PRIVATE", "true");

/// Registers `hooks` for the tenant with `event_types` (none: the default); its id.
async fn register(
    app: &TestApp,
    token: &str,
    tenant: &Tenant,
    hooks: &Backend2,
    event_types: Option<Value>,
) -> i64 {
    let mut body = json!({"url": hooks.url});
    if let Some(types) = event_types {
        body["event_types"] = types;
    }
    let reply = app
        .as_admin(token)
        .tenant_post(&tenant.slug, "notification-endpoints", body)
        .await;
    assert_eq!(reply.status, 201, "{:?}", reply.body);
    hooks.set_secret(reply["secret"].as_str().unwrap());
    reply["id"].as_i64().unwrap()
}

/// The verified bodies `hooks` got, in the order they came (answered 2xx or not).
fn bodies(hooks: &Backend2) -> Vec<Value> {
    let got = hooks.got();
    assert!(
        got.iter().all(|(_, b, _)| b.is_some()),
        "every notification verifies: {got:?}"
    );
    got.into_iter().filter_map(|(_, b, _)| b).collect()
}

async fn received(hooks: &Backend2, kind: &str, n: usize) -> Vec<Value> {
    eventually(
        &format!("{n} × {kind}"),
        Duration::from_secs(10),
        || async {
            let of_kind: Vec<Value> = bodies(hooks)
                .into_iter()
                .filter(|b| b["type"] == kind)
                .collect();
            if of_kind.len() >= n {
                Ok(of_kind)
            } else {
                Err(format!("{:?}", bodies(hooks)))
            }
        },
    )
    .await
}

/// An event created at `created` (Unix seconds).
fn event_at(id: &str, kind: &str, created: i64, object: Value) -> String {
    let mut e: Value = serde_json::from_str(&event(id, kind, object)).unwrap();
    e["created"] = json!(created);
    serde_json::to_string_pretty(&e).unwrap()
}

async fn stripe_events_are_forwarded_once_per_endpoint_by_type(backend: Backend) {
    let app = TestApp::spawn_with(backend, &[ALLOW]).await;
    let tenant = app.tenant();
    let token = app.platform_admin().await;
    let billing = Backend2::start().await;
    let orders = Backend2::start().await;
    register(
        &app,
        &token,
        &tenant,
        &billing,
        Some(json!(["invoice.*", "customer.subscription.*"])),
    )
    .await;
    register(&app, &token, &tenant, &orders, None).await;
    let bad = app
        .as_admin(&token)
        .tenant_post(
            &tenant.slug,
            "notification-endpoints",
            json!({"url": orders.url, "event_types": ["Invoice paid"]}),
        )
        .await;
    assert_eq!(
        (bad.status, bad["error"].as_str()),
        (422, Some("invalid_value")),
        "{:?}",
        bad.body
    );

    let mut invoice = fixture("invoice");
    invoice["subscription"] = json!("sub_forward");
    let paid = event_at(&evt_id(), "invoice.paid", now(), invoice);
    for _ in 0..2 {
        // Stripe's retry of the same event is a duplicate: not forwarded again.
        let r = app.deliver(&tenant.slug, &tenant.secret, &paid).await;
        assert_eq!(r.status(), 200);
    }
    let payout = event(&evt_id(), "payout.paid", fixture("payout"));
    assert_eq!(
        app.deliver(&tenant.slug, &tenant.secret, &payout)
            .await
            .status(),
        200
    );

    let order = app.create_order(&tenant, 2599).await;
    let pay = Payment::new(&order, 2599);
    let checkout = event(&evt_id(), "checkout.session.completed", pay.session("paid"));
    assert_eq!(
        app.deliver(&tenant.slug, &tenant.secret, &checkout)
            .await
            .status(),
        200
    );

    let told = received(&orders, "order.paid", 1).await;
    let data = &told[0]["data"];
    assert_eq!(data["order_id"], order.as_str());
    assert_eq!(data["payment_intent_id"], pay.intent.as_str());
    assert_eq!(data["checkout_session_id"], pay.session.as_str());
    assert_eq!(
        data["customer_email"], "example@example.com",
        "the session's customer_details"
    );
    assert_eq!(data["metadata"], json!({"order_id": order}));
    assert_eq!(
        (
            data["amount_received"].as_i64(),
            data["amount_refunded"].as_i64()
        ),
        (Some(2599), Some(0))
    );

    let forwarded = received(&billing, "stripe.invoice.paid", 1).await;
    assert_eq!(
        forwarded[0]["data"],
        serde_json::from_str::<Value>(&paid).unwrap(),
        "the Stripe event as received"
    );
    assert!(forwarded[0]["timestamp"].is_string());
    // Whatever else was going to arrive has had time to.
    app.all_settled().await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let kinds = |hooks: &Backend2| {
        bodies(hooks)
            .iter()
            .map(|b| b["type"].as_str().unwrap().to_owned())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        kinds(&billing),
        ["stripe.invoice.paid"],
        "once; nothing it did not ask for"
    );
    assert_eq!(kinds(&orders), ["order.paid"], "order.* only, by default");
}

fn subscription(status: &str, price: &str, period_end: i64) -> Value {
    let mut sub = fixture("subscription");
    sub["id"] = json!("sub_meals");
    sub["customer"] = json!("cus_meals");
    sub["status"] = json!(status);
    sub["cancel_at_period_end"] = json!(false);
    sub["items"]["data"][0]["price"]["id"] = json!(price);
    sub["items"]["data"][0]["current_period_end"] = json!(period_end);
    sub
}

async fn a_subscription_follows_its_newest_event_and_pays_no_order(backend: Backend) {
    let app = TestApp::spawn_with(backend, &[ALLOW]).await;
    let tenant = app.tenant();
    let token = app.platform_admin().await;
    let hooks = Backend2::start().await;
    register(
        &app,
        &token,
        &tenant,
        &hooks,
        Some(json!(["subscription.*"])),
    )
    .await;
    let t = now();
    let send = |body: String| {
        let (app, tenant) = (&app, &tenant);
        async move {
            let r = app.deliver(&tenant.slug, &tenant.secret, &body).await;
            assert_eq!(r.status(), 200);
        }
    };
    // A Checkout Session in subscription mode names an order: it links the
    // subscription and pays nothing.
    let order = app.create_order(&tenant, 1200).await;
    let mut session = Payment::new(&order, 1200).session("paid");
    session["mode"] = json!("subscription");
    session["subscription"] = json!("sub_meals");
    session["customer"] = json!("cus_meals");
    let checkout_id = evt_id();
    send(event_at(
        &checkout_id,
        "checkout.session.completed",
        t - 300,
        session,
    ))
    .await;
    // The newer event comes first; the older one must not undo it.
    send(event_at(
        &evt_id(),
        "customer.subscription.updated",
        t - 100,
        subscription("active", "price_gold", t + 86400),
    ))
    .await;
    send(event_at(
        &evt_id(),
        "customer.subscription.created",
        t - 200,
        subscription("incomplete", "price_basic", t),
    ))
    .await;

    let get = |id: &'static str, key: String| {
        let app = &app;
        let url = app.url(&format!(
            "/api/v1/tenants/{}/subscriptions/{id}",
            tenant.slug
        ));
        async move {
            let r = reqwest::Client::new()
                .get(url)
                .bearer_auth(key)
                .send()
                .await
                .unwrap();
            (
                r.status().as_u16(),
                r.json::<Value>().await.unwrap_or(Value::Null),
            )
        }
    };
    let (status, sub) = get("sub_meals", tenant.api_key.clone()).await;
    assert_eq!(status, 200, "{sub}");
    assert_eq!(sub["status"], "active");
    assert_eq!(sub["customer"], "cus_meals");
    assert_eq!(sub["price_ids"], json!(["price_gold"]));
    assert!(sub["current_period_end"].as_str().unwrap().ends_with('Z'));
    assert_eq!(
        (
            sub["cancel_at_period_end"].as_bool(),
            sub["livemode"].as_bool()
        ),
        (Some(false), Some(true))
    );
    assert!(sub["updated_at"].is_string());
    assert_eq!(
        app.order_status(&order).await["status"],
        "PAYMENT_PENDING",
        "no order is paid"
    );
    assert_eq!(app.settled(&checkout_id).await["outcome"], "applied");
    assert_eq!(get("sub_meals", "sk_not_a_key".into()).await.0, 401);
    assert_eq!(get("sub_nobody", tenant.api_key.clone()).await.0, 404);

    // A failed invoice, then the end: canceled is final, a later paid invoice or all.
    let mut invoice = fixture("invoice");
    invoice["subscription"] = json!("sub_meals");
    send(event_at(
        &evt_id(),
        "invoice.payment_failed",
        t - 50,
        invoice.clone(),
    ))
    .await;
    assert_eq!(
        get("sub_meals", tenant.api_key.clone()).await.1["status"],
        "past_due"
    );
    send(event_at(
        &evt_id(),
        "customer.subscription.deleted",
        t - 20,
        subscription("canceled", "price_gold", t),
    ))
    .await;
    send(event_at(&evt_id(), "invoice.paid", t, invoice)).await;
    assert_eq!(
        get("sub_meals", tenant.api_key.clone()).await.1["status"],
        "canceled"
    );

    let told = received(&hooks, "subscription.canceled", 1).await;
    assert_eq!(told[0]["data"]["id"], "sub_meals");
    let kinds: Vec<String> = bodies(&hooks)
        .iter()
        .map(|b| b["type"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        kinds,
        [
            "subscription.active",
            "subscription.past_due",
            "subscription.canceled"
        ]
    );

    let admin = app.as_admin(&token);
    let canceled = admin
        .tenant_get(&tenant.slug, "subscriptions?status=canceled")
        .await;
    assert_eq!(canceled.status, 200);
    assert_eq!(canceled["items"][0]["id"], "sub_meals");
    let active = admin
        .tenant_get(&tenant.slug, "subscriptions?status=active&limit=5")
        .await;
    assert_eq!(active["items"], json!([]));
}

async fn a_paused_endpoint_keeps_its_notifications_and_sends_them_in_order(backend: Backend) {
    let app = TestApp::spawn_with(backend, &[ALLOW, ("NOTIFY_RETRY_BASE_MS", "200")]).await;
    let tenant = app.tenant();
    let token = app.platform_admin().await;
    let admin = app.as_admin(&token);
    let hooks = Backend2::start().await;
    let id = register(&app, &token, &tenant, &hooks, None).await;
    let paused = admin
        .tenant_post(
            &tenant.slug,
            &format!("notification-endpoints/{id}/pause"),
            json!({}),
        )
        .await;
    assert_eq!(
        (paused.status, paused["paused"].as_bool()),
        (200, Some(true))
    );
    let before = chrono_now();
    let mut orders = Vec::new();
    for amount in [1000, 1100, 1200] {
        let order = app.create_order(&tenant, amount).await;
        let r = app
            .deliver(
                &tenant.slug,
                &tenant.secret,
                &paid_checkout(&evt_id(), &order, amount),
            )
            .await;
        assert_eq!(r.status(), 200);
        app.order_reaches(&order, "PAID").await;
        orders.push(order);
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(hooks.got().is_empty(), "paused: nothing is sent");
    // The first goes wrong once after the resume: the others wait behind it.
    hooks.refuse_first(&[503]);
    let resumed = admin
        .tenant_post(
            &tenant.slug,
            &format!("notification-endpoints/{id}/resume"),
            json!({}),
        )
        .await;
    assert_eq!(
        (resumed.status, resumed["paused"].as_bool()),
        (200, Some(false))
    );
    let sent = |hooks: &Backend2| -> Vec<(String, String, u16)> {
        hooks
            .got()
            .into_iter()
            .map(|(id, b, s)| {
                (
                    id,
                    b.unwrap()["data"]["order_id"].as_str().unwrap().to_owned(),
                    s,
                )
            })
            .collect()
    };
    let got = eventually("the backlog", Duration::from_secs(30), || async {
        let got = sent(&hooks);
        if got.len() >= 4 {
            Ok(got)
        } else {
            Err(format!("{got:?}"))
        }
    })
    .await;
    let order_and_status: Vec<(&str, u16)> = got.iter().map(|(_, o, s)| (o.as_str(), *s)).collect();
    assert_eq!(
        order_and_status,
        [
            (orders[0].as_str(), 503),
            (orders[0].as_str(), 200),
            (orders[1].as_str(), 200),
            (orders[2].as_str(), 200)
        ],
        "oldest first, none overtaking a retry"
    );
    // Resent since before the first: all three again, in order, with their ids.
    let resent = admin
        .tenant_post(
            &tenant.slug,
            &format!("notification-endpoints/{id}/resend"),
            json!({"since": before}),
        )
        .await;
    assert_eq!(
        (resent.status, resent["resent"].as_u64()),
        (200, Some(3)),
        "{:?}",
        resent.body
    );
    let again = eventually("sent again", Duration::from_secs(30), || async {
        let got = sent(&hooks);
        if got.len() >= 7 {
            Ok(got)
        } else {
            Err(format!("{got:?}"))
        }
    })
    .await;
    let ids =
        |g: &[(String, String, u16)]| g.iter().map(|(id, _, _)| id.clone()).collect::<Vec<_>>();
    assert_eq!(
        ids(&again[4..]),
        ids(&got[1..4]),
        "the same webhook-ids, in order"
    );
    let bad = admin
        .tenant_post(
            &tenant.slug,
            &format!("notification-endpoints/{id}/resend"),
            json!({"since": "yesterday"}),
        )
        .await;
    assert_eq!(bad.status, 422);
    let missing = admin
        .tenant_post(
            &tenant.slug,
            "notification-endpoints/999999/pause",
            json!({}),
        )
        .await;
    assert_eq!(missing.status, 404);
    let listed = admin
        .tenant_get(&tenant.slug, "notification-endpoints")
        .await;
    assert_eq!(listed["items"][0]["event_types"], json!(["order.*"]));
}

async fn the_backend_leg_is_watched_alerted_and_recovered(backend: Backend) {
    let alerts = Receiver::start(Behaviour::Accept).await;
    let env = [
        ALLOW,
        ("NOTIFY_RETRY_BASE_MS", "100"),
        ("ACK_DEADLINE_SECS", "1"),
        ("ALERT_WEBHOOK_URL", alerts.url.as_str()),
        ("ALERT_INTERVAL_SECS", "1"),
    ];
    let app = TestApp::spawn_with(backend, &env).await;
    let tenant = app.tenant();
    let token = app.platform_admin().await;
    let admin = app.as_admin(&token);
    let hooks = Backend2::start().await;
    hooks.refuse_first(&[500; 200]);
    let id = register(&app, &token, &tenant, &hooks, None).await;
    let since = chrono_now();
    let order = app.create_order(&tenant, 1800).await;
    let r = app
        .deliver(
            &tenant.slug,
            &tenant.secret,
            &paid_checkout(&evt_id(), &order, 1800),
        )
        .await;
    assert_eq!(r.status(), 200);
    let alerted = |code: &'static str, state: &'static str| {
        let alerts = &alerts;
        async move {
            eventually(
                &format!("{code} {state}"),
                Duration::from_secs(20),
                || async {
                    alerts
                        .received()
                        .into_iter()
                        .find(|a| a["code"] == code && a["state"] == state)
                        .ok_or_else(|| format!("{:?}", alerts.received()))
                },
            )
            .await
        }
    };
    // The backend answers 500 to everything: both findings, both alerted.
    alerted("notifications_failing", "firing").await;
    alerted("paid_not_acknowledged", "firing").await;
    let findings = admin.tenant_get(&tenant.slug, "diagnosis").await;
    let of = |code: &str| {
        findings["findings"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["code"] == code)
            .cloned()
            .unwrap_or_else(|| panic!("{code}: {:?}", findings.body))
    };
    let failing = of("notifications_failing");
    assert_eq!(failing["severity"], "error");
    assert!(
        failing["evidence"][0]
            .as_str()
            .unwrap()
            .contains("answered 500"),
        "{failing}"
    );
    let unacknowledged = of("paid_not_acknowledged");
    assert!(
        unacknowledged["evidence"][0]
            .as_str()
            .unwrap()
            .starts_with(&order),
        "{unacknowledged}"
    );

    // Mended, and what it missed sent again: both alerts resolve.
    hooks.refuse_first(&[]);
    let resent = admin
        .tenant_post(
            &tenant.slug,
            &format!("notification-endpoints/{id}/resend"),
            json!({"since": since}),
        )
        .await;
    assert_eq!(resent.status, 200, "{:?}", resent.body);
    received(&hooks, "order.paid", 1).await;
    eventually("delivered", Duration::from_secs(10), || async {
        let got = hooks.got();
        if got.iter().any(|g| g.2 == 200) {
            Ok(())
        } else {
            Err(format!("{got:?}"))
        }
    })
    .await;
    alerted("paid_not_acknowledged", "resolved").await;
    alerted("notifications_failing", "resolved").await;
}

async fn health_shows_the_success_rate_and_response_time(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let tenant = app.tenant();
    let admin = app.as_admin(&app.platform_admin().await);
    // A proxy in front mangles most deliveries: 19 refused, 2 taken.
    for _ in 0..19 {
        let r = app
            .deliver(
                &tenant.slug,
                "whsec_not_the_secret",
                &paid_checkout(&evt_id(), "ord_x", 1),
            )
            .await;
        assert_eq!(r.status(), 400);
    }
    for _ in 0..2 {
        let r = app
            .deliver(
                &tenant.slug,
                &tenant.secret,
                &paid_checkout(&evt_id(), "ord_x", 1),
            )
            .await;
        assert_eq!(r.status(), 200);
    }
    // Counted in memory, added to the table every 5 s.
    let health = eventually("the hour's figures", Duration::from_secs(15), || async {
        let h = admin.health(&tenant.slug).await;
        if h["deliveries_1h"] == 21 {
            Ok(h)
        } else {
            Err(h.to_string())
        }
    })
    .await;
    let rate = health["success_rate_1h"].as_f64().unwrap();
    assert!((rate - 2.0 / 21.0).abs() < 1e-9, "{health}");
    let p95 = health["p95_response_ms_1h"].as_i64().unwrap();
    assert!((10..=60_000).contains(&p95), "{health}");
    let findings = admin.tenant_get(&tenant.slug, "diagnosis").await;
    let low = findings["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["code"] == "low_success_rate")
        .cloned();
    let low = low.unwrap_or_else(|| panic!("{:?}", findings.body));
    assert_eq!(low["severity"], "warning");
    assert!(low["summary"].as_str().unwrap().contains("9.5 %"), "{low}");
}

async fn the_cli_adds_pauses_resumes_and_resends(backend: Backend) {
    let app = TestApp::spawn_with(backend, &[ALLOW]).await;
    let tenant = app.tenant();
    let hooks = Backend2::start().await;
    let secret = app.cli_ok(
        &[
            "notifications",
            "add",
            &tenant.slug,
            &hooks.url,
            "--event-types",
            "order.*,invoice.paid",
        ],
        None,
    );
    hooks.set_secret(secret.trim());
    let listed = app.cli_ok(&["notifications", "list", &tenant.slug], None);
    let id = listed.split('\t').next().unwrap().to_string();
    assert!(
        listed.contains("active\torder.*,invoice.paid\t"),
        "{listed}"
    );
    app.cli_ok(&["notifications", "pause", &tenant.slug, &id], None);
    assert!(
        app.cli_ok(&["notifications", "list", &tenant.slug], None)
            .contains("\tpaused\t")
    );
    let since = chrono_now();
    let order = app.create_order(&tenant, 700).await;
    app.deliver(
        &tenant.slug,
        &tenant.secret,
        &paid_checkout(&evt_id(), &order, 700),
    )
    .await;
    app.order_reaches(&order, "PAID").await;
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert!(hooks.got().is_empty(), "paused");
    app.cli_ok(&["notifications", "resume", &tenant.slug, &id], None);
    received(&hooks, "order.paid", 1).await;
    let out = app.cli_ok(
        &[
            "notifications",
            "resend",
            &tenant.slug,
            &id,
            "--since",
            &since,
        ],
        None,
    );
    assert!(out.contains(": 1 notifications go out again"), "{out}");
    let twice = received(&hooks, "order.paid", 2).await;
    assert_eq!(twice[0], twice[1], "the same notification again");
    let bad = app.cli(&["notifications", "pause", &tenant.slug, "999999"], None);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("has no notification endpoint 999999"));
    let bad = app.cli(
        &[
            "notifications",
            "add",
            &tenant.slug,
            &hooks.url,
            "--event-types",
            "Not A Type",
        ],
        None,
    );
    assert!(String::from_utf8_lossy(&bad.stderr).contains("is not an event type"));
}

/// Now, as RFC 3339, a second early (the gateway keeps milliseconds).
fn chrono_now() -> String {
    let secs = now() - 1;
    let days = secs.div_euclid(86400);
    let rem = secs.rem_euclid(86400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719468;
    let era = z.div_euclid(146097);
    let doe = z - era * 146097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

on_both_backends!(
    stripe_events_are_forwarded_once_per_endpoint_by_type,
    a_subscription_follows_its_newest_event_and_pays_no_order,
    a_paused_endpoint_keeps_its_notifications_and_sends_them_in_order,
    the_backend_leg_is_watched_alerted_and_recovered,
    health_shows_the_success_rate_and_response_time,
    the_cli_adds_pauses_resumes_and_resends,
);
