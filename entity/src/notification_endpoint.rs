use sea_orm::entity::prelude::*;

/// Where a restaurant's backend hears about its orders; its signing secret sealed.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "notification_endpoint")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub tenant_id: i64,
    pub url: String,
    pub key_id: String,
    pub nonce: Vec<u8>,
    pub ciphertext: Vec<u8>,
    pub created_at: i64,
    /// JSON array of patterns (`order.*`, `invoice.paid`, `customer.subscription.*`):
    /// what this endpoint is sent.
    pub event_types: String,
    /// Paused: notifications wait in the outbox until it is resumed.
    pub paused: bool,
    /// Notifications up to this id go out one at a time, oldest first (after a resume
    /// or a resend); none when unset.
    pub in_order_until: Option<i64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
