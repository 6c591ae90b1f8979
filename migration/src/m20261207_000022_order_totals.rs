//! Orders keep the running totals of their payments (`orders::lifecycle::Totals`, as
//! JSON): applying an event then reads only the payments it names, not every payment
//! of its order. Existing orders start without (NULL): the first event that reaches
//! one sums its payments once and stores the totals. Adding a nullable column without
//! a default rewrites no row on either backend.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261207_000022_order_totals"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Alias::new("orders"))
                    .add_column(ColumnDef::new("totals").text().null())
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Alias::new("orders"))
                    .drop_column(Alias::new("totals"))
                    .to_owned(),
            )
            .await
    }
}
