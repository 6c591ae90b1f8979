//! Prometheus metrics through the `metrics` facade, rendered by its Prometheus
//! exporter in the text format (`promtool check metrics` clean: `_total` counters,
//! base units, snake_case labels). Every series the gateway writes is named here, so
//! the dashboard and the alert rules (`deploy/`) have one place to look.
//!
//! | series | labels |
//! |---|---|
//! | `gateway_webhook_deliveries_total` | `outcome`: `verified`, `duplicate`, `verification_failed`, `no_config`, `invalid_payload`, `rate_limited`, `unavailable` |
//! | `gateway_webhook_duration_seconds` | (histogram) verify and durably store, to the answer |
//! | `gateway_http_requests_total`, `gateway_http_request_duration_seconds` | `method`, `route` (the template), `status` |
//! | `gateway_events_processed_total` | `result`: `completed`, `failed` |
//! | `gateway_notifications_total` | `result`: `delivered`, `failed`, `gave_up` |
//! | `gateway_recoveries_total`, `gateway_recovered_events_total` | `result`: `ok`, `failed` |
//! | `gateway_alerts_total` | `state`: `firing`, `resolved`; `result`: `sent`, `failed` |
//! | `gateway_internal_errors_total` | requests answered 500: a bug, not an outage |
//! | `gateway_build_info` | `version` |
//! | `process_*` | CPU seconds, resident memory, open files, start time, threads |

use metrics::{counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use std::sync::OnceLock;
use std::time::Duration;

/// Upper bounds of the latency histograms, in seconds: fine below 10 ms, where a
/// delivery's 200 should be.
const BUCKETS: [f64; 17] = [
    0.0005, 0.001, 0.002, 0.003, 0.004, 0.005, 0.0075, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0,
];

/// The outcomes of a webhook delivery, as the `outcome` label says them.
pub const DELIVERY_OUTCOMES: [&str; 7] = [
    "verified",
    "duplicate",
    "verification_failed",
    "no_config",
    "invalid_payload",
    "rate_limited",
    "unavailable",
];

/// The process's one recorder (the facade has one per process).
fn recorder() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let handle = PrometheusBuilder::new()
            .set_buckets(&BUCKETS)
            .expect("the buckets are not empty")
            .install_recorder()
            .expect("the only recorder of the process");
        describe();
        handle
    })
}

/// The help text of every series, and every labelled series at zero, so that a
/// dashboard and a rule see them before anything happened: first those of deliveries
/// and events.
fn describe() {
    describe_counter!(
        "gateway_webhook_deliveries_total",
        "Stripe webhook deliveries by outcome."
    );
    for outcome in DELIVERY_OUTCOMES {
        counter!("gateway_webhook_deliveries_total", "outcome" => outcome).absolute(0);
    }
    describe_histogram!(
        "gateway_webhook_duration_seconds",
        metrics::Unit::Seconds,
        "Time to verify and durably store a delivery."
    );
    describe_histogram!(
        "gateway_inbox_queued_seconds",
        metrics::Unit::Seconds,
        "Time a verified delivery waited for an inbox writer to take it into a group."
    );
    describe_histogram!(
        "gateway_inbox_group_seconds",
        metrics::Unit::Seconds,
        "Time an inbox group spent running its statements (one group at a time) and committing."
    );
    // Registered now, so that their (empty) buckets are written before the first one.
    for name in [
        "gateway_webhook_duration_seconds",
        "gateway_inbox_queued_seconds",
    ] {
        let _ = histogram!(name);
    }
    for phase in ["statements", "commit"] {
        let _ = histogram!("gateway_inbox_group_seconds", "phase" => phase);
    }
    describe_counter!(
        "gateway_inbox_grouped_events_total",
        "Verified deliveries written by the inbox's groups (divided by the groups' count: their mean size)."
    );
    counter!("gateway_inbox_grouped_events_total").absolute(0);
    describe_counter!(
        "gateway_events_processed_total",
        "Stored events applied (completed) or given up (failed)."
    );
    for result in ["completed", "failed"] {
        counter!("gateway_events_processed_total", "result" => result).absolute(0);
    }
    describe_gauge!(
        "gateway_status_watched_orders",
        "Orders that widgets are long-polling on this replica now."
    );
    gauge!("gateway_status_watched_orders").set(0.0);
    describe_around();
}

/// The series of what happens around deliveries: widgets, requests, notifications,
/// recovery, alerts and the build.
fn describe_around() {
    describe_counter!(
        "gateway_status_reads_total",
        "Widget status reads, by where the answer came from."
    );
    for source in ["memory", "database"] {
        counter!("gateway_status_reads_total", "source" => source).absolute(0);
    }
    describe_gauge!(
        "gateway_alert_tenants",
        "Restaurants in the latest evaluation of the alerts, and those of them diagnosed."
    );
    for scope in ["all", "diagnosed"] {
        gauge!("gateway_alert_tenants", "scope" => scope).set(0.0);
    }
    describe_counter!(
        "gateway_internal_errors_total",
        "Requests answered 500: a bug, not an outage (the log says which)."
    );
    counter!("gateway_internal_errors_total").absolute(0);
    describe_counter!(
        "gateway_http_requests_total",
        "HTTP requests answered, by method, route template and status."
    );
    describe_histogram!(
        "gateway_http_request_duration_seconds",
        metrics::Unit::Seconds,
        "Time to answer an HTTP request, by route template (long-polls included)."
    );
    describe_counter!(
        "gateway_notifications_total",
        "Attempts to deliver a notification to a restaurant's backend, by result (gave_up: the last attempt failed)."
    );
    for result in ["delivered", "failed", "gave_up"] {
        counter!("gateway_notifications_total", "result" => result).absolute(0);
    }
    describe_counter!(
        "gateway_recoveries_total",
        "Recoveries of missed events from Stripe's API, by result."
    );
    describe_counter!(
        "gateway_recovered_events_total",
        "Events fetched from Stripe's API that the gateway had never received."
    );
    for result in ["ok", "failed"] {
        counter!("gateway_recoveries_total", "result" => result).absolute(0);
    }
    counter!("gateway_recovered_events_total").absolute(0);
    describe_counter!(
        "gateway_alerts_total",
        "Alerts posted to ALERT_WEBHOOK_URL, by state and result."
    );
    for state in ["firing", "resolved"] {
        for result in ["sent", "failed"] {
            counter!("gateway_alerts_total", "state" => state, "result" => result).absolute(0);
        }
    }
    describe_gauge!(
        "gateway_build_info",
        "Always 1; the gateway's version is its label."
    );
    gauge!("gateway_build_info", "version" => env!("CARGO_PKG_VERSION")).set(1.0);
    process().describe();
}

fn process() -> &'static metrics_process::Collector {
    static PROCESS: OnceLock<metrics_process::Collector> = OnceLock::new();
    PROCESS.get_or_init(metrics_process::Collector::default)
}

/// A request answered 500 because of a bug (not an outage).
pub fn internal_error() {
    counter!("gateway_internal_errors_total").increment(1);
}

/// A notification attempt: `delivered`, `failed` (to be retried) or `gave_up`.
pub fn notification(result: &'static str) {
    counter!("gateway_notifications_total", "result" => result).increment(1);
}

/// A recovery of one tenant: how many events it recovered, or that it failed.
pub fn recovery(result: Result<u64, ()>) {
    match result {
        Ok(recovered) => {
            counter!("gateway_recoveries_total", "result" => "ok").increment(1);
            counter!("gateway_recovered_events_total").increment(recovered);
        }
        Err(()) => counter!("gateway_recoveries_total", "result" => "failed").increment(1),
    }
}

/// An alert posted (`firing` or `resolved`), or not.
pub fn alert(state: &'static str, sent: bool) {
    let result = if sent { "sent" } else { "failed" };
    counter!("gateway_alerts_total", "state" => state, "result" => result).increment(1);
}

/// The gateway's metrics. Cheap to make: every instance writes to the process's one
/// recorder, so that what the workers and the handlers count is rendered together.
pub struct Metrics {
    handle: &'static PrometheusHandle,
}

impl Default for Metrics {
    fn default() -> Self {
        Self { handle: recorder() }
    }
}

impl Metrics {
    /// A webhook delivery, by its outcome (one of `DELIVERY_OUTCOMES`).
    pub fn webhook(&self, outcome: &'static str, elapsed: Duration) {
        counter!("gateway_webhook_deliveries_total", "outcome" => outcome).increment(1);
        histogram!("gateway_webhook_duration_seconds").record(elapsed);
    }

    /// An HTTP request answered.
    pub fn http_request(&self, method: &str, route: &str, status: u16, elapsed: Duration) {
        let labels = [
            ("method", method.to_owned()),
            ("route", route.to_owned()),
            ("status", status.to_string()),
        ];
        counter!("gateway_http_requests_total", &labels).increment(1);
        histogram!("gateway_http_request_duration_seconds", "route" => route.to_owned())
            .record(elapsed);
    }

    /// How long a verified delivery waited for a writer to take it into a group.
    pub fn inbox_queued(&self, waited: Duration) {
        histogram!("gateway_inbox_queued_seconds").record(waited);
    }

    /// One group written by the inbox: its events, how long its statements ran (the
    /// writer holding its turn) and how long its commit took.
    pub fn inbox_group(&self, events: usize, statements: Duration, commit: Duration) {
        counter!("gateway_inbox_grouped_events_total").increment(events as u64);
        histogram!("gateway_inbox_group_seconds", "phase" => "statements").record(statements);
        histogram!("gateway_inbox_group_seconds", "phase" => "commit").record(commit);
    }

    pub fn events_completed(&self, n: usize) {
        counter!("gateway_events_processed_total", "result" => "completed").increment(n as u64);
    }

    pub fn event_failed(&self) {
        counter!("gateway_events_processed_total", "result" => "failed").increment(1);
    }

    /// A widget's status read, answered from memory or from the database.
    pub fn status_read(&self, from_memory: bool) {
        let source = if from_memory { "memory" } else { "database" };
        counter!("gateway_status_reads_total", "source" => source).increment(1);
    }

    /// How many orders widgets are waiting on now (set when scraped).
    pub fn watched_orders(&self, orders: usize) {
        gauge!("gateway_status_watched_orders").set(orders as f64);
    }

    /// The latest evaluation of the alerts: how many tenants, how many diagnosed.
    pub fn alerts_evaluated(&self, tenants: usize, diagnosed: usize) {
        gauge!("gateway_alert_tenants", "scope" => "all").set(tenants as f64);
        gauge!("gateway_alert_tenants", "scope" => "diagnosed").set(diagnosed as f64);
    }

    /// Drains what the histograms hold into their buckets (also done by `render`), so
    /// that memory stays flat when nobody scrapes.
    pub fn upkeep(&self) {
        self.handle.run_upkeep();
    }

    /// The exposition, with the process's figures read now.
    pub fn render(&self) -> String {
        process().collect();
        self.handle.render()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_series_is_there_before_anything_happened() {
        let metrics = Metrics::default();
        let text = metrics.render();
        for outcome in DELIVERY_OUTCOMES {
            assert!(
                text.contains(&format!(
                    "gateway_webhook_deliveries_total{{outcome=\"{outcome}\"}} 0"
                )),
                "{text}"
            );
        }
        assert!(text.contains("# TYPE gateway_webhook_deliveries_total counter"));
        assert!(text.contains("gateway_build_info{version="));
        assert!(text.contains("process_resident_memory_bytes"));
        metrics.webhook("verified", Duration::from_millis(2));
        let text = metrics.render();
        assert!(text.contains("gateway_webhook_deliveries_total{outcome=\"verified\"} 1"));
        assert!(text.contains("gateway_webhook_duration_seconds_bucket{le=\"0.002\"} 1"));
    }
}
