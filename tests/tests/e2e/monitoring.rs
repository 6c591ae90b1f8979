//! The monitoring the repo ships (`deploy/prometheus/alerts.yml`,
//! `deploy/grafana/gateway.json`), loaded into a real Prometheus (Debian's package)
//! that scrapes a running gateway: the target is up, the rules load and evaluate
//! healthy, and every series they and the dashboard use exists.

use crate::support::*;
use serde_json::Value;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// A Prometheus process, stopped when dropped.
struct Prometheus {
    child: Child,
    addr: String,
    dir: PathBuf,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Prometheus {
    fn start(binary: PathBuf, gateway: &str, rules: &std::path::Path) -> Self {
        let dir = std::env::temp_dir().join(format!("gateway-prometheus-{}", random_hex(6)));
        std::fs::create_dir_all(&dir).unwrap();
        let config = dir.join("prometheus.yml");
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n\
                 rule_files:\n  - {}\n\
                 scrape_configs:\n  - job_name: gateway\n    static_configs:\n      - targets: ['{gateway}']\n",
                rules.display()
            ),
        )
        .unwrap();
        // Prometheus cannot say which port it took for :0: take a free one.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let addr = format!("127.0.0.1:{port}");
        let child = Command::new(binary)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("data").display()
            ))
            .arg(format!("--web.listen-address={addr}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start prometheus");
        Self { child, addr, dir }
    }

    async fn api(&self, client: &reqwest::Client, path: &str) -> Result<Value, String> {
        let response = client
            .get(format!("http://{}/api/v1/{path}", self.addr))
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let body: Value = response.json().await.map_err(|e| e.to_string())?;
        if body["status"] == "success" {
            Ok(body["data"].clone())
        } else {
            Err(body.to_string())
        }
    }
}

/// The series names an expression uses.
fn series_in(expr: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut rest = expr;
    while let Some(at) = rest.find(|c: char| c.is_ascii_lowercase()) {
        rest = &rest[at..];
        let end = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(rest.len());
        let word = &rest[..end];
        if word.starts_with("gateway_") || word.starts_with("process_") {
            names.push(word.to_string());
        }
        rest = &rest[end..];
    }
    names
}

fn run(tool: &std::path::Path, args: &[&str]) {
    let out = Command::new(tool).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{} {args:?}: {}{}",
        tool.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_scrapes_the_gateway_and_the_shipped_rules_and_dashboard_hold() {
    let (Some(prometheus), Some(promtool)) = (tool("prometheus"), tool("promtool")) else {
        return;
    };
    let rules = repo().join("deploy/prometheus/alerts.yml");
    let dashboard: Value =
        serde_json::from_slice(&std::fs::read(repo().join("deploy/grafana/gateway.json")).unwrap())
            .unwrap();
    run(&promtool, &["check", "rules", rules.to_str().unwrap()]);

    let app = TestApp::spawn(Backend::Sqlite).await;
    let tenant = app.tenant();
    let order = app.create_order(&tenant, 2599).await;
    let id = evt_id();
    app.deliver(
        &tenant.slug,
        &tenant.secret,
        &paid_checkout(&id, &order, 2599),
    )
    .await;
    app.settled(&id).await;

    let server = Prometheus::start(prometheus, &app.addr, &rules);
    let client = &app.client;
    eventually("the gateway target up", Duration::from_secs(60), || async {
        let targets = server.api(client, "targets").await?;
        let target = &targets["activeTargets"][0];
        if target["health"] == "up" {
            Ok(())
        } else {
            Err(target.to_string())
        }
    })
    .await;
    let groups = eventually("the rules evaluated", Duration::from_secs(60), || async {
        let rules = server.api(client, "rules").await?;
        let groups = rules["groups"].as_array().cloned().unwrap_or_default();
        let evaluated = groups.iter().all(|g| {
            g["rules"]
                .as_array()
                .is_some_and(|r| r.iter().all(|r| r["health"] == "ok"))
        });
        if !groups.is_empty() && evaluated {
            Ok(groups)
        } else {
            Err(rules.to_string())
        }
    })
    .await;
    let mut rule_exprs: Vec<String> = Vec::new();
    for group in &groups {
        for rule in group["rules"].as_array().unwrap() {
            rule_exprs.push(rule["query"].as_str().unwrap().to_string());
            // Nothing is wrong with a fresh gateway that paid one order.
            assert_ne!(rule["state"], "firing", "{rule}");
        }
    }
    assert!(rule_exprs.len() >= 8, "{rule_exprs:?}");

    let mut exprs = rule_exprs;
    for panel in dashboard["panels"].as_array().unwrap() {
        for target in panel["targets"].as_array().unwrap() {
            exprs.push(target["expr"].as_str().unwrap().to_string());
        }
    }
    let names: Vec<String> = eventually("the series scraped", Duration::from_secs(30), || async {
        let names = server.api(client, "label/__name__/values").await?;
        let names: Vec<String> = serde_json::from_value(names).map_err(|e| e.to_string())?;
        if names.iter().any(|n| n == "gateway_build_info") {
            Ok(names)
        } else {
            Err(format!("{names:?}"))
        }
    })
    .await;
    let mut used = 0;
    for expr in &exprs {
        for series in series_in(expr) {
            used += 1;
            assert!(
                names.contains(&series),
                "{series} (in {expr}) is not scraped from the gateway; it has: {names:?}"
            );
        }
    }
    assert!(used > 20, "the rules and the dashboard use {used} series");
}
