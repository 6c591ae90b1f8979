//! Stripe Connect (CONTRACT §11): a platform onboards restaurants as connected accounts
//! and receives every account's events on one Connect endpoint, each naming its
//! `account`. A restaurant is linked to its account (one restaurant per account); the
//! platform's own Connect settings (the endpoint's signing secrets, its Stripe API key)
//! are kept under the reserved slug `connect`, so that they are sealed, rotated, cached
//! and audited exactly as a restaurant's are.

use super::audit::{self, Actor};
use super::slug::{CONNECT, TenantSlug};
use crate::clock::now_ms;
use entity::tenant;
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter};
use std::fmt;

/// A Stripe connected account id: `acct_` and 1 to 250 letters or digits.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AccountId(String);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error(
    "a Stripe connected account id is \"acct_\" followed by letters and digits (acct_1PgafTB7WZ01zgkW)"
)]
pub struct InvalidAccountId;

impl AccountId {
    pub fn parse(text: &str) -> Result<Self, InvalidAccountId> {
        let body = text.strip_prefix("acct_").ok_or(InvalidAccountId)?;
        if (1..=250).contains(&body.len()) && body.bytes().all(|b| b.is_ascii_alphanumeric()) {
            Ok(Self(text.to_string()))
        } else {
            Err(InvalidAccountId)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for AccountId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The row that holds the platform's Connect settings, if any was ever set.
pub async fn platform<C: ConnectionTrait>(db: &C) -> Result<Option<tenant::Model>, DbErr> {
    tenant::Entity::find()
        .filter(tenant::Column::Slug.eq(CONNECT))
        .one(db)
        .await
}

/// The platform's row, made on first use (a creator that loses the race reads the
/// winner's).
pub async fn ensure_platform(db: &DatabaseConnection) -> Result<tenant::Model, DbErr> {
    if let Some(row) = platform(db).await? {
        return Ok(row);
    }
    let now = now_ms();
    let inserted = tenant::Entity::insert(tenant::ActiveModel {
        slug: sea_orm::Set(CONNECT.to_string()),
        name: sea_orm::Set("Stripe Connect platform".to_string()),
        created_at: sea_orm::Set(now),
        updated_at: sea_orm::Set(now),
        ..Default::default()
    })
    .exec_without_returning(db)
    .await;
    match inserted {
        Ok(_) => {}
        Err(e)
            if matches!(
                e.sql_err(),
                Some(sea_orm::SqlErr::UniqueConstraintViolation(_))
            ) => {}
        Err(e) => return Err(e),
    }
    platform(db)
        .await?
        .ok_or_else(|| DbErr::Custom("the Connect platform's row vanished".into()))
}

/// The reserved slug the platform's secrets are cached under.
pub fn platform_slug() -> TenantSlug {
    TenantSlug::connect_platform()
}

#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    #[error("connected account {0} is linked to another restaurant; unlink it there first")]
    Taken(String),
    #[error(transparent)]
    Db(#[from] DbErr),
}

/// Links the tenant to `account` (replacing any account it had); audited in the same
/// transaction. An account linked to another tenant is `Taken`.
pub async fn link(
    db: &DatabaseConnection,
    tenant_id: i64,
    account: &AccountId,
    actor: &Actor,
) -> Result<(), LinkError> {
    let txn = crate::db::begin_write(db).await?;
    let holder = tenant::Entity::find()
        .filter(tenant::Column::ConnectAccountId.eq(account.as_str()))
        .one(&*txn)
        .await?;
    if holder.is_some_and(|t| t.id != tenant_id) {
        return Err(LinkError::Taken(account.to_string()));
    }
    let updated = set_account(&*txn, tenant_id, Some(account.as_str())).await;
    match updated {
        Err(e)
            if matches!(
                e.sql_err(),
                Some(sea_orm::SqlErr::UniqueConstraintViolation(_))
            ) =>
        {
            return Err(LinkError::Taken(account.to_string()));
        }
        other => other?,
    }
    let detail = serde_json::json!({"account_id": account.as_str()});
    audit::record(&*txn, actor, Some(tenant_id), "connect.link", detail).await?;
    txn.commit().await?;
    Ok(())
}

/// Unlinks the tenant from its account; false when it had none. Audited.
pub async fn unlink(
    db: &DatabaseConnection,
    tenant: &tenant::Model,
    actor: &Actor,
) -> Result<bool, DbErr> {
    let Some(account) = &tenant.connect_account_id else {
        return Ok(false);
    };
    let txn = crate::db::begin_write(db).await?;
    set_account(&*txn, tenant.id, None).await?;
    let detail = serde_json::json!({"account_id": account});
    audit::record(&*txn, actor, Some(tenant.id), "connect.unlink", detail).await?;
    txn.commit().await?;
    Ok(true)
}

async fn set_account<C: ConnectionTrait>(
    db: &C,
    tenant_id: i64,
    account: Option<&str>,
) -> Result<(), DbErr> {
    tenant::Entity::update_many()
        .col_expr(
            tenant::Column::ConnectAccountId,
            Expr::value(account.map(str::to_owned)),
        )
        .col_expr(tenant::Column::UpdatedAt, Expr::value(now_ms()))
        .filter(tenant::Column::Id.eq(tenant_id))
        .exec(db)
        .await?;
    Ok(())
}

/// The tenant linked to `account`: its id and slug.
pub async fn tenant_for_account<C: ConnectionTrait>(
    db: &C,
    account: &str,
) -> Result<Option<(i64, String)>, DbErr> {
    Ok(tenant::Entity::find()
        .filter(tenant::Column::ConnectAccountId.eq(account))
        .one(db)
        .await?
        .map(|t| (t.id, t.slug)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn account_ids() {
        assert_eq!(
            AccountId::parse("acct_1PgafTB7WZ01zgkW").unwrap().as_str(),
            "acct_1PgafTB7WZ01zgkW"
        );
        for bad in ["acct_", "acct_a-b", "cus_123", "acct_ü", "", " acct_1"] {
            assert_eq!(AccountId::parse(bad), Err(InvalidAccountId), "{bad}");
        }
    }
}
