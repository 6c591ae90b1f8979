//! The one-commit-per-event ceiling: pgbench doing a webhook receiver's writes for each
//! event in a transaction of its own (the event's row with its body, a payment, the
//! order marked paid), on the same PostgreSQL server and with as many connections as
//! the gateway's run. What a receiver that commits every event alone reaches at best,
//! before any HTTP, signature or JSON work: the gateway is measured against it.

use sea_orm::{ConnectionTrait, DatabaseConnection};
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

/// What pgbench reached.
///
/// Measured with each of pgbench's query protocols: `simple` (its default: each
/// statement sent as text, parsed and planned every time) and `prepared` (parsed once
/// per connection, as the gateway's statements are).
pub struct Ceiling {
    /// Events (transactions) per second, as pgbench reports them.
    pub rate: f64,
    /// PostgreSQL's CPU per event, µs (its backends and those that ended meanwhile).
    pub database_us: f64,
    /// pgbench's own CPU per event, µs.
    pub client_us: f64,
}

/// pgbench on `PATH`, else the newest of Debian's `/usr/lib/postgresql/*/bin`.
fn pgbench() -> Option<PathBuf> {
    let on_path = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|dir| dir.join("pgbench"))
            .find(|p| p.is_file())
    });
    on_path.or_else(|| {
        let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
            .ok()?
            .filter_map(Result::ok)
            .map(|e| e.path().join("bin/pgbench"))
            .filter(|p| p.is_file())
            .collect();
        found.sort();
        found.pop()
    })
}

/// Runs pgbench with `connections` clients for `events` transactions, each writing an
/// event with `payload` as its body, a payment and a fresh order's status (round robin
/// over `orders` orders of 20 restaurants), in tables of a schema of its own in the
/// database `url` names: once with each query protocol, on fresh tables. An `Err` says
/// why that one could not run (no pgbench, a failed run).
pub async fn one_commit_per_event(
    db: &DatabaseConnection,
    url: &str,
    events: usize,
    connections: usize,
    orders: usize,
    payload: &str,
) -> Vec<(&'static str, Result<Ceiling, String>)> {
    let mut out = Vec::new();
    for protocol in ["simple", "prepared"] {
        let ceiling = run(db, url, protocol, events, connections, orders, payload).await;
        out.push((protocol, ceiling));
    }
    out
}

async fn run(
    db: &DatabaseConnection,
    url: &str,
    protocol: &str,
    events: usize,
    connections: usize,
    orders: usize,
    payload: &str,
) -> Result<Ceiling, String> {
    let pgbench = pgbench().ok_or("pgbench not found (Debian's postgresql package has it)")?;
    for sql in [
        "DROP SCHEMA IF EXISTS ceiling CASCADE".to_string(),
        "CREATE SCHEMA ceiling".to_string(),
        "CREATE SEQUENCE ceiling.n".to_string(),
        "CREATE TABLE ceiling.orders (id bigint PRIMARY KEY, tenant_id bigint NOT NULL, \
           amount bigint NOT NULL, status text NOT NULL, payment_intent_id text, \
           updated_at bigint NOT NULL)"
            .to_string(),
        format!(
            "INSERT INTO ceiling.orders SELECT n, 1 + n % 20, 2599, 'PAYMENT_PENDING', NULL, 0 \
             FROM generate_series(1, {orders}) n"
        ),
        "CREATE TABLE ceiling.events (id bigserial PRIMARY KEY, tenant_id bigint NOT NULL, \
           event_id text NOT NULL, payload text NOT NULL, status text NOT NULL, \
           received_at bigint NOT NULL, UNIQUE (event_id, tenant_id))"
            .to_string(),
        "CREATE TABLE ceiling.payments (id bigserial PRIMARY KEY, tenant_id bigint NOT NULL, \
           payment_key text NOT NULL, order_id bigint, amount bigint NOT NULL, \
           status text NOT NULL, UNIQUE (tenant_id, payment_key))"
            .to_string(),
        "CREATE INDEX ON ceiling.payments (order_id)".to_string(),
        // The body, once: in the script it would be read for pgbench's `:variables`.
        "CREATE TABLE ceiling.body (body text NOT NULL)".to_string(),
        format!(
            "INSERT INTO ceiling.body VALUES ('{}')",
            payload.replace('\'', "''")
        ),
        "VACUUM ANALYZE ceiling.orders".to_string(),
    ] {
        db.execute_unprepared(&sql)
            .await
            .map_err(|e| format!("setting up the ceiling's tables: {e}"))?;
    }
    let script = std::env::temp_dir().join(format!("ceiling-{}.sql", std::process::id()));
    let sql = format!(
        "BEGIN;\n\
         INSERT INTO ceiling.events (tenant_id, event_id, payload, status, received_at) \
         SELECT 1 + :client_id % 20, 'evt_' || nextval('ceiling.n'), body, 'COMPLETED', 0 \
         FROM ceiling.body RETURNING id \\gset\n\
         INSERT INTO ceiling.payments (tenant_id, payment_key, order_id, amount, status) \
         VALUES (1 + :id % 20, 'pi_' || :id, (:id - 1) % {orders} + 1, 2599, 'succeeded');\n\
         UPDATE ceiling.orders SET status = 'PAID', payment_intent_id = 'pi_' || :id, \
         updated_at = :id WHERE id = (:id - 1) % {orders} + 1;\n\
         COMMIT;\n"
    );
    std::fs::write(&script, sql).map_err(|e| format!("writing the pgbench script: {e}"))?;
    let per_client = events.div_ceil(connections.max(1));
    let database_before = crate::postgres_cpu();
    let client_before = crate::children_cpu();
    let output = Command::new(&pgbench)
        .args([
            "-n",
            "-M",
            protocol,
            "-j",
            "2",
            "-c",
            &connections.to_string(),
        ])
        .args(["-t", &per_client.to_string(), "-f"])
        .arg(&script)
        .arg(url)
        .output()
        .map_err(|e| format!("starting {}: {e}", pgbench.display()));
    let _ = std::fs::remove_file(&script);
    let output = output?;
    let database = crate::postgres_cpu().saturating_sub(database_before);
    let client = crate::children_cpu().saturating_sub(client_before);
    let stdout = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        return Err(format!("pgbench failed: {}", stderr.trim()));
    }
    let rate = stdout
        .lines()
        .find_map(|l| l.strip_prefix("tps = "))
        .and_then(|l| l.split_whitespace().next()?.parse::<f64>().ok())
        .ok_or_else(|| format!("no rate in pgbench's output: {stdout}"))?;
    let done = (per_client * connections.max(1)) as f64;
    let per = |d: Duration| d.as_secs_f64() * 1e6 / done;
    Ok(Ceiling {
        rate,
        database_us: per(database),
        client_us: per(client),
    })
}
