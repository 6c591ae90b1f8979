use sea_orm::entity::prelude::*;

/// Rejected deliveries beyond the ones stored row by row: a count per tenant (0 for
/// slugs that match no tenant), minute (ms since the epoch / 60,000) and status.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "rejected_tally")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub tenant_id: i64,
    pub minute: i64,
    pub status: String,
    pub n: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
