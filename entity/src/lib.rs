//! sea-orm entities, one file per table. Timestamps are Unix milliseconds.

pub mod admin_user;
pub mod alert_state;
pub mod api_key;
pub mod audit_log;
pub mod delivery_minute;
pub mod notification;
pub mod notification_attempt;
pub mod notification_endpoint;
pub mod order;
pub mod payment;
pub mod payment_config;
pub mod recovery_state;
pub mod rejected_tally;
pub mod revoked_token;
pub mod stripe_api_key;
pub mod subscription;
pub mod tenant;
pub mod webhook_event;
pub mod webhook_secret;
