//! The domain of assent: the types, validation rules and vocabulary shared by every layer.
//!
//! This crate does no I/O and depends on no I/O crate (no tokio, diesel, reqwest, actix);
//! CI checks that with `cargo tree`. Everything here is a pure function of its inputs, so the
//! rules can be tested alone and reused by every dialect.

pub mod account;
pub mod canonical;
pub mod channel;
pub mod claim;
pub mod delivery;
pub mod event;
pub mod field;
pub mod namespace;
pub mod notification;
pub mod outbound;
pub mod policy;
pub mod service;
pub mod slug;
pub mod time;

pub use account::{Signup, SignupInput, SignupPolicy};
pub use event::{EndpointFormat, EventType, request_subscription};
pub use field::FieldError;
pub use namespace::Namespace;
pub use outbound::{UrlRejection, WebhookUrlPolicy};
pub use service::{
    AtpRegistration, AtpRegistrationInput, NewServiceFields, RegistrationError, Service,
    ServiceInput,
};
pub use slug::Slug;
pub use time::Timestamp;
