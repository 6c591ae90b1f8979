//! Recovery from Stripe and diagnosis:
//! - `stripe_api_key`: the restaurant's Stripe API key, sealed like its webhook secret;
//! - `recovery_state`: how far each tenant's events were fetched from Stripe;
//! - `webhook_event.source`: `webhook` (delivered) or `recovered` (fetched);
//! - `webhook_event.signed_for_tenant_id`: a rejected delivery that verifies with
//!   another tenant's secret (an endpoint URL that points at the wrong restaurant);
//! - `alert_state`: the error findings an alert was sent for, until they resolve.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261123_000006_recovery"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("stripe_api_key")
                    .col(
                        ColumnDef::new("tenant_id")
                            .big_integer()
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new("key_id").string_len(32).not_null())
                    .col(ColumnDef::new("nonce").binary().not_null())
                    .col(ColumnDef::new("ciphertext").binary().not_null())
                    .col(ColumnDef::new("hint").string_len(64).not_null())
                    .col(ColumnDef::new("livemode").boolean().not_null())
                    .col(ColumnDef::new("created_at").big_integer().not_null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("recovery_state")
                    .col(
                        ColumnDef::new("tenant_id")
                            .big_integer()
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new("recovered_until").big_integer().not_null())
                    .col(ColumnDef::new("last_run_at").big_integer().not_null())
                    .col(ColumnDef::new("last_error").text().null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("alert_state")
                    .col(ColumnDef::new("tenant_id").big_integer().not_null())
                    .col(ColumnDef::new("code").string_len(64).not_null())
                    .col(ColumnDef::new("summary").text().not_null())
                    .col(ColumnDef::new("fired_at").big_integer().not_null())
                    .primary_key(Index::create().col("tenant_id").col("code"))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table("webhook_event")
                    .add_column(
                        ColumnDef::new("source")
                            .string_len(16)
                            .not_null()
                            .default("webhook"),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table("webhook_event")
                    .add_column(ColumnDef::new("signed_for_tenant_id").big_integer().null())
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in ["signed_for_tenant_id", "source"] {
            manager
                .alter_table(
                    Table::alter()
                        .table("webhook_event")
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        for table in ["alert_state", "recovery_state", "stripe_api_key"] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
