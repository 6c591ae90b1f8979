//! What the people who run the gateway see (CONTRACT §13): one log line per request
//! with its id, JSON logs from the first line when asked, metrics Prometheus accepts,
//! and a shutdown that answers the widgets still waiting.

use crate::on_both_backends;
use crate::support::*;
use serde_json::Value;
use std::time::Duration;

async fn every_request_is_one_log_line_with_its_id(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let tenant = app.tenant();
    let order = app.create_order(&tenant, 2599).await;

    // An id the client (or its proxy) sent is kept and echoed.
    let asked = app
        .client
        .get(app.url(&format!("/api/v1/orders/{order}/status")))
        .header("x-request-id", "trace-4bf92f3577b34da6")
        .send()
        .await
        .unwrap();
    assert_eq!(asked.status(), 200);
    assert_eq!(asked.headers()["x-request-id"], "trace-4bf92f3577b34da6");
    // One that could forge a log line is replaced by one of ours.
    let forged = app
        .client
        .get(app.url("/health"))
        .header("x-request-id", "x status=500 route=/admin")
        .send()
        .await
        .unwrap();
    let ours = forged.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(ours.starts_with("req_"), "{ours}");

    // A delivery: logged once, at info, by its route template (not the URL with the
    // tenant's slug), with its tenant, event id, type and outcome.
    let id = evt_id();
    let delivered = app
        .deliver(
            &tenant.slug,
            &tenant.secret,
            &paid_checkout(&id, &order, 2599),
        )
        .await;
    assert_eq!(delivered.status(), 200);
    let delivery_id = delivered.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_string();
    app.order_reaches(&order, "PAID").await;

    let logs = eventually("the request lines", Duration::from_secs(5), || async {
        let logs = app.logs();
        if logs.contains(&format!("request_id={delivery_id}")) && logs.contains(&ours) {
            Ok(logs)
        } else {
            Err(logs)
        }
    })
    .await;
    let lines = |id: &str| -> Vec<String> {
        logs.lines()
            .filter(|l| l.contains(&format!("request_id={id}")) && l.contains("answered"))
            .map(str::to_string)
            .collect()
    };
    let status_line = lines("trace-4bf92f3577b34da6");
    assert_eq!(status_line.len(), 1, "{logs}");
    assert!(
        status_line[0].contains("route=\"/api/v1/orders/{order_id}/status\"")
            && status_line[0].contains("status=200")
            && status_line[0].contains("duration_ms="),
        "{}",
        status_line[0]
    );
    let delivery = lines(&delivery_id);
    assert_eq!(delivery.len(), 1, "{logs}");
    let line = &delivery[0];
    for expected in [
        "INFO".to_string(),
        "route=\"/api/v1/webhooks/stripe/{tenant}\"".to_string(),
        "method=POST".to_string(),
        "status=200".to_string(),
        format!("tenant={}", tenant.slug),
        format!("stripe_event_id=\"{id}\""),
        "event_type=\"checkout.session.completed\"".to_string(),
        "outcome=\"verified\"".to_string(),
        "delivery=dlv_".to_string(),
    ] {
        assert!(line.contains(&expected), "{expected} is not in: {line}");
    }
    assert!(
        !line.contains(&format!("/api/v1/webhooks/stripe/{}", tenant.slug)),
        "{line}"
    );
    assert!(!logs.contains(&tenant.secret));
}

/// `LOG_FORMAT=json`: every line is a JSON object, the development-key warnings
/// written before the server starts included.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_logs_are_json_from_the_first_line() {
    let app = TestApp::spawn_with(
        Backend::Sqlite,
        &[
            ("LOG_FORMAT", "json"),
            ("PAYMENT_CONFIG_ENC_KEY", ""),
            ("JWT_SECRET", ""),
        ],
    )
    .await;
    app.client.get(app.url("/health")).send().await.unwrap();
    let logs = eventually("a request line", Duration::from_secs(5), || async {
        let logs = app.logs();
        if logs.contains("answered") {
            Ok(logs)
        } else {
            Err(logs)
        }
    })
    .await;
    let mut warnings = 0;
    for line in logs.lines() {
        let json: Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("not a JSON line ({e}): {line}\n{logs}"));
        if json["level"] == "WARN" {
            warnings += 1;
        }
    }
    assert!(
        warnings >= 2,
        "both development keys are warned about:\n{logs}"
    );
    let answered: Vec<Value> = logs
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|j| j["fields"]["message"] == "answered")
        .collect();
    assert_eq!(answered[0]["fields"]["route"], "/health");
    assert_eq!(answered[0]["fields"]["status"], 200);
    assert!(
        answered[0]["fields"]["request_id"]
            .as_str()
            .is_some_and(|id| id.starts_with("req_")),
        "{}",
        answered[0]
    );
}

#[test]
fn an_unknown_log_format_stops_start_up() {
    let dir = std::env::temp_dir().join(format!("gateway-logformat-{}", random_hex(6)));
    std::fs::create_dir_all(&dir).unwrap();
    let env = vec![
        (
            "DATABASE_URL".to_string(),
            format!("sqlite://{}/g.db?mode=rwc", dir.display()),
        ),
        ("BIND_ADDR".to_string(), "127.0.0.1:0".to_string()),
        ("LOG_FORMAT".to_string(), "xml".to_string()),
        ("PAYMENT_CONFIG_ENC_KEY".to_string(), ENC_KEY.to_string()),
        ("JWT_SECRET".to_string(), JWT_SECRET.to_string()),
    ];
    let out = cli(&env, &["serve"], None);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("LOG_FORMAT") && stderr.contains("xml"),
        "{stderr}"
    );
    assert!(!stderr.contains("listening"), "{stderr}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// SIGTERM while a widget waits on an order: it gets its answer (304, nothing
/// changed) before the process exits, not a closed connection.
async fn shutdown_answers_waiting_widgets(backend: Backend) {
    let mut app = TestApp::spawn(backend).await;
    let tenant = app.tenant();
    let order = app.create_order(&tenant, 2599).await;
    let first = app
        .client
        .get(app.url(&format!("/api/v1/orders/{order}/status")))
        .send()
        .await
        .unwrap();
    let etag = first.headers()["etag"].to_str().unwrap().to_string();
    let waiting = {
        let client = app.client.clone();
        let url = app.url(&format!("/api/v1/orders/{order}/status?wait=60"));
        tokio::spawn(async move {
            let started = std::time::Instant::now();
            let answer = client.get(url).header("if-none-match", etag).send().await;
            (answer.map(|r| r.status().as_u16()), started.elapsed())
        })
    };
    // The gateway counts the orders waited on: stop once the widget is there.
    eventually("the widget waiting", Duration::from_secs(10), || async {
        let metrics = app.metrics().await;
        if metrics.contains("gateway_status_watched_orders 1") {
            Ok(())
        } else {
            Err(metrics)
        }
    })
    .await;
    app.terminate();
    let (answer, took) = waiting.await.unwrap();
    assert_eq!(answer.expect("an answer, not a closed connection"), 304);
    assert!(took < Duration::from_secs(20), "answered after {took:?}");
    let exited = tokio::task::block_in_place(|| app.exited_within(Duration::from_secs(30)));
    let status = exited.expect("the gateway exits after answering");
    assert!(status.success(), "{status:?}\n{}", app.logs());
}

/// Every series Prometheus' own linter is asked about: clean, and the ones the
/// dashboard and the alert rules use are there from the start.
async fn metrics_follow_prometheus_conventions(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let tenant = app.tenant();
    let order = app.create_order(&tenant, 2599).await;
    let id = evt_id();
    let body = paid_checkout(&id, &order, 2599);
    assert_eq!(
        app.deliver(&tenant.slug, &tenant.secret, &body)
            .await
            .status(),
        200
    );
    app.settled(&id).await;
    assert_eq!(
        app.deliver(&tenant.slug, &tenant.secret, &body)
            .await
            .status(),
        200
    );
    assert_eq!(
        app.deliver(&tenant.slug, "whsec_not_the_right_one_000", &body)
            .await
            .status(),
        400
    );
    let text = app.metrics().await;
    let value = |series: &str| -> f64 {
        text.lines()
            .find_map(|l| l.strip_prefix(series)?.trim().parse().ok())
            .unwrap_or_else(|| panic!("{series} is missing:\n{text}"))
    };
    assert_eq!(
        value("gateway_webhook_deliveries_total{outcome=\"verified\"}"),
        1.0
    );
    assert_eq!(
        value("gateway_webhook_deliveries_total{outcome=\"duplicate\"}"),
        1.0
    );
    assert_eq!(
        value("gateway_webhook_deliveries_total{outcome=\"verification_failed\"}"),
        1.0
    );
    assert!(
        value(
            "gateway_http_requests_total{method=\"POST\",route=\"/api/v1/webhooks/stripe/{tenant}\",status=\"200\"}"
        ) >= 2.0
    );
    assert_eq!(
        value("gateway_events_processed_total{result=\"completed\"}"),
        1.0
    );
    for series in [
        "gateway_build_info{version=",
        "gateway_notifications_total{result=\"delivered\"}",
        "gateway_recoveries_total{result=\"ok\"}",
        "gateway_alerts_total{",
        "gateway_internal_errors_total",
        "process_cpu_seconds_total",
        "process_resident_memory_bytes",
        "gateway_http_request_duration_seconds_bucket{",
    ] {
        assert!(text.contains(series), "{series} is missing:\n{text}");
    }
    assert!(
        !text.contains("PROCESSING"),
        "no transient status is counted"
    );
    promtool_accepts(&text);
}

/// `promtool check metrics` (Debian's `prometheus` package; `scripts/test.sh`
/// installs it).
fn promtool_accepts(exposition: &str) {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let Some(promtool) = tool("promtool") else {
        return;
    };
    let mut child = Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(exposition.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success() && said.trim().is_empty(), "{said}");
}

on_both_backends!(
    every_request_is_one_log_line_with_its_id,
    shutdown_answers_waiting_widgets,
    metrics_follow_prometheus_conventions,
);
