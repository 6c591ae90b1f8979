//! The Stripe webhook gateway for restaurant platforms.
//!
//! Floors, from the ground up: pure pieces and storage helpers (`stripe`, `vault`,
//! `config`, `db`, `metrics`, `outbound`), the domain (`tenants`, `orders`, `webhooks`), then the
//! two ways in: `http` (the server; `http::run(config, listener)` starts it on a bound
//! listener, as tests and the benchmark do) and `cli`. Nothing imports upward: the
//! domain knows no axum type, and the CLI calls the domain, never a handler.

pub mod changes;
pub mod cli;
pub mod clock;
pub mod config;
pub mod db;
pub mod diagnosis;
#[doc(hidden)]
pub mod fuzzing;
pub mod http;
pub mod metrics;
pub mod notify;
pub mod orders;
pub mod outbound;
pub mod recovery;
pub mod runtime;
pub mod stripe;
pub mod subscriptions;
pub mod tasks;
pub mod tenants;
pub mod untrusted;
pub mod vault;
pub mod webhooks;
