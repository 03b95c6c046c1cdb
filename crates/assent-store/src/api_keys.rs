//! Service API keys, stored as SHA-256 hashes with a unique index: authentication is one
//! hash and one indexed lookup.

use assent_auth::TokenHash;
use assent_core::Timestamp;
use diesel::prelude::*;
use serde_json::json;

use crate::audit::{self, Actor, AuditEntry};
use crate::db::Store;
use crate::error::{Quota, StoreError, conflict_as};
use crate::schema::{api_keys, services};
use crate::services::owned;

/// A key to store: the id, its hash and the non-secret display prefix.
#[derive(Debug, Clone)]
pub struct NewApiKey {
    pub id: String,
    pub name: String,
    pub prefix: String,
    pub hash: TokenHash,
}

/// A key as listed: never the key itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKey {
    pub id: String,
    pub name: String,
    pub prefix: String,
    pub created_at: Timestamp,
    pub last_used_at: Option<Timestamp>,
}

/// Who an active API key speaks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKeyOwner {
    pub key_id: String,
    pub service_id: String,
    pub namespace: String,
    pub slug: String,
    pub service_name: String,
    pub service_icon: Option<String>,
    pub last_used_at: Option<Timestamp>,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = api_keys)]
struct OwnerRow {
    #[diesel(select_expression = api_keys::id)]
    key_id: String,
    #[diesel(select_expression = services::id)]
    service_id: String,
    #[diesel(select_expression = services::namespace)]
    namespace: String,
    #[diesel(select_expression = services::slug)]
    slug: String,
    #[diesel(select_expression = services::name)]
    service_name: String,
    #[diesel(select_expression = services::icon_url)]
    service_icon: Option<String>,
    #[diesel(select_expression = api_keys::last_used_at)]
    last_used_at: Option<i64>,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = api_keys)]
struct ApiKeyRow {
    id: String,
    name: String,
    prefix: String,
    created_at: i64,
    last_used_at: Option<i64>,
}

impl From<ApiKeyRow> for ApiKey {
    fn from(row: ApiKeyRow) -> Self {
        Self {
            id: row.id,
            name: row.name,
            prefix: row.prefix,
            created_at: Timestamp::from_millis(row.created_at),
            last_used_at: row.last_used_at.map(Timestamp::from_millis),
        }
    }
}

impl Store {
    /// The service behind an active (unrevoked) key, if any: the check behind every service
    /// call, so one indexed join.
    pub fn find_api_key(&self, hash: &TokenHash) -> Result<Option<ApiKeyOwner>, StoreError> {
        self.read(|conn| {
            Ok(api_keys::table
                .inner_join(services::table)
                .filter(api_keys::key_hash.eq(hash.as_str()))
                .filter(api_keys::revoked_at.is_null())
                .select(OwnerRow::as_select())
                // `load`, not `first`: no bound LIMIT, so SQLite reuses the prepared statement
                // (the key hash is unique: one row at most).
                .load::<OwnerRow>(conn)?
                .into_iter()
                .next()
                .map(|row| ApiKeyOwner {
                    key_id: row.key_id,
                    service_id: row.service_id,
                    namespace: row.namespace,
                    slug: row.slug,
                    service_name: row.service_name,
                    service_icon: row.service_icon,
                    last_used_at: row.last_used_at.map(Timestamp::from_millis),
                }))
        })
    }

    /// Records that a key was used.
    pub fn touch_api_key(&self, key_id: &str, at: Timestamp) -> Result<(), StoreError> {
        self.write(|conn| {
            diesel::update(api_keys::table.find(key_id))
                .set(api_keys::last_used_at.eq(at.as_millis()))
                .execute(conn)?;
            Ok(())
        })
    }

    /// Adds a key to a service of `namespace`; `LimitReached(Quota::ApiKeys)` when the service has
    /// `max_keys` active keys.
    pub fn create_api_key(
        &self,
        namespace: &str,
        service_id: &str,
        key: &NewApiKey,
        actor: &Actor,
        max_keys: u32,
    ) -> Result<ApiKey, StoreError> {
        let now = Timestamp::now().as_millis();
        self.write(|conn| {
            owned(conn, namespace, service_id)?;
            crate::db::lock_quota_owner(conn, Quota::ApiKeys, service_id)?;
            let active: i64 = api_keys::table
                .filter(api_keys::service_id.eq(service_id))
                .filter(api_keys::revoked_at.is_null())
                .count()
                .get_result(conn)?;
            if active >= i64::from(max_keys) {
                return Err(StoreError::LimitReached(Quota::ApiKeys));
            }
            insert(conn, service_id, key, now).map_err(conflict_as("api key"))?;
            audit::record(
                conn,
                AuditEntry {
                    namespace,
                    actor,
                    action: "api_key.created",
                    target_id: &key.id,
                    details: json!({ "service_id": service_id, "name": key.name, "prefix": key.prefix }),
                },
            )?;
            Ok(ApiKey {
                id: key.id.clone(),
                name: key.name.clone(),
                prefix: key.prefix.clone(),
                created_at: Timestamp::from_millis(now),
                last_used_at: None,
            })
        })
    }

    /// The active keys of a service of `namespace`, newest first.
    pub fn list_api_keys(
        &self,
        namespace: &str,
        service_id: &str,
    ) -> Result<Vec<ApiKey>, StoreError> {
        self.read(|conn| {
            owned(conn, namespace, service_id)?;
            Ok(api_keys::table
                .filter(api_keys::service_id.eq(service_id))
                .filter(api_keys::revoked_at.is_null())
                .order((api_keys::created_at.desc(), api_keys::id.desc()))
                .select(ApiKeyRow::as_select())
                .load(conn)?
                .into_iter()
                .map(ApiKey::from)
                .collect())
        })
    }

    /// Revokes an active key at once; `NotFound` if the service is not the namespace's or the
    /// key is not an active key of it.
    pub fn revoke_api_key(
        &self,
        namespace: &str,
        service_id: &str,
        key_id: &str,
        actor: &Actor,
    ) -> Result<(), StoreError> {
        let now = Timestamp::now().as_millis();
        self.write(|conn| {
            owned(conn, namespace, service_id)?;
            let revoked = diesel::update(
                api_keys::table
                    .filter(api_keys::id.eq(key_id))
                    .filter(api_keys::service_id.eq(service_id))
                    .filter(api_keys::revoked_at.is_null()),
            )
            .set(api_keys::revoked_at.eq(now))
            .execute(conn)?;
            if revoked == 0 {
                return Err(StoreError::NotFound);
            }
            audit::record(
                conn,
                AuditEntry {
                    namespace,
                    actor,
                    action: "api_key.revoked",
                    target_id: key_id,
                    details: json!({ "service_id": service_id }),
                },
            )?;
            Ok(())
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
