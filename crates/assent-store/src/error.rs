use diesel::result::{DatabaseErrorKind, Error as DieselError};

/// Storage failures. Conflicts that callers must turn into a 4xx are separate variants or
/// separate error types of the method (for example [`crate::RegisterError`]); everything here
/// but `NotFound` and `Conflict` is an operational failure.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    #[error("{0} already exists")]
    Conflict(&'static str),
    /// A quota is used up.
    #[error("the limit of {} is reached", .0.as_str())]
    LimitReached(Quota),
    /// A notification would pass one of the owner's pending caps: `limit:max_pending` or
    /// `limit:max_pending_per_service` (claims past a cap are stored rejected instead).
    #[error("the owner's pending cap is reached ({0})")]
    PendingLimit(&'static str),
    // The wrapped errors are part of the message, not `source()`: logs show the message
    // only, and a chain printer would otherwise print them twice.
    #[error("database error: {0}")]
    Database(DieselError),
    #[error("no database connection available: {0}")]
    Pool(r2d2::Error),
    #[error("cannot connect to the database: {0}")]
    Connect(diesel::r2d2::Error),
    #[error("database migration failed: {0}")]
    Migration(String),
    #[error("invalid database URL: {0}")]
    InvalidUrl(String),
    #[error("stored data is invalid: {0}")]
    Corrupt(String),
    /// The operation does not exist for this backend.
    #[error("{0}")]
    Unsupported(&'static str),
}

/// The configurable quotas (`ASSENT_MAX_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Quota {
    /// Services per namespace.
    Services,
    /// Active API keys per service.
    ApiKeys,
    /// Webhooks per service.
    Webhooks,
    /// Channels per owner.
    Channels,
}

impl Quota {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Services => "services",
            Self::ApiKeys => "api keys",
            Self::Webhooks => "webhooks",
            Self::Channels => "channels",
        }
    }
}

pub(crate) fn is_unique_violation(error: &DieselError) -> bool {
    matches!(
        error,
        DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _)
    )
}

/// Maps a unique violation to `Conflict(what)`, everything else to `Database`.
pub(crate) fn conflict_as(what: &'static str) -> impl Fn(DieselError) -> StoreError {
    move |error| {
        if is_unique_violation(&error) {
            StoreError::Conflict(what)
        } else {
            StoreError::Database(error)
        }
    }
}

/// An error a write transaction ends with ([`crate::Store::write`]), which can tell whether a
/// concurrent commit caused it, so that the transaction runs again.
pub trait WriteError: From<StoreError> + From<DieselError> {
    /// The store error it carries, if it carries one.
    fn store_error(&self) -> Option<&StoreError>;
}

impl WriteError for StoreError {
    fn store_error(&self) -> Option<&StoreError> {
        Some(self)
    }
}

impl StoreError {
    /// A PostgreSQL transaction broken by another one that committed while it ran: a row it
    /// read (a channel, a webhook, a message) was deleted before its insert that refers to
    /// the row, or a serialization failure. Run again, the transaction sees the commit and
    /// decides afresh (the row is gone: `NotFound`, or the write goes on without it). Writers
    /// take no global lock on PostgreSQL (see `changes.rs`), so these happen under load;
    /// SQLite's single writer never meets them.
    pub(crate) fn is_concurrent_change(&self) -> bool {
        matches!(
            self,
            Self::Database(DieselError::DatabaseError(
                DatabaseErrorKind::ForeignKeyViolation | DatabaseErrorKind::SerializationFailure,
                _
            ))
        )
    }
}

impl From<DieselError> for StoreError {
    fn from(e: DieselError) -> Self {
        Self::Database(e)
    }
}

impl From<r2d2::Error> for StoreError {
    fn from(e: r2d2::Error) -> Self {
        Self::Pool(e)
    }
}

impl From<diesel::r2d2::Error> for StoreError {
    fn from(e: diesel::r2d2::Error) -> Self {
        Self::Connect(e)
    }
}
