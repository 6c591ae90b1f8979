//! The container files (CONTRACT §13), checked as far as a machine without a
//! container engine can: the Dockerfile builds with `--locked` and a dependency layer,
//! runs as a user in production mode and asks `/ready`; `.dockerignore` keeps builds,
//! keys and dependencies out; the compose file scales (no fixed host port on the
//! gateway), stops later than the drain and trusts its proxy.

use crate::support::*;
use serde_json::Value;
use std::path::PathBuf;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn read(path: &str) -> String {
    std::fs::read_to_string(repo().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

#[test]
fn the_dockerfile_builds_locked_in_layers_and_runs_unprivileged() {
    let dockerfile = read("Dockerfile");
    let lines: Vec<&str> = dockerfile.lines().map(str::trim).collect();
    let builds: Vec<&&str> = lines.iter().filter(|l| l.contains("cargo build")).collect();
    assert!(
        builds.len() >= 2,
        "a dependency build, then ours: {builds:?}"
    );
    for build in &builds {
        assert!(build.contains("--locked"), "{build}");
    }
    let position = |needle: &str| {
        lines
            .iter()
            .position(|l| l.starts_with(needle))
            .unwrap_or_else(|| panic!("no `{needle}` in the Dockerfile"))
    };
    let manifests = position("COPY Cargo.toml Cargo.lock");
    let sources = position("COPY . .");
    let first_build = lines
        .iter()
        .position(|l| l.contains("cargo build"))
        .unwrap();
    assert!(
        manifests < first_build && first_build < sources,
        "the dependencies are built from the manifests alone, before the sources come in"
    );
    let runtime = lines.iter().rposition(|l| l.starts_with("FROM ")).unwrap();
    let user = lines[runtime..]
        .iter()
        .find_map(|l| l.strip_prefix("USER "))
        .expect("the image names its user");
    assert!(!["root", "0"].contains(&user.trim()), "{user}");
    assert!(dockerfile.contains("GATEWAY_ENV=production"));
    let health = lines[runtime..]
        .iter()
        .position(|l| l.starts_with("HEALTHCHECK"))
        .expect("a HEALTHCHECK");
    assert!(
        lines[runtime + health..runtime + health + 2]
            .join(" ")
            .contains("health-check"),
        "the health check asks /ready through `gateway health-check`"
    );
    let dockerignore = read(".dockerignore");
    let ignored: Vec<&str> = dockerignore.lines().map(str::trim).collect();
    for kept_out in ["target/", "data/", "node_modules/"] {
        assert!(
            ignored.contains(&kept_out),
            "{kept_out} is not in .dockerignore"
        );
    }
}

/// The compose file as JSON, read by PyYAML (a dependency of the Schemathesis that
/// `scripts/test.sh` installs).
fn compose() -> Option<Value> {
    let python = tool("python3")?;
    let out = std::process::Command::new(python)
        .args([
            "-c",
            "import json, sys, yaml; print(json.dumps(yaml.safe_load(open(sys.argv[1]))))",
        ])
        .arg(repo().join("docker-compose.yml"))
        .output()
        .unwrap();
    if !out.status.success() {
        let why = String::from_utf8_lossy(&out.stderr).to_string();
        assert!(std::env::var_os("CI").is_none(), "{why}");
        eprintln!("cannot read YAML here ({why}): skipped");
        return None;
    }
    Some(serde_json::from_slice(&out.stdout).unwrap())
}

fn seconds(text: &str) -> u64 {
    let (number, unit) = text.split_at(
        text.find(|c: char| !c.is_ascii_digit())
            .unwrap_or(text.len()),
    );
    let n: u64 = number.parse().unwrap_or_else(|_| panic!("{text}"));
    match unit {
        "s" | "" => n,
        "m" => n * 60,
        other => panic!("unit {other} in {text}"),
    }
}

#[test]
fn the_compose_file_scales_and_drains() {
    let Some(compose) = compose() else {
        return;
    };
    let gateway = &compose["services"]["gateway"];
    for port in gateway["ports"].as_array().into_iter().flatten() {
        let port = port.as_str().unwrap_or_default();
        assert!(
            !port.contains(':'),
            "a fixed host port ({port}) stops a second replica from starting"
        );
    }
    let grace = seconds(gateway["stop_grace_period"].as_str().expect("a stop grace"));
    assert!(grace > 25, "{grace} s is not longer than the 25 s drain");
    assert!(
        gateway["environment"]["TRUSTED_PROXIES"]
            .as_str()
            .is_some_and(|p| !p.is_empty()),
        "the proxy's addresses are trusted for X-Forwarded-For"
    );
    assert_eq!(gateway["environment"]["GATEWAY_ENV"], "production");
    let proxy = compose["services"]
        .as_object()
        .unwrap()
        .values()
        .find(|s| s["ports"].is_array() && s != &gateway)
        .expect("something in front of the replicas takes the host port");
    assert!(proxy["ports"][0].as_str().unwrap().contains(':'));
}
