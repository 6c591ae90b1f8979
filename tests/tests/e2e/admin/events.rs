//! The webhook event log: paging, filters, retries.

use super::setup;
use crate::on_both_backends;
use crate::support::*;

async fn the_event_log_pages_newest_first_exactly_once_while_events_arrive(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (a, _b, _platform, admin_a) = setup(&app).await;
    let sent = app.deliver_customer_events(&a, 25).await;
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!(
                "/api/v1/admin/tenants/{}/webhook-events?limit=7&cursor={c}",
                a.slug
            ),
            None => format!("/api/v1/admin/tenants/{}/webhook-events?limit=7", a.slug),
        };
        let Reply { status, body: page } = app.as_admin(&admin_a).get(&path).await;
        assert_eq!(status, 200);
        for item in page["items"].as_array().unwrap() {
            seen.push((
                item["id"].as_i64().unwrap(),
                item["stripe_event_id"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
            ));
            assert!(item.get("payload").is_none());
        }
        // New events arrive between pages: they are newer, so no page shows them twice.
        app.deliver(
            &a.slug,
            &a.secret,
            &event(&evt_id(), "customer.created", fixture("customer")),
        )
        .await;
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    let ids: Vec<i64> = seen.iter().map(|(id, _)| *id).collect();
    let mut sorted = ids.clone();
    sorted.sort_by(|x, y| y.cmp(x));
    sorted.dedup();
    assert_eq!(ids, sorted, "newest first, each once");
    for id in &sent {
        assert_eq!(seen.iter().filter(|(_, s)| s == id).count(), 1, "{id}");
    }
    // Filters.
    app.deliver_with_header(&a.slug, Some("t=1,v1=00"), "{}")
        .await;
    app.recorded(&a.slug, "VERIFICATION_FAILED", 1).await;
    let items = app
        .as_admin(&admin_a)
        .events(&a.slug, "status=VERIFICATION_FAILED")
        .await;
    assert_eq!(items.len(), 1);
    assert!(
        items[0]["error"]
            .as_str()
            .unwrap()
            .contains("no signature matches")
    );
    let typed = app
        .as_admin(&admin_a)
        .events(&a.slug, "type=customer.created&limit=200")
        .await;
    assert!(typed.len() >= 25);
    let Reply { status, .. } = app
        .as_admin(&admin_a)
        .tenant_get(&a.slug, "webhook-events?status=BOGUS")
        .await;
    assert_eq!(status, 400);
    // One event, with its payload.
    let first_id = seen.last().unwrap().0;
    let Reply { status, body: one } = app
        .as_admin(&admin_a)
        .get(&format!(
            "/api/v1/admin/tenants/{}/webhook-events/{first_id}",
            a.slug
        ))
        .await;
    assert_eq!(status, 200);
    assert_eq!(one["payload"]["object"], "event");
}

async fn failed_events_are_retried_one_by_one_or_in_bulk(backend: Backend) {
    let app = TestApp::spawn_with(
        backend,
        &[
            ("PROCESSING_RETRY_BASE_MS", "50"),
            ("PROCESSING_MAX_ATTEMPTS", "2"),
        ],
    )
    .await;
    let (a, _b, _platform, admin_a) = setup(&app).await;
    let orders = [
        app.create_order(&a, 1000).await,
        app.create_order(&a, 1000).await,
        app.create_order(&a, 1000).await,
    ];
    app.db.break_payments().await;
    let mut ids = Vec::new();
    for order in &orders {
        let id = evt_id();
        app.deliver(&a.slug, &a.secret, &paid_checkout(&id, order, 1000))
            .await;
        assert_eq!(app.settled(&id).await["status"], "FAILED");
        ids.push(id);
    }
    app.db.repair_payments().await;
    let rows = app
        .as_admin(&admin_a)
        .events(&a.slug, "status=FAILED")
        .await;
    assert_eq!(rows.len(), 3);
    let one = rows[0]["id"].as_i64().unwrap();
    let Reply { status, .. } = app
        .as_admin(&admin_a)
        .post(
            &format!(
                "/api/v1/admin/tenants/{}/webhook-events/{one}/retry",
                a.slug
            ),
            serde_json::json!({}),
        )
        .await;
    assert_eq!(status, 200);
    let Reply { status, .. } = app
        .as_admin(&admin_a)
        .post(
            &format!(
                "/api/v1/admin/tenants/{}/webhook-events/{one}/retry",
                a.slug
            ),
            serde_json::json!({}),
        )
        .await;
    assert!(status == 409 || status == 200, "{status}");
    let Reply { status, body: bulk } = app
        .as_admin(&admin_a)
        .tenant_post(
            &a.slug,
            "webhook-events/retry?type=checkout.session.completed",
            serde_json::json!({}),
        )
        .await;
    assert_eq!(status, 200);
    assert!(bulk["retried"].as_i64().unwrap() >= 1);
    for id in &ids {
        assert_eq!(app.settled(id).await["status"], "COMPLETED");
    }
    for order in &orders {
        assert_eq!(app.order_status(order).await["status"], "PAID");
    }
}

on_both_backends!(
    the_event_log_pages_newest_first_exactly_once_while_events_arrive,
    failed_events_are_retried_one_by_one_or_in_bulk,
);
