//! The one error type of the application layer. It says what went wrong in terms every front
//! end understands (a [`Kind`], a stable [`code`](crate::code) and a sentence for humans) and
//! nothing of HTTP: the JSON API turns the kind into a status, the dashboard into a page, an
//! embedding program into whatever it likes.
//!
//! Policy: bad input is a refusal with a code and nothing changed; `Internal` means a bug or
//! an outage, carries its cause for the log, and shows the caller nothing of it.

use std::fmt;
use std::time::Duration;

use assent_core::FieldError;
use assent_store::{Quota, StoreError};

use crate::code;

/// What kind of failure an operation met; each front end maps it once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// The input is wrong (a field, a value, a cursor).
    Invalid,
    /// The caller could not be identified (no credential, a wrong password).
    Unauthenticated,
    /// The caller is known but may not do this.
    Forbidden,
    /// No such resource, or one the caller may not see (the two look alike on purpose).
    NotFound,
    /// The resource's current state does not allow this (a taken name, a used-up quota).
    Conflict,
    /// The input is well formed but breaks a rule of what it answers (a value outside an
    /// action's constraints).
    Unprocessable,
    /// Too many attempts; try again after `retry_after`.
    TooManyRequests,
    /// A bug or an outage; the cause is logged, not shown.
    Internal,
}

/// An operation's failure.
#[derive(Debug, Clone)]
pub struct Error {
    kind: Kind,
    code: &'static str,
    message: String,
    /// Facts for a program to read, such as the input `field` at fault or the current
    /// `status`, in the order added.
    details: Vec<(&'static str, String)>,
    retry_after: Option<Duration>,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn new(kind: Kind, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            kind,
            code,
            message: message.into(),
            details: Vec::new(),
            retry_after: None,
        }
    }

    /// Bad input with its own code (`INVALID_WEBHOOK_URL`, …).
    pub fn invalid(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(Kind::Invalid, code, message)
    }

    /// A field problem: `VALIDATION_ERROR` naming the field.
    pub fn validation(e: &FieldError) -> Self {
        Self::invalid(code::VALIDATION_ERROR, sentence(&e.to_string())).for_field(e.field())
    }

    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(Kind::Conflict, code, message)
    }

    pub fn not_found() -> Self {
        Self::new(Kind::NotFound, code::NOT_FOUND, "No such resource.")
    }

    /// A failure that is not the caller's fault. The cause is logged here, once, and kept out
    /// of the message.
    pub fn internal(cause: &dyn fmt::Display) -> Self {
        tracing::error!(error = %cause, "internal error");
        Self::new(
            Kind::Internal,
            code::INTERNAL_ERROR,
            "An internal error occurred; it has been logged.",
        )
    }

    /// A quota is used up: `SERVICE_LIMIT_REACHED`, `KEY_LIMIT_REACHED`, `WEBHOOK_LIMIT_REACHED`.
    pub fn limit_reached(quota: Quota) -> Self {
        let code = match quota {
            Quota::Services => code::SERVICE_LIMIT_REACHED,
            Quota::ApiKeys => code::KEY_LIMIT_REACHED,
            Quota::Webhooks => code::WEBHOOK_LIMIT_REACHED,
            Quota::Channels => code::CHANNEL_LIMIT_REACHED,
        };
        Self::conflict(
            code,
            format!(
                "The limit of {} is reached; delete or revoke one first.",
                quota.as_str()
            ),
        )
    }

    /// Names the input field at fault.
    pub fn for_field(self, field: &'static str) -> Self {
        self.with_detail("field", field)
    }

    /// Adds one fact for programs (`status`, `notification_id`, …).
    pub fn with_detail(mut self, key: &'static str, value: impl Into<String>) -> Self {
        self.details.push((key, value.into()));
        self
    }

    pub fn with_retry_after(mut self, wait: Duration) -> Self {
        self.retry_after = Some(wait);
        self
    }

    pub fn kind(&self) -> Kind {
        self.kind
    }

    pub fn code(&self) -> &'static str {
        self.code
    }

    /// A sentence for humans, safe to show.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The input field at fault, if the error names one.
    pub fn field(&self) -> Option<&str> {
        self.detail("field")
    }

    pub fn detail(&self, key: &str) -> Option<&str> {
        self.details
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| v.as_str())
    }

    pub fn details(&self) -> &[(&'static str, String)] {
        &self.details
    }

    pub fn retry_after(&self) -> Option<Duration> {
        self.retry_after
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for Error {}

impl From<FieldError> for Error {
    fn from(e: FieldError) -> Self {
        Self::validation(&e)
    }
}

/// Storage errors an operation did not turn into something more specific: a missing row is
/// `NotFound`, a used-up quota its own conflict, anything else internal.
impl From<StoreError> for Error {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => Self::not_found(),
            StoreError::LimitReached(quota) => Self::limit_reached(quota),
            other => Self::internal(&other),
        }
    }
}

/// `the field x is required` → `The field x is required.`
pub fn sentence(text: &str) -> String {
    let mut chars = text.chars();
    let capitalised: String = chars
        .next()
        .map(|first| first.to_uppercase().chain(chars).collect())
        .unwrap_or_default();
    format!("{capitalised}.")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_field_error_names_its_field_in_a_sentence() {
        let e = Error::from(FieldError::Missing { field: "name" });
        assert_eq!(e.kind(), Kind::Invalid);
        assert_eq!(e.code(), code::VALIDATION_ERROR);
        assert_eq!(e.field(), Some("name"));
        assert!(e.message().ends_with('.'), "{}", e.message());
        assert!(
            e.message().starts_with(char::is_uppercase),
            "{}",
            e.message()
        );
    }

    #[test]
    fn store_errors_map_to_kinds() {
        assert_eq!(Error::from(StoreError::NotFound).kind(), Kind::NotFound);
        let quota = Error::from(StoreError::LimitReached(Quota::ApiKeys));
        assert_eq!(
            (quota.kind(), quota.code()),
            (Kind::Conflict, code::KEY_LIMIT_REACHED)
        );
        let internal = Error::from(StoreError::Corrupt("a secret detail".into()));
        assert_eq!(internal.kind(), Kind::Internal);
        assert!(!internal.message().contains("secret"));
    }
}
