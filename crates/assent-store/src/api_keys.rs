//! Service API keys, stored as SHA-256 hashes with a unique index: authentication is one
//! hash and one indexed lookup.

use assent_auth::TokenHash;
use diesel::prelude::*;

use crate::db::Store;
use crate::error::StoreError;
use crate::schema::{api_keys, services};

/// A key to store: the id, its hash and the non-secret display prefix.
#[derive(Debug, Clone)]
pub struct NewApiKey {
    pub id: String,
    pub name: String,
    pub prefix: String,
    pub hash: TokenHash,
}

/// Who an active API key speaks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKeyOwner {
    pub key_id: String,
    pub service_id: String,
    pub namespace: String,
    pub slug: String,
}

impl Store {
    /// The service behind an active (unrevoked) key, if any.
    pub fn find_api_key(&self, hash: &TokenHash) -> Result<Option<ApiKeyOwner>, StoreError> {
        self.read(|conn| {
            Ok(api_keys::table
                .inner_join(services::table)
                .filter(api_keys::key_hash.eq(hash.as_str()))
                .filter(api_keys::revoked_at.is_null())
                .select((
                    api_keys::id,
                    services::id,
                    services::namespace,
                    services::slug,
                ))
                .first::<(String, String, String, String)>(conn)
                .optional()?
                .map(|(key_id, service_id, namespace, slug)| ApiKeyOwner {
                    key_id,
                    service_id,
                    namespace,
                    slug,
                }))
        })
    }
}

pub(crate) fn insert(
    conn: &mut crate::AnyConnection,
    service_id: &str,
    key: &NewApiKey,
    now: i64,
) -> QueryResult<usize> {
    diesel::insert_into(api_keys::table)
        .values((
            api_keys::id.eq(&key.id),
            api_keys::service_id.eq(service_id),
            api_keys::name.eq(&key.name),
            api_keys::prefix.eq(&key.prefix),
            api_keys::key_hash.eq(key.hash.as_str()),
            api_keys::created_at.eq(now),
        ))
        .execute(conn)
}
