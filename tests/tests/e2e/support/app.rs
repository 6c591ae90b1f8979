//! The gateway process: started on port 0 with its log captured, its CLI on the same
//! database, and the calls Stripe, restaurant backends and widgets make.

use super::{Backend, TestDb, eventually, now, random_hex, sign};
use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub fn gateway_bin() -> PathBuf {
    if let Ok(path) = std::env::var("GATEWAY_BIN") {
        return PathBuf::from(path);
    }
    // target/<profile>/deps/e2e-… → target/<profile>/gateway
    let exe = std::env::current_exe().expect("test binary path");
    let path = exe
        .parent()
        .and_then(|p| p.parent())
        .expect("target dir")
        .join("gateway");
    assert!(
        path.exists(),
        "{} is missing: run the tests with scripts/test.sh (it builds the gateway first)",
        path.display()
    );
    path
}

/// Where a log line (text or JSON) says the gateway listens.
fn listening_addr(line: &str) -> Option<String> {
    if let Some(rest) = line.split("gateway listening addr=").nth(1) {
        return rest.split_whitespace().next().map(str::to_string);
    }
    let json: Value = serde_json::from_str(line).ok()?;
    (json["fields"]["message"] == "gateway listening")
        .then(|| json["fields"]["addr"].as_str().map(str::to_string))?
}

/// A running gateway process with its captured log.
pub struct TestApp {
    pub db: TestDb,
    pub addr: String,
    pub client: reqwest::Client,
    pub env: Vec<(String, String)>,
    child: Child,
    logs: Arc<Mutex<Vec<String>>>,
}

pub const ENC_KEY: &str = "5f1f0e3c0d7a4b9e8c2d6a1b3f4e5d6c7b8a9f0e1d2c3b4a5f6e7d8c9b0a1f2e";
pub const JWT_SECRET: &str = "test-jwt-secret-at-least-32-bytes-long!!";

impl TestApp {
    pub async fn spawn(backend: Backend) -> Self {
        Self::spawn_with(backend, &[]).await
    }

    pub async fn spawn_with(backend: Backend, extra: &[(&str, &str)]) -> Self {
        let db = TestDb::new(backend).await;
        Self::spawn_on(db, extra).await
    }

    /// Starts a gateway on an existing database (a second replica, or a restart).
    pub async fn spawn_on(db: TestDb, extra: &[(&str, &str)]) -> Self {
        let mut env: Vec<(String, String)> = vec![
            ("DATABASE_URL".into(), db.url.clone()),
            ("BIND_ADDR".into(), "127.0.0.1:0".into()),
            ("PAYMENT_CONFIG_ENC_KEY".into(), ENC_KEY.into()),
            ("JWT_SECRET".into(), JWT_SECRET.into()),
            (
                "DATA_DIR".into(),
                db.dir().join("data").display().to_string(),
            ),
            ("RUST_LOG".into(), "info".into()),
            ("PROCESSING_SWEEP_MS".into(), "200".into()),
        ];
        // An empty value leaves the setting unset.
        for (k, v) in extra {
            env.retain(|(key, _)| key != k);
            if !v.is_empty() {
                env.push((k.to_string(), v.to_string()));
            }
        }
        let mut child = Command::new(gateway_bin())
            .arg("serve")
            .env_clear()
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start the gateway");
        let logs = Arc::new(Mutex::new(Vec::new()));
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        for stream in [
            Box::new(child.stderr.take().unwrap()) as Box<dyn std::io::Read + Send>,
            Box::new(child.stdout.take().unwrap()),
        ] {
            let logs = logs.clone();
            let addr_tx = addr_tx.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    if let Some(addr) = listening_addr(&line) {
                        let _ = addr_tx.send(addr);
                    }
                    logs.lock().unwrap().push(line);
                }
            });
        }
        let addr = match addr_rx.recv_timeout(Duration::from_secs(30)) {
            Ok(addr) => addr,
            Err(_) => {
                let _ = child.kill();
                panic!(
                    "the gateway did not start:\n{}",
                    logs.lock().unwrap().join("\n")
                );
            }
        };
        // The tests' own client speaks plain HTTP to the gateway; reqwest still wants
        // a crypto provider for rustls (the workspace builds it without a default one).
        let _ = rustls::crypto::ring::default_provider().install_default();
        Self {
            db,
            addr,
            // Long enough for the longest long-poll; a request that hangs fails the
            // test instead of holding it.
            client: reqwest::Client::builder()
                .pool_max_idle_per_host(64)
                .timeout(Duration::from_secs(90))
                .build()
                .unwrap(),
            env,
            child,
            logs,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    pub fn logs(&self) -> String {
        self.logs.lock().unwrap().join("\n")
    }

    /// The CPU the gateway process has used so far (user and system, from /proc).
    pub fn cpu(&self) -> Duration {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.child.id()))
            .expect("the gateway's /proc entry");
        // The fields after the command name, which is in parentheses.
        let fields: Vec<&str> = stat
            .rsplit_once(')')
            .expect("a stat line")
            .1
            .split_whitespace()
            .collect();
        let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
        Duration::from_millis(ticks * 10) // USER_HZ is 100 on Linux
    }

    /// The gateway process's resident memory now (VmRSS, from /proc).
    pub fn rss_bytes(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .expect("the gateway's /proc entry");
        let kib: u64 = status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmRSS");
        kib * 1024
    }

    /// SIGTERM, as an orchestrator stops a replica: the gateway shuts down gracefully.
    pub fn terminate(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill");
        assert!(status.success());
    }

    /// Waits up to `limit` for the process to exit; its exit status.
    pub fn exited_within(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let deadline = std::time::Instant::now() + limit;
        while std::time::Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }

    /// SIGKILL: no shutdown code runs.
    pub fn kill(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// Runs a CLI command against this gateway's database.
    pub fn cli(&self, args: &[&str], stdin: Option<&str>) -> std::process::Output {
        cli(&self.env, args, stdin)
    }

    pub fn cli_ok(&self, args: &[&str], stdin: Option<&str>) -> String {
        let out = self.cli(args, stdin);
        assert!(
            out.status.success(),
            "gateway {args:?} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// A new tenant with a webhook secret and an API key.
    pub fn tenant(&self) -> Tenant {
        let slug = format!("resto-{}", random_hex(4));
        let secret = format!("whsec_{}", random_hex(16));
        self.cli_ok(
            &["tenant", "create", &slug, "--name", "Trattoria Test"],
            None,
        );
        self.cli_ok(&["config", "set-secret", &slug], Some(&secret));
        let api_key = self
            .cli_ok(&["tenant", "api-key", &slug], None)
            .trim()
            .to_string();
        Tenant {
            slug,
            secret,
            api_key,
        }
    }

    pub async fn create_order(&self, tenant: &Tenant, amount: i64) -> String {
        let response = self
            .client
            .post(self.url(&format!("/api/v1/tenants/{}/orders", tenant.slug)))
            .bearer_auth(&tenant.api_key)
            .json(&json!({"amount": amount, "currency": "eur", "reference": "table 12"}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201);
        let body: Value = response.json().await.unwrap();
        body["order_id"].as_str().unwrap().to_string()
    }

    /// The Prometheus text of `/metrics`.
    pub async fn metrics(&self) -> String {
        let response = self.client.get(self.url("/metrics")).send().await.unwrap();
        assert_eq!(response.status(), 200);
        response.text().await.unwrap()
    }

    pub async fn order_status(&self, order_id: &str) -> Value {
        let response = self
            .client
            .get(self.url(&format!("/api/v1/orders/{order_id}/status")))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        response.json().await.unwrap()
    }

    /// Waits until the widget's view of the order shows `status`.
    pub async fn order_reaches(&self, order_id: &str, status: &str) -> Value {
        let what = format!("order {order_id} {status}");
        eventually(&what, Duration::from_secs(10), || async {
            let seen = self.order_status(order_id).await;
            if seen["status"] == status {
                Ok(seen)
            } else {
                Err(seen.to_string())
            }
        })
        .await
    }

    /// Delivers a body signed with `secret` now.
    pub async fn deliver(&self, slug: &str, secret: &str, body: &str) -> reqwest::Response {
        let header = sign(secret, now(), body);
        self.deliver_with_header(slug, Some(&header), body).await
    }

    /// Delivers a body signed with `secret` now; the gateway's JSON answer.
    pub async fn deliver_json(&self, slug: &str, secret: &str, body: &str) -> Value {
        let answer = self.deliver(slug, secret, body).await;
        answer.json().await.expect("a JSON answer")
    }

    pub async fn deliver_with_header(
        &self,
        slug: &str,
        header: Option<&str>,
        body: &str,
    ) -> reqwest::Response {
        let mut request = self
            .client
            .post(self.url(&format!("/api/v1/webhooks/stripe/{slug}")))
            .header("content-type", "application/json")
            .body(body.to_string());
        if let Some(h) = header {
            request = request.header("stripe-signature", h);
        }
        request.send().await.unwrap()
    }

    /// Waits until the tenant's event with this Stripe id is no longer PROCESSING.
    pub async fn settled(&self, stripe_event_id: &str) -> Value {
        let sql = format!(
            "SELECT status, outcome, error, attempts, order_id FROM webhook_event \
             WHERE stripe_event_id = '{stripe_event_id}' AND dedup_key IS NOT NULL"
        );
        let what = format!("event {stripe_event_id} settled");
        eventually(&what, Duration::from_secs(20), || async {
            let rows = self.db.query(&sql).await;
            match rows.first() {
                Some(row) if row["status"] != "PROCESSING" => Ok(row.clone()),
                _ => Err(format!("{rows:?}\n{}", self.logs())),
            }
        })
        .await
    }

    /// Delivers fresh events signed with `secret` until one is answered `status`: a change
    /// of configuration has reached this gateway (its secret cache holds for 500 ms).
    pub async fn deliveries_answer(&self, slug: &str, secret: &str, status: u16, within: Duration) {
        let what = format!("deliveries to {slug} answered {status}");
        eventually(&what, within, || async {
            let body = super::event(
                &super::evt_id(),
                "customer.created",
                super::fixture("customer"),
            );
            let got = self.deliver(slug, secret, &body).await.status().as_u16();
            if got == status {
                Ok(())
            } else {
                Err(got.to_string())
            }
        })
        .await
    }

    /// Waits until the log holds at least `n` rows for this slug with this status (rejected
    /// deliveries are recorded without the sender waiting); those rows, oldest first.
    pub async fn recorded(&self, slug: &str, status: &str, n: usize) -> Vec<Value> {
        let sql = format!(
            "SELECT id, tenant_id, stripe_event_id, event_type, status, error, payload \
             FROM webhook_event WHERE tenant_slug = '{slug}' AND status = '{status}' ORDER BY id"
        );
        let what = format!("{n} {status} row(s) for {slug}");
        eventually(&what, Duration::from_secs(10), || async {
            let rows = self.db.query(&sql).await;
            if rows.len() >= n {
                Ok(rows)
            } else {
                Err(format!("{rows:?}"))
            }
        })
        .await
    }

    /// Waits until no event of the database is PROCESSING.
    pub async fn all_settled(&self) {
        let sql = "SELECT COUNT(*) AS n FROM webhook_event WHERE status = 'PROCESSING'";
        eventually("no event PROCESSING", Duration::from_secs(30), || async {
            let rows = self.db.query(sql).await;
            if rows[0]["n"] == 0 {
                Ok(())
            } else {
                Err(format!("{rows:?}"))
            }
        })
        .await
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The lines a CLI command wrote to standard error besides the first, which names the
/// database it opened (`database: …`).
pub fn said_besides_the_database(stderr: &str) -> Vec<&str> {
    stderr
        .trim()
        .lines()
        .filter(|line| !line.starts_with("database: "))
        .collect()
}

pub fn cli(env: &[(String, String)], args: &[&str], stdin: Option<&str>) -> std::process::Output {
    let mut child = Command::new(gateway_bin())
        .args(args)
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    if let Some(text) = stdin {
        input.write_all(text.as_bytes()).unwrap();
        input.write_all(b"\n").unwrap();
    }
    drop(input);
    child.wait_with_output().unwrap()
}

pub struct Tenant {
    pub slug: String,
    pub secret: String,
    pub api_key: String,
}
