//! Entry points for fuzzing each parser that reads bytes from the internet: the
//! `Stripe-Signature` header, the event body, the tenant slug in the URL, and
//! `X-Forwarded-For`. None may panic, whatever the input; each also checks what it can
//! of its own answer. Run by `fuzz/` (cargo-fuzz, libFuzzer) for as long as one likes,
//! and briefly by `cargo test` over a corpus and its mutations (`api/tests/fuzz.rs`).

use crate::http::client_ip;
use crate::stripe::{event, signature};
use crate::tenants::TenantSlug;
use axum::http::{HeaderMap, HeaderValue};
use std::net::IpAddr;

const SECRET: &[u8] = b"whsec_fuzzing_secret";
const NOW: i64 = 1_700_000_000;

/// The header as a header: parsing, then verifying a fixed body with a fixed secret.
/// Only a header that really carries that body's signature may verify.
pub fn stripe_signature(data: &[u8]) {
    let Ok(header) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(parsed) = signature::parse_header(header) {
        assert!(!parsed.v1.is_empty());
        assert!(parsed.timestamp >= 0);
    }
    let body = b"{\"id\":\"evt_fuzz\",\"object\":\"event\"}";
    if let Ok(verified) = signature::verify(body, Some(header), &[SECRET], NOW, 300) {
        let expected = signature::compute_signature(SECRET, verified.timestamp, body);
        assert!(header.contains(&expected), "verified without the signature");
    }
}

/// A body as a verified delivery's body: an event, or a reason why not.
pub fn event_body(data: &[u8]) {
    if let Ok(facts) = event::parse(data) {
        for id in [&facts.event_id, &facts.event_type] {
            assert!(!id.is_empty() && id.len() <= 255);
            assert!(!id.chars().any(char::is_control), "ids are storable text");
        }
        for id in facts.order_refs.iter().chain(&facts.payment_intent_id) {
            assert!(!id.is_empty() && id.len() <= 255);
        }
    }
}

/// The `{tenant}` of a webhook URL.
pub fn tenant_slug(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(slug) = TenantSlug::parse(text) {
        assert!((3..=63).contains(&slug.as_str().len()));
        assert!(
            slug.as_str()
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        );
        assert_eq!(TenantSlug::parse(slug.as_str()), Ok(slug.clone()));
    }
}

/// `X-Forwarded-For` lines (one per input line) behind a trusted proxy: the client is
/// the proxy itself or an address the lines name, never anything else.
pub fn forwarded_for(data: &[u8]) {
    let peer: IpAddr = [10, 0, 0, 1].into();
    let trusted = ["10.0.0.0/8".parse().expect("a CIDR")];
    let mut headers = HeaderMap::new();
    for line in data.split(|b| *b == b'\n') {
        if let Ok(value) = HeaderValue::from_bytes(line) {
            headers.append("x-forwarded-for", value);
        }
    }
    let client = client_ip::resolve(peer, &headers, &trusted);
    if client != peer {
        let named = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .any(|hop| {
                hop.parse::<IpAddr>().ok() == Some(client)
                    || hop.parse::<std::net::SocketAddr>().ok().map(|s| s.ip()) == Some(client)
            });
        assert!(named, "{client} was not in the header");
    }
    let _ = client_ip::ClientIp(client).limit_key();
}
