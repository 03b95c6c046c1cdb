//! The webhook delivery engine: leases due deliveries from the outbox, signs them, sends them
//! through an SSRF-safe client, records every attempt and schedules retries.

pub mod client;
pub mod engine;
pub mod messages;

pub use engine::{AttemptCounter, Engine, EngineConfig};
pub use messages::{Messenger, MessengerConfig, WebPushConfig};
