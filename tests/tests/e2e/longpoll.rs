//! Widgets long-polling an order's status (CONTRACT §4): woken within a second of the
//! change, on whichever replica applied it; 304 when nothing changed in N seconds.

use crate::on_both_backends;
use crate::support::*;
use std::time::{Duration, Instant};

/// Polls with `?wait=` and the ETag; the status code, the body and how long it took.
async fn long_poll(
    app: &TestApp,
    order: &str,
    etag: &str,
    wait: u64,
) -> (u16, serde_json::Value, Duration) {
    let sent = Instant::now();
    let response = app
        .client
        .get(app.url(&format!("/api/v1/orders/{order}/status?wait={wait}")))
        .header("if-none-match", etag)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let body = response.json().await.unwrap_or(serde_json::Value::Null);
    (status, body, sent.elapsed())
}

async fn etag(app: &TestApp, order: &str) -> String {
    let response = app
        .client
        .get(app.url(&format!("/api/v1/orders/{order}/status")))
        .send()
        .await
        .unwrap();
    response.headers()["etag"].to_str().unwrap().to_string()
}

/// Pays `order` on `via` once `after` has passed; when the 200 came back.
async fn pay_later(via: &TestApp, tenant: &Tenant, order: &str, after: Duration) -> Instant {
    tokio::time::sleep(after).await;
    let body = paid_checkout(&evt_id(), order, 2599);
    assert_eq!(
        via.deliver(&tenant.slug, &tenant.secret, &body)
            .await
            .status(),
        200
    );
    Instant::now()
}

async fn a_waiting_widget_hears_of_the_payment_within_a_second(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let tenant = app.tenant();
    let order = app.create_order(&tenant, 2599).await;
    let tag = etag(&app, &order).await;
    let (polled, acked) = tokio::join!(
        long_poll(&app, &order, &tag, 30),
        pay_later(&app, &tenant, &order, Duration::from_millis(500))
    );
    let (status, body, _) = polled;
    assert_eq!(status, 200);
    assert_eq!(body["status"], "PAID");
    let after = acked.elapsed();
    assert!(
        after < Duration::from_secs(1),
        "answered {after:?} after the paying delivery"
    );
}

async fn with_nothing_changing_the_widget_gets_304_after_its_wait(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let tenant = app.tenant();
    let order = app.create_order(&tenant, 2599).await;
    let tag = etag(&app, &order).await;
    let (status, _, took) = long_poll(&app, &order, &tag, 2).await;
    assert_eq!(status, 304);
    assert!(
        took >= Duration::from_secs(2) && took < Duration::from_secs(4),
        "{took:?}"
    );
    // Without an ETag, or with a stale one, the answer is immediate.
    let (status, _, took) = long_poll(&app, &order, "\"stale\"", 30).await;
    assert_eq!(status, 200);
    assert!(took < Duration::from_secs(1));
}

on_both_backends!(
    a_waiting_widget_hears_of_the_payment_within_a_second,
    with_nothing_changing_the_widget_gets_304_after_its_wait,
);

/// Two replicas on one PostgreSQL: a widget waiting on one hears of a payment the other
/// applied (LISTEN/NOTIFY; no polling of the database per widget).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_widget_on_one_replica_is_woken_by_a_payment_applied_on_another() {
    within_limit(async {
        let one = TestApp::spawn(Backend::Postgres).await;
        let two = TestApp::spawn_on(one.db.clone(), &[]).await;
        let tenant = one.tenant();
        let order = one.create_order(&tenant, 2599).await;
        let tag = etag(&two, &order).await;
        let (polled, acked) = tokio::join!(
            long_poll(&two, &order, &tag, 30),
            pay_later(&one, &tenant, &order, Duration::from_millis(500))
        );
        assert_eq!(polled.0, 200);
        assert_eq!(polled.1["status"], "PAID");
        assert!(
            acked.elapsed() < Duration::from_secs(1),
            "woken {:?} after the delivery",
            acked.elapsed()
        );
    })
    .await
}

/// How many status reads this gateway answered from memory and from the database.
async fn status_reads(app: &TestApp) -> (u64, u64) {
    let text = app.metrics().await;
    let count = |source: &str| {
        let prefix = format!("gateway_status_reads_total{{source=\"{source}\"}} ");
        text.lines()
            .find_map(|l| l.strip_prefix(&prefix)?.parse().ok())
            .unwrap_or_else(|| panic!("no {prefix} in /metrics:\n{text}"))
    };
    (count("memory"), count("database"))
}

async fn polling_an_unchanged_order_costs_no_query_and_a_payment_shows_at_once(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let tenant = app.tenant();
    let order = app.create_order(&tenant, 2599).await;
    let (memory, database) = status_reads(&app).await;
    for _ in 0..20 {
        assert_eq!(app.order_status(&order).await["status"], "PAYMENT_PENDING");
    }
    let (memory_after, database_after) = status_reads(&app).await;
    assert!(
        database_after - database <= 2 && memory_after - memory >= 18,
        "20 polls: {} from memory, {} from the database",
        memory_after - memory,
        database_after - database
    );
    // The payment's 200 comes once it is applied: the very next poll shows it.
    pay_later(&app, &tenant, &order, Duration::ZERO).await;
    let paid = eventually(
        "the status shows the payment",
        Duration::from_millis(300),
        || async {
            match app.order_status(&order).await {
                body if body["status"] == "PAID" => Ok(body),
                body => Err(body.to_string()),
            }
        },
    )
    .await;
    assert_eq!(paid["amount"], 2599);
}

on_both_backends!(polling_an_unchanged_order_costs_no_query_and_a_payment_shows_at_once);

/// A status one replica keeps in memory is forgotten when another replica applies a
/// change (the same LISTEN/NOTIFY that wakes its widgets), well before it would expire.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_status_kept_by_one_replica_is_forgotten_when_another_applies_a_payment() {
    within_limit(async {
        let one = TestApp::spawn(Backend::Postgres).await;
        let two = TestApp::spawn_on(one.db.clone(), &[]).await;
        let tenant = one.tenant();
        let order = one.create_order(&tenant, 2599).await;
        for _ in 0..5 {
            assert_eq!(two.order_status(&order).await["status"], "PAYMENT_PENDING");
        }
        let acked = pay_later(&one, &tenant, &order, Duration::ZERO).await;
        eventually(
            "replica two shows the payment",
            Duration::from_secs(2),
            || async {
                match two.order_status(&order).await {
                    body if body["status"] == "PAID" => Ok(()),
                    body => Err(body.to_string()),
                }
            },
        )
        .await;
        // Kept answers live a second; the announcement makes it much sooner.
        assert!(
            acked.elapsed() < Duration::from_millis(700),
            "replica two showed PAID {:?} after the delivery",
            acked.elapsed()
        );
    })
    .await
}
