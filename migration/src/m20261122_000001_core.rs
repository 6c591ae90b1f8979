//! The core path: tenants, their encrypted Stripe secrets and API keys, the webhook
//! event log, orders and payments. Every timestamp is Unix milliseconds (BIGINT), so
//! comparisons and ordering behave the same on SQLite and PostgreSQL.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261122_000001_core"
    }
}

fn index(name: &str, table: &'static str, cols: &[&'static str]) -> IndexCreateStatement {
    let mut idx = Index::create();
    idx.name(name).table(table);
    for col in cols {
        idx.col(*col);
    }
    idx.to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("tenant")
                    .col(big_pk_auto("id"))
                    .col(string_uniq("slug"))
                    .col(string("name"))
                    .col(big_integer("created_at"))
                    .col(big_integer("updated_at"))
                    .to_owned(),
            )
            .await?;

        // One row per tenant with a payment provider configured.
        manager
            .create_table(
                Table::create()
                    .table("payment_config")
                    .col(big_integer("tenant_id").primary_key())
                    .col(string("provider"))
                    .col(big_integer("created_at"))
                    .col(big_integer("updated_at"))
                    .foreign_key(
                        ForeignKey::create()
                            .from("payment_config", "tenant_id")
                            .to("tenant", "id")
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;

        // Webhook signing secrets, sealed with AES-256-GCM. The current secret has no
        // expiry; during a rotation the previous one carries `expires_at`.
        manager
            .create_table(
                Table::create()
                    .table("webhook_secret")
                    .col(big_pk_auto("id"))
                    .col(big_integer("tenant_id"))
                    .col(string("key_id"))
                    .col(blob("nonce"))
                    .col(blob("ciphertext"))
                    .col(string("hint"))
                    .col(string("fingerprint"))
                    .col(big_integer("created_at"))
                    .col(big_integer_null("expires_at"))
                    .foreign_key(
                        ForeignKey::create()
                            .from("webhook_secret", "tenant_id")
                            .to("tenant", "id")
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index(
                "ix_webhook_secret_tenant",
                "webhook_secret",
                &["tenant_id"],
            ))
            .await?;

        manager
            .create_table(
                Table::create()
                    .table("api_key")
                    .col(big_pk_auto("id"))
                    .col(big_integer("tenant_id"))
                    .col(string("prefix"))
                    .col(string_uniq("key_hash"))
                    .col(big_integer("created_at"))
                    .col(big_integer_null("revoked_at"))
                    .foreign_key(
                        ForeignKey::create()
                            .from("api_key", "tenant_id")
                            .to("tenant", "id")
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;

        // Every delivery, verified or not. `dedup_key` is the Stripe event id of a
        // verified event only, so that the unique index makes "this tenant already has
        // this event" a constraint, while failed deliveries may repeat freely.
        manager
            .create_table(
                Table::create()
                    .table("webhook_event")
                    .col(big_pk_auto("id"))
                    .col(big_integer_null("tenant_id"))
                    .col(string("tenant_slug"))
                    .col(string_null("stripe_event_id"))
                    .col(string_null("dedup_key"))
                    .col(string_null("event_type"))
                    .col(string("status"))
                    .col(string_null("outcome"))
                    .col(text_null("error"))
                    .col(integer("attempts"))
                    .col(text_null("payload"))
                    .col(string_null("order_id"))
                    .col(big_integer("received_at"))
                    .col(big_integer_null("processed_at"))
                    .col(big_integer_null("next_attempt_at"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                index(
                    "ux_webhook_event_dedup",
                    "webhook_event",
                    &["tenant_id", "dedup_key"],
                )
                .unique()
                .to_owned(),
            )
            .await?;
        // Newest-first listing per tenant, optionally by status or by type (keyset on id).
        manager
            .create_index(index(
                "ix_webhook_event_tenant",
                "webhook_event",
                &["tenant_id", "id"],
            ))
            .await?;
        manager
            .create_index(index(
                "ix_webhook_event_tenant_status",
                "webhook_event",
                &["tenant_id", "status", "id"],
            ))
            .await?;
        manager
            .create_index(index(
                "ix_webhook_event_tenant_type",
                "webhook_event",
                &["tenant_id", "event_type", "id"],
            ))
            .await?;
        // The recovery sweep: PROCESSING rows whose lease ran out.
        manager
            .create_index(index(
                "ix_webhook_event_due",
                "webhook_event",
                &["status", "next_attempt_at"],
            ))
            .await?;

        manager
            .create_table(
                Table::create()
                    .table("orders")
                    .col(string("id").primary_key())
                    .col(big_integer("tenant_id"))
                    .col(big_integer("amount"))
                    .col(string("currency"))
                    .col(string_null("reference"))
                    .col(string("status"))
                    .col(string_null("checkout_session_id"))
                    .col(string_null("payment_intent_id"))
                    .col(boolean("expired"))
                    .col(big_integer("created_at"))
                    .col(big_integer("updated_at"))
                    .foreign_key(
                        ForeignKey::create()
                            .from("orders", "tenant_id")
                            .to("tenant", "id")
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index(
                "ix_orders_tenant_created",
                "orders",
                &["tenant_id", "created_at"],
            ))
            .await?;
        manager
            .create_index(index(
                "ix_orders_tenant_session",
                "orders",
                &["tenant_id", "checkout_session_id"],
            ))
            .await?;
        manager
            .create_index(index(
                "ix_orders_tenant_intent",
                "orders",
                &["tenant_id", "payment_intent_id"],
            ))
            .await?;

        // One row per PaymentIntent (or charge, or session, when Stripe gives no
        // PaymentIntent). The booleans and amounts only ever grow, so applying
        // events in any order reaches the same row.
        manager
            .create_table(
                Table::create()
                    .table("payments")
                    .col(big_pk_auto("id"))
                    .col(big_integer("tenant_id"))
                    .col(string("payment_key"))
                    .col(string_null("order_id"))
                    .col(string_null("payment_intent_id"))
                    .col(string_null("charge_id"))
                    .col(big_integer_null("amount"))
                    .col(string_null("currency"))
                    .col(string("status"))
                    .col(boolean("succeeded"))
                    .col(boolean("failed"))
                    .col(big_integer("charge_refunded"))
                    .col(text("refunds"))
                    .col(big_integer("amount_refunded"))
                    .col(big_integer("created_at"))
                    .col(big_integer("updated_at"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                index("ux_payments_key", "payments", &["tenant_id", "payment_key"])
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index("ix_payments_order", "payments", &["order_id"]))
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            "payments",
            "orders",
            "webhook_event",
            "api_key",
            "webhook_secret",
            "payment_config",
            "tenant",
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
