//! Restaurants (tenants), their webhook secrets and API keys, the admins who manage
//! them, and the audit log of every change.

pub mod admins;
pub mod api_keys;
pub mod audit;
pub mod connect;
pub mod directory;
pub mod keyrotation;
pub mod secret_cache;
pub mod secrets;
pub mod slug;
pub mod stripe_key;

use crate::clock::now_ms;
use audit::Actor;
use entity::tenant;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait,
    QueryFilter, QueryOrder, Set,
};
pub use slug::TenantSlug;

pub async fn find_by_slug<C: ConnectionTrait>(
    db: &C,
    slug: &TenantSlug,
) -> Result<Option<tenant::Model>, DbErr> {
    tenant::Entity::find()
        .filter(tenant::Column::Slug.eq(slug.as_str()))
        .one(db)
        .await
}

/// Every tenant by slug (not the platform's Connect settings), or only the one with id
/// `only`.
pub async fn list<C: ConnectionTrait>(
    db: &C,
    only: Option<i64>,
) -> Result<Vec<tenant::Model>, DbErr> {
    let mut query = tenant::Entity::find()
        .filter(tenant::Column::Slug.ne(slug::CONNECT))
        .order_by_asc(tenant::Column::Slug);
    if let Some(id) = only {
        query = query.filter(tenant::Column::Id.eq(id));
    }
    query.all(db).await
}

pub async fn slug_of<C: ConnectionTrait>(
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

/// A restaurant's display name, trimmed: 1 to 200 characters.
pub fn validate_name(name: &str) -> Result<&str, &'static str> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 200 || crate::untrusted::has_control(name) {
        return Err("name must be 1 to 200 characters, without control characters");
    }
    Ok(name)
}

#[derive(Debug, thiserror::Error)]
pub enum CreateError {
    #[error("a tenant with this slug already exists")]
    Taken,
    #[error(transparent)]
    Db(#[from] DbErr),
}

/// Creates a restaurant; audited in the same transaction (no audit row, no tenant).
pub async fn create(
    db: &DatabaseConnection,
    slug: &TenantSlug,
    name: &str,
    actor: &Actor,
) -> Result<tenant::Model, CreateError> {
    let txn = crate::db::begin_write(db).await?;
    let tenant = insert(&*txn, slug, name).await?;
    let detail = serde_json::json!({"slug": tenant.slug, "name": tenant.name});
    audit::record(&*txn, actor, Some(tenant.id), "tenant.create", detail).await?;
    txn.commit().await?;
    Ok(tenant)
}

async fn insert<C: ConnectionTrait>(
    db: &C,
    slug: &TenantSlug,
    name: &str,
) -> Result<tenant::Model, CreateError> {
    if find_by_slug(db, slug).await?.is_some() {
        return Err(CreateError::Taken);
    }
    let now = now_ms();
    let result = tenant::ActiveModel {
        slug: Set(slug.as_str().to_string()),
        name: Set(name.to_string()),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(db)
    .await;
    match result {
        Ok(model) => Ok(model),
        // Lost a race with another creator of the same slug.
        Err(e)
            if matches!(
                e.sql_err(),
                Some(sea_orm::SqlErr::UniqueConstraintViolation(_))
            ) =>
        {
            Err(CreateError::Taken)
        }
        Err(e) => Err(e.into()),
    }
}
