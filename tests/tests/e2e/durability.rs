//! A 2xx means durably stored: nothing acknowledged is lost or left PROCESSING, even
//! when the gateway is SIGKILLed between the acknowledgement and the processing.

use crate::on_both_backends;
use crate::support::*;
use std::time::Duration;

async fn events_acknowledged_before_a_sigkill_are_processed_after_restart(backend: Backend) {
    // Processing fails (a trigger rejects payment rows) and is retried every 300 ms, so
    // the acknowledged events are certainly still PROCESSING when the gateway dies.
    let settings = [
        ("PROCESSING_RETRY_BASE_MS", "300"),
        ("PROCESSING_MAX_ATTEMPTS", "1000"),
        ("PROCESSING_LEASE_MS", "1000"),
    ];
    let mut app = TestApp::spawn_with(backend, &settings).await;
    let tenant = app.tenant();
    let mut orders = Vec::new();
    let mut ids = Vec::new();
    for _ in 0..5 {
        orders.push(app.create_order(&tenant, 1234).await);
    }
    app.db.break_payments().await;
    for order in &orders {
        let id = evt_id();
        let body = paid_checkout(&id, order, 1234);
        assert_eq!(
            app.deliver(&tenant.slug, &tenant.secret, &body)
                .await
                .status(),
            200
        );
        ids.push(id);
    }
    // Let at least one attempt fail, so that the kill interrupts real retry work.
    eventually("a failed attempt", Duration::from_secs(10), || async {
        let rows = app
            .db
            .query("SELECT COUNT(*) AS n FROM webhook_event WHERE attempts > 0")
            .await;
        if rows[0]["n"] != 0 {
            Ok(())
        } else {
            Err(format!("{rows:?}"))
        }
    })
    .await;
    app.kill();
    let stuck = app
        .db
        .query("SELECT COUNT(*) AS n FROM webhook_event WHERE status = 'PROCESSING'")
        .await;
    assert_eq!(
        stuck[0]["n"], 5,
        "all five acknowledged events are stored, none processed"
    );

    app.db.repair_payments().await;
    let restarted = TestApp::spawn_on(app.db.clone(), &settings).await;
    for id in &ids {
        let row = restarted.settled(id).await;
        assert_eq!(row["status"], "COMPLETED");
        assert_eq!(row["outcome"], "applied");
    }
    for order in &orders {
        assert_eq!(restarted.order_status(order).await["status"], "PAID");
    }
}

async fn a_burst_acknowledged_right_before_a_sigkill_is_all_applied_after_restart(
    backend: Backend,
) {
    let mut app = TestApp::spawn_with(backend, &[("PROCESSING_LEASE_MS", "500")]).await;
    let tenant = app.tenant();
    let mut sends = Vec::new();
    let mut orders = Vec::new();
    for _ in 0..40 {
        let order = app.create_order(&tenant, 500).await;
        let body = paid_checkout(&evt_id(), &order, 500);
        orders.push(order);
        sends.push(body);
    }
    let replies = crate::exactly_once::futures_join_all(
        sends
            .iter()
            .map(|b| app.deliver(&tenant.slug, &tenant.secret, b)),
    )
    .await;
    app.kill();
    assert!(replies.iter().all(|r| r.status() == 200));
    let restarted = TestApp::spawn_on(app.db.clone(), &[("PROCESSING_LEASE_MS", "500")]).await;
    restarted.all_settled().await;
    let done = restarted
        .db
        .query("SELECT COUNT(*) AS n FROM webhook_event WHERE status = 'COMPLETED'")
        .await;
    assert_eq!(done[0]["n"], 40);
    for order in &orders {
        assert_eq!(restarted.order_status(order).await["status"], "PAID");
    }
}

async fn a_failing_event_is_retried_with_backoff_then_failed_with_its_error(backend: Backend) {
    let app = TestApp::spawn_with(
        backend,
        &[
            ("PROCESSING_RETRY_BASE_MS", "100"),
            ("PROCESSING_MAX_ATTEMPTS", "3"),
        ],
    )
    .await;
    let tenant = app.tenant();
    let order = app.create_order(&tenant, 700).await;
    app.db.break_payments().await;
    let id = evt_id();
    let body = paid_checkout(&id, &order, 700);
    let started = std::time::Instant::now();
    assert_eq!(
        app.deliver(&tenant.slug, &tenant.secret, &body)
            .await
            .status(),
        200
    );
    let row = app.settled(&id).await;
    assert_eq!(row["status"], "FAILED");
    assert_eq!(row["attempts"], 3);
    let error = row["error"].as_str().unwrap();
    assert!(
        error.contains("attempt 3 of 3") && error.contains("injected failure"),
        "{error}"
    );
    // Backoff: 100 ms then 200 ms between the three attempts.
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert_eq!(app.order_status(&order).await["status"], "PAYMENT_PENDING");
}

on_both_backends!(
    events_acknowledged_before_a_sigkill_are_processed_after_restart,
    a_burst_acknowledged_right_before_a_sigkill_is_all_applied_after_restart,
    a_failing_event_is_retried_with_backoff_then_failed_with_its_error,
);
