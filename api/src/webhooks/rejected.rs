//! Rejected deliveries in bounded space.
//!
//! Anyone who knows a restaurant's URL can send it unsigned requests. Each is answered,
//! but only the first `PER_MINUTE` a minute per tenant (and as many for all unknown
//! slugs together) are stored as rows, never with their bodies; the rest are counted
//! per minute, tenant and status, and the counts written to `rejected_tally`. Rows and
//! counts are dropped after `REJECTED_RETENTION_DAYS`.

use super::log::EventStatus;
use crate::clock::now_ms;
use crate::db::Dialect;
use sea_orm::{ConnectionTrait, DatabaseConnection, DbErr};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

/// Rows stored per minute for one tenant, and for all unknown slugs together.
pub const PER_MINUTE: u32 = 100;

const MINUTE_MS: i64 = 60_000;

/// Tenant id 0 stands for every slug that matches no tenant.
const UNKNOWN: i64 = 0;

#[derive(Default)]
struct State {
    minute: i64,
    stored: HashMap<i64, u32>,
    /// (tenant, minute, status) → deliveries not stored.
    over: HashMap<(i64, i64, EventStatus), i64>,
}

/// Which rejected deliveries are stored, and the count of the others.
#[derive(Default)]
pub struct Budget {
    state: Mutex<State>,
}

/// Deliveries that were counted, not stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tally {
    pub tenant_id: i64,
    pub minute: i64,
    pub status: EventStatus,
    pub n: i64,
}

impl Budget {
    /// True when this rejected delivery is to be stored as a row; otherwise it is
    /// counted.
    pub fn admit(&self, tenant_id: Option<i64>, status: EventStatus, now_ms: i64) -> bool {
        let tenant = tenant_id.unwrap_or(UNKNOWN);
        let minute = now_ms / MINUTE_MS;
        let mut state = self.state.lock().expect("budget lock");
        if state.minute != minute {
            state.minute = minute;
            state.stored.clear();
        }
        let stored = state.stored.entry(tenant).or_default();
        if *stored < PER_MINUTE {
            *stored += 1;
            return true;
        }
        *state.over.entry((tenant, minute, status)).or_default() += 1;
        false
    }

    /// The counts gathered since the last call.
    pub fn take(&self) -> Vec<Tally> {
        let mut state = self.state.lock().expect("budget lock");
        state
            .over
            .drain()
            .map(|((tenant_id, minute, status), n)| Tally {
                tenant_id,
                minute,
                status,
                n,
            })
            .collect()
    }

    /// Puts counts back that could not be written, to be tried again.
    pub fn restore(&self, tallies: Vec<Tally>) {
        let mut state = self.state.lock().expect("budget lock");
        for t in tallies {
            *state
                .over
                .entry((t.tenant_id, t.minute, t.status))
                .or_default() += t.n;
        }
    }
}

/// Adds counts to `rejected_tally`, one row per tenant, minute and status.
pub async fn write_tallies(db: &DatabaseConnection, tallies: &[Tally]) -> Result<(), DbErr> {
    if tallies.is_empty() {
        return Ok(());
    }
    let dialect = Dialect::of(db);
    let sql = "INSERT INTO rejected_tally (tenant_id, minute, status, n) VALUES ($1, $2, $3, $4) \
               ON CONFLICT (tenant_id, minute, status) DO UPDATE SET n = rejected_tally.n + excluded.n";
    let txn = crate::db::begin_write(db).await?;
    for t in tallies {
        txn.execute_raw(dialect.statement(
            sql,
            [
                t.tenant_id.into(),
                t.minute.into(),
                t.status.as_str().into(),
                t.n.into(),
            ],
        ))
        .await?;
    }
    txn.commit().await
}

/// Deliveries of the tenant (or of unknown slugs, with `None`) counted but not stored
/// since `since_ms`, by status.
pub async fn counted_since(
    db: &DatabaseConnection,
    tenant_id: Option<i64>,
    since_ms: i64,
) -> Result<HashMap<String, i64>, DbErr> {
    let sql = "SELECT status, CAST(SUM(n) AS BIGINT) AS n FROM rejected_tally \
               WHERE tenant_id = $1 AND minute >= $2 GROUP BY status";
    let rows = db
        .query_all_raw(Dialect::of(db).statement(
            sql,
            [
                tenant_id.unwrap_or(UNKNOWN).into(),
                (since_ms / MINUTE_MS).into(),
            ],
        ))
        .await?;
    rows.into_iter()
        .map(|row| Ok((row.try_get("", "status")?, row.try_get("", "n")?)))
        .collect()
}

/// Drops rejected rows and counts older than `retention`, a batch at a time so that
/// no statement holds the table for long. The number of rows dropped.
pub async fn expire(db: &DatabaseConnection, retention: Duration) -> Result<u64, DbErr> {
    let cutoff = now_ms() - retention.as_millis() as i64;
    let dialect = Dialect::of(db);
    let rows_sql = "DELETE FROM webhook_event WHERE id IN (SELECT id FROM webhook_event \
                    WHERE dedup_key IS NULL AND received_at < $1 LIMIT 5000)";
    let tally_sql = "DELETE FROM rejected_tally WHERE minute < $1";
    let mut dropped = 0;
    loop {
        let txn = crate::db::begin_write(db).await?;
        let n = txn
            .execute_raw(dialect.statement(rows_sql, [cutoff.into()]))
            .await?
            .rows_affected();
        txn.commit().await?;
        dropped += n;
        if n < 5000 {
            break;
        }
    }
    let txn = crate::db::begin_write(db).await?;
    txn.execute_raw(dialect.statement(tally_sql, [(cutoff / MINUTE_MS).into()]))
        .await?;
    txn.commit().await?;
    Ok(dropped)
}

/// How long the log keeps what (`REJECTED_RETENTION_DAYS`, `EVENT_RETENTION_DAYS`).
#[derive(Debug, Clone, Copy)]
pub struct Retention {
    pub rejected: Duration,
    pub events: Duration,
}

/// Writes the counts every few seconds and drops what is past its retention every ten
/// minutes (the first time at start), for as long as the gateway runs.
pub async fn upkeep(db: DatabaseConnection, budget: std::sync::Arc<Budget>, retention: Retention) {
    let mut ticker = tokio::time::interval(Duration::from_secs(5));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut ticks = 0u64;
    loop {
        ticker.tick().await;
        let tallies = budget.take();
        if let Err(e) = write_tallies(&db, &tallies).await {
            tracing::warn!(error = %e, "could not write the counts of rejected deliveries; kept for later");
            budget.restore(tallies);
        }
        if ticks.is_multiple_of(120) {
            match expire(&db, retention.rejected).await {
                Ok(0) => {}
                Ok(n) => {
                    tracing::info!(rows = n, "dropped rejected deliveries past their retention")
                }
                Err(e) => tracing::warn!(error = %e, "could not drop old rejected deliveries"),
            }
            match super::log::expire_events(&db, retention.events, now_ms()).await {
                Ok(expired) if expired == Default::default() => {}
                Ok(super::log::Expired { rows, partitions }) => {
                    tracing::info!(rows, partitions, "removed events past EVENT_RETENTION_DAYS")
                }
                Err(e) => {
                    tracing::warn!(error = %e, "could not remove events past their retention")
                }
            }
        }
        ticks += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hundred_a_minute_per_tenant_are_stored_and_the_rest_counted() {
        let budget = Budget::default();
        let t0 = 10 * MINUTE_MS;
        let stored = (0..250)
            .filter(|_| budget.admit(Some(7), EventStatus::VerificationFailed, t0))
            .count();
        assert_eq!(stored, 100);
        // Another tenant and the unknown slugs have budgets of their own.
        assert!(budget.admit(Some(8), EventStatus::VerificationFailed, t0));
        let unknown = (0..150)
            .filter(|_| budget.admit(None, EventStatus::NoConfig, t0))
            .count();
        assert_eq!(unknown, 100);
        // A new minute, a new budget.
        assert!(budget.admit(Some(7), EventStatus::VerificationFailed, t0 + MINUTE_MS));
        let mut tallies = budget.take();
        tallies.sort_by_key(|t| t.tenant_id);
        assert_eq!(
            tallies,
            vec![
                Tally {
                    tenant_id: UNKNOWN,
                    minute: 10,
                    status: EventStatus::NoConfig,
                    n: 50
                },
                Tally {
                    tenant_id: 7,
                    minute: 10,
                    status: EventStatus::VerificationFailed,
                    n: 150
                },
            ]
        );
        assert!(budget.take().is_empty(), "taken once");
    }
}
