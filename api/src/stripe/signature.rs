//! `Stripe-Signature` verification, byte for byte as Stripe's SDKs do it.
//!
//! The header is split on `,`, each item on its first `=`; `t` is the timestamp (the
//! first one counts, as in stripe-python), every `v1` is a candidate, and `v0` and
//! unknown keys are ignored. The expected signature is the lowercase hex HMAC-SHA256
//! of `t.` followed by the raw body, compared in constant time with every candidate
//! for every active secret. The timestamp is checked after a signature matched, so
//! a failure for skew always concerns a genuinely signed event: the clock is off.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

type HmacSha256 = Hmac<Sha256>;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("missing Stripe-Signature header")]
    MissingHeader,
    #[error("malformed Stripe-Signature header: {0}")]
    Malformed(&'static str),
    #[error(
        "no signature matches: the webhook secret differs from the endpoint's signing secret in Stripe"
    )]
    NoMatchingSignature,
    #[error("timestamp outside the tolerance of {tolerance_secs} s: {}", describe_skew(*.skew_secs))]
    OutsideTolerance { skew_secs: i64, tolerance_secs: i64 },
}

fn describe_skew(skew: i64) -> String {
    if skew >= 0 {
        format!("signed {skew} s ago")
    } else {
        format!("signed {} s in the future", -skew)
    }
}

/// The codes of `VerifyError`, as stored with a refused delivery's row.
pub mod codes {
    pub const MISSING_HEADER: &str = "missing_header";
    pub const MALFORMED_HEADER: &str = "malformed_header";
    pub const NO_MATCHING_SIGNATURE: &str = "no_matching_signature";
    pub const OUTSIDE_TOLERANCE: &str = "outside_tolerance";
}

impl VerifyError {
    /// A short machine-readable reason, for metrics, filters and diagnosis.
    pub fn code(&self) -> &'static str {
        match self {
            Self::MissingHeader => codes::MISSING_HEADER,
            Self::Malformed(_) => codes::MALFORMED_HEADER,
            Self::NoMatchingSignature => codes::NO_MATCHING_SIGNATURE,
            Self::OutsideTolerance { .. } => codes::OUTSIDE_TOLERANCE,
        }
    }
}

/// What verification established.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verified {
    pub timestamp: i64,
    /// Which of the given secrets signed the payload.
    pub secret_index: usize,
}

/// The parts of a `Stripe-Signature` header that take part in verification.
#[derive(Debug, PartialEq, Eq)]
pub struct ParsedHeader<'a> {
    pub timestamp: i64,
    pub v1: Vec<&'a str>,
}

pub fn parse_header(header: &str) -> Result<ParsedHeader<'_>, VerifyError> {
    let mut timestamp = None;
    let mut v1 = Vec::new();
    for item in header.split(',') {
        let Some((key, value)) = item.split_once('=') else {
            continue;
        };
        match key {
            "t" if timestamp.is_none() => timestamp = Some(value),
            "v1" => v1.push(value),
            _ => {}
        }
    }
    let timestamp = timestamp.ok_or(VerifyError::Malformed("no timestamp (t=)"))?;
    if timestamp.is_empty()
        || timestamp.len() > 18
        || !timestamp.bytes().all(|b| b.is_ascii_digit())
    {
        return Err(VerifyError::Malformed(
            "the timestamp (t=) is not a decimal Unix time",
        ));
    }
    let timestamp = timestamp
        .parse()
        .map_err(|_| VerifyError::Malformed("the timestamp (t=) is not a decimal Unix time"))?;
    if v1.is_empty() {
        return Err(VerifyError::Malformed("no v1 signature"));
    }
    Ok(ParsedHeader { timestamp, v1 })
}

/// The lowercase hex signature Stripe would send for `payload` at `timestamp`.
pub fn compute_signature(secret: &[u8], timestamp: i64, payload: &[u8]) -> String {
    let mut mac = HmacSha256::new_from_slice(secret).expect("HMAC takes a key of any length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(payload);
    hex::encode(mac.finalize().into_bytes())
}

/// A header as Stripe's SDKs generate it for tests (`t=…,v1=…`).
pub fn sign_header(secret: &[u8], timestamp: i64, payload: &[u8]) -> String {
    format!(
        "t={timestamp},v1={}",
        compute_signature(secret, timestamp, payload)
    )
}

pub fn verify<S: AsRef<[u8]>>(
    payload: &[u8],
    header: Option<&str>,
    secrets: &[S],
    now: i64,
    tolerance_secs: i64,
) -> Result<Verified, VerifyError> {
    let header = header.ok_or(VerifyError::MissingHeader)?;
    let parsed = parse_header(header)?;
    let mut matched = None;
    for (index, secret) in secrets.iter().enumerate() {
        let expected = compute_signature(secret.as_ref(), parsed.timestamp, payload);
        for candidate in &parsed.v1 {
            let equal: bool = expected.as_bytes().ct_eq(candidate.as_bytes()).into();
            if equal && matched.is_none() {
                matched = Some(index);
            }
        }
    }
    let secret_index = matched.ok_or(VerifyError::NoMatchingSignature)?;
    let skew_secs = now.saturating_sub(parsed.timestamp);
    if skew_secs.saturating_abs() > tolerance_secs {
        return Err(VerifyError::OutsideTolerance {
            skew_secs,
            tolerance_secs,
        });
    }
    Ok(Verified {
        timestamp: parsed.timestamp,
        secret_index,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Deserialize)]
    struct Vectors {
        cases: Vec<Case>,
    }

    #[derive(Deserialize)]
    struct Case {
        name: String,
        secret: String,
        timestamp: i64,
        payload: String,
        header: String,
    }

    fn vectors() -> Vec<Case> {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../shared/stripe/signature-vectors.json"
        );
        let text = std::fs::read_to_string(path)
            .unwrap_or_else(|e| panic!("{path}: {e} (shared/ must sit beside the repository)"));
        let vectors: Vectors = serde_json::from_str(&text).unwrap();
        assert!(vectors.cases.len() >= 6);
        vectors.cases
    }

    #[test]
    fn headers_made_by_stripes_sdks_verify() {
        for case in vectors() {
            let verified = verify(
                case.payload.as_bytes(),
                Some(&case.header),
                &[case.secret.as_bytes()],
                case.timestamp,
                300,
            );
            assert_eq!(
                verified,
                Ok(Verified {
                    timestamp: case.timestamp,
                    secret_index: 0
                }),
                "{}",
                case.name
            );
            assert_eq!(
                sign_header(
                    case.secret.as_bytes(),
                    case.timestamp,
                    case.payload.as_bytes()
                ),
                case.header,
                "{}",
                case.name
            );
        }
    }

    #[test]
    fn any_changed_byte_fails() {
        for case in vectors() {
            let payload = case.payload.as_bytes();
            // Every byte of small payloads; a spread of positions in the large one.
            let step = (payload.len() / 512).max(1);
            for i in (0..payload.len()).step_by(step) {
                let mut changed = payload.to_vec();
                changed[i] ^= 0x01;
                assert_eq!(
                    verify(
                        &changed,
                        Some(&case.header),
                        &[case.secret.as_bytes()],
                        case.timestamp,
                        300
                    ),
                    Err(VerifyError::NoMatchingSignature),
                    "{} byte {i}",
                    case.name
                );
            }
        }
    }

    #[test]
    fn a_wrong_secret_fails_and_a_second_active_secret_verifies() {
        let case = &vectors()[0];
        let header = Some(case.header.as_str());
        let payload = case.payload.as_bytes();
        assert_eq!(
            verify(
                payload,
                header,
                &[b"whsec_other".as_slice()],
                case.timestamp,
                300
            ),
            Err(VerifyError::NoMatchingSignature)
        );
        let both = [b"whsec_other".as_slice(), case.secret.as_bytes()];
        assert_eq!(
            verify(payload, header, &both, case.timestamp, 300)
                .unwrap()
                .secret_index,
            1
        );
    }

    #[test]
    fn one_matching_v1_among_several_verifies() {
        let case = &vectors()[0];
        let good = compute_signature(
            case.secret.as_bytes(),
            case.timestamp,
            case.payload.as_bytes(),
        );
        let header = format!(
            "t={},v1={},v0={},v1={good},v1=zz,foo=bar",
            case.timestamp,
            "0".repeat(64),
            good
        );
        assert!(
            verify(
                case.payload.as_bytes(),
                Some(&header),
                &[case.secret.as_bytes()],
                case.timestamp,
                300
            )
            .is_ok()
        );
    }

    #[test]
    fn v0_only_does_not_verify() {
        let case = &vectors()[0];
        let good = compute_signature(
            case.secret.as_bytes(),
            case.timestamp,
            case.payload.as_bytes(),
        );
        let header = format!("t={},v0={good}", case.timestamp);
        assert_eq!(
            verify(
                case.payload.as_bytes(),
                Some(&header),
                &[case.secret.as_bytes()],
                case.timestamp,
                300
            ),
            Err(VerifyError::Malformed("no v1 signature"))
        );
    }

    #[test]
    fn timestamps_past_the_tolerance_fail_in_either_direction() {
        let case = &vectors()[0];
        let check = |now| {
            verify(
                case.payload.as_bytes(),
                Some(&case.header),
                &[case.secret.as_bytes()],
                now,
                300,
            )
        };
        assert!(check(case.timestamp + 300).is_ok());
        assert!(check(case.timestamp - 300).is_ok());
        assert_eq!(
            check(case.timestamp + 301),
            Err(VerifyError::OutsideTolerance {
                skew_secs: 301,
                tolerance_secs: 300
            })
        );
        let early = check(case.timestamp - 4000).unwrap_err();
        assert_eq!(
            early,
            VerifyError::OutsideTolerance {
                skew_secs: -4000,
                tolerance_secs: 300
            }
        );
        assert!(early.to_string().contains("4000 s in the future"));
    }

    #[test]
    fn malformed_headers_are_named() {
        let cases = [
            ("", "no timestamp (t=)"),
            ("v1=abc", "no timestamp (t=)"),
            (
                "t=12a,v1=abc",
                "the timestamp (t=) is not a decimal Unix time",
            ),
            (
                "t=-5,v1=abc",
                "the timestamp (t=) is not a decimal Unix time",
            ),
            (
                "t=99999999999999999999999,v1=abc",
                "the timestamp (t=) is not a decimal Unix time",
            ),
            ("t=123", "no v1 signature"),
        ];
        for (header, why) in cases {
            assert_eq!(
                verify(b"{}", Some(header), &[b"s".as_slice()], 123, 300),
                Err(VerifyError::Malformed(why)),
                "{header:?}"
            );
        }
        assert_eq!(
            verify(b"{}", None, &[b"s".as_slice()], 0, 300),
            Err(VerifyError::MissingHeader)
        );
    }

    #[test]
    fn no_secrets_means_no_match() {
        let empty: [&[u8]; 0] = [];
        assert_eq!(
            verify(b"{}", Some("t=1,v1=ab"), &empty, 1, 300),
            Err(VerifyError::NoMatchingSignature)
        );
    }
}
