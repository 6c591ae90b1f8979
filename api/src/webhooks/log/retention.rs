//! How long verified events stay (`EVENT_RETENTION_DAYS`): rows received longer ago
//! than that are removed by the log's upkeep, a batch at a time, except an event still
//! `PROCESSING` (it is kept until it is applied or given up on). At least 30 days, so
//! a late retry or a recovered copy of an event still finds it stored and is a
//! duplicate.
//!
//! On SQLite, a batched delete by the time of receipt. On PostgreSQL nothing is
//! removed yet: there the log is to be partitioned by the time of receipt and old
//! partitions dropped whole, never deleted row by row on the hottest table.

use crate::clock::now_ms;
use crate::db::Dialect;
use sea_orm::{ConnectionTrait, DatabaseConnection, DbErr};
use std::time::Duration;

/// Rows removed per transaction: short enough that a writer waiting behind one
/// (SQLite has one writer at a time) waits milliseconds.
const BATCH: u64 = 2000;

/// Removes verified events received more than `retention` ago; how many.
pub async fn expire_events(db: &DatabaseConnection, retention: Duration) -> Result<u64, DbErr> {
    let dialect = Dialect::of(db);
    if dialect != Dialect::Sqlite {
        return Ok(0);
    }
    let cutoff = now_ms() - retention.as_millis() as i64;
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
            return Ok(removed);
        }
        // Other writers get the lock between batches.
        tokio::task::yield_now().await;
    }
}
