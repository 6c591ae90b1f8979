//! Disputes and cancellations (CONTRACT §11): a payment keeps what it knows of its
//! disputes (by dispute id: amount, currency, reason, status, evidence due date) as
//! JSON beside its refunds, and an order remembers that its PaymentIntent was canceled,
//! as it remembers that its session expired.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::ConnectionTrait;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261207_000016_disputes"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Alias::new("payments"))
                    .add_column(
                        ColumnDef::new(Alias::new("disputes"))
                            .text()
                            .not_null()
                            .default("{}"),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Alias::new("orders"))
                    .add_column(
                        ColumnDef::new(Alias::new("canceled"))
                            .boolean()
                            .not_null()
                            .default(false),
                    )
                    .to_owned(),
            )
            .await?;
        // Diagnosis looks for disputes awaiting an answer every alert round: a partial
        // index keeps that to the few disputed payments (both backends have them).
        manager
            .get_connection()
            .execute_unprepared(
                "CREATE INDEX ix_payments_disputed ON payments (tenant_id) WHERE disputes <> '{}'",
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared("DROP INDEX IF EXISTS ix_payments_disputed")
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Alias::new("orders"))
                    .drop_column(Alias::new("canceled"))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Alias::new("payments"))
                    .drop_column(Alias::new("disputes"))
                    .to_owned(),
            )
            .await
    }
}
