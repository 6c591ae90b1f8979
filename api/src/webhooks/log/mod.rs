//! The webhook event log: every row of `webhook_event` and every change of its status
//! goes through here.
//!
//! ```text
//! verified ─▶ PROCESSING ─▶ COMPLETED
//!                  │  ▲
//!                  ▼  │ (admin retry)
//!                 FAILED
//! rejected ─▶ VERIFICATION_FAILED | NO_CONFIG | FAILED (not an event)
//! ```
//! Every query of one tenant's log is scoped by its tenant id. `store` writes new
//! rows, `transitions` moves them between statuses, `read` lists them, `retention`
//! removes what is past `EVENT_RETENTION_DAYS`.

mod read;
mod retention;
mod store;
mod transitions;

pub use read::*;
pub use retention::*;
pub use store::*;
pub use transitions::*;

use crate::stripe::event::EventFacts;

/// The status of a delivery in the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum EventStatus {
    /// Verified and stored; being applied (or waiting for a retry).
    Processing,
    Completed,
    /// Applying failed every attempt, or the verified body is not an event.
    Failed,
    VerificationFailed,
    NoConfig,
}

impl EventStatus {
    pub const ALL: [EventStatus; 5] = [
        Self::Processing,
        Self::Completed,
        Self::Failed,
        Self::VerificationFailed,
        Self::NoConfig,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Processing => "PROCESSING",
            Self::Completed => "COMPLETED",
            Self::Failed => "FAILED",
            Self::VerificationFailed => "VERIFICATION_FAILED",
            Self::NoConfig => "NO_CONFIG",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == text)
    }
}

/// How an event reached the gateway.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// Delivered by Stripe to the webhook URL, signature verified.
    Webhook,
    /// Fetched from Stripe's API with the tenant's key (Stripe could not deliver it).
    Recovered,
    /// Delivered to the platform's Connect endpoint, routed here by its `account`.
    Connect,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Webhook => "webhook",
            Self::Recovered => "recovered",
            Self::Connect => "connect",
        }
    }
}

/// A verified event, to be stored `PROCESSING` unless the tenant already has it.
#[derive(Debug)]
pub struct Verified {
    pub tenant_id: i64,
    pub tenant_slug: String,
    pub payload: String,
    pub facts: EventFacts,
    pub source: Source,
    /// The delivery's span (tenant, delivery id, event id): what the inbox writer logs
    /// of this event is logged in it, so a delivery can be followed through the log.
    pub span: tracing::Span,
}

/// A delivery that will not be processed: unverified, unknown tenant, or not an event.
#[derive(Debug)]
pub struct Rejected {
    pub tenant_id: Option<i64>,
    pub tenant_slug: String,
    pub status: EventStatus,
    pub stripe_event_id: Option<String>,
    pub event_type: Option<String>,
    pub error: String,
    /// The reason as a code (`VerifyError::code`, `no_config`, `invalid_payload`).
    pub error_code: &'static str,
    /// Only for verified bodies.
    pub payload: Option<String>,
    /// The other tenant whose secret this delivery verifies with, if one does.
    pub signed_for_tenant_id: Option<i64>,
}

/// Text as PostgreSQL can store it (no NUL).
pub(crate) fn storable(text: String) -> String {
    if text.contains('\0') {
        text.replace('\0', "\u{fffd}")
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_round_trip_through_their_names() {
        for s in EventStatus::ALL {
            assert_eq!(EventStatus::parse(s.as_str()), Some(s));
        }
        assert_eq!(EventStatus::parse("processing"), None);
    }
}
