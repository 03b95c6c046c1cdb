//! Scenarios. A load scenario is what each connection sends: to add one, add a variant to
//! [`Scenario`] and [`Load`] and its arm in [`Load::request`] (and in
//! [`Scenario::needs_admin_token`] if it authenticates). `verify` is a load whose requests are
//! signed, so `crate::verify` makes them rather than [`Load::request`]; `deliveries` is not a
//! load of requests; it is run by `crate::deliveries`.

use std::time::Duration;

use clap::ValueEnum;
use reqwest::Method;
use serde_json::{Value, json};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Scenario {
    /// `GET /health`: no database, the framework's ceiling.
    Health,
    /// `POST /api/v1/services` with a unique name per request: a write per request.
    Register,
    /// Webhook delivery: events enqueued in bulk, then test events at low load, into a
    /// receiver inside the bench.
    Deliveries,
    /// `GET /v1/verify` for an approved agent key, each request signed (sigilum-rfc9421-v1)
    /// with its own nonce: two Ed25519 verifications, a nonce write transaction and a read (two
    /// indexed lookups) per request.
    Verify,
}

/// The scenarios that are a load of requests on N connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Load {
    Health,
    Register,
}

/// One request, described independently of the HTTP client so it can be unit-tested.
#[derive(Debug, Clone, PartialEq)]
pub struct RequestSpec {
    pub method: Method,
    pub path: &'static str,
    pub body: Option<Value>,
    /// Send `Authorization: Bearer <admin token>`.
    pub admin_auth: bool,
}

/// What stays the same across all requests of one run.
#[derive(Debug, Clone)]
pub struct ScenarioContext {
    /// Makes names unique across runs against the same (reused) database.
    pub run_id: String,
    pub namespace: String,
}

impl Scenario {
    pub fn name(self) -> &'static str {
        match self {
            Self::Health => "health",
            Self::Register => "register",
            Self::Deliveries => "deliveries",
            Self::Verify => "verify",
        }
    }

    pub fn needs_admin_token(self) -> bool {
        match self {
            // verify authenticates by signature, with keys the scenario makes itself.
            Self::Health | Self::Deliveries | Self::Verify => false,
            Self::Register => true,
        }
    }

    /// The load of described requests this scenario drives, or `None` for `verify` (signed
    /// requests, from `crate::verify`) and `deliveries` (not a load).
    pub fn load(self) -> Option<Load> {
        match self {
            Self::Health => Some(Load::Health),
            Self::Register => Some(Load::Register),
            Self::Deliveries | Self::Verify => None,
        }
    }

    /// How long `--duration` is when not given.
    pub fn default_duration(self) -> Duration {
        match self {
            Self::Health | Self::Register | Self::Verify => Duration::from_secs(10),
            Self::Deliveries => Duration::from_secs(60),
        }
    }
}

impl Load {
    /// The request that connection `connection` sends as its `sequence`-th.
    pub fn request(self, ctx: &ScenarioContext, connection: u32, sequence: u64) -> RequestSpec {
        match self {
            Self::Health => RequestSpec {
                method: Method::GET,
                path: "/health",
                body: None,
                admin_auth: false,
            },
            Self::Register => RequestSpec {
                method: Method::POST,
                path: "/api/v1/services",
                body: Some(json!({
                    // The same name twice is a 409, so every request gets its own.
                    "name": format!("bench-{}-{connection}-{sequence}", ctx.run_id),
                    "description": "assent-bench registration load",
                    // Nothing is resolved or called at registration time.
                    "callback_url": "https://bench.example.com/hook",
                    "webhook_secret": "bench-webhook-secret-0123456789",
                    "namespace": ctx.namespace,
                })),
                admin_auth: true,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    fn ctx() -> ScenarioContext {
        ScenarioContext {
            run_id: "18f3a2b4c5d".to_owned(),
            namespace: "bench".to_owned(),
        }
    }

    fn name_of(spec: &RequestSpec) -> String {
        spec.body
            .as_ref()
            .and_then(|b| b["name"].as_str())
            .map(str::to_owned)
            .expect("register bodies have a name")
    }

    #[test]
    fn verify_and_deliveries_are_not_described_loads() {
        assert_eq!(Scenario::Health.load(), Some(Load::Health));
        assert_eq!(Scenario::Register.load(), Some(Load::Register));
        assert_eq!(Scenario::Deliveries.load(), None);
        assert_eq!(Scenario::Verify.load(), None);
        assert!(!Scenario::Deliveries.needs_admin_token());
        assert!(!Scenario::Verify.needs_admin_token());
        assert_eq!(Scenario::Verify.name(), "verify");
        assert_eq!(Scenario::Verify.default_duration(), Duration::from_secs(10));
    }

    #[test]
    fn health_is_an_unauthenticated_get() {
        let spec = Load::Health.request(&ctx(), 3, 7);
        assert_eq!(spec.method, Method::GET);
        assert_eq!(spec.path, "/health");
        assert!(spec.body.is_none() && !spec.admin_auth);
    }

    #[test]
    fn register_names_are_unique_and_slug_shaped() {
        let mut seen = HashSet::new();
        for connection in [0, 1, 10, 11] {
            for sequence in [0, 1, 10, 11, 111] {
                let name = name_of(&Load::Register.request(&ctx(), connection, sequence));
                assert!(seen.insert(name.clone()), "duplicate {name}");
            }
        }
        // The server derives a slug (at most 64 chars of a-z, 0-9, -) from the name.
        let longest = name_of(&Load::Register.request(&ctx(), 9_999, u64::MAX));
        assert!(longest.len() <= 64, "{longest}");
        assert!(
            longest
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        );
    }

    #[test]
    fn register_uses_the_namespace_and_admin_auth() {
        let spec = Load::Register.request(&ctx(), 0, 0);
        assert!(spec.admin_auth);
        assert_eq!(
            spec.body.as_ref().map(|b| b["namespace"].clone()),
            Some(json!("bench"))
        );
    }
}
