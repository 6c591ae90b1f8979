//! Stripe webhook deliveries: the route, the durable inbox, the background processor.

pub mod inbox;
pub mod processor;
pub mod route;

/// The statuses of a WebhookEvent row.
pub mod status {
    pub const PROCESSING: &str = "PROCESSING";
    pub const COMPLETED: &str = "COMPLETED";
    pub const FAILED: &str = "FAILED";
    pub const VERIFICATION_FAILED: &str = "VERIFICATION_FAILED";
    pub const NO_CONFIG: &str = "NO_CONFIG";
    pub const ALL: [&str; 5] = [
        PROCESSING,
        COMPLETED,
        FAILED,
        VERIFICATION_FAILED,
        NO_CONFIG,
    ];
}
