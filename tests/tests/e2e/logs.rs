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

on_both_backends!(a_full_flow_logs_no_secret_signature_or_api_key);
