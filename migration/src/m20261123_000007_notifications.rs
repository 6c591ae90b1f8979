//! Notifications to restaurant backends: their endpoints (secret sealed), the outbox
//! (one row per change and endpoint, written with the change), and every attempt.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261123_000007_notifications"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let id = || {
            ColumnDef::new("id")
                .big_integer()
                .not_null()
                .auto_increment()
                .primary_key()
                .to_owned()
        };
        manager
            .create_table(
                Table::create()
                    .table("notification_endpoint")
                    .col(id())
                    .col(ColumnDef::new("tenant_id").big_integer().not_null())
                    .col(ColumnDef::new("url").text().not_null())
                    .col(ColumnDef::new("key_id").string_len(32).not_null())
                    .col(ColumnDef::new("nonce").binary().not_null())
                    .col(ColumnDef::new("ciphertext").binary().not_null())
                    .col(ColumnDef::new("created_at").big_integer().not_null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("notification")
                    .col(id())
                    .col(ColumnDef::new("tenant_id").big_integer().not_null())
                    .col(ColumnDef::new("endpoint_id").big_integer().not_null())
                    .col(
                        ColumnDef::new("message_id")
                            .string_len(64)
                            .not_null()
                            .unique_key(),
                    )
                    .col(ColumnDef::new("event_type").string_len(64).not_null())
                    .col(ColumnDef::new("payload").text().not_null())
                    .col(ColumnDef::new("status").string_len(16).not_null())
                    .col(ColumnDef::new("attempts").integer().not_null())
                    .col(ColumnDef::new("next_attempt_at").big_integer().null())
                    .col(ColumnDef::new("created_at").big_integer().not_null())
                    .col(ColumnDef::new("delivered_at").big_integer().null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_notification_due")
                    .table("notification")
                    .col("status")
                    .col("next_attempt_at")
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_notification_endpoint")
                    .table("notification")
                    .col("tenant_id")
                    .col("endpoint_id")
                    .col("id")
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("notification_attempt")
                    .col(id())
                    .col(ColumnDef::new("notification_id").big_integer().not_null())
                    .col(ColumnDef::new("tenant_id").big_integer().not_null())
                    .col(ColumnDef::new("at").big_integer().not_null())
                    .col(ColumnDef::new("response_status").integer().null())
                    .col(ColumnDef::new("error").text().null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_notification_attempt")
                    .table("notification_attempt")
                    .col("notification_id")
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            "notification_attempt",
            "notification",
            "notification_endpoint",
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
