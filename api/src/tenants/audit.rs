//! The audit log: who changed what, when, from where. Never a secret.

use crate::clock::now_ms;
use entity::audit_log;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set,
};
use serde_json::Value;

/// Who made a change: an admin (email and address) or the command line.
#[derive(Debug, Clone)]
pub struct Actor {
    pub name: String,
    pub ip: Option<String>,
}

impl Actor {
    pub fn cli() -> Self {
        Self {
            name: "cli".into(),
            ip: None,
        }
    }
}

pub async fn record<C: ConnectionTrait>(
    db: &C,
    actor: &Actor,
    tenant_id: Option<i64>,
    action: &str,
    detail: Value,
) -> Result<(), DbErr> {
    audit_log::ActiveModel {
        tenant_id: Set(tenant_id),
        actor: Set(actor.name.clone()),
        action: Set(action.to_string()),
        detail: Set(detail.to_string()),
        ip: Set(actor.ip.clone()),
        created_at: Set(now_ms()),
        ..Default::default()
    }
    .insert(db)
    .await?;
    Ok(())
}

/// Newest first, `limit + 1` rows before the row id `before`; one tenant's or all.
pub async fn page<C: ConnectionTrait>(
    db: &C,
    tenant_id: Option<i64>,
    before: Option<i64>,
    limit: u64,
) -> Result<Vec<audit_log::Model>, DbErr> {
    let mut query = audit_log::Entity::find();
    if let Some(id) = tenant_id {
        query = query.filter(audit_log::Column::TenantId.eq(id));
    }
    if let Some(cursor) = before {
        query = query.filter(audit_log::Column::Id.lt(cursor));
    }
    query
        .order_by_desc(audit_log::Column::Id)
        .limit(limit + 1)
        .all(db)
        .await
}
