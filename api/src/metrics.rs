//! Prometheus metrics, kept in atomics: webhook deliveries by outcome, their latency,
//! and the processor's completions and failures.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Upper bounds of the latency histogram, in seconds.
const BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

#[derive(Default)]
pub struct Metrics {
    by_outcome: Mutex<BTreeMap<&'static str, u64>>,
    latency_buckets: [AtomicU64; BUCKETS.len()],
    latency_count: AtomicU64,
    latency_sum_micros: AtomicU64,
    completed: AtomicU64,
    failed: AtomicU64,
    status_from_memory: AtomicU64,
    status_from_database: AtomicU64,
    alert_tenants: AtomicU64,
    alert_tenants_diagnosed: AtomicU64,
}

impl Metrics {
    pub fn webhook(&self, outcome: &'static str, elapsed: Duration) {
        *self
            .by_outcome
            .lock()
            .expect("metrics lock")
            .entry(outcome)
            .or_default() += 1;
        let secs = elapsed.as_secs_f64();
        for (i, bound) in BUCKETS.iter().enumerate() {
            if secs <= *bound {
                self.latency_buckets[i].fetch_add(1, Ordering::Relaxed);
            }
        }
        self.latency_count.fetch_add(1, Ordering::Relaxed);
        self.latency_sum_micros
            .fetch_add(elapsed.as_micros() as u64, Ordering::Relaxed);
    }

    pub fn events_completed(&self, n: usize) {
        self.completed.fetch_add(n as u64, Ordering::Relaxed);
    }

    /// A widget's status read, answered from memory or from the database.
    pub fn status_read(&self, from_memory: bool) {
        match from_memory {
            true => &self.status_from_memory,
            false => &self.status_from_database,
        }
        .fetch_add(1, Ordering::Relaxed);
    }

    /// The latest evaluation of the alerts: how many tenants, how many diagnosed.
    pub fn alerts_evaluated(&self, tenants: usize, diagnosed: usize) {
        self.alert_tenants.store(tenants as u64, Ordering::Relaxed);
        self.alert_tenants_diagnosed
            .store(diagnosed as u64, Ordering::Relaxed);
    }

    pub fn event_failed(&self) {
        self.failed.fetch_add(1, Ordering::Relaxed);
    }

    pub fn render(&self) -> String {
        let mut out = String::new();
        out.push_str("# HELP gateway_webhooks_total Stripe webhook deliveries by outcome.\n");
        out.push_str("# TYPE gateway_webhooks_total counter\n");
        for (outcome, n) in self.by_outcome.lock().expect("metrics lock").iter() {
            let _ = writeln!(out, "gateway_webhooks_total{{status=\"{outcome}\"}} {n}");
        }
        out.push_str("# HELP gateway_webhook_duration_seconds Time to verify and durably store a delivery.\n");
        out.push_str("# TYPE gateway_webhook_duration_seconds histogram\n");
        for (i, bound) in BUCKETS.iter().enumerate() {
            let n = self.latency_buckets[i].load(Ordering::Relaxed);
            let _ = writeln!(
                out,
                "gateway_webhook_duration_seconds_bucket{{le=\"{bound}\"}} {n}"
            );
        }
        let count = self.latency_count.load(Ordering::Relaxed);
        let _ = writeln!(
            out,
            "gateway_webhook_duration_seconds_bucket{{le=\"+Inf\"}} {count}"
        );
        let sum = self.latency_sum_micros.load(Ordering::Relaxed) as f64 / 1e6;
        let _ = writeln!(out, "gateway_webhook_duration_seconds_sum {sum}");
        let _ = writeln!(out, "gateway_webhook_duration_seconds_count {count}");
        out.push_str("# HELP gateway_events_processed_total Stored events applied (COMPLETED) or given up (FAILED).\n");
        out.push_str("# TYPE gateway_events_processed_total counter\n");
        let _ = writeln!(
            out,
            "gateway_events_processed_total{{status=\"COMPLETED\"}} {}",
            self.completed.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            out,
            "gateway_events_processed_total{{status=\"FAILED\"}} {}",
            self.failed.load(Ordering::Relaxed)
        );
        out.push_str("# HELP gateway_status_reads_total Widget status reads, by where the answer came from.\n");
        out.push_str("# TYPE gateway_status_reads_total counter\n");
        let _ = writeln!(
            out,
            "gateway_status_reads_total{{source=\"memory\"}} {}",
            self.status_from_memory.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            out,
            "gateway_status_reads_total{{source=\"database\"}} {}",
            self.status_from_database.load(Ordering::Relaxed)
        );
        out.push_str("# HELP gateway_alert_tenants Restaurants in the latest evaluation of the alerts, and those of them diagnosed (the others cannot have an error finding).\n");
        out.push_str("# TYPE gateway_alert_tenants gauge\n");
        let _ = writeln!(
            out,
            "gateway_alert_tenants{{scope=\"all\"}} {}",
            self.alert_tenants.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            out,
            "gateway_alert_tenants{{scope=\"diagnosed\"}} {}",
            self.alert_tenants_diagnosed.load(Ordering::Relaxed)
        );
        out
    }
}
