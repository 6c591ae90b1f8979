//! A tenant's notification endpoints: added (the secret shown once), listed, removed;
//! every change audited in its transaction.

use super::patterns::Patterns;
use super::{UrlError, check_url, new_secret};
use crate::clock::now_ms;
use crate::tenants::audit::{self, Actor};
use crate::vault::{KeyRing, OpenError, Sealed};
use entity::{notification, notification_endpoint as endpoint};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, DbErr, EntityTrait, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect, Set,
};
use zeroize::Zeroizing;

fn aad(tenant_id: i64) -> Vec<u8> {
    format!("gateway/v2/notification-secret/tenant/{tenant_id}").into_bytes()
}

/// Endpoints a tenant may have (CONTRACT §9): each costs an attempt per change.
pub const MAX_PER_TENANT: u64 = 10;

#[derive(Debug, thiserror::Error)]
pub enum AddError {
    #[error(transparent)]
    Url(#[from] UrlError),
    #[error("a restaurant has at most {MAX_PER_TENANT} notification endpoints; remove one first")]
    TooMany,
    #[error(transparent)]
    Db(#[from] DbErr),
}

/// What went wrong, for the caller to answer.
pub enum AddErrorKind {
    Url(String),
    Db(DbErr),
}

impl AddError {
    pub fn kind(self) -> AddErrorKind {
        match self {
            AddError::Url(e) => AddErrorKind::Url(e.to_string()),
            AddError::TooMany => AddErrorKind::Url(AddError::TooMany.to_string()),
            AddError::Db(e) => AddErrorKind::Db(e),
        }
    }
}

/// A new endpoint, with its secret (`whsec_…`): give it to the caller once.
pub struct Added {
    pub endpoint: endpoint::Model,
    pub secret: Zeroizing<String>,
}

#[allow(clippy::too_many_arguments)]
pub async fn add(
    db: &DatabaseConnection,
    ring: &KeyRing,
    tenant_id: i64,
    url: &str,
    patterns: &Patterns,
    allow_private: bool,
    actor: &Actor,
) -> Result<Added, AddError> {
    let url = url.trim();
    check_url(url, allow_private).await?;
    let (secret, bytes) = new_secret();
    let bytes = Zeroizing::new(bytes);
    let sealed = ring.seal(&bytes, &aad(tenant_id));
    let txn = crate::db::begin_write(db).await?;
    let count = endpoint::Entity::find()
        .filter(endpoint::Column::TenantId.eq(tenant_id))
        .count(&*txn)
        .await?;
    if count >= MAX_PER_TENANT {
        return Err(AddError::TooMany);
    }
    let model = endpoint::ActiveModel {
        tenant_id: Set(tenant_id),
        url: Set(url.to_string()),
        key_id: Set(sealed.key_id),
        nonce: Set(sealed.nonce),
        ciphertext: Set(sealed.ciphertext),
        created_at: Set(now_ms()),
        event_types: Set(patterns.to_stored()),
        paused: Set(false),
        in_order_until: Set(None),
        ..Default::default()
    }
    .insert(&*txn)
    .await?;
    let detail =
        serde_json::json!({"id": model.id, "url": model.url, "event_types": patterns.list()});
    audit::record(
        &*txn,
        actor,
        Some(tenant_id),
        "notification_endpoint.add",
        detail,
    )
    .await?;
    txn.commit().await?;
    Ok(Added {
        endpoint: model,
        secret: Zeroizing::new(secret),
    })
}

pub async fn list(db: &DatabaseConnection, tenant_id: i64) -> Result<Vec<endpoint::Model>, DbErr> {
    endpoint::Entity::find()
        .filter(endpoint::Column::TenantId.eq(tenant_id))
        .order_by_asc(endpoint::Column::Id)
        .all(db)
        .await
}

pub async fn find<C: sea_orm::ConnectionTrait>(
    db: &C,
    tenant_id: i64,
    id: i64,
) -> Result<Option<endpoint::Model>, DbErr> {
    endpoint::Entity::find()
        .filter(endpoint::Column::TenantId.eq(tenant_id))
        .filter(endpoint::Column::Id.eq(id))
        .one(db)
        .await
}

/// Removes an endpoint of the tenant; false when there is none with this id.
pub async fn remove(
    db: &DatabaseConnection,
    tenant_id: i64,
    id: i64,
    actor: &Actor,
) -> Result<bool, DbErr> {
    let txn = crate::db::begin_write(db).await?;
    let removed = endpoint::Entity::delete_many()
        .filter(endpoint::Column::TenantId.eq(tenant_id))
        .filter(endpoint::Column::Id.eq(id))
        .exec(&*txn)
        .await?
        .rows_affected
        > 0;
    if removed {
        audit::record(
            &*txn,
            actor,
            Some(tenant_id),
            "notification_endpoint.remove",
            serde_json::json!({"id": id}),
        )
        .await?;
        txn.commit().await?;
    }
    Ok(removed)
}

/// The newest notification of the endpoint that waits to be sent, if any.
async fn last_pending<C: sea_orm::ConnectionTrait>(
    db: &C,
    endpoint_id: i64,
    since: Option<i64>,
    any_status: bool,
) -> Result<Option<i64>, DbErr> {
    let mut query = notification::Entity::find()
        .select_only()
        .column(notification::Column::Id)
        .filter(notification::Column::EndpointId.eq(endpoint_id))
        .order_by_desc(notification::Column::Id);
    if !any_status {
        query = query.filter(notification::Column::Status.eq("PENDING"));
    }
    if let Some(since) = since {
        query = query.filter(notification::Column::CreatedAt.gte(since));
    }
    query.into_tuple().one(db).await
}

/// Pauses (notifications wait in the outbox) or resumes (what waited goes out in order,
/// oldest first) an endpoint of the tenant; the endpoint as it is now, none when there is
/// no such endpoint.
pub async fn set_paused(
    db: &DatabaseConnection,
    tenant_id: i64,
    id: i64,
    paused: bool,
    actor: &Actor,
) -> Result<Option<endpoint::Model>, DbErr> {
    let txn = crate::db::begin_write(db).await?;
    let Some(row) = find(&*txn, tenant_id, id).await? else {
        return Ok(None);
    };
    let mut update = endpoint::Entity::update_many()
        .col_expr(endpoint::Column::Paused, Expr::value(paused))
        .filter(endpoint::Column::Id.eq(id));
    if !paused && row.paused {
        let backlog = last_pending(&*txn, id, None, false).await?;
        let until = backlog.max(row.in_order_until);
        update = update.col_expr(endpoint::Column::InOrderUntil, Expr::value(until));
    }
    update.exec(&*txn).await?;
    let action = match paused {
        true => "notification_endpoint.pause",
        false => "notification_endpoint.resume",
    };
    audit::record(
        &*txn,
        actor,
        Some(tenant_id),
        action,
        serde_json::json!({"id": id}),
    )
    .await?;
    let row = endpoint::Entity::find_by_id(id).one(&*txn).await?;
    txn.commit().await?;
    Ok(row)
}

/// Sends again, in order, every notification of the endpoint made since `since` (ms),
/// delivered or not, each with its `webhook-id`; how many, none when there is no such
/// endpoint.
pub async fn resend(
    db: &DatabaseConnection,
    tenant_id: i64,
    id: i64,
    since: i64,
    actor: &Actor,
) -> Result<Option<u64>, DbErr> {
    let txn = crate::db::begin_write(db).await?;
    let Some(row) = find(&*txn, tenant_id, id).await? else {
        return Ok(None);
    };
    let resent = notification::Entity::update_many()
        .col_expr(notification::Column::Status, Expr::value("PENDING"))
        .col_expr(notification::Column::NextAttemptAt, Expr::value(now_ms()))
        .col_expr(
            notification::Column::DeliveredAt,
            Expr::value(Option::<i64>::None),
        )
        .filter(notification::Column::TenantId.eq(tenant_id))
        .filter(notification::Column::EndpointId.eq(id))
        .filter(notification::Column::CreatedAt.gte(since))
        .exec(&*txn)
        .await?
        .rows_affected;
    if resent > 0 {
        let last = last_pending(&*txn, id, Some(since), true).await?;
        endpoint::Entity::update_many()
            .col_expr(
                endpoint::Column::InOrderUntil,
                Expr::value(last.max(row.in_order_until)),
            )
            .filter(endpoint::Column::Id.eq(id))
            .exec(&*txn)
            .await?;
    }
    let detail = serde_json::json!({"id": id, "since": crate::clock::ms_to_rfc3339(since), "resent": resent});
    audit::record(
        &*txn,
        actor,
        Some(tenant_id),
        "notification_endpoint.resend",
        detail,
    )
    .await?;
    txn.commit().await?;
    Ok(Some(resent))
}

/// The endpoint's secret, for signing.
pub fn secret(ring: &KeyRing, row: &endpoint::Model) -> Result<Zeroizing<Vec<u8>>, OpenError> {
    ring.open(&sealed_of(row), &aad(row.tenant_id))
        .map(Zeroizing::new)
}

fn sealed_of(row: &endpoint::Model) -> Sealed {
    Sealed {
        key_id: row.key_id.clone(),
        nonce: row.nonce.clone(),
        ciphertext: row.ciphertext.clone(),
    }
}

/// Re-seals every endpoint's secret under the current key (`gateway keys rotate`).
pub async fn rotate_all(
    db: &DatabaseConnection,
    ring: &KeyRing,
    progress: impl FnMut(usize, usize),
) -> Result<crate::tenants::keyrotation::Summary, DbErr> {
    use crate::tenants::keyrotation::{SealedValue, reseal_each};
    let rows = endpoint::Entity::find()
        .order_by_asc(endpoint::Column::Id)
        .all(db)
        .await?;
    let values = rows
        .iter()
        .map(|row| SealedValue {
            what: format!(
                "the secret of notification endpoint {} of tenant {}",
                row.id, row.tenant_id
            ),
            sealed: sealed_of(row),
            aad: aad(row.tenant_id),
        })
        .collect();
    reseal_each(
        values,
        ring,
        async |i, old, fresh| {
            let result = endpoint::Entity::update_many()
                .col_expr(endpoint::Column::KeyId, Expr::value(fresh.key_id))
                .col_expr(endpoint::Column::Nonce, Expr::value(fresh.nonce))
                .col_expr(endpoint::Column::Ciphertext, Expr::value(fresh.ciphertext))
                .filter(endpoint::Column::Id.eq(rows[i].id))
                .filter(endpoint::Column::KeyId.eq(old))
                .exec(db)
                .await?;
            Ok(result.rows_affected == 1)
        },
        progress,
    )
    .await
}
