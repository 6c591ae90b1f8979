//! The OpenAPI document, generated from the handlers' annotations and served at
//! `/api/v1/openapi.json`.

use std::sync::Arc;
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

/// What the document says beyond its paths: the title and the security schemes. The
/// paths come from the router (`http::router`), where each is declared once.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Stripe webhook gateway",
        description = "Multi-tenant Stripe webhook gateway for restaurant platforms."
    ),
    modifiers(&Security)
)]
struct Base;

/// The whole document: `Base` with the router's paths and schemas.
pub fn document(routes: utoipa::openapi::OpenApi) -> utoipa::openapi::OpenApi {
    Base::openapi().merge_from(routes)
}

/// `GET /api/v1/openapi.json`
#[utoipa::path(get, path = "/api/v1/openapi.json", tag = "operations", responses((status = 200, description = "this document: an OpenAPI 3.1 document, whose schema is the OpenAPI specification's own")))]
pub async fn openapi_json(
    axum::Extension(document): axum::Extension<Arc<utoipa::openapi::OpenApi>>,
) -> axum::Json<Arc<utoipa::openapi::OpenApi>> {
    axum::Json(document)
}
