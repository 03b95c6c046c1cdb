//! Scenarios. A load scenario is what each connection sends: to add one, add a variant to
//! [`Scenario`] and [`Load`] and its arm in [`Load::request`] (and in
//! [`Scenario::needs_admin_token`] if it authenticates). `verify` is a load whose requests are
//! signed, so `crate::verify` makes them rather than [`Load::request`]; `deliveries` and
//! `respond` are not loads of requests; they are run by `crate::deliveries` and
//! `crate::respond`. `notify` is a load whose service `crate::atp` registers first.

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
    /// `POST /api/v1/notifications` with an ATP service's API key, a unique title per request
    /// (one simple and one choice action): validation, a key lookup and one write transaction
    /// (the notification and its change-log entry) per request.
    Notify,
    /// Respond-to-webhook latency: one notification after the other is created and answered
    /// (`POST /api/v1/client/respond`, user token), timed until the signed
    /// `notification.responded` webhook reaches a receiver inside the bench.
    Respond,
    /// MCP: how soon a waiting `request_approval` call returns once the human decides, and
    /// what 500 waiting calls cost (see `crate::mcp`).
    Mcp,
    /// Signed `POST /v1/claims`, a new agent key per request, no owner rules: each request
    /// stores a pending claim (see `crate::claims`).
    Claims,
    /// As `claims`, with 100 owner rules that the claim is matched against, none matching.
    ClaimsRules,
    /// As `claims`, with a rule that approves the service's claims: each is stored approved.
    ClaimsAuto,
    /// `GET /.well-known/did/did:sigilum:<namespace>`, the public DID document of a namespace
    /// with 5 approved agent keys (see `crate::did`).
    Did,
    /// Owner email into an SMTP sink inside the bench: claim-to-mail latency, then a burst of
    /// 1,000 claims and the digest that holds it (see `crate::mail`).
    Mail,
}

/// The scenarios that are a load of requests on N connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Load {
    Health,
    Register,
    Notify,
}

/// Whose bearer token a request carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Auth {
    None,
    /// The admin token.
    Admin,
    /// The API key of the run's ATP service ([`ScenarioContext::service_key`]).
    Service,
}

/// One request, described independently of the HTTP client so it can be unit-tested.
#[derive(Debug, Clone, PartialEq)]
pub struct RequestSpec {
    pub method: Method,
    pub path: &'static str,
    pub body: Option<Value>,
    pub auth: Auth,
}

/// What stays the same across all requests of one run.
#[derive(Debug, Clone)]
pub struct ScenarioContext {
    /// Makes names unique across runs against the same (reused) database.
    pub run_id: String,
    pub namespace: String,
    /// `notify`: the API key of the service registered for the run.
    pub service_key: Option<String>,
}

/// The callback of services that never receive a webhook in the run: nothing is resolved or
/// called at registration time.
pub const PLACEHOLDER_CALLBACK: &str = "https://bench.example.com/hook";
/// The webhook secret of every service the bench registers (16 to 256 characters).
pub const WEBHOOK_SECRET: &str = "bench-webhook-secret-0123456789";

/// The body of an ATP registration (`POST /api/v1/services`) with the bench's webhook secret.
pub fn registration(name: &str, description: &str, callback_url: &str, namespace: &str) -> Value {
    json!({
        "name": name,
        "description": description,
        "callback_url": callback_url,
        "webhook_secret": WEBHOOK_SECRET,
        "namespace": namespace,
    })
}

/// The actions of every notification the bench sends, and the answer `respond` gives.
pub const SIMPLE_ACTION: &str = "approve";
pub const CHOICE_ACTION: &str = "pick";
pub const CHOICE_ANSWER: &str = "b";

impl Scenario {
    pub fn name(self) -> &'static str {
        match self {
            Self::Health => "health",
            Self::Register => "register",
            Self::Deliveries => "deliveries",
            Self::Verify => "verify",
            Self::Notify => "notify",
            Self::Respond => "respond",
            Self::Mcp => "mcp",
            Self::Claims => "claims",
            Self::ClaimsRules => "claims-rules",
            Self::ClaimsAuto => "claims-auto",
            Self::Did => "did",
            Self::Mail => "mail",
        }
    }

    pub fn needs_admin_token(self) -> bool {
        match self {
            // verify authenticates by signature, with keys the scenario makes itself; did
            // sets its namespace up as verify does.
            Self::Health | Self::Deliveries | Self::Verify | Self::Did | Self::Mail => false,
            // claims sign up their own owner, as verify does.
            Self::Claims | Self::ClaimsRules | Self::ClaimsAuto => false,
            // notify and respond register their ATP service.
            Self::Register | Self::Notify | Self::Respond | Self::Mcp => true,
        }
    }

    /// Whether the scenario must start the server itself (it cannot use `--url`): it
    /// configures the server (private webhooks to its receiver) or writes to its database.
    pub fn needs_spawned_server(self) -> bool {
        match self {
            Self::Deliveries | Self::Respond | Self::Mcp | Self::Mail => true,
            Self::Health | Self::Register | Self::Verify | Self::Notify | Self::Did => false,
            Self::Claims | Self::ClaimsRules | Self::ClaimsAuto => false,
        }
    }

    /// Whether the run first measures `GET /health` on the same server and connections, and
    /// reports the scenario against it (`verify` also against L, see `crate::verify::limit_l`):
    /// the targets are ratios to health measured in the same sitting.
    pub fn compares_to_health(self) -> bool {
        matches!(self, Self::Verify | Self::Did)
    }

    /// The owner policy of a claim submission scenario (`crate::claims`), `None` for others.
    pub fn claims_policy(self) -> Option<crate::claims::Policy> {
        match self {
            Self::Claims => Some(crate::claims::Policy::None),
            Self::ClaimsRules => Some(crate::claims::Policy::Rules),
            Self::ClaimsAuto => Some(crate::claims::Policy::AutoApprove),
            _ => None,
        }
    }

    /// The load of described requests this scenario drives, or `None` for `verify` (signed
    /// requests, from `crate::verify`), `did` (a path known after its setup), `deliveries`
    /// and `respond` (not loads).
    pub fn load(self) -> Option<Load> {
        match self {
            Self::Health => Some(Load::Health),
            Self::Register => Some(Load::Register),
            Self::Notify => Some(Load::Notify),
            Self::Deliveries | Self::Verify | Self::Respond | Self::Mcp | Self::Mail => None,
            Self::Claims | Self::ClaimsRules | Self::ClaimsAuto | Self::Did => None,
        }
    }

    /// How long `--duration` is when not given (`respond` does not use it).
    pub fn default_duration(self) -> Duration {
        match self {
            Self::Health
            | Self::Register
            | Self::Verify
            | Self::Notify
            | Self::Respond
            | Self::Mcp
            | Self::Did => Duration::from_secs(10),
            Self::Claims | Self::ClaimsRules | Self::ClaimsAuto => Duration::from_secs(10),
            Self::Deliveries => Duration::from_secs(60),
            // The burst's first mail, its digest a throttle period (60 s) later, and slack.
            Self::Mail => Duration::from_secs(70),
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
                auth: Auth::None,
            },
            Self::Register => RequestSpec {
                method: Method::POST,
                path: "/api/v1/services",
                // The same name twice is a 409, so every request gets its own.
                body: Some(registration(
                    &format!("bench-{}-{connection}-{sequence}", ctx.run_id),
                    "assent-bench registration load",
                    PLACEHOLDER_CALLBACK,
                    &ctx.namespace,
                )),
                auth: Auth::Admin,
            },
            Self::Notify => RequestSpec {
                method: Method::POST,
                path: "/api/v1/notifications",
                body: Some(notification(&format!(
                    "bench {} {connection}-{sequence}",
                    ctx.run_id
                ))),
                auth: Auth::Service,
            },
        }
    }
}

/// A small valid ATP notification titled `title` (at most 200 characters): one simple and one
/// choice action, no deadline; the server picks its id.
pub fn notification(title: &str) -> Value {
    json!({
        "context": {
            "title": title,
            "description": "assent-bench notification load",
        },
        "actions": [
            {"id": SIMPLE_ACTION, "label": "Approve", "response_type": "simple"},
            {
                "id": CHOICE_ACTION,
                "label": "Strategy",
                "response_type": "choice",
                "options": [
                    {"value": "a", "label": "Rebase"},
                    {"value": CHOICE_ANSWER, "label": "Squash"},
                ],
            },
        ],
    })
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    fn ctx() -> ScenarioContext {
        ScenarioContext {
            run_id: "18f3a2b4c5d".to_owned(),
            namespace: "bench".to_owned(),
            service_key: Some("sk_live_bench".to_owned()),
        }
    }

    fn name_of(spec: &RequestSpec) -> String {
        spec.body
            .as_ref()
            .and_then(|b| b["name"].as_str())
            .map(str::to_owned)
            .expect("register bodies have a name")
    }

    fn title_of(spec: &RequestSpec) -> String {
        spec.body
            .as_ref()
            .and_then(|b| b.pointer("/context/title"))
            .and_then(Value::as_str)
            .map(str::to_owned)
            .expect("notifications have a title")
    }

    #[test]
    fn verify_deliveries_and_respond_are_not_described_loads() {
        assert_eq!(Scenario::Health.load(), Some(Load::Health));
        assert_eq!(Scenario::Register.load(), Some(Load::Register));
        assert_eq!(Scenario::Notify.load(), Some(Load::Notify));
        assert_eq!(Scenario::Deliveries.load(), None);
        assert_eq!(Scenario::Verify.load(), None);
        assert_eq!(Scenario::Respond.load(), None);
        assert!(!Scenario::Deliveries.needs_admin_token());
        assert!(!Scenario::Verify.needs_admin_token());
        assert!(Scenario::Notify.needs_admin_token());
        assert!(Scenario::Respond.needs_admin_token());
        assert!(Scenario::Respond.needs_spawned_server());
        assert!(!Scenario::Notify.needs_spawned_server());
        assert_eq!(Scenario::Verify.name(), "verify");
        assert_eq!(Scenario::Notify.name(), "notify");
        assert_eq!(Scenario::Respond.name(), "respond");
        assert_eq!(Scenario::Verify.default_duration(), Duration::from_secs(10));
        assert_eq!(Scenario::Did.load(), None);
        assert!(Scenario::Did.compares_to_health() && Scenario::Verify.compares_to_health());
        assert!(!Scenario::Health.compares_to_health());
        assert_eq!(Scenario::Notify.default_duration(), Duration::from_secs(10));
    }

    #[test]
    fn health_is_an_unauthenticated_get() {
        let spec = Load::Health.request(&ctx(), 3, 7);
        assert_eq!(spec.method, Method::GET);
        assert_eq!(spec.path, "/health");
        assert!(spec.body.is_none());
        assert_eq!(spec.auth, Auth::None);
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
        assert_eq!(spec.auth, Auth::Admin);
        assert_eq!(
            spec.body.as_ref().map(|b| b["namespace"].clone()),
            Some(json!("bench"))
        );
    }

    #[test]
    fn notify_posts_a_notification_with_the_service_key() {
        let spec = Load::Notify.request(&ctx(), 2, 5);
        assert_eq!(spec.method, Method::POST);
        assert_eq!(spec.path, "/api/v1/notifications");
        assert_eq!(spec.auth, Auth::Service);
        let body = spec.body.expect("a body");
        // No id: the server generates one, so requests never collide on it.
        assert!(body.get("id").is_none());
        assert!(body["context"]["description"].is_string());
        let actions = body["actions"].as_array().expect("an array of actions");
        let types: Vec<_> = actions
            .iter()
            .map(|a| (a["id"].as_str(), a["response_type"].as_str()))
            .collect();
        assert_eq!(
            types,
            [
                (Some(SIMPLE_ACTION), Some("simple")),
                (Some(CHOICE_ACTION), Some("choice"))
            ]
        );
        // `respond` answers with an option the choice action offers.
        let values: Vec<_> = actions[1]["options"]
            .as_array()
            .expect("options")
            .iter()
            .map(|o| o["value"].as_str())
            .collect();
        assert!(values.contains(&Some(CHOICE_ANSWER)), "{values:?}");
    }

    #[test]
    fn notify_titles_are_unique_and_short_enough() {
        let mut seen = HashSet::new();
        for connection in [0, 1, 10, 11] {
            for sequence in [0, 1, 10, 11, 111] {
                let title = title_of(&Load::Notify.request(&ctx(), connection, sequence));
                assert!(seen.insert(title.clone()), "duplicate {title}");
            }
        }
        // The server refuses titles over 200 characters.
        let longest = title_of(&Load::Notify.request(&ctx(), 9_999, u64::MAX));
        assert!(longest.chars().count() <= 200, "{longest}");
    }
}
