//! The admin settings API (CONTRACT §5): roles, isolation, tokens, secrets, event log.

mod accounts;
mod events;
mod isolation;
mod orders;
mod secrets;
mod sessions;

use crate::support::*;

impl TestApp {
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
}

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
