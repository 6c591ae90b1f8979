//! The OpenAPI document, generated from the handlers' annotations and served at
//! `/api/v1/openapi.json`.

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some("a token from POST /api/v1/admin/login"))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "api_key",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("a tenant API key (gk_…)"))
                    .build(),
            ),
        );
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Stripe webhook gateway",
        description = "Multi-tenant Stripe webhook gateway for restaurant platforms."
    ),
    paths(
        crate::webhooks::route::receive,
        crate::orders::route::create,
        crate::orders::route::status,
        crate::health::health,
        crate::health::ready,
        crate::health::metrics,
        openapi_json,
        crate::admin::accounts::login,
        crate::admin::accounts::me,
        crate::admin::accounts::list_tenants,
        crate::admin::accounts::create_tenant,
        crate::admin::accounts::create_user,
        crate::admin::audit::full_log,
        crate::admin::audit::tenant_log,
        crate::admin::payment_config::show,
        crate::admin::payment_config::put,
        crate::admin::payment_config::rotate,
        crate::admin::payment_config::delete,
        crate::admin::api_keys::create,
        crate::admin::api_keys::list,
        crate::admin::api_keys::revoke,
        crate::admin::events::list,
        crate::admin::events::show,
        crate::admin::events::retry,
        crate::admin::events::retry_all,
        crate::admin::events::unrouted,
        crate::admin::orders::list,
        crate::admin::orders::override_status,
        crate::admin::health::show,
    ),
    modifiers(&Security)
)]
pub struct ApiDoc;

/// `GET /api/v1/openapi.json`
#[utoipa::path(get, path = "/api/v1/openapi.json", tag = "operations", responses((status = 200, description = "this document")))]
pub async fn openapi_json() -> axum::Json<utoipa::openapi::OpenApi> {
    axum::Json(ApiDoc::openapi())
}
