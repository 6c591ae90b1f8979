//! Webhook signing secrets: validated, sealed with the key ring, and cached decrypted
//! for at most `SECRET_CACHE_TTL_MS` so that a change made by the CLI or another
//! replica is honoured within a second without any restart.

use super::api_keys::Mode;
use super::audit::{self, Actor};
use crate::clock::now_ms;
use crate::config::SecretBytes;
use crate::vault::{KeyRing, OpenError, Sealed, legacy_webhook_secret_aad};
use entity::{payment_config, webhook_secret};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, DbErr,
    EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set,
};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::fmt;
use std::time::Duration;
use zeroize::{Zeroize, Zeroizing};

/// A Stripe webhook signing secret (`whsec_…`). Never printed; wiped from memory when
/// dropped.
#[derive(Clone)]
pub struct WebhookSecret(String);

impl Drop for WebhookSecret {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

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

/// The associated data a webhook secret is sealed with: its tenant, its purpose and its
/// expiry. A ciphertext copied into another tenant's row, or a row whose expiry was
/// changed in the database (say, to keep a rotated-out secret valid forever), no longer
/// opens: `gateway config check` reports it as tampered.
///
/// A test secret's mode is bound too (a live secret's binding is the one every secret
/// had before there were modes), so that a row switched between modes does not open.
pub fn aad(tenant_id: i64, expires_at: Option<i64>, mode: &str) -> Vec<u8> {
    let expires = expires_at.map_or_else(|| "never".to_string(), |at| at.to_string());
    let mode = match mode {
        "live" => String::new(),
        other => format!("/mode/{other}"),
    };
    format!("gateway/v2/stripe-webhook-secret/tenant/{tenant_id}/expires/{expires}{mode}")
        .into_bytes()
}

/// A row's binding (see `aad`).
pub fn aad_of(row: &webhook_secret::Model) -> Vec<u8> {
    aad(row.tenant_id, row.expires_at, &row.mode)
}

/// Opens a stored secret. A row sealed before the expiry was bound (tenant only) still
/// opens, and `upgrade_sealing` re-seals it at start-up.
pub fn open_row(
    ring: &KeyRing,
    row: &webhook_secret::Model,
) -> Result<Zeroizing<Vec<u8>>, OpenError> {
    let sealed = sealed_of(row);
    match ring.open(&sealed, &aad_of(row)) {
        Ok(plain) => Ok(Zeroizing::new(plain)),
        Err(OpenError::Tampered) if row.mode == "live" => ring
            .open(&sealed, &legacy_webhook_secret_aad(row.tenant_id))
            .map(Zeroizing::new)
            .map_err(|_| OpenError::Tampered),
        Err(e) => Err(e),
    }
}

/// Re-seals every secret that opens only under the old binding (tenant only) under the
/// current one (tenant, purpose and expiry). Rows it cannot open are left as they are.
pub async fn upgrade_sealing(db: &DatabaseConnection, ring: &KeyRing) -> Result<usize, DbErr> {
    let rows = webhook_secret::Entity::find().all(db).await?;
    let mut upgraded = 0;
    for row in rows {
        let sealed = sealed_of(&row);
        if ring.open(&sealed, &aad_of(&row)).is_ok() {
            continue;
        }
        let Ok(plain) = ring.open(&sealed, &legacy_webhook_secret_aad(row.tenant_id)) else {
            continue;
        };
        let plain = Zeroizing::new(plain);
        let fresh = ring.seal(&plain, &aad_of(&row));
        let done = reseal(db, &row, fresh, row.expires_at).await?;
        upgraded += usize::from(done);
    }
    if upgraded > 0 {
        tracing::info!(
            secrets = upgraded,
            "re-sealed webhook secrets bound to their expiry"
        );
    }
    Ok(upgraded)
}

/// Writes a row's new sealing (and expiry), only if it still holds what was read.
async fn reseal<C: ConnectionTrait>(
    db: &C,
    row: &webhook_secret::Model,
    fresh: Sealed,
    expires_at: Option<i64>,
) -> Result<bool, DbErr> {
    use sea_orm::sea_query::Expr;
    let result = webhook_secret::Entity::update_many()
        .col_expr(webhook_secret::Column::KeyId, Expr::value(fresh.key_id))
        .col_expr(webhook_secret::Column::Nonce, Expr::value(fresh.nonce))
        .col_expr(
            webhook_secret::Column::Ciphertext,
            Expr::value(fresh.ciphertext),
        )
        .col_expr(webhook_secret::Column::ExpiresAt, Expr::value(expires_at))
        .filter(webhook_secret::Column::Id.eq(row.id))
        .filter(webhook_secret::Column::Ciphertext.eq(row.ciphertext.clone()))
        .exec(db)
        .await?;
    Ok(result.rows_affected == 1)
}

fn new_row(
    ring: &KeyRing,
    tenant_id: i64,
    secret: &WebhookSecret,
    mode: Mode,
    now: i64,
) -> webhook_secret::ActiveModel {
    let sealed = ring.seal(
        secret.expose().as_bytes(),
        &aad(tenant_id, None, mode.as_str()),
    );
    webhook_secret::ActiveModel {
        tenant_id: Set(tenant_id),
        key_id: Set(sealed.key_id),
        nonce: Set(sealed.nonce),
        ciphertext: Set(sealed.ciphertext),
        hint: Set(secret.hint()),
        fingerprint: Set(secret.fingerprint()),
        created_at: Set(now),
        expires_at: Set(None),
        mode: Set(mode.as_str().to_owned()),
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

/// Sets the tenant's secret of `mode`; every older one of that mode stops verifying
/// now, the other mode's are left as they are. Audited in the same transaction: no
/// audit row, no change.
pub async fn set(
    db: &DatabaseConnection,
    ring: &KeyRing,
    tenant_id: i64,
    secret: &WebhookSecret,
    mode: Mode,
    actor: &Actor,
) -> Result<(), DbErr> {
    let txn = crate::db::begin_write(db).await?;
    let now = now_ms();
    touch_config(&*txn, tenant_id, now).await?;
    webhook_secret::Entity::delete_many()
        .filter(webhook_secret::Column::TenantId.eq(tenant_id))
        .filter(webhook_secret::Column::Mode.eq(mode.as_str()))
        .exec(&*txn)
        .await?;
    new_row(ring, tenant_id, secret, mode, now)
        .insert(&*txn)
        .await?;
    let detail = serde_json::json!({"hint": secret.hint(), "fingerprint": secret.fingerprint(),
                                    "mode": mode.as_str()});
    audit::record(&*txn, actor, Some(tenant_id), "payment_config.set", detail).await?;
    txn.commit().await
}

/// The longest grace period Stripe allows for the previous secret.
pub const MAX_GRACE: Duration = Duration::from_secs(24 * 3600);

/// A new secret of `mode` now; the current one of that mode stays valid for `grace`
/// (at most 24 hours), and is re-sealed bound to that expiry. Audited in the same
/// transaction.
pub async fn rotate(
    db: &DatabaseConnection,
    ring: &KeyRing,
    tenant_id: i64,
    secret: &WebhookSecret,
    mode: Mode,
    grace: Duration,
    actor: &Actor,
) -> Result<(), DbErr> {
    let grace = grace.min(MAX_GRACE);
    let txn = crate::db::begin_write(db).await?;
    let now = now_ms();
    let expires = now + grace.as_millis() as i64;
    touch_config(&*txn, tenant_id, now).await?;
    webhook_secret::Entity::delete_many()
        .filter(webhook_secret::Column::TenantId.eq(tenant_id))
        .filter(webhook_secret::Column::Mode.eq(mode.as_str()))
        .filter(webhook_secret::Column::ExpiresAt.is_not_null())
        .exec(&*txn)
        .await?;
    let current = webhook_secret::Entity::find()
        .filter(webhook_secret::Column::TenantId.eq(tenant_id))
        .filter(webhook_secret::Column::Mode.eq(mode.as_str()))
        .all(&*txn)
        .await?;
    for row in current {
        match open_row(ring, &row) {
            Ok(plain) => {
                let fresh = ring.seal(&plain, &aad(tenant_id, Some(expires), &row.mode));
                reseal(&*txn, &row, fresh, Some(expires)).await?;
            }
            // It could not verify anything anyway: nothing to keep through a grace.
            Err(e) => {
                tracing::warn!(error = %e, "the previous secret does not open; dropped at rotation");
                webhook_secret::Entity::delete_by_id(row.id)
                    .exec(&*txn)
                    .await?;
            }
        }
    }
    new_row(ring, tenant_id, secret, mode, now)
        .insert(&*txn)
        .await?;
    let detail = serde_json::json!({"hint": secret.hint(), "fingerprint": secret.fingerprint(),
                                    "mode": mode.as_str(), "previous_expires_in_secs": grace.as_secs()});
    audit::record(
        &*txn,
        actor,
        Some(tenant_id),
        "payment_config.rotate",
        detail,
    )
    .await?;
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

/// Removes the tenant's configuration; false when there was none. Audited in the same
/// transaction.
pub async fn delete(db: &DatabaseConnection, tenant_id: i64, actor: &Actor) -> Result<bool, DbErr> {
    let txn = crate::db::begin_write(db).await?;
    webhook_secret::Entity::delete_many()
        .filter(webhook_secret::Column::TenantId.eq(tenant_id))
        .exec(&*txn)
        .await?;
    let removed = payment_config::Entity::delete_by_id(tenant_id)
        .exec(&*txn)
        .await?
        .rows_affected
        > 0;
    if removed {
        audit::record(
            &*txn,
            actor,
            Some(tenant_id),
            "payment_config.delete",
            serde_json::json!({}),
        )
        .await?;
    }
    txn.commit().await?;
    Ok(removed)
}

/// The secrets that verify now: the current one and an unexpired previous one.
pub async fn active_rows<C: ConnectionTrait>(
    db: &C,
    tenant_id: i64,
    now: i64,
) -> Result<Vec<webhook_secret::Model>, DbErr> {
    webhook_secret::Entity::find()
        .filter(webhook_secret::Column::TenantId.eq(tenant_id))
        .filter(unexpired(now))
        .order_by_desc(webhook_secret::Column::Id)
        .all(db)
        .await
}

fn unexpired(now: i64) -> Condition {
    Condition::any()
        .add(webhook_secret::Column::ExpiresAt.is_null())
        .add(webhook_secret::Column::ExpiresAt.gt(now))
}

/// The tenants whose `check` is `Health::Ok` at `now`, in one read of every unexpired
/// secret (for the alerts, which must not ask once per tenant).
pub async fn tenants_healthy<C: ConnectionTrait>(
    db: &C,
    ring: &KeyRing,
    now: i64,
) -> Result<std::collections::HashSet<i64>, DbErr> {
    let rows = webhook_secret::Entity::find()
        .filter(unexpired(now))
        .all(db)
        .await?;
    let mut opens: HashMap<i64, bool> = HashMap::new();
    for row in &rows {
        let ok = open_row(ring, row).is_ok();
        *opens.entry(row.tenant_id).or_insert(true) &= ok;
    }
    Ok(opens
        .into_iter()
        .filter_map(|(tenant, ok)| ok.then_some(tenant))
        .collect())
}

/// The tenants with a secret that verifies now (whether it decrypts is `check`'s).
pub async fn configured_tenants<C: ConnectionTrait>(
    db: &C,
) -> Result<std::collections::HashSet<i64>, DbErr> {
    let tenants: Vec<i64> = webhook_secret::Entity::find()
        .select_only()
        .column(webhook_secret::Column::TenantId)
        .filter(unexpired(now_ms()))
        .distinct()
        .into_tuple()
        .all(db)
        .await?;
    Ok(tenants.into_iter().collect())
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
        if let Err(e) = open_row(ring, row) {
            let why = match e {
                OpenError::UnknownKey(id) => format!(
                    "wrong key: secret {} was sealed with key {id}, which is neither PAYMENT_CONFIG_ENC_KEY nor in PAYMENT_CONFIG_ENC_KEY_PREVIOUS",
                    row.hint
                ),
                OpenError::Tampered => format!(
                    "tampered: secret {} does not decrypt with its key (its tenant, purpose or expiry was changed in the database, or it was copied from another tenant)",
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
    /// The Stripe endpoint it signs for: an event whose `livemode` disagrees is not
    /// applied (`mode_mismatch`).
    pub mode: Mode,
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

impl ActiveSecret {
    /// Whether it still verifies at `now_ms` (a rotated-out secret until it expires).
    pub fn active_at(&self, now_ms: i64) -> bool {
        self.expires_at.is_none_or(|at| at > now_ms)
    }
}

impl Lookup {
    pub fn tenant_id(&self) -> Option<i64> {
        match self {
            Lookup::UnknownTenant => None,
            Lookup::NoConfig { tenant_id }
            | Lookup::Ready { tenant_id, .. }
            | Lookup::Undecryptable { tenant_id, .. } => Some(*tenant_id),
        }
    }
}

/// What a delivery to `slug` finds, read from the database now (the cache in
/// `secret_cache` keeps it).
pub async fn load(
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
        match open_row(ring, &row) {
            Ok(plain) => secrets.push(ActiveSecret {
                secret: SecretBytes::from(plain.to_vec()),
                expires_at: row.expires_at,
                mode: Mode::parse(&row.mode).unwrap_or(Mode::Live),
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
