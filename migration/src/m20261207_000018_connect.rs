//! Stripe Connect (CONTRACT §11): a restaurant is linked to its connected account, one
//! restaurant per account, so that the platform's Connect endpoint can route each event
//! by its `account`.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::ConnectionTrait;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261207_000018_connect"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Alias::new("tenant"))
                    .add_column(
                        ColumnDef::new(Alias::new("connect_account_id"))
                            .string()
                            .null(),
                    )
                    .to_owned(),
            )
            .await?;
        // Unique where set: one restaurant per connected account (both backends have
        // partial indexes; NULLs never collide anyway).
        manager
            .get_connection()
            .execute_unprepared(
                "CREATE UNIQUE INDEX ux_tenant_connect_account ON tenant (connect_account_id) \
                 WHERE connect_account_id IS NOT NULL",
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared("DROP INDEX IF EXISTS ux_tenant_connect_account")
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Alias::new("tenant"))
                    .drop_column(Alias::new("connect_account_id"))
                    .to_owned(),
            )
            .await
    }
}
