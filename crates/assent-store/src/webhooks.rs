//! Webhook endpoints: where a service's events are delivered. Secrets are stored sealed
//! (see `assent_auth::sealed`); this layer never sees a plaintext secret.

use assent_core::{EndpointFormat, EventType, Timestamp};
use diesel::prelude::*;

use crate::db::Store;
use crate::error::StoreError;
use crate::schema::webhook_endpoints;

#[derive(Debug, Clone)]
pub struct NewWebhookEndpoint {
    pub id: String,
    pub url: String,
    pub format: EndpointFormat,
    pub events: Vec<EventType>,
    /// The secret as sealed by `SecretKey::seal` with `id` as associated data.
    pub secret_sealed: String,
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
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = webhook_endpoints)]
struct WebhookEndpointRow {
    id: String,
    service_id: String,
    url: String,
    format: String,
    events: String,
    secret_sealed: String,
    enabled: bool,
    created_at: i64,
    updated_at: i64,
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
        })
    }
}

impl Store {
    pub fn list_webhook_endpoints(
        &self,
        service_id: &str,
    ) -> Result<Vec<WebhookEndpoint>, StoreError> {
        self.read(|conn| {
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
        })
    }
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
            webhook_endpoints::enabled.eq(true),
            webhook_endpoints::created_at.eq(now),
            webhook_endpoints::updated_at.eq(now),
        ))
        .execute(conn)
}
