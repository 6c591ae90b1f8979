//! Outbound calls reach real services (CONTRACT §9): Stripe's API, notification
//! endpoints and the alert receiver over HTTPS, trusted through a CA the test makes
//! and passes in `SSL_CERT_FILE`; a certificate that does not verify fails with a
//! `tls: …` reason. And where a tenant's URL may go is decided for the address dialled.

use crate::on_both_backends;
use crate::recovery::API_KEY;
use crate::support::*;
use serde_json::{Value, json};
use std::time::Duration;

/// Stripe's API, a restaurant backend and an alert receiver, each over HTTPS with a
/// certificate for `localhost` from `ca`.
struct Services {
    stripe: FakeStripe,
    backend: Backend2,
    alerts: Receiver,
}

impl Services {
    async fn start(ca: &TestCa) -> Self {
        let identity = ca.issue(&["localhost", "127.0.0.1"]);
        Self {
            stripe: FakeStripe::start_tls(&identity).await,
            backend: Backend2::start_tls(&identity).await,
            alerts: Receiver::start_tls(Behaviour::Accept, &identity).await,
        }
    }

    /// A gateway that calls these services and trusts `trusted` (a PEM file).
    async fn gateway(&self, backend: Backend, trusted: &TestCa) -> TestApp {
        let trusted = trusted.pem_path.display().to_string();
        let env = [
            ("SSL_CERT_FILE", trusted.as_str()),
            ("STRIPE_API_BASE", self.stripe.url.as_str()),
            ("ALERT_WEBHOOK_URL", self.alerts.url.as_str()),
            ("ALERT_INTERVAL_SECS", "1"),
            ("RECOVERY_INTERVAL_SECS", "0"),
            ("NOTIFY_ALLOW_PRIVATE", "true"),
            ("NOTIFY_RETRY_BASE_MS", "60000"),
        ];
        TestApp::spawn_with(backend, &env).await
    }
}

/// Pays a fresh order with an event Stripe has but never delivered; the order's id.
async fn missed_payment(app: &TestApp, tenant: &Tenant, stripe: &FakeStripe) -> String {
    let order = app.create_order(tenant, 1200).await;
    stripe.add_event(&paid_checkout(&evt_id(), &order, 1200));
    order
}

async fn attempts_of(app: &TestApp, token: &str, tenant: &Tenant, endpoint: i64) -> Vec<Value> {
    let admin = app.as_admin(token);
    let path = format!("notification-endpoints/{endpoint}/deliveries");
    eventually("an attempt", Duration::from_secs(15), || async {
        let log = admin.tenant_get(&tenant.slug, &path).await;
        let attempts = log["items"][0]["attempts"].as_array().cloned();
        match attempts {
            Some(a) if !a.is_empty() => Ok(a),
            _ => Err(log.body.to_string()),
        }
    })
    .await
}

async fn add_endpoint(app: &TestApp, token: &str, tenant: &Tenant, url: &str) -> Reply {
    app.as_admin(token)
        .tenant_post(&tenant.slug, "notification-endpoints", json!({"url": url}))
        .await
}

async fn recovery_diagnosis_notifications_and_alerts_work_over_https(backend: Backend) {
    let ca = TestCa::new("operator");
    let services = Services::start(&ca).await;
    let app = services.gateway(backend, &ca).await;
    let tenant = app.tenant();
    app.cli_ok(&["config", "set-api-key", &tenant.slug], Some(API_KEY));
    let token = app.platform_admin().await;
    let endpoint = add_endpoint(&app, &token, &tenant, &services.backend.url).await;
    assert_eq!(endpoint.status, 201, "{:?}", endpoint.body);
    services
        .backend
        .set_secret(endpoint["secret"].as_str().unwrap());

    // Recovery: the missed payment is fetched over HTTPS and applied.
    let order = missed_payment(&app, &tenant, &services.stripe).await;
    let out = app.cli_ok(&["recover", &tenant.slug], None);
    assert!(out.contains("1 recovered, 0 failed"), "{out}");
    app.order_reaches(&order, "PAID").await;
    // (The alerts loop may ask Stripe for its endpoints first: any order.)
    let asked: Vec<String> = services.stripe.seen().into_iter().map(|s| s.0).collect();
    assert!(asked.iter().any(|p| p == "/v1/events"), "{asked:?}");

    // The notification of the payment reaches the https backend, verified.
    let got = eventually(
        "a verified notification",
        Duration::from_secs(15),
        || async {
            let got = services.backend.got();
            got.iter()
                .find_map(|(_, body, _)| body.clone())
                .ok_or_else(|| format!("{got:?}"))
        },
    )
    .await;
    assert_eq!(got["type"], "order.paid");
    assert_eq!(got["data"]["order_id"], order.as_str());

    // Diagnosis asks Stripe over HTTPS: no Stripe endpoint points here, so it says so.
    let admin = app.as_admin(&token);
    let diagnosis = admin.tenant_get(&tenant.slug, "diagnosis").await;
    let codes: Vec<&str> = diagnosis["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["code"].as_str().unwrap())
        .collect();
    assert!(codes.contains(&"endpoint_missing"), "{codes:?}");
    assert!(!codes.contains(&"stripe_unreachable"), "{codes:?}");

    // The alert of that error finding reaches the https receiver.
    eventually("an alert over https", Duration::from_secs(15), || async {
        let got = services.alerts.received();
        if got.iter().any(|a| a["code"] == "endpoint_missing") {
            Ok(())
        } else {
            Err(format!("{got:?}"))
        }
    })
    .await;
}

async fn a_certificate_that_does_not_verify_fails_with_a_tls_reason(backend: Backend) {
    // The services' certificates come from a CA the gateway does not trust.
    let theirs = TestCa::new("unknown");
    let ours = TestCa::new("operator");
    let services = Services::start(&theirs).await;
    let app = services.gateway(backend, &ours).await;
    let tenant = app.tenant();
    app.cli_ok(&["config", "set-api-key", &tenant.slug], Some(API_KEY));
    let token = app.platform_admin().await;
    let endpoint = add_endpoint(&app, &token, &tenant, &services.backend.url).await;
    assert_eq!(endpoint.status, 201, "{:?}", endpoint.body);

    // Recovery fails, and says why.
    missed_payment(&app, &tenant, &services.stripe).await;
    let out = app.cli(&["recover", &tenant.slug], None);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("tls: invalid peer certificate"), "{stderr}");
    assert!(services.stripe.seen().is_empty(), "no request was sent");

    // The doctor names it too.
    let out = app.cli(&["doctor", &tenant.slug], None);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("stripe_unreachable"), "{stdout}");
    assert!(stdout.contains("tls: invalid peer certificate"), "{stdout}");

    // A notification's attempt list holds the reason; nothing reached the backend.
    let order = app.create_order(&tenant, 900).await;
    let body = paid_checkout(&evt_id(), &order, 900);
    app.deliver(&tenant.slug, &tenant.secret, &body).await;
    let id = endpoint["id"].as_i64().unwrap();
    let attempts = attempts_of(&app, &token, &tenant, id).await;
    let error = attempts[0]["error"].as_str().unwrap_or_default();
    assert!(
        error.starts_with("tls: invalid peer certificate"),
        "{attempts:?}"
    );
    assert!(services.backend.got().is_empty());

    // A certificate from the trusted CA, but for another name, fails as well.
    let wrong_name = ours.issue(&["other.example"]);
    let backend2 = Backend2::start_tls(&wrong_name).await;
    let endpoint = add_endpoint(&app, &token, &tenant, &backend2.url).await;
    let id = endpoint["id"].as_i64().unwrap();
    let order = app.create_order(&tenant, 800).await;
    app.deliver(
        &tenant.slug,
        &tenant.secret,
        &paid_checkout(&evt_id(), &order, 800),
    )
    .await;
    let attempts = attempts_of(&app, &token, &tenant, id).await;
    let error = attempts[0]["error"].as_str().unwrap_or_default();
    assert!(
        error.starts_with("tls: invalid peer certificate"),
        "{attempts:?}"
    );
    assert!(error.contains("not valid for name"), "{attempts:?}");
    assert!(backend2.got().is_empty());
}

/// Writes the fake resolver's table (`GATEWAY_FAKE_DNS`, fault-injection builds).
fn resolve_as(path: &std::path::Path, entries: &[(&str, &str)]) {
    let text: String = entries
        .iter()
        .map(|(n, ip)| format!("{n} {ip}\n"))
        .collect();
    std::fs::write(path, text).unwrap();
}

async fn a_tenants_url_is_judged_by_the_address_actually_dialled(backend: Backend) {
    let dir = TempDir::new();
    let dns = dir.0.join("hosts");
    resolve_as(
        &dns,
        &[
            ("hooks.example.com", "93.184.216.34"),
            ("rebind.example.com", "93.184.216.34"),
        ],
    );
    let dns_path = dns.display().to_string();
    let env = [
        ("GATEWAY_FAKE_DNS", dns_path.as_str()),
        ("NOTIFY_RETRY_BASE_MS", "60000"),
    ];
    let app = TestApp::spawn_with(backend, &env).await;
    let tenant = app.tenant();
    let token = app.platform_admin().await;
    let local = Backend2::start().await;
    let port = local
        .url
        .rsplit(':')
        .next()
        .unwrap()
        .trim_end_matches("/notify")
        .to_string();

    // Forms that reach this machine, however they are written.
    for url in [
        format!("http://127.0.0.1:{port}\\@1.1.1.1/"),
        format!("http://127.0.0.1:{port}/"),
        format!("http://user@1.1.1.1:{port}/"),
        format!("http://1.1.1.1@127.0.0.1:{port}/"),
        format!("http://localhost:{port}/"),
        format!("http://2130706433:{port}/"),
        format!("http://[::127.0.0.1]:{port}/"),
        format!("http://[::ffff:127.0.0.1]:{port}/"),
        format!("http://[64:ff9b::7f00:1]:{port}/"),
        format!("http://[2002:7f00:1::]:{port}/"),
        format!("http://[fec0::1]:{port}/"),
        format!("http://[fd00::1]:{port}/"),
        format!("http://198.18.0.1:{port}/"),
        format!("http://100.64.0.1:{port}/"),
        format!("http://0.1.2.3:{port}/"),
        "http://169.254.169.254/latest/meta-data/".to_string(),
    ] {
        let reply = add_endpoint(&app, &token, &tenant, &url).await;
        assert_eq!(reply.status, 422, "{url}: {:?}", reply.body);
        assert_eq!(reply["error"], "invalid_notification_url", "{url}");
    }

    // A name that resolved to a public address when saved, and to loopback when called.
    let url = format!("http://rebind.example.com:{port}/notify");
    let saved = add_endpoint(&app, &token, &tenant, &url).await;
    assert_eq!(saved.status, 201, "{:?}", saved.body);
    resolve_as(
        &dns,
        &[
            ("hooks.example.com", "93.184.216.34"),
            ("rebind.example.com", "127.0.0.1"),
        ],
    );
    let order = app.create_order(&tenant, 700).await;
    app.deliver(
        &tenant.slug,
        &tenant.secret,
        &paid_checkout(&evt_id(), &order, 700),
    )
    .await;
    let id = saved["id"].as_i64().unwrap();
    let attempts = attempts_of(&app, &token, &tenant, id).await;
    let error = attempts[0]["error"].as_str().unwrap_or_default();
    assert!(
        error.starts_with("refused: rebind.example.com resolves to 127.0.0.1"),
        "{attempts:?}"
    );
    assert!(
        local.got().is_empty(),
        "nothing reached the loopback listener"
    );

    // At most ten endpoints a restaurant.
    for n in 1..10 {
        let reply = add_endpoint(
            &app,
            &token,
            &tenant,
            &format!("https://hooks.example.com/{n}"),
        )
        .await;
        assert_eq!(reply.status, 201, "{n}: {:?}", reply.body);
    }
    let eleventh = add_endpoint(&app, &token, &tenant, "https://hooks.example.com/11").await;
    assert_eq!(eleventh.status, 422, "{:?}", eleventh.body);
    assert!(
        eleventh["message"]
            .as_str()
            .unwrap_or_default()
            .contains("at most 10"),
        "{:?}",
        eleventh.body
    );
}

on_both_backends!(
    recovery_diagnosis_notifications_and_alerts_work_over_https,
    a_certificate_that_does_not_verify_fails_with_a_tls_reason,
    a_tenants_url_is_judged_by_the_address_actually_dialled,
);
