//! A live and a test secret at once (CONTRACT §11): a restaurant's Stripe account has a
//! live endpoint and a test endpoint, each with its own signing secret and rotation.
//! Every secret so far is a live one.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261207_000017_secret_modes"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Alias::new("webhook_secret"))
                    .add_column(
                        ColumnDef::new(Alias::new("mode"))
                            .string()
                            .not_null()
                            .default("live"),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Alias::new("webhook_secret"))
                    .drop_column(Alias::new("mode"))
                    .to_owned(),
            )
            .await
    }
}
