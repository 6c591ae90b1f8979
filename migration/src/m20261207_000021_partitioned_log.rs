//! On PostgreSQL the event log becomes a table partitioned by the time the gateway
//! received each event (`received_at`), one partition a calendar month (UTC), so that
//! `EVENT_RETENTION_DAYS` drops whole partitions instead of deleting rows from the
//! hottest table (`gateway_drop_event_partitions`), and the upkeep makes the months
//! ahead (`gateway_event_partitions_ahead`). SQLite keeps its one table.
//!
//! **Online.** Today's table is kept, whole, as the partition of everything before a
//! cut-over month two months ahead (`webhook_event_legacy`); nothing is copied. The
//! one scan — proving every row is older than the cut-over — runs under a lock that
//! lets reads and writes go on (`VALIDATE CONSTRAINT`). Then a short transaction
//! renames the table, makes the partitioned one with the same columns and indexes
//! (the legacy's own indexes are attached, not built again) and attaches the legacy
//! under that proven bound without scanning it. Each step can be run again: a
//! migration stopped half-way is finished by the next start.
//!
//! **Duplicates.** A partitioned table's unique indexes must include the partition
//! key, so the key `(dedup_key, tenant_id)` is unique per partition (each has its own
//! unique index); the inbox reads which events are stored across all partitions before
//! it inserts, and around a month's boundary — where two copies of one event could go
//! to two partitions — its writers take turns (`webhooks::inbox`). Partitions are only
//! dropped once all their rows are older than the retention (at least 30 days), so a
//! late retry or a recovered copy still finds its event.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend, Statement};

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261207_000021_partitioned_log"
    }
}

/// The indexes every partition has through the parent: the legacy table's own, by
/// the same definitions, so that they are attached rather than built again.
const PARENT_INDEXES: &[(&str, &str)] = &[
    (
        "ix_webhook_event_alerting",
        "(received_at) WHERE status::text = 'FAILED'::text OR outcome::text = 'mode_mismatch'::text",
    ),
    (
        "ix_webhook_event_processing_due",
        "(next_attempt_at) WHERE status::text = 'PROCESSING'::text",
    ),
    (
        "ix_webhook_event_rejected_received",
        "(received_at) WHERE dedup_key IS NULL",
    ),
    ("ix_webhook_event_tenant", "(tenant_id, id)"),
    (
        "ix_webhook_event_tenant_received",
        "(tenant_id, received_at, status)",
    ),
    ("ix_webhook_event_tenant_status", "(tenant_id, status, id)"),
    (
        "ix_webhook_event_tenant_type",
        "(tenant_id, event_type, id)",
    ),
];

/// Makes the monthly partitions from this month to `months` ahead that are missing
/// (each with its own unique event key and row id), under a lock so that replicas do
/// not make the same one at once; months the legacy partition covers are skipped.
const PARTITIONS_AHEAD: &str = r#"
CREATE OR REPLACE FUNCTION gateway_event_partitions_ahead(months int) RETURNS int
LANGUAGE plpgsql AS $fn$
DECLARE
  first timestamptz := date_trunc('month', now(), 'UTC');
  lo timestamptz;
  part text;
  made int := 0;
BEGIN
  PERFORM pg_advisory_xact_lock(7451202651339040114);
  FOR i IN 0..months LOOP
    lo := first + make_interval(months => i);
    part := 'webhook_event_' || to_char(lo AT TIME ZONE 'UTC', 'YYYYMM');
    CONTINUE WHEN to_regclass(part) IS NOT NULL;
    -- Made apart and then attached: attaching takes a lock that lets the log's
    -- writers go on (CREATE TABLE … PARTITION OF would stop them meanwhile).
    BEGIN
      EXECUTE format('CREATE TABLE %I (LIKE webhook_event INCLUDING DEFAULTS '
        'INCLUDING STORAGE INCLUDING COMPRESSION)', part);
      EXECUTE format('CREATE UNIQUE INDEX %I ON %I (dedup_key, tenant_id)', part || '_key', part);
      EXECUTE format('CREATE UNIQUE INDEX %I ON %I (id)', part || '_id', part);
      EXECUTE format(
        'ALTER TABLE webhook_event ATTACH PARTITION %I FOR VALUES FROM (%s) TO (%s)',
        part,
        (extract(epoch FROM lo) * 1000)::bigint,
        (extract(epoch FROM lo + interval '1 month') * 1000)::bigint);
    EXCEPTION WHEN invalid_object_definition THEN
      CONTINUE; -- the legacy partition holds this month (nothing of it is kept)
    END;
    made := made + 1;
  END LOOP;
  RETURN made;
END
$fn$"#;

/// Drops the partitions whose every row was received before `before_ms`; how many.
const DROP_PARTITIONS: &str = r#"
CREATE OR REPLACE FUNCTION gateway_drop_event_partitions(before_ms bigint) RETURNS int
LANGUAGE plpgsql AS $fn$
DECLARE
  r record;
  upper_ms bigint;
  dropped int := 0;
BEGIN
  PERFORM pg_advisory_xact_lock(7451202651339040114);
  FOR r IN SELECT c.oid::regclass AS part, pg_get_expr(c.relpartbound, c.oid) AS bound
           FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
           WHERE i.inhparent = 'webhook_event'::regclass LOOP
    upper_ms := substring(r.bound FROM 'TO \(''?(-?[0-9]+)''?\)')::bigint;
    IF upper_ms IS NOT NULL AND upper_ms <= before_ms THEN
      EXECUTE format('DROP TABLE %s', r.part);
      dropped := dropped + 1;
    END IF;
  END LOOP;
  RETURN dropped;
END
$fn$"#;

async fn one_bool(db: &SchemaManagerConnection<'_>, sql: &str) -> Result<bool, DbErr> {
    let row = db
        .query_one_raw(Statement::from_string(DbBackend::Postgres, sql))
        .await?;
    Ok(row
        .map(|r| r.try_get::<bool>("", "b"))
        .transpose()?
        .unwrap_or(false))
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    /// Its own transactions: the scan must commit before the short exclusive one.
    fn use_transaction(&self) -> Option<bool> {
        Some(false)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        if db.get_database_backend() != DbBackend::Postgres {
            return Ok(());
        }
        let partitioned = "SELECT EXISTS (SELECT 1 FROM pg_class \
             WHERE relname = 'webhook_event' AND relkind = 'p') AS b";
        if !one_bool(db, partitioned).await? {
            // 1. Every row, and every row written until the switch, is older than the
            //    cut-over: proven by a scan that lets writes go on.
            let has_bound = "SELECT EXISTS (SELECT 1 FROM pg_constraint \
                 WHERE conname = 'webhook_event_legacy_bound') AS b";
            if !one_bool(db, has_bound).await? {
                db.execute_unprepared(
                    "DO $$ BEGIN EXECUTE format(\
                       'ALTER TABLE webhook_event ADD CONSTRAINT webhook_event_legacy_bound \
                        CHECK (received_at < %s) NOT VALID', \
                       (extract(epoch FROM date_trunc('month', now(), 'UTC') \
                          + interval '2 months') * 1000)::bigint); END $$",
                )
                .await?;
            }
            db.execute_unprepared(
                "ALTER TABLE webhook_event VALIDATE CONSTRAINT webhook_event_legacy_bound",
            )
            .await?;
            // 2. The switch, in one short transaction.
            let txn = manager.begin().await?;
            let t = txn.get_connection();
            t.execute_unprepared(
                "LOCK TABLE webhook_event IN ACCESS EXCLUSIVE MODE; \
                 ALTER TABLE webhook_event RENAME TO webhook_event_legacy; \
                 CREATE SEQUENCE webhook_event_row_id AS bigint; \
                 SELECT setval('webhook_event_row_id', \
                   (SELECT coalesce(max(id), 0) + 1 FROM webhook_event_legacy), false); \
                 ALTER TABLE webhook_event_legacy ALTER COLUMN id DROP IDENTITY; \
                 CREATE TABLE webhook_event (LIKE webhook_event_legacy \
                   INCLUDING DEFAULTS INCLUDING STORAGE INCLUDING COMPRESSION) \
                   PARTITION BY RANGE (received_at); \
                 ALTER TABLE webhook_event ALTER COLUMN id \
                   SET DEFAULT nextval('webhook_event_row_id'); \
                 ALTER SEQUENCE webhook_event_row_id OWNED BY webhook_event.id;",
            )
            .await?;
            let bound = "SELECT substring(pg_get_constraintdef(oid) \
                 FROM '< \\(?''?(-?[0-9]+)') AS upper FROM pg_constraint \
                 WHERE conname = 'webhook_event_legacy_bound'";
            let upper: String = t
                .query_one_raw(Statement::from_string(DbBackend::Postgres, bound))
                .await?
                .ok_or_else(|| DbErr::Migration("the legacy bound is gone".into()))?
                .try_get("", "upper")?;
            t.execute_unprepared(&format!(
                "ALTER TABLE webhook_event ATTACH PARTITION webhook_event_legacy \
                 FOR VALUES FROM (MINVALUE) TO ({upper})"
            ))
            .await?;
            for (name, definition) in PARENT_INDEXES {
                // The legacy's index of that name gives way to the parent's, which
                // takes it over as the legacy's part.
                t.execute_unprepared(&format!(
                    "ALTER INDEX {name} RENAME TO {name}_legacy; \
                     CREATE INDEX {name} ON webhook_event {definition}"
                ))
                .await?;
            }
            t.execute_unprepared(PARTITIONS_AHEAD).await?;
            t.execute_unprepared(DROP_PARTITIONS).await?;
            t.execute_unprepared("SELECT gateway_event_partitions_ahead(2)")
                .await?;
            txn.commit().await?;
        }
        Ok(())
    }

    async fn down(&self, _manager: &SchemaManager) -> Result<(), DbErr> {
        Err(DbErr::Migration(
            "the partitioned event log is not turned back into one table".into(),
        ))
    }
}
