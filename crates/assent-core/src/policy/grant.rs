//! Standing grants: an owner's "yes" to one action of one service, given from a decision and
//! reused for later requests, bound to the exact arguments (their RFC 8785 digest) or to a
//! pattern the owner wrote. Whether a grant is still usable (revoked, expired, used once) is
//! decided here too, so the store only has to apply it atomically.

use serde_json::{Map, Value};

use super::PolicyError;
use crate::Timestamp;
use crate::canonical::digest;

/// How long a grant lasts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GrantUse {
    /// Approve once: the first matching request uses it up.
    Once,
    /// Until its `expires_at`.
    Timed,
    /// Until revoked.
    Always,
}

impl GrantUse {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Once => "once",
            Self::Timed => "timed",
            Self::Always => "always",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "once" => Some(Self::Once),
            "timed" => Some(Self::Timed),
            "always" => Some(Self::Always),
            _ => None,
        }
    }
}

/// What a grant is bound to, beyond its service and action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Binding {
    /// `sha256:<hex>` of the canonical JSON of the arguments: these arguments only.
    Digest(String),
    /// Every key of the pattern is in the arguments with an equal value (a string ending in
    /// `*` matches any string that starts with what precedes it).
    Pattern(Map<String, Value>),
}

/// A standing grant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    /// `gr_` + hex.
    pub id: String,
    pub namespace: String,
    pub service_id: String,
    pub service_slug: String,
    /// The action (its id) the grant answers with.
    pub action: String,
    pub binding: Binding,
    pub uses: GrantUse,
    pub expires_at: Option<Timestamp>,
    /// When a single-use grant was used.
    pub used_at: Option<Timestamp>,
    pub revoked_at: Option<Timestamp>,
    /// The request it was granted from.
    pub source_id: Option<String>,
    /// How many requests it answered.
    pub matched: i64,
    pub created_at: Timestamp,
}

impl Grant {
    /// Whether the grant can still answer a request at `now`.
    pub fn is_live(&self, now: Timestamp) -> bool {
        self.revoked_at.is_none()
            && self.used_at.is_none()
            && self.expires_at.is_none_or(|at| now < at)
    }

    /// Whether the grant answers a request of `service_id` for `action` with `arguments` at
    /// `now`.
    pub fn covers(
        &self,
        service_id: &str,
        action: &str,
        arguments: &Value,
        now: Timestamp,
    ) -> bool {
        self.is_live(now)
            && self.service_id == service_id
            && self.action == action
            && match &self.binding {
                Binding::Digest(d) => *d == digest(arguments),
                Binding::Pattern(p) => pattern_matches(p, arguments),
            }
    }

    /// Where it stands: `active`, `used`, `expired` or `revoked`.
    pub fn state(&self, now: Timestamp) -> &'static str {
        if self.revoked_at.is_some() {
            "revoked"
        } else if self.used_at.is_some() {
            "used"
        } else if self.expires_at.is_some_and(|at| now >= at) {
            "expired"
        } else {
            "active"
        }
    }
}

/// Whether `arguments` (an object) holds every key of `pattern` with a matching value.
pub fn pattern_matches(pattern: &Map<String, Value>, arguments: &Value) -> bool {
    let Value::Object(arguments) = arguments else {
        return false;
    };
    pattern.iter().all(|(key, want)| {
        arguments.get(key).is_some_and(|got| match (want, got) {
            (Value::String(w), Value::String(g)) => match w.strip_suffix('*') {
                Some(prefix) => g.starts_with(prefix),
                None => w == g,
            },
            _ => want == got,
        })
    })
}

/// Checks a pattern an owner wrote: a non-empty object of at most 50 keys. An empty pattern
/// would match any arguments, which is what "always for this action" without arguments is for,
/// so it is refused here to keep the two apart.
pub fn parse_pattern(field: &str, value: &Value) -> Result<Map<String, Value>, PolicyError> {
    match value {
        Value::Object(p) if p.is_empty() => Err(PolicyError::new(
            field,
            "must name at least one argument (an empty pattern matches anything)",
        )),
        Value::Object(p) if p.len() > 50 => {
            Err(PolicyError::new(field, "may name at most 50 arguments"))
        }
        Value::Object(p) => Ok(p.clone()),
        _ => Err(PolicyError::new(
            field,
            "must be an object of argument names and values",
        )),
    }
}
