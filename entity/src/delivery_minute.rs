use sea_orm::entity::prelude::*;

/// Webhook deliveries to a tenant in one minute, summed over replicas: how many, how
/// many answered 200, and their response times in buckets (`b0` ≤ 10 ms, `b1` ≤ 25,
/// `b2` ≤ 50, `b3` ≤ 100, `b4` ≤ 250, `b5` ≤ 500, `b6` ≤ 1 s, `b7` ≤ 2.5 s, `b8` ≤ 5 s,
/// `b9` ≤ 10 s, `b10` ≤ 30 s, `b11` longer).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "delivery_minute")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub tenant_id: i64,
    /// Unix minutes.
    #[sea_orm(primary_key, auto_increment = false)]
    pub minute: i64,
    pub total: i64,
    pub ok: i64,
    pub b0: i64,
    pub b1: i64,
    pub b2: i64,
    pub b3: i64,
    pub b4: i64,
    pub b5: i64,
    pub b6: i64,
    pub b7: i64,
    pub b8: i64,
    pub b9: i64,
    pub b10: i64,
    pub b11: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
