//! The admin settings API (CONTRACT §5): roles, isolation, tokens, secrets, event log.

use crate::on_both_backends;
use crate::support::*;
use sea_orm::ConnectionTrait;
use serde_json::{Value, json};
use std::time::Duration;

pub const PASSWORD: &str = "correct horse battery staple";

impl TestApp {
    pub fn create_admin(&self, email: &str, role: &str, tenant: Option<&str>) {
        let mut args = vec!["admin", "create", "--email", email, "--role", role];
        if let Some(t) = tenant {
            args.extend(["--tenant", t]);
        }
        self.cli_ok(&args, Some(PASSWORD));
    }

    /// Delivers `n` distinct verified `customer.created` events to a tenant; their ids.
    pub async fn deliver_customer_events(&self, tenant: &Tenant, n: usize) -> Vec<String> {
        let mut ids = Vec::new();
        for _ in 0..n {
            let id = evt_id();
            let body = event(&id, "customer.created", fixture("customer"));
            let response = self.deliver(&tenant.slug, &tenant.secret, &body).await;
            assert_eq!(response.status(), 200);
            ids.push(id);
        }
        ids
    }

    pub async fn login(&self, email: &str) -> String {
        let response = self
            .client
            .post(self.url("/api/v1/admin/login"))
            .json(&json!({"email": email, "password": PASSWORD}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let body: Value = response.json().await.unwrap();
        assert!(body["expires_at"].is_string());
        body["token"].as_str().unwrap().to_string()
    }

    pub async fn admin(
        &self,
        token: &str,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut request = self
            .client
            .request(method, self.url(path))
            .bearer_auth(token);
        if let Some(b) = body {
            request = request.json(&b);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }
}

use reqwest::Method;

async fn setup(app: &TestApp) -> (Tenant, Tenant, String, String) {
    let a = app.tenant();
    let b = app.tenant();
    let suffix = random_hex(3);
    let platform = format!("ops-{suffix}@example.com");
    let admin_a = format!("owner-{suffix}@example.com");
    app.create_admin(&platform, "platform_admin", None);
    app.create_admin(&admin_a, "tenant_admin", Some(&a.slug));
    let p = app.login(&platform).await;
    let ta = app.login(&admin_a).await;
    (a, b, p, ta)
}

async fn login_gives_the_same_401_for_unknown_accounts_and_wrong_passwords(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.create_admin("ops@example.com", "platform_admin", None);
    for (email, password) in [
        ("ops@example.com", "wrong password!!"),
        ("nobody@example.com", PASSWORD),
    ] {
        let response = app
            .client
            .post(app.url("/api/v1/admin/login"))
            .json(&json!({"email": email, "password": password}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 401);
        assert_eq!(
            response.json::<Value>().await.unwrap(),
            json!({"error": "invalid_credentials"})
        );
    }
    let token = app.login("OPS@example.com").await;
    let (status, me) = app
        .admin(&token, Method::GET, "/api/v1/admin/me", None)
        .await;
    assert_eq!(status, 200);
    assert_eq!(me["email"], "ops@example.com");
    assert_eq!(me["role"], "platform_admin");
    assert_eq!(me["tenant"], Value::Null);
}

async fn password_guessing_is_throttled_per_account_and_per_address(backend: Backend) {
    let app = TestApp::spawn_with(backend, &[("RATE_LIMIT_LOGIN_BURST", "15")]).await;
    app.create_admin("target@example.com", "platform_admin", None);
    app.create_admin("bystander@example.com", "platform_admin", None);
    let attempt = |email: &'static str, password: &'static str| {
        app.client
            .post(app.url("/api/v1/admin/login"))
            .json(&json!({"email": email, "password": password}))
            .send()
    };
    // Sent together, so that no allowance comes back while they are answered.
    let guesses = crate::exactly_once::futures_join_all(
        (0..11).map(|_| attempt("target@example.com", "guess guess guess")),
    )
    .await;
    let statuses: Vec<u16> = guesses
        .iter()
        .map(|r| r.as_ref().unwrap().status().as_u16())
        .collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 401).count(),
        10,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 429).count(),
        1,
        "the 11th guess at one account within a minute is refused"
    );
    // Even the right password waits now; another account is not affected...
    assert_eq!(
        attempt("target@example.com", PASSWORD)
            .await
            .unwrap()
            .status(),
        429
    );
    assert_eq!(
        attempt("bystander@example.com", PASSWORD)
            .await
            .unwrap()
            .status(),
        200
    );
    // ...until the address itself runs out (burst 15 here; 13 used; 20 more at once).
    let burst = crate::exactly_once::futures_join_all(
        (0..20).map(|_| attempt("bystander@example.com", PASSWORD)),
    )
    .await;
    assert!(burst.iter().any(|r| r.as_ref().unwrap().status() == 429));
}

async fn a_tenant_admin_sees_only_its_own_restaurant(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (a, b, platform, admin_a) = setup(&app).await;
    let (_, list) = app
        .admin(&admin_a, Method::GET, "/api/v1/admin/tenants", None)
        .await;
    let slugs: Vec<&str> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["slug"].as_str().unwrap())
        .collect();
    assert_eq!(slugs, [a.slug.as_str()]);
    let (_, list) = app
        .admin(&platform, Method::GET, "/api/v1/admin/tenants", None)
        .await;
    assert!(list["items"].as_array().unwrap().len() >= 2);

    // The matrix: every tenant-scoped route and method, against the other restaurant.
    let routes: Vec<(Method, String, Option<Value>)> = vec![
        (Method::GET, "payment-config".into(), None),
        (
            Method::PUT,
            "payment-config".into(),
            Some(json!({"webhook_secret": "whsec_takeover12345678"})),
        ),
        (Method::DELETE, "payment-config".into(), None),
        (
            Method::POST,
            "payment-config/rotate".into(),
            Some(
                json!({"webhook_secret": "whsec_takeover12345678", "previous_expires_in_secs": 60}),
            ),
        ),
        (Method::GET, "api-keys".into(), None),
        (Method::POST, "api-keys".into(), None),
        (Method::DELETE, "api-keys/1".into(), None),
        (Method::GET, "webhook-events".into(), None),
        (Method::GET, "webhook-events/1".into(), None),
        (Method::POST, "webhook-events/1/retry".into(), None),
        (Method::POST, "webhook-events/retry".into(), None),
        (Method::GET, "orders".into(), None),
        (
            Method::POST,
            "orders/ord_x/override".into(),
            Some(json!({"status": "PAID", "reason": "x"})),
        ),
        (Method::GET, "health".into(), None),
        (Method::GET, "audit-log".into(), None),
    ];
    for (method, route, body) in &routes {
        for slug in [b.slug.as_str(), "does-not-exist"] {
            let path = format!("/api/v1/admin/tenants/{slug}/{route}");
            let (status, reply) = app
                .admin(&admin_a, method.clone(), &path, body.clone())
                .await;
            assert_eq!(status, 404, "{method} {path}: {reply}");
            assert_eq!(
                reply,
                json!({"error": "tenant_not_found"}),
                "{method} {path}"
            );
        }
        let own = format!("/api/v1/admin/tenants/{}/{route}", a.slug);
        let (status, _) = app
            .admin(&admin_a, method.clone(), &own, body.clone())
            .await;
        assert_ne!(status, 401, "{method} {own}");
        assert!(status != 403 && status < 500, "{method} {own}: {status}");
    }
    // B's secret was not touched by any of that.
    let ok = app
        .deliver(
            &b.slug,
            &b.secret,
            &event(&evt_id(), "customer.created", fixture("customer")),
        )
        .await;
    assert_eq!(ok.status(), 200);

    // No creating tenants or admins, no promotion.
    let (status, _) = app
        .admin(
            &admin_a,
            Method::POST,
            "/api/v1/admin/tenants",
            Some(json!({"slug": "mine-too", "name": "X"})),
        )
        .await;
    assert_eq!(status, 403);
    let me = app
        .admin(&admin_a, Method::GET, "/api/v1/admin/me", None)
        .await
        .1;
    for role in ["platform_admin", "tenant_admin"] {
        let body =
            json!({"email": me["email"], "password": PASSWORD, "role": role, "tenant": null});
        let (status, _) = app
            .admin(&admin_a, Method::POST, "/api/v1/admin/users", Some(body))
            .await;
        assert_eq!(status, 403);
    }
    let (status, _) = app
        .admin(&admin_a, Method::GET, "/api/v1/admin/audit-log", None)
        .await;
    assert_eq!(status, 403);
    let (status, _) = app
        .admin(
            &admin_a,
            Method::GET,
            "/api/v1/admin/unrouted-deliveries",
            None,
        )
        .await;
    assert_eq!(status, 403);
    // A delivery to a mistyped slug is visible to platform admins only.
    let typo = format!("{}-typo", a.slug);
    let body = event(&evt_id(), "customer.created", fixture("customer"));
    assert_eq!(app.deliver(&typo, &a.secret, &body).await.status(), 404);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (status, unrouted) = app
        .admin(
            &platform,
            Method::GET,
            "/api/v1/admin/unrouted-deliveries",
            None,
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(unrouted["items"][0]["tenant_slug"], json!(typo));
    assert_eq!(unrouted["items"][0]["status"], "NO_CONFIG");
    let (_, me_again) = app
        .admin(&admin_a, Method::GET, "/api/v1/admin/me", None)
        .await;
    assert_eq!(me_again["role"], "tenant_admin");
}

async fn forged_and_stale_tokens_are_refused(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.create_admin("ops@example.com", "platform_admin", None);
    let token = app.login("ops@example.com").await;
    let parts: Vec<&str> = token.split('.').collect();
    let b64 = |v: &Value| {
        use base64_url as b;
        b::encode(&serde_json::to_vec(v).unwrap())
    };
    let claims: Value = serde_json::from_slice(&base64_url::decode(parts[1]).unwrap()).unwrap();
    let now = now();
    let hs256 = |c: &Value, key: &[u8]| {
        let header = b64(&json!({"alg": "HS256", "typ": "JWT"}));
        let body = b64(c);
        use hmac::{Hmac, KeyInit, Mac};
        let mut mac = Hmac::<sha2::Sha256>::new_from_slice(key).unwrap();
        mac.update(format!("{header}.{body}").as_bytes());
        format!(
            "{header}.{body}.{}",
            base64_url::encode(&mac.finalize().into_bytes())
        )
    };
    let mut expired = claims.clone();
    expired["exp"] = json!(now - 120);
    let mut audience = claims.clone();
    audience["aud"] = json!("another-service");
    let mut promoted = claims.clone();
    promoted["sub"] = json!("999");
    let forged = vec![
        (
            "alg none",
            format!(
                "{}.{}.",
                b64(&json!({"alg": "none", "typ": "JWT"})),
                parts[1]
            ),
        ),
        (
            "another key",
            hs256(&claims, b"not-the-gateway-secret-not-the-gateway"),
        ),
        ("expired", hs256(&expired, JWT_SECRET.as_bytes())),
        ("wrong audience", hs256(&audience, JWT_SECRET.as_bytes())),
        (
            "tampered payload",
            format!("{}.{}.{}", parts[0], b64(&promoted), parts[2]),
        ),
        ("garbage", "abc".to_string()),
    ];
    for (what, token) in forged {
        let (status, reply) = app
            .admin(&token, Method::GET, "/api/v1/admin/me", None)
            .await;
        assert_eq!(status, 401, "{what}");
        assert_eq!(reply, json!({"error": "invalid_token"}));
    }
    // A token for a deleted admin.
    let db = app.db.connect().await;
    use sea_orm::ConnectionTrait;
    db.execute_unprepared("DELETE FROM admin_user WHERE email = 'ops@example.com'")
        .await
        .unwrap();
    let (status, _) = app
        .admin(&token, Method::GET, "/api/v1/admin/me", None)
        .await;
    assert_eq!(status, 401);
}

async fn secrets_are_managed_without_ever_being_shown(backend: Backend) {
    let app = TestApp::spawn_with(backend, &[("RUST_LOG", "debug")]).await;
    let (a, _b, _platform, admin_a) = setup(&app).await;
    let base = format!("/api/v1/admin/tenants/{}/payment-config", a.slug);
    let mut responses = String::new();
    let (status, reply) = app
        .admin(
            &admin_a,
            Method::PUT,
            &base,
            Some(json!({"webhook_secret": "sk_live_oops"})),
        )
        .await;
    assert_eq!(status, 422);
    assert_eq!(reply["error"], "invalid_webhook_secret");
    assert!(reply["message"].as_str().unwrap().contains("whsec_"));

    let first = format!("whsec_{}", random_hex(16));
    let (status, reply) = app
        .admin(
            &admin_a,
            Method::PUT,
            &base,
            Some(json!({"webhook_secret": first})),
        )
        .await;
    assert_eq!(status, 200);
    responses += &reply.to_string();
    assert_eq!(reply["configured"], true);
    assert_eq!(
        reply["secrets"][0]["hint"],
        format!("whsec_…{}", &first[first.len() - 4..])
    );
    // Set replaces: the CLI's secret stopped working at once.
    let body = || event(&evt_id(), "customer.created", fixture("customer"));
    assert_eq!(app.deliver(&a.slug, &a.secret, &body()).await.status(), 400);
    assert_eq!(app.deliver(&a.slug, &first, &body()).await.status(), 200);

    // Rotation: old and new both verify during the grace period; a header with both
    // signatures verifies; after the grace period the old one fails, without a restart.
    let second = format!("whsec_{}", random_hex(16));
    let (status, reply) = app
        .admin(
            &admin_a,
            Method::POST,
            &format!("{base}/rotate"),
            Some(json!({"webhook_secret": second, "previous_expires_in_secs": 2})),
        )
        .await;
    assert_eq!(status, 200, "{reply}");
    responses += &reply.to_string();
    assert_eq!(reply["secrets"].as_array().unwrap().len(), 2);
    assert_eq!(app.deliver(&a.slug, &first, &body()).await.status(), 200);
    assert_eq!(app.deliver(&a.slug, &second, &body()).await.status(), 200);
    let b = body();
    let t = now();
    let both = format!(
        "t={t},v1={},v1={}",
        signature(&first, t, &b),
        signature(&second, t, &b)
    );
    assert_eq!(
        app.deliver_with_header(&a.slug, Some(&both), &b)
            .await
            .status(),
        200
    );
    tokio::time::sleep(Duration::from_millis(2300)).await;
    assert_eq!(app.deliver(&a.slug, &first, &body()).await.status(), 400);
    assert_eq!(app.deliver(&a.slug, &second, &body()).await.status(), 200);
    let (status, _) = app
        .admin(
            &admin_a,
            Method::POST,
            &format!("{base}/rotate"),
            Some(json!({"webhook_secret": second, "previous_expires_in_secs": 90000})),
        )
        .await;
    assert_eq!(status, 422, "at most 24 hours");

    let (_, shown) = app.admin(&admin_a, Method::GET, &base, None).await;
    responses += &shown.to_string();
    let (_, audit) = app
        .admin(
            &admin_a,
            Method::GET,
            &format!("/api/v1/admin/tenants/{}/audit-log", a.slug),
            None,
        )
        .await;
    responses += &audit.to_string();
    let actions: Vec<&str> = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["action"].as_str().unwrap())
        .collect();
    assert!(
        actions.contains(&"payment_config.set") && actions.contains(&"payment_config.rotate"),
        "{actions:?}"
    );

    let (status, _) = app.admin(&admin_a, Method::DELETE, &base, None).await;
    assert_eq!(status, 204);
    assert_eq!(app.deliver(&a.slug, &second, &body()).await.status(), 404);
    let (_, shown) = app.admin(&admin_a, Method::GET, &base, None).await;
    assert_eq!(shown["configured"], false);

    let everything = responses + &app.logs();
    for secret in [&first, &second, &a.secret] {
        assert!(!everything.contains(secret.as_str()), "a secret leaked");
        assert!(
            !everything.contains(&secret["whsec_".len()..]),
            "a secret leaked"
        );
    }
    assert!(!everything.contains(PASSWORD));
}

async fn the_event_log_pages_newest_first_exactly_once_while_events_arrive(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (a, _b, _platform, admin_a) = setup(&app).await;
    let sent = app.deliver_customer_events(&a, 25).await;
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!(
                "/api/v1/admin/tenants/{}/webhook-events?limit=7&cursor={c}",
                a.slug
            ),
            None => format!("/api/v1/admin/tenants/{}/webhook-events?limit=7", a.slug),
        };
        let (status, page) = app.admin(&admin_a, Method::GET, &path, None).await;
        assert_eq!(status, 200);
        for item in page["items"].as_array().unwrap() {
            seen.push((
                item["id"].as_i64().unwrap(),
                item["stripe_event_id"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
            ));
            assert!(item.get("payload").is_none());
        }
        // New events arrive between pages: they are newer, so no page shows them twice.
        app.deliver(
            &a.slug,
            &a.secret,
            &event(&evt_id(), "customer.created", fixture("customer")),
        )
        .await;
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    let ids: Vec<i64> = seen.iter().map(|(id, _)| *id).collect();
    let mut sorted = ids.clone();
    sorted.sort_by(|x, y| y.cmp(x));
    sorted.dedup();
    assert_eq!(ids, sorted, "newest first, each once");
    for id in &sent {
        assert_eq!(seen.iter().filter(|(_, s)| s == id).count(), 1, "{id}");
    }
    // Filters.
    app.deliver_with_header(&a.slug, Some("t=1,v1=00"), "{}")
        .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (_, failed) = app
        .admin(
            &admin_a,
            Method::GET,
            &format!(
                "/api/v1/admin/tenants/{}/webhook-events?status=VERIFICATION_FAILED",
                a.slug
            ),
            None,
        )
        .await;
    let items = failed["items"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    assert!(
        items[0]["error"]
            .as_str()
            .unwrap()
            .contains("no signature matches")
    );
    let (_, typed) = app
        .admin(
            &admin_a,
            Method::GET,
            &format!(
                "/api/v1/admin/tenants/{}/webhook-events?type=customer.created&limit=200",
                a.slug
            ),
            None,
        )
        .await;
    assert!(typed["items"].as_array().unwrap().len() >= 25);
    let (status, _) = app
        .admin(
            &admin_a,
            Method::GET,
            &format!(
                "/api/v1/admin/tenants/{}/webhook-events?status=BOGUS",
                a.slug
            ),
            None,
        )
        .await;
    assert_eq!(status, 400);
    // One event, with its payload.
    let first_id = seen.last().unwrap().0;
    let (status, one) = app
        .admin(
            &admin_a,
            Method::GET,
            &format!("/api/v1/admin/tenants/{}/webhook-events/{first_id}", a.slug),
            None,
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(one["payload"]["object"], "event");
}

async fn failed_events_are_retried_one_by_one_or_in_bulk(backend: Backend) {
    let app = TestApp::spawn_with(
        backend,
        &[
            ("PROCESSING_RETRY_BASE_MS", "50"),
            ("PROCESSING_MAX_ATTEMPTS", "2"),
        ],
    )
    .await;
    let (a, _b, _platform, admin_a) = setup(&app).await;
    let orders = [
        app.create_order(&a, 1000).await,
        app.create_order(&a, 1000).await,
        app.create_order(&a, 1000).await,
    ];
    app.db.break_payments().await;
    let mut ids = Vec::new();
    for order in &orders {
        let id = evt_id();
        app.deliver(
            &a.slug,
            &a.secret,
            &event(
                &id,
                "checkout.session.completed",
                Payment::new(order, 1000).session("paid"),
            ),
        )
        .await;
        assert_eq!(app.settled(&id).await["status"], "FAILED");
        ids.push(id);
    }
    app.db.repair_payments().await;
    let (_, failed) = app
        .admin(
            &admin_a,
            Method::GET,
            &format!(
                "/api/v1/admin/tenants/{}/webhook-events?status=FAILED",
                a.slug
            ),
            None,
        )
        .await;
    let rows = failed["items"].as_array().unwrap();
    assert_eq!(rows.len(), 3);
    let one = rows[0]["id"].as_i64().unwrap();
    let (status, _) = app
        .admin(
            &admin_a,
            Method::POST,
            &format!(
                "/api/v1/admin/tenants/{}/webhook-events/{one}/retry",
                a.slug
            ),
            None,
        )
        .await;
    assert_eq!(status, 200);
    let (status, _) = app
        .admin(
            &admin_a,
            Method::POST,
            &format!(
                "/api/v1/admin/tenants/{}/webhook-events/{one}/retry",
                a.slug
            ),
            None,
        )
        .await;
    assert!(status == 409 || status == 200, "{status}");
    let (status, bulk) = app
        .admin(
            &admin_a,
            Method::POST,
            &format!(
                "/api/v1/admin/tenants/{}/webhook-events/retry?type=checkout.session.completed",
                a.slug
            ),
            None,
        )
        .await;
    assert_eq!(status, 200);
    assert!(bulk["retried"].as_i64().unwrap() >= 1);
    for id in &ids {
        assert_eq!(app.settled(id).await["status"], "COMPLETED");
    }
    for order in &orders {
        assert_eq!(app.order_status(order).await["status"], "PAID");
    }
}

async fn orders_health_and_manual_override(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (a, _b, _platform, admin_a) = setup(&app).await;
    let paid = app.create_order(&a, 2599).await;
    let cash = app.create_order(&a, 1200).await;
    let id = evt_id();
    app.deliver(
        &a.slug,
        &a.secret,
        &event(
            &id,
            "checkout.session.completed",
            Payment::new(&paid, 2599).session("paid"),
        ),
    )
    .await;
    app.settled(&id).await;
    app.deliver(
        &a.slug,
        "whsec_wrong_wrong_wrong",
        &event(&evt_id(), "customer.created", fixture("customer")),
    )
    .await;

    let (_, list) = app
        .admin(
            &admin_a,
            Method::GET,
            &format!("/api/v1/admin/tenants/{}/orders?status=PAID", a.slug),
            None,
        )
        .await;
    let items = list["items"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["order_id"], json!(paid));
    assert_eq!(items[0]["payments"][0]["status"], "succeeded");

    let path = format!("/api/v1/admin/tenants/{}/orders/{cash}/override", a.slug);
    let (status, _) = app
        .admin(
            &admin_a,
            Method::POST,
            &path,
            Some(json!({"status": "PAID", "reason": " "})),
        )
        .await;
    assert_eq!(status, 422, "a reason is required");
    let (status, reply) = app
        .admin(
            &admin_a,
            Method::POST,
            &path,
            Some(json!({"status": "PAID", "reason": "paid in cash at the counter"})),
        )
        .await;
    assert_eq!(status, 200, "{reply}");
    assert_eq!(app.order_status(&cash).await["status"], "PAID");
    // A late expiry does not undo the manual status.
    let mut expired = Payment::new(&cash, 1200).session("unpaid");
    expired["status"] = json!("expired");
    let id = evt_id();
    app.deliver(
        &a.slug,
        &a.secret,
        &event(&id, "checkout.session.expired", expired),
    )
    .await;
    app.settled(&id).await;
    assert_eq!(app.order_status(&cash).await["status"], "PAID");

    tokio::time::sleep(Duration::from_millis(200)).await;
    let (_, health) = app
        .admin(
            &admin_a,
            Method::GET,
            &format!("/api/v1/admin/tenants/{}/health", a.slug),
            None,
        )
        .await;
    assert_eq!(health["configured"], true);
    assert!(health["last_successful_webhook"].is_string());
    assert!(health["last_delivery"]["at"].is_string());
    assert_eq!(health["recent_failures"]["verification_failed"], 1);
    assert_eq!(health["recent_failures"]["no_config"], 0);
    assert_eq!(health["stuck_processing"], 0);
    let (_, audit) = app
        .admin(
            &admin_a,
            Method::GET,
            &format!("/api/v1/admin/tenants/{}/audit-log", a.slug),
            None,
        )
        .await;
    let entry = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["action"] == "order.override")
        .unwrap()
        .clone();
    assert_eq!(entry["detail"]["reason"], "paid in cash at the counter");
    assert!(entry["actor"].as_str().unwrap().starts_with("owner-"));
    assert_eq!(entry["ip"], "127.0.0.1");
}

/// The health page's window is the last 24 hours: the recent failures count only those,
/// and the chart has 24 hourly slots whose counts add up to exactly those deliveries.
async fn health_counts_the_last_day_by_hour_and_status(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (a, b, _platform, admin_a) = setup(&app).await;
    let health = || async {
        let (status, body) = app
            .admin(
                &admin_a,
                Method::GET,
                &format!("/api/v1/admin/tenants/{}/health", a.slug),
                None,
            )
            .await;
        assert_eq!(status, 200, "{body}");
        body
    };
    let quiet = health().await;
    assert_eq!(quiet["last_delivery"], Value::Null, "Stripe never called");
    assert_eq!(quiet["last_successful_webhook"], Value::Null);

    let ids = app.deliver_customer_events(&a, 2).await;
    for id in &ids {
        app.settled(id).await;
    }
    // Two deliveries signed with the wrong secret; one of them happened two days ago.
    for _ in 0..2 {
        let body = event(&evt_id(), "customer.created", fixture("customer"));
        let response = app.deliver(&a.slug, &b.secret, &body).await;
        assert_eq!(response.status(), 400);
    }
    // Another restaurant's failures are not this one's.
    let body = event(&evt_id(), "customer.created", fixture("customer"));
    app.deliver(&b.slug, &a.secret, &body).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let rows = app
        .db
        .query(&format!(
            "SELECT id FROM webhook_event WHERE tenant_slug = '{}' AND status = 'VERIFICATION_FAILED' ORDER BY id",
            a.slug
        ))
        .await;
    assert_eq!(rows.len(), 2);
    let db = app.db.connect().await;
    db.execute_unprepared(&format!(
        "UPDATE webhook_event SET received_at = received_at - {} WHERE id = {}",
        48 * 3600 * 1000,
        rows[0]["id"]
    ))
    .await
    .unwrap();
    db.close().await.ok();

    let health = health().await;
    assert_eq!(health["recent_failures"]["verification_failed"], 1);
    assert_eq!(health["recent_failures"]["no_config"], 0);
    assert_eq!(health["recent_failures"]["failed"], 0);
    assert_eq!(health["last_delivery"]["status"], "VERIFICATION_FAILED");
    assert!(health["last_successful_webhook"].is_string());
    let hours = health["deliveries_per_hour"].as_array().unwrap();
    assert_eq!(hours.len(), 24);
    let total = |status: &str| -> i64 {
        hours
            .iter()
            .map(|h| h["counts"][status].as_i64().unwrap_or(0))
            .sum()
    };
    assert_eq!(total("COMPLETED"), 2);
    assert_eq!(
        total("VERIFICATION_FAILED"),
        1,
        "the old one is outside the chart"
    );
    let newest = hours[23]["hour"].as_str().unwrap();
    let oldest = hours[0]["hour"].as_str().unwrap();
    assert!(oldest < newest, "oldest hour first: {oldest} .. {newest}");
}

async fn platform_admins_create_tenants_admins_and_api_keys(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (_a, _b, platform, _admin_a) = setup(&app).await;
    let slug = format!("new-{}", random_hex(3));
    let (status, created) = app
        .admin(
            &platform,
            Method::POST,
            "/api/v1/admin/tenants",
            Some(json!({"slug": slug, "name": "Nuovo"})),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let (status, _) = app
        .admin(
            &platform,
            Method::POST,
            "/api/v1/admin/tenants",
            Some(json!({"slug": slug, "name": "Again"})),
        )
        .await;
    assert_eq!(status, 409);
    let (status, _) = app
        .admin(
            &platform,
            Method::POST,
            "/api/v1/admin/tenants",
            Some(json!({"slug": "No Good", "name": "x"})),
        )
        .await;
    assert_eq!(status, 422);
    let email = format!("staff-{}@example.com", random_hex(3));
    let (status, user) = app
        .admin(&platform, Method::POST, "/api/v1/admin/users", Some(json!({"email": email, "password": PASSWORD, "role": "tenant_admin", "tenant": slug})))
        .await;
    assert_eq!(status, 201, "{user}");
    assert_eq!(user["tenant"], json!(slug));
    let staff = app.login(&email).await;
    let (status, key) = app
        .admin(
            &staff,
            Method::POST,
            &format!("/api/v1/admin/tenants/{slug}/api-keys"),
            None,
        )
        .await;
    assert_eq!(status, 201);
    let key_text = key["key"].as_str().unwrap().to_string();
    let (_, keys) = app
        .admin(
            &staff,
            Method::GET,
            &format!("/api/v1/admin/tenants/{slug}/api-keys"),
            None,
        )
        .await;
    assert!(
        !keys.to_string().contains(&key_text),
        "a key is shown once only"
    );
    assert!(key_text.starts_with(keys["items"][0]["prefix"].as_str().unwrap()));
    let orders = app.url(&format!("/api/v1/tenants/{slug}/orders"));
    let make = || {
        app.client
            .post(&orders)
            .bearer_auth(&key_text)
            .json(&json!({"amount": 100, "currency": "eur"}))
            .send()
    };
    assert_eq!(make().await.unwrap().status(), 201);
    let (status, _) = app
        .admin(
            &staff,
            Method::DELETE,
            &format!("/api/v1/admin/tenants/{slug}/api-keys/{}", key["id"]),
            None,
        )
        .await;
    assert_eq!(status, 204);
    assert_eq!(
        make().await.unwrap().status(),
        401,
        "a revoked key stops working"
    );
}

async fn keys_rotate_reencrypts_every_secret_and_can_run_again(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let tenants = [app.tenant(), app.tenant(), app.tenant()];
    let new_key = "cd".repeat(32);
    let mut env = app.env.clone();
    env.retain(|(k, _)| k != "PAYMENT_CONFIG_ENC_KEY");
    env.push(("PAYMENT_CONFIG_ENC_KEY".into(), new_key.clone()));
    env.push(("PAYMENT_CONFIG_ENC_KEY_PREVIOUS".into(), ENC_KEY.into()));
    let out = cli(&env, &["keys", "rotate"], None);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("3 secret(s): 3 re-encrypted"), "{stdout}");
    let again = cli(&env, &["keys", "rotate"], None);
    assert!(
        String::from_utf8_lossy(&again.stdout).contains("0 re-encrypted"),
        "idempotent"
    );
    // The new key alone now reads every secret.
    env.retain(|(k, _)| k != "PAYMENT_CONFIG_ENC_KEY_PREVIOUS");
    let check = cli(&env, &["config", "check"], None);
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stdout)
    );
    // And a gateway on the new key verifies with them.
    let replica = TestApp::spawn_on(app.db.clone(), &[("PAYMENT_CONFIG_ENC_KEY", &new_key)]).await;
    for t in &tenants {
        let response = replica
            .deliver(
                &t.slug,
                &t.secret,
                &event(&evt_id(), "customer.created", fixture("customer")),
            )
            .await;
        assert_eq!(response.status(), 200);
    }
}

on_both_backends!(
    login_gives_the_same_401_for_unknown_accounts_and_wrong_passwords,
    password_guessing_is_throttled_per_account_and_per_address,
    a_tenant_admin_sees_only_its_own_restaurant,
    forged_and_stale_tokens_are_refused,
    secrets_are_managed_without_ever_being_shown,
    the_event_log_pages_newest_first_exactly_once_while_events_arrive,
    failed_events_are_retried_one_by_one_or_in_bulk,
    orders_health_and_manual_override,
    health_counts_the_last_day_by_hour_and_status,
    platform_admins_create_tenants_admins_and_api_keys,
    keys_rotate_reencrypts_every_secret_and_can_run_again,
);

/// Two gateways on one PostgreSQL: a secret replaced through one is refused by the
/// other within a second.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_through_one_replica_is_honoured_by_another_within_a_second() {
    let one = TestApp::spawn(Backend::Postgres).await;
    let two = TestApp::spawn_on(one.db.clone(), &[]).await;
    let (a, _b, _platform, admin_a) = setup(&one).await;
    let body = || event(&evt_id(), "customer.created", fixture("customer"));
    assert_eq!(
        two.deliver(&a.slug, &a.secret, &body()).await.status(),
        200,
        "replica two has the secret cached"
    );
    let fresh = format!("whsec_{}", random_hex(16));
    let (status, _) = one
        .admin(
            &admin_a,
            Method::PUT,
            &format!("/api/v1/admin/tenants/{}/payment-config", a.slug),
            Some(json!({"webhook_secret": fresh})),
        )
        .await;
    assert_eq!(status, 200);
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert_eq!(two.deliver(&a.slug, &a.secret, &body()).await.status(), 400);
    assert_eq!(two.deliver(&a.slug, &fresh, &body()).await.status(), 200);
    let (status, _) = one
        .admin(
            &admin_a,
            Method::DELETE,
            &format!("/api/v1/admin/tenants/{}/payment-config", a.slug),
            None,
        )
        .await;
    assert_eq!(status, 204);
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert_eq!(two.deliver(&a.slug, &fresh, &body()).await.status(), 404);
}
