//! Tenant API keys: `gk_live_` or `gk_test_` + 32 random bytes in hex, shown once,
//! stored as SHA-256. The key has 256 bits of entropy, so a fast hash is enough and
//! lookups stay cheap. A key is live or test, and so is every order it creates; keys
//! made before modes existed (`gk_` + hex) are live.

use super::audit::{self, Actor};
use crate::clock::now_ms;
use entity::api_key;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait,
    QueryFilter, QueryOrder, Set,
};
use sha2::{Digest, Sha256};

pub const PREFIX: &str = "gk_";

pub fn hash(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

/// Live or test: of a key, and of every order it creates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Live,
    Test,
}

impl Mode {
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "live" => Some(Self::Live),
            "test" => Some(Self::Test),
            _ => None,
        }
    }

    pub fn from_livemode(livemode: bool) -> Self {
        if livemode { Self::Live } else { Self::Test }
    }

    pub fn livemode(self) -> bool {
        self == Self::Live
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Live => "live",
            Self::Test => "test",
        }
    }
}

pub struct NewKey {
    pub id: i64,
    /// The key itself: give it to the caller once, never store or log it.
    pub key: String,
    pub mode: Mode,
}

/// What a valid key opens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyOwner {
    pub tenant_id: i64,
    pub mode: Mode,
}

pub async fn create(
    db: &DatabaseConnection,
    tenant_id: i64,
    mode: Mode,
    actor: &Actor,
) -> Result<NewKey, DbErr> {
    let mut bytes = [0u8; 32];
    rand::fill(&mut bytes);
    let key = format!("{PREFIX}{}_{}", mode.as_str(), hex::encode(bytes));
    let shown = PREFIX.len() + mode.as_str().len() + 1 + 8;
    let model = api_key::ActiveModel {
        tenant_id: Set(tenant_id),
        prefix: Set(key[..shown].to_string()),
        key_hash: Set(hash(&key)),
        created_at: Set(now_ms()),
        revoked_at: Set(None),
        livemode: Set(mode.livemode()),
        ..Default::default()
    };
    let txn = crate::db::begin_write(db).await?;
    let model = model.insert(&*txn).await?;
    let detail = serde_json::json!({"id": model.id, "mode": mode.as_str()});
    audit::record(&*txn, actor, Some(tenant_id), "api_key.create", detail).await?;
    txn.commit().await?;
    Ok(NewKey {
        id: model.id,
        key,
        mode,
    })
}

/// The tenant and mode of a key that is not revoked.
pub async fn authenticate<C: ConnectionTrait>(
    db: &C,
    key: &str,
) -> Result<Option<KeyOwner>, DbErr> {
    if !key.starts_with(PREFIX) || key.len() > 200 {
        return Ok(None);
    }
    Ok(api_key::Entity::find()
        .filter(api_key::Column::KeyHash.eq(hash(key)))
        .filter(api_key::Column::RevokedAt.is_null())
        .one(db)
        .await?
        .map(|k| KeyOwner {
            tenant_id: k.tenant_id,
            mode: Mode::from_livemode(k.livemode),
        }))
}

/// The tenant's keys, newest first (hashes only: never a key).
pub async fn list<C: ConnectionTrait>(
    db: &C,
    tenant_id: i64,
) -> Result<Vec<api_key::Model>, DbErr> {
    api_key::Entity::find()
        .filter(api_key::Column::TenantId.eq(tenant_id))
        .order_by_desc(api_key::Column::Id)
        .all(db)
        .await
}

/// Revokes a live key of the tenant; false when there is none with this id. Audited in
/// the same transaction.
pub async fn revoke(
    db: &DatabaseConnection,
    tenant_id: i64,
    id: i64,
    actor: &Actor,
) -> Result<bool, DbErr> {
    let txn = crate::db::begin_write(db).await?;
    let result = api_key::Entity::update_many()
        .col_expr(api_key::Column::RevokedAt, Expr::value(now_ms()))
        .filter(api_key::Column::TenantId.eq(tenant_id))
        .filter(api_key::Column::Id.eq(id))
        .filter(api_key::Column::RevokedAt.is_null())
        .exec(&*txn)
        .await?;
    if result.rows_affected == 0 {
        return Ok(false);
    }
    let detail = serde_json::json!({"id": id});
    audit::record(&*txn, actor, Some(tenant_id), "api_key.revoke", detail).await?;
    txn.commit().await?;
    Ok(true)
}
