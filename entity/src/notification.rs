use sea_orm::entity::prelude::*;

/// One notification to one endpoint: written in the transaction of the change it tells
/// of (the outbox), delivered at least once.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "notification")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub tenant_id: i64,
    pub endpoint_id: i64,
    /// `webhook-id`: the same on every attempt.
    #[sea_orm(unique)]
    pub message_id: String,
    pub event_type: String,
    pub payload: String,
    /// `PENDING`, `DELIVERED` or `FAILED` (gave up after 3 days).
    pub status: String,
    pub attempts: i32,
    pub next_attempt_at: Option<i64>,
    pub created_at: i64,
    pub delivered_at: Option<i64>,
    /// The Stripe event a forwarded notification carries: forwarded once per endpoint.
    pub source_event: Option<String>,
    /// The order an `order.*` notification tells of.
    pub order_id: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
