//! Subscriptions' rows: merged in the transaction that applies their events, read by
//! the restaurant's backend and its admins.

use super::{empty, merge};
use crate::db::Dialect;
use crate::orders::apply::{GroupApplied, Item, Outcome};
use entity::subscription;
use sea_orm::sea_query::OnConflict;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DbErr, EntityTrait, IntoActiveModel,
    QueryFilter, QueryOrder, QuerySelect,
};

/// What applying a group's subscription events did.
#[derive(Debug, Default)]
pub struct Subscribed {
    /// The outcome of each item (by its index) that is about a subscription.
    pub outcomes: Vec<(usize, Outcome)>,
    /// Every subscription whose status changed, as it is now.
    pub changes: Vec<subscription::Model>,
}

/// Merges the items' subscription facts into their rows, in the items' order. Call
/// inside the transaction that stores them. On PostgreSQL each row is made if missing
/// and then locked, so that concurrent groups merge one after the other.
pub async fn apply<C: ConnectionTrait>(
    db: &C,
    items: &[Item<'_>],
    now: i64,
) -> Result<Subscribed, DbErr> {
    let about: Vec<(usize, &Item)> = items
        .iter()
        .enumerate()
        .filter(|(_, i)| i.facts.subscription.is_some() && !i.facts.signed_in_other_mode())
        .collect();
    let mut out = Subscribed::default();
    if about.is_empty() {
        return Ok(out);
    }
    let mut keys: Vec<(i64, &str)> = about
        .iter()
        .map(|(_, i)| {
            (
                i.tenant_id,
                i.facts.subscription.as_ref().unwrap().id.as_str(),
            )
        })
        .collect();
    keys.sort();
    keys.dedup();
    let mut rows: Vec<(subscription::Model, subscription::Model)> = Vec::new();
    let blanks = about.iter().map(|(_, i)| {
        let facts = i.facts.subscription.as_ref().unwrap();
        empty(i.tenant_id, facts, i.facts.livemode, now).into_active_model()
    });
    subscription::Entity::insert_many(blanks)
        .on_conflict(
            OnConflict::columns([subscription::Column::TenantId, subscription::Column::Id])
                .do_nothing()
                .to_owned(),
        )
        .exec_without_returning(db)
        .await?;
    let mut which = Condition::any();
    for (tenant_id, id) in &keys {
        which = which.add(
            Condition::all()
                .add(subscription::Column::TenantId.eq(*tenant_id))
                .add(subscription::Column::Id.eq(*id)),
        );
    }
    let mut query = subscription::Entity::find()
        .filter(which)
        .order_by_asc(subscription::Column::TenantId)
        .order_by_asc(subscription::Column::Id);
    if Dialect::of(db).arrays() {
        query = query.lock_exclusive();
    }
    for row in query.all(db).await? {
        rows.push((row.clone(), row));
    }
    for (index, item) in about {
        let facts = item.facts.subscription.as_ref().unwrap();
        let Some((_, row)) = rows
            .iter_mut()
            .find(|(_, r)| r.tenant_id == item.tenant_id && r.id == facts.id)
        else {
            return Err(DbErr::Custom(format!(
                "subscription {} not read back",
                facts.id
            )));
        };
        let status_before = row.status.clone();
        let changed = merge(row, item.facts, facts);
        if changed {
            row.updated_at = now;
        }
        if row.status != status_before {
            out.changes.push(row.clone());
        }
        let outcome = match changed {
            true => Outcome::Applied,
            false => Outcome::Unchanged,
        };
        out.outcomes.push((index, outcome));
    }
    for (original, row) in rows {
        if original != row {
            subscription::Entity::update(row.into_active_model().reset_all())
                .exec(db)
                .await?;
        }
    }
    Ok(out)
}

/// `apply`, its outcomes and changes recorded in what applying the same items to
/// orders did (an event about a subscription is `applied` or `unchanged`, not
/// `ignored`).
pub async fn apply_into<C: ConnectionTrait>(
    db: &C,
    items: &[Item<'_>],
    now: i64,
    applied: &mut GroupApplied,
) -> Result<(), DbErr> {
    let subscribed = apply(db, items, now).await?;
    for (i, outcome) in subscribed.outcomes {
        applied.applied[i].outcome = outcome;
    }
    applied.subscriptions = subscribed.changes;
    Ok(())
}

/// One of the tenant's subscriptions.
pub async fn find<C: ConnectionTrait>(
    db: &C,
    tenant_id: i64,
    id: &str,
) -> Result<Option<subscription::Model>, DbErr> {
    subscription::Entity::find()
        .filter(subscription::Column::TenantId.eq(tenant_id))
        .filter(subscription::Column::Id.eq(id))
        .one(db)
        .await
}

/// The tenant's subscriptions by id, `limit` after `after`, of one status if asked.
pub async fn list<C: ConnectionTrait>(
    db: &C,
    tenant_id: i64,
    status: Option<&str>,
    after: Option<&str>,
    limit: u64,
) -> Result<Vec<subscription::Model>, DbErr> {
    let mut query = subscription::Entity::find()
        .filter(subscription::Column::TenantId.eq(tenant_id))
        .order_by_asc(subscription::Column::Id)
        .limit(limit);
    if let Some(status) = status {
        let stored = match status {
            super::UNKNOWN_STATUS => vec!["", super::UNKNOWN_STATUS],
            other => vec![other],
        };
        query = query.filter(subscription::Column::Status.is_in(stored));
    }
    if let Some(after) = after {
        query = query.filter(subscription::Column::Id.gt(after));
    }
    query.all(db).await
}
