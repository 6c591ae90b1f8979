//! The restaurant's backend hears everything Stripe says (CONTRACT §12): endpoints
//! subscribe to event types and can be paused; forwarded Stripe events are kept once
//! per endpoint; orders remember the customer's e-mail; subscriptions get their rows;
//! deliveries are counted per tenant and minute for the success rate and response time.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::ConnectionTrait;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261207_000019_backend_leg"
    }
}

/// Upper bounds (ms) of the response-time buckets of `delivery_minute`: `b0` counts
/// answers within 10 ms, …, `b11` the rest.
const BUCKETS: usize = 12;

fn add(table: &str, column: ColumnDef) -> TableAlterStatement {
    Table::alter()
        .table(Alias::new(table))
        .add_column(column)
        .to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for alter in [
            add(
                "notification_endpoint",
                ColumnDef::new("event_types")
                    .text()
                    .not_null()
                    .default("[\"order.*\"]")
                    .to_owned(),
            ),
            add(
                "notification_endpoint",
                ColumnDef::new("paused")
                    .boolean()
                    .not_null()
                    .default(false)
                    .to_owned(),
            ),
            // Notifications up to this id go out one at a time, oldest first (after a
            // resume or a resend); none when unset.
            add(
                "notification_endpoint",
                ColumnDef::new("in_order_until")
                    .big_integer()
                    .null()
                    .to_owned(),
            ),
            add(
                "notification",
                ColumnDef::new("source_event").string().null().to_owned(),
            ),
            // The order an `order.*` notification tells of, for `paid_not_acknowledged`.
            add(
                "notification",
                ColumnDef::new("order_id").string().null().to_owned(),
            ),
            add(
                "orders",
                ColumnDef::new("customer_email").string().null().to_owned(),
            ),
        ] {
            manager.alter_table(alter).await?;
        }
        // A Stripe event is forwarded once per endpoint (NULLs, the order
        // notifications, never collide).
        manager
            .create_index(
                Index::create()
                    .name("ux_notification_source_event")
                    .table("notification")
                    .col("endpoint_id")
                    .col("source_event")
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("subscription")
                    .col(ColumnDef::new("tenant_id").big_integer().not_null())
                    .col(ColumnDef::new("id").string().not_null())
                    .col(ColumnDef::new("customer").string().null())
                    .col(ColumnDef::new("status").string_len(32).not_null())
                    .col(ColumnDef::new("price_ids").text().not_null())
                    .col(ColumnDef::new("current_period_end").big_integer().null())
                    .col(ColumnDef::new("cancel_at_period_end").boolean().not_null())
                    .col(ColumnDef::new("livemode").boolean().not_null())
                    .col(ColumnDef::new("checkout_session_id").string().null())
                    .col(ColumnDef::new("status_created").big_integer().not_null())
                    .col(ColumnDef::new("status_event_id").string().not_null())
                    .col(ColumnDef::new("detail_created").big_integer().not_null())
                    .col(ColumnDef::new("detail_event_id").string().not_null())
                    .col(ColumnDef::new("created_at").big_integer().not_null())
                    .col(ColumnDef::new("updated_at").big_integer().not_null())
                    .primary_key(Index::create().col("tenant_id").col("id"))
                    .to_owned(),
            )
            .await?;
        let mut minute = Table::create()
            .table("delivery_minute")
            .col(ColumnDef::new("tenant_id").big_integer().not_null())
            .col(ColumnDef::new("minute").big_integer().not_null())
            .col(ColumnDef::new("total").big_integer().not_null())
            .col(ColumnDef::new("ok").big_integer().not_null())
            .primary_key(Index::create().col("tenant_id").col("minute"))
            .to_owned();
        for b in 0..BUCKETS {
            minute.col(ColumnDef::new(format!("b{b}")).big_integer().not_null());
        }
        manager.create_table(minute).await?;
        // Orders paid whose notification no endpoint has acknowledged are looked up by
        // the alert rounds among recent paid orders.
        manager
            .get_connection()
            .execute_unprepared(
                "CREATE INDEX ix_notification_pending_tenant ON notification \
                 (tenant_id, created_at) WHERE status <> 'DELIVERED'",
            )
            .await?;
        // The backend leg's findings read a tenant's last hour of attempts.
        manager
            .create_index(
                Index::create()
                    .name("ix_notification_attempt_tenant")
                    .table("notification_attempt")
                    .col("tenant_id")
                    .col("at")
                    .to_owned(),
            )
            .await?;
        manager
            .get_connection()
            .execute_unprepared(
                "CREATE INDEX ix_notification_order ON notification (tenant_id, order_id) \
                 WHERE order_id IS NOT NULL",
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        db.execute_unprepared("DROP INDEX IF EXISTS ix_notification_pending_tenant")
            .await?;
        db.execute_unprepared("DROP INDEX IF EXISTS ix_notification_attempt_tenant")
            .await?;
        db.execute_unprepared("DROP INDEX IF EXISTS ix_notification_order")
            .await?;
        db.execute_unprepared("DROP INDEX IF EXISTS ux_notification_source_event")
            .await?;
        for table in ["delivery_minute", "subscription"] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        for (table, column) in [
            ("orders", "customer_email"),
            ("notification", "order_id"),
            ("notification", "source_event"),
            ("notification_endpoint", "in_order_until"),
            ("notification_endpoint", "paused"),
            ("notification_endpoint", "event_types"),
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Alias::new(table))
                        .drop_column(Alias::new(column))
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}
