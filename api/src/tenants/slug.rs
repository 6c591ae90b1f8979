use std::fmt;

/// A tenant's slug: `[a-z0-9-]`, 3 to 63 characters. Parsed at the edge, trusted inside.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TenantSlug(String);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("a tenant slug is 3 to 63 characters of a-z, 0-9 and '-'")]
pub struct InvalidSlug;

impl TenantSlug {
    pub fn parse(text: &str) -> Result<Self, InvalidSlug> {
        let ok = (3..=63).contains(&text.len())
            && text
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if ok {
            Ok(Self(text.to_string()))
        } else {
            Err(InvalidSlug)
        }
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
            assert_eq!(TenantSlug::parse(bad), Err(InvalidSlug), "{bad}");
        }
    }
}
