//! A refused delivery's reason as a code (`no_matching_signature`,
//! `outside_tolerance`, …) beside its words, so that diagnosis reads the code and a
//! reworded message cannot hide a finding. Rows of the last day (what diagnosis
//! reads) are given their code from their words.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261204_000015_error_codes"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Alias::new("webhook_event"))
                    .add_column(ColumnDef::new(Alias::new("error_code")).string().null())
                    .to_owned(),
            )
            .await?;
        let day_ago = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64)
            - 24 * 3600 * 1000;
        let db = manager.get_connection();
        for (code, words) in [
            ("no_matching_signature", "no signature matches%"),
            ("outside_tolerance", "timestamp outside%"),
            ("missing_header", "missing Stripe-Signature%"),
            ("malformed_header", "malformed Stripe-Signature%"),
        ] {
            db.execute_unprepared(&format!(
                "UPDATE webhook_event SET error_code = '{code}' \
                 WHERE status = 'VERIFICATION_FAILED' AND received_at > {day_ago} \
                 AND error LIKE '{words}'"
            ))
            .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Alias::new("webhook_event"))
                    .drop_column(Alias::new("error_code"))
                    .to_owned(),
            )
            .await
    }
}
