//! No secret, signature or API key ever reaches a log line.

use crate::on_both_backends;
use crate::support::*;

async fn a_full_flow_logs_no_secret_signature_or_api_key(backend: Backend) {
    let app = TestApp::spawn_with(backend, &[("RUST_LOG", "debug")]).await;
    let tenant = app.tenant();
    let order = app.create_order(&tenant, 2599).await;
    let id = evt_id();
    let body = paid_checkout(&id, &order, 2599);
    let t = now();
    let sig = signature(&tenant.secret, t, &body);
    app.deliver_with_header(&tenant.slug, Some(&format!("t={t},v1={sig}")), &body)
        .await;
    app.settled(&id).await;
    // Failures log too: a wrong signature, a stale one, a missing config.
    let wrong = signature("whsec_attackers_guess_1234", t, &body);
    app.deliver_with_header(&tenant.slug, Some(&format!("t={t},v1={wrong}")), &body)
        .await;
    let stale = signature(&tenant.secret, t - 1000, &body);
    app.deliver_with_header(
        &tenant.slug,
        Some(&format!("t={},v1={stale}", t - 1000)),
        &body,
    )
    .await;
    app.deliver("unknown-resto", &tenant.secret, &body).await;
    let cli = app.cli(
        &[
            "send-test-event",
            &tenant.slug,
            "--type",
            "payment_intent.succeeded",
            "--order",
            &order,
            "--url",
            &app.url(&format!("/api/v1/webhooks/stripe/{}", tenant.slug)),
        ],
        None,
    );
    assert!(
        cli.status.success(),
        "{}",
        String::from_utf8_lossy(&cli.stderr)
    );
    app.order_reaches(&order, "PAID").await;

    let logs =
        app.logs() + &String::from_utf8_lossy(&cli.stdout) + &String::from_utf8_lossy(&cli.stderr);
    assert!(logs.lines().count() > 5, "the flow was logged:\n{logs}");
    assert!(logs.contains("webhook verification failed"));
    for (what, needle) in [
        ("webhook secret", tenant.secret.as_str()),
        ("webhook secret body", &tenant.secret["whsec_".len()..]),
        ("signature", sig.as_str()),
        ("rejected signature", wrong.as_str()),
        ("stale signature", stale.as_str()),
        ("API key", tenant.api_key.as_str()),
        ("API key body", &tenant.api_key["gk_".len()..]),
        ("encryption key", ENC_KEY),
        ("JWT secret", JWT_SECRET),
    ] {
        assert!(
            !logs.contains(needle),
            "the {what} appears in the logs:\n{logs}"
        );
    }
}

/// The lines of the log that mention `needle`.
fn lines_with<'a>(logs: &'a str, needle: &str) -> Vec<&'a str> {
    logs.lines().filter(|l| l.contains(needle)).collect()
}

async fn a_delivery_can_be_followed_through_the_log(backend: Backend) {
    let env = [("RUST_LOG", "debug"), ("NOTIFY_ALLOW_PRIVATE", "true")];
    let app = TestApp::spawn_with(backend, &env).await;
    let tenant = app.tenant();
    let email = format!("ops-{}@example.com", random_hex(3));
    app.create_admin(&email, "platform_admin", None);
    let token = app.login(&email).await;
    let hooks = Backend2::start().await;
    let added = app
        .as_admin(&token)
        .tenant_post(
            &tenant.slug,
            "notification-endpoints",
            serde_json::json!({"url": hooks.url}),
        )
        .await;
    assert_eq!(added.status, 201);
    let order = app.create_order(&tenant, 1800).await;
    let id = evt_id();
    app.deliver(
        &tenant.slug,
        &tenant.secret,
        &paid_checkout(&id, &order, 1800),
    )
    .await;
    let logs = eventually(
        "the notification delivered",
        std::time::Duration::from_secs(15),
        || async {
            let logs = app.logs();
            if logs.contains("notification delivered") {
                Ok(logs)
            } else {
                Err(logs)
            }
        },
    )
    .await;
    // The handler's and the inbox writer's lines carry the tenant, the event id and
    // one delivery id.
    let lines = lines_with(&logs, &id);
    let stored = lines
        .iter()
        .find(|l| l.contains("stored and applied"))
        .unwrap_or_else(|| panic!("the writer's line about {id}: {logs}"));
    let answered = lines
        .iter()
        .find(|l| l.contains("answered") && l.contains("status=200"))
        .unwrap_or_else(|| panic!("the handler's line about {id}: {logs}"));
    assert!(stored.contains(&tenant.slug) && answered.contains(&tenant.slug));
    let delivery = |line: &str| {
        line.split("delivery=")
            .nth(1)
            .and_then(|rest| rest.split([' ', '}']).next())
            .map(str::to_string)
    };
    let dlv = delivery(stored).expect("a delivery id");
    assert!(dlv.starts_with("dlv_"), "{stored}");
    assert_eq!(delivery(answered), Some(dlv));
    // The notification's lines carry its webhook-id, as the backend received it.
    let (webhook_id, _, _) = hooks.got()[0].clone();
    let sent = lines_with(&logs, "notification delivered");
    assert!(sent.iter().any(|l| l.contains(&webhook_id)), "{sent:?}");
}

on_both_backends!(
    a_full_flow_logs_no_secret_signature_or_api_key,
    a_delivery_can_be_followed_through_the_log,
);
