//! The settings panel, embedded in the binary and served at `/admin/` with a strict
//! Content-Security-Policy: scripts and styles only from this origin, no inline code,
//! no frames, no third parties.

use super::AppState;
use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;

const INDEX: &str = include_str!("../../../admin-ui/index.html");
const SCRIPT: &str = include_str!("../../../admin-ui/app.js");
const STYLE: &str = include_str!("../../../admin-ui/app.css");

/// One ES module of the panel, embedded: its path under `/admin/js/` and its text.
macro_rules! module {
    ($path:literal) => {
        ($path, include_str!(concat!("../../../admin-ui/js/", $path)))
    };
}

/// The panel's ES modules.
const MODULES: [(&str, &str); 11] = [
    module!("api.js"),
    module!("dom.js"),
    module!("views/diagnosis.js"),
    module!("views/events.js"),
    module!("views/health.js"),
    module!("views/keys.js"),
    module!("views/notifications.js"),
    module!("views/orders.js"),
    module!("views/settings.js"),
    module!("views/subscriptions.js"),
    module!("views/tenants.js"),
];

const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; \
                   img-src 'self' data:; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin", get(redirect))
        .route("/admin/", get(index))
        .route("/admin/app.js", get(script))
        .route("/admin/app.css", get(style))
        .route("/admin/js/{*path}", get(module))
}

fn asset(body: &'static str, content_type: &'static str) -> Response {
    let mut response = (StatusCode::OK, body).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

pub async fn index() -> Response {
    asset(INDEX, "text/html; charset=utf-8")
}

pub async fn script() -> Response {
    asset(SCRIPT, "text/javascript; charset=utf-8")
}

pub async fn module(Path(path): Path<String>) -> Response {
    match MODULES.iter().find(|(name, _)| *name == path) {
        Some((_, body)) => asset(body, "text/javascript; charset=utf-8"),
        None => super::operations::not_found().await,
    }
}

pub async fn style() -> Response {
    asset(STYLE, "text/css; charset=utf-8")
}

pub async fn redirect() -> Redirect {
    Redirect::permanent("/admin/")
}
