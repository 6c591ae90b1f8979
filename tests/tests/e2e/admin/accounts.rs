//! Admin accounts: sign-in, password guessing, forged tokens, creating tenants and admins.

use super::setup;
use crate::on_both_backends;
use crate::support::*;
use serde_json::{Value, json};

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
    let Reply { status, body: me } = app.as_admin(&token).get("/api/v1/admin/me").await;
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
        let Reply {
            status,
            body: reply,
        } = app.as_admin(&token).get("/api/v1/admin/me").await;
        assert_eq!(status, 401, "{what}");
        assert_eq!(reply, json!({"error": "invalid_token"}));
    }
    // A token for a deleted admin.
    let db = app.db.connect().await;
    use sea_orm::ConnectionTrait;
    db.execute_unprepared("DELETE FROM admin_user WHERE email = 'ops@example.com'")
        .await
        .unwrap();
    let Reply { status, .. } = app.as_admin(&token).get("/api/v1/admin/me").await;
    assert_eq!(status, 401);
}

async fn platform_admins_create_tenants_admins_and_api_keys(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (_a, _b, platform, _admin_a) = setup(&app).await;
    let slug = format!("new-{}", random_hex(3));
    let Reply {
        status,
        body: created,
    } = app
        .as_admin(&platform)
        .post(
            "/api/v1/admin/tenants",
            json!({"slug": slug, "name": "Nuovo"}),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let Reply { status, .. } = app
        .as_admin(&platform)
        .post(
            "/api/v1/admin/tenants",
            json!({"slug": slug, "name": "Again"}),
        )
        .await;
    assert_eq!(status, 409);
    let Reply { status, .. } = app
        .as_admin(&platform)
        .post(
            "/api/v1/admin/tenants",
            json!({"slug": "No Good", "name": "x"}),
        )
        .await;
    assert_eq!(status, 422);
    let email = format!("staff-{}@example.com", random_hex(3));
    let Reply { status, body: user } = app
        .as_admin(&platform)
        .post(
            "/api/v1/admin/users",
            json!({"email": email, "password": PASSWORD, "role": "tenant_admin", "tenant": slug}),
        )
        .await;
    assert_eq!(status, 201, "{user}");
    assert_eq!(user["tenant"], json!(slug));
    let staff = app.login(&email).await;
    let Reply { status, body: key } = app
        .as_admin(&staff)
        .post(
            &format!("/api/v1/admin/tenants/{slug}/api-keys"),
            serde_json::json!({}),
        )
        .await;
    assert_eq!(status, 201);
    let key_text = key["key"].as_str().unwrap().to_string();
    let Reply { body: keys, .. } = app
        .as_admin(&staff)
        .get(&format!("/api/v1/admin/tenants/{slug}/api-keys"))
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
    let Reply { status, .. } = app
        .as_admin(&staff)
        .delete(&format!(
            "/api/v1/admin/tenants/{slug}/api-keys/{}",
            key["id"]
        ))
        .await;
    assert_eq!(status, 204);
    assert_eq!(
        make().await.unwrap().status(),
        401,
        "a revoked key stops working"
    );
}

on_both_backends!(
    login_gives_the_same_401_for_unknown_accounts_and_wrong_passwords,
    password_guessing_is_throttled_per_account_and_per_address,
    forged_and_stale_tokens_are_refused,
    platform_admins_create_tenants_admins_and_api_keys,
);
