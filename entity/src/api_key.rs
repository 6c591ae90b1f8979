use sea_orm::entity::prelude::*;

/// A tenant API key, stored as the SHA-256 of the key; `prefix` identifies it in lists.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "api_key")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub tenant_id: i64,
    pub prefix: String,
    #[sea_orm(unique)]
    pub key_hash: String,
    pub created_at: i64,
    pub revoked_at: Option<i64>,
    /// Live (true) or test: an order takes the mode of the key that created it.
    pub livemode: bool,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
