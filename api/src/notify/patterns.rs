//! What an endpoint is sent (CONTRACT §12): a list of event types, each exact
//! (`invoice.paid`) or a prefix ending in `*` (`customer.subscription.*`, `order.*`,
//! `*` for everything). Without a list an endpoint gets `order.*`.

/// An endpoint's patterns, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Patterns(Vec<String>);

pub const MAX_PATTERNS: usize = 50;
const MAX_LEN: usize = 100;

impl Default for Patterns {
    fn default() -> Self {
        Self(vec!["order.*".into()])
    }
}

impl Patterns {
    /// Checks a list a caller gave: 1 to 50 patterns of lower-case letters, digits,
    /// `_` and `.`, each at most 100 characters, `*` only at the end.
    pub fn parse(list: &[String]) -> Result<Self, String> {
        if list.is_empty() || list.len() > MAX_PATTERNS {
            return Err(format!(
                "event_types: give 1 to {MAX_PATTERNS} patterns (e.g. \"order.*\", \"invoice.paid\")"
            ));
        }
        let mut out: Vec<String> = Vec::with_capacity(list.len());
        for pattern in list {
            let stem = pattern.strip_suffix('*').unwrap_or(pattern);
            let valid = pattern.len() <= MAX_LEN
                && (stem.is_empty() || pattern.len() > stem.len() || !stem.ends_with('.'))
                && stem.bytes().all(|b| {
                    b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'.'
                });
            if !valid || pattern.is_empty() {
                return Err(format!(
                    "event_types: {:?} is not an event type or a prefix ending in '*' \
                     (lower-case letters, digits, '_' and '.')",
                    pattern.chars().take(MAX_LEN).collect::<String>()
                ));
            }
            if !out.contains(pattern) {
                out.push(pattern.clone());
            }
        }
        Ok(Self(out))
    }

    /// The patterns as stored (a JSON array); what cannot be read is the default.
    pub fn from_stored(text: &str) -> Self {
        serde_json::from_str::<Vec<String>>(text)
            .ok()
            .and_then(|list| Self::parse(&list).ok())
            .unwrap_or_default()
    }

    pub fn to_stored(&self) -> String {
        serde_json::to_string(&self.0).expect("strings serialize")
    }

    pub fn list(&self) -> &[String] {
        &self.0
    }

    /// Whether a message of `kind` (`order.paid`, `subscription.active`, or a Stripe
    /// event type) goes to this endpoint.
    pub fn matches(&self, kind: &str) -> bool {
        self.0.iter().any(|p| match p.strip_suffix('*') {
            Some(prefix) => kind.starts_with(prefix),
            None => p == kind,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn of(list: &[&str]) -> Result<Patterns, String> {
        Patterns::parse(&list.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn exact_types_and_prefixes_match() {
        let p = of(&["customer.subscription.*", "invoice.paid"]).unwrap();
        assert!(p.matches("customer.subscription.updated"));
        assert!(p.matches("invoice.paid"));
        assert!(!p.matches("invoice.payment_failed"));
        assert!(
            !p.matches("order.paid"),
            "order notifications only when listed"
        );
        assert!(Patterns::default().matches("order.paid"));
        assert!(of(&["*"]).unwrap().matches("payout.paid"));
    }

    #[test]
    fn what_is_not_a_pattern_is_refused_with_a_reason() {
        for bad in [
            &[][..],
            &["Order.*"],
            &["order.*.x*"],
            &["a b"],
            &[""],
            &["order."],
        ] {
            assert!(of(bad).is_err(), "{bad:?}");
        }
        let many: Vec<String> = (0..51).map(|i| format!("t{i}")).collect();
        assert!(Patterns::parse(&many).is_err());
        assert_eq!(of(&["x.y", "x.y"]).unwrap().list(), ["x.y"]);
    }

    #[test]
    fn a_stored_list_reads_back_and_an_unreadable_one_is_the_default() {
        let p = of(&["order.*", "invoice.paid"]).unwrap();
        assert_eq!(Patterns::from_stored(&p.to_stored()), p);
        assert_eq!(Patterns::from_stored("nonsense"), Patterns::default());
    }
}
