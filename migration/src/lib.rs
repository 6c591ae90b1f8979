//! Schema steps for the gateway. Each step stands alone: it names its tables and
//! columns itself and never imports the live entity structs, so old steps cannot
//! drift when the entities change.

pub use sea_orm_migration::prelude::*;

mod m20261122_000001_core;
mod m20261122_000002_admin;
mod m20261122_000003_event_time;
mod m20261123_000004_integrity;
mod m20261123_000005_ready_probe;
mod m20261123_000006_recovery;
mod m20261123_000007_notifications;
mod m20261201_000008_secret_changes;
mod m20261201_000009_lean_indexes;
mod m20261201_000010_room_for_updates;
mod m20261202_000011_alert_index;
mod m20261202_000012_payload_lz4;
mod m20261202_000013_key_first_indexes;
mod m20261204_000014_admin_sessions;
mod m20261204_000015_error_codes;
mod m20261207_000016_disputes;
mod m20261207_000017_secret_modes;
mod m20261207_000018_connect;
mod m20261207_000019_backend_leg;
mod m20261207_000020_event_retention;
mod m20261207_000021_partitioned_log;
mod m20261207_000022_order_totals;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261122_000001_core::Migration),
            Box::new(m20261122_000002_admin::Migration),
            Box::new(m20261122_000003_event_time::Migration),
            Box::new(m20261123_000004_integrity::Migration),
            Box::new(m20261123_000005_ready_probe::Migration),
            Box::new(m20261123_000006_recovery::Migration),
            Box::new(m20261123_000007_notifications::Migration),
            Box::new(m20261201_000008_secret_changes::Migration),
            Box::new(m20261201_000009_lean_indexes::Migration),
            Box::new(m20261201_000010_room_for_updates::Migration),
            Box::new(m20261202_000011_alert_index::Migration),
            Box::new(m20261202_000012_payload_lz4::Migration),
            Box::new(m20261202_000013_key_first_indexes::Migration),
            Box::new(m20261204_000014_admin_sessions::Migration),
            Box::new(m20261204_000015_error_codes::Migration),
            Box::new(m20261207_000016_disputes::Migration),
            Box::new(m20261207_000017_secret_modes::Migration),
            Box::new(m20261207_000018_connect::Migration),
            Box::new(m20261207_000019_backend_leg::Migration),
            Box::new(m20261207_000020_event_retention::Migration),
            Box::new(m20261207_000021_partitioned_log::Migration),
            Box::new(m20261207_000022_order_totals::Migration),
        ]
    }
}
