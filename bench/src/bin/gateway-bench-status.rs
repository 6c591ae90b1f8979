//! Widget status reads: how many `GET /api/v1/orders/{id}/status` one gateway answers
//! per second, their latency, the CPU each costs, and (on PostgreSQL) how many
//! database transactions they caused — none per read while the orders do not change.
//!
//! The load comes from this process over plain keep-alive HTTP/1.1 connections (a
//! few lines of client, so that the load generator leaves the two cores to the
//! gateway), in two rounds: widgets without an ETag (200 with the body) and widgets
//! polling with `If-None-Match` (304). The widget rate limit is per client address;
//! here every widget shares 127.0.0.1, so it is raised for the run.

use clap::Parser;
use gateway::orders::store;
use gateway::tenants::audit::Actor;
use gateway::tenants::{self, TenantSlug};
use gateway_bench::{CpuMeter, ms, open_database, percentile, start_gateway_with};
use sea_orm::{ConnectionTrait, DatabaseConnection, Statement};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

#[derive(Parser)]
#[command(about = "Benchmark widget status reads")]
struct Args {
    #[arg(long)]
    database_url: String,
    /// Orders polled (round-robin).
    #[arg(long, default_value_t = 1_000)]
    orders: usize,
    /// Concurrent keep-alive connections.
    #[arg(long, default_value_t = 32)]
    connections: usize,
    /// Seconds of each round.
    #[arg(long, default_value_t = 8)]
    seconds: u64,
    /// The gateway binary (default: the one beside this benchmark).
    #[arg(long)]
    gateway: Option<String>,
}

/// Sends one request and reads its whole answer; the status code.
async fn exchange(stream: &mut TcpStream, request: &[u8], buf: &mut Vec<u8>) -> Option<u16> {
    stream.write_all(request).await.ok()?;
    buf.clear();
    loop {
        let mut chunk = [0u8; 4096];
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
        let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
            continue;
        };
        let head = std::str::from_utf8(&buf[..end]).ok()?;
        let code: u16 = head.get(9..12)?.parse().ok()?;
        let length: usize = head
            .lines()
            .find_map(|l| {
                let (name, value) = l.split_once(':')?;
                name.eq_ignore_ascii_case("content-length")
                    .then(|| value.trim().parse().ok())?
            })
            .unwrap_or(0);
        while buf.len() < end + 4 + length {
            let n = stream.read(&mut chunk).await.ok()?;
            if n == 0 {
                return None;
            }
            buf.extend_from_slice(&chunk[..n]);
        }
        return Some(code);
    }
}

fn etag_of(answer: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(answer).ok()?;
    text.lines().find_map(|l| {
        let (name, value) = l.split_once(':')?;
        name.eq_ignore_ascii_case("etag")
            .then(|| value.trim().to_string())
    })
}

async fn transactions(db: &DatabaseConnection) -> Option<i64> {
    if db.get_database_backend() != sea_orm::DbBackend::Postgres {
        return None;
    }
    // Statistics are flushed by each backend at most once a second.
    let row = db
        .query_one_raw(Statement::from_string(
            sea_orm::DbBackend::Postgres,
            "SELECT (xact_commit + xact_rollback)::bigint FROM pg_stat_database WHERE datname = current_database()",
        ))
        .await
        .ok()??;
    row.try_get_by_index::<i64>(0).ok()
}

struct Round {
    reads: usize,
    errors: usize,
    latencies: Vec<Duration>,
    elapsed: Duration,
}

async fn round(
    addr: &str,
    requests: Arc<Vec<Vec<u8>>>,
    connections: usize,
    seconds: u64,
    expect: u16,
) -> Round {
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..connections {
        let (addr, requests, stop) = (addr.to_string(), requests.clone(), stop.clone());
        tasks.push(tokio::spawn(async move {
            let mut stream = TcpStream::connect(&addr).await.expect("connect");
            stream.set_nodelay(true).unwrap();
            let mut buf = Vec::with_capacity(1024);
            let (mut latencies, mut errors) = (Vec::new(), 0usize);
            let mut i = c;
            while !stop.load(Ordering::Relaxed) {
                let sent = Instant::now();
                match exchange(&mut stream, &requests[i % requests.len()], &mut buf).await {
                    Some(code) if code == expect => latencies.push(sent.elapsed()),
                    Some(_) => errors += 1,
                    None => {
                        errors += 1;
                        stream = TcpStream::connect(&addr).await.expect("reconnect");
                    }
                }
                i += connections;
            }
            (latencies, errors)
        }));
    }
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    stop.store(true, Ordering::Relaxed);
    let mut out = Round {
        reads: 0,
        errors: 0,
        latencies: Vec::new(),
        elapsed: Duration::ZERO,
    };
    for t in tasks {
        let (l, e) = t.await.unwrap();
        out.latencies.extend(l);
        out.errors += e;
    }
    out.elapsed = started.elapsed();
    out.reads = out.latencies.len();
    out.latencies.sort();
    out
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    gateway_bench::install_crypto();
    let args = Args::parse();
    let (backend, db) = open_database(&args.database_url, 2).await;
    let tenant = tenants::create(
        &db,
        &TenantSlug::parse("status-bench").unwrap(),
        "Status",
        &Actor::cli(),
    )
    .await
    .unwrap();
    let mut orders = Vec::new();
    for _ in 0..args.orders {
        orders.push(
            store::create(&db, tenant.id, 2599, "eur", None, true, 1)
                .await
                .unwrap()
                .id,
        );
    }
    let (mut child, addr) = start_gateway_with(
        args.gateway.as_deref(),
        &args.database_url,
        &[
            ("RATE_LIMIT_STATUS_PER_SEC", "10000000"),
            ("RATE_LIMIT_STATUS_BURST", "10000000"),
        ],
    );
    let plain: Vec<Vec<u8>> = orders
        .iter()
        .map(|id| {
            format!("GET /api/v1/orders/{id}/status HTTP/1.1\r\nHost: {addr}\r\n\r\n").into_bytes()
        })
        .collect();
    // Each order's ETag, as a widget holds it after its first answer.
    let mut polling = Vec::new();
    {
        let mut stream = TcpStream::connect(&addr).await.unwrap();
        let mut buf = Vec::new();
        for (id, request) in orders.iter().zip(&plain) {
            assert_eq!(exchange(&mut stream, request, &mut buf).await, Some(200));
            let etag = etag_of(&buf).expect("an ETag");
            polling.push(
                format!(
                    "GET /api/v1/orders/{id}/status HTTP/1.1\r\nHost: {addr}\r\nIf-None-Match: {etag}\r\n\r\n"
                )
                .into_bytes(),
            );
        }
    }
    println!(
        "== {backend}: widget status reads ({} orders, {} connections, {} s a round)",
        args.orders, args.connections, args.seconds
    );
    for (name, requests, expect) in [
        ("200 with the status (no ETag)", plain, 200),
        ("304 (If-None-Match, unchanged)", polling, 304),
    ] {
        let before = transactions(&db).await;
        let cpu = CpuMeter::start(child.id());
        let r = round(
            &addr,
            Arc::new(requests),
            args.connections,
            args.seconds,
            expect,
        )
        .await;
        let (gateway_cpu, database_cpu) = cpu.per_unit(r.reads);
        tokio::time::sleep(Duration::from_millis(1100)).await;
        let queries = match (before, transactions(&db).await) {
            (Some(a), Some(b)) => format!(
                ", {} database transactions in the round ({:.4} a read)",
                b - a,
                (b - a) as f64 / r.reads.max(1) as f64
            ),
            _ => String::new(),
        };
        println!(
            "  {name}: {:>7.0} reads/s, p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms ({} errors)",
            r.reads as f64 / r.elapsed.as_secs_f64(),
            ms(percentile(&r.latencies, 0.5)),
            ms(percentile(&r.latencies, 0.99)),
            ms(percentile(&r.latencies, 1.0)),
            r.errors
        );
        let database_cpu = if backend == "PostgreSQL" {
            format!(", PostgreSQL {database_cpu:.1} µs")
        } else {
            String::new()
        };
        println!(
            "    CPU per read (from /proc): gateway {gateway_cpu:.1} µs{database_cpu}{queries}"
        );
    }
    let _ = child.kill();
    let _ = child.wait();
}
