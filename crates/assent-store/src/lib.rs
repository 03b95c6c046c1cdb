//! Storage for assent: one diesel schema over SQLite (embedded default) and PostgreSQL (for
//! many replicas), chosen at run time by the database URL.
//!
//! [`Store`] owns an r2d2 pool and exposes repository methods grouped by table. Every method
//! is blocking: call it from a blocking thread (`web::block`, `spawn_blocking`), never from an
//! async worker. Writes that belong together run in one transaction ([`Store::write`]).

mod accounts;
mod admin_tokens;
mod api_keys;
mod audit;
mod changes;
mod channels;
mod checkpoint;
mod claims;
mod copy;
mod db;
mod deliveries;
mod error;
mod limits;
mod listener;
mod nonces;
mod notifications;
mod one_time_tokens;
mod operations;
pub mod outbox;
mod policies;
mod prepared;
mod schema;
#[cfg(all(test, feature = "testing"))]
mod schema_check;
mod services;
mod sessions;
#[cfg(feature = "testing")]
pub mod testing;
mod user_tokens;
mod webhooks;

pub use accounts::{Account, NewAccount};
pub use admin_tokens::AdminToken;
pub use api_keys::{ApiKey, ApiKeyOwner, NewApiKey};
pub use audit::{Actor, AuditRecord, with_client_addr};
pub use changes::{Change, ChangeKind};
pub use channels::{
    CHANNELS_PER_ACCOUNT, Channel, ChannelChange, DecisionLink, ItemKind, LeasedMessage,
    MessageOutcome, MessageRecord, NewChannel, NewLink,
};
pub use claims::{ClaimQuestion, DecideError, DidSubjects, NewClaim, Screening, Submitted};
pub use copy::{CopyError, CopyOptions, CopyProgress, CopyReport, TableReport};
pub use db::{AnyConnection, Backend, DatabaseUrl, PoolOptions, Store};
pub use deliveries::{AttemptRecord, DeliveryRecord, LeasedDelivery, Settled, WebhookChanges};
pub use error::{Quota, StoreError, WriteError};
pub use listener::Listener;
pub use nonces::NoncesFound;
pub use notifications::{
    Answer, NotificationQuery, NotificationScreening, Party, Response, ScreenedNotification,
    TransitionError,
};
pub use one_time_tokens::OneTimePurpose;
pub use operations::{Gauges, PoolStats, Pruned, Retention};
pub use outbox::{Emitted, NewEvent, Outbox};
pub use policies::{PendingCaps, Policy, StoredRule};
pub use services::{NewService, RegisterError, ServiceChanges};
pub use sessions::{Session, SessionInfo, SessionOrigin};
pub use user_tokens::{NewUserToken, UserToken};
pub use webhooks::{NewWebhookEndpoint, PublishedKey, SealedSigningKey, WebhookEndpoint};
