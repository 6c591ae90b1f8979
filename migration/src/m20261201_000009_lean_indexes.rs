//! Indexes for the write path at volume:
//! - the processor's due index holds only `PROCESSING` events (what it looks for), so
//!   the events stored `COMPLETED` — nearly all of them — are one index insertion
//!   cheaper;
//! - notification endpoints are found by tenant (each group that changes an order reads
//!   its tenants' endpoints), instead of by a scan of every tenant's endpoints.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261201_000009_lean_indexes"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        db.execute_unprepared(
            "CREATE INDEX ix_webhook_event_processing_due ON webhook_event (next_attempt_at) \
             WHERE status = 'PROCESSING'",
        )
        .await?;
        db.execute_unprepared("DROP INDEX ix_webhook_event_due")
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_notification_endpoint_tenant")
                    .table("notification_endpoint")
                    .col("tenant_id")
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        db.execute_unprepared("DROP INDEX ix_notification_endpoint_tenant")
            .await?;
        db.execute_unprepared(
            "CREATE INDEX ix_webhook_event_due ON webhook_event (status, next_attempt_at)",
        )
        .await?;
        db.execute_unprepared("DROP INDEX ix_webhook_event_processing_due")
            .await?;
        Ok(())
    }
}
