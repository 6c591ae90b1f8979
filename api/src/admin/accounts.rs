//! Login, the caller, tenants and admin accounts.

use super::audit;
use super::auth::{self, Admin, Role};
use crate::AppState;
use crate::db::{ms_to_rfc3339, now_ms};
use crate::error::{Error, Result};
use crate::extract::ApiJson;
use crate::tenants::{self, TenantSlug};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use entity::{admin_user, tenant};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder,
    Set,
};
use serde::Deserialize;
use serde_json::{Value, json};

#[derive(Deserialize, utoipa::ToSchema)]
pub struct Login {
    email: String,
    password: String,
}

/// `POST /api/v1/admin/login`: the same 401 for an unknown account and a wrong password,
/// in the same time; throttled per address (route limit) and per account.
#[utoipa::path(post, path = "/api/v1/admin/login", tag = "admin", request_body = Login, responses(
    (status = 200, description = "a token for one hour", body = Object, example = json!({"token": "eyJ…", "expires_at": "2026-11-22T13:00:00.000Z"})),
    (status = 401, description = "`invalid_credentials`, for an unknown account and a wrong password alike"),
    (status = 429, description = "too many attempts for this address or account")))]
pub async fn login(State(app): State<AppState>, ApiJson(body): ApiJson<Login>) -> Result<Response> {
    let email = body.email.trim().to_ascii_lowercase();
    if app.login_limiter.check_key(&email).is_err() {
        return Ok(crate::ratelimit::too_many_requests(
            tower_governor::GovernorError::TooManyRequests {
                wait_time: 60,
                headers: None,
            },
        ));
    }
    let row = admin_user::Entity::find()
        .filter(admin_user::Column::Email.eq(email.as_str()))
        .one(&app.db)
        .await?;
    let password = body.password;
    let hash = row
        .as_ref()
        .map_or(auth::dummy_hash().to_string(), |r| r.password_hash.clone());
    let ok = tokio::task::spawn_blocking(move || auth::verify_password(&password, &hash))
        .await
        .unwrap_or(false);
    match row {
        Some(admin) if ok => {
            let (token, exp) = auth::issue_token(
                app.config.jwt_secret.expose(),
                &admin,
                app.config.admin_token_ttl_secs,
            );
            Ok(
                Json(json!({"token": token, "expires_at": ms_to_rfc3339(exp * 1000)}))
                    .into_response(),
            )
        }
        _ => {
            tracing::warn!("admin login failed");
            Err(Error::Unauthorized("invalid_credentials"))
        }
    }
}

async fn slug_of<C: ConnectionTrait>(
    db: &C,
    tenant_id: Option<i64>,
) -> Result<Option<String>, DbErr> {
    Ok(match tenant_id {
        Some(id) => tenant::Entity::find_by_id(id)
            .one(db)
            .await?
            .map(|t| t.slug),
        None => None,
    })
}

/// `GET /api/v1/admin/me`
#[utoipa::path(get, path = "/api/v1/admin/me", tag = "admin", security(("bearer" = [])), responses(
    (status = 200, description = "the caller: id, email, role, tenant"), (status = 401, description = "`invalid_token`")))]
pub async fn me(State(app): State<AppState>, admin: Admin) -> Result<Json<Value>> {
    Ok(Json(json!({
        "id": admin.id,
        "email": admin.email,
        "role": admin.role.as_str(),
        "tenant": slug_of(&app.db, admin.tenant_id).await?,
    })))
}

fn tenant_json(t: &tenant::Model) -> Value {
    json!({"slug": t.slug, "name": t.name, "created_at": ms_to_rfc3339(t.created_at),
           "webhook_path": format!("/api/v1/webhooks/stripe/{}", t.slug)})
}

/// `GET /api/v1/admin/tenants`: every tenant for a platform admin, its own for a tenant admin.
#[utoipa::path(get, path = "/api/v1/admin/tenants", tag = "admin", security(("bearer" = [])), responses(
    (status = 200, description = "every tenant (platform admin) or the caller's own")))]
pub async fn list_tenants(State(app): State<AppState>, admin: Admin) -> Result<Json<Value>> {
    let mut query = tenant::Entity::find().order_by_asc(tenant::Column::Slug);
    if admin.role == Role::TenantAdmin {
        query = query.filter(tenant::Column::Id.eq(admin.tenant_id.unwrap_or(-1)));
    }
    let rows = query.all(&app.db).await?;
    Ok(Json(
        json!({"items": rows.iter().map(tenant_json).collect::<Vec<_>>()}),
    ))
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct NewTenant {
    slug: String,
    name: String,
}

/// `POST /api/v1/admin/tenants` (platform admin) → 201, 409 on a taken slug.
#[utoipa::path(post, path = "/api/v1/admin/tenants", tag = "admin", security(("bearer" = [])), request_body = NewTenant, responses(
    (status = 201, description = "created"), (status = 403, description = "platform admins only"),
    (status = 409, description = "`slug_taken`"), (status = 422, description = "invalid slug or name")))]
pub async fn create_tenant(
    State(app): State<AppState>,
    admin: Admin,
    ApiJson(body): ApiJson<NewTenant>,
) -> Result<Response> {
    admin.require_platform()?;
    let slug =
        TenantSlug::parse(body.slug.trim()).map_err(|e| Error::unprocessable(e.to_string()))?;
    let name = body.name.trim();
    if name.is_empty() || name.chars().count() > 200 {
        return Err(Error::unprocessable("name must be 1 to 200 characters"));
    }
    let tenant = match tenants::create(&app.db, &slug, name).await {
        Ok(t) => t,
        Err(tenants::CreateError::Taken) => return Err(Error::Conflict("slug_taken")),
        Err(tenants::CreateError::Db(e)) => return Err(e.into()),
    };
    audit::by_admin(
        &app.db,
        &admin,
        Some(tenant.id),
        "tenant.create",
        json!({"slug": tenant.slug, "name": tenant.name}),
    )
    .await?;
    Ok((StatusCode::CREATED, Json(tenant_json(&tenant))).into_response())
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct NewAdmin {
    email: String,
    password: String,
    role: String,
    tenant: Option<String>,
}

pub fn validate_email(email: &str) -> Result<String> {
    let email = email.trim().to_ascii_lowercase();
    let ok = email.len() <= 254
        && email.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty() && domain.contains('.') && !domain.starts_with('.')
        })
        && !email.chars().any(char::is_whitespace);
    if ok {
        Ok(email)
    } else {
        Err(Error::unprocessable("email is not an email address"))
    }
}

/// Creates an admin account (shared by the API and `gateway admin create`).
pub async fn create_admin<C: ConnectionTrait>(
    db: &C,
    email: &str,
    password: &str,
    role: &str,
    tenant: Option<&str>,
) -> Result<admin_user::Model> {
    let email = validate_email(email)?;
    auth::validate_password(password)?;
    let role = Role::parse(role)
        .ok_or_else(|| Error::unprocessable("role is platform_admin or tenant_admin"))?;
    let tenant_id = match (role, tenant) {
        (Role::PlatformAdmin, None) => None,
        (Role::PlatformAdmin, Some(_)) => {
            return Err(Error::unprocessable("a platform_admin has no tenant"));
        }
        (Role::TenantAdmin, None) => {
            return Err(Error::unprocessable("a tenant_admin needs a tenant"));
        }
        (Role::TenantAdmin, Some(slug)) => {
            let slug = TenantSlug::parse(slug).map_err(|e| Error::unprocessable(e.to_string()))?;
            Some(
                tenants::find_by_slug(db, &slug)
                    .await?
                    .ok_or_else(|| Error::unprocessable(format!("no tenant {slug}")))?
                    .id,
            )
        }
    };
    let exists = admin_user::Entity::find()
        .filter(admin_user::Column::Email.eq(email.as_str()))
        .one(db)
        .await?;
    if exists.is_some() {
        return Err(Error::Conflict("email_taken"));
    }
    let password = password.to_string();
    let hash = tokio::task::spawn_blocking(move || auth::hash_password(&password))
        .await
        .map_err(|e| Error::Unavailable(e.to_string()))?;
    let model = admin_user::ActiveModel {
        email: Set(email),
        password_hash: Set(hash),
        role: Set(role.as_str().to_string()),
        tenant_id: Set(tenant_id),
        created_at: Set(now_ms()),
        ..Default::default()
    }
    .insert(db)
    .await
    .map_err(|e| match e.sql_err() {
        Some(sea_orm::SqlErr::UniqueConstraintViolation(_)) => Error::Conflict("email_taken"),
        _ => Error::Storage(e),
    })?;
    Ok(model)
}

/// `POST /api/v1/admin/users` (platform admin).
#[utoipa::path(post, path = "/api/v1/admin/users", tag = "admin", security(("bearer" = [])), request_body = NewAdmin, responses(
    (status = 201, description = "created"), (status = 403, description = "platform admins only"),
    (status = 409, description = "`email_taken`"), (status = 422, description = "invalid email, password (12+ characters), role or tenant")))]
pub async fn create_user(
    State(app): State<AppState>,
    admin: Admin,
    ApiJson(body): ApiJson<NewAdmin>,
) -> Result<Response> {
    admin.require_platform()?;
    let created = create_admin(
        &app.db,
        &body.email,
        &body.password,
        &body.role,
        body.tenant.as_deref(),
    )
    .await?;
    audit::by_admin(
        &app.db,
        &admin,
        created.tenant_id,
        "admin.create",
        json!({"email": created.email, "role": created.role}),
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"id": created.id, "email": created.email, "role": created.role, "tenant": slug_of(&app.db, created.tenant_id).await?})),
    )
        .into_response())
}
