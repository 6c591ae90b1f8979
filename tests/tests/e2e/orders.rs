//! Order creation by restaurant backends and status polling by widgets (CONTRACT §4).

use crate::on_both_backends;
use crate::support::*;
use serde_json::{Value, json};

async fn orders_need_the_tenants_own_api_key_and_valid_values(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let a = app.tenant();
    let b = app.tenant();
    let url = app.url(&format!("/api/v1/tenants/{}/orders", a.slug));
    let body = json!({"amount": 2599, "currency": "EUR", "reference": "table 12"});
    let created = app
        .client
        .post(&url)
        .bearer_auth(&a.api_key)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let created: Value = created.json().await.unwrap();
    let id = created["order_id"].as_str().unwrap();
    assert!(id.starts_with("ord_") && id.len() >= 36, "{id}");
    assert_eq!(created["status"], "PAYMENT_PENDING");
    assert_eq!(created["status_url"], format!("/api/v1/orders/{id}/status"));

    for key in [None, Some(b.api_key.as_str()), Some("gk_nope")] {
        let mut request = app.client.post(&url).json(&body);
        if let Some(key) = key {
            request = request.bearer_auth(key);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 401);
        assert_eq!(
            response.json::<Value>().await.unwrap(),
            json!({"error": "invalid_api_key"})
        );
    }
    for bad in [
        json!({"amount": 0, "currency": "eur"}),
        json!({"amount": -5, "currency": "eur"}),
        json!({"amount": 100, "currency": "euro"}),
        json!({"amount": "12", "currency": "eur"}),
        json!({"currency": "eur"}),
    ] {
        let response = app
            .client
            .post(&url)
            .bearer_auth(&a.api_key)
            .json(&bad)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 422, "{bad}");
        let reply: Value = response.json().await.unwrap();
        assert!(
            reply["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{reply}"
        );
    }
    let response = app
        .client
        .post(&url)
        .bearer_auth(&a.api_key)
        .header("content-type", "application/json")
        .body("{")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
}

async fn status_polling_has_etags_cors_and_nothing_more(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let tenant = app.tenant();
    let order = app.create_order(&tenant, 2599).await;
    let url = app.url(&format!("/api/v1/orders/{order}/status"));
    let response = app
        .client
        .get(&url)
        .header("origin", "https://widget.example")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["access-control-allow-origin"], "*");
    let etag = response.headers()["etag"].to_str().unwrap().to_string();
    let body: Value = response.json().await.unwrap();
    let keys: Vec<&str> = body
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        [
            "amount",
            "currency",
            "livemode",
            "order_id",
            "status",
            "updated_at"
        ]
    );
    assert_eq!(body["status"], "PAYMENT_PENDING");

    let not_modified = app
        .client
        .get(&url)
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(not_modified.status(), 304);

    let preflight = app
        .client
        .request(reqwest::Method::OPTIONS, &url)
        .header("origin", "https://widget.example")
        .header("access-control-request-method", "GET")
        .header("access-control-request-headers", "if-none-match")
        .send()
        .await
        .unwrap();
    assert!(preflight.status().is_success());
    assert_eq!(preflight.headers()["access-control-allow-origin"], "*");

    // Paid: the tag changes and the widget sees PAID.
    let id = evt_id();
    app.deliver(
        &tenant.slug,
        &tenant.secret,
        &paid_checkout(&id, &order, 2599),
    )
    .await;
    app.settled(&id).await;
    let changed = app
        .client
        .get(&url)
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(changed.status(), 200);
    assert_ne!(changed.headers()["etag"].to_str().unwrap(), etag);
    assert_eq!(changed.json::<Value>().await.unwrap()["status"], "PAID");

    let missing = app
        .client
        .get(app.url("/api/v1/orders/ord_00000000000000000000000000000000/status"))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
}

async fn health_and_readiness(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    assert_eq!(
        app.client
            .get(app.url("/health"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        app.client
            .get(app.url("/ready"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let metrics = app.metrics().await;
    assert!(metrics.contains("gateway_webhook_duration_seconds_bucket"));
}

/// The value of one series of `/metrics` (`name` with its labels, as written there).
fn metric(text: &str, series: &str) -> f64 {
    let prefix = format!("{series} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&prefix)?.parse().ok())
        .unwrap_or_else(|| panic!("no {series} in /metrics:\n{text}"))
}

/// `/metrics` says where a delivery's time went: waiting for an inbox writer, its
/// group's statements, its group's commit; and how many deliveries the groups held.
async fn metrics_say_where_a_deliverys_time_went(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let tenant = app.tenant();
    let order = app.create_order(&tenant, 2599).await;
    let paid = paid_checkout(&evt_id(), &order, 2599);
    // Three deliveries one after another (a duplicate among them), and one refused:
    // only the three verified ones go through the inbox.
    for body in [&paid, &paid] {
        let r = app.deliver(&tenant.slug, &tenant.secret, body).await;
        assert_eq!(r.status(), 200);
    }
    let other = event(
        &evt_id(),
        "payment_intent.created",
        fixture("payment_intent"),
    );
    assert_eq!(
        app.deliver(&tenant.slug, &tenant.secret, &other)
            .await
            .status(),
        200
    );
    let refused = app.deliver(&tenant.slug, "whsec_wrong", &other).await;
    assert_eq!(refused.status(), 400);
    app.order_reaches(&order, "PAID").await;

    let text = app.metrics().await;
    assert_eq!(metric(&text, "gateway_webhook_duration_seconds_count"), 4.0);
    assert_eq!(metric(&text, "gateway_inbox_queued_seconds_count"), 3.0);
    assert_eq!(
        metric(&text, "gateway_inbox_queued_seconds_bucket{le=\"+Inf\"}"),
        3.0
    );
    assert_eq!(metric(&text, "gateway_inbox_grouped_events_total"), 3.0);
    // Each delivery waited for its own commit, so each was a group of its own.
    for phase in ["statements", "commit"] {
        let count = format!("gateway_inbox_group_seconds_count{{phase=\"{phase}\"}}");
        assert_eq!(metric(&text, &count), 3.0, "{phase}");
        let sum = format!("gateway_inbox_group_seconds_sum{{phase=\"{phase}\"}}");
        let sum = metric(&text, &sum);
        assert!(sum > 0.0 && sum < 30.0, "{phase} took {sum} s");
        let all = format!("gateway_inbox_group_seconds_bucket{{phase=\"{phase}\",le=\"+Inf\"}}");
        assert_eq!(metric(&text, &all), 3.0, "{phase}");
    }
}

on_both_backends!(
    orders_need_the_tenants_own_api_key_and_valid_values,
    status_polling_has_etags_cors_and_nothing_more,
    health_and_readiness,
    metrics_say_where_a_deliverys_time_went,
);
