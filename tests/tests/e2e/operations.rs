//! What operators set up around the gateway (CONTRACT §6, §10): `/metrics` on a
//! listener of its own.

use crate::on_both_backends;
use crate::support::*;
use std::time::Duration;

async fn metrics_are_served_only_on_metrics_bind_addr_when_it_is_set(backend: Backend) {
    let app = TestApp::spawn_with(backend, &[("METRICS_BIND_ADDR", "127.0.0.1:0")]).await;
    let tenant = app.tenant();
    let body = event(&evt_id(), "customer.created", fixture("customer"));
    assert_eq!(
        app.deliver(&tenant.slug, &tenant.secret, &body)
            .await
            .status(),
        200
    );
    let addr = eventually("the metrics listener", Duration::from_secs(10), || async {
        let logs = app.logs();
        logs.split("metrics listening addr=")
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
            .map(str::to_string)
            .ok_or(logs)
    })
    .await;
    let scraped = app
        .client
        .get(format!("http://{addr}/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(scraped.status(), 200);
    let text = scraped.text().await.unwrap();
    assert!(text.contains("gateway_webhook_deliveries_total"), "{text}");
    // The main listener no longer serves it; its other routes are not on the other.
    let main = app.client.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(main.status(), 404);
    let health = app
        .client
        .get(format!("http://{addr}/health"))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 404);
    assert_eq!(
        app.client
            .get(app.url("/health"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
}

on_both_backends!(metrics_are_served_only_on_metrics_bind_addr_when_it_is_set);
