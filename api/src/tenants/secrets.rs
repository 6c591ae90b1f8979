//! Webhook signing secrets: validated, sealed with the key ring, and cached decrypted
//! for at most `SECRET_CACHE_TTL_MS` so that a change made by the CLI or another
//! replica is honoured within a second without any restart.

use crate::clock::now_ms;
use crate::config::SecretBytes;
use crate::vault::{KeyRing, OpenError, Sealed, webhook_secret_aad};
use entity::{payment_config, webhook_secret};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, DbErr,
    EntityTrait, QueryFilter, QueryOrder, Set,
};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

/// A Stripe webhook signing secret (`whsec_…`). Never printed.
#[derive(Clone)]
pub struct WebhookSecret(String);

impl fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "WebhookSecret({})", self.hint())
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum InvalidSecret {
    #[error(
        "a Stripe webhook secret starts with \"whsec_\" (it is shown under the endpoint's \"Signing secret\" in Stripe's dashboard)"
    )]
    Prefix,
    #[error(
        "a Stripe webhook secret is \"whsec_\" followed by 8 to 200 letters, digits or +/=_- characters"
    )]
    Body,
}

impl WebhookSecret {
    pub fn parse(text: &str) -> Result<Self, InvalidSecret> {
        let text = text.trim();
        let body = text.strip_prefix("whsec_").ok_or(InvalidSecret::Prefix)?;
        let ok = (8..=200).contains(&body.len())
            && body
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"+/=_-".contains(&b));
        if ok {
            Ok(Self(text.to_string()))
        } else {
            Err(InvalidSecret::Body)
        }
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    /// `whsec_…a1b2`: enough to recognise a secret, useless to an attacker.
    pub fn hint(&self) -> String {
        let tail: String = self
            .0
            .chars()
            .rev()
            .take(4)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        format!("whsec_…{tail}")
    }

    /// A short, stable identifier for comparing secrets across systems.
    pub fn fingerprint(&self) -> String {
        let digest = Sha256::digest(format!("gateway-secret-fingerprint:{}", self.0).as_bytes());
        hex::encode(&digest[..8])
    }
}

fn sealed_of(row: &webhook_secret::Model) -> Sealed {
    Sealed {
        key_id: row.key_id.clone(),
        nonce: row.nonce.clone(),
        ciphertext: row.ciphertext.clone(),
    }
}

fn new_row(
    ring: &KeyRing,
    tenant_id: i64,
    secret: &WebhookSecret,
    now: i64,
) -> webhook_secret::ActiveModel {
    let sealed = ring.seal(secret.expose().as_bytes(), &webhook_secret_aad(tenant_id));
    webhook_secret::ActiveModel {
        tenant_id: Set(tenant_id),
        key_id: Set(sealed.key_id),
        nonce: Set(sealed.nonce),
        ciphertext: Set(sealed.ciphertext),
        hint: Set(secret.hint()),
        fingerprint: Set(secret.fingerprint()),
        created_at: Set(now),
        expires_at: Set(None),
        ..Default::default()
    }
}

async fn touch_config<C: ConnectionTrait>(db: &C, tenant_id: i64, now: i64) -> Result<(), DbErr> {
    match payment_config::Entity::find_by_id(tenant_id)
        .one(db)
        .await?
    {
        Some(existing) => {
            let mut row: payment_config::ActiveModel = existing.into();
            row.updated_at = Set(now);
            row.update(db).await?;
        }
        None => {
            payment_config::ActiveModel {
                tenant_id: Set(tenant_id),
                provider: Set("stripe".into()),
                created_at: Set(now),
                updated_at: Set(now),
            }
            .insert(db)
            .await?;
        }
    }
    Ok(())
}

/// Sets or replaces the tenant's secret: every older secret stops working now.
pub async fn set(
    db: &DatabaseConnection,
    ring: &KeyRing,
    tenant_id: i64,
    secret: &WebhookSecret,
) -> Result<(), DbErr> {
    let txn = crate::db::begin_write(db).await?;
    let now = now_ms();
    touch_config(&*txn, tenant_id, now).await?;
    webhook_secret::Entity::delete_many()
        .filter(webhook_secret::Column::TenantId.eq(tenant_id))
        .exec(&*txn)
        .await?;
    new_row(ring, tenant_id, secret, now).insert(&*txn).await?;
    txn.commit().await
}

/// The longest grace period Stripe allows for the previous secret.
pub const MAX_GRACE: Duration = Duration::from_secs(24 * 3600);

/// Installs a new secret now; the current one keeps verifying for `grace`.
pub async fn rotate(
    db: &DatabaseConnection,
    ring: &KeyRing,
    tenant_id: i64,
    secret: &WebhookSecret,
    grace: Duration,
) -> Result<(), DbErr> {
    let grace = grace.min(MAX_GRACE);
    let txn = crate::db::begin_write(db).await?;
    let now = now_ms();
    touch_config(&*txn, tenant_id, now).await?;
    // Older previous secrets and expired ones go; the current one becomes previous.
    webhook_secret::Entity::delete_many()
        .filter(webhook_secret::Column::TenantId.eq(tenant_id))
        .filter(webhook_secret::Column::ExpiresAt.is_not_null())
        .exec(&*txn)
        .await?;
    webhook_secret::Entity::update_many()
        .col_expr(
            webhook_secret::Column::ExpiresAt,
            sea_orm::sea_query::Expr::value(now + grace.as_millis() as i64),
        )
        .filter(webhook_secret::Column::TenantId.eq(tenant_id))
        .exec(&*txn)
        .await?;
    new_row(ring, tenant_id, secret, now).insert(&*txn).await?;
    txn.commit().await
}

/// When the tenant's Stripe configuration last changed.
pub async fn config_updated_at<C: ConnectionTrait>(
    db: &C,
    tenant_id: i64,
) -> Result<Option<i64>, DbErr> {
    Ok(payment_config::Entity::find_by_id(tenant_id)
        .one(db)
        .await?
        .map(|c| c.updated_at))
}

pub async fn delete(db: &DatabaseConnection, tenant_id: i64) -> Result<bool, DbErr> {
    let txn = crate::db::begin_write(db).await?;
    webhook_secret::Entity::delete_many()
        .filter(webhook_secret::Column::TenantId.eq(tenant_id))
        .exec(&*txn)
        .await?;
    let removed = payment_config::Entity::delete_by_id(tenant_id)
        .exec(&*txn)
        .await?;
    txn.commit().await?;
    Ok(removed.rows_affected > 0)
}

/// The secrets that verify now: the current one and an unexpired previous one.
pub async fn active_rows<C: ConnectionTrait>(
    db: &C,
    tenant_id: i64,
    now: i64,
) -> Result<Vec<webhook_secret::Model>, DbErr> {
    webhook_secret::Entity::find()
        .filter(webhook_secret::Column::TenantId.eq(tenant_id))
        .filter(
            Condition::any()
                .add(webhook_secret::Column::ExpiresAt.is_null())
                .add(webhook_secret::Column::ExpiresAt.gt(now)),
        )
        .order_by_desc(webhook_secret::Column::Id)
        .all(db)
        .await
}

/// What `config check` reports for one tenant.
#[derive(Debug, PartialEq, Eq)]
pub enum Health {
    Ok { secrets: usize },
    Missing,
    Broken(String),
}

pub async fn check<C: ConnectionTrait>(
    db: &C,
    ring: &KeyRing,
    tenant_id: i64,
) -> Result<Health, DbErr> {
    let rows = active_rows(db, tenant_id, now_ms()).await?;
    if rows.is_empty() {
        return Ok(Health::Missing);
    }
    for row in &rows {
        if let Err(e) = ring.open(&sealed_of(row), &webhook_secret_aad(tenant_id)) {
            let why = match e {
                OpenError::UnknownKey(id) => format!(
                    "wrong key: secret {} was sealed with key {id}, which is neither PAYMENT_CONFIG_ENC_KEY nor in PAYMENT_CONFIG_ENC_KEY_PREVIOUS",
                    row.hint
                ),
                OpenError::Tampered => format!(
                    "tampered: secret {} does not decrypt with its key (changed, or copied from another tenant)",
                    row.hint
                ),
            };
            return Ok(Health::Broken(why));
        }
    }
    Ok(Health::Ok {
        secrets: rows.len(),
    })
}

/// One decrypted secret, with the moment it stops verifying.
#[derive(Debug, Clone)]
pub struct ActiveSecret {
    pub secret: SecretBytes,
    pub expires_at: Option<i64>,
}

/// What a webhook delivery finds for its tenant slug.
#[derive(Debug)]
pub enum Lookup {
    UnknownTenant,
    NoConfig {
        tenant_id: i64,
    },
    Ready {
        tenant_id: i64,
        secrets: Vec<ActiveSecret>,
    },
    /// The stored secret cannot be opened (wrong key, tampered): an operator's problem.
    Undecryptable {
        tenant_id: i64,
        reason: String,
    },
}

struct Cached {
    fetched: Instant,
    lookup: Arc<Lookup>,
}

/// Decrypted secrets by tenant slug, each trusted for at most `ttl`.
pub struct SecretCache {
    ttl: Duration,
    entries: RwLock<HashMap<String, Cached>>,
}

impl SecretCache {
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            entries: RwLock::new(HashMap::new()),
        }
    }

    pub async fn lookup(
        &self,
        db: &DatabaseConnection,
        ring: &KeyRing,
        slug: &super::TenantSlug,
    ) -> Result<Arc<Lookup>, DbErr> {
        if let Some(hit) = self
            .entries
            .read()
            .expect("cache lock")
            .get(slug.as_str())
            .filter(|c| c.fetched.elapsed() < self.ttl)
        {
            return Ok(hit.lookup.clone());
        }
        let lookup = Arc::new(load(db, ring, slug).await?);
        let mut entries = self.entries.write().expect("cache lock");
        if entries.len() > 100_000 {
            let ttl = self.ttl;
            entries.retain(|_, c| c.fetched.elapsed() < ttl);
        }
        entries.insert(
            slug.as_str().to_string(),
            Cached {
                fetched: Instant::now(),
                lookup: lookup.clone(),
            },
        );
        Ok(lookup)
    }

    /// Forgets a tenant, so that this process honours its own change at once.
    pub fn invalidate(&self, slug: &str) {
        self.entries.write().expect("cache lock").remove(slug);
    }
}

async fn load(
    db: &DatabaseConnection,
    ring: &KeyRing,
    slug: &super::TenantSlug,
) -> Result<Lookup, DbErr> {
    let Some(tenant) = super::find_by_slug(db, slug).await? else {
        return Ok(Lookup::UnknownTenant);
    };
    let rows = active_rows(db, tenant.id, now_ms()).await?;
    if rows.is_empty() {
        return Ok(Lookup::NoConfig {
            tenant_id: tenant.id,
        });
    }
    let mut secrets = Vec::with_capacity(rows.len());
    for row in rows {
        match ring.open(&sealed_of(&row), &webhook_secret_aad(tenant.id)) {
            Ok(plain) => secrets.push(ActiveSecret {
                secret: SecretBytes::from(plain),
                expires_at: row.expires_at,
            }),
            Err(e) => {
                return Ok(Lookup::Undecryptable {
                    tenant_id: tenant.id,
                    reason: e.to_string(),
                });
            }
        }
    }
    Ok(Lookup::Ready {
        tenant_id: tenant.id,
        secrets,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_validated_and_never_printed() {
        let s = WebhookSecret::parse("whsec_abcdefgh1234").unwrap();
        assert_eq!(s.hint(), "whsec_…1234");
        assert_eq!(format!("{s:?}"), "WebhookSecret(whsec_…1234)");
        assert_eq!(s.fingerprint().len(), 16);
        assert_eq!(
            WebhookSecret::parse("sk_live_abcdefgh").unwrap_err(),
            InvalidSecret::Prefix
        );
        assert_eq!(
            WebhookSecret::parse("whsec_short").unwrap_err(),
            InvalidSecret::Body
        );
        assert_eq!(
            WebhookSecret::parse("whsec_has space inside").unwrap_err(),
            InvalidSecret::Body
        );
    }
}
