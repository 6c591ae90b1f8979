//! Stripe's side of the wire: the signature scheme and the few event fields we use
//! (pure: no I/O, no axum, no database), realistic test events, and a small client of
//! Stripe's API for recovery and diagnosis (`api`).

pub mod api;
pub mod event;
pub mod ids;
mod kept;
pub mod rewrite;
pub mod signature;
pub mod subscription;
pub mod testevent;
