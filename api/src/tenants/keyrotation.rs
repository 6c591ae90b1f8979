//! Re-encrypting every stored secret under the current key (`gateway keys rotate`).
//!
//! Each row is re-sealed on its own and written only if it still holds what was read,
//! so rotating is idempotent, safe beside running gateways, and safe to interrupt and
//! run again: rows already under the current key are skipped.

use super::audit::{self, Actor};
use super::secrets;
use crate::vault::{KeyRing, Sealed};
use entity::webhook_secret;
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QueryOrder};

/// How many values are sealed in the database, of every kind (webhook secrets, Stripe
/// API keys, notification endpoint secrets): a key that opens none of them must not
/// stand in for the one that sealed them.
pub async fn sealed_values(db: &DatabaseConnection) -> Result<u64, DbErr> {
    use entity::{notification_endpoint, stripe_api_key};
    use sea_orm::PaginatorTrait;
    Ok(webhook_secret::Entity::find().count(db).await?
        + stripe_api_key::Entity::find().count(db).await?
        + notification_endpoint::Entity::find().count(db).await?)
}

/// What a rotation did, for one kind of sealed value.
#[derive(Debug, Default)]
pub struct Summary {
    pub total: usize,
    pub rotated: usize,
    pub already_current: usize,
    /// Values that no key of the ring opens, in words.
    pub failed: Vec<String>,
}

/// One sealed value to re-seal: what it is (for the summary), its sealing, its AAD.
pub struct SealedValue {
    pub what: String,
    pub sealed: Sealed,
    pub aad: Vec<u8>,
}

/// Re-seals each value not yet under the current key. `write(index, old_key_id,
/// fresh)` stores the fresh sealing only if the row still holds `old_key_id`, and says
/// whether it did (a row changed meanwhile counts as current). `progress(done, total)`
/// is called after each.
pub async fn reseal_each(
    values: Vec<SealedValue>,
    ring: &KeyRing,
    mut write: impl AsyncFnMut(usize, &str, Sealed) -> Result<bool, DbErr>,
    mut progress: impl FnMut(usize, usize),
) -> Result<Summary, DbErr> {
    let mut summary = Summary {
        total: values.len(),
        ..Summary::default()
    };
    for (i, value) in values.into_iter().enumerate() {
        if value.sealed.key_id == ring.current_id() {
            summary.already_current += 1;
        } else {
            match ring.open(&value.sealed, &value.aad) {
                Ok(plain) => {
                    let plain = zeroize::Zeroizing::new(plain);
                    let fresh = ring.seal(&plain, &value.aad);
                    if write(i, &value.sealed.key_id, fresh).await? {
                        summary.rotated += 1;
                    } else {
                        summary.already_current += 1;
                    }
                }
                Err(e) => summary.failed.push(format!("{}: {e}", value.what)),
            }
        }
        progress(i + 1, summary.total);
    }
    Ok(summary)
}

/// Re-seals every webhook secret.
pub async fn rotate_webhook_secrets(
    db: &DatabaseConnection,
    ring: &KeyRing,
    progress: impl FnMut(usize, usize),
) -> Result<Summary, DbErr> {
    let rows = webhook_secret::Entity::find()
        .order_by_asc(webhook_secret::Column::Id)
        .all(db)
        .await?;
    let values = rows
        .iter()
        .map(|row| SealedValue {
            what: format!("secret {} of tenant {}", row.hint, row.tenant_id),
            sealed: Sealed {
                key_id: row.key_id.clone(),
                nonce: row.nonce.clone(),
                ciphertext: row.ciphertext.clone(),
            },
            aad: secrets::aad_of(row),
        })
        .collect();
    reseal_each(
        values,
        ring,
        async |i, old, fresh| {
            let result = webhook_secret::Entity::update_many()
                .col_expr(webhook_secret::Column::KeyId, Expr::value(fresh.key_id))
                .col_expr(webhook_secret::Column::Nonce, Expr::value(fresh.nonce))
                .col_expr(
                    webhook_secret::Column::Ciphertext,
                    Expr::value(fresh.ciphertext),
                )
                .filter(webhook_secret::Column::Id.eq(rows[i].id))
                .filter(webhook_secret::Column::KeyId.eq(old))
                .exec(db)
                .await?;
            Ok(result.rows_affected == 1)
        },
        progress,
    )
    .await
}

/// Writes the rotation to the audit log: per kind, how many were re-sealed.
pub async fn record(
    db: &DatabaseConnection,
    ring: &KeyRing,
    actor: &Actor,
    kinds: &[(&str, &Summary)],
) -> Result<(), DbErr> {
    let detail: serde_json::Map<String, serde_json::Value> = kinds
        .iter()
        .map(|(kind, s)| {
            (
                kind.to_string(),
                serde_json::json!({"rotated": s.rotated, "already_current": s.already_current,
                                   "failed": s.failed.len()}),
            )
        })
        .collect();
    audit::record(
        db,
        actor,
        None,
        "keys.rotate",
        serde_json::json!({"key_id": ring.current_id(), "kinds": detail}),
    )
    .await
}
