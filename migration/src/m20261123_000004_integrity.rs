//! Live and test kept apart, and rejected deliveries kept in bounded space:
//! - `orders.livemode` and `api_key.livemode`: an order takes the mode of the key that
//!   created it; existing keys and orders are live.
//! - `rejected_tally`: deliveries refused beyond what is stored row by row, counted per
//!   tenant (0 for slugs that match none), minute and status.
//! - an index on the rejected rows' time, for dropping them after their retention.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261123_000004_integrity"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in ["orders", "api_key"] {
            manager
                .alter_table(
                    Table::alter()
                        .table(table)
                        .add_column(
                            ColumnDef::new("livemode")
                                .boolean()
                                .not_null()
                                .default(true),
                        )
                        .to_owned(),
                )
                .await?;
        }
        manager
            .create_table(
                Table::create()
                    .table("rejected_tally")
                    .col(
                        ColumnDef::new("id")
                            .big_integer()
                            .not_null()
                            .auto_increment()
                            .primary_key(),
                    )
                    .col(ColumnDef::new("tenant_id").big_integer().not_null())
                    .col(ColumnDef::new("minute").big_integer().not_null())
                    .col(ColumnDef::new("status").string_len(32).not_null())
                    .col(ColumnDef::new("n").big_integer().not_null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ux_rejected_tally")
                    .table("rejected_tally")
                    .col("tenant_id")
                    .col("minute")
                    .col("status")
                    .unique()
                    .to_owned(),
            )
            .await?;
        // Partial: only rejected rows (verified events have a dedup key), in both backends.
        manager
            .get_connection()
            .execute_unprepared(
                "CREATE INDEX ix_webhook_event_rejected_received ON webhook_event (received_at) \
                 WHERE dedup_key IS NULL",
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared("DROP INDEX ix_webhook_event_rejected_received")
            .await?;
        manager
            .drop_table(Table::drop().table("rejected_tally").to_owned())
            .await?;
        for table in ["orders", "api_key"] {
            manager
                .alter_table(
                    Table::alter()
                        .table(table)
                        .drop_column("livemode")
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}
