//! On PostgreSQL, every change to what verifies a tenant's deliveries (its row, its
//! payment config, its webhook secrets) is announced with `pg_notify('secrets_changed',
//! …)` by triggers, whoever makes it: a replica, the CLI, an operator's SQL. Replicas
//! listen and forget that tenant's cached secrets at once, so they can keep them
//! longer the rest of the time. SQLite has no such channel: nothing is created there.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend};

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261201_000008_secret_changes"
    }
}

const TABLES: [&str; 3] = ["tenant", "payment_config", "webhook_secret"];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        if db.get_database_backend() != DbBackend::Postgres {
            return Ok(());
        }
        db.execute_unprepared(
            r#"CREATE OR REPLACE FUNCTION gateway_announce_secrets() RETURNS trigger AS $$
BEGIN
  IF TG_TABLE_NAME = 'tenant' THEN
    IF TG_OP <> 'INSERT' THEN
      PERFORM pg_notify('secrets_changed', 'slug:' || OLD.slug);
    END IF;
    IF TG_OP <> 'DELETE' THEN
      PERFORM pg_notify('secrets_changed', 'slug:' || NEW.slug);
    END IF;
  ELSIF TG_OP = 'DELETE' THEN
    PERFORM pg_notify('secrets_changed', 'tenant:' || OLD.tenant_id::text);
  ELSE
    PERFORM pg_notify('secrets_changed', 'tenant:' || NEW.tenant_id::text);
  END IF;
  RETURN NULL;
END
$$ LANGUAGE plpgsql"#,
        )
        .await?;
        for table in TABLES {
            db.execute_unprepared(&format!(
                "CREATE TRIGGER gateway_announce_secrets AFTER INSERT OR UPDATE OR DELETE ON {table} \
                 FOR EACH ROW EXECUTE FUNCTION gateway_announce_secrets()"
            ))
            .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        if db.get_database_backend() != DbBackend::Postgres {
            return Ok(());
        }
        for table in TABLES {
            db.execute_unprepared(&format!(
                "DROP TRIGGER IF EXISTS gateway_announce_secrets ON {table}"
            ))
            .await?;
        }
        db.execute_unprepared("DROP FUNCTION IF EXISTS gateway_announce_secrets()")
            .await?;
        Ok(())
    }
}
