//! Stripe's side of the wire: the signature scheme and the few event fields we use.
//! Pure code: no I/O, no axum, no database.

pub mod api;
pub mod event;
pub mod signature;
pub mod testevent;
