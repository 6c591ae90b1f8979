//! `gateway-bench-log`: the admin event log and health at a million rows.
//!
//! Seeds a fresh database with `--rows` webhook events spread over 30 days (90% for
//! one restaurant, 10% for another, so that every query must be scoped; mostly
//! COMPLETED, with about 1% FAILED, 1% VERIFICATION_FAILED, 0.5% NO_CONFIG and a few
//! still PROCESSING), starts the release gateway on it and times, through HTTP as the
//! panel calls them, each query of the event log and the health page: p50/p99 over
//! `--repeat` calls each, paced under the default admin rate limit.

use clap::Parser;
use gateway::tenants::audit::Actor;
use gateway::tenants::{self, TenantSlug};
use gateway_bench::{ms, open_database, percentile, start_gateway};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, Statement};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

#[derive(Parser, Debug)]
#[command(about = "Benchmark the admin event log at a million rows")]
struct Args {
    /// Database to run on, empty: the benchmark migrates and seeds it (sqlite://FILE or postgres://…/DBNAME).
    #[arg(long)]
    database_url: String,
    /// Webhook events to seed.
    #[arg(long, default_value_t = 1_000_000)]
    rows: u64,
    /// Calls of each query.
    #[arg(long, default_value_t = 40)]
    repeat: usize,
    /// The gateway binary (default: target/release/gateway beside this one).
    #[arg(long)]
    gateway: Option<String>,
}

const TYPES: [&str; 8] = [
    "checkout.session.completed",
    "payment_intent.succeeded",
    "charge.succeeded",
    "payment_intent.created",
    "charge.refunded",
    "payment_intent.payment_failed",
    "checkout.session.expired",
    "customer.created",
];

/// One INSERT … SELECT over a generated series `g` = 1..=rows, in either dialect.
fn seed_sql(backend: DbBackend, rows: u64, big: i64, other: i64, now: i64) -> String {
    let span: i64 = 30 * 24 * 3600 * 1000;
    let step = (span / rows as i64).max(1);
    let kind = TYPES
        .iter()
        .enumerate()
        .map(|(i, t)| format!("WHEN {i} THEN '{t}'"))
        .collect::<Vec<_>>()
        .join(" ");
    // m: which kind of delivery this row is; 997 is prime, so it does not follow the tenant split.
    let status = "CASE WHEN m < 10 THEN 'FAILED' WHEN m < 20 THEN 'VERIFICATION_FAILED' \
                  WHEN m < 25 THEN 'NO_CONFIG' WHEN g > n - 20 THEN 'PROCESSING' ELSE 'COMPLETED' END";
    let verified = "(m < 10 OR m >= 25)";
    let series = match backend {
        DbBackend::Postgres => format!(
            "SELECT g, g % 997 AS m, CAST({rows} AS BIGINT) AS n FROM generate_series(CAST(1 AS BIGINT), {rows}) AS g"
        ),
        _ => format!(
            "WITH RECURSIVE s(g) AS (SELECT 1 UNION ALL SELECT g + 1 FROM s WHERE g < {rows}) \
             SELECT g, g % 997 AS m, {rows} AS n FROM s"
        ),
    };
    format!(
        "INSERT INTO webhook_event (tenant_id, tenant_slug, stripe_event_id, dedup_key, event_type, \
           status, outcome, error, attempts, payload, order_id, received_at, processed_at, next_attempt_at) \
         SELECT CASE WHEN g % 10 = 0 THEN {other} ELSE {big} END, \
           CASE WHEN g % 10 = 0 THEN 'log-other' ELSE 'log-big' END, \
           CASE WHEN {verified} THEN 'evt_bench' || g END, \
           CASE WHEN {verified} THEN 'evt_bench' || g END, \
           CASE WHEN {verified} THEN CASE g % 8 {kind} END END, \
           {status}, \
           CASE WHEN m >= 25 AND g <= n - 20 THEN 'applied' END, \
           CASE WHEN m < 10 THEN 'order ord_' || g || ': database is locked (attempt 5 of 5)' \
                WHEN m < 20 THEN 'no matching signature for the active secrets' \
                WHEN m < 25 THEN 'the restaurant has no active Stripe config' END, \
           CASE WHEN m < 10 THEN 5 WHEN m < 25 THEN 0 ELSE 1 END, \
           CASE WHEN {verified} THEN '{{\"id\":\"evt_bench' || g || '\",\"object\":\"event\",\"api_version\":\"2025-11-17.clover\",\"livemode\":false,\"data\":{{\"object\":{{\"id\":\"pi_bench' || g || '\",\"object\":\"payment_intent\",\"amount\":2599,\"amount_received\":2599,\"currency\":\"eur\",\"status\":\"succeeded\",\"metadata\":{{\"order_id\":\"ord_' || g || '\"}}}}}}}}' END, \
           'ord_' || g, \
           {now} - (n - g) * {step}, \
           CASE WHEN m >= 10 AND g <= n - 20 THEN {now} - (n - g) * {step} + 3 END, \
           CASE WHEN g > n - 20 AND m >= 25 THEN {now} + 600000 END \
         FROM ({series}) AS q"
    )
}

async fn exec(db: &DatabaseConnection, sql: &str) {
    let backend = db.get_database_backend();
    db.execute_raw(Statement::from_string(backend, sql.to_string()))
        .await
        .unwrap_or_else(|e| panic!("{e}: {sql}"));
}

async fn seed(db: &DatabaseConnection, rows: u64) -> (i64, i64) {
    let big = tenants::create(
        db,
        &TenantSlug::parse("log-big").unwrap(),
        "Busy",
        &Actor::cli(),
    )
    .await
    .unwrap()
    .id;
    let other = tenants::create(
        db,
        &TenantSlug::parse("log-other").unwrap(),
        "Other",
        &Actor::cli(),
    )
    .await
    .unwrap()
    .id;
    gateway::tenants::admins::create(
        db,
        "bench@example.com",
        "bench-password-123",
        "platform_admin",
        None,
        &Actor::cli(),
    )
    .await
    .unwrap();
    let now = gateway::clock::now_ms();
    let backend = db.get_database_backend();
    exec(db, &seed_sql(backend, rows, big, other, now)).await;
    // What autovacuum / `PRAGMA optimize` would have done by the time a table is this big.
    match backend {
        DbBackend::Postgres => exec(db, "VACUUM ANALYZE webhook_event").await,
        _ => exec(db, "ANALYZE").await,
    }
    (big, other)
}

#[tokio::main]
async fn main() {
    gateway_bench::install_crypto();
    let args = Args::parse();
    let (backend, db) = open_database(&args.database_url, 2).await;
    let seeded = Instant::now();
    seed(&db, args.rows).await;
    eprintln!(
        "{backend}: seeded {} webhook events in {:.1} s",
        args.rows,
        seeded.elapsed().as_secs_f64()
    );
    let (mut child, addr) = start_gateway(args.gateway.as_deref(), &args.database_url);
    let base = format!("http://{addr}");
    let client = reqwest::Client::new();
    let login: Value = client
        .post(format!("{base}/api/v1/admin/login"))
        .json(&json!({"email": "bench@example.com", "password": "bench-password-123"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = login["token"].as_str().expect("login").to_string();
    let get = |path: String| {
        let (client, token, url) = (client.clone(), token.clone(), format!("{base}{path}"));
        async move {
            let started = Instant::now();
            let response = client.get(url).bearer_auth(token).send().await.unwrap();
            let status = response.status();
            let body: Value = response.json().await.unwrap_or(Value::Null);
            assert!(status.is_success(), "{status}: {body}");
            (started.elapsed(), body)
        }
    };

    let events = "/api/v1/admin/tenants/log-big/webhook-events";
    // A cursor half-way down, as after many "load more" clicks.
    let first = get(format!("{events}?limit=1")).await.1;
    let newest: i64 = first["items"][0]["id"].as_i64().unwrap();
    let middle = newest / 2;
    let some_failed = get(format!("{events}?status=FAILED&limit=1")).await.1["items"][0]["id"]
        .as_i64()
        .unwrap();
    let calls: [(&str, String); 10] = [
        ("first page (50)", events.to_string()),
        (
            "page half-way down (cursor)",
            format!("{events}?cursor={middle}"),
        ),
        ("status=FAILED (1%)", format!("{events}?status=FAILED")),
        (
            "status=FAILED, half-way down",
            format!("{events}?status=FAILED&cursor={middle}"),
        ),
        (
            "type=charge.refunded",
            format!("{events}?type=charge.refunded"),
        ),
        (
            "status=FAILED & type=charge.refunded",
            format!("{events}?status=FAILED&type=charge.refunded"),
        ),
        (
            "status=PROCESSING (20 rows)",
            format!("{events}?status=PROCESSING"),
        ),
        (
            "status=NO_CONFIG, 200 per page",
            format!("{events}?status=NO_CONFIG&limit=200"),
        ),
        (
            "one event with its payload",
            format!("{events}/{some_failed}"),
        ),
        (
            "health (24 h counts, chart)",
            "/api/v1/admin/tenants/log-big/health".to_string(),
        ),
    ];
    println!(
        "== {backend}: admin event log, {} rows (90% one restaurant), {} calls each, over HTTP",
        args.rows, args.repeat
    );
    // The default admin limit is 50/s with a burst of 200 per caller: stay under it.
    let pace = Duration::from_millis(25);
    for (name, path) in &calls {
        let mut times = Vec::with_capacity(args.repeat);
        let mut items = 0;
        for _ in 0..args.repeat {
            let (elapsed, body) = get(path.clone()).await;
            items = body["items"].as_array().map_or(1, Vec::len);
            times.push(elapsed);
            tokio::time::sleep(pace.saturating_sub(elapsed)).await;
        }
        times.sort();
        println!(
            "  {:<38} p50 {:>7.2} ms  p99 {:>7.2} ms  ({items} items)",
            name,
            ms(percentile(&times, 0.5)),
            ms(percentile(&times, 0.99)),
        );
    }
    let _ = child.kill();
    let _ = child.wait();
}
