//! The admin settings API (CONTRACT §5): accounts and roles, tenants, payment configs,
//! API keys, the webhook event log, orders, health and the audit log.
//!
//! Every tenant-scoped route takes its tenant from the `TenantAccess` extractor, which
//! answers 404 for a tenant the caller may not see.

pub mod accounts;
pub mod api_keys;
pub mod audit;
pub mod auth;
pub mod events;
pub mod health;
pub mod notifications;
pub mod orders;
pub mod payment_config;
pub mod stripe;

use super::AppState;
use axum::Router;
use axum::routing::{delete, get, post, put};

pub const LOGIN_PATH: &str = "/api/v1/admin/login";

/// Every admin route but login (which has its own, stricter, limit).
pub fn router() -> Router<AppState> {
    const T: &str = "/api/v1/admin/tenants/{tenant}";
    Router::new()
        .route("/api/v1/admin/me", get(accounts::me))
        .route("/api/v1/admin/me/password", put(accounts::change_password))
        .route("/api/v1/admin/logout", post(accounts::logout))
        .route(
            "/api/v1/admin/tenants",
            get(accounts::list_tenants).post(accounts::create_tenant),
        )
        .route("/api/v1/admin/users", post(accounts::create_user))
        .route("/api/v1/admin/audit-log", get(audit::full_log))
        .route("/api/v1/admin/unrouted-deliveries", get(events::unrouted))
        .route(
            &format!("{T}/payment-config"),
            get(payment_config::show)
                .put(payment_config::put)
                .delete(payment_config::delete),
        )
        .route(
            &format!("{T}/payment-config/rotate"),
            post(payment_config::rotate),
        )
        .route(
            &format!("{T}/api-keys"),
            get(api_keys::list).post(api_keys::create),
        )
        .route(&format!("{T}/api-keys/{{id}}"), delete(api_keys::revoke))
        .route(&format!("{T}/webhook-events"), get(events::list))
        .route(
            &format!("{T}/webhook-events/retry"),
            post(events::retry_all),
        )
        .route(&format!("{T}/webhook-events/{{id}}"), get(events::show))
        .route(
            &format!("{T}/webhook-events/{{id}}/retry"),
            post(events::retry),
        )
        .route(&format!("{T}/orders"), get(orders::list))
        .route(
            &format!("{T}/orders/{{order_id}}/override"),
            post(orders::override_status),
        )
        .route(&format!("{T}/health"), get(health::show))
        .route(&format!("{T}/audit-log"), get(audit::tenant_log))
        .route(
            &format!("{T}/stripe-api-key"),
            get(stripe::show).put(stripe::put).delete(stripe::delete),
        )
        .route(&format!("{T}/recover"), post(stripe::recover))
        .route(
            &format!("{T}/notification-endpoints"),
            get(notifications::list).post(notifications::add),
        )
        .route(
            &format!("{T}/notification-endpoints/{{id}}"),
            delete(notifications::remove),
        )
        .route(
            &format!("{T}/notification-endpoints/{{id}}/deliveries"),
            get(notifications::deliveries),
        )
        .route(
            &format!("{T}/notification-endpoints/{{id}}/deliveries/{{delivery}}/send-again"),
            post(notifications::send_again),
        )
        .route(&format!("{T}/diagnosis"), get(stripe::diagnose))
}
