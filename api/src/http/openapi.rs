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
        super::webhooks::receive,
        super::orders::create,
        super::orders::status,
        super::operations::health,
        super::operations::ready,
        super::operations::metrics,
        openapi_json,
        super::admin::accounts::login,
        super::admin::accounts::me,
        super::admin::accounts::logout,
        super::admin::accounts::change_password,
        super::admin::accounts::list_tenants,
        super::admin::accounts::create_tenant,
        super::admin::accounts::create_user,
        super::admin::audit::full_log,
        super::admin::audit::tenant_log,
        super::admin::payment_config::show,
        super::admin::payment_config::put,
        super::admin::payment_config::rotate,
        super::admin::payment_config::delete,
        super::admin::api_keys::create,
        super::admin::api_keys::list,
        super::admin::api_keys::revoke,
        super::admin::events::list,
        super::admin::events::show,
        super::admin::events::retry,
        super::admin::events::retry_all,
        super::admin::events::unrouted,
        super::admin::orders::list,
        super::admin::orders::override_status,
        super::admin::health::show,
        super::admin::stripe::show,
        super::admin::stripe::put,
        super::admin::stripe::delete,
        super::admin::stripe::recover,
        super::admin::stripe::diagnose,
        super::admin::notifications::add,
        super::admin::notifications::list,
        super::admin::notifications::remove,
        super::admin::notifications::deliveries,
        super::admin::notifications::send_again,
    ),
    modifiers(&Security)
)]
pub struct ApiDoc;

/// `GET /api/v1/openapi.json`
#[utoipa::path(get, path = "/api/v1/openapi.json", tag = "operations", responses((status = 200, description = "this document: an OpenAPI 3.1 document, whose schema is the OpenAPI specification's own")))]
pub async fn openapi_json() -> axum::Json<utoipa::openapi::OpenApi> {
    axum::Json(ApiDoc::openapi())
}
