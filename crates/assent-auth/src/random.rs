//! Random identifiers and key material from the thread-local CSPRNG (seeded by the OS).

use rand::Rng;

/// `N` random bytes.
pub fn bytes<const N: usize>() -> [u8; N] {
    let mut buf = [0u8; N];
    rand::rng().fill_bytes(&mut buf);
    buf
}

/// `prefix` followed by 24 lowercase hex characters (96 random bits): `key_3f9a…`, `wh_…`.
/// Public identifiers, not secrets: unguessable so that ids do not reveal counts or order.
/// assent's own ids are minted with [`Id::mint`]; this is for other unique strings.
pub fn id(prefix: &str) -> String {
    format!("{prefix}{}", hex::encode(bytes::<12>()))
}

/// Every kind of identifier assent mints, and its form: the one list of prefixes. Resources
/// that the wire contracts promise a UUID for get a random (version 4) UUID.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Id {
    /// An owner's account (a UUID).
    Account,
    /// An operator's admin token (a UUID).
    AdminToken,
    /// A service (a UUID).
    Service,
    /// An ATP notification the service gave no id of its own (a UUID).
    Notification,
    ApiKey,
    UserToken,
    Session,
    Webhook,
    Claim,
    Event,
    Delivery,
    Attempt,
    /// An invite or a password reset.
    OneTimeToken,
    /// A rule of an owner's policy.
    PolicyRule,
    /// A standing grant.
    Grant,
    /// The `X-Request-ID` of a request that brought none.
    Request,
}

impl Id {
    /// The prefix of this kind's ids; `None` for the UUID kinds.
    pub const fn prefix(self) -> Option<&'static str> {
        Some(match self {
            Self::Account | Self::AdminToken | Self::Service | Self::Notification => return None,
            Self::ApiKey => "key_",
            Self::UserToken => "tok_",
            Self::Session => "sid_",
            Self::Webhook => "wh_",
            Self::Claim => "cl_",
            Self::Event => "evt_",
            Self::Delivery => "dlv_",
            Self::Attempt => "att_",
            Self::OneTimeToken => "ott_",
            Self::PolicyRule => "pol_",
            Self::Grant => "gr_",
            Self::Request => "req_",
        })
    }

    /// A new id of this kind.
    pub fn mint(self) -> String {
        match self.prefix() {
            Some(prefix) => id(prefix),
            None => uuid::Builder::from_random_bytes(bytes::<16>())
                .into_uuid()
                .to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_have_the_prefix_and_96_bits() {
        let a = id("key_");
        assert!(a.starts_with("key_"));
        assert_eq!(a.len(), 4 + 24);
        assert!(a[4..].bytes().all(|b| b.is_ascii_hexdigit()));
        assert_ne!(a, id("key_"));
    }

    #[test]
    fn each_kind_mints_its_own_form() {
        let key = Id::ApiKey.mint();
        assert!(key.starts_with("key_") && key.len() == 28, "{key}");
        let account = Id::Account.mint();
        let parsed = uuid::Uuid::parse_str(&account).unwrap_or_default();
        assert_eq!(parsed.get_version_num(), 4, "{account}");
        assert_ne!(account, Id::Account.mint());
        let prefixes: Vec<&str> = [
            Id::ApiKey,
            Id::UserToken,
            Id::Session,
            Id::Webhook,
            Id::Claim,
            Id::Event,
            Id::Delivery,
            Id::Attempt,
            Id::Request,
            Id::PolicyRule,
            Id::Grant,
        ]
        .iter()
        .filter_map(|kind| kind.prefix())
        .collect();
        let mut unique = prefixes.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), prefixes.len(), "{prefixes:?}");
    }
}
