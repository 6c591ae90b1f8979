//! One row that `/ready` rewrites (at most once a second per replica), so that readiness
//! means "a write commits", not only "the database answers a SELECT": a full disk or a
//! locked database makes the gateway not ready.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261123_000005_ready_probe"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("ready_probe")
                    .col(ColumnDef::new("id").integer().not_null().primary_key())
                    .col(ColumnDef::new("at").big_integer().not_null())
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table("ready_probe").to_owned())
            .await
    }
}
