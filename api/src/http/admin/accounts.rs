//! Login, the caller, tenants and admin accounts.

use super::auth::{self, Admin, PlatformAdmin};
use crate::clock::ms_to_rfc3339;
use crate::http::AppState;
use crate::http::client_ip::ClientIp;
use crate::http::error::{Error, ErrorBody, ErrorCode, Result, respond};
use crate::http::extract::{ApiJson, Items};
use crate::http::ratelimit::refused;
use crate::tenants::admins::{self, Role};
use crate::tenants::{self, TenantSlug};
use axum::Extension;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use entity::tenant;
use serde::{Deserialize, Serialize};

#[derive(Deserialize, utoipa::ToSchema)]
pub struct Login {
    email: String,
    password: String,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct Token {
    /// A bearer token for the admin API.
    token: String,
    #[schema(format = DateTime)]
    expires_at: String,
}

/// `POST /api/v1/admin/login`: the same 401 for an unknown account and a wrong password,
/// in the same time; throttled per address (route limit) and per account.
#[utoipa::path(post, path = "/api/v1/admin/login", tag = "admin", request_body = Login, responses(
    (status = 200, description = "a token for ADMIN_TOKEN_TTL_SECS (one hour by default)", body = Token),
    (status = 401, description = "`invalid_credentials`, for an unknown account and a wrong password alike", body = ErrorBody),
    (status = 429, description = "too many attempts for this address or account, or LOGIN_CONCURRENCY sign-ins at once; see Retry-After", body = ErrorBody)))]
pub async fn login(
    State(app): State<AppState>,
    Extension(client): Extension<ClientIp>,
    ApiJson(body): ApiJson<Login>,
) -> Result<Response> {
    // Not an email: no account has it. Checked first, so that the limiter below keys
    // on at most 254 bytes, whatever was sent.
    let Ok(email) = admins::validate_email(&body.email) else {
        return Err(ErrorCode::InvalidCredentials.into());
    };
    // Per account *and* address: guessing from one address cannot lock the admin out
    // of signing in from another (the route limit counts each address on its own).
    if let Err(not_until) = app
        .login_limiter
        .check_key(&(email.clone(), client.limit_key()))
    {
        return Ok(refused(not_until));
    }
    let row = admins::find_by_email(&app.db, &email).await?;
    // At most LOGIN_CONCURRENCY checks at once (a few more wait), however many
    // addresses ask: the permit goes with the check, so one that outlives its request
    // still counts.
    let Some(permit) = app.password_checks.turn().await else {
        return Ok(busy());
    };
    let password = body.password;
    let hash = row.as_ref().map_or(admins::dummy_hash().to_string(), |r| {
        r.password_hash.clone()
    });
    let ok = tokio::task::spawn_blocking(move || {
        let ok = admins::verify_password(&password, &hash);
        drop(permit);
        ok
    })
    .await
    .unwrap_or(false);
    match row {
        Some(admin) if ok => Ok(token_for(&app, &admin)),
        _ => {
            tracing::warn!("admin login failed");
            Err(ErrorCode::InvalidCredentials.into())
        }
    }
}

/// `POST /api/v1/admin/logout`: the token it is called with stops working now.
#[utoipa::path(post, path = "/api/v1/admin/logout", tag = "admin", security(("bearer" = [])), responses(
    (status = 204, description = "signed out: this token is refused from now on"),
    (status = 401, description = "`invalid_token`", body = ErrorBody)))]
pub async fn logout(State(app): State<AppState>, admin: Admin) -> Result<StatusCode> {
    admins::revoke(&app.db, admin.id, &admin.token_id, admin.token_expires).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct PasswordChange {
    current_password: String,
    /// 12 to 1024 characters.
    #[schema(min_length = 12, max_length = 1024)]
    new_password: String,
}

/// `PUT /api/v1/admin/me/password`: every token of this admin issued before ends
/// (the one it is called with too); the answer carries a fresh one.
#[utoipa::path(put, path = "/api/v1/admin/me/password", tag = "admin", security(("bearer" = [])), request_body = PasswordChange, responses(
    (status = 200, description = "changed; earlier tokens no longer work, this new one does", body = Token),
    (status = 401, description = "`invalid_token`, or `invalid_credentials` for a wrong current password", body = ErrorBody),
    (status = 422, description = "the new password is not 12 to 1024 characters", body = ErrorBody),
    (status = 429, description = "LOGIN_CONCURRENCY password checks at once; see Retry-After", body = ErrorBody)))]
pub async fn change_password(
    State(app): State<AppState>,
    admin: Admin,
    ApiJson(body): ApiJson<PasswordChange>,
) -> Result<Response> {
    admins::validate_password(&body.new_password).map_err(|e| Error::invalid(e.to_string()))?;
    let Some(row) = admins::find_by_email(&app.db, &admin.email).await? else {
        return Err(ErrorCode::InvalidToken.into());
    };
    let Some(permit) = app.password_checks.turn().await else {
        return Ok(busy());
    };
    let (current, new, hash) = (body.current_password, body.new_password, row.password_hash);
    let checked = tokio::task::spawn_blocking(move || {
        let fresh = admins::verify_password(&current, &hash).then(|| admins::hash_password(&new));
        drop(permit);
        fresh
    })
    .await
    .unwrap_or(None);
    let Some(fresh) = checked else {
        tracing::warn!("admin password change refused: wrong current password");
        return Err(ErrorCode::InvalidCredentials.into());
    };
    let updated = admins::change_password(&app.db, admin.id, fresh, &admin.actor()).await?;
    Ok(token_for(&app, &updated))
}

/// 200 with a fresh token for `admin` (`ADMIN_TOKEN_TTL_SECS`).
fn token_for(app: &AppState, admin: &entity::admin_user::Model) -> Response {
    let (token, exp) = auth::issue_token(
        app.config.jwt_secret.expose(),
        admin,
        app.config.admin_token_ttl_secs,
    );
    respond(
        StatusCode::OK,
        Token {
            token,
            expires_at: ms_to_rfc3339(exp * 1000),
        },
    )
}

/// 429 for a login while LOGIN_CONCURRENCY password checks are running.
fn busy() -> Response {
    let mut response = respond(
        StatusCode::TOO_MANY_REQUESTS,
        ErrorBody {
            error: ErrorCode::RateLimited,
            message: Some("too many sign-ins at once; try again in a second".into()),
            reason: None,
        },
    );
    response.headers_mut().insert(
        axum::http::header::RETRY_AFTER,
        axum::http::HeaderValue::from_static("1"),
    );
    response
}

/// The signed-in admin.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Me {
    id: i64,
    email: String,
    /// `platform_admin` or `tenant_admin`
    role: String,
    /// The tenant admin's restaurant.
    tenant: Option<String>,
}

/// `GET /api/v1/admin/me`
#[utoipa::path(get, path = "/api/v1/admin/me", tag = "admin", security(("bearer" = [])), responses(
    (status = 200, description = "the caller", body = Me), (status = 401, description = "`invalid_token`", body = ErrorBody)))]
pub async fn me(State(app): State<AppState>, admin: Admin) -> Result<Json<Me>> {
    Ok(Json(Me {
        tenant: tenants::slug_of(&app.db, admin.tenant_id).await?,
        id: admin.id,
        email: admin.email,
        role: admin.role.as_str().to_string(),
    }))
}

/// A restaurant.
#[derive(Serialize, utoipa::ToSchema)]
pub struct TenantView {
    slug: String,
    name: String,
    #[schema(format = DateTime)]
    created_at: String,
    /// The path of the endpoint URL to give Stripe.
    webhook_path: String,
    /// Error findings alerted now (see the diagnosis): what needs attention.
    error_findings: usize,
    /// The Stripe connected account whose events the Connect endpoint routes here.
    connect_account_id: Option<String>,
}

fn tenant_view(t: tenant::Model, error_findings: usize) -> TenantView {
    TenantView {
        error_findings,
        webhook_path: format!("/api/v1/webhooks/stripe/{}", t.slug),
        created_at: ms_to_rfc3339(t.created_at),
        slug: t.slug,
        name: t.name,
        connect_account_id: t.connect_account_id,
    }
}

/// `GET /api/v1/admin/tenants`: every tenant for a platform admin, its own for a tenant admin.
#[utoipa::path(get, path = "/api/v1/admin/tenants", tag = "admin", security(("bearer" = [])), responses(
    (status = 200, description = "every tenant (platform admin) or the caller's own", body = Items<TenantView>)))]
pub async fn list_tenants(
    State(app): State<AppState>,
    admin: Admin,
) -> Result<Json<Items<TenantView>>> {
    let only = match admin.role {
        Role::PlatformAdmin => None,
        Role::TenantAdmin => Some(admin.tenant_id.unwrap_or(-1)),
    };
    let rows = tenants::list(&app.db, only).await?;
    let open = crate::diagnosis::alerts::open_counts(&app.db).await?;
    Ok(Json(Items {
        items: rows
            .into_iter()
            .map(|t| {
                let n = open.get(&t.id).copied().unwrap_or(0);
                tenant_view(t, n)
            })
            .collect(),
    }))
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct NewTenant {
    /// 3 to 63 characters of a-z, 0-9 and '-': the restaurant's part of its webhook URL.
    #[schema(pattern = "^[a-z0-9-]{3,63}$")]
    slug: String,
    /// 1 to 200 characters, not only spaces, no control characters.
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*[^\\s\\u0000-\\u001f\\u007f-\\u009f][^\\u0000-\\u001f\\u007f-\\u009f]*$"
    )]
    name: String,
}

/// `POST /api/v1/admin/tenants` (platform admin) → 201, 409 on a taken slug.
#[utoipa::path(post, path = "/api/v1/admin/tenants", tag = "admin", security(("bearer" = [])), request_body = NewTenant, responses(
    (status = 201, description = "created", body = TenantView), (status = 403, description = "platform admins only", body = ErrorBody),
    (status = 409, description = "`slug_taken`", body = ErrorBody), (status = 422, description = "invalid slug or name", body = ErrorBody)))]
pub async fn create_tenant(
    State(app): State<AppState>,
    PlatformAdmin(admin): PlatformAdmin,
    ApiJson(body): ApiJson<NewTenant>,
) -> Result<Response> {
    let slug = TenantSlug::parse(&body.slug).map_err(|e| Error::invalid(e.to_string()))?;
    let name = tenants::validate_name(&body.name).map_err(Error::invalid)?;
    let tenant = match tenants::create(&app.db, &slug, name, &admin.actor()).await {
        Ok(t) => t,
        Err(tenants::CreateError::Taken) => return Err(ErrorCode::SlugTaken.into()),
        Err(tenants::CreateError::Db(e)) => return Err(e.into()),
    };
    Ok(respond(StatusCode::CREATED, tenant_view(tenant, 0)))
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct NewAdmin {
    #[schema(
        max_length = 254,
        pattern = "^[^@\\s\\u0000-\\u001f\\u007f-\\u009f]+@[^\\s.\\u0000-\\u001f\\u007f-\\u009f][^\\s\\u0000-\\u001f\\u007f-\\u009f]*\\.[^\\s\\u0000-\\u001f\\u007f-\\u009f]*$"
    )]
    email: String,
    /// 12 to 1024 characters.
    #[schema(min_length = 12, max_length = 1024)]
    password: String,
    #[serde(flatten)]
    role: NewRole,
}

/// The new admin's role, and for a tenant admin its tenant.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(tag = "role", rename_all = "snake_case")]
pub enum NewRole {
    /// Every tenant; creates tenants and admins.
    PlatformAdmin,
    /// One restaurant's settings.
    TenantAdmin {
        /// The restaurant's slug.
        #[schema(pattern = "^[a-z0-9-]{3,63}$")]
        tenant: String,
    },
}

/// A new admin account.
#[derive(Serialize, utoipa::ToSchema)]
pub struct AdminCreated {
    id: i64,
    email: String,
    role: String,
    tenant: Option<String>,
}

/// `POST /api/v1/admin/users` (platform admin).
#[utoipa::path(post, path = "/api/v1/admin/users", tag = "admin", security(("bearer" = [])), request_body = NewAdmin, responses(
    (status = 201, description = "created", body = AdminCreated), (status = 403, description = "platform admins only", body = ErrorBody),
    (status = 409, description = "`email_taken`", body = ErrorBody), (status = 404, description = "`tenant_not_found`: no tenant by that slug", body = ErrorBody), (status = 422, description = "invalid email, password (12+ characters), role or tenant", body = ErrorBody)))]
pub async fn create_user(
    State(app): State<AppState>,
    PlatformAdmin(admin): PlatformAdmin,
    ApiJson(body): ApiJson<NewAdmin>,
) -> Result<Response> {
    let (role, tenant) = match &body.role {
        NewRole::PlatformAdmin => ("platform_admin", None),
        NewRole::TenantAdmin { tenant } => ("tenant_admin", Some(tenant.as_str())),
    };
    let created = admins::create(
        &app.db,
        &body.email,
        &body.password,
        role,
        tenant,
        &admin.actor(),
    )
    .await?;
    Ok(respond(
        StatusCode::CREATED,
        AdminCreated {
            tenant: tenants::slug_of(&app.db, created.tenant_id).await?,
            id: created.id,
            email: created.email,
            role: created.role,
        },
    ))
}
