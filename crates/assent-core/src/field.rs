//! A problem with one named field of a request: the shape every validation error takes, so each
//! dialect can render it with `details.field`.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FieldError {
    /// The field is absent, `null`, or blank where a value is required.
    Missing { field: &'static str },
    /// The field is present but breaks a rule; `reason` says which, for a human.
    Invalid { field: &'static str, reason: String },
}

impl FieldError {
    pub fn invalid(field: &'static str, reason: impl Into<String>) -> Self {
        Self::Invalid {
            field,
            reason: reason.into(),
        }
    }

    pub fn field(&self) -> &'static str {
        match self {
            Self::Missing { field } | Self::Invalid { field, .. } => field,
        }
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Missing { field } => write!(f, "the field `{field}` is required"),
            Self::Invalid { field, reason } => write!(f, "the field `{field}` {reason}"),
        }
    }
}

impl std::error::Error for FieldError {}

/// A required string field: present, not blank. Returns it trimmed.
pub fn required(field: &'static str, value: Option<&str>) -> Result<String, FieldError> {
    match value.map(str::trim) {
        Some(v) if !v.is_empty() => Ok(v.to_owned()),
        _ => Err(FieldError::Missing { field }),
    }
}

/// An optional string field: a blank value counts as absent. Returns it trimmed.
pub fn optional(value: Option<&str>) -> Option<String> {
    value
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
}

/// Rejects a value longer than `max` characters (not bytes: names may be any script).
pub fn max_chars(field: &'static str, value: &str, max: usize) -> Result<(), FieldError> {
    if value.chars().count() > max {
        return Err(FieldError::invalid(
            field,
            format!("must be at most {max} characters"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blank_required_values_are_missing() {
        assert_eq!(
            required("name", Some("   ")),
            Err(FieldError::Missing { field: "name" })
        );
        assert_eq!(
            required("name", None),
            Err(FieldError::Missing { field: "name" })
        );
        assert_eq!(required("name", Some(" a ")), Ok("a".to_owned()));
    }

    #[test]
    fn counts_characters_not_bytes() {
        assert!(max_chars("name", "ééé", 3).is_ok());
        assert!(max_chars("name", "éééé", 3).is_err());
    }
}
