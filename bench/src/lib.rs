//! What both benchmarks share: the release gateway as a child process, and percentiles.

pub mod ceiling;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// The vault key both benchmarks seed with and start the gateway with.
pub const ENC_KEY: &str = "8d3c1b2a4f5e6d7c8b9a0f1e2d3c4b5a6f7e8d9c0b1a2f3e4d5c6b7a8f9e0d1c";

/// Starts `gateway serve` on `database_url`, port 0, and returns it with its address.
/// `bin` defaults to the `gateway` beside the running benchmark (target/release).
pub fn start_gateway(bin: Option<&str>, database_url: &str) -> (Child, String) {
    start_gateway_with(bin, database_url, &[])
}

/// `start_gateway` with more settings.
pub fn start_gateway_with(
    bin: Option<&str>,
    database_url: &str,
    env: &[(&str, &str)],
) -> (Child, String) {
    let bin = bin.map(str::to_string).unwrap_or_else(|| {
        let exe = std::env::current_exe().unwrap();
        exe.parent().unwrap().join("gateway").display().to_string()
    });
    let mut child = Command::new(&bin)
        .arg("serve")
        .env("DATABASE_URL", database_url)
        .env("BIND_ADDR", "127.0.0.1:0")
        .env("PAYMENT_CONFIG_ENC_KEY", ENC_KEY)
        .env("JWT_SECRET", "bench-jwt-secret-bench-jwt-secret-0123")
        // The gateway's own default level (info), unless GATEWAY_RUST_LOG says otherwise
        // (e.g. `warn` to measure without the per-request lines).
        .env(
            "RUST_LOG",
            std::env::var("GATEWAY_RUST_LOG").unwrap_or_else(|_| "warn,gateway=info".into()),
        )
        .envs(env.iter().copied())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {bin}: {e} (build it: cargo build --release)"));
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(rest) = line.split("gateway listening addr=").nth(1) {
                let _ = tx.send(rest.trim().to_string());
            } else if line.contains("ERROR") || line.contains("error:") {
                eprintln!("gateway: {line}");
            }
        }
    });
    let addr = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("the gateway did not start");
    (child, addr)
}

/// `open_database` with one connection whose commits do not wait for the disk: for
/// seeding many rows quickly (the gateway under test opens its own, fully synced).
pub async fn open_seeding_database(url: &str) -> (&'static str, sea_orm::DatabaseConnection) {
    use sea_orm::ConnectionTrait;
    let (backend, db) = open_database(url, 1).await;
    let relax = match backend {
        "SQLite" => "PRAGMA synchronous = OFF",
        _ => "SET synchronous_commit = off",
    };
    db.execute_unprepared(relax)
        .await
        .expect("relax the seeding connection");
    (backend, db)
}

/// Opens and migrates the benchmark's database; with the backend's name, for printing.
pub async fn open_database(
    url: &str,
    connections: u32,
) -> (&'static str, sea_orm::DatabaseConnection) {
    let backend = if url.starts_with("sqlite") {
        "SQLite"
    } else {
        "PostgreSQL"
    };
    let db = gateway::db::connect_url(url, connections)
        .await
        .expect("open the benchmark database");
    gateway::db::migrate(&db)
        .await
        .expect("migrate the benchmark database");
    (backend, db)
}

/// The p-quantile (0..=1) of sorted durations.
pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// Milliseconds, for printing.
pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// CPU time (user + system) a process has used, from `/proc/PID/stat`.
pub fn cpu_of(pid: u32) -> Duration {
    stat_cpu(&format!("/proc/{pid}/stat"), false)
}

/// CPU time of the children this process has waited for (e.g. pgbench, once ended).
pub fn children_cpu() -> Duration {
    stat_cpu("/proc/self/stat", true).saturating_sub(stat_cpu("/proc/self/stat", false))
}

/// CPU time of the PostgreSQL server: every `postgres` process alive now, and the
/// backends that ended (the postmaster's waited-for children).
pub fn postgres_cpu() -> Duration {
    pids_named("postgres")
        .map(|pid| stat_cpu(&format!("/proc/{pid}/stat"), true))
        .sum()
}

/// User + system time from a `stat` file, with the waited-for children's if asked.
fn stat_cpu(path: &str, with_children: bool) -> Duration {
    let Ok(stat) = std::fs::read_to_string(path) else {
        return Duration::ZERO;
    };
    // Fields after the command name (which may hold spaces) in parentheses.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or_default();
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    // utime and stime are fields 14 and 15 of stat, 12 and 13 after the name;
    // cutime and cstime (the waited-for children's) 16 and 17.
    let own = ticks(11) + ticks(12);
    let children = match with_children {
        true => ticks(13) + ticks(14),
        false => 0,
    };
    ticks_to_duration(own + children)
}

/// The processes named `name`, alive now.
fn pids_named(name: &str) -> impl Iterator<Item = u32> {
    let entries = std::fs::read_dir("/proc").into_iter().flatten();
    let name = name.to_string();
    entries
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(move |pid| {
            std::fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c.trim() == name)
        })
}

/// CPU time of every process named `name` (e.g. all PgBouncer processes), alive now.
pub fn cpu_of_all(name: &str) -> Duration {
    pids_named(name).map(cpu_of).sum()
}

fn ticks_to_duration(ticks: u64) -> Duration {
    // USER_HZ is 100 on Linux everywhere that matters here.
    Duration::from_millis(ticks * 10)
}

/// CPU used by the gateway (all its replicas) and by the database server between two
/// readings.
pub struct CpuMeter {
    gateways: Vec<u32>,
    start: (Duration, Duration),
    pooler_start: Duration,
}

fn cpu_of_each(pids: &[u32]) -> Duration {
    pids.iter().map(|pid| cpu_of(*pid)).sum()
}

impl CpuMeter {
    pub fn start(gateway: u32) -> Self {
        Self::start_all(vec![gateway])
    }

    pub fn start_all(gateways: Vec<u32>) -> Self {
        let start = (cpu_of_each(&gateways), postgres_cpu());
        let pooler_start = cpu_of_all("pgbouncer");
        Self {
            gateways,
            start,
            pooler_start,
        }
    }

    /// `µs of CPU per unit` of every PgBouncer process on the machine since `start`.
    pub fn pooler_per_unit(&self, units: usize) -> f64 {
        let pooler = cpu_of_all("pgbouncer").saturating_sub(self.pooler_start);
        pooler.as_secs_f64() * 1e6 / units.max(1) as f64
    }

    /// `µs of CPU per unit` for the gateway and the database since `start`.
    pub fn per_unit(&self, units: usize) -> (f64, f64) {
        let gateway = cpu_of_each(&self.gateways).saturating_sub(self.start.0);
        let database = postgres_cpu().saturating_sub(self.start.1);
        let per = |d: Duration| d.as_secs_f64() * 1e6 / units.max(1) as f64;
        (per(gateway), per(database))
    }
}

/// The whole machine's CPU time, busy and idle (from `/proc/stat`, all cores), to say
/// how much of the machine a phase left unused: a closed loop that leaves cores idle
/// is bound by waiting (round trips, commits), not by CPU.
#[derive(Clone, Copy)]
pub struct MachineMeter {
    busy: u64,
    idle: u64,
    own: Duration,
}

fn machine_ticks() -> (u64, u64) {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let fields: Vec<u64> = stat
        .lines()
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .skip(1)
        .filter_map(|f| f.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal …: idle and iowait are unused.
    let idle = fields.get(3).copied().unwrap_or(0) + fields.get(4).copied().unwrap_or(0);
    let busy = fields.iter().take(8).sum::<u64>() - idle;
    (busy, idle)
}

impl MachineMeter {
    pub fn start() -> Self {
        let (busy, idle) = machine_ticks();
        Self {
            busy,
            idle,
            own: stat_cpu("/proc/self/stat", false),
        }
    }

    /// The share of the machine's CPU left idle since `start`, and this process's
    /// (the load generator's) CPU per unit in µs.
    pub fn stop(&self, units: usize) -> (f64, f64) {
        let (busy, idle) = machine_ticks();
        let (busy, idle) = (busy - self.busy, idle - self.idle);
        let own = stat_cpu("/proc/self/stat", false).saturating_sub(self.own);
        (
            idle as f64 / (busy + idle).max(1) as f64,
            own.as_secs_f64() * 1e6 / units.max(1) as f64,
        )
    }
}

/// Resident memory of a process, from `/proc/PID/status` (VmRSS), in MiB.
pub fn rss_mib(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map_or(0.0, |kib| kib / 1024.0)
}

/// A reading of the gateways' `/metrics`: each histogram series' buckets (upper bound,
/// cumulative count), sum and count, summed over the replicas, keyed by the series'
/// name and labels without `le` (e.g. `gateway_inbox_group_seconds{phase="commit"}`).
#[derive(Default, Clone)]
pub struct Scrape {
    series: std::collections::BTreeMap<String, Series>,
    counters: std::collections::BTreeMap<String, f64>,
}

#[derive(Default, Clone)]
struct Series {
    buckets: Vec<(f64, f64)>,
    sum: f64,
    count: f64,
}

impl Scrape {
    pub async fn of(client: &reqwest::Client, bases: &[String]) -> Self {
        let mut scrape = Scrape::default();
        for base in bases {
            if let Ok(r) = client.get(format!("{base}/metrics")).send().await
                && let Ok(text) = r.text().await
            {
                scrape.add(&text);
            }
        }
        scrape
    }

    fn add(&mut self, text: &str) {
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let Some((key, value)) = line.rsplit_once(' ') else {
                continue;
            };
            let Ok(value) = value.parse::<f64>() else {
                continue;
            };
            let (name, labels) = key.split_once('{').unwrap_or((key, "}"));
            let labels = labels.trim_end_matches('}');
            let (mut rest, mut le) = (Vec::new(), None);
            for label in labels.split(',').filter(|l| !l.is_empty()) {
                match label.strip_prefix("le=") {
                    Some(bound) => le = Some(bound.trim_matches('"').to_string()),
                    None => rest.push(label),
                }
            }
            let rest = rest.join(",");
            let series = |base: &str| match rest.as_str() {
                "" => base.to_string(),
                r => format!("{base}{{{r}}}"),
            };
            if let Some(base) = name.strip_suffix("_bucket") {
                let bound = match le.as_deref() {
                    Some("+Inf") | None => f64::INFINITY,
                    Some(b) => b.parse().unwrap_or(f64::INFINITY),
                };
                let s = self.series.entry(series(base)).or_default();
                match s.buckets.iter_mut().find(|(b, _)| *b == bound) {
                    Some((_, n)) => *n += value,
                    None => s.buckets.push((bound, value)),
                }
            } else if let Some(base) = name.strip_suffix("_sum") {
                self.series.entry(series(base)).or_default().sum += value;
            } else if let Some(base) = name.strip_suffix("_count") {
                self.series.entry(series(base)).or_default().count += value;
            } else {
                *self.counters.entry(series(name)).or_default() += value;
            }
        }
    }

    /// What a histogram gained since `before`: (count, mean, p50 and p99 as the upper
    /// bound of the bucket they fall in).
    pub fn since(&self, before: &Scrape, series: &str) -> Option<(f64, Duration, f64, f64)> {
        let now = self.series.get(series)?;
        let empty = Series::default();
        let then = before.series.get(series).unwrap_or(&empty);
        let count = now.count - then.count;
        if count <= 0.0 {
            return None;
        }
        let mean = Duration::from_secs_f64(((now.sum - then.sum) / count).max(0.0));
        let mut buckets: Vec<(f64, f64)> = now
            .buckets
            .iter()
            .map(|&(bound, n)| {
                let was = then.buckets.iter().find(|(b, _)| *b == bound);
                (bound, n - was.map_or(0.0, |(_, n)| *n))
            })
            .collect();
        buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
        let quantile = |q: f64| {
            buckets
                .iter()
                .find(|(_, n)| *n >= q * count)
                .map_or(f64::INFINITY, |(b, _)| *b)
        };
        Some((count, mean, quantile(0.5), quantile(0.99)))
    }

    /// What a counter gained since `before`.
    pub fn counter_since(&self, before: &Scrape, name: &str) -> f64 {
        self.counters.get(name).copied().unwrap_or(0.0)
            - before.counters.get(name).copied().unwrap_or(0.0)
    }
}

/// reqwest is built with rustls and no default crypto provider (the gateway chooses
/// ring): the benchmark's clients speak plain HTTP, but the builder wants one anyway.
pub fn install_crypto() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}
