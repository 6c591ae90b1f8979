//! The CLI acts on the database of running gateways, and `config check` explains.

use crate::on_both_backends;
use crate::support::*;
use std::time::Duration;

async fn a_secret_set_by_the_cli_is_honoured_by_a_running_gateway_within_a_second(
    backend: Backend,
) {
    let app = TestApp::spawn(backend).await;
    let tenant = app.tenant();
    let body = || event(&evt_id(), "customer.created", fixture("customer"));
    assert_eq!(
        app.deliver(&tenant.slug, &tenant.secret, &body())
            .await
            .status(),
        200
    );

    let new_secret = format!("whsec_{}", random_hex(16));
    app.cli_ok(&["config", "set-secret", &tenant.slug], Some(&new_secret));
    let within = Duration::from_millis(1500); // the cache holds 500 ms; the rest is slack
    app.deliveries_answer(&tenant.slug, &tenant.secret, 400, within)
        .await;
    assert_eq!(
        app.deliver(&tenant.slug, &new_secret, &body())
            .await
            .status(),
        200
    );

    // A tenant created while the gateway runs is served at once.
    let slug = format!("late-{}", random_hex(3));
    assert_eq!(app.deliver(&slug, &new_secret, &body()).await.status(), 404);
    app.cli_ok(&["tenant", "create", &slug, "--name", "Late"], None);
    app.cli_ok(&["config", "set-secret", &slug], Some(&new_secret));
    app.deliveries_answer(&slug, &new_secret, 200, within).await;
}

async fn config_check_reports_wrong_keys_tampering_and_missing_secrets(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let good = app.tenant();
    let out = app.cli_ok(&["config", "check", &good.slug], None);
    assert_eq!(out.trim(), format!("{}: ok (1 active secret)", good.slug));

    // The gateway's key replaced by another: every secret is "wrong key"; listing the
    // old key as previous makes them readable again.
    let other_key = "ab".repeat(32);
    let mut env = app.env.clone();
    env.retain(|(k, _)| k != "PAYMENT_CONFIG_ENC_KEY");
    env.push(("PAYMENT_CONFIG_ENC_KEY".into(), other_key.clone()));
    let out = cli(&env, &["config", "check", &good.slug], None);
    assert!(!out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("wrong key"), "{stdout}");
    assert!(!String::from_utf8_lossy(&out.stderr).contains("panicked"));
    env.push(("PAYMENT_CONFIG_ENC_KEY_PREVIOUS".into(), ENC_KEY.into()));
    let out = cli(&env, &["config", "check", &good.slug], None);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );

    // A ciphertext copied into another tenant's row does not decrypt there.
    let victim = app.tenant();
    let copy = format!(
        "UPDATE webhook_secret SET ciphertext = (SELECT ciphertext FROM webhook_secret s JOIN tenant t ON t.id = s.tenant_id WHERE t.slug = '{}'), \
         nonce = (SELECT nonce FROM webhook_secret s JOIN tenant t ON t.id = s.tenant_id WHERE t.slug = '{}') \
         WHERE tenant_id = (SELECT id FROM tenant WHERE slug = '{}')",
        good.slug, good.slug, victim.slug
    );
    let db = app.db.connect().await;
    use sea_orm::ConnectionTrait;
    db.execute_unprepared(&copy).await.unwrap();
    let out = app.cli(&["config", "check"], None);
    assert!(!out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains(&format!("{}: ok", good.slug)), "{stdout}");
    assert!(
        stdout.contains(&format!("{}: tampered", victim.slug)),
        "{stdout}"
    );
    // And the gateway answers 503 (Stripe retries) rather than verifying with it.
    app.deliveries_answer(
        &victim.slug,
        &victim.secret,
        503,
        Duration::from_millis(1500),
    )
    .await;
    let body = event(&evt_id(), "customer.created", fixture("customer"));
    assert_eq!(
        app.deliver(&victim.slug, &victim.secret, &body)
            .await
            .status(),
        503
    );

    app.cli_ok(
        &["tenant", "create", "no-secret-yet", "--name", "Empty"],
        None,
    );
    let out = app.cli(&["config", "check", "no-secret-yet"], None);
    assert!(String::from_utf8_lossy(&out.stdout).contains("no-secret-yet: missing"));
}

async fn cli_errors_are_one_clear_line(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let tenant = app.tenant();
    let cases: Vec<(Vec<&str>, Option<&str>, &str)> = vec![
        (
            vec!["tenant", "create", &tenant.slug, "--name", "Again"],
            None,
            "already exists",
        ),
        (
            vec!["tenant", "create", "Bad Slug", "--name", "X"],
            None,
            "a tenant slug is 3 to 63 characters",
        ),
        (
            vec!["config", "set-secret", &tenant.slug],
            Some("sk_live_notasecret"),
            "starts with \"whsec_\"",
        ),
        (
            vec!["config", "set-secret", &tenant.slug],
            None,
            "expected the webhook secret on standard input",
        ),
        (
            vec!["config", "set-secret", "nobody-here"],
            Some("whsec_abcdefgh1234"),
            "no tenant nobody-here",
        ),
        (
            vec!["send-test-event", &tenant.slug, "--type", "made.up"],
            None,
            "unsupported --type",
        ),
    ];
    for (args, stdin, expected) in cases {
        let out = app.cli(&args, stdin);
        assert!(!out.status.success(), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        // Besides the line naming the database it opened (when it opened one).
        let said = said_besides_the_database(&stderr);
        assert_eq!(said.len(), 1, "{args:?}: {stderr}");
        assert!(
            said[0].starts_with("error: ") && said[0].contains(expected),
            "{args:?}: {stderr}"
        );
    }
}

async fn send_test_event_pays_an_order_like_stripe_would(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let tenant = app.tenant();
    let order = app.create_order(&tenant, 2599).await;
    let url = app.url(&format!("/api/v1/webhooks/stripe/{}", tenant.slug));
    let out = app.cli_ok(
        &[
            "send-test-event",
            &tenant.slug,
            "--type",
            "checkout.session.completed",
            "--order",
            &order,
            "--url",
            &url,
        ],
        None,
    );
    assert!(out.contains("→ 200"), "{out}");
    app.order_reaches(&order, "PAID").await;

    // A chargeback and its loss, then a cancellation, as Stripe would send them.
    let send = |kind: &'static str, order: String, extra: &'static [&'static str]| {
        let mut args = vec![
            "send-test-event".to_string(),
            tenant.slug.clone(),
            "--type".into(),
            kind.into(),
            "--order".into(),
            order,
            "--url".into(),
            url.clone(),
        ];
        args.extend(extra.iter().map(|s| s.to_string()));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        app.cli_ok(&args, None)
    };
    assert!(send("charge.dispute.created", order.clone(), &[]).contains("→ 200"));
    app.order_reaches(&order, "DISPUTED").await;
    send(
        "charge.dispute.closed",
        order.clone(),
        &["--dispute-status", "lost"],
    );
    app.order_reaches(&order, "DISPUTE_LOST").await;
    let unpaid = app.create_order(&tenant, 900).await;
    send("checkout.session.async_payment_failed", unpaid.clone(), &[]);
    app.order_reaches(&unpaid, "PAYMENT_FAILED").await;
    send("payment_intent.canceled", unpaid.clone(), &[]);
    app.order_reaches(&unpaid, "CANCELED").await;
}

on_both_backends!(
    a_secret_set_by_the_cli_is_honoured_by_a_running_gateway_within_a_second,
    config_check_reports_wrong_keys_tampering_and_missing_secrets,
    cli_errors_are_one_clear_line,
    send_test_event_pays_an_order_like_stripe_would,
);

/// Every command and subcommand explains itself, without touching a database.
#[test]
fn every_command_has_help() {
    let commands: [&[&str]; 13] = [
        &[],
        &["serve"],
        &["migrate"],
        &["tenant"],
        &["tenant", "create"],
        &["tenant", "api-key"],
        &["config", "set-secret"],
        &["config", "check"],
        &["admin", "create"],
        &["keys", "rotate"],
        &["send-test-event"],
        &["config"],
        &["health-check"],
    ];
    for command in commands {
        let mut args = command.to_vec();
        args.push("--help");
        let out = cli(&[], &args, None);
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{args:?}: {text}");
        assert!(text.contains("Usage: gateway"), "{args:?}: {text}");
    }
}

/// `gateway health-check` exits 0 for a ready gateway and 1 for one that does not
/// answer, for container health checks.
async fn health_check_asks_ready(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let ok = app.cli(&["health-check", &app.url("/ready")], None);
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert!(String::from_utf8_lossy(&ok.stdout).contains("200"));
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let nobody = format!("http://{}/ready", listener.local_addr().unwrap());
    drop(listener);
    let down = app.cli(&["health-check", &nobody], None);
    assert_eq!(down.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&down.stderr).contains("did not answer"));
}

on_both_backends!(health_check_asks_ready);

/// A newcomer's CLI, run from a directory of its own on a SQLite file elsewhere:
/// development keys made beside that file (not in the working directory), the
/// database named on standard error, lists for people and for scripts, and no new
/// key made over secrets sealed with one that went missing.
#[test]
fn the_cli_keeps_development_keys_beside_the_sqlite_file() {
    let root = std::env::temp_dir().join(format!("gateway-cli-{}", random_hex(6)));
    let (db_dir, cwd) = (root.join("db"), root.join("elsewhere"));
    std::fs::create_dir_all(&db_dir).unwrap();
    std::fs::create_dir_all(&cwd).unwrap();
    let url = format!("sqlite://{}/gateway.db?mode=rwc", db_dir.display());
    let env = [("DATABASE_URL".to_string(), url.clone())];
    let run = |args: &[&str], stdin: Option<&str>| {
        let mut child = std::process::Command::new(gateway_bin())
            .args(args)
            .current_dir(&cwd)
            .env_clear()
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut input = child.stdin.take().unwrap();
        if let Some(text) = stdin {
            std::io::Write::write_all(&mut input, format!("{text}\n").as_bytes()).unwrap();
        }
        drop(input);
        let out = child.wait_with_output().unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).to_string(),
            String::from_utf8_lossy(&out.stderr).to_string(),
        )
    };

    let (ok, _, stderr) = run(
        &["tenant", "create", "corner-bistro", "--name", "Corner"],
        None,
    );
    assert!(ok, "{stderr}");
    assert!(
        stderr.contains(&format!("database: {url}")),
        "the database it opened is named: {stderr}"
    );
    let key = db_dir.join("dev-payment-config-enc.key");
    assert!(key.exists(), "the development key sits beside the file");
    assert!(!cwd.join("data").exists(), "nothing is made where it ran");
    let (ok, _, stderr) = run(
        &["config", "set-secret", "corner-bistro"],
        Some("whsec_cornerbistro_0123456789"),
    );
    assert!(ok, "{stderr}");
    let (ok, _, stderr) = run(
        &["admin", "create", "--email", "owner@example.com"],
        Some("a long enough password"),
    );
    assert!(ok, "{stderr}");

    let (ok, listed, _) = run(&["tenant", "list", "--json"], None);
    assert!(ok);
    let tenants: serde_json::Value = serde_json::from_str(&listed).unwrap();
    assert_eq!(tenants[0]["slug"], "corner-bistro");
    assert_eq!(tenants[0]["configured"], true);
    let (ok, table, _) = run(&["tenant", "list"], None);
    assert!(
        ok && table.contains("corner-bistro") && table.contains("Corner"),
        "{table}"
    );
    let (ok, listed, _) = run(&["admin", "list", "--json"], None);
    assert!(ok);
    let admins: serde_json::Value = serde_json::from_str(&listed).unwrap();
    assert_eq!(admins[0]["email"], "owner@example.com");
    assert_eq!(admins[0]["role"], "platform_admin");
    assert!(
        !listed.contains("password") && !listed.contains("argon2"),
        "{listed}"
    );

    // The key that sealed the secret is gone: the CLI stops and names it instead of
    // sealing the next secret under a new one.
    std::fs::remove_file(&key).unwrap();
    let (ok, _, stderr) = run(
        &["config", "set-secret", "corner-bistro"],
        Some("whsec_cornerbistro_9876543210"),
    );
    assert!(!ok);
    assert!(stderr.contains("PAYMENT_CONFIG_ENC_KEY"), "{stderr}");
    assert!(!key.exists(), "no new key was made");
    let _ = std::fs::remove_dir_all(&root);
}
