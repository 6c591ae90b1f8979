//! sea-orm entities, one file per table. Timestamps are Unix milliseconds.

pub mod api_key;
pub mod order;
pub mod payment;
pub mod payment_config;
pub mod tenant;
pub mod webhook_event;
pub mod webhook_secret;
