//! Who is calling: the bearer credentials every front end accepts, each checked by a SHA-256
//! of the presented token and an indexed lookup (never a password hash).
//!
//! A credential of the wrong kind (a service API key where an admin token is wanted) is
//! `Forbidden` with `AUTH_INSUFFICIENT_PERMISSIONS`, so that a caller who mixed up their
//! tokens learns exactly that; anything else is `Unauthenticated` with `AUTH_INVALID_TOKEN`.
//! Only failures pay for the extra lookups that tell the two apart.

use assent_auth::TokenHash;
use assent_core::Timestamp;
use assent_store::{Account, AdminToken, ApiKeyOwner, Session, Store, StoreError};

use crate::{App, Error, Kind, code};

/// How stale `last_used_at` may get before a request refreshes it: one write a minute per
/// key at most, instead of one per request.
const LAST_USED_GRANULARITY_MS: i64 = 60_000;

/// The bearer credentials that may stand for each other by mistake.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Credential {
    AdminToken,
    ApiKey,
    /// A user token or an owner's session token: a human's credential.
    Human,
}

/// A credential refused: `AUTH_INVALID_TOKEN`.
pub fn unauthenticated(message: impl Into<String>) -> Error {
    Error::new(Kind::Unauthenticated, code::AUTH_INVALID_TOKEN, message)
}

fn insufficient(message: &str) -> Error {
    Error::new(
        Kind::Forbidden,
        code::AUTH_INSUFFICIENT_PERMISSIONS,
        message,
    )
}

/// The active admin token `hash` is the hash of.
pub async fn admin(app: &App, hash: TokenHash) -> Result<AdminToken, Error> {
    app.run(move |store| match store.find_admin_token(&hash)? {
        Some(token) => Ok(token),
        None => Err(refusal(store, &hash, Credential::AdminToken)?),
    })
    .await
}

/// The service whose active API key `hash` is the hash of; refreshes the key's
/// `last_used_at` when it is more than a minute old.
pub async fn service(app: &App, hash: TokenHash) -> Result<ApiKeyOwner, Error> {
    app.run(move |store| {
        let Some(owner) = store.find_api_key(&hash)? else {
            return Err(refusal(store, &hash, Credential::ApiKey)?);
        };
        let now = Timestamp::now();
        if is_stale(owner.last_used_at, now) {
            store.touch_api_key(&owner.key_id, now)?;
        }
        Ok(owner)
    })
    .await
}

/// The live session `hash` is the hash of, or `None`; refreshes its `last_seen_at` when it
/// is more than a minute old.
pub async fn session(app: &App, hash: TokenHash) -> Result<Option<Session>, Error> {
    app.run(move |store| {
        let session = store.find_session(&hash)?;
        if let Some(session) = &session {
            touch_session(store, session)?;
        }
        Ok::<_, StoreError>(session)
    })
    .await
}

fn touch_session(store: &Store, session: &Session) -> Result<(), StoreError> {
    let now = Timestamp::now();
    if is_stale(session.last_seen_at, now) {
        store.touch_session(&session.id, now)?;
    }
    Ok(())
}

/// Whether a last-use time is unset or older than [`LAST_USED_GRANULARITY_MS`] at `now`.
fn is_stale(last: Option<Timestamp>, now: Timestamp) -> bool {
    last.is_none_or(|at| now.as_millis() - at.as_millis() >= LAST_USED_GRANULARITY_MS)
}

/// The owner behind a human's credential: a user token, else a session token.
pub async fn human(app: &App, hash: TokenHash) -> Result<Account, Error> {
    app.run(move |store| {
        if let Some(account) = store.find_user_token(&hash)? {
            return Ok(account);
        }
        if let Some(session) = store.find_session(&hash)? {
            touch_session(store, &session)?;
            return Ok(session.account);
        }
        Err(refusal(store, &hash, Credential::Human)?)
    })
    .await
}

/// Why a bearer token that is not the `wanted` credential is refused.
fn refusal(store: &Store, hash: &TokenHash, wanted: Credential) -> Result<Error, StoreError> {
    let is_admin = || store.find_admin_token(hash).map(|t| t.is_some());
    let is_key = || store.find_api_key(hash).map(|k| k.is_some());
    let is_human = || -> Result<bool, StoreError> {
        Ok(store.find_user_token(hash)?.is_some() || store.find_session(hash)?.is_some())
    };
    Ok(match wanted {
        Credential::AdminToken if is_key()? || is_human()? => {
            insufficient("This credential is not an admin token.")
        }
        Credential::AdminToken => unauthenticated("The admin token is invalid or revoked."),
        Credential::ApiKey if is_admin()? || is_human()? => {
            insufficient("This credential is not a service API key.")
        }
        Credential::ApiKey => unauthenticated("The API key is invalid or revoked."),
        Credential::Human if is_admin()? || is_key()? => {
            insufficient("This credential is not a user token.")
        }
        Credential::Human => unauthenticated("The user token is invalid, revoked or expired."),
    })
}
