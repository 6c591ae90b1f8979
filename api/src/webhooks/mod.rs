//! Stripe webhook deliveries: the event log, the durable inbox, the background processor.

pub mod crosscheck;
pub mod inbox;
pub mod log;
pub mod processor;
pub mod rejected;
pub mod stats;

pub use log::EventStatus;
