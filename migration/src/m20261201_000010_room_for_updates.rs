//! Room on each page for the updates of orders and payments (PostgreSQL): an order's
//! row is rewritten at each change of status and a payment's at each fact, and an
//! update that fits on the row's page, changing no indexed column, is a heap-only
//! (HOT) update: no new entry in any of the table's indexes, and the old version is
//! pruned without a vacuum. At the default fill factor (100) the pages are full and
//! every order update went to another page, with a new entry in each of its four
//! indexes. Only pages written from now on keep the room; SQLite has no such setting.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261201_000010_room_for_updates"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DbBackend::Postgres {
            return Ok(());
        }
        let db = manager.get_connection();
        db.execute_unprepared("ALTER TABLE orders SET (fillfactor = 75)")
            .await?;
        db.execute_unprepared("ALTER TABLE payments SET (fillfactor = 80)")
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DbBackend::Postgres {
            return Ok(());
        }
        let db = manager.get_connection();
        db.execute_unprepared("ALTER TABLE orders RESET (fillfactor)")
            .await?;
        db.execute_unprepared("ALTER TABLE payments RESET (fillfactor)")
            .await?;
        Ok(())
    }
}
