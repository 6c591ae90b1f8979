use sea_orm::entity::prelude::*;

/// A sealed webhook signing secret. `Debug` is derived on purpose: the row only holds
/// ciphertext, a hint (prefix and last four characters) and a fingerprint.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "webhook_secret")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub tenant_id: i64,
    pub key_id: String,
    pub nonce: Vec<u8>,
    pub ciphertext: Vec<u8>,
    pub hint: String,
    pub fingerprint: String,
    pub created_at: i64,
    pub expires_at: Option<i64>,
    /// `live` or `test`: the Stripe endpoint this secret signs for.
    pub mode: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
