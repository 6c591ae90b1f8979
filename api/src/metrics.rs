//! Prometheus metrics, kept in atomics: webhook deliveries by outcome, their latency,
//! where the inbox spends that latency, and the processor's completions and failures.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Upper bounds of the latency histograms, in seconds: fine below 10 ms, where a
/// delivery's 200 should be.
const BUCKETS: [f64; 17] = [
    0.0005, 0.001, 0.002, 0.003, 0.004, 0.005, 0.0075, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0,
];

/// A Prometheus histogram of durations (cumulative buckets, sum, count).
#[derive(Default)]
struct Histogram {
    buckets: [AtomicU64; BUCKETS.len()],
    count: AtomicU64,
    sum_micros: AtomicU64,
}

impl Histogram {
    fn observe(&self, elapsed: Duration) {
        let secs = elapsed.as_secs_f64();
        for (bucket, bound) in self.buckets.iter().zip(BUCKETS) {
            if secs <= bound {
                bucket.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_micros
            .fetch_add(elapsed.as_micros() as u64, Ordering::Relaxed);
    }

    /// The series of `name`, with `labels` (`key="value"`, or empty) on each line.
    fn render(&self, out: &mut String, name: &str, labels: &str) {
        let sep = if labels.is_empty() { "" } else { "," };
        for (bucket, bound) in self.buckets.iter().zip(BUCKETS) {
            let n = bucket.load(Ordering::Relaxed);
            let _ = writeln!(out, "{name}_bucket{{{labels}{sep}le=\"{bound}\"}} {n}");
        }
        let count = self.count.load(Ordering::Relaxed);
        let _ = writeln!(out, "{name}_bucket{{{labels}{sep}le=\"+Inf\"}} {count}");
        let sum = self.sum_micros.load(Ordering::Relaxed) as f64 / 1e6;
        let braces = |s: &str| match s {
            "" => String::new(),
            s => format!("{{{s}}}"),
        };
        let _ = writeln!(out, "{name}_sum{} {sum}", braces(labels));
        let _ = writeln!(out, "{name}_count{} {count}", braces(labels));
    }
}

/// Requests answered 500 because of a bug (not an outage), for the whole process:
/// counted where the answer is made, which knows no `Metrics`.
pub static INTERNAL_ERRORS: AtomicU64 = AtomicU64::new(0);

#[derive(Default)]
pub struct Metrics {
    by_outcome: Mutex<BTreeMap<&'static str, u64>>,
    latency: Histogram,
    inbox_queued: Histogram,
    group_statements: Histogram,
    group_commit: Histogram,
    grouped_events: AtomicU64,
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
        self.latency.observe(elapsed);
    }

    /// How long a verified delivery waited for a writer to take it into a group.
    pub fn inbox_queued(&self, waited: Duration) {
        self.inbox_queued.observe(waited);
    }

    /// One group written by the inbox: its events, how long its statements ran (the
    /// writer holding its turn) and how long its commit took.
    pub fn inbox_group(&self, events: usize, statements: Duration, commit: Duration) {
        self.grouped_events
            .fetch_add(events as u64, Ordering::Relaxed);
        self.group_statements.observe(statements);
        self.group_commit.observe(commit);
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
        out.push_str("# HELP gateway_internal_errors_total Requests answered 500: a bug, not an outage (the log says which).\n");
        out.push_str("# TYPE gateway_internal_errors_total counter\n");
        let _ = writeln!(
            out,
            "gateway_internal_errors_total {}",
            INTERNAL_ERRORS.load(Ordering::Relaxed)
        );
        out.push_str("# HELP gateway_webhook_duration_seconds Time to verify and durably store a delivery.\n");
        out.push_str("# TYPE gateway_webhook_duration_seconds histogram\n");
        self.latency
            .render(&mut out, "gateway_webhook_duration_seconds", "");
        out.push_str("# HELP gateway_inbox_queued_seconds Time a verified delivery waited for an inbox writer to take it into a group.\n");
        out.push_str("# TYPE gateway_inbox_queued_seconds histogram\n");
        self.inbox_queued
            .render(&mut out, "gateway_inbox_queued_seconds", "");
        out.push_str("# HELP gateway_inbox_group_seconds Time an inbox group spent running its statements (one group at a time) and committing.\n");
        out.push_str("# TYPE gateway_inbox_group_seconds histogram\n");
        self.group_statements.render(
            &mut out,
            "gateway_inbox_group_seconds",
            "phase=\"statements\"",
        );
        self.group_commit
            .render(&mut out, "gateway_inbox_group_seconds", "phase=\"commit\"");
        out.push_str("# HELP gateway_inbox_grouped_events_total Verified deliveries written by the inbox's groups (divided by the groups' count: their mean size).\n");
        out.push_str("# TYPE gateway_inbox_grouped_events_total counter\n");
        let _ = writeln!(
            out,
            "gateway_inbox_grouped_events_total {}",
            self.grouped_events.load(Ordering::Relaxed)
        );
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
