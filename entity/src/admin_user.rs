use sea_orm::entity::prelude::*;

/// An admin account; `password_hash` is an argon2id PHC string.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "admin_user")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    #[sea_orm(unique)]
    pub email: String,
    pub password_hash: String,
    /// `platform_admin` or `tenant_admin`.
    pub role: String,
    pub tenant_id: Option<i64>,
    pub created_at: i64,
    /// Raised by a password change: tokens of an earlier generation no longer work.
    pub token_generation: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
