//! The admin settings API (CONTRACT §5): accounts and roles, tenants, payment configs,
//! API keys, the webhook event log, orders, health and the audit log.
//!
//! Every tenant-scoped route takes its tenant from the `TenantAccess` extractor, which
//! answers 404 for a tenant the caller may not see.

pub mod accounts;
pub mod api_keys;
pub mod audit;
pub mod auth;
pub mod connect;
pub mod events;
pub mod health;
pub mod notifications;
pub mod orders;
pub mod payment_config;
pub mod stripe;
pub mod subscriptions;

use super::AppState;
use utoipa_axum::{router::OpenApiRouter, routes};

/// Every admin route but login (which has its own, stricter, limit), each at the path
/// its `#[utoipa::path]` names.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(accounts::me))
        .routes(routes!(accounts::change_password))
        .routes(routes!(accounts::logout))
        .routes(routes!(accounts::list_tenants, accounts::create_tenant))
        .routes(routes!(accounts::create_user))
        .routes(routes!(audit::full_log))
        .routes(routes!(audit::tenant_log))
        .routes(routes!(events::unrouted))
        .routes(routes!(
            payment_config::show,
            payment_config::put,
            payment_config::delete
        ))
        .routes(routes!(payment_config::rotate))
        .routes(routes!(api_keys::list, api_keys::create))
        .routes(routes!(api_keys::revoke))
        .routes(routes!(events::list))
        .routes(routes!(events::retry_all))
        .routes(routes!(events::show))
        .routes(routes!(events::retry))
        .routes(routes!(orders::list))
        .routes(routes!(orders::override_status))
        .routes(routes!(health::show))
        .routes(routes!(stripe::show, stripe::put, stripe::delete))
        .routes(routes!(stripe::recover))
        .routes(routes!(stripe::diagnose))
        .routes(routes!(connect::show, connect::put))
        .routes(routes!(connect::rotate))
        .routes(routes!(connect::link, connect::unlink))
        .routes(routes!(notifications::list, notifications::add))
        .routes(routes!(notifications::remove))
        .routes(routes!(notifications::deliveries))
        .routes(routes!(notifications::send_again))
        .routes(routes!(notifications::pause))
        .routes(routes!(notifications::resume))
        .routes(routes!(notifications::resend))
        .routes(routes!(subscriptions::list))
}

/// Sign-in, limited on its own.
pub fn login() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(accounts::login))
}
