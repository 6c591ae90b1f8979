//! The restaurant's Stripe API key, for recovery and diagnosis: a restricted key with
//! read access to Events and Webhook Endpoints is all the gateway needs. Sealed like the
//! webhook secret (bound to tenant and purpose), shown only as a hint, wiped from memory
//! when dropped, audited in the same transaction as every change.

use super::audit::{self, Actor};
use crate::clock::now_ms;
use crate::vault::{KeyRing, OpenError, Sealed};
use entity::stripe_api_key;
use sea_orm::{ActiveModelTrait, DatabaseConnection, DbErr, EntityTrait, Set};
use std::fmt;
use zeroize::{Zeroize, Zeroizing};

/// `rk_live_…`, `rk_test_…`, `sk_live_…` or `sk_test_…`. Never printed.
pub struct StripeApiKey(String);

impl Drop for StripeApiKey {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl fmt::Debug for StripeApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "StripeApiKey({})", self.hint())
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error(
    "a Stripe API key starts with rk_live_, rk_test_, sk_live_ or sk_test_ (a restricted key \
     with read access to Events and Webhook Endpoints is enough)"
)]
pub struct InvalidApiKey;

impl StripeApiKey {
    pub fn parse(text: &str) -> Result<Self, InvalidApiKey> {
        let text = text.trim();
        let body = ["rk_live_", "rk_test_", "sk_live_", "sk_test_"]
            .iter()
            .find_map(|p| text.strip_prefix(p))
            .ok_or(InvalidApiKey)?;
        if (8..=250).contains(&body.len()) && body.bytes().all(|b| b.is_ascii_alphanumeric()) {
            Ok(Self(text.to_string()))
        } else {
            Err(InvalidApiKey)
        }
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn livemode(&self) -> bool {
        self.0[3..].starts_with("live_")
    }

    /// `rk_live_…a1b2`
    pub fn hint(&self) -> String {
        let tail: String = self
            .0
            .chars()
            .skip(self.0.chars().count().saturating_sub(4))
            .collect();
        format!("{}…{tail}", &self.0[..8])
    }
}

fn aad(tenant_id: i64) -> Vec<u8> {
    format!("gateway/v2/stripe-api-key/tenant/{tenant_id}").into_bytes()
}

/// What is known of a tenant's key, without the key.
#[derive(Debug, Clone)]
pub struct KeyInfo {
    pub hint: String,
    pub livemode: bool,
}

pub async fn info(db: &DatabaseConnection, tenant_id: i64) -> Result<Option<KeyInfo>, DbErr> {
    Ok(stripe_api_key::Entity::find_by_id(tenant_id)
        .one(db)
        .await?
        .map(|row| KeyInfo {
            hint: row.hint,
            livemode: row.livemode,
        }))
}

/// Sets (or replaces) the tenant's key; audited in the same transaction.
pub async fn set(
    db: &DatabaseConnection,
    ring: &KeyRing,
    tenant_id: i64,
    key: &StripeApiKey,
    actor: &Actor,
) -> Result<(), DbErr> {
    let sealed = ring.seal(key.expose().as_bytes(), &aad(tenant_id));
    let txn = crate::db::begin_write(db).await?;
    stripe_api_key::Entity::delete_by_id(tenant_id)
        .exec(&*txn)
        .await?;
    stripe_api_key::ActiveModel {
        tenant_id: Set(tenant_id),
        key_id: Set(sealed.key_id),
        nonce: Set(sealed.nonce),
        ciphertext: Set(sealed.ciphertext),
        hint: Set(key.hint()),
        livemode: Set(key.livemode()),
        created_at: Set(now_ms()),
    }
    .insert(&*txn)
    .await?;
    let detail = serde_json::json!({"hint": key.hint()});
    audit::record(&*txn, actor, Some(tenant_id), "stripe_api_key.set", detail).await?;
    txn.commit().await
}

/// Removes the tenant's key; false when there was none. Audited in the same transaction.
pub async fn delete(db: &DatabaseConnection, tenant_id: i64, actor: &Actor) -> Result<bool, DbErr> {
    let txn = crate::db::begin_write(db).await?;
    let removed = stripe_api_key::Entity::delete_by_id(tenant_id)
        .exec(&*txn)
        .await?
        .rows_affected
        > 0;
    if removed {
        audit::record(
            &*txn,
            actor,
            Some(tenant_id),
            "stripe_api_key.delete",
            serde_json::json!({}),
        )
        .await?;
    }
    txn.commit().await?;
    Ok(removed)
}

#[derive(Debug, thiserror::Error)]
pub enum OpenKeyError {
    #[error("the Stripe API key cannot be decrypted: {0}")]
    Sealed(#[from] OpenError),
    #[error(transparent)]
    Db(#[from] DbErr),
}

/// The tenant's key, decrypted for a call to Stripe; `None` when it has none.
pub async fn open(
    db: &DatabaseConnection,
    ring: &KeyRing,
    tenant_id: i64,
) -> Result<Option<Zeroizing<String>>, OpenKeyError> {
    let Some(row) = stripe_api_key::Entity::find_by_id(tenant_id)
        .one(db)
        .await?
    else {
        return Ok(None);
    };
    let sealed = Sealed {
        key_id: row.key_id,
        nonce: row.nonce,
        ciphertext: row.ciphertext,
    };
    let plain = Zeroizing::new(ring.open(&sealed, &aad(tenant_id))?);
    Ok(Some(Zeroizing::new(
        String::from_utf8_lossy(&plain).into_owned(),
    )))
}

/// The key Stripe's API is called with for a tenant, and the connected account it acts
/// for: the tenant's own key; else, for a tenant linked to a connected account, the
/// platform's key with `Stripe-Account` (CONTRACT §11).
pub struct Access {
    pub key: Zeroizing<String>,
    pub account: Option<String>,
}

pub async fn access(
    db: &DatabaseConnection,
    ring: &KeyRing,
    tenant: &entity::tenant::Model,
) -> Result<Option<Access>, OpenKeyError> {
    if let Some(key) = open(db, ring, tenant.id).await? {
        return Ok(Some(Access { key, account: None }));
    }
    let Some(account) = &tenant.connect_account_id else {
        return Ok(None);
    };
    let Some(platform) = super::connect::platform(db).await? else {
        return Ok(None);
    };
    Ok(open(db, ring, platform.id).await?.map(|key| Access {
        key,
        account: Some(account.clone()),
    }))
}

/// Re-seals every tenant's Stripe API key under the current key (`gateway keys rotate`).
pub async fn rotate_all(
    db: &DatabaseConnection,
    ring: &KeyRing,
    progress: impl FnMut(usize, usize),
) -> Result<super::keyrotation::Summary, DbErr> {
    use super::keyrotation::{SealedValue, reseal_each};
    use sea_orm::sea_query::Expr;
    use sea_orm::{ColumnTrait, QueryFilter, QueryOrder};
    let rows = stripe_api_key::Entity::find()
        .order_by_asc(stripe_api_key::Column::TenantId)
        .all(db)
        .await?;
    let values = rows
        .iter()
        .map(|row| SealedValue {
            what: format!("Stripe API key {} of tenant {}", row.hint, row.tenant_id),
            sealed: sealed_of(row),
            aad: aad(row.tenant_id),
        })
        .collect();
    reseal_each(
        values,
        ring,
        async |i, old, fresh| {
            let result = stripe_api_key::Entity::update_many()
                .col_expr(stripe_api_key::Column::KeyId, Expr::value(fresh.key_id))
                .col_expr(stripe_api_key::Column::Nonce, Expr::value(fresh.nonce))
                .col_expr(
                    stripe_api_key::Column::Ciphertext,
                    Expr::value(fresh.ciphertext),
                )
                .filter(stripe_api_key::Column::TenantId.eq(rows[i].tenant_id))
                .filter(stripe_api_key::Column::KeyId.eq(old))
                .exec(db)
                .await?;
            Ok(result.rows_affected == 1)
        },
        progress,
    )
    .await
}

/// Whether the tenant's Stripe API key opens (`gateway config check`): None without one.
pub async fn check(
    db: &DatabaseConnection,
    ring: &KeyRing,
    tenant_id: i64,
) -> Result<Option<Result<String, OpenError>>, DbErr> {
    let Some(row) = stripe_api_key::Entity::find_by_id(tenant_id)
        .one(db)
        .await?
    else {
        return Ok(None);
    };
    Ok(Some(
        ring.open(&sealed_of(&row), &aad(tenant_id))
            .map(|_| row.hint.clone()),
    ))
}

fn sealed_of(row: &stripe_api_key::Model) -> Sealed {
    Sealed {
        key_id: row.key_id.clone(),
        nonce: row.nonce.clone(),
        ciphertext: row.ciphertext.clone(),
    }
}

/// The tenants that have a Stripe API key saved (whether or not it opens).
pub async fn tenants_with_key(
    db: &DatabaseConnection,
) -> Result<std::collections::HashSet<i64>, DbErr> {
    use sea_orm::QuerySelect;
    let ids: Vec<i64> = stripe_api_key::Entity::find()
        .select_only()
        .column(stripe_api_key::Column::TenantId)
        .into_tuple()
        .all(db)
        .await?;
    Ok(ids.into_iter().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_checked_hinted_and_never_printed() {
        let key = StripeApiKey::parse("rk_live_abcdefgh12345678").unwrap();
        assert_eq!(key.hint(), "rk_live_…5678");
        assert!(key.livemode());
        assert_eq!(format!("{key:?}"), "StripeApiKey(rk_live_…5678)");
        assert!(!StripeApiKey::parse("sk_test_abcdefgh1").unwrap().livemode());
        assert!(
            StripeApiKey::parse("pk_live_abcdefgh1234").is_err(),
            "a publishable key"
        );
        assert!(StripeApiKey::parse("whsec_abcdefgh1234").is_err());
        assert!(StripeApiKey::parse("rk_live_short").is_err());
    }
}
