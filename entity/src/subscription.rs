use sea_orm::entity::prelude::*;

/// A Stripe subscription of a restaurant's customer (memberships, meal plans), as the
/// newest of its events says (`canceled` is final); see `gateway::subscriptions`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "subscription")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub tenant_id: i64,
    /// Stripe's subscription id (`sub_…`).
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub customer: Option<String>,
    pub status: String,
    /// JSON array of price ids.
    pub price_ids: String,
    /// Unix seconds.
    pub current_period_end: Option<i64>,
    pub cancel_at_period_end: bool,
    pub livemode: bool,
    /// The Checkout Session that created it, when one did.
    pub checkout_session_id: Option<String>,
    /// The event that set the status: its `created` and id (the newest wins).
    pub status_created: i64,
    pub status_event_id: String,
    /// The newest subscription object seen (customer, prices, period): its event.
    pub detail_created: i64,
    pub detail_event_id: String,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
