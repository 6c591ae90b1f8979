//! Admin tokens that end (CONTRACT §10): signing out ends the token it is called with;
//! a password change ends every earlier token of that admin.

use crate::on_both_backends;
use crate::support::*;
use serde_json::json;

async fn signing_out_ends_that_token_and_no_other(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.create_admin("chef@example.com", "platform_admin", None);
    let (laptop, phone) = (
        app.login("chef@example.com").await,
        app.login("chef@example.com").await,
    );
    assert_ne!(laptop, phone);
    assert_eq!(
        app.as_admin(&laptop).get("/api/v1/admin/me").await.status,
        200
    );
    let out = app
        .as_admin(&laptop)
        .post("/api/v1/admin/logout", json!({}))
        .await;
    assert_eq!(out.status, 204, "{:?}", out.body);
    let after = app.as_admin(&laptop).get("/api/v1/admin/me").await;
    assert_eq!(after.status, 401);
    assert_eq!(after["error"], "invalid_token");
    // Signing out again with it is refused like any other use.
    let again = app
        .as_admin(&laptop)
        .post("/api/v1/admin/logout", json!({}))
        .await;
    assert_eq!(again.status, 401);
    // The phone's token still works, and so does a new sign-in.
    assert_eq!(
        app.as_admin(&phone).get("/api/v1/admin/me").await.status,
        200
    );
    let fresh = app.login("chef@example.com").await;
    assert_eq!(
        app.as_admin(&fresh)
            .get("/api/v1/admin/tenants")
            .await
            .status,
        200
    );
}

async fn a_password_change_ends_every_earlier_token(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.create_admin("chef@example.com", "platform_admin", None);
    app.create_admin("sous@example.com", "platform_admin", None);
    let (first, second) = (
        app.login("chef@example.com").await,
        app.login("chef@example.com").await,
    );
    let colleague = app.login("sous@example.com").await;
    let path = "/api/v1/admin/me/password";
    // The current password must be right, and the new one long enough.
    let wrong = app
        .as_admin(&first)
        .put(
            path,
            json!({"current_password": "not it at all", "new_password": "a brand new passphrase"}),
        )
        .await;
    assert_eq!(wrong.status, 401, "{:?}", wrong.body);
    assert_eq!(wrong["error"], "invalid_credentials");
    let short = app
        .as_admin(&first)
        .put(
            path,
            json!({"current_password": PASSWORD, "new_password": "short"}),
        )
        .await;
    assert_eq!(short.status, 422, "{:?}", short.body);
    assert_eq!(
        app.as_admin(&second).get("/api/v1/admin/me").await.status,
        200,
        "nothing changed yet"
    );

    let changed = app
        .as_admin(&first)
        .put(
            path,
            json!({"current_password": PASSWORD, "new_password": "a brand new passphrase"}),
        )
        .await;
    assert_eq!(changed.status, 200, "{:?}", changed.body);
    let renewed = changed["token"].as_str().unwrap().to_string();
    for old in [&first, &second] {
        assert_eq!(app.as_admin(old).get("/api/v1/admin/me").await.status, 401);
    }
    assert_eq!(
        app.as_admin(&renewed).get("/api/v1/admin/me").await.status,
        200
    );
    assert_eq!(
        app.as_admin(&colleague)
            .get("/api/v1/admin/me")
            .await
            .status,
        200,
        "another admin's tokens are untouched"
    );
    // The old password no longer signs in; the new one does.
    let login = |password: &str| {
        app.client
            .post(app.url("/api/v1/admin/login"))
            .json(&json!({"email": "chef@example.com", "password": password}))
            .send()
    };
    assert_eq!(login(PASSWORD).await.unwrap().status(), 401);
    assert_eq!(login("a brand new passphrase").await.unwrap().status(), 200);
    // Audited, and neither password is in it or in the log.
    let audit = app.as_admin(&renewed).get("/api/v1/admin/audit-log").await;
    let text = audit.body.to_string();
    assert!(text.contains("admin.password_change"), "{text}");
    let everything = text + &app.logs();
    assert!(!everything.contains("a brand new passphrase"));
    assert!(!everything.contains(PASSWORD));
}

on_both_backends!(
    signing_out_ends_that_token_and_no_other,
    a_password_change_ends_every_earlier_token,
);
