//! The README's quick start, run as written (CONTRACT §13): a fresh directory, the
//! gateway started with nothing set (SQLite in ./data, development keys), and the
//! quick start's commands in order in a shell. Only two things are changed: the
//! `cargo install` line (the test puts the binary it built on PATH instead) and the
//! port (the gateway under test listens on a free one).

use crate::support::*;
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// The quick start's shell block: the one that reaches `gateway` by `cargo install`.
fn quick_start(readme: &str) -> (String, usize) {
    let mut block = Vec::new();
    let mut inside = false;
    for (n, line) in readme.lines().enumerate() {
        if inside && line.starts_with("```") {
            if block
                .iter()
                .any(|l: &&str| l.contains("cargo install --path api"))
            {
                return (block.join("\n"), n + 1);
            }
            block.clear();
            inside = false;
        } else if inside {
            block.push(line);
        } else if line == "```sh" {
            inside = true;
        }
    }
    panic!("the README has no quick start that installs `gateway`");
}

struct Gateway(Child);

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn the_readme_quick_start_works_as_written() {
    let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf();
    let readme = std::fs::read_to_string(repo.join("README.md")).unwrap();
    let (block, last_line) = quick_start(&readme);
    assert!(
        last_line <= 60,
        "the quick start ends on line {last_line}: it belongs on the first screen"
    );
    assert!(readme.lines().count() <= 420, "the README stays short");

    let dir = std::env::temp_dir().join(format!("gateway-readme-{}", random_hex(6)));
    std::fs::create_dir_all(&dir).unwrap();
    let binary = gateway_bin();
    let bin_dir = binary.parent().unwrap().to_path_buf();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    // `cargo run --release` in a fresh clone: nothing set.
    let mut child = Command::new(&binary)
        .arg("serve")
        .current_dir(&dir)
        .env_clear()
        .env("PATH", &path)
        .env("BIND_ADDR", "127.0.0.1:0")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let gateway = Gateway(child);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut said = Vec::new();
    let addr = loop {
        let line = rx
            .recv_timeout(Duration::from_secs(30))
            .unwrap_or_else(|_| panic!("the gateway did not start: {said:?}"));
        if let Some(rest) = line.split("gateway listening addr=").nth(1) {
            break rest.trim().to_string();
        }
        said.push(line);
    };
    assert!(
        said.iter().any(|l| l.contains("DEVELOPMENT")),
        "development keys are warned about: {said:?}"
    );

    let script = block
        .lines()
        .map(|line| {
            if line.starts_with("cargo install --path api") {
                "# cargo install --path api: the test's PATH has the built gateway".to_string()
            } else {
                line.replace("localhost:3000", &addr)
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    let mut shell = Command::new("bash")
        .args(["-euo", "pipefail", "-c", &script])
        .current_dir(&dir)
        .env_clear()
        .env("PATH", &path)
        .env("HOME", &dir)
        // send-test-event delivers to this machine's gateway at BIND_ADDR (3000 in the
        // README).
        .env("BIND_ADDR", &addr)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The password `admin create` asks for.
    shell
        .stdin
        .take()
        .unwrap()
        .write_all(b"a long enough password\n")
        .unwrap();
    let out = shell.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "the quick start failed:\n{script}\n--- stdout\n{stdout}\n--- stderr\n{stderr}"
    );
    let last = stdout.lines().last().unwrap_or_default();
    let status: serde_json::Value = serde_json::from_str(last)
        .unwrap_or_else(|e| panic!("the last command prints the order's status ({e}): {stdout}"));
    assert_eq!(status["status"], "PAID", "{stdout}\n{stderr}");
    assert!(
        dir.join("data/gateway.db").exists()
            && dir.join("data/dev-payment-config-enc.key").exists(),
        "the gateway and the CLI shared ./data"
    );
    drop(gateway);
    let _ = std::fs::remove_dir_all(&dir);
}
