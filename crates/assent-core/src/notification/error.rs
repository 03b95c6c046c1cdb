//! Why a notification body is refused: one variant per ATP error code, each naming the field
//! by its path (`actions[1].options`), and the constructors the checks use to raise them.

use std::fmt;

/// Why a notification body is refused. Each variant is one ATP error code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotificationError {
    /// 400 `MISSING_REQUIRED_FIELD`.
    Missing { field: String },
    /// 400 `INVALID_PARAMETER`: wrong JSON type or unreadable value.
    Invalid { field: String, reason: String },
    /// 400 `INVALID_RESPONSE_TYPE`.
    ResponseType { field: String, value: String },
    /// 400 `MALFORMED_ACTION`: an action definition is incomplete or invalid.
    MalformedAction { field: String, reason: String },
    /// 422 `CONSTRAINT_VIOLATION`: a well-formed value breaks a limit.
    Constraint { field: String, reason: String },
}

impl NotificationError {
    pub fn field(&self) -> &str {
        match self {
            Self::Missing { field }
            | Self::Invalid { field, .. }
            | Self::ResponseType { field, .. }
            | Self::MalformedAction { field, .. }
            | Self::Constraint { field, .. } => field,
        }
    }
}

impl fmt::Display for NotificationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Missing { field } => write!(f, "the field `{field}` is required"),
            Self::Invalid { field, reason }
            | Self::MalformedAction { field, reason }
            | Self::Constraint { field, reason } => write!(f, "the field `{field}` {reason}"),
            Self::ResponseType { field, value } => write!(
                f,
                "the field `{field}` names the unknown response type `{value}`; use one of \
                 simple, binary, choice, multi_choice, text, number"
            ),
        }
    }
}

impl std::error::Error for NotificationError {}

pub(super) fn invalid(field: impl Into<String>, reason: impl Into<String>) -> NotificationError {
    NotificationError::Invalid {
        field: field.into(),
        reason: reason.into(),
    }
}

pub(super) fn malformed(field: impl Into<String>, reason: impl Into<String>) -> NotificationError {
    NotificationError::MalformedAction {
        field: field.into(),
        reason: reason.into(),
    }
}

pub(super) fn constraint(field: impl Into<String>, reason: impl Into<String>) -> NotificationError {
    NotificationError::Constraint {
        field: field.into(),
        reason: reason.into(),
    }
}
