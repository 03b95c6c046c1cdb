//! Webhook endpoints: where a service's events are delivered. Secrets are stored sealed
//! (see `assent_auth::sealed`); this layer never sees a plaintext secret.

use assent_core::delivery::EndpointStatus;
use assent_core::{EndpointFormat, EventType, Timestamp};
use diesel::prelude::*;

use serde_json::json;

use crate::audit::{self, Actor, AuditEntry};
use crate::db::Store;
use crate::error::{Quota, StoreError, conflict_as};
use crate::schema::webhook_endpoints;
use crate::services::owned;

#[derive(Debug, Clone)]
pub struct NewWebhookEndpoint {
    pub id: String,
    pub url: String,
    pub format: EndpointFormat,
    pub events: Vec<EventType>,
    /// The secret as sealed by `SecretKey::seal` with `id` as associated data.
    pub secret_sealed: String,
    /// The Ed25519 key that also signs (Standard Webhooks `v1a`), when asymmetric signing is on.
    pub signing_key: Option<SealedSigningKey>,
}

/// An endpoint's Ed25519 key: the `whsk_` key pair sealed by `SecretKey::seal` (associated
/// data: [`SealedSigningKey::associated_data`]) and its public `whpk_` half, published.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedSigningKey {
    pub sealed: String,
    pub public_key: String,
}

impl SealedSigningKey {
    /// What the key is sealed to: its endpoint, and its being a key, so that neither a secret
    /// nor another endpoint's key opens in its place.
    pub fn associated_data(webhook_id: &str) -> String {
        format!("{webhook_id}#signing-key")
    }
}

/// An Ed25519 public key an endpoint of a namespace signs with, as published (DID document,
/// JWKS).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishedKey {
    pub webhook_id: String,
    pub service_slug: String,
    pub public_key: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookEndpoint {
    pub id: String,
    pub service_id: String,
    pub url: String,
    pub format: EndpointFormat,
    pub events: Vec<EventType>,
    pub secret_sealed: String,
    pub enabled: bool,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    /// The secret before the last rotation, still signing until `previous_secret_expires_at`.
    pub previous_secret_sealed: Option<String>,
    pub previous_secret_expires_at: Option<Timestamp>,
    /// Since when every attempt has failed; `None` after a success.
    pub failing_since: Option<Timestamp>,
    pub disabled_at: Option<Timestamp>,
    /// `gone` (a 410) or `failing` (failing longer than the configured window).
    pub disabled_reason: Option<String>,
    /// Attempts in a row that failed; 0 after a success.
    pub consecutive_failures: u32,
    /// The last failed attempt's error while failing (`HTTP 503`, or the failure's sentence).
    pub last_error: Option<String>,
    /// The Ed25519 key that also signs, when asymmetric signing is on.
    pub signing_key: Option<SealedSigningKey>,
}

impl WebhookEndpoint {
    /// Its health: disabled, failing while a streak of failed attempts runs, else healthy.
    pub fn status(&self) -> EndpointStatus {
        EndpointStatus::of(
            self.enabled,
            self.failing_since.is_some() || self.consecutive_failures > 0,
        )
    }
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = webhook_endpoints)]
pub(crate) struct WebhookEndpointRow {
    id: String,
    service_id: String,
    url: String,
    format: String,
    events: String,
    secret_sealed: String,
    enabled: bool,
    created_at: i64,
    updated_at: i64,
    previous_secret_sealed: Option<String>,
    previous_secret_expires_at: Option<i64>,
    failing_since: Option<i64>,
    disabled_at: Option<i64>,
    disabled_reason: Option<String>,
    consecutive_failures: i32,
    last_error: Option<String>,
    signing_key_sealed: Option<String>,
    public_key: Option<String>,
}

impl TryFrom<WebhookEndpointRow> for WebhookEndpoint {
    type Error = StoreError;

    fn try_from(row: WebhookEndpointRow) -> Result<Self, StoreError> {
        let corrupt = |what: &str| StoreError::Corrupt(format!("webhook {}: {what}", row.id));
        let format = EndpointFormat::parse(&row.format).ok_or_else(|| corrupt("format"))?;
        let names: Vec<String> =
            serde_json::from_str(&row.events).map_err(|_| corrupt("events"))?;
        let events = names
            .iter()
            .map(|n| EventType::parse(n).ok_or_else(|| corrupt("event name")))
            .collect::<Result<_, _>>()?;
        let signing_key = match (row.signing_key_sealed, row.public_key) {
            (Some(sealed), Some(public_key)) => Some(SealedSigningKey { sealed, public_key }),
            (None, None) => None,
            _ => return Err(corrupt("signing key")),
        };
        Ok(Self {
            id: row.id,
            service_id: row.service_id,
            url: row.url,
            format,
            events,
            secret_sealed: row.secret_sealed,
            enabled: row.enabled,
            created_at: Timestamp::from_millis(row.created_at),
            updated_at: Timestamp::from_millis(row.updated_at),
            previous_secret_sealed: row.previous_secret_sealed,
            previous_secret_expires_at: row.previous_secret_expires_at.map(Timestamp::from_millis),
            failing_since: row.failing_since.map(Timestamp::from_millis),
            disabled_at: row.disabled_at.map(Timestamp::from_millis),
            disabled_reason: row.disabled_reason,
            consecutive_failures: u32::try_from(row.consecutive_failures).unwrap_or(0),
            last_error: row.last_error,
            signing_key,
        })
    }
}

impl Store {
    /// Adds an endpoint to a service of `namespace`; `LimitReached(Quota::Webhooks)` when the
    /// service has `max_webhooks` already.
    pub fn create_webhook_endpoint(
        &self,
        namespace: &str,
        service_id: &str,
        endpoint: &NewWebhookEndpoint,
        actor: &Actor,
        max_webhooks: u32,
    ) -> Result<WebhookEndpoint, StoreError> {
        let now = Timestamp::now().as_millis();
        self.write(|conn| {
            owned(conn, namespace, service_id)?;
            crate::db::lock_quota_owner(conn, Quota::Webhooks, service_id)?;
            let count: i64 = webhook_endpoints::table
                .filter(webhook_endpoints::service_id.eq(service_id))
                .count()
                .get_result(conn)?;
            if count >= i64::from(max_webhooks) {
                return Err(StoreError::LimitReached(Quota::Webhooks));
            }
            insert(conn, service_id, endpoint, now).map_err(conflict_as("webhook"))?;
            audit::record(
                conn,
                AuditEntry {
                    namespace,
                    actor,
                    action: "webhook.created",
                    target_id: &endpoint.id,
                    details: json!({
                        "service_id": service_id,
                        "url": endpoint.url,
                        "events": endpoint.events,
                    }),
                },
            )?;
            Ok(WebhookEndpoint {
                id: endpoint.id.clone(),
                service_id: service_id.to_owned(),
                url: endpoint.url.clone(),
                format: endpoint.format,
                events: endpoint.events.clone(),
                secret_sealed: endpoint.secret_sealed.clone(),
                enabled: true,
                created_at: Timestamp::from_millis(now),
                updated_at: Timestamp::from_millis(now),
                previous_secret_sealed: None,
                previous_secret_expires_at: None,
                failing_since: None,
                disabled_at: None,
                disabled_reason: None,
                consecutive_failures: 0,
                last_error: None,
                signing_key: endpoint.signing_key.clone(),
            })
        })
    }

    /// The endpoints of a service of `namespace`, oldest first.
    pub fn list_owned_webhook_endpoints(
        &self,
        namespace: &str,
        service_id: &str,
    ) -> Result<Vec<WebhookEndpoint>, StoreError> {
        self.read(|conn| {
            owned(conn, namespace, service_id)?;
            endpoints_of(conn, service_id)
        })
    }

    /// Deletes an endpoint: nothing more is delivered to it.
    pub fn delete_webhook_endpoint(
        &self,
        namespace: &str,
        service_id: &str,
        webhook_id: &str,
        actor: &Actor,
    ) -> Result<(), StoreError> {
        self.write(|conn| {
            owned(conn, namespace, service_id)?;
            let deleted = diesel::delete(
                webhook_endpoints::table
                    .filter(webhook_endpoints::id.eq(webhook_id))
                    .filter(webhook_endpoints::service_id.eq(service_id)),
            )
            .execute(conn)?;
            if deleted == 0 {
                return Err(StoreError::NotFound);
            }
            audit::record(
                conn,
                AuditEntry {
                    namespace,
                    actor,
                    action: "webhook.deleted",
                    target_id: webhook_id,
                    details: json!({ "service_id": service_id }),
                },
            )?;
            Ok(())
        })
    }

    /// The Ed25519 public keys the endpoints of a namespace's services sign with, oldest
    /// first: what its DID document and JWKS publish.
    pub fn published_webhook_keys(&self, namespace: &str) -> Result<Vec<PublishedKey>, StoreError> {
        self.read(|conn| published_keys_on(conn, namespace))
    }

    pub fn list_webhook_endpoints(
        &self,
        service_id: &str,
    ) -> Result<Vec<WebhookEndpoint>, StoreError> {
        self.read(|conn| endpoints_of(conn, service_id))
    }
}

fn endpoints_of(
    conn: &mut crate::AnyConnection,
    service_id: &str,
) -> Result<Vec<WebhookEndpoint>, StoreError> {
    webhook_endpoints::table
        .filter(webhook_endpoints::service_id.eq(service_id))
        .order((
            webhook_endpoints::created_at.asc(),
            webhook_endpoints::id.asc(),
        ))
        .select(WebhookEndpointRow::as_select())
        .load(conn)?
        .into_iter()
        .map(WebhookEndpoint::try_from)
        .collect()
}

pub(crate) fn insert(
    conn: &mut crate::AnyConnection,
    service_id: &str,
    endpoint: &NewWebhookEndpoint,
    now: i64,
) -> QueryResult<usize> {
    let events: Vec<&str> = endpoint.events.iter().map(|e| e.as_str()).collect();
    let events = serde_json::Value::from(events).to_string();
    diesel::insert_into(webhook_endpoints::table)
        .values((
            webhook_endpoints::id.eq(&endpoint.id),
            webhook_endpoints::service_id.eq(service_id),
            webhook_endpoints::url.eq(&endpoint.url),
            webhook_endpoints::format.eq(endpoint.format.as_str()),
            webhook_endpoints::events.eq(events),
            webhook_endpoints::secret_sealed.eq(&endpoint.secret_sealed),
            webhook_endpoints::signing_key_sealed
                .eq(endpoint.signing_key.as_ref().map(|k| &k.sealed)),
            webhook_endpoints::public_key.eq(endpoint.signing_key.as_ref().map(|k| &k.public_key)),
            webhook_endpoints::enabled.eq(true),
            webhook_endpoints::created_at.eq(now),
            webhook_endpoints::updated_at.eq(now),
        ))
        .execute(conn)
}

/// [`Store::published_webhook_keys`] on a connection the caller holds.
pub(crate) fn published_keys_on(
    conn: &mut crate::AnyConnection,
    namespace: &str,
) -> Result<Vec<PublishedKey>, StoreError> {
    use crate::schema::services;
    let rows: Vec<(String, String, Option<String>)> = webhook_endpoints::table
        .inner_join(services::table)
        .filter(services::namespace.eq(namespace))
        .filter(webhook_endpoints::public_key.is_not_null())
        .order((
            webhook_endpoints::created_at.asc(),
            webhook_endpoints::id.asc(),
        ))
        .select((
            webhook_endpoints::id,
            services::slug,
            webhook_endpoints::public_key,
        ))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .filter_map(|(webhook_id, service_slug, key)| {
            key.map(|public_key| PublishedKey {
                webhook_id,
                service_slug,
                public_key,
            })
        })
        .collect())
}
