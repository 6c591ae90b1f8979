//! How long verified events stay (`EVENT_RETENTION_DAYS`, at least 30, so that a late
//! retry or a recovered copy of an event still finds it stored and is a duplicate).
//!
//! On PostgreSQL the log is partitioned by the time of receipt, a calendar month (UTC)
//! a partition (migration 21): the upkeep makes the next months' partitions ahead and
//! drops a partition once every row in it was received longer ago than the retention
//! — whole, never deleting rows from the hottest table. On SQLite a batched delete by
//! the time of receipt, never of an event still `PROCESSING`.

use crate::db::Dialect;
use sea_orm::{ConnectionTrait, DatabaseConnection, DbErr};
use std::time::Duration;

/// Rows removed per transaction on SQLite: short enough that a writer waiting behind
/// one (SQLite has one writer at a time) waits milliseconds.
const BATCH: u64 = 2000;

/// Monthly partitions kept made ahead of the current one (PostgreSQL).
const MONTHS_AHEAD: i32 = 2;

/// What one round of the retention removed.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Expired {
    /// Rows deleted (SQLite).
    pub rows: u64,
    /// Monthly partitions dropped whole (PostgreSQL).
    pub partitions: u64,
}

/// Applies the retention as of `now` (ms): on PostgreSQL also makes the partitions of
/// the months ahead.
pub async fn expire_events(
    db: &DatabaseConnection,
    retention: Duration,
    now: i64,
) -> Result<Expired, DbErr> {
    let dialect = Dialect::of(db);
    let cutoff = now - retention.as_millis() as i64;
    if dialect == Dialect::Postgres {
        // In write transactions: they wait for the log's lock no longer than any
        // writer does (`STORAGE_TIMEOUT_MS`, behind a pooler too), rather than holding
        // the writers queued behind a `DROP TABLE` that waits.
        let txn = crate::db::begin_write(db).await?;
        txn.execute_raw(dialect.statement(
            "SELECT gateway_event_partitions_ahead($1)",
            [MONTHS_AHEAD.into()],
        ))
        .await?;
        txn.commit().await?;
        let txn = crate::db::begin_write(db).await?;
        let dropped = txn
            .query_one_raw(dialect.statement(
                "SELECT gateway_drop_event_partitions($1) AS n",
                [cutoff.into()],
            ))
            .await?
            .map(|row| row.try_get::<i32>("", "n"))
            .transpose()?
            .unwrap_or(0);
        txn.commit().await?;
        return Ok(Expired {
            rows: 0,
            partitions: dropped as u64,
        });
    }
    let sql = "DELETE FROM webhook_event WHERE id IN (SELECT id FROM webhook_event \
               WHERE received_at < $1 AND dedup_key IS NOT NULL AND status <> 'PROCESSING' \
               ORDER BY received_at LIMIT $2)";
    let mut removed = 0;
    loop {
        let txn = crate::db::begin_write(db).await?;
        let n = txn
            .execute_raw(dialect.statement(sql, [cutoff.into(), (BATCH as i64).into()]))
            .await?
            .rows_affected();
        txn.commit().await?;
        removed += n;
        if n < BATCH {
            return Ok(Expired {
                rows: removed,
                partitions: 0,
            });
        }
        // Other writers get the lock between batches.
        tokio::task::yield_now().await;
    }
}

/// How near a month's boundary the inbox's writers take turns (PostgreSQL).
const BOUNDARY_MS: i64 = 10_000;

/// The advisory lock of those turns (one beside the partition functions' own, which
/// migration 21 takes as 7451202651339040114).
const BOUNDARY_TURN_LOCK: i64 = 7451202651339040115;

/// Whether `now` (ms) is within ten seconds of the start of a month (UTC). There two
/// copies of one event stored at once could go to two partitions, whose unique
/// indexes do not see each other; so writers then take turns (`take_turn_at_boundary`)
/// and each reads what the one before it stored. Anywhere else both copies go to one
/// partition, whose unique index refuses the second.
pub fn near_month_boundary(now: i64) -> bool {
    use chrono::{Datelike, TimeZone, Utc};
    let Some(at) = Utc.timestamp_millis_opt(now).single() else {
        return false;
    };
    let start = |year: i32, month: u32| {
        Utc.with_ymd_and_hms(year, month, 1, 0, 0, 0)
            .single()
            .map_or(i64::MIN / 2, |t| t.timestamp_millis())
    };
    let this = start(at.year(), at.month());
    let next = match at.month() {
        12 => start(at.year() + 1, 1),
        m => start(at.year(), m + 1),
    };
    now - this < BOUNDARY_MS || next - now < BOUNDARY_MS
}

/// Near a month's boundary, waits for the other writers' transactions that took this
/// turn to end (PostgreSQL; a lock held until this transaction ends).
pub async fn take_turn_at_boundary<C: ConnectionTrait>(db: &C, now: i64) -> Result<(), DbErr> {
    let dialect = Dialect::of(db);
    if dialect != Dialect::Postgres || !near_month_boundary(now) {
        return Ok(());
    }
    db.execute_unprepared(&format!(
        "SELECT pg_advisory_xact_lock({BOUNDARY_TURN_LOCK})"
    ))
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_turns_are_taken_only_around_the_start_of_a_month() {
        let ms = |s: &str| {
            chrono::DateTime::parse_from_rfc3339(s)
                .unwrap()
                .timestamp_millis()
        };
        assert!(near_month_boundary(ms("2026-12-31T23:59:55Z")));
        assert!(near_month_boundary(ms("2027-01-01T00:00:00Z")));
        assert!(near_month_boundary(ms("2027-02-01T00:00:09Z")));
        assert!(!near_month_boundary(ms("2027-02-01T00:00:11Z")));
        assert!(!near_month_boundary(ms("2027-02-15T12:00:00Z")));
        assert!(!near_month_boundary(ms("2027-01-31T23:59:49Z")));
    }
}
