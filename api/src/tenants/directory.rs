//! Every tenant's active webhook secrets, to tell, of a delivery that does not verify
//! for its own tenant, whether it verifies for another: an endpoint URL that points at
//! the wrong restaurant (`signed_for_another_tenant`). The secrets are read at most
//! every 30 s; the check itself is `stripe::signature::verify`, the one constant-time
//! routine that verifies every delivery. How often it may run is decided by its caller
//! (`webhooks::crosscheck`, within a CPU budget, off the request's path).

use super::secrets::open_row;
use crate::clock::now_ms;
use crate::config::SecretBytes;
use crate::stripe::signature;
use crate::vault::KeyRing;
use entity::webhook_secret;
use sea_orm::{ColumnTrait, Condition, DatabaseConnection, DbErr, EntityTrait, QueryFilter};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long the secrets read are used before they are read again.
const FRESH_FOR: Duration = Duration::from_secs(30);

/// Every tenant's active secrets: (tenant id, secret).
pub type Secrets = Arc<Vec<(i64, SecretBytes)>>;

#[derive(Default)]
pub struct Directory {
    loaded: tokio::sync::Mutex<Option<(Instant, Secrets)>>,
}

impl Directory {
    /// Every tenant's active secrets, decrypted (those that do not open are left out).
    pub async fn secrets(&self, db: &DatabaseConnection, ring: &KeyRing) -> Result<Secrets, DbErr> {
        let mut loaded = self.loaded.lock().await;
        if let Some((at, secrets)) = &*loaded
            && at.elapsed() < FRESH_FOR
        {
            return Ok(secrets.clone());
        }
        let now = now_ms();
        let rows = webhook_secret::Entity::find()
            .filter(
                Condition::any()
                    .add(webhook_secret::Column::ExpiresAt.is_null())
                    .add(webhook_secret::Column::ExpiresAt.gt(now)),
            )
            .all(db)
            .await?;
        let secrets: Secrets = Arc::new(
            rows.iter()
                .filter_map(|row| {
                    let plain = open_row(ring, row).ok()?;
                    Some((row.tenant_id, SecretBytes::from(plain.to_vec())))
                })
                .collect(),
        );
        *loaded = Some((Instant::now(), secrets.clone()));
        Ok(secrets)
    }
}

/// The tenant other than `except` whose secret signed `body` as `header` says, if any.
/// Verified exactly as a delivery is (the timestamp within `tolerance_secs` of `now`).
pub fn signed_by(
    secrets: &[(i64, SecretBytes)],
    body: &[u8],
    header: &str,
    except: i64,
    now: i64,
    tolerance_secs: i64,
) -> Option<i64> {
    let (tenants, keys): (Vec<i64>, Vec<&[u8]>) = secrets
        .iter()
        .filter(|(tenant_id, _)| *tenant_id != except)
        .map(|(tenant_id, secret)| (*tenant_id, secret.expose()))
        .unzip();
    let verified = signature::verify(body, Some(header), &keys, now, tolerance_secs).ok()?;
    tenants.get(verified.secret_index).copied()
}

/// Whether one of `tenant`'s own secrets signed `body` (another writing of the body
/// that was refused: see `stripe::rewrite`).
pub fn signed_by_own(
    secrets: &[(i64, SecretBytes)],
    body: &[u8],
    header: &str,
    tenant: i64,
    now: i64,
    tolerance_secs: i64,
) -> bool {
    let keys: Vec<&[u8]> = secrets
        .iter()
        .filter(|(tenant_id, _)| *tenant_id == tenant)
        .map(|(_, secret)| secret.expose())
        .collect();
    !keys.is_empty() && signature::verify(body, Some(header), &keys, now, tolerance_secs).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tenant_whose_secret_signed_is_found_and_the_own_one_left_out() {
        let secrets = vec![
            (1, SecretBytes::from(b"whsec_one".to_vec())),
            (2, SecretBytes::from(b"whsec_two".to_vec())),
            (3, SecretBytes::from(b"whsec_three".to_vec())),
        ];
        let body = br#"{"id":"evt_1","object":"event"}"#;
        let header = signature::sign_header(b"whsec_two", 1_000, body);
        assert_eq!(signed_by(&secrets, body, &header, 1, 1_000, 300), Some(2));
        assert_eq!(signed_by(&secrets, body, &header, 2, 1_000, 300), None);
        assert_eq!(
            signed_by(&secrets, body, &header, 1, 9_000, 300),
            None,
            "outside the tolerance"
        );
        let forged = format!("t=1000,v1={}", "ab".repeat(32));
        assert_eq!(signed_by(&secrets, body, &forged, 1, 1_000, 300), None);
    }
}
