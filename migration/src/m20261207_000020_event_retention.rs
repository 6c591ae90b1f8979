//! The event log's retention (`EVENT_RETENTION_DAYS`) on SQLite: the verified events by
//! the time they were received, oldest first, so that the upkeep's batched delete
//! reads only what it removes. PostgreSQL gets no such index: an index more on the
//! hottest table would cost every insert, and there the log is to be partitioned by
//! the same time instead.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DatabaseBackend;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261207_000020_event_retention"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DatabaseBackend::Sqlite {
            return Ok(());
        }
        manager
            .get_connection()
            .execute_unprepared(
                "CREATE INDEX ix_webhook_event_retention ON webhook_event (received_at) \
                 WHERE dedup_key IS NOT NULL",
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DatabaseBackend::Sqlite {
            return Ok(());
        }
        manager
            .get_connection()
            .execute_unprepared("DROP INDEX ix_webhook_event_retention")
            .await?;
        Ok(())
    }
}
