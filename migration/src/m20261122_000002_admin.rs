//! Admin accounts and the audit log of every change made through the admin API or CLI.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261122_000002_admin"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("admin_user")
                    .col(big_pk_auto("id"))
                    .col(string_uniq("email"))
                    .col(string("password_hash"))
                    .col(string("role"))
                    .col(big_integer_null("tenant_id"))
                    .col(big_integer("created_at"))
                    .foreign_key(
                        ForeignKey::create()
                            .from("admin_user", "tenant_id")
                            .to("tenant", "id")
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("audit_log")
                    .col(big_pk_auto("id"))
                    .col(big_integer_null("tenant_id"))
                    .col(string("actor"))
                    .col(string("action"))
                    .col(text("detail"))
                    .col(string_null("ip"))
                    .col(big_integer("created_at"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_audit_log_tenant")
                    .table("audit_log")
                    .col("tenant_id")
                    .col("id")
                    .to_owned(),
            )
            .await?;
        // A manual status set by an admin (with its reason): a floor that later
        // events can raise (a refund) but not lower.
        manager
            .alter_table(
                Table::alter()
                    .table("orders")
                    .add_column(string_null("manual_status"))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table("orders")
                    .add_column(text_null("manual_reason"))
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table("audit_log").to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table("admin_user").to_owned())
            .await
    }
}
