//! The events that alerts look for across all tenants, in an index of their own: those
//! `FAILED` and those of the other mode than their order. Nearly every event is
//! neither, so it costs the insert of such an event only the test of the condition,
//! and the alerts read a few rows instead of every tenant's log (see
//! `webhooks::log::tenants_in_trouble`).

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261202_000011_alert_index"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared(
                "CREATE INDEX ix_webhook_event_alerting ON webhook_event (received_at) \
                 WHERE status = 'FAILED' OR outcome = 'mode_mismatch'",
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared("DROP INDEX ix_webhook_event_alerting")
            .await?;
        Ok(())
    }
}
