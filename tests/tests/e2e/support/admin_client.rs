//! Admin accounts, and a client for the admin API that says what it calls.

use super::{TestApp, random_hex};
use reqwest::Method;
use serde_json::{Value, json};

pub const PASSWORD: &str = "correct horse battery staple";

/// An answer of the admin API: its status and its JSON body (or the text, as a string).
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub body: Value,
}

impl std::ops::Index<&str> for Reply {
    type Output = Value;
    fn index(&self, key: &str) -> &Value {
        &self.body[key]
    }
}

/// The admin API as one signed-in admin sees it.
pub struct AdminClient<'a> {
    app: &'a TestApp,
    token: String,
}

impl TestApp {
    pub fn create_admin(&self, email: &str, role: &str, tenant: Option<&str>) {
        let mut args = vec!["admin", "create", "--email", email, "--role", role];
        if let Some(t) = tenant {
            args.extend(["--tenant", t]);
        }
        self.cli_ok(&args, Some(PASSWORD));
    }

    /// A new platform admin (a fresh address), signed in; the token.
    pub async fn platform_admin(&self) -> String {
        let email = format!("ops-{}@example.com", random_hex(3));
        self.create_admin(&email, "platform_admin", None);
        self.login(&email).await
    }

    /// Signs in with `PASSWORD`; the token.
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

    /// The admin API with this token.
    pub fn as_admin(&self, token: &str) -> AdminClient<'_> {
        AdminClient {
            app: self,
            token: token.to_string(),
        }
    }
}

impl AdminClient<'_> {
    pub async fn call(&self, method: Method, path: &str, body: Option<Value>) -> Reply {
        let mut request = self
            .app
            .client
            .request(method, self.app.url(path))
            .bearer_auth(&self.token);
        if let Some(b) = body {
            request = request.json(&b);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        Reply {
            status,
            body: serde_json::from_str(&text).unwrap_or(Value::String(text)),
        }
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.call(Method::GET, path, None).await
    }

    pub async fn post(&self, path: &str, body: Value) -> Reply {
        self.call(Method::POST, path, Some(body)).await
    }

    pub async fn put(&self, path: &str, body: Value) -> Reply {
        self.call(Method::PUT, path, Some(body)).await
    }

    pub async fn delete(&self, path: &str) -> Reply {
        self.call(Method::DELETE, path, None).await
    }

    /// `GET /api/v1/admin/tenants/{slug}/{route}`
    pub async fn tenant_get(&self, slug: &str, route: &str) -> Reply {
        self.get(&format!("/api/v1/admin/tenants/{slug}/{route}"))
            .await
    }

    /// `POST /api/v1/admin/tenants/{slug}/{route}`
    pub async fn tenant_post(&self, slug: &str, route: &str, body: Value) -> Reply {
        self.post(&format!("/api/v1/admin/tenants/{slug}/{route}"), body)
            .await
    }

    /// `PUT …/payment-config` with a new secret.
    pub async fn set_secret(&self, slug: &str, secret: &str) -> Reply {
        self.put(
            &format!("/api/v1/admin/tenants/{slug}/payment-config"),
            json!({"webhook_secret": secret}),
        )
        .await
    }

    /// `GET …/webhook-events?{query}`: the items.
    pub async fn events(&self, slug: &str, query: &str) -> Vec<Value> {
        let reply = self
            .tenant_get(slug, &format!("webhook-events?{query}"))
            .await;
        assert_eq!(reply.status, 200, "{:?}", reply.body);
        reply["items"].as_array().unwrap().clone()
    }

    /// `GET …/health`
    pub async fn health(&self, slug: &str) -> Value {
        let reply = self.tenant_get(slug, "health").await;
        assert_eq!(reply.status, 200, "{:?}", reply.body);
        reply.body
    }
}
