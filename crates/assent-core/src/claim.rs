//! Claims: may this agent key act on this service? Their states and the rules between them.

use std::fmt;

use crate::Timestamp;

/// An agent key's request to act on a service of a namespace, and where it stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    /// `cl_` + 24 hex.
    pub id: String,
    pub namespace: String,
    pub service_id: String,
    /// The service's slug when the claim was made.
    pub service_slug: String,
    /// The agent key as submitted (`ed25519:<base64>`).
    pub public_key: String,
    /// The same key as a `did:key`.
    pub agent_key: String,
    pub agent_ip: Option<String>,
    pub subject: Option<String>,
    pub agent_id: Option<String>,
    pub agent_name: Option<String>,
    pub status: ClaimStatus,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    /// When a pending claim expires.
    pub expires_at: Timestamp,
    pub approved_at: Option<Timestamp>,
    /// When it was rejected, revoked or expired.
    pub decided_at: Option<Timestamp>,
    /// Who or what decided it: `account:<id>`, or for an automatic decision `policy:<rule id>`
    /// or `limit:max_pending` / `limit:max_pending_per_service`.
    pub decided_by: Option<String>,
}

/// Where a claim stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ClaimStatus {
    Pending,
    Approved,
    Rejected,
    Revoked,
    Expired,
}

impl ClaimStatus {
    pub const ALL: [Self; 5] = [
        Self::Pending,
        Self::Approved,
        Self::Rejected,
        Self::Revoked,
        Self::Expired,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Approved => "approved",
            Self::Rejected => "rejected",
            Self::Revoked => "revoked",
            Self::Expired => "expired",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == text)
    }

    /// A submission for a key whose claim stands here is answered with the existing claim
    /// (idempotent) instead of starting a new one.
    pub const fn is_live(self) -> bool {
        matches!(self, Self::Pending | Self::Approved)
    }
}

impl fmt::Display for ClaimStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An owner's decision on a claim.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Approve,
    Reject,
    Revoke,
}

impl Decision {
    /// The state a claim must be in for the decision to apply.
    pub const fn from(self) -> ClaimStatus {
        match self {
            Self::Approve | Self::Reject => ClaimStatus::Pending,
            Self::Revoke => ClaimStatus::Approved,
        }
    }

    pub const fn to(self) -> ClaimStatus {
        match self {
            Self::Approve => ClaimStatus::Approved,
            Self::Reject => ClaimStatus::Rejected,
            Self::Revoke => ClaimStatus::Revoked,
        }
    }

    pub const fn event(self) -> crate::EventType {
        match self {
            Self::Approve => crate::EventType::RequestApproved,
            Self::Reject => crate::EventType::RequestRejected,
            Self::Revoke => crate::EventType::RequestRevoked,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decisions_move_between_the_documented_states() {
        assert_eq!(
            (Decision::Approve.from(), Decision::Approve.to()),
            (ClaimStatus::Pending, ClaimStatus::Approved)
        );
        assert_eq!(
            (Decision::Reject.from(), Decision::Reject.to()),
            (ClaimStatus::Pending, ClaimStatus::Rejected)
        );
        assert_eq!(
            (Decision::Revoke.from(), Decision::Revoke.to()),
            (ClaimStatus::Approved, ClaimStatus::Revoked)
        );
        for status in ClaimStatus::ALL {
            assert_eq!(ClaimStatus::parse(status.as_str()), Some(status));
        }
        assert!(ClaimStatus::Pending.is_live() && ClaimStatus::Approved.is_live());
        assert!(
            !ClaimStatus::Rejected.is_live()
                && !ClaimStatus::Revoked.is_live()
                && !ClaimStatus::Expired.is_live()
        );
    }
}
