use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "webhook_event")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    /// None when the delivery named a tenant that does not exist.
    pub tenant_id: Option<i64>,
    pub tenant_slug: String,
    /// The event id Stripe sent (for an unverified delivery: the id it claimed).
    pub stripe_event_id: Option<String>,
    /// The Stripe event id of a verified event: unique per tenant.
    pub dedup_key: Option<String>,
    pub event_type: Option<String>,
    pub status: String,
    pub outcome: Option<String>,
    pub error: Option<String>,
    /// Why a delivery was refused, as a code (`no_matching_signature`, …): what
    /// diagnosis reads; `error` says it in words.
    pub error_code: Option<String>,
    pub attempts: i32,
    /// The raw body of a verified delivery; never stored for an unverified one.
    pub payload: Option<String>,
    pub order_id: Option<String>,
    pub received_at: i64,
    pub processed_at: Option<i64>,
    pub next_attempt_at: Option<i64>,
    /// `webhook` (delivered by Stripe) or `recovered` (fetched from Stripe's API).
    pub source: String,
    /// A rejected delivery that verifies with this other tenant's secret.
    pub signed_for_tenant_id: Option<i64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
