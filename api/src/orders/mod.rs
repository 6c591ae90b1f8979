//! Orders: created by restaurant backends, moved by Stripe events, polled by widgets.

pub mod apply;
pub mod disputes;
pub mod lifecycle;
pub mod store;
pub mod watch;
