//! Notifications to restaurant backends (CONTRACT §8): when an order's status changes,
//! a notification is written in the same transaction (the outbox) for each of the
//! tenant's endpoints, then delivered at least once, signed as the Standard Webhooks
//! specification says, retried with backoff for up to 3 days, every attempt logged.

pub mod deliver;
pub mod endpoints;
mod ordered;
pub mod outbox;
pub mod patterns;
pub mod sender;

pub use crate::outbound::{UrlError, check_url};
pub use endpoints::AddErrorKind;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// `v1,<base64 HMAC-SHA256(secret, "{id}.{timestamp}.{body}")>`, the Standard Webhooks
/// `webhook-signature` for a message.
pub fn signature(secret: &[u8], message_id: &str, timestamp: i64, body: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes a key of any length");
    mac.update(format!("{message_id}.{timestamp}.{body}").as_bytes());
    format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
}

/// A new endpoint secret: `whsec_` + base64 of 24 random bytes, as the specification has it.
pub fn new_secret() -> (String, Vec<u8>) {
    let mut bytes = vec![0u8; 24];
    rand::fill(&mut bytes[..]);
    (format!("whsec_{}", STANDARD.encode(&bytes)), bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_follow_the_specification() {
        // The specification's own example (standard-webhooks spec, "Signature scheme").
        let secret = STANDARD.decode("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let body = r#"{"test": 2432232314}"#;
        assert_eq!(
            signature(&secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }
}
