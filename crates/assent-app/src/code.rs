//! Every stable error code assent answers with, in one catalogue: front ends, the application
//! layer and the signature verifier all name codes from here, and a test holds
//! `docs/errors.md` to listing each one.
//!
//! A code is a wire promise: clients branch on it. Add codes here, never rename one.

/// Declares each code as a constant and lists them all in [`ALL`].
macro_rules! codes {
    ($($(#[doc = $doc:literal])* $name:ident,)*) => {
        $($(#[doc = $doc])* pub const $name: &str = stringify!($name);)*
        /// Every code, in the order declared.
        pub const ALL: &[&str] = &[$($name),*];
    };
}

codes! {
    // Who is calling.
    /// A credential is missing, unknown, revoked or expired (ATP dialect; 401).
    AUTH_INVALID_TOKEN,
    /// The Sigilum dialect's name for `AUTH_INVALID_TOKEN` (401).
    UNAUTHORIZED,
    /// A valid credential of another kind than the route wants (403).
    AUTH_INSUFFICIENT_PERMISSIONS,
    /// A caller may not act on this resource (403).
    FORBIDDEN,
    /// A cookie-authenticated write from another origin, or a dashboard form without its token (403).
    CSRF_REJECTED,
    /// Email and password do not match an account (401).
    INVALID_CREDENTIALS,

    // The request itself.
    /// The body is not JSON, or not of the expected shape (400).
    INVALID_JSON,
    /// A parameter has the wrong form (400, ATP dialect).
    INVALID_PARAMETER,
    /// A required field is absent (400, ATP dialect).
    MISSING_REQUIRED_FIELD,
    /// A field is missing or invalid (400, Sigilum dialect, naming the field).
    VALIDATION_ERROR,
    /// The body is larger than the server accepts (413).
    PAYLOAD_TOO_LARGE,
    /// A JSON endpoint's body sent as another media type, such as a form or `text/plain` (415).
    UNSUPPORTED_MEDIA_TYPE,
    /// No such resource, or one of another owner's (404).
    NOT_FOUND,
    /// The route exists, the method does not (405).
    METHOD_NOT_ALLOWED,
    /// Too many requests; `Retry-After` says when to come back (429).
    RATE_LIMIT_EXCEEDED,
    /// A dashboard form for a change that cannot be undone, without its confirmation (400).
    CONFIRMATION_REQUIRED,

    // The server.
    /// A bug or an outage; the cause is logged, never shown (500).
    INTERNAL_ERROR,
    /// The database cannot be reached (503).
    SERVICE_UNAVAILABLE,
    /// The nonce store cannot be reached, so a signed request cannot be checked (503).
    NONCE_STORE_UNAVAILABLE,

    // Accounts.
    /// Sign-up with an email that has an account (409).
    EMAIL_ALREADY_REGISTERED,
    /// Sign-up with a namespace that is taken (409).
    NAMESPACE_ALREADY_REGISTERED,
    /// Sign-up with a namespace the API's own paths use, such as `claims` (400).
    NAMESPACE_RESERVED,
    /// Sign-up is closed, or needs an invite that was not given (403).
    SIGNUP_CLOSED,
    /// A sign-up invite that is unknown, used, expired or for another email (403).
    INVITE_INVALID,
    /// A password change whose current password is wrong (403).
    CURRENT_PASSWORD_INCORRECT,
    /// A password reset token that is unknown, used or expired (400).
    RESET_TOKEN_INVALID,

    // Services, keys and webhooks.
    /// A service with this slug exists in the namespace (409).
    SERVICE_ALREADY_EXISTS,
    /// The namespace has as many services as it may (409).
    SERVICE_LIMIT_REACHED,
    /// The service has as many active keys as it may (409).
    KEY_LIMIT_REACHED,
    /// The namespace, or the service, has as many pending requests as its owner's cap allows;
    /// the new claim was stored rejected with the reason `max_pending_reached` (409).
    PENDING_LIMIT_REACHED,
    /// The service has as many webhooks as it may (409).
    WEBHOOK_LIMIT_REACHED,
    /// An ATP `callback_url` that is not https or not public (400).
    INVALID_CALLBACK_URL,
    /// A webhook url that is not https or not public (400).
    INVALID_WEBHOOK_URL,
    /// An event a webhook cannot subscribe to (400).
    INVALID_EVENT_TYPE,
    /// A test event for a disabled webhook (409).
    WEBHOOK_DISABLED,

    // Owner channels and their links.
    /// The owner has as many channels as they may (409).
    CHANNEL_LIMIT_REACHED,
    /// The owner has a channel of this kind and address already (409).
    CHANNEL_ALREADY_EXISTS,
    /// A test message for a channel not yet verified (409).
    CHANNEL_NOT_VERIFIED,
    /// A verification resent for a channel already verified (409).
    CHANNEL_ALREADY_VERIFIED,
    /// A link token that is unknown, used, expired or for something else (400).
    LINK_INVALID,
    /// A Web Push subscription without its keys, or with keys of the wrong shape (400).
    INVALID_PUSH_SUBSCRIPTION,

    // Claims and signed requests.
    /// A claim's decision that its current state does not allow (409).
    CLAIM_STATE_CONFLICT,
    /// A claim for another service than the signing key's (403).
    SERVICE_MISMATCH,
    /// A claim whose nonce was used before (409).
    NONCE_REPLAY,
    /// No signature headers (401).
    SIGNATURE_MISSING,
    /// A malformed or wrong signature (401).
    SIGNATURE_INVALID,
    /// The signed components are not the profile's (401).
    SIGNATURE_COMPONENTS_INVALID,
    /// The body does not match its `content-digest` (401).
    SIGNATURE_DIGEST_MISMATCH,
    /// `created` is too old (401).
    SIGNATURE_EXPIRED,
    /// `created` is too far ahead (401).
    SIGNATURE_FUTURE,
    /// The agent certificate is malformed, expired or not the key's (401).
    SIGNATURE_CERT_INVALID,
    /// The certificate is of another namespace than the route's (403).
    SIGNATURE_NAMESPACE_MISMATCH,
    /// The signing key is not the one the request names (403).
    SIGNATURE_KEY_MISMATCH,
    /// A validly signed request whose nonce its namespace has used (409).
    SIGNATURE_NONCE_REPLAY,

    // Notifications.
    /// An action's `response_type` is not one ATP defines (400).
    INVALID_RESPONSE_TYPE,
    /// An action lacks what its type needs (400).
    MALFORMED_ACTION,
    /// An action's constraints contradict each other (400).
    CONSTRAINT_VIOLATION,
    /// A status change the API does not offer (400).
    INVALID_STATUS,
    /// A service acting on another service's notification (403).
    SERVICE_NOT_OWNER,
    /// No such notification for this caller (404).
    NOTIFICATION_NOT_FOUND,
    /// A notification id that was used before (409).
    NOTIFICATION_ALREADY_EXISTS,
    /// A second answer to a notification (409).
    NOTIFICATION_ALREADY_RESPONDED,
    /// An answer after the notification expired (410).
    NOTIFICATION_EXPIRED,
    /// An answer to an invalidated notification (410).
    NOTIFICATION_INVALIDATED,
    /// A user acting on a notification of another namespace (403).
    NOTIFICATION_ACCESS_DENIED,
    /// A change its current status does not allow (409).
    NOTIFICATION_STATE_CONFLICT,
    /// An answer naming an action the notification does not have (400).
    INVALID_ACTION_ID,
    /// An answer whose data does not fit its action (400).
    INVALID_RESPONSE_DATA,
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::ALL;

    #[test]
    fn every_code_is_unique_and_screaming_snake() {
        let mut seen = HashSet::new();
        for code in ALL {
            assert!(seen.insert(code), "{code} is declared twice");
            assert!(
                code.bytes().all(|b| b.is_ascii_uppercase() || b == b'_'),
                "{code}"
            );
        }
    }

    #[test]
    fn docs_errors_md_lists_every_code() {
        let doc = include_str!("../../../docs/errors.md");
        let missing: Vec<&str> = ALL
            .iter()
            .copied()
            .filter(|code| !doc.contains(&format!("`{code}`")))
            .collect();
        assert!(
            missing.is_empty(),
            "docs/errors.md does not list {missing:?}"
        );
    }

    #[test]
    fn the_signature_verifier_answers_with_catalogued_codes() {
        for code in assent_auth::rfc9421::SignatureError::CODES {
            assert!(ALL.contains(code), "{code} is not in the catalogue");
        }
    }
}
