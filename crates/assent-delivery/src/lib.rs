//! The webhook delivery engine: leases due deliveries from the outbox, signs them, sends them
//! through an SSRF-safe client, records every attempt and schedules retries.

pub mod client;
pub mod engine;

pub use engine::{Engine, EngineConfig};
pub mod messages;

pub use messages::{Messenger, MessengerConfig};
