//! The test harness: a real `gateway` process per test, on port 0, with a fresh
//! database (a SQLite file, or a new PostgreSQL database on the server that
//! `scripts/test.sh` started), and helpers that speak the gateway's API.
//!
//! - `app`: the gateway process, its CLI, deliveries and the widget's view of an order
//! - `db`: the test's own database, SQL against it, and faults injected into it
//! - `stripe`: Stripe's signing scheme and realistic objects from its fixtures
//! - `admin_client`: admin accounts and a typed client for the admin API
//! - `fakes`: Stripe's API, an alert receiver and a restaurant backend, on loopback
//! - `tls`: a CA of the test's own, and HTTPS for the fakes
//! - `pgbouncer`: Debian's PgBouncer in transaction pooling mode, before PostgreSQL

pub mod admin_client;
pub mod app;
pub mod db;
pub mod fakes;
pub mod pgbouncer;
pub mod stripe;
pub mod tls;

pub use admin_client::*;
pub use app::*;
pub use db::*;
pub use fakes::*;
pub use pgbouncer::*;
pub use stripe::*;
pub use tls::*;

use std::future::Future;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Runs a test body once per backend, as `NAME::sqlite` and `NAME::postgres`.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                $crate::support::within_limit(super::$name($crate::support::Backend::Sqlite)).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                $crate::support::within_limit(super::$name($crate::support::Backend::Postgres)).await
            }
        }
    )*};
}

/// How long one test may run (`E2E_TEST_LIMIT_SECS`, 300 s unless set): a test that
/// hangs fails with its name instead of holding the whole suite until CI gives up.
pub async fn within_limit<F: Future<Output = ()>>(test: F) {
    let limit = std::env::var("E2E_TEST_LIMIT_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .map_or(Duration::from_secs(300), Duration::from_secs);
    if tokio::time::timeout(limit, test).await.is_err() {
        panic!("still running after {limit:?}: the test hangs (or the machine is far too slow)");
    }
}

pub fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::fill(&mut buf[..]);
    hex::encode(buf)
}

/// Polls `probe` until it gives `Some`, or fails the test after `within`, saying what
/// was awaited and the last thing seen. Instead of fixed sleeps: as quick as the
/// gateway, and as patient as a slow machine needs.
pub async fn eventually<T, F, Fut>(what: &str, within: Duration, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, String>>,
{
    let deadline = Instant::now() + within;
    loop {
        match probe().await {
            Ok(value) => return value,
            Err(last) if Instant::now() >= deadline => {
                panic!("{what}: not within {within:?}; last seen: {last}")
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(25)).await,
        }
    }
}

/// A command-line tool the tests run against the gateway (`promtool`, PyPI's
/// `openapi-spec-validator`…): from `scripts/test.sh`'s tool directory
/// (`GATEWAY_TEST_TOOLS`), else from `PATH`. CI must have it; elsewhere a test that
/// lacks it says so and skips that part.
pub fn tool(name: &str) -> Option<std::path::PathBuf> {
    let candidates = std::env::var_os("GATEWAY_TEST_TOOLS")
        .into_iter()
        .chain(std::env::var_os("PATH"))
        .flat_map(|dirs| std::env::split_paths(&dirs).collect::<Vec<_>>());
    for dir in candidates {
        let path = dir.join(name);
        if path.is_file() {
            return Some(path);
        }
    }
    if std::env::var_os("CI").is_some() {
        panic!("{name} is required in CI (scripts/test.sh installs it)");
    }
    eprintln!("{name} is not installed: that part of the test is skipped");
    None
}
