use std::fmt;

/// A tenant's slug: `[a-z0-9-]`, 3 to 63 characters. Parsed at the edge, trusted inside.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TenantSlug(String);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum InvalidSlug {
    #[error("a tenant slug is 3 to 63 characters of a-z, 0-9 and '-'")]
    Shape,
    #[error(
        "the slug \"connect\" is reserved: /api/v1/webhooks/stripe/connect is the Stripe Connect endpoint"
    )]
    Reserved,
}

/// The slug no restaurant may take: its webhook URL is the Connect endpoint's. The
/// platform's own Connect settings are kept under it.
pub const CONNECT: &str = "connect";

impl TenantSlug {
    pub fn parse(text: &str) -> Result<Self, InvalidSlug> {
        let ok = (3..=63).contains(&text.len())
            && text
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !ok {
            Err(InvalidSlug::Shape)
        } else if text == CONNECT {
            Err(InvalidSlug::Reserved)
        } else {
            Ok(Self(text.to_string()))
        }
    }

    /// The reserved slug under which the platform's Connect settings are kept.
    pub fn connect_platform() -> Self {
        Self(CONNECT.to_string())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TenantSlug {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs() {
        for good in ["abc", "pizza-roma-12", &"a".repeat(63)] {
            assert!(TenantSlug::parse(good).is_ok(), "{good}");
        }
        for bad in [
            "ab",
            "Pizza",
            "pizza roma",
            "pizza_roma",
            "pizza/../x",
            &"a".repeat(64),
            "ünï",
        ] {
            assert_eq!(TenantSlug::parse(bad), Err(InvalidSlug::Shape), "{bad}");
        }
        assert_eq!(TenantSlug::parse("connect"), Err(InvalidSlug::Reserved));
    }
}
