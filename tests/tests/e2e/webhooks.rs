//! Every outcome of the webhook route (CONTRACT §2), with its WebhookEvent row.

use crate::on_both_backends;
use crate::support::*;
use serde_json::{Value, json};

async fn rows_for(app: &TestApp, slug: &str) -> Vec<Value> {
    app.db
        .query(&format!(
            "SELECT status, error, error_code, stripe_event_id, event_type, payload, tenant_id FROM webhook_event WHERE tenant_slug = '{slug}' ORDER BY id"
        ))
        .await
}

/// Rejected rows are written without the sender waiting: waits for `n` rows.
async fn wait_rows(app: &TestApp, slug: &str, n: usize) -> Vec<Value> {
    let what = format!("{n} row(s) for {slug}");
    eventually(&what, std::time::Duration::from_secs(5), || async {
        let rows = rows_for(app, slug).await;
        if rows.len() >= n {
            Ok(rows)
        } else {
            Err(format!("{rows:?}"))
        }
    })
    .await
}

async fn signed_event_is_stored_processed_and_pays_the_order(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let tenant = app.tenant();
    let order = app.create_order(&tenant, 2599).await;
    let pay = Payment::new(&order, 2599);
    let id = evt_id();
    let response = app
        .deliver(
            &tenant.slug,
            &tenant.secret,
            &event(&id, "checkout.session.completed", pay.session("paid")),
        )
        .await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        body,
        json!({"received": true, "event_id": id, "duplicate": false})
    );
    let row = app.settled(&id).await;
    assert_eq!(row["status"], "COMPLETED");
    assert_eq!(row["outcome"], "applied");
    assert_eq!(row["order_id"], json!(order));
    let status = app.order_status(&order).await;
    assert_eq!(status["status"], "PAID");
    let payments = app
        .db
        .query(&format!("SELECT status, amount, currency, payment_intent_id FROM payments WHERE order_id = '{order}'"))
        .await;
    assert_eq!(payments.len(), 1);
    assert_eq!(payments[0]["status"], "succeeded");
    assert_eq!(payments[0]["amount"], 2599);
    assert_eq!(payments[0]["currency"], "eur");
    assert_eq!(payments[0]["payment_intent_id"], json!(pay.intent));
}

async fn bad_signatures_are_400_and_recorded_with_the_reason(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let tenant = app.tenant();
    let body = event(
        &evt_id(),
        "payment_intent.succeeded",
        Payment::new("ord_x", 100).intent("succeeded"),
    );
    let t = now();
    let good = signature(&tenant.secret, t, &body);
    let cases: Vec<(Option<String>, &str)> = vec![
        (None, "missing Stripe-Signature header"),
        (
            Some("garbage".into()),
            "malformed Stripe-Signature header: no timestamp (t=)",
        ),
        (
            Some(format!("t={t},v0={good}")),
            "malformed Stripe-Signature header: no v1 signature",
        ),
        (
            Some(sign("whsec_someoneelsessecret", t, &body)),
            "no signature matches",
        ),
        (Some(sign(&tenant.secret, t - 4000, &body)), "s ago"),
        (
            Some(sign(&tenant.secret, t + 4000, &body)),
            "s in the future",
        ),
    ];
    for (header, _) in &cases {
        let response = app
            .deliver_with_header(&tenant.slug, header.as_deref(), &body)
            .await;
        assert_eq!(response.status(), 400, "{header:?}");
        let reply: Value = response.json().await.unwrap();
        assert_eq!(reply["error"], "verification_failed");
        assert!(!reply.to_string().contains(&tenant.secret));
    }
    // A changed byte.
    let tampered = body.replacen("eur", "usd", 1);
    let response = app
        .deliver_with_header(&tenant.slug, Some(&format!("t={t},v1={good}")), &tampered)
        .await;
    assert_eq!(response.status(), 400);

    let rows = wait_rows(&app, &tenant.slug, cases.len() + 1).await;
    assert_eq!(rows.len(), cases.len() + 1);
    // Each row carries its reason in words and as a code (what diagnosis reads). The
    // rows of signatures that match no secret are written after the other-tenant
    // check, off the request's path, so the rows are compared in the order of codes.
    let mut seen: Vec<(String, String)> = rows
        .iter()
        .map(|r| {
            assert_eq!(r["status"], "VERIFICATION_FAILED");
            assert_eq!(
                r["payload"],
                Value::Null,
                "an unverified body is never stored"
            );
            let code = r["error_code"].as_str().unwrap().to_string();
            (code, r["error"].as_str().unwrap().to_string())
        })
        .collect();
    seen.sort();
    let mut expected: Vec<(&str, &str)> = cases
        .iter()
        .map(|(_, reason)| *reason)
        .chain(["no signature matches"])
        .map(|reason| {
            let code = match reason {
                "missing Stripe-Signature header" => "missing_header",
                "no signature matches" => "no_matching_signature",
                "s ago" | "s in the future" => "outside_tolerance",
                _ => "malformed_header",
            };
            (code, reason)
        })
        .collect();
    expected.sort();
    assert_eq!(seen.len(), expected.len());
    for ((code, error), (want_code, reason)) in seen.iter().zip(&expected) {
        assert_eq!(code, want_code, "{error}");
        if *want_code != "outside_tolerance" && *want_code != "malformed_header" {
            assert!(error.contains(reason), "{error:?} should say {reason:?}");
        }
    }
    for reason in [
        "no timestamp (t=)",
        "no v1 signature",
        "s ago",
        "s in the future",
    ] {
        assert!(
            seen.iter().any(|(_, e)| e.contains(reason)),
            "{reason} in {seen:?}"
        );
    }
    // The skew in seconds (the clock may tick between signing and checking).
    for (_, error) in seen.iter().filter(|(code, _)| code == "outside_tolerance") {
        assert!(error.contains("tolerance of 300 s"), "{error}");
        let skew: i64 = error
            .split("signed ")
            .nth(1)
            .unwrap()
            .split(' ')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        assert!((3998..=4002).contains(&skew), "{error}");
    }
}

async fn unknown_tenant_and_tenant_without_secret_are_404_no_config(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let body = event(
        &evt_id(),
        "charge.succeeded",
        Payment::new("ord_x", 100).charge("succeeded", 0),
    );
    let response = app
        .deliver("nobody-here", "whsec_whatever12345", &body)
        .await;
    assert_eq!(response.status(), 404);
    assert_eq!(
        response.json::<Value>().await.unwrap(),
        json!({"error": "no_config"})
    );
    let rows = wait_rows(&app, "nobody-here", 1).await;
    assert_eq!(rows[0]["status"], "NO_CONFIG");
    assert_eq!(rows[0]["tenant_id"], Value::Null);

    app.cli_ok(&["tenant", "create", "bare-resto", "--name", "Bare"], None);
    let response = app
        .deliver("bare-resto", "whsec_whatever12345", &body)
        .await;
    assert_eq!(response.status(), 404);
    let rows = wait_rows(&app, "bare-resto", 1).await;
    assert_eq!(rows[0]["status"], "NO_CONFIG");
    assert!(
        rows[0]["error"]
            .as_str()
            .unwrap()
            .contains("no Stripe webhook secret")
    );

    // Not even a valid slug: 404 too, and nothing stored for it.
    let response = app
        .deliver("No_Such/../x", "whsec_whatever12345", &body)
        .await;
    assert_eq!(response.status(), 404);
}

async fn verified_body_that_is_not_an_event_is_invalid_payload(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let tenant = app.tenant();
    for body in [
        r#"{"id":"ch_1","object":"charge"}"#,
        "not json at all",
        r#"{"id":"evt_1","object":"event","type":"x"}"#,
    ] {
        let response = app.deliver(&tenant.slug, &tenant.secret, body).await;
        assert_eq!(response.status(), 400, "{body}");
        let reply: Value = response.json().await.unwrap();
        assert_eq!(reply["error"], "invalid_payload");
    }
    let rows = wait_rows(&app, &tenant.slug, 3).await;
    assert_eq!(rows.len(), 3);
    for row in &rows {
        assert_eq!(row["status"], "FAILED");
        assert!(row["error"].as_str().unwrap().len() > 5);
    }
}

async fn bodies_over_the_limit_are_413(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let tenant = app.tenant();
    let big = format!(
        r#"{{"id":"evt_big","object":"event","pad":"{}"}}"#,
        "x".repeat(1024 * 1024)
    );
    let response = app.deliver(&tenant.slug, &tenant.secret, &big).await;
    assert_eq!(response.status(), 413);
    // Just under the limit is fine (and a real event).
    let mut session = Payment::new("ord_none", 100).session("paid");
    session["custom_text"] = json!({"submit": {"message": "y".repeat(1000 * 1000)}});
    let body = event(&evt_id(), "checkout.session.completed", session);
    assert!(body.len() < 1024 * 1024);
    assert_eq!(
        app.deliver(&tenant.slug, &tenant.secret, &body)
            .await
            .status(),
        200
    );
}

async fn unknown_event_types_are_completed_as_ignored_and_orphans_as_unmatched(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let tenant = app.tenant();
    let ignored = evt_id();
    let body = event(&ignored, "customer.created", fixture("customer"));
    assert_eq!(
        app.deliver(&tenant.slug, &tenant.secret, &body)
            .await
            .status(),
        200
    );
    let unmatched = evt_id();
    let body = event(
        &unmatched,
        "payment_intent.succeeded",
        Payment::new("ord_gone", 100).intent("succeeded"),
    );
    assert_eq!(
        app.deliver(&tenant.slug, &tenant.secret, &body)
            .await
            .status(),
        200
    );
    let row = app.settled(&ignored).await;
    assert_eq!(
        (row["status"].as_str(), row["outcome"].as_str()),
        (Some("COMPLETED"), Some("ignored"))
    );
    let row = app.settled(&unmatched).await;
    assert_eq!(
        (row["status"].as_str(), row["outcome"].as_str()),
        (Some("COMPLETED"), Some("unmatched"))
    );
}

async fn the_same_event_id_for_two_tenants_is_two_events(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let a = app.tenant();
    let b = app.tenant();
    let id = evt_id();
    let body = event(&id, "customer.created", fixture("customer"));
    for t in [&a, &b] {
        let reply: Value = app
            .deliver(&t.slug, &t.secret, &body)
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(reply["duplicate"], false);
    }
}

/// PostgreSQL: a Stripe event (2–4 KB, over the size from which PostgreSQL compresses
/// a value) is stored compressed with LZ4, the cheaper method (see the migration
/// `m20261202_000012_payload_lz4`), and comes back byte for byte.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stripe_sized_payload_is_stored_with_lz4_on_postgres() {
    within_limit(async {
        let app = TestApp::spawn(Backend::Postgres).await;
        let tenant = app.tenant();
        let order = app.create_order(&tenant, 2599).await;
        let id = evt_id();
        let body = paid_checkout(&id, &order, 2599);
        assert!(body.len() > 2500, "{} bytes", body.len());
        let response = app.deliver(&tenant.slug, &tenant.secret, &body).await;
        assert_eq!(response.status(), 200);
        app.order_reaches(&order, "PAID").await;
        let rows = app
            .db
            .query(&format!(
                "SELECT pg_column_compression(payload) AS method, payload \
             FROM webhook_event WHERE stripe_event_id = '{id}'"
            ))
            .await;
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0]["method"], "lz4", "{:?}", rows[0]["method"]);
        assert_eq!(rows[0]["payload"].as_str(), Some(body.as_str()));
    })
    .await
}

/// PostgreSQL only: a SQLite file cannot go away under an open connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn database_gone_is_503_and_ready_says_so() {
    within_limit(async {
        let app = TestApp::spawn(Backend::Postgres).await;
        let tenant = app.tenant();
        let ready = app.client.get(app.url("/ready")).send().await.unwrap();
        assert_eq!(ready.status(), 200);
        let name = app.db.url.rsplit('/').next().unwrap().to_string();
        let admin = sea_orm::Database::connect(format!("{}/postgres", postgres_server_url()))
            .await
            .unwrap();
        use sea_orm::ConnectionTrait;
        admin
            .execute_unprepared(&format!("DROP DATABASE {name} WITH (FORCE)"))
            .await
            .unwrap();
        // Once past the secret cache, deliveries need the database.
        let within = std::time::Duration::from_secs(5);
        app.deliveries_answer(&tenant.slug, &tenant.secret, 503, within)
            .await;
        let body = event(&evt_id(), "customer.created", fixture("customer"));
        let response = app.deliver(&tenant.slug, &tenant.secret, &body).await;
        assert_eq!(response.status(), 503);
        assert!(response.headers().contains_key("retry-after"));
        let ready = app.client.get(app.url("/ready")).send().await.unwrap();
        assert_eq!(ready.status(), 503);
        let health = app.client.get(app.url("/health")).send().await.unwrap();
        assert_eq!(health.status(), 200);
        assert!(!app.logs().contains("panicked"));
    })
    .await
}

async fn an_unreachable_database_stops_start_up_with_one_clear_line(backend: Backend) {
    let url = match backend {
        Backend::Postgres => "postgres://nobody@127.0.0.1:1/none".to_string(),
        Backend::Sqlite => "sqlite:///proc/definitely/not/here.db?mode=rwc".to_string(),
    };
    let env = vec![
        ("DATABASE_URL".to_string(), url),
        ("BIND_ADDR".to_string(), "127.0.0.1:0".to_string()),
        ("PAYMENT_CONFIG_ENC_KEY".to_string(), ENC_KEY.to_string()),
        ("JWT_SECRET".to_string(), JWT_SECRET.to_string()),
    ];
    let out = cli(&env, &["serve"], None);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    let last = stderr.lines().last().unwrap_or_default();
    assert!(
        last.starts_with("error: DATABASE_URL: cannot open the database"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");

    let env = vec![("PAYMENT_CONFIG_ENC_KEY".to_string(), "abc".to_string())];
    let out = cli(&env, &["serve"], None);
    assert_eq!(
        String::from_utf8_lossy(&out.stderr).trim(),
        "error: PAYMENT_CONFIG_ENC_KEY: must be 64 hexadecimal characters (32 bytes), got 3 characters"
    );
}

on_both_backends!(
    signed_event_is_stored_processed_and_pays_the_order,
    bad_signatures_are_400_and_recorded_with_the_reason,
    unknown_tenant_and_tenant_without_secret_are_404_no_config,
    verified_body_that_is_not_an_event_is_invalid_payload,
    bodies_over_the_limit_are_413,
    unknown_event_types_are_completed_as_ignored_and_orphans_as_unmatched,
    the_same_event_id_for_two_tenants_is_two_events,
    an_unreachable_database_stops_start_up_with_one_clear_line,
);

/// A NUL in a claimed id or in a verified non-event body (PostgreSQL text cannot hold
/// NUL) is recorded, and costs the other deliveries of the same group nothing.
async fn nul_bytes_in_bodies_are_recorded_and_harm_no_other_delivery(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let tenant = app.tenant();
    let bad = "{\"id\":\"evt_\\u0000x\",\"object\":\"event\",\"type\":\"x\u{0}y\",\"data\":{\"object\":{}}}\u{0}";
    let good: Vec<String> = (0..20)
        .map(|_| event(&evt_id(), "customer.created", fixture("customer")))
        .collect();
    let mut signed = vec![
        (sign(&tenant.secret, now(), bad), bad.to_string()),
        ("t=1,v1=00".to_string(), bad.to_string()),
    ];
    signed.extend(
        good.iter()
            .map(|b| (sign(&tenant.secret, now(), b), b.clone())),
    );
    let sends = signed
        .iter()
        .map(|(h, b)| app.deliver_with_header(&tenant.slug, Some(h), b));
    let replies = crate::exactly_once::futures_join_all(sends).await;
    assert_eq!(replies[0].status(), 400);
    assert_eq!(replies[1].status(), 400);
    assert!(replies[2..].iter().all(|r| r.status() == 200));
    let rows = wait_rows(&app, &tenant.slug, 22).await;
    assert_eq!(rows.len(), 22);
}

on_both_backends!(nul_bytes_in_bodies_are_recorded_and_harm_no_other_delivery);

/// Deliveries that arrive together are stored in one group: each event's row holds
/// exactly the body that was signed for it (byte for byte, whitespace, escapes and
/// non-ASCII text included), never a neighbour's.
async fn each_event_of_a_group_stores_its_own_body_byte_for_byte(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let tenant = app.tenant();
    let bodies: Vec<(String, String)> = (0..40)
        .map(|n| {
            let id = evt_id();
            let mut customer = fixture("customer");
            customer["name"] = json!(format!("Café \"Nº {n}\" \\ 🍕\t{}", "x".repeat(n * 37)));
            let body = event(&id, "customer.created", customer);
            // Some bodies as Stripe pretty-prints them, some compact.
            let body = match n % 2 {
                0 => body,
                _ => serde_json::to_string_pretty(&serde_json::from_str::<Value>(&body).unwrap())
                    .unwrap(),
            };
            (id, body)
        })
        .collect();
    let sends = bodies
        .iter()
        .map(|(_, body)| app.deliver(&tenant.slug, &tenant.secret, body));
    let replies = crate::exactly_once::futures_join_all(sends).await;
    assert!(replies.iter().all(|r| r.status() == 200));
    let rows = rows_for(&app, &tenant.slug).await;
    assert_eq!(rows.len(), bodies.len());
    for (id, body) in &bodies {
        let row = rows
            .iter()
            .find(|r| r["stripe_event_id"] == id.as_str())
            .unwrap_or_else(|| panic!("no row for {id}"));
        assert_eq!(row["payload"].as_str(), Some(body.as_str()), "{id}");
    }
}

on_both_backends!(each_event_of_a_group_stores_its_own_body_byte_for_byte);
