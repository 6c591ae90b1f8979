use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, serde::Serialize)]
#[sea_orm(table_name = "payments")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub tenant_id: i64,
    /// The PaymentIntent id, or the charge or session id when there is none.
    pub payment_key: String,
    pub order_id: Option<String>,
    pub payment_intent_id: Option<String>,
    pub charge_id: Option<String>,
    pub amount: Option<i64>,
    pub currency: Option<String>,
    pub status: String,
    pub succeeded: bool,
    pub failed: bool,
    /// The largest `amount_refunded` any charge event reported.
    pub charge_refunded: i64,
    /// JSON object: refund id → [amount, status rank]; see `orders::lifecycle`.
    pub refunds: String,
    pub amount_refunded: i64,
    /// Dispute id → what the latest dispute events said (JSON; see `orders::lifecycle`).
    pub disputes: String,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
