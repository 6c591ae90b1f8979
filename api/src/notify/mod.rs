//! Notifications to restaurant backends (CONTRACT §8): when an order's status changes,
//! a notification is written in the same transaction (the outbox) for each of the
//! tenant's endpoints, then delivered at least once, signed as the Standard Webhooks
//! specification says, retried with backoff for up to 3 days, every attempt logged.

pub mod deliver;
pub mod endpoints;
pub mod outbox;

pub use endpoints::AddErrorKind;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use std::net::IpAddr;

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

/// True for an address a notification must not reach: this machine, private and
/// shared networks, link-local (cloud metadata at 169.254.169.254), and the like.
pub fn is_internal(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.is_documentation()
                || a == 0
                || (a == 100 && (64..128).contains(&b)) // carrier-grade NAT
                || (a == 192 && b == 0) // IETF protocol assignments
                || a >= 240
        }
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => is_internal(IpAddr::V4(v4)),
            None => {
                let first = v6.segments()[0];
                v6.is_loopback()
                    || v6.is_unspecified()
                    || v6.is_multicast()
                    || (first & 0xfe00) == 0xfc00 // unique local
                    || (first & 0xffc0) == 0xfe80 // link-local
            }
        },
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum UrlError {
    #[error("the URL is not an http(s) URL with a host")]
    Malformed,
    #[error("the host does not resolve")]
    Unresolvable,
    #[error(
        "the URL reaches inside the platform (loopback, private, link-local or metadata address); only public addresses are allowed"
    )]
    Internal,
}

/// Checks that `url` is http(s) and that every address its host resolves to is public
/// (unless `allow_private`). Checked when an endpoint is added and before every attempt.
pub async fn check_url(url: &str, allow_private: bool) -> Result<(), UrlError> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .ok_or(UrlError::Malformed)?;
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let authority = authority.rsplit('@').next().unwrap_or_default();
    if authority.is_empty() || url.len() > 2000 {
        return Err(UrlError::Malformed);
    }
    let default_port = if url.starts_with("https://") { 443 } else { 80 };
    let target = if authority.starts_with('[') || authority.matches(':').count() == 1 {
        authority.to_string()
    } else {
        format!("{authority}:{default_port}")
    };
    let target = if target.ends_with(']') {
        format!("{target}:{default_port}")
    } else {
        target
    };
    let addresses: Vec<IpAddr> = tokio::net::lookup_host(target.as_str())
        .await
        .map_err(|_| UrlError::Unresolvable)?
        .map(|a| a.ip())
        .collect();
    if addresses.is_empty() {
        return Err(UrlError::Unresolvable);
    }
    if !allow_private && addresses.into_iter().any(is_internal) {
        return Err(UrlError::Internal);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_addresses_are_refused() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
        ] {
            assert!(is_internal(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["93.184.216.34", "2606:4700::1111"] {
            assert!(!is_internal(ip.parse().unwrap()), "{ip}");
        }
    }

    #[tokio::test]
    async fn urls_to_loopback_are_refused_unless_allowed() {
        assert_eq!(
            check_url("http://127.0.0.1:9/hook", false).await,
            Err(UrlError::Internal)
        );
        assert_eq!(
            check_url("http://localhost/hook", false).await,
            Err(UrlError::Internal)
        );
        assert_eq!(
            check_url("http://[::1]:80/x", false).await,
            Err(UrlError::Internal)
        );
        assert_eq!(
            check_url("ftp://example.com", false).await,
            Err(UrlError::Malformed)
        );
        assert!(check_url("http://127.0.0.1:9/hook", true).await.is_ok());
    }

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
