//! `EVENT_RETENTION_DAYS` on PostgreSQL (CONTRACT §14): the event log is partitioned
//! by the time of receipt, a month a partition, and the upkeep drops a partition whole
//! once every row in it is older than the retention — never sooner, and what stays
//! still refuses a second copy of an event. The upkeep's round is run here as of a
//! chosen time (the gateway runs it as of now, at start and every ten minutes), on a
//! database migrated by the real migrations. Needs `TEST_POSTGRES_URL`.

mod common;

use gateway::webhooks::log::{Expired, expire_events};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, Statement};
use std::time::Duration;

const DAY_MS: i64 = 24 * 3600 * 1000;

async fn one_i64(db: &DatabaseConnection, sql: &str) -> i64 {
    db.query_one_raw(Statement::from_string(DbBackend::Postgres, sql))
        .await
        .unwrap()
        .unwrap()
        .try_get::<i64>("", "v")
        .unwrap()
}

async fn insert(
    db: &DatabaseConnection,
    key: &str,
    received_at: i64,
) -> Result<(), sea_orm::DbErr> {
    db.execute_unprepared(&format!(
        "INSERT INTO webhook_event (tenant_id, tenant_slug, stripe_event_id, dedup_key, \
         event_type, status, attempts, received_at, source) \
         VALUES (1, 'r', '{key}', '{key}', 'customer.created', 'COMPLETED', 1, {received_at}, 'webhook')"
    ))
    .await
    .map(|_| ())
}

async fn stored(db: &DatabaseConnection, key: &str) -> i64 {
    one_i64(
        db,
        &format!("SELECT count(*) AS v FROM webhook_event WHERE dedup_key = '{key}'"),
    )
    .await
}

#[tokio::test]
async fn a_month_is_dropped_whole_once_all_of_it_is_past_the_retention() {
    let url = common::new_postgres_database("retention").await;
    let db = gateway::db::connect_url(&url, 2).await.unwrap();
    gateway::db::migrate(&db).await.unwrap();
    // Today's table became the partition of everything before the cut-over month.
    let cutover = one_i64(
        &db,
        "SELECT substring(pg_get_expr(c.relpartbound, c.oid) FROM 'TO \\(''?(-?[0-9]+)')::bigint AS v \
         FROM pg_class c WHERE c.relname = 'webhook_event_legacy'",
    )
    .await;
    let now = gateway::clock::now_ms();
    assert!(cutover > now, "the cut-over is ahead: {cutover} vs {now}");
    insert(&db, "evt_today", now).await.unwrap();
    insert(&db, "evt_after_cutover", cutover + 3600 * 1000)
        .await
        .unwrap();
    let retention = Duration::from_secs(30 * 24 * 3600);

    // As of now nothing is old enough.
    assert_eq!(
        expire_events(&db, retention, now).await.unwrap(),
        Expired::default()
    );
    // A day before everything in the legacy partition is 30 days old: still kept.
    let expired = expire_events(&db, retention, cutover + 29 * DAY_MS)
        .await
        .unwrap();
    assert_eq!(expired.partitions, 0);
    assert_eq!(stored(&db, "evt_today").await, 1);

    // Once all of it is: dropped whole; the next month stays.
    let expired = expire_events(&db, retention, cutover + 31 * DAY_MS)
        .await
        .unwrap();
    assert_eq!(
        expired,
        Expired {
            rows: 0,
            partitions: 1
        }
    );
    assert_eq!(stored(&db, "evt_today").await, 0);
    assert_eq!(stored(&db, "evt_after_cutover").await, 1);
    let legacy = one_i64(
        &db,
        "SELECT count(*) AS v FROM pg_class WHERE relname = 'webhook_event_legacy'",
    )
    .await;
    assert_eq!(legacy, 0);

    // What stays still refuses a second copy of its event.
    let again = insert(&db, "evt_after_cutover", cutover + 7200 * 1000).await;
    assert!(
        again
            .as_ref()
            .is_err_and(|e| e.to_string().contains("duplicate key")),
        "{again:?}"
    );
    // The month after the cut-over is made ahead.
    let parts = one_i64(
        &db,
        "SELECT count(*) AS v FROM pg_inherits WHERE inhparent = 'webhook_event'::regclass",
    )
    .await;
    assert!(parts >= 1, "{parts} partitions");
}
