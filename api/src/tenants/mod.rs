//! Restaurants (tenants), their webhook secrets and their API keys.

pub mod api_keys;
pub mod secrets;
pub mod slug;

use crate::db::now_ms;
use entity::tenant;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, Set,
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

#[derive(Debug, thiserror::Error)]
pub enum CreateError {
    #[error("a tenant with this slug already exists")]
    Taken,
    #[error(transparent)]
    Db(#[from] DbErr),
}

pub async fn create<C: ConnectionTrait>(
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
