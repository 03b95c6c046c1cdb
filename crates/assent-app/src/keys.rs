//! A service's API keys: minted (the key shown once, its SHA-256 kept), listed, revoked.

use assent_auth::{MintedToken, TokenKind, random};
use assent_store::{Account, ApiKey, NewApiKey};

use crate::accounts::credential_name;
use crate::{App, Error, actor};

/// An API key just minted, with the key itself to show once.
#[derive(Debug, Clone)]
pub struct MintedApiKey {
    pub key: String,
    pub record: ApiKey,
}

/// The active keys of one of the owner's services, newest first (never the keys).
pub async fn list(app: &App, owner: &Account, service_id: String) -> Result<Vec<ApiKey>, Error> {
    let namespace = owner.namespace.clone();
    app.run(move |store| store.list_api_keys(&namespace, &service_id))
        .await
}

/// Mints an API key named `name` (`default` if absent) for one of the owner's services.
/// `VALIDATION_ERROR`, `NOT_FOUND`, `KEY_LIMIT_REACHED`.
pub async fn mint(
    app: &App,
    owner: &Account,
    service_id: String,
    name: Option<String>,
) -> Result<MintedApiKey, Error> {
    let name = credential_name(name)?;
    let minted = MintedToken::new(TokenKind::ApiKey);
    let new = NewApiKey {
        id: random::Id::ApiKey.mint(),
        name,
        prefix: minted.display_prefix(),
        hash: minted.hash.clone(),
    };
    let max = app.settings.quotas.keys_per_service;
    let namespace = owner.namespace.clone();
    let actor = actor(owner);
    let record = app
        .run(move |store| store.create_api_key(&namespace, &service_id, &new, &actor, max))
        .await?;
    Ok(MintedApiKey {
        key: minted.plaintext.expose().to_owned(),
        record,
    })
}

/// Revokes a key of one of the owner's services: it stops working on the next request.
pub async fn revoke(
    app: &App,
    owner: &Account,
    service_id: String,
    key_id: String,
) -> Result<(), Error> {
    let namespace = owner.namespace.clone();
    let actor = actor(owner);
    app.run(move |store| store.revoke_api_key(&namespace, &service_id, &key_id, &actor))
        .await
}
