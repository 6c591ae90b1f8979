use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, serde::Serialize)]
#[sea_orm(table_name = "orders")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub tenant_id: i64,
    pub amount: i64,
    pub currency: String,
    pub reference: Option<String>,
    pub status: String,
    pub checkout_session_id: Option<String>,
    pub payment_intent_id: Option<String>,
    /// A Checkout Session of this order expired (a fact, kept even once paid).
    pub expired: bool,
    /// A `payment_intent.canceled` found this order.
    pub canceled: bool,
    /// A status an admin set by hand; events can raise the order above it, not below.
    pub manual_status: Option<String>,
    pub manual_reason: Option<String>,
    /// Live (true) or test: an order takes the mode of the key that created it.
    pub livemode: bool,
    /// The customer's e-mail, as the first event that named one said.
    pub customer_email: Option<String>,
    /// The running totals of the order's payments (`orders::lifecycle::Totals` as
    /// JSON); none on an order from before they were kept, until an event reaches it.
    pub totals: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
