//! Where a notification stands: the ATP lifecycle's states, which of them are pending, which
//! moves between them are allowed, and the `status` filter of the list routes.

use std::fmt;

use serde::Serialize;

/// Where a notification stands (ATP lifecycle). `created`, `delivered` and `acknowledged` are
/// *pending*: they await a response. The rest are final.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NotificationStatus {
    /// Accepted and stored.
    Created,
    /// Reached a client of its user (pushed or fetched).
    Delivered,
    /// The user has seen it.
    Acknowledged,
    /// The user answered.
    Responded,
    /// Reserved by ATP; assent never moves a notification here.
    Completed,
    /// Its deadline passed unanswered.
    Expired,
    /// Its service withdrew it.
    Invalidated,
}

impl NotificationStatus {
    pub const ALL: [Self; 7] = [
        Self::Created,
        Self::Delivered,
        Self::Acknowledged,
        Self::Responded,
        Self::Completed,
        Self::Expired,
        Self::Invalidated,
    ];

    /// The states that await a response (the `pending` filter).
    pub const PENDING: [Self; 3] = [Self::Created, Self::Delivered, Self::Acknowledged];

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Created => "created",
            Self::Delivered => "delivered",
            Self::Acknowledged => "acknowledged",
            Self::Responded => "responded",
            Self::Completed => "completed",
            Self::Expired => "expired",
            Self::Invalidated => "invalidated",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == text)
    }

    pub const fn is_pending(self) -> bool {
        matches!(self, Self::Created | Self::Delivered | Self::Acknowledged)
    }

    /// The states a move to `self` may start from. Forward moves may skip steps
    /// (`created → responded`); expiry and invalidation end only a pending notification.
    pub const fn reachable_from(self) -> &'static [Self] {
        match self {
            Self::Delivered => &[Self::Created],
            Self::Acknowledged => &[Self::Created, Self::Delivered],
            Self::Responded | Self::Expired | Self::Invalidated => &Self::PENDING,
            Self::Created | Self::Completed => &[],
        }
    }
}

impl fmt::Display for NotificationStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Parses a `status` filter: a comma-separated list of states, where `pending` stands for
/// the three pending states. Returns the states (deduplicated) or the first unknown name.
pub fn parse_status_filter(text: &str) -> Result<Vec<NotificationStatus>, String> {
    let mut states = Vec::new();
    for name in text.split(',').map(str::trim) {
        let named = if name == "pending" {
            NotificationStatus::PENDING.to_vec()
        } else {
            vec![NotificationStatus::parse(name).ok_or_else(|| name.to_owned())?]
        };
        for status in named {
            if !states.contains(&status) {
                states.push(status);
            }
        }
    }
    Ok(states)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_filters_expand_pending() {
        use NotificationStatus::*;
        assert_eq!(
            parse_status_filter("pending"),
            Ok(vec![Created, Delivered, Acknowledged])
        );
        assert_eq!(
            parse_status_filter("responded, expired,responded"),
            Ok(vec![Responded, Expired])
        );
        assert_eq!(parse_status_filter("created,nope"), Err("nope".into()));
        assert_eq!(parse_status_filter(""), Err(String::new()));
    }

    #[test]
    fn lifecycle_moves_forward_and_ends_only_pending_notifications() {
        use NotificationStatus::*;
        for status in NotificationStatus::ALL {
            assert_eq!(NotificationStatus::parse(status.as_str()), Some(status));
            assert_eq!(
                serde_json::to_string(&status).unwrap(),
                format!("\"{}\"", status.as_str())
            );
        }
        assert_eq!(Delivered.reachable_from(), [Created]);
        assert_eq!(Acknowledged.reachable_from(), [Created, Delivered]);
        for end in [Responded, Expired, Invalidated] {
            assert_eq!(end.reachable_from(), NotificationStatus::PENDING);
        }
        assert!(Created.reachable_from().is_empty());
        assert!(Completed.reachable_from().is_empty());
        assert!(Created.is_pending() && Acknowledged.is_pending());
        assert!(!Responded.is_pending() && !Expired.is_pending() && !Invalidated.is_pending());
    }
}
