//! Tenant isolation: a tenant admin sees only its own restaurant, on every route.

use super::setup;
use crate::on_both_backends;
use crate::support::*;
use reqwest::Method;
use serde_json::{Value, json};

async fn a_tenant_admin_sees_only_its_own_restaurant(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (a, b, platform, admin_a) = setup(&app).await;
    let Reply { body: list, .. } = app.as_admin(&admin_a).get("/api/v1/admin/tenants").await;
    let slugs: Vec<&str> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["slug"].as_str().unwrap())
        .collect();
    assert_eq!(slugs, [a.slug.as_str()]);
    let Reply { body: list, .. } = app.as_admin(&platform).get("/api/v1/admin/tenants").await;
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
            let Reply {
                status,
                body: reply,
            } = app
                .as_admin(&admin_a)
                .call(method.clone(), &path, body.clone())
                .await;
            assert_eq!(status, 404, "{method} {path}: {reply}");
            assert_eq!(
                reply,
                json!({"error": "tenant_not_found"}),
                "{method} {path}"
            );
        }
        let own = format!("/api/v1/admin/tenants/{}/{route}", a.slug);
        let Reply { status, .. } = app
            .as_admin(&admin_a)
            .call(method.clone(), &own, body.clone())
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
    let Reply { status, .. } = app
        .as_admin(&admin_a)
        .post(
            "/api/v1/admin/tenants",
            json!({"slug": "mine-too", "name": "X"}),
        )
        .await;
    assert_eq!(status, 403);
    let me = app.as_admin(&admin_a).get("/api/v1/admin/me").await.body;
    for role in ["platform_admin", "tenant_admin"] {
        let body =
            json!({"email": me["email"], "password": PASSWORD, "role": role, "tenant": null});
        let Reply { status, .. } = app
            .as_admin(&admin_a)
            .post("/api/v1/admin/users", body)
            .await;
        assert_eq!(status, 403);
    }
    let Reply { status, .. } = app.as_admin(&admin_a).get("/api/v1/admin/audit-log").await;
    assert_eq!(status, 403);
    let Reply { status, .. } = app
        .as_admin(&admin_a)
        .get("/api/v1/admin/unrouted-deliveries")
        .await;
    assert_eq!(status, 403);
    // A delivery to a mistyped slug is visible to platform admins only.
    let typo = format!("{}-typo", a.slug);
    let body = event(&evt_id(), "customer.created", fixture("customer"));
    assert_eq!(app.deliver(&typo, &a.secret, &body).await.status(), 404);
    app.recorded(&typo, "NO_CONFIG", 1).await;
    let Reply {
        status,
        body: unrouted,
    } = app
        .as_admin(&platform)
        .get("/api/v1/admin/unrouted-deliveries")
        .await;
    assert_eq!(status, 200);
    assert_eq!(unrouted["items"][0]["tenant_slug"], json!(typo));
    assert_eq!(unrouted["items"][0]["status"], "NO_CONFIG");
    let Reply { body: me_again, .. } = app.as_admin(&admin_a).get("/api/v1/admin/me").await;
    assert_eq!(me_again["role"], "tenant_admin");
}

on_both_backends!(a_tenant_admin_sees_only_its_own_restaurant,);
