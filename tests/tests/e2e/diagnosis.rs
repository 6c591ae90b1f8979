//! Diagnosis and alerts (CONTRACT §7): each code from a scenario built for it, none for a
//! healthy restaurant.

use crate::on_both_backends;
use crate::recovery::{set_api_key, with_stripe};
use crate::support::*;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

async fn findings(admin: &AdminClient<'_>, slug: &str) -> Vec<Value> {
    let reply = admin.tenant_get(slug, "diagnosis").await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    reply["findings"].as_array().unwrap().clone()
}

async fn codes(admin: &AdminClient<'_>, slug: &str) -> Vec<String> {
    findings(admin, slug)
        .await
        .iter()
        .map(|f| f["code"].as_str().unwrap().to_string())
        .collect()
}

fn customer_event() -> String {
    event(&evt_id(), "customer.created", fixture("customer"))
}

/// The endpoint a healthy restaurant has in Stripe.
fn good_endpoint(slug: &str, status: &str, events: &[&str]) -> Value {
    endpoint(
        &format!("https://pay.example.com/api/v1/webhooks/stripe/{slug}"),
        status,
        events,
    )
}

async fn a_healthy_restaurant_has_no_findings_and_the_doctor_says_so(backend: Backend) {
    let (app, stripe) =
        with_stripe(backend, &[("PUBLIC_BASE_URL", "https://pay.example.com")]).await;
    let tenant = app.tenant();
    set_api_key(&app, &tenant);
    stripe.set_endpoints(vec![good_endpoint(&tenant.slug, "enabled", &["*"])]);
    let order = app.create_order(&tenant, 2599).await;
    let body = paid_checkout(&evt_id(), &order, 2599);
    stripe.add_event(&body);
    assert_eq!(
        app.deliver(&tenant.slug, &tenant.secret, &body)
            .await
            .status(),
        200
    );
    app.order_reaches(&order, "PAID").await;
    let admin = app.as_admin(&app.platform_admin().await);
    assert_eq!(codes(&admin, &tenant.slug).await, Vec::<String>::new());
    let out = app.cli(&["doctor", &tenant.slug], None);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("healthy"));
}

async fn what_stripe_says_is_named(backend: Backend) {
    let (app, stripe) =
        with_stripe(backend, &[("PUBLIC_BASE_URL", "https://pay.example.com")]).await;
    let tenant = app.tenant();
    let admin = app.as_admin(&app.platform_admin().await);
    // No endpoint points here (one points at a typo). Said before the key is saved: the
    // gateway keeps Stripe's answers for 10 s, and its alerts may ask at any moment.
    stripe.set_endpoints(vec![good_endpoint(
        &format!("{}-typo", tenant.slug),
        "enabled",
        &["*"],
    )]);
    // Diagnosed before a key is saved, by the CLI: the key counts at the next diagnosis.
    assert!(
        !codes(&admin, &tenant.slug)
            .await
            .contains(&"endpoint_missing".to_string())
    );
    set_api_key(&app, &tenant);
    app.deliver(&tenant.slug, &tenant.secret, &customer_event())
        .await;
    let seen = findings(&admin, &tenant.slug).await;
    assert!(
        seen.iter().any(|f| f["code"] == "endpoint_missing"),
        "{seen:?}"
    );
    let out = app.cli(&["doctor", &tenant.slug], None);
    assert_eq!(out.status.code(), Some(1), "an error finding");
    assert!(String::from_utf8_lossy(&out.stdout).contains("endpoint_missing"));
    // Disabled, without checkout.session.completed. (The gateway keeps Stripe's answers
    // for 10 s; the doctor, a process of its own, asks afresh.)
    stripe.set_endpoints(vec![good_endpoint(
        &tenant.slug,
        "disabled",
        &["charge.refunded"],
    )]);
    let out = app.cli(&["doctor", &tenant.slug], None);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout.contains("endpoint_disabled"), "{stdout}");
    assert!(stdout.contains("event_types_missing"), "{stdout}");
    assert!(
        stdout.contains("evidence: missing: checkout.session.completed"),
        "{stdout}"
    );
    assert!(!stdout.contains("endpoint_missing"), "{stdout}");
    assert!(
        stdout.contains("dispute_events_missing")
            && stdout.contains("evidence: missing: charge.dispute.created"),
        "{stdout}"
    );
}

async fn events_stripe_has_that_never_arrived_are_named(backend: Backend) {
    let (app, stripe) = with_stripe(backend, &[]).await;
    let tenant = app.tenant();
    set_api_key(&app, &tenant);
    stripe.set_endpoints(vec![endpoint(
        &format!("https://x.example/api/v1/webhooks/stripe/{}", tenant.slug),
        "enabled",
        &["*"],
    )]);
    let order = app.create_order(&tenant, 500).await;
    let mut old: Value = serde_json::from_str(&paid_checkout(&evt_id(), &order, 500)).unwrap();
    old["created"] = json!(now() - 3600);
    stripe.add_event(&old.to_string());
    let admin = app.as_admin(&app.platform_admin().await);
    // What Stripe said is kept up to 10 s per tenant; the alert loop may have asked it
    // between the key and the event, so the finding is due within that.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    let missing = loop {
        let found = findings(&admin, &tenant.slug).await;
        if let Some(f) = found.iter().find(|f| f["code"] == "events_not_received") {
            break f.clone();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "not named within 15 s: {found:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    };
    assert_eq!(missing["severity"], "error");
    assert!(
        missing["evidence"]
            .to_string()
            .contains(old["id"].as_str().unwrap())
    );
}

async fn delivery_problems_are_named(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.as_admin(&app.platform_admin().await);
    // A secret that is not the endpoint's: three deliveries, none verifies.
    let a = app.tenant();
    for _ in 0..3 {
        let wrong = format!("whsec_{}", random_hex(16));
        assert_eq!(
            app.deliver(&a.slug, &wrong, &customer_event())
                .await
                .status(),
            400
        );
    }
    app.recorded(&a.slug, "VERIFICATION_FAILED", 3).await;
    let found = codes(&admin, &a.slug).await;
    assert!(found.contains(&"wrong_secret".to_string()), "{found:?}");
    // B's URL in A's Stripe account: deliveries to B signed with A's secret.
    let b = app.tenant();
    assert_eq!(
        app.deliver(&b.slug, &a.secret, &customer_event())
            .await
            .status(),
        400
    );
    app.recorded(&b.slug, "VERIFICATION_FAILED", 1).await;
    let seen = findings(&admin, &b.slug).await;
    let other = seen
        .iter()
        .find(|f| f["code"] == "signed_for_another_tenant")
        .expect("named");
    assert!(
        other["summary"].as_str().unwrap().contains(&a.slug),
        "platform admins are told which"
    );
    let owner = format!("owner-{}@example.com", random_hex(3));
    app.create_admin(&owner, "tenant_admin", Some(&b.slug));
    let owner = app.as_admin(&app.login(&owner).await);
    let told = findings(&owner, &b.slug).await;
    let other = told
        .iter()
        .find(|f| f["code"] == "signed_for_another_tenant")
        .expect("named");
    assert!(
        !other.to_string().contains(&a.slug),
        "a tenant admin is not told another restaurant's slug"
    );
    // A clock that is off.
    let c = app.tenant();
    let body = customer_event();
    let header = sign(&c.secret, now() - 3600, &body);
    assert_eq!(
        app.deliver_with_header(&c.slug, Some(&header), &body)
            .await
            .status(),
        400
    );
    app.recorded(&c.slug, "VERIFICATION_FAILED", 1).await;
    assert!(
        codes(&admin, &c.slug)
            .await
            .contains(&"clock_skew".to_string())
    );
    // A stored secret that no longer decrypts (its row was changed).
    let e = app.tenant();
    let db = app.db.connect().await;
    use sea_orm::ConnectionTrait;
    db.execute_unprepared(&format!(
        "UPDATE webhook_secret SET expires_at = 4102444800000 WHERE tenant_id = (SELECT id FROM tenant WHERE slug = '{}')",
        e.slug
    ))
    .await
    .unwrap();
    assert!(
        codes(&admin, &e.slug)
            .await
            .contains(&"undecryptable_secret".to_string())
    );
    // Never delivered; no secret at all.
    let d = app.tenant();
    assert!(
        codes(&admin, &d.slug)
            .await
            .contains(&"never_delivered".to_string())
    );
    let slug = format!("bare-{}", random_hex(3));
    app.cli_ok(&["tenant", "create", &slug, "--name", "Bare"], None);
    assert!(
        codes(&admin, &slug)
            .await
            .contains(&"no_secret".to_string())
    );
}

async fn order_problems_are_named(backend: Backend) {
    let app = TestApp::spawn_with(backend, &[("PROCESSING_MAX_ATTEMPTS", "1")]).await;
    let admin = app.as_admin(&app.platform_admin().await);
    let t = app.tenant();
    let deliver = |body: String| {
        let (slug, secret) = (t.slug.clone(), t.secret.clone());
        let app = &app;
        async move { assert_eq!(app.deliver(&slug, &secret, &body).await.status(), 200) }
    };
    // A test event about a live order; one about no order; a payment that is short.
    let order = app.create_order(&t, 2599).await;
    let id = evt_id();
    deliver(event_in_mode(
        &id,
        "checkout.session.completed",
        Payment::new(&order, 2599).session("paid"),
        false,
    ))
    .await;
    app.settled(&id).await;
    let id = evt_id();
    deliver(event(
        &id,
        "checkout.session.completed",
        Payment::new("ord_nobody", 100).session("paid"),
    ))
    .await;
    app.settled(&id).await;
    let short = app.create_order(&t, 5000).await;
    let id = evt_id();
    deliver(paid_checkout(&id, &short, 100)).await;
    app.settled(&id).await;
    // Checkout completed unpaid, long ago, and nothing followed.
    let waiting = app.create_order(&t, 700).await;
    let id = evt_id();
    deliver(event(
        &id,
        "checkout.session.completed",
        Payment::new(&waiting, 700).session("unpaid"),
    ))
    .await;
    app.settled(&id).await;
    let db = app.db.connect().await;
    use sea_orm::ConnectionTrait;
    db.execute_unprepared(&format!(
        "UPDATE orders SET updated_at = updated_at - 7200000 WHERE id = '{waiting}'"
    ))
    .await
    .unwrap();
    // An event that fails to apply; one stuck in PROCESSING; one from a Connect endpoint.
    app.db.break_payments().await;
    let failing = app.create_order(&t, 900).await;
    let id = evt_id();
    deliver(paid_checkout(&id, &failing, 900)).await;
    assert_eq!(app.settled(&id).await["status"], "FAILED");
    app.db.repair_payments().await;
    db.execute_unprepared(&format!(
        "UPDATE webhook_event SET status = 'PROCESSING', received_at = received_at - 600000, next_attempt_at = {} WHERE stripe_event_id = '{id}'",
        i64::MAX / 2
    ))
    .await
    .unwrap();
    let mut connect: Value = serde_json::from_str(&customer_event()).unwrap();
    connect["account"] = json!("acct_1Connected");
    let connect_id = connect["id"].as_str().unwrap().to_string();
    deliver(connect.to_string()).await;
    app.settled(&connect_id).await;
    // A second FAILED one, for failed_events (the first is now stuck).
    app.db.break_payments().await;
    let another = app.create_order(&t, 901).await;
    let id = evt_id();
    deliver(paid_checkout(&id, &another, 901)).await;
    assert_eq!(app.settled(&id).await["status"], "FAILED");
    app.db.repair_payments().await;

    let found = codes(&admin, &t.slug).await;
    for code in [
        "mode_mismatch",
        "unmatched_events",
        "amount_mismatch",
        "unpaid_checkout_not_followed",
        "failed_events",
        "stuck_processing",
        "connect_event",
    ] {
        assert!(found.contains(&code.to_string()), "{code} in {found:?}");
    }
}

async fn an_alert_fires_once_and_resolves_once(backend: Backend) {
    let receiver = Receiver::start(Behaviour::Accept).await;
    let env = [
        ("ALERT_WEBHOOK_URL", receiver.url.as_str()),
        ("ALERT_INTERVAL_SECS", "1"),
    ];
    let app = TestApp::spawn_with(backend, &env).await;
    let tenant = app.tenant();
    let endpoint_secret = format!("whsec_{}", random_hex(16));
    for _ in 0..3 {
        app.deliver(&tenant.slug, &endpoint_secret, &customer_event())
            .await;
    }
    let firing = eventually("a firing alert", Duration::from_secs(15), || async {
        let got = receiver.received();
        match got.iter().find(|a| a["code"] == "wrong_secret") {
            Some(a) => Ok(a.clone()),
            None => Err(format!("{got:?}")),
        }
    })
    .await;
    assert_eq!(firing["state"], "firing");
    assert_eq!(firing["tenant"], tenant.slug.as_str());
    assert_eq!(firing["severity"], "error");
    for key in ["text", "summary", "fix"] {
        assert!(!firing[key].as_str().unwrap().is_empty(), "{key}");
    }
    // The restaurants list shows a badge meanwhile.
    let admin = app.as_admin(&app.platform_admin().await);
    let list = admin.get("/api/v1/admin/tenants").await;
    let row = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["slug"] == tenant.slug.as_str())
        .unwrap()
        .clone();
    assert!(row["error_findings"].as_u64().unwrap() >= 1);
    // The secret is fixed: the next delivery verifies.
    admin.set_secret(&tenant.slug, &endpoint_secret).await;
    app.deliveries_answer(&tenant.slug, &endpoint_secret, 200, Duration::from_secs(3))
        .await;
    eventually("a resolved alert", Duration::from_secs(15), || async {
        let got = receiver.received();
        let resolved = got
            .iter()
            .filter(|a| a["code"] == "wrong_secret" && a["state"] == "resolved")
            .count();
        if resolved == 1 {
            Ok(())
        } else {
            Err(format!("{got:?}"))
        }
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let fired = receiver
        .received()
        .iter()
        .filter(|a| a["code"] == "wrong_secret" && a["state"] == "firing")
        .count();
    assert_eq!(fired, 1, "once when it starts");
}

async fn a_receiver_that_hangs_or_fails_does_not_slow_deliveries(backend: Backend) {
    for behaviour in [Behaviour::Hang, Behaviour::Fail] {
        let receiver = Receiver::start(behaviour).await;
        let env = [
            ("ALERT_WEBHOOK_URL", receiver.url.as_str()),
            ("ALERT_INTERVAL_SECS", "1"),
        ];
        let app = TestApp::spawn_with(backend, &env).await;
        let tenant = app.tenant();
        for _ in 0..3 {
            app.deliver(
                &tenant.slug,
                &format!("whsec_{}", random_hex(16)),
                &customer_event(),
            )
            .await;
        }
        eventually(
            "an alert was attempted",
            Duration::from_secs(15),
            || async {
                if receiver.received().is_empty() {
                    Err("none".to_string())
                } else {
                    Ok(())
                }
            },
        )
        .await;
        for _ in 0..5 {
            let sent = Instant::now();
            assert_eq!(
                app.deliver(&tenant.slug, &tenant.secret, &customer_event())
                    .await
                    .status(),
                200
            );
            assert!(
                sent.elapsed() < Duration::from_secs(1),
                "{:?}",
                sent.elapsed()
            );
        }
    }
}

/// The latest evaluation of the alerts: how many restaurants, how many diagnosed.
async fn alert_tenants(app: &TestApp) -> (u64, u64) {
    let text = app.metrics().await;
    let gauge = |scope: &str| {
        let prefix = format!("gateway_alert_tenants{{scope=\"{scope}\"}} ");
        text.lines()
            .find_map(|l| l.strip_prefix(&prefix)?.parse().ok())
            .unwrap_or_else(|| panic!("no {prefix} in /metrics:\n{text}"))
    };
    (gauge("all"), gauge("diagnosed"))
}

/// An order of the tenant, paid; the event's id.
async fn paid(app: &TestApp, t: &Tenant) -> String {
    let order = app.create_order(t, 1200).await;
    let id = evt_id();
    let body = paid_checkout(&id, &order, 1200);
    assert_eq!(app.deliver(&t.slug, &t.secret, &body).await.status(), 200);
    app.settled(&id).await;
    id
}

/// Only restaurants that may have an error are diagnosed each round, and yet every kind
/// of error alerts: from refused deliveries, from events, from secrets, from Stripe.
async fn every_kind_of_error_alerts_and_quiet_restaurants_are_not_diagnosed(backend: Backend) {
    let receiver = Receiver::start(Behaviour::Accept).await;
    let (app, stripe) = with_stripe(
        backend,
        &[
            ("ALERT_WEBHOOK_URL", receiver.url.as_str()),
            ("ALERT_INTERVAL_SECS", "1"),
            ("PROCESSING_MAX_ATTEMPTS", "1"),
            ("PUBLIC_BASE_URL", "https://pay.example.com"),
        ],
    )
    .await;
    let db = app.db.connect().await;
    use sea_orm::ConnectionTrait;
    let quiet: Vec<Tenant> = (0..4).map(|_| app.tenant()).collect();
    for t in &quiet {
        paid(&app, t).await;
    }
    let mut expected: Vec<(String, &str)> = Vec::new();
    // Refused deliveries: no matching signature; signed for another tenant; a clock off.
    let wrong = app.tenant();
    for _ in 0..3 {
        let secret = format!("whsec_{}", random_hex(16));
        app.deliver(&wrong.slug, &secret, &customer_event()).await;
    }
    expected.push((wrong.slug.clone(), "wrong_secret"));
    let elsewhere = app.tenant();
    app.deliver(&elsewhere.slug, &quiet[0].secret, &customer_event())
        .await;
    expected.push((elsewhere.slug.clone(), "signed_for_another_tenant"));
    let skewed = app.tenant();
    let body = customer_event();
    let header = sign(&skewed.secret, now() - 3600, &body);
    app.deliver_with_header(&skewed.slug, Some(&header), &body)
        .await;
    expected.push((skewed.slug.clone(), "clock_skew"));
    // Events: of the other mode; failed; stuck in PROCESSING.
    let mode = app.tenant();
    let order = app.create_order(&mode, 2599).await;
    let id = evt_id();
    let body = event_in_mode(
        &id,
        "checkout.session.completed",
        Payment::new(&order, 2599).session("paid"),
        false,
    );
    assert_eq!(
        app.deliver(&mode.slug, &mode.secret, &body).await.status(),
        200
    );
    app.settled(&id).await;
    expected.push((mode.slug.clone(), "mode_mismatch"));
    let failing = app.tenant();
    app.db.break_payments().await;
    let order = app.create_order(&failing, 900).await;
    let id = evt_id();
    let body = paid_checkout(&id, &order, 900);
    assert_eq!(
        app.deliver(&failing.slug, &failing.secret, &body)
            .await
            .status(),
        200
    );
    assert_eq!(app.settled(&id).await["status"], "FAILED");
    app.db.repair_payments().await;
    expected.push((failing.slug.clone(), "failed_events"));
    let stuck = app.tenant();
    let id = paid(&app, &stuck).await;
    db.execute_unprepared(&format!(
        "UPDATE webhook_event SET status = 'PROCESSING', received_at = received_at - 600000, next_attempt_at = {} WHERE stripe_event_id = '{id}'",
        i64::MAX / 2
    ))
    .await
    .unwrap();
    expected.push((stuck.slug.clone(), "stuck_processing"));
    // Secrets: none; one that no longer opens.
    let bare = format!("bare-{}", random_hex(3));
    app.cli_ok(&["tenant", "create", &bare, "--name", "Bare"], None);
    expected.push((bare, "no_secret"));
    let sealed = app.tenant();
    db.execute_unprepared(&format!(
        "UPDATE webhook_secret SET expires_at = 4102444800000 WHERE tenant_id = (SELECT id FROM tenant WHERE slug = '{}')",
        sealed.slug
    ))
    .await
    .unwrap();
    expected.push((sealed.slug.clone(), "undecryptable_secret"));
    // Stripe: no endpoint points at this restaurant.
    let keyed = app.tenant();
    set_api_key(&app, &keyed);
    stripe.set_endpoints(vec![good_endpoint("somewhere-else", "enabled", &["*"])]);
    expected.push((keyed.slug.clone(), "endpoint_missing"));

    eventually("an alert of each", Duration::from_secs(20), || async {
        let got = receiver.received();
        let missing: Vec<_> = expected
            .iter()
            .filter(|(slug, code)| {
                !got.iter().any(|a| {
                    a["tenant"] == slug.as_str() && a["code"] == *code && a["state"] == "firing"
                })
            })
            .collect();
        match missing.is_empty() {
            true => Ok(()),
            false => Err(format!("missing {missing:?} in {got:?}")),
        }
    })
    .await;
    // A round after all were made: every restaurant counted, only the troubled diagnosed.
    let total = (quiet.len() + expected.len()) as u64;
    eventually("a round over all", Duration::from_secs(10), || async {
        match alert_tenants(&app).await {
            (all, diagnosed) if all == total && diagnosed == expected.len() as u64 => Ok(()),
            other => Err(format!("{other:?}, expected ({total}, {})", expected.len())),
        }
    })
    .await;
    // Nothing about the quiet restaurants, but for a `no_secret` if a round fell between
    // `tenant create` and `config set-secret` (it was true then), resolved since (the
    // gauge above says none is open; its message may still be on its way).
    let quiet_slugs: Vec<&str> = quiet.iter().map(|t| t.slug.as_str()).collect();
    eventually("quiet restaurants", Duration::from_secs(5), || async {
        let about_quiet: Vec<Value> = receiver
            .received()
            .into_iter()
            .filter(|a| quiet_slugs.contains(&a["tenant"].as_str().unwrap()))
            .collect();
        let count = |slug: &str, state: &str| {
            about_quiet
                .iter()
                .filter(|a| a["tenant"] == slug && a["state"] == state)
                .count()
        };
        let settled = about_quiet.iter().all(|a| a["code"] == "no_secret")
            && quiet_slugs
                .iter()
                .all(|s| count(s, "firing") == count(s, "resolved"));
        match settled {
            true => Ok(()),
            false => Err(format!("{about_quiet:?}")),
        }
    })
    .await;
}

/// A proxy that compacts JSON bodies (a body parser in front of the gateway) breaks
/// Stripe's signature: the delivery is refused, and the cause is named.
async fn a_body_rewritten_on_its_way_is_named(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let tenant = app.tenant();
    let admin = app.as_admin(&app.platform_admin().await);
    let id = evt_id();
    // What Stripe sends: two-space indentation, its own key order (not sorted).
    let stripe = format!(
        "{{\n  \"id\": \"{id}\",\n  \"object\": \"event\",\n  \"type\": \"customer.created\",\n  \"livemode\": true,\n  \"data\": {{\n    \"object\": {{\n      \"id\": \"cus_1\",\n      \"object\": \"customer\",\n      \"metadata\": {{}},\n      \"tags\": []\n    }}\n  }}\n}}"
    );
    let compacted = format!(
        r#"{{"id":"{id}","object":"event","type":"customer.created","livemode":true,"data":{{"object":{{"id":"cus_1","object":"customer","metadata":{{}},"tags":[]}}}}}}"#
    );
    // Stripe's body as sent verifies; the proxy's copy of it does not.
    let header = sign(&tenant.secret, now(), &stripe);
    let refused = app
        .deliver_with_header(&tenant.slug, Some(&header), &compacted)
        .await;
    assert_eq!(refused.status(), 400);
    let finding = eventually(
        "body_altered",
        std::time::Duration::from_secs(10),
        || async {
            findings(&admin, &tenant.slug)
                .await
                .into_iter()
                .find(|f| f["code"] == "body_altered")
                .ok_or_else(|| "not yet".to_string())
        },
    )
    .await;
    assert_eq!(finding["severity"], "error");
    assert!(
        finding["fix"].as_str().unwrap().contains("byte for byte"),
        "{finding}"
    );
    assert!(
        finding["evidence"][0].as_str().unwrap().contains(&id),
        "{finding}"
    );
    let codes = codes(&admin, &tenant.slug).await;
    assert!(!codes.contains(&"wrong_secret".to_string()), "{codes:?}");
    // The same body unaltered is taken.
    let taken = app
        .deliver_with_header(&tenant.slug, Some(&header), &stripe)
        .await;
    assert_eq!(taken.status(), 200);
}

/// The alert round diagnoses every restaurant with a Stripe key each round, but asks
/// Stripe about it at most every ten minutes (each ask lists its last three days of
/// events): over several rounds, one listing. Someone looking asks again sooner.
async fn the_alert_round_does_not_ask_stripe_every_round(backend: Backend) {
    let (app, stripe) = with_stripe(backend, &[("ALERT_INTERVAL_SECS", "1")]).await;
    let tenant = app.tenant();
    set_api_key(&app, &tenant);
    for _ in 0..120 {
        stripe.add_event(&customer_event());
    }
    let asked = |path: &str| stripe.seen().iter().filter(|(p, _, _)| p == path).count();
    eventually("a round asked Stripe", Duration::from_secs(15), || async {
        match asked("/v1/webhook_endpoints") {
            0 => Err("not yet".to_string()),
            n => Ok(n),
        }
    })
    .await;
    // Eleven rounds more: past the 10 s within which anyone is answered from memory.
    tokio::time::sleep(Duration::from_millis(11_500)).await;
    assert_eq!(
        (asked("/v1/webhook_endpoints"), asked("/v1/events")),
        (1, 2),
        "one ask: the endpoints, and the 120 events in two pages"
    );
}

on_both_backends!(
    the_alert_round_does_not_ask_stripe_every_round,
    a_body_rewritten_on_its_way_is_named,
    a_healthy_restaurant_has_no_findings_and_the_doctor_says_so,
    what_stripe_says_is_named,
    events_stripe_has_that_never_arrived_are_named,
    delivery_problems_are_named,
    order_problems_are_named,
    an_alert_fires_once_and_resolves_once,
    a_receiver_that_hangs_or_fails_does_not_slow_deliveries,
    every_kind_of_error_alerts_and_quiet_restaurants_are_not_diagnosed,
);
