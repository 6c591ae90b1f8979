//! Re-encrypting every stored secret under the current key (`gateway keys rotate`).
//!
//! Each row is re-sealed on its own and written only if it still holds what was read,
//! so rotating is idempotent, safe beside running gateways, and safe to interrupt and
//! run again: rows already under the current key are skipped.

use super::audit::{self, Actor};
use super::secrets;
use crate::vault::KeyRing;
use entity::webhook_secret;
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QueryOrder};

/// What a rotation did.
#[derive(Debug, Default)]
pub struct Summary {
    pub total: usize,
    pub rotated: usize,
    pub already_current: usize,
    /// Secrets that no key of the ring opens, in words.
    pub failed: Vec<String>,
}

/// Rotates every secret; `progress(done, total)` is called after each.
pub async fn rotate_all(
    db: &DatabaseConnection,
    ring: &KeyRing,
    actor: &Actor,
    mut progress: impl FnMut(usize, usize),
) -> Result<Summary, DbErr> {
    let rows = webhook_secret::Entity::find()
        .order_by_asc(webhook_secret::Column::Id)
        .all(db)
        .await?;
    let mut summary = Summary {
        total: rows.len(),
        ..Summary::default()
    };
    for (i, row) in rows.into_iter().enumerate() {
        if row.key_id == ring.current_id() {
            summary.already_current += 1;
        } else {
            match secrets::open_row(ring, &row) {
                Ok(plain) => {
                    let fresh = ring.seal(&plain, &secrets::aad(row.tenant_id, row.expires_at));
                    let result = webhook_secret::Entity::update_many()
                        .col_expr(webhook_secret::Column::KeyId, Expr::value(fresh.key_id))
                        .col_expr(webhook_secret::Column::Nonce, Expr::value(fresh.nonce))
                        .col_expr(
                            webhook_secret::Column::Ciphertext,
                            Expr::value(fresh.ciphertext),
                        )
                        .filter(webhook_secret::Column::Id.eq(row.id))
                        .filter(webhook_secret::Column::KeyId.eq(row.key_id.as_str()))
                        .exec(db)
                        .await?;
                    if result.rows_affected == 1 {
                        summary.rotated += 1;
                    } else {
                        summary.already_current += 1;
                    }
                }
                Err(e) => summary.failed.push(format!(
                    "secret {} of tenant {}: {e}",
                    row.hint, row.tenant_id
                )),
            }
        }
        progress(i + 1, summary.total);
    }
    audit::record(
        db,
        actor,
        None,
        "keys.rotate",
        serde_json::json!({"key_id": ring.current_id(), "rotated": summary.rotated,
                           "already_current": summary.already_current, "failed": summary.failed.len()}),
    )
    .await?;
    Ok(summary)
}
