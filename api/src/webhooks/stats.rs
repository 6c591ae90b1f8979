//! Webhook deliveries counted per tenant and minute (CONTRACT §12): how many, how many
//! were answered 200, and how long the answers took, in buckets. Each replica counts
//! in memory and adds its counts to `delivery_minute` every few seconds (so the figures
//! are the sum over replicas); health reads the last hour: `success_rate_1h` and
//! `p95_response_ms_1h`.

use crate::clock::now_ms;
use entity::{delivery_minute as minute, tenant};
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict};
use sea_orm::{ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, Set};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

/// Upper bounds (ms) of the buckets `b0`…`b10`; `b11` holds longer answers.
pub const BOUNDS_MS: [i64; 11] = [10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10_000, 30_000];
const BUCKETS: usize = BOUNDS_MS.len() + 1;
/// What `p95_response_ms_1h` says when the 95th percentile is in the last bucket.
const BEYOND_MS: i64 = 60_000;
/// Tenants and minutes kept between two flushes: a flood of made-up slugs cannot grow
/// the map past this.
const MAX_PENDING: usize = 10_000;
const FLUSH_EVERY: Duration = Duration::from_secs(5);
/// Minutes kept in the table.
const KEEP_MINUTES: i64 = 2 * 24 * 60;

/// Whose delivery: the tenant when it is known, else the slug the URL named.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Whose {
    Tenant(i64),
    Slug(String),
}

#[derive(Debug, Clone, Copy, Default)]
struct Counts {
    total: i64,
    ok: i64,
    buckets: [i64; BUCKETS],
}

/// This replica's counts since its last flush.
#[derive(Default)]
pub struct DeliveryStats {
    pending: Mutex<HashMap<(Whose, i64), Counts>>,
}

fn bucket(elapsed: Duration) -> usize {
    let ms = elapsed.as_millis() as i64;
    BOUNDS_MS
        .iter()
        .position(|b| ms <= *b)
        .unwrap_or(BUCKETS - 1)
}

impl DeliveryStats {
    /// Counts one answered delivery.
    pub fn record(&self, whose: Whose, status: u16, elapsed: Duration) {
        let key = (whose, now_ms() / 60_000);
        let mut pending = self.pending.lock().expect("stats lock");
        if pending.len() >= MAX_PENDING && !pending.contains_key(&key) {
            return;
        }
        let counts = pending.entry(key).or_default();
        counts.total += 1;
        counts.ok += i64::from(status == 200);
        counts.buckets[bucket(elapsed)] += 1;
    }

    fn take(&self) -> HashMap<(Whose, i64), Counts> {
        std::mem::take(&mut *self.pending.lock().expect("stats lock"))
    }
}

/// Adds the counts to the table every few seconds, and forgets minutes older than two
/// days now and then.
pub async fn flush_every(db: DatabaseConnection, stats: std::sync::Arc<DeliveryStats>) {
    let mut rounds = 0u64;
    loop {
        tokio::time::sleep(FLUSH_EVERY).await;
        let counts = stats.take();
        if let Err(e) = flush(&db, counts).await {
            // Figures for health only: a lost flush costs a few seconds of counts.
            tracing::warn!(error = %e, "delivery counts could not be written");
        }
        rounds += 1;
        if rounds.is_multiple_of(120) {
            let old = now_ms() / 60_000 - KEEP_MINUTES;
            if let Err(e) = minute::Entity::delete_many()
                .filter(minute::Column::Minute.lt(old))
                .exec(&db)
                .await
            {
                tracing::warn!(error = %e, "old delivery counts could not be removed");
            }
        }
    }
}

async fn flush(
    db: &DatabaseConnection,
    counts: HashMap<(Whose, i64), Counts>,
) -> Result<(), DbErr> {
    let slugs: Vec<String> = counts
        .keys()
        .filter_map(|(w, _)| match w {
            Whose::Slug(s) => Some(s.clone()),
            Whose::Tenant(_) => None,
        })
        .collect();
    let ids: HashMap<String, i64> = if slugs.is_empty() {
        HashMap::new()
    } else {
        tenant::Entity::find()
            .filter(tenant::Column::Slug.is_in(slugs))
            .all(db)
            .await?
            .into_iter()
            .map(|t| (t.slug, t.id))
            .collect()
    };
    let mut merged: HashMap<(i64, i64), Counts> = HashMap::new();
    for ((whose, at), c) in counts {
        let tenant_id = match whose {
            Whose::Tenant(id) => id,
            Whose::Slug(slug) => match ids.get(&slug) {
                Some(id) => *id,
                None => continue,
            },
        };
        let m = merged.entry((tenant_id, at)).or_default();
        m.total += c.total;
        m.ok += c.ok;
        for (sum, n) in m.buckets.iter_mut().zip(c.buckets) {
            *sum += n;
        }
    }
    if merged.is_empty() {
        return Ok(());
    }
    let rows = merged.into_iter().map(|((tenant_id, at), c)| {
        let b = c.buckets;
        minute::ActiveModel {
            tenant_id: Set(tenant_id),
            minute: Set(at),
            total: Set(c.total),
            ok: Set(c.ok),
            b0: Set(b[0]),
            b1: Set(b[1]),
            b2: Set(b[2]),
            b3: Set(b[3]),
            b4: Set(b[4]),
            b5: Set(b[5]),
            b6: Set(b[6]),
            b7: Set(b[7]),
            b8: Set(b[8]),
            b9: Set(b[9]),
            b10: Set(b[10]),
            b11: Set(b[11]),
        }
    });
    let mut upsert = OnConflict::columns([minute::Column::TenantId, minute::Column::Minute]);
    for column in counted_columns() {
        upsert.value(
            column,
            Expr::col((minute::Entity, column)).add(Expr::col((
                sea_orm::sea_query::Alias::new("excluded"),
                column,
            ))),
        );
    }
    minute::Entity::insert_many(rows)
        .on_conflict(upsert)
        .exec_without_returning(db)
        .await?;
    Ok(())
}

fn counted_columns() -> [minute::Column; 2 + BUCKETS] {
    use minute::Column::*;
    [Total, Ok, B0, B1, B2, B3, B4, B5, B6, B7, B8, B9, B10, B11]
}

/// A tenant's deliveries over the last hour.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Figures {
    pub deliveries: i64,
    /// Answered 200 over all: none without deliveries.
    pub success_rate: Option<f64>,
    /// The upper bound (ms) of the bucket that holds the 95th percentile.
    pub p95_ms: Option<i64>,
}

/// The tenant's figures over the 60 minutes before `now_ms`.
pub async fn last_hour(
    db: &DatabaseConnection,
    tenant_id: i64,
    now_ms: i64,
) -> Result<Figures, DbErr> {
    let rows = minute::Entity::find()
        .filter(minute::Column::TenantId.eq(tenant_id))
        .filter(minute::Column::Minute.gt(now_ms / 60_000 - 60))
        .all(db)
        .await?;
    let mut sum = Counts::default();
    for r in rows {
        sum.total += r.total;
        sum.ok += r.ok;
        let b = [
            r.b0, r.b1, r.b2, r.b3, r.b4, r.b5, r.b6, r.b7, r.b8, r.b9, r.b10, r.b11,
        ];
        for (s, n) in sum.buckets.iter_mut().zip(b) {
            *s += n;
        }
    }
    Ok(figures(&sum))
}

fn figures(sum: &Counts) -> Figures {
    if sum.total == 0 {
        return Figures {
            deliveries: 0,
            success_rate: None,
            p95_ms: None,
        };
    }
    // The smallest bucket holding at least 95 % of the answers.
    let wanted = (sum.total * 95 + 99) / 100;
    let mut seen = 0;
    let mut p95 = BEYOND_MS;
    for (i, n) in sum.buckets.iter().enumerate() {
        seen += n;
        if seen >= wanted {
            p95 = BOUNDS_MS.get(i).copied().unwrap_or(BEYOND_MS);
            break;
        }
    }
    Figures {
        deliveries: sum.total,
        success_rate: Some(sum.ok as f64 / sum.total as f64),
        p95_ms: Some(p95),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_95th_percentile_is_the_bound_of_its_bucket() {
        let stats = DeliveryStats::default();
        for _ in 0..95 {
            stats.record(Whose::Tenant(1), 200, Duration::from_millis(3));
        }
        for _ in 0..5 {
            stats.record(Whose::Tenant(1), 400, Duration::from_millis(700));
        }
        let counts = stats.take().into_values().next().unwrap();
        let f = figures(&counts);
        assert_eq!(
            (f.deliveries, f.success_rate, f.p95_ms),
            (100, Some(0.95), Some(10))
        );
        let mut slow = counts;
        slow.buckets[0] -= 1;
        slow.buckets[6] += 1;
        assert_eq!(
            figures(&slow).p95_ms,
            Some(1000),
            "the 95th answer took up to 1 s"
        );
        assert_eq!(figures(&Counts::default()).success_rate, None);
    }
}
