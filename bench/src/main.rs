//! `gateway-bench`: throughput and latency of verified-stored-applied webhooks.
//!
//! Seeds a fresh database with many tenants (each with its own secret) and orders,
//! starts the release `gateway` binary on it, and drives it from this process:
//!
//! 1. throughput: N distinct signed events sent by C concurrent connections; the clock
//!    stops when the last event is COMPLETED in the database (verified, stored, applied);
//! 2. latency: an open-loop load at a fixed rate (500/s by default), reporting p50/p99
//!    of the time to a 200 (verified and durably stored), then waiting until applied.
//!
//! With `--replicas N`, N gateways serve the same database and the requests are spread
//! over them round-robin (as a load balancer would); CPU is the sum of all of them.
//! Resident memory is printed at rest (after start-up) and at its highest under load.

use clap::Parser;
use gateway::orders::store;
use gateway::tenants::audit::Actor;
use gateway::tenants::secrets::{self, WebhookSecret};
use gateway::tenants::{self, TenantSlug};
use gateway::vault::{KeyRing, VaultKey};
use gateway_bench::{
    CpuMeter, ENC_KEY, Scrape, ms, open_seeding_database, percentile, rss_mib, start_gateway,
};
use sea_orm::{ConnectionTrait, DatabaseConnection, Statement, TransactionTrait};
use serde_json::json;
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Parser, Debug)]
#[command(about = "Benchmark the gateway's webhook path")]
struct Args {
    /// Database to run on, empty: the benchmark migrates and seeds it (sqlite://FILE or postgres://…/DBNAME).
    #[arg(long)]
    database_url: String,
    #[arg(long, default_value_t = 50)]
    tenants: usize,
    #[arg(long, default_value_t = 40)]
    orders_per_tenant: usize,
    /// Events in the throughput phase.
    #[arg(long, default_value_t = 20_000)]
    events: usize,
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// Requests per second in the latency phase (0: half the rate the throughput phase
    /// measured).
    #[arg(long, default_value_t = 0)]
    rate: u64,
    /// Seconds of the latency phase.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// The gateway binary (default: target/release/gateway beside this one).
    #[arg(long)]
    gateway: Option<String>,
    /// Gateways on the same database, sharing the load.
    #[arg(long, default_value_t = 1)]
    replicas: usize,
    /// Before measuring, send each tenant one event (reported apart), as a running
    /// gateway has seen its tenants: `--warm false` measures from a cold start.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    warm: bool,
    /// The events' objects: `small` (only the fields the gateway reads, about 500
    /// bytes an event) or `stripe` (Stripe's published example objects with those
    /// fields set, 2–4 KB an event, as Stripe sends them).
    #[arg(long, value_enum, default_value_t = Bodies::Small)]
    bodies: Bodies,
    /// What the events do: `checkout` (the three success events of a Checkout
    /// payment, round-robin over the orders) or `intents` (each event a
    /// `payment_intent.succeeded` of a PaymentIntent of its own, round-robin over the
    /// orders: with as many orders as events each pays a fresh order; with fewer, the
    /// orders collect events ÷ orders PaymentIntents each).
    #[arg(long, value_enum, default_value_t = Traffic::Checkout)]
    traffic: Traffic,
    /// The gateways' `DATABASE_URL` when they go through a pooler (PgBouncer in
    /// transaction mode, in front of `--database-url`, which they then get as
    /// `DATABASE_DIRECT_URL`); its CPU is printed beside theirs.
    #[arg(long)]
    pooled_url: Option<String>,
    /// On PostgreSQL, after the gateway's phases: pgbench doing the same writes one
    /// transaction per event, with as many connections (`bench/src/ceiling.rs`).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    ceiling: bool,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum Traffic {
    Checkout,
    Intents,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum Bodies {
    Small,
    Stripe,
}

/// Stripe's example checkout session, payment intent and charge (from Stripe's
/// published `fixtures3.json`, MIT licence).
fn stripe_object(kind: &str) -> serde_json::Value {
    static OBJECTS: std::sync::OnceLock<serde_json::Value> = std::sync::OnceLock::new();
    OBJECTS.get_or_init(|| {
        serde_json::from_str(include_str!("../fixtures/stripe-objects.json"))
            .expect("bench/fixtures/stripe-objects.json")
    })[kind]
        .clone()
}

/// `fields` set on Stripe's example object of `kind`.
fn stripe_sized(kind: &str, fields: serde_json::Value) -> serde_json::Value {
    let mut object = stripe_object(kind);
    for (key, value) in fields.as_object().expect("an object") {
        object[key] = value.clone();
    }
    object["livemode"] = json!(true);
    object
}

struct Tenant {
    slug: String,
    secret: String,
    orders: Vec<(String, i64)>,
}

fn sign(secret: &str, body: &str) -> String {
    let t = chrono_now();
    gateway::stripe::signature::sign_header(secret.as_bytes(), t, body.as_bytes())
}

fn chrono_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

async fn seed(db: &DatabaseConnection, args: &Args) -> Vec<Tenant> {
    let ring = KeyRing::new(VaultKey::from_hex(ENC_KEY).unwrap(), vec![]);
    let mut out = Vec::new();
    for t in 0..args.tenants {
        let slug = format!("bench-resto-{t:04}");
        let tenant = tenants::create(
            db,
            &TenantSlug::parse(&slug).unwrap(),
            "Bench",
            &Actor::cli(),
        )
        .await
        .unwrap();
        let mut bytes = [0u8; 16];
        rand::fill(&mut bytes);
        let secret = format!("whsec_{}", hex::encode(bytes));
        secrets::set(
            db,
            &ring,
            tenant.id,
            &WebhookSecret::parse(&secret).unwrap(),
            gateway::tenants::api_keys::Mode::Live,
            &Actor::cli(),
        )
        .await
        .unwrap();
        let mut orders = Vec::new();
        let txn = db.begin().await.unwrap();
        for o in 0..args.orders_per_tenant {
            let amount = 1000 + (o as i64 * 37) % 9000;
            let order = store::create(&txn, tenant.id, amount, "eur", None, true, 1)
                .await
                .unwrap();
            orders.push((order.id, amount));
        }
        txn.commit().await.unwrap();
        out.push(Tenant {
            slug,
            secret,
            orders,
        });
    }
    out
}

/// Resident memory of every replica together, sampled every 100 ms until stopped: the
/// highest reading.
struct MemoryPeak {
    stop: Arc<std::sync::atomic::AtomicBool>,
    thread: std::thread::JoinHandle<f64>,
}

impl MemoryPeak {
    fn start(pids: Vec<u32>) -> Self {
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut peak: f64 = 0.0;
            while !flag.load(std::sync::atomic::Ordering::Relaxed) {
                peak = peak.max(pids.iter().map(|p| rss_mib(*p)).sum());
                std::thread::sleep(Duration::from_millis(100));
            }
            peak
        });
        Self { stop, thread }
    }

    fn stop(self) -> f64 {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        self.thread.join().unwrap()
    }
}

/// A distinct, realistic event for the n-th request: the three success events of a
/// Checkout payment, round-robin over tenants and orders.
fn event_for(tenants: &[Tenant], n: usize, run: &str, args: &Args) -> (String, String, String) {
    let tenant = &tenants[n % tenants.len()];
    let (order_id, amount) = &tenant.orders[(n / tenants.len()) % tenant.orders.len()];
    let (pi, step) = match args.traffic {
        Traffic::Checkout => (format!("pi_{run}_{order_id}"), n % 3),
        Traffic::Intents => (format!("pi_{run}_{n}"), 1),
    };
    let (kind, object) = match step {
        0 => (
            "checkout.session",
            json!({"id": format!("cs_{run}_{n}"), "object": "checkout.session", "payment_status": "paid",
                    "status": "complete", "amount_total": amount, "currency": "eur", "mode": "payment",
                    "metadata": {"order_id": order_id}, "client_reference_id": order_id, "payment_intent": pi}),
        ),
        1 => (
            "payment_intent",
            json!({"id": pi, "object": "payment_intent", "status": "succeeded", "amount": amount,
                    "amount_received": amount, "currency": "eur", "metadata": {"order_id": order_id}}),
        ),
        _ => (
            "charge",
            json!({"id": format!("ch_{run}_{n}"), "object": "charge", "status": "succeeded", "paid": true,
                    "amount": amount, "amount_captured": amount, "amount_refunded": 0, "refunded": false,
                    "currency": "eur", "payment_intent": pi, "metadata": {"order_id": order_id}}),
        ),
    };
    let object = match args.bodies {
        Bodies::Small => object,
        Bodies::Stripe => stripe_sized(kind, object),
    };
    let kind = [
        "checkout.session.completed",
        "payment_intent.succeeded",
        "charge.succeeded",
    ][step];
    let body = json!({"id": format!("evt_{run}_{n:08}"), "object": "event", "api_version": "2025-11-17.clover",
                      "created": chrono_now(), "livemode": true, "type": kind, "data": {"object": object}})
    .to_string();
    let header = sign(&tenant.secret, &body);
    (
        format!("/api/v1/webhooks/stripe/{}", tenant.slug),
        header,
        body,
    )
}

/// A tenant's first event: one the gateway stores and does not act on.
fn first_event_for(tenant: &Tenant, n: usize) -> (String, String, String) {
    let body = json!({"id": format!("evt_w_{n:08}"), "object": "event", "api_version": "2025-11-17.clover",
                      "created": chrono_now(), "livemode": true, "type": "customer.created",
                      "data": {"object": {"id": format!("cus_w_{n}"), "object": "customer"}}})
    .to_string();
    let header = sign(&tenant.secret, &body);
    (
        format!("/api/v1/webhooks/stripe/{}", tenant.slug),
        header,
        body,
    )
}

/// Sends every request, `concurrency` at a time, each worker the next one as soon as
/// its last answered: the latencies of the 200s, and how many were not a 200.
async fn closed_loop(
    client: &reqwest::Client,
    bases: &Arc<Vec<String>>,
    requests: Arc<Vec<(String, String, String)>>,
    concurrency: usize,
) -> (Vec<Duration>, usize) {
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut workers = Vec::new();
    for _ in 0..concurrency {
        let (client, bases, requests, next) = (
            client.clone(),
            bases.clone(),
            requests.clone(),
            next.clone(),
        );
        workers.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut errors = 0usize;
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some((path, header, body)) = requests.get(i) else {
                    break;
                };
                let sent = Instant::now();
                let base = &bases[i % bases.len()];
                let response = client
                    .post(format!("{base}{path}"))
                    .header("stripe-signature", header)
                    .header("content-type", "application/json")
                    .body(body.clone())
                    .send()
                    .await;
                match response {
                    Ok(r) if r.status() == 200 => latencies.push(sent.elapsed()),
                    _ => errors += 1,
                }
            }
            (latencies, errors)
        }));
    }
    let mut latencies = Vec::new();
    let mut errors = 0;
    for w in workers {
        let (l, e) = w.await.unwrap();
        latencies.extend(l);
        errors += e;
    }
    (latencies, errors)
}

async fn count(db: &DatabaseConnection, sql: &str) -> i64 {
    let backend = db.get_database_backend();
    let row = db
        .query_one_raw(Statement::from_string(backend, sql.to_string()))
        .await
        .unwrap()
        .unwrap();
    row.try_get_by_index::<i64>(0).unwrap()
}

async fn wait_applied(db: &DatabaseConnection, expected: i64) -> Instant {
    loop {
        let done = count(
            db,
            "SELECT COUNT(*) FROM webhook_event WHERE status <> 'PROCESSING'",
        )
        .await;
        if done >= expected {
            return Instant::now();
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// How long the disk takes to make a small write durable while the benchmark runs: a
/// 200 waits for at least one such fsync, so a stall of the disk is a stall of every
/// webhook, whatever the gateway does. Printed beside the latencies to tell them apart.
struct DiskProbe {
    stop: Arc<std::sync::atomic::AtomicBool>,
    thread: std::thread::JoinHandle<Vec<Duration>>,
}

impl DiskProbe {
    fn start() -> Self {
        use std::io::Write;
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let path =
                std::env::temp_dir().join(format!("gateway-bench-probe-{}", std::process::id()));
            let mut file = std::fs::File::create(&path).expect("create the disk probe file");
            let mut times = Vec::new();
            while !flag.load(std::sync::atomic::Ordering::Relaxed) {
                let started = Instant::now();
                file.write_all(&[0u8; 4096]).unwrap();
                file.sync_data().unwrap();
                times.push(started.elapsed());
                std::thread::sleep(Duration::from_millis(10));
            }
            let _ = std::fs::remove_file(&path);
            times.sort();
            times
        });
        DiskProbe { stop, thread }
    }

    fn stop(self) -> Vec<Duration> {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        self.thread.join().unwrap()
    }
}

/// How long PostgreSQL itself takes to commit one row durably while the benchmark
/// runs: a connection of its own inserts a row every 10 ms, each its own transaction.
/// Every 200 waits for at least one such commit (round trip and WAL flush), so this
/// is the floor under the gateway's latency at that moment, printed beside it.
struct CommitProbe {
    stop: Arc<std::sync::atomic::AtomicBool>,
    task: tokio::task::JoinHandle<Vec<Duration>>,
}

impl CommitProbe {
    async fn start(url: &str) -> Self {
        let db = gateway::db::connect_url(url, 1)
            .await
            .expect("connect the commit probe");
        db.execute_unprepared("CREATE TABLE IF NOT EXISTS bench_commit_probe (n bigint)")
            .await
            .expect("create the commit probe's table");
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = stop.clone();
        let task = tokio::spawn(async move {
            let mut times = Vec::new();
            let mut n = 0i64;
            while !flag.load(std::sync::atomic::Ordering::Relaxed) {
                n += 1;
                let insert = Statement::from_sql_and_values(
                    sea_orm::DbBackend::Postgres,
                    "INSERT INTO bench_commit_probe (n) VALUES ($1)",
                    [n.into()],
                );
                let started = Instant::now();
                db.execute_raw(insert)
                    .await
                    .expect("the commit probe's insert");
                times.push(started.elapsed());
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            times.sort();
            times
        });
        CommitProbe { stop, task }
    }

    async fn stop(self) -> Vec<Duration> {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        self.task.await.unwrap()
    }
}

#[tokio::main]
async fn main() {
    gateway_bench::install_crypto();
    let args = Args::parse();
    let (backend, db) = open_seeding_database(&args.database_url).await;
    let seeded = Instant::now();
    let tenants = seed(&db, &args).await;
    eprintln!(
        "{backend}: seeded {} tenants × {} orders in {:.1} s",
        args.tenants,
        args.orders_per_tenant,
        seeded.elapsed().as_secs_f64()
    );
    let tenants = Arc::new(tenants);
    let mut children = Vec::new();
    let mut bases = Vec::new();
    for _ in 0..args.replicas.max(1) {
        let (child, addr) = match &args.pooled_url {
            None => start_gateway(args.gateway.as_deref(), &args.database_url),
            Some(pooled) => gateway_bench::start_gateway_with(
                args.gateway.as_deref(),
                pooled,
                &[("DATABASE_DIRECT_URL", &args.database_url)],
            ),
        };
        children.push(child);
        bases.push(format!("http://{addr}"));
    }
    let pids: Vec<u32> = children.iter().map(|c| c.id()).collect();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let at_rest: f64 = pids.iter().map(|p| rss_mib(*p)).sum();
    let bases = Arc::new(bases);
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(args.concurrency * 2)
        .build()
        .unwrap();

    // Phase 0: the first event of each tenant (a `customer.created`, stored and
    // ignored), as a gateway that has been running has seen its tenants: it reads each
    // tenant's secret once and warms the connections' statements. Reported apart.
    let warm = if args.warm {
        let requests: Vec<_> = (0..tenants.len())
            .map(|n| first_event_for(&tenants[n], n))
            .collect();
        let started = Instant::now();
        let cpu = CpuMeter::start_all(pids.clone());
        let (_, errors) = closed_loop(&client, &bases, Arc::new(requests), args.concurrency).await;
        wait_applied(&db, tenants.len() as i64).await;
        let (gateway_cpu, database_cpu) = cpu.per_unit(tenants.len());
        println!(
            "== {backend}: first event of each of {} tenants: {:.0} webhooks/s, CPU per webhook gateway {gateway_cpu:.0} µs, database {database_cpu:.0} µs ({errors} errors)",
            tenants.len(),
            tenants.len() as f64 / started.elapsed().as_secs_f64()
        );
        tenants.len()
    } else {
        0
    };

    // Phase 1: throughput.
    let requests: Vec<_> = (0..args.events)
        .map(|n| event_for(&tenants, n, "t", &args))
        .collect();
    let sample_body = requests.first().map(|r| r.2.clone()).unwrap_or_default();
    let body_bytes = requests
        .iter()
        .map(|(_, _, body)| body.len())
        .sum::<usize>()
        / args.events.max(1);
    let throughput_before = Scrape::of(&client, &bases).await;
    let cpu = CpuMeter::start_all(pids.clone());
    let machine = gateway_bench::MachineMeter::start();
    let memory = MemoryPeak::start(pids.clone());
    let started = Instant::now();
    let (mut latencies, errors) =
        closed_loop(&client, &bases, Arc::new(requests), args.concurrency).await;
    let acked = started.elapsed();
    let applied_at = wait_applied(&db, (warm + args.events) as i64).await;
    let applied = applied_at - started;
    let (gateway_cpu, database_cpu) = cpu.per_unit(args.events);
    let pooler_cpu = cpu.pooler_per_unit(args.events);
    let (idle, generator_cpu) = machine.stop(args.events);
    let peak = memory.stop();
    let throughput_after = Scrape::of(&client, &bases).await;
    latencies.sort();
    let completed = count(
        &db,
        "SELECT COUNT(*) FROM webhook_event WHERE status = 'COMPLETED'",
    )
    .await
        - warm as i64;
    let mut replicas = match args.replicas {
        0 | 1 => String::new(),
        n => format!(", {n} replicas"),
    };
    if args.pooled_url.is_some() {
        replicas.push_str(", through PgBouncer");
    }
    println!(
        "== {backend}: throughput ({} {:?} events of {body_bytes} bytes, {} connections, {} tenants × {} orders{replicas})",
        args.events, args.traffic, args.concurrency, args.tenants, args.orders_per_tenant
    );
    println!(
        "  acknowledged (verified + stored): {:>8.0} webhooks/s  ({:.2} s, {errors} errors)",
        args.events as f64 / acked.as_secs_f64(),
        acked.as_secs_f64()
    );
    println!(
        "  verified-stored-applied:          {:>8.0} webhooks/s  ({:.2} s, {completed} COMPLETED)",
        args.events as f64 / applied.as_secs_f64(),
        applied.as_secs_f64()
    );
    let database_cpu = if backend == "PostgreSQL" {
        let pooler = match args.pooled_url {
            Some(_) => format!(", PgBouncer {pooler_cpu:.0} µs"),
            None => String::new(),
        };
        format!(", PostgreSQL {database_cpu:.0} µs{pooler}")
    } else {
        String::new() // SQLite runs inside the gateway: its CPU is the gateway's
    };
    println!("  CPU per webhook (from /proc): gateway {gateway_cpu:.0} µs{database_cpu}");
    println!(
        "  the machine meanwhile: {:.0} % of its CPU idle; the load generator {generator_cpu:.0} µs a webhook",
        idle * 100.0
    );
    println!(
        "  resident memory of the gateway: {at_rest:.1} MiB at rest, {peak:.1} MiB at most under load"
    );
    println!(
        "  latency to 200: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        ms(percentile(&latencies, 0.5)),
        ms(percentile(&latencies, 0.99)),
        ms(percentile(&latencies, 1.0))
    );
    print_inbox_breakdown(&throughput_before, &throughput_after);

    // Phase 2: latency at a fixed rate (open loop: requests leave on schedule).
    let rate = match args.rate {
        0 => ((args.events as f64 / applied.as_secs_f64()) / 2.0).max(1.0) as u64,
        r => r,
    };
    let total = (rate * args.seconds) as usize;
    let requests: Vec<_> = (0..total)
        .map(|n| event_for(&tenants, n, "l", &args))
        .collect();
    let interval = Duration::from_secs_f64(1.0 / rate as f64);
    let before = Scrape::of(&client, &bases).await;
    let probe = DiskProbe::start();
    let commits = match backend {
        "PostgreSQL" => Some(CommitProbe::start(&args.database_url).await),
        _ => None,
    };
    let started = Instant::now();
    let mut handles = Vec::with_capacity(total);
    for (i, (path, header, body)) in requests.into_iter().enumerate() {
        let due = started + interval * i as u32;
        tokio::time::sleep_until(due.into()).await;
        let base = &bases[i % bases.len()];
        let (client, url) = (client.clone(), format!("{base}{path}"));
        handles.push(tokio::spawn(async move {
            let sent = Instant::now();
            let ok = client
                .post(url)
                .header("stripe-signature", header)
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await
                .map(|r| r.status() == 200)
                .unwrap_or(false);
            (sent.elapsed(), ok)
        }));
    }
    let mut latencies = Vec::new();
    let mut errors = 0;
    // When the slow ones (over 10 ms) were sent, in 100 ms windows: a stall shows as one
    // window, a slow machine as many.
    let mut slow: std::collections::BTreeMap<u64, usize> = Default::default();
    for (i, h) in handles.into_iter().enumerate() {
        let (l, ok) = h.await.unwrap();
        if ok {
            latencies.push(l)
        } else {
            errors += 1
        }
        if l > Duration::from_millis(10) {
            *slow
                .entry((interval * i as u32).as_millis() as u64 / 100)
                .or_default() += 1;
        }
    }
    let sent_for = started.elapsed();
    // A delivery answered otherwise than 200 (a 503 while the disk stalled, say) may not
    // be stored: wait for those that were acknowledged (a 503'd one committed later only
    // counts more), and never for ever.
    let acknowledged = warm + args.events + (total - errors);
    if tokio::time::timeout(
        Duration::from_secs(120),
        wait_applied(&db, acknowledged as i64),
    )
    .await
    .is_err()
    {
        println!("  not every acknowledged event was applied within 120 s of the last send");
    }
    let lag = started.elapsed() - sent_for;
    let fsyncs = probe.stop();
    let commits = match commits {
        Some(probe) => Some(probe.stop().await),
        None => None,
    };
    let after = Scrape::of(&client, &bases).await;
    latencies.sort();
    println!(
        "== {backend}: latency at {rate} webhooks/s for {} s ({total} events){}",
        args.seconds,
        if args.rate == 0 {
            ", half the maximum"
        } else {
            ""
        }
    );
    println!(
        "  latency to 200: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms ({errors} errors); all applied {:.0} ms after the last send",
        ms(percentile(&latencies, 0.5)),
        ms(percentile(&latencies, 0.99)),
        ms(percentile(&latencies, 1.0)),
        ms(lag)
    );
    println!(
        "  the disk meanwhile: 4 KiB write + fsync every 10 ms took p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        ms(percentile(&fsyncs, 0.5)),
        ms(percentile(&fsyncs, 0.99)),
        ms(percentile(&fsyncs, 1.0))
    );
    if let Some(commits) = commits {
        println!(
            "  PostgreSQL meanwhile: a one-row commit every 10 ms took p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
            ms(percentile(&commits, 0.5)),
            ms(percentile(&commits, 0.99)),
            ms(percentile(&commits, 1.0))
        );
    }
    print_inbox_breakdown(&before, &after);
    if !slow.is_empty() {
        let windows: Vec<String> = slow
            .iter()
            .map(|(w, n)| format!("{:.1} s: {n}", *w as f64 / 10.0))
            .collect();
        println!(
            "  over 10 ms, by when they were sent: {}",
            windows.join(", ")
        );
    }
    for mut child in children {
        let _ = child.kill();
        let _ = child.wait();
    }
    if backend == "PostgreSQL" && args.ceiling {
        let rate = args.events as f64 / applied.as_secs_f64();
        print_ceiling(&db, &args, rate, &sample_body).await;
    }
}

/// pgbench's one commit per event on the same server, and the gateway's rate beside it.
async fn print_ceiling(db: &DatabaseConnection, args: &Args, gateway_rate: f64, body: &str) {
    let orders = args.tenants * args.orders_per_tenant;
    let ceiling = gateway_bench::ceiling::one_commit_per_event(
        db,
        &args.database_url,
        args.events,
        args.concurrency,
        orders,
        body,
    )
    .await;
    println!(
        "== PostgreSQL: one commit per event (pgbench, {} connections, {} events: the event's row with its {}-byte body, its payment, its order paid)",
        args.concurrency,
        args.events,
        body.len()
    );
    for (protocol, ceiling) in ceiling {
        match ceiling {
            Ok(c) => println!(
                "  {protocol} protocol: {:.0} events/s, CPU per event PostgreSQL {:.0} µs, pgbench {:.0} µs; the gateway's verified-stored-applied rate is {:.2}× that",
                c.rate,
                c.database_us,
                c.client_us,
                gateway_rate / c.rate
            ),
            Err(e) => println!("  {protocol} protocol: not measured: {e}"),
        }
    }
}

/// Where the gateway says a delivery's time went in a phase, from its
/// `/metrics`: the handler's whole time, the wait for an inbox writer, and the groups'
/// statements and commits (p50 and p99 are bucket upper bounds).
fn print_inbox_breakdown(before: &Scrape, after: &Scrape) {
    let line = |label: &str, series: &str| {
        if let Some((n, mean, p50, p99)) = after.since(before, series) {
            println!(
                "    {label}: mean {:.2} ms, p50 ≤ {} ms, p99 ≤ {} ms ({n:.0})",
                ms(mean),
                p50 * 1000.0,
                p99 * 1000.0
            );
        }
    };
    println!("  where the gateway says the time went (its /metrics):");
    line(
        "in the handler, to the 200",
        "gateway_webhook_duration_seconds",
    );
    line(
        "waiting for an inbox writer",
        "gateway_inbox_queued_seconds",
    );
    line(
        "a group's statements",
        "gateway_inbox_group_seconds{phase=\"statements\"}",
    );
    line(
        "a group's commit",
        "gateway_inbox_group_seconds{phase=\"commit\"}",
    );
    let events = after.counter_since(before, "gateway_inbox_grouped_events_total");
    if let Some((groups, ..)) = after.since(before, "gateway_inbox_group_seconds{phase=\"commit\"}")
    {
        println!(
            "    groups: {groups:.0}, {:.1} events each",
            events / groups
        );
    }
}
