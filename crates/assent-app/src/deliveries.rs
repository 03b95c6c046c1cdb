//! A webhook's delivery log, and retrying a delivery by hand.

use assent_core::FieldError;
use assent_core::delivery::DeliveryStatus;
use assent_store::{Account, DeliveryRecord};

use crate::pagination::{self, Page};
use crate::{App, Error, actor};

/// Which page of a delivery log, as asked for (each part optional and checked here).
#[derive(Debug, Clone, Default)]
pub struct LogQuery {
    /// `pending`, `succeeded`, `failed`, `exhausted` or `skipped`.
    pub status: Option<String>,
    pub limit: Option<String>,
    pub cursor: Option<String>,
}

/// One page of the delivery log of a webhook of the owner's, newest first, each delivery with
/// its attempts. `VALIDATION_ERROR` for a bad `status`, `limit` or `cursor`; `NOT_FOUND`.
pub async fn log(
    app: &App,
    owner: &Account,
    service_id: String,
    webhook_id: String,
    query: LogQuery,
) -> Result<Page<DeliveryRecord>, Error> {
    let status = query
        .status
        .map(|s| {
            DeliveryStatus::parse(&s).ok_or_else(|| {
                FieldError::invalid(
                    "status",
                    "must be pending, succeeded, failed, exhausted or skipped",
                )
            })
        })
        .transpose()?;
    let limit = pagination::limit(query.limit.as_deref())?;
    let before = query.cursor.map(|c| parse_cursor(&c)).transpose()?;
    let namespace = owner.namespace.clone();
    let mut items = app
        .run(move |store| {
            store.list_deliveries(
                &namespace,
                &service_id,
                &webhook_id,
                status,
                limit + 1,
                before,
            )
        })
        .await?;
    let next_cursor = pagination::finish(&mut items, limit, |d| {
        format!("{}.{}", d.created_at.as_millis(), d.id)
    });
    Ok(Page { items, next_cursor })
}

fn parse_cursor(cursor: &str) -> Result<(i64, String), Error> {
    cursor
        .split_once('.')
        .and_then(|(at, id)| Some((at.parse().ok()?, id.to_owned())))
        .ok_or_else(pagination::bad_cursor)
}

/// Queues a delivery of the owner's again, now, whatever its state (redelivering a success
/// is allowed).
pub async fn retry(
    app: &App,
    owner: &Account,
    service_id: String,
    webhook_id: String,
    delivery_id: String,
) -> Result<DeliveryRecord, Error> {
    let namespace = owner.namespace.clone();
    let actor = actor(owner);
    app.run(move |store| {
        store.retry_delivery(&namespace, &service_id, &webhook_id, &delivery_id, &actor)
    })
    .await
}
