//! The OpenAPI document, generated from the handlers' annotations and served at
//! `/api/v1/openapi.json`.

use std::sync::Arc;
use utoipa::openapi::path::Operation;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
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
    servers((url = "/", description = "this gateway (the document is served by it)")),
    modifiers(&Security)
)]
struct Base;

/// The whole document: `Base` with the router's paths and schemas, and the answers
/// that every operation of a kind can give (`common_answers`).
pub fn document(routes: utoipa::openapi::OpenApi) -> utoipa::openapi::OpenApi {
    let mut document = Base::openapi().merge_from(routes);
    for (path, item) in document.paths.paths.iter_mut() {
        let operations = [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
        ];
        for operation in operations.into_iter().flatten() {
            common_answers(path, operation);
        }
    }
    document
}

/// Routes that answer without the database: no 503 from them.
const WITHOUT_STORAGE: [&str; 3] = ["/health", "/metrics", "/api/v1/openapi.json"];

/// The statuses an operation can give by what it is, written once here instead of on
/// each handler: the rate limit on every route; storage trouble on every route that
/// reads or writes; an unreadable path, query or body; and the sign-in an
/// authenticated route asks for. A status a handler documents itself keeps its words.
fn common_answers(path: &str, operation: &mut Operation) {
    let security = serde_json::to_string(&operation.security).unwrap_or_default();
    let has_input = operation.parameters.as_ref().is_some_and(|p| !p.is_empty())
        || operation.request_body.is_some();
    let mut answers: Vec<(&str, &str)> = vec![(
        "429",
        "`rate_limited`: too many requests from this client (or for this tenant); see Retry-After",
    )];
    if !WITHOUT_STORAGE.contains(&path) {
        answers.push((
            "503",
            "`storage_unavailable`: the database cannot answer now; retry (Stripe does by itself)",
        ));
        answers.push((
            "500",
            "`internal`: a bug, logged with the request id and counted in gateway_internal_errors_total",
        ));
    }
    if has_input {
        answers.push((
            "400",
            "`invalid_request`, `invalid_filter` or `invalid_cursor`: a path parameter, query or body that cannot be read, with the reason",
        ));
    }
    if operation.request_body.is_some() {
        answers.push(("408", "`body_timeout`: the body did not arrive in time"));
        answers.push((
            "413",
            "`payload_too_large`: the body is over the route's limit",
        ));
        answers.push((
            "422",
            "`invalid_value` (or a more precise code): a well-formed body whose values are refused, with the reason",
        ));
    }
    if path.contains('{') {
        answers.push((
            "404",
            "`tenant_not_found` (or the named resource's own `…_not_found`): nothing by that name here",
        ));
    }
    if security.contains("bearer") || security.contains("api_key") {
        answers.push((
            "401",
            "`invalid_token` or `invalid_api_key`: no credentials, or ones that are not (or no longer) valid",
        ));
    }
    if security.contains("bearer") {
        answers.push((
            "403",
            "`platform_admin_only`: a tenant admin asked for what only platform admins may do",
        ));
    }
    for (status, description) in answers {
        operation
            .responses
            .responses
            .entry(status.to_string())
            .or_insert_with(|| {
                ResponseBuilder::new()
                    .description(description)
                    .content(
                        "application/json",
                        ContentBuilder::new()
                            .schema(Some(Ref::from_schema_name("ErrorBody")))
                            .build(),
                    )
                    .build()
                    .into()
            });
    }
}

/// `GET /api/v1/openapi.json`
#[utoipa::path(get, path = "/api/v1/openapi.json", tag = "operations", responses((status = 200, description = "this document: an OpenAPI 3.1 document, whose schema is the OpenAPI specification's own")))]
pub async fn openapi_json(
    axum::Extension(document): axum::Extension<Arc<utoipa::openapi::OpenApi>>,
) -> axum::Json<Arc<utoipa::openapi::OpenApi>> {
    axum::Json(document)
}
