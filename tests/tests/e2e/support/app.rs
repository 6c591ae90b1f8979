//! The test harness: a real `gateway` process per test, on port 0, with a fresh
//! database (a SQLite file, or a new PostgreSQL database on the server that
//! `scripts/test.sh` started), and helpers that speak the gateway's API.

#![allow(dead_code)]

use hmac::{Hmac, KeyInit, Mac};
use sea_orm::{ConnectionTrait, Database, DatabaseConnection, Statement};
use serde_json::{Value, json};
use sha2::Sha256;
use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
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
                super::$name($crate::support::Backend::Sqlite).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                super::$name($crate::support::Backend::Postgres).await
            }
        }
    )*};
}

pub fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::fill(&mut buf[..]);
    hex::encode(buf)
}

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

/// A database made for one test.
#[derive(Clone)]
pub struct TestDb {
    pub backend: Backend,
    pub url: String,
    _dir: Arc<TempDir>,
}

pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new() -> Self {
        let dir = std::env::temp_dir().join(format!("gateway-test-{}", random_hex(8)));
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub fn postgres_server_url() -> String {
    std::env::var("TEST_POSTGRES_URL").expect(
        "TEST_POSTGRES_URL is not set: run the tests with scripts/test.sh, which starts PostgreSQL",
    )
}

impl TestDb {
    pub async fn new(backend: Backend) -> Self {
        let dir = Arc::new(TempDir::new());
        let url = match backend {
            Backend::Sqlite => format!("sqlite://{}/gateway.db?mode=rwc", dir.0.display()),
            Backend::Postgres => {
                let server = postgres_server_url();
                let name = format!("gw_{}", random_hex(8));
                let admin = Database::connect(format!("{server}/postgres"))
                    .await
                    .expect("connect to the test PostgreSQL");
                admin
                    .execute_unprepared(&format!("CREATE DATABASE {name}"))
                    .await
                    .unwrap();
                admin.close().await.ok();
                format!("{server}/{name}")
            }
        };
        Self {
            backend,
            url,
            _dir: dir,
        }
    }

    pub fn dir(&self) -> &std::path::Path {
        &self._dir.0
    }

    pub async fn connect(&self) -> DatabaseConnection {
        Database::connect(&self.url)
            .await
            .expect("connect to the test database")
    }

    /// Makes every insert of a payment fail: a processing failure on demand.
    pub async fn break_payments(&self) {
        let db = self.connect().await;
        match self.backend {
            Backend::Sqlite => {
                db.execute_unprepared(
                    "CREATE TRIGGER injected_failure BEFORE INSERT ON payments \
                     BEGIN SELECT RAISE(ABORT, 'injected failure'); END;",
                )
                .await
                .unwrap();
            }
            Backend::Postgres => {
                db.execute_unprepared(
                    "CREATE FUNCTION injected_failure() RETURNS trigger AS $$ \
                     BEGIN RAISE EXCEPTION 'injected failure'; END $$ LANGUAGE plpgsql",
                )
                .await
                .unwrap();
                db.execute_unprepared(
                    "CREATE TRIGGER injected_failure BEFORE INSERT ON payments \
                     FOR EACH ROW EXECUTE FUNCTION injected_failure()",
                )
                .await
                .unwrap();
            }
        }
        db.close().await.ok();
    }

    pub async fn repair_payments(&self) {
        let db = self.connect().await;
        let sql = match self.backend {
            Backend::Sqlite => "DROP TRIGGER injected_failure",
            Backend::Postgres => "DROP TRIGGER injected_failure ON payments",
        };
        db.execute_unprepared(sql).await.unwrap();
        db.close().await.ok();
    }

    /// Rows of a query as JSON objects.
    pub async fn query(&self, sql: &str) -> Vec<Value> {
        let db = self.connect().await;
        let backend = db.get_database_backend();
        let rows = db
            .query_all_raw(Statement::from_string(backend, sql.to_string()))
            .await
            .unwrap();
        let out = rows
            .into_iter()
            .map(|row| {
                let mut obj = serde_json::Map::new();
                for col in row.column_names() {
                    let v = if let Ok(v) = row.try_get::<Option<i64>>("", &col) {
                        json!(v)
                    } else if let Ok(v) = row.try_get::<Option<bool>>("", &col) {
                        json!(v)
                    } else if let Ok(v) = row.try_get::<Option<String>>("", &col) {
                        json!(v)
                    } else if let Ok(v) = row.try_get::<Option<i32>>("", &col) {
                        json!(v)
                    } else {
                        Value::Null
                    };
                    obj.insert(col, v);
                }
                Value::Object(obj)
            })
            .collect();
        db.close().await.ok();
        out
    }
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
        for (k, v) in extra {
            env.retain(|(key, _)| key != k);
            env.push((k.to_string(), v.to_string()));
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
                    if let Some(rest) = line.split("gateway listening addr=").nth(1) {
                        let _ = addr_tx.send(
                            rest.split_whitespace()
                                .next()
                                .unwrap_or_default()
                                .to_string(),
                        );
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
        Self {
            db,
            addr,
            client: reqwest::Client::builder()
                .pool_max_idle_per_host(64)
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

    /// Delivers a body signed with `secret` now.
    pub async fn deliver(&self, slug: &str, secret: &str, body: &str) -> reqwest::Response {
        let header = sign(secret, now(), body);
        self.deliver_with_header(slug, Some(&header), body).await
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
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let rows = self
                .db
                .query(&format!(
                    "SELECT status, outcome, error, attempts, order_id FROM webhook_event WHERE stripe_event_id = '{stripe_event_id}' AND dedup_key IS NOT NULL"
                ))
                .await;
            if let Some(row) = rows.first()
                && row["status"] != "PROCESSING"
            {
                return row.clone();
            }
            assert!(
                Instant::now() < deadline,
                "event {stripe_event_id} still {rows:?}\n{}",
                self.logs()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits until no event of the database is PROCESSING.
    pub async fn all_settled(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let rows = self
                .db
                .query("SELECT COUNT(*) AS n FROM webhook_event WHERE status = 'PROCESSING'")
                .await;
            if rows[0]["n"] == 0 {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "events still PROCESSING: {rows:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
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

pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// `t=…,v1=…` as Stripe signs: HMAC-SHA256 of `t.body`.
pub fn sign(secret: &str, t: i64, body: &str) -> String {
    format!("t={t},v1={}", signature(secret, t, body))
}

pub fn signature(secret: &str, t: i64, body: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{t}.{body}").as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// Stripe's published example objects (`shared/stripe/fixtures3.json`).
pub fn fixture(resource: &str) -> Value {
    static ALL: OnceLock<Value> = OnceLock::new();
    let all = ALL.get_or_init(|| {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../shared/stripe/fixtures3.json"
        );
        serde_json::from_str(&std::fs::read_to_string(path).expect("shared/stripe/fixtures3.json"))
            .unwrap()
    });
    all["resources"][resource].clone()
}

/// An event envelope around `object`, as Stripe sends it.
pub fn event(id: &str, kind: &str, object: Value) -> String {
    let mut envelope = fixture("event");
    envelope["id"] = json!(id);
    envelope["type"] = json!(kind);
    envelope["created"] = json!(now());
    envelope["livemode"] = json!(false);
    envelope["api_version"] = json!("2025-11-17.clover");
    envelope["data"] = json!({"object": object});
    serde_json::to_string(&envelope).unwrap()
}

pub fn evt_id() -> String {
    format!("evt_{}", random_hex(12))
}

/// Realistic objects for one order's payment, built from Stripe's fixtures.
pub struct Payment {
    pub order_id: String,
    pub amount: i64,
    pub session: String,
    pub intent: String,
    pub charge: String,
}

impl Payment {
    pub fn new(order_id: &str, amount: i64) -> Self {
        Self {
            order_id: order_id.to_string(),
            amount,
            session: format!("cs_test_{}", random_hex(12)),
            intent: format!("pi_{}", random_hex(12)),
            charge: format!("ch_{}", random_hex(12)),
        }
    }

    pub fn session(&self, payment_status: &str) -> Value {
        let mut s = fixture("checkout.session");
        s["id"] = json!(self.session);
        s["metadata"] = json!({"order_id": self.order_id});
        s["client_reference_id"] = json!(self.order_id);
        s["payment_intent"] = json!(self.intent);
        s["payment_status"] = json!(payment_status);
        s["amount_total"] = json!(self.amount);
        s["currency"] = json!("eur");
        s
    }

    /// A PaymentIntent as Checkout creates it: no order metadata of its own.
    pub fn intent(&self, status: &str) -> Value {
        let mut pi = fixture("payment_intent");
        pi["id"] = json!(self.intent);
        pi["amount"] = json!(self.amount);
        pi["amount_received"] = json!(if status == "succeeded" {
            self.amount
        } else {
            0
        });
        pi["currency"] = json!("eur");
        pi["status"] = json!(status);
        pi["metadata"] = json!({});
        pi
    }

    pub fn charge(&self, status: &str, refunded: i64) -> Value {
        let mut ch = fixture("charge");
        ch["id"] = json!(self.charge);
        ch["payment_intent"] = json!(self.intent);
        ch["amount"] = json!(self.amount);
        ch["amount_refunded"] = json!(refunded);
        ch["refunded"] = json!(refunded == self.amount);
        ch["currency"] = json!("eur");
        ch["status"] = json!(status);
        ch["metadata"] = json!({});
        ch
    }
}
