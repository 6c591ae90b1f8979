//! `gateway keys rotate`: re-encrypts every stored secret under the current key.
//!
//! Each row is re-sealed on its own and written only if it still holds what was read,
//! so the command is idempotent, safe beside running gateways, and safe to interrupt
//! and run again: rows already under the current key are skipped.

use crate::admin::audit;
use crate::vault::{KeyRing, Sealed, webhook_secret_aad};
use entity::webhook_secret;
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder};
use std::io::Write;

pub async fn rotate_all(db: &DatabaseConnection, ring: &KeyRing) -> Result<(), String> {
    let rows = webhook_secret::Entity::find()
        .order_by_asc(webhook_secret::Column::Id)
        .all(db)
        .await
        .map_err(|e| e.to_string())?;
    let total = rows.len();
    let (mut rotated, mut current, mut failed) = (0usize, 0usize, Vec::new());
    for (i, row) in rows.into_iter().enumerate() {
        if row.key_id == ring.current_id() {
            current += 1;
        } else {
            let sealed = Sealed {
                key_id: row.key_id.clone(),
                nonce: row.nonce.clone(),
                ciphertext: row.ciphertext.clone(),
            };
            let aad = webhook_secret_aad(row.tenant_id);
            match ring.open(&sealed, &aad) {
                Ok(plain) => {
                    let fresh = ring.seal(&plain, &aad);
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
                        .await
                        .map_err(|e| e.to_string())?;
                    if result.rows_affected == 1 {
                        rotated += 1;
                    } else {
                        current += 1;
                    }
                }
                Err(e) => failed.push(format!(
                    "secret {} of tenant {}: {e}",
                    row.hint, row.tenant_id
                )),
            }
        }
        progress(i + 1, total);
    }
    eprintln!();
    audit::record(
        db,
        "cli",
        None,
        None,
        "keys.rotate",
        serde_json::json!({"key_id": ring.current_id(), "rotated": rotated, "already_current": current, "failed": failed.len()}),
    )
    .await
    .map_err(|e| e.to_string())?;
    println!(
        "{total} secret(s): {rotated} re-encrypted under key {}, {current} already under it, {} failed",
        ring.current_id(),
        failed.len()
    );
    for why in &failed {
        println!("  {why}");
    }
    if failed.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "{} secret(s) could not be decrypted: list their old key in PAYMENT_CONFIG_ENC_KEY_PREVIOUS and run again",
            failed.len()
        ))
    }
}

fn progress(done: usize, total: usize) {
    let width = 30;
    let filled = (done * width).checked_div(total).unwrap_or(width);
    eprint!(
        "\r[{}{}] {done}/{total}",
        "#".repeat(filled),
        " ".repeat(width - filled)
    );
    let _ = std::io::stderr().flush();
}
