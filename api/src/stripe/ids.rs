//! What a Stripe identifier may be, as the gateway accepts it.

/// An identifier: non-empty, at most 255 bytes, no control characters (PostgreSQL
/// text cannot hold NUL, and no Stripe id has one).
pub fn is_id(s: &str) -> bool {
    !s.is_empty() && s.len() <= MAX_ID_LEN && !s.chars().any(char::is_control)
}

const MAX_ID_LEN: usize = 255;
