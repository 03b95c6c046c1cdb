//! The tools webhook users expect (`/v1/services/{id}/webhooks/{wid}/…`): the delivery log
//! with every attempt, manual retry, a test event, secret rotation, and changing or
//! re-enabling an endpoint (with replay of what it missed).

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use assent_auth::{random, webhook_secret};
use assent_core::delivery::DeliveryStatus;
use assent_core::{FieldError, Timestamp};
use assent_store::{DeliveryRecord, StoreError, WebhookChanges};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::{IntoParams, ToSchema};

use crate::auth::Owner;
use crate::error::ApiError;
use crate::json::JsonBody;
use crate::openapi::SigilumError;
use crate::pagination;
use crate::routes::services::{INVALID_EVENT_TYPE, WebhookView, webhook_events, webhook_url};
use crate::state::AppState;

pub const WEBHOOK_DISABLED: &str = "WEBHOOK_DISABLED";

#[derive(Debug, Deserialize, IntoParams)]
pub struct DeliveryQuery {
    /// Only deliveries in this state: `pending`, `succeeded`, `failed`, `exhausted`, `skipped`.
    pub status: Option<String>,
    /// Deliveries per page, 1 to 200 (default 50).
    pub limit: Option<String>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AttemptView {
    #[schema(value_type = String)]
    pub attempted_at: Timestamp,
    /// The receiver's HTTP status; `null` when no response arrived.
    pub status_code: Option<u16>,
    pub duration_ms: i64,
    /// Why no response arrived (timeout, refused target, connection error).
    pub error: Option<String>,
    /// The first 1 KiB of the response body.
    pub response_body: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryView {
    /// `dlv_…`, the same on every retry (sent as `X-Sigilum-Delivery-Id` / `X-ATP-Request-ID`).
    pub id: String,
    pub event_id: String,
    #[schema(example = "request.approved")]
    pub event_type: String,
    #[schema(value_type = String, example = "succeeded")]
    pub status: &'static str,
    pub attempt_count: u32,
    /// When the next attempt is due, for a pending delivery.
    #[schema(value_type = Option<String>)]
    pub next_attempt_at: Option<Timestamp>,
    pub last_error: Option<String>,
    #[schema(value_type = String)]
    pub created_at: Timestamp,
    #[schema(value_type = Option<String>)]
    pub completed_at: Option<Timestamp>,
    pub attempts: Vec<AttemptView>,
}

impl From<DeliveryRecord> for DeliveryView {
    fn from(d: DeliveryRecord) -> Self {
        Self {
            id: d.id,
            event_id: d.event_id,
            event_type: d.event_type,
            status: d.status.as_str(),
            attempt_count: d.attempt_count,
            next_attempt_at: d.next_attempt_at,
            last_error: d.last_error,
            created_at: d.created_at,
            completed_at: d.completed_at,
            attempts: d
                .attempts
                .into_iter()
                .map(|a| AttemptView {
                    attempted_at: a.attempted_at,
                    status_code: a.status_code,
                    duration_ms: a.duration_ms,
                    error: a.error,
                    response_body: a.response_excerpt,
                })
                .collect(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryPage {
    pub deliveries: Vec<DeliveryView>,
    pub next_cursor: Option<String>,
}

/// The delivery log of a webhook, newest first, each delivery with its attempts.
#[utoipa::path(get, path = "/v1/services/{service_id}/webhooks/{webhook_id}/deliveries", tag = "webhooks",
    params(
        ("service_id" = String, Path, description = "The service's UUID"),
        ("webhook_id" = String, Path, description = "The webhook's id"),
        DeliveryQuery,
    ),
    security(("session" = []), ("bearer" = [])),
    responses(
        (status = 200, description = "One page of deliveries", body = DeliveryPage),
        (status = 400, description = "`VALIDATION_ERROR`: a bad `status`, `limit` or `cursor`", body = SigilumError),
        (status = 401, description = "`UNAUTHORIZED`", body = SigilumError),
        (status = 404, description = "`NOT_FOUND`", body = SigilumError),
    ))]
pub async fn list(
    owner: Owner,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    query: web::Query<DeliveryQuery>,
) -> Result<HttpResponse, ApiError> {
    let (service_id, webhook_id) = path.into_inner();
    let page = delivery_page(&state, &owner, service_id, webhook_id, query.into_inner()).await?;
    Ok(HttpResponse::Ok().json(page))
}

/// One page of the delivery log of a webhook of the owner's, newest first.
pub(crate) async fn delivery_page(
    state: &AppState,
    owner: &Owner,
    service_id: String,
    webhook_id: String,
    query: DeliveryQuery,
) -> Result<DeliveryPage, ApiError> {
    let status = query
        .status
        .map(|s| {
            DeliveryStatus::parse(&s).ok_or_else(|| {
                ApiError::validation(&FieldError::invalid(
                    "status",
                    "must be pending, succeeded, failed, exhausted or skipped",
                ))
            })
        })
        .transpose()?;
    let limit = pagination::limit(query.limit.as_deref())?;
    let before = query.cursor.map(|c| parse_cursor(&c)).transpose()?;
    let store = state.store.clone();
    let namespace = owner.namespace().to_owned();
    let mut page = web::block(move || {
        store.list_deliveries(
            &namespace,
            &service_id,
            &webhook_id,
            status,
            limit + 1,
            before,
        )
    })
    .await??;
    let next_cursor = pagination::finish(&mut page, limit, |d| {
        format!("{}.{}", d.created_at.as_millis(), d.id)
    });
    Ok(DeliveryPage {
        deliveries: page.into_iter().map(DeliveryView::from).collect(),
        next_cursor,
    })
}

fn parse_cursor(cursor: &str) -> Result<(i64, String), ApiError> {
    cursor
        .split_once('.')
        .and_then(|(at, id)| Some((at.parse().ok()?, id.to_owned())))
        .ok_or_else(pagination::bad_cursor)
}

/// Queue a delivery again, now, whatever its state (redelivering a success is allowed).
#[utoipa::path(post, path = "/v1/services/{service_id}/webhooks/{webhook_id}/deliveries/{delivery_id}/retry",
    tag = "webhooks",
    params(
        ("service_id" = String, Path, description = "The service's UUID"),
        ("webhook_id" = String, Path, description = "The webhook's id"),
        ("delivery_id" = String, Path, description = "The delivery's id"),
    ),
    security(("session" = []), ("bearer" = [])),
    responses(
        (status = 202, description = "Queued; the engine sends it at once", body = DeliveryView),
        (status = 401, description = "`UNAUTHORIZED`", body = SigilumError),
        (status = 403, description = "`CSRF_REJECTED`", body = SigilumError),
        (status = 404, description = "`NOT_FOUND`", body = SigilumError),
    ))]
pub async fn retry(
    owner: Owner,
    state: web::Data<AppState>,
    path: web::Path<(String, String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (service_id, webhook_id, delivery_id) = path.into_inner();
    let record = retry_delivery(&state, &owner, service_id, webhook_id, delivery_id).await?;
    Ok(HttpResponse::Accepted().json(DeliveryView::from(record)))
}

/// Queues a delivery of the owner's again, now.
pub(crate) async fn retry_delivery(
    state: &AppState,
    owner: &Owner,
    service_id: String,
    webhook_id: String,
    delivery_id: String,
) -> Result<DeliveryRecord, ApiError> {
    let store = state.store.clone();
    let namespace = owner.namespace().to_owned();
    let actor = owner.actor();
    Ok(web::block(move || {
        store.retry_delivery(&namespace, &service_id, &webhook_id, &delivery_id, &actor)
    })
    .await??)
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TestSent {
    pub event_id: String,
    pub delivery_id: String,
}

/// Send a signed `webhook.test` event to this webhook.
#[utoipa::path(post, path = "/v1/services/{service_id}/webhooks/{webhook_id}/test", tag = "webhooks",
    params(
        ("service_id" = String, Path, description = "The service's UUID"),
        ("webhook_id" = String, Path, description = "The webhook's id"),
    ),
    security(("session" = []), ("bearer" = [])),
    responses(
        (status = 202, description = "Queued; follow it in the delivery log", body = TestSent),
        (status = 401, description = "`UNAUTHORIZED`", body = SigilumError),
        (status = 403, description = "`CSRF_REJECTED`", body = SigilumError),
        (status = 404, description = "`NOT_FOUND`", body = SigilumError),
        (status = 409, description = "`WEBHOOK_DISABLED`: enable it first", body = SigilumError),
    ))]
pub async fn test(
    owner: Owner,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (service_id, webhook_id) = path.into_inner();
    let sent = send_test(&state, &owner, service_id, webhook_id).await?;
    Ok(HttpResponse::Accepted().json(sent))
}

/// Queues a signed `webhook.test` event for one webhook of the owner's (409 while disabled).
pub(crate) async fn send_test(
    state: &AppState,
    owner: &Owner,
    service_id: String,
    webhook_id: String,
) -> Result<TestSent, ApiError> {
    let store = state.store.clone();
    let namespace = owner.namespace().to_owned();
    let event_id = random::id("evt_");
    let sent = web::block(move || {
        let service = store.get_owned_service(&namespace, &service_id)?;
        let payload = json!({
            "event": "webhook.test",
            "timestamp": Timestamp::now(),
            "data": {
                "webhook_id": webhook_id,
                "service": service.slug,
                "namespace": service.namespace,
                "event_id": event_id,
                "message": "This is a test event from assent.",
            },
        });
        store.emit_test_event(
            &namespace,
            &service_id,
            &webhook_id,
            &event_id,
            payload.to_string(),
        )
    })
    .await?
    .map_err(|e| match e {
        StoreError::Conflict(_) => ApiError::new(
            StatusCode::CONFLICT,
            WEBHOOK_DISABLED,
            "This webhook is disabled; enable it before sending a test.",
        ),
        other => other.into(),
    })?;
    Ok(TestSent {
        event_id: sent.event_id,
        delivery_id: sent.delivery_ids.into_iter().next().unwrap_or_default(),
    })
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RotatedSecret {
    pub id: String,
    /// The new secret. Shown only in this response.
    pub secret: String,
    /// Until then deliveries carry a second signature made with the old secret.
    #[schema(value_type = String)]
    pub previous_secret_expires_at: Timestamp,
}

/// Replace the webhook's secret. The old one keeps signing beside it for the grace period
/// (`ASSENT_WEBHOOK_SECRET_GRACE`), so receivers can switch without losing deliveries.
#[utoipa::path(post, path = "/v1/services/{service_id}/webhooks/{webhook_id}/rotate-secret", tag = "webhooks",
    params(
        ("service_id" = String, Path, description = "The service's UUID"),
        ("webhook_id" = String, Path, description = "The webhook's id"),
    ),
    security(("session" = []), ("bearer" = [])),
    responses(
        (status = 200, description = "Rotated", body = RotatedSecret),
        (status = 401, description = "`UNAUTHORIZED`", body = SigilumError),
        (status = 403, description = "`CSRF_REJECTED`", body = SigilumError),
        (status = 404, description = "`NOT_FOUND`", body = SigilumError),
    ))]
pub async fn rotate_secret(
    owner: Owner,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (service_id, webhook_id) = path.into_inner();
    let rotated = rotate(&state, &owner, service_id, webhook_id).await?;
    Ok(HttpResponse::Ok().json(rotated))
}

/// Gives a webhook of the owner's a new secret (returned this once); the old one keeps
/// signing beside it for the grace period.
pub(crate) async fn rotate(
    state: &AppState,
    owner: &Owner,
    service_id: String,
    webhook_id: String,
) -> Result<RotatedSecret, ApiError> {
    let secret = webhook_secret();
    let sealed = state.secret_key.seal(&secret, &webhook_id);
    let grace_ms = i64::try_from(state.settings.secret_grace.as_millis()).unwrap_or(i64::MAX);
    let until = Timestamp::from_millis(Timestamp::now().as_millis().saturating_add(grace_ms));
    let store = state.store.clone();
    let namespace = owner.namespace().to_owned();
    let actor = owner.actor();
    let id = webhook_id.clone();
    web::block(move || {
        store.rotate_webhook_secret(&namespace, &service_id, &id, &sealed, until, &actor)
    })
    .await??;
    Ok(RotatedSecret {
        id: webhook_id,
        secret: secret.expose().to_owned(),
        previous_secret_expires_at: until,
    })
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct UpdateWebhookRequest {
    /// A new target, checked as at creation.
    #[schema(nullable = false)]
    pub url: Option<String>,
    /// The `request.*` events to receive (not for an ATP callback).
    #[schema(nullable = false)]
    pub events: Option<Vec<String>>,
    #[schema(nullable = false)]
    pub enabled: Option<bool>,
    /// With `enabled: true` on a disabled webhook: deliver the events it missed.
    #[serde(default)]
    pub replay: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UpdatedWebhook {
    #[serde(flatten)]
    pub webhook: WebhookView,
    /// When this request re-enabled the webhook: events it missed while disabled (queued
    /// again when `replay` was true).
    pub missed_events: i64,
}

/// Change a webhook: its url, its events, or whether it is enabled. Re-enabling says how many
/// events it missed; with `replay: true` they are delivered.
#[utoipa::path(patch, path = "/v1/services/{service_id}/webhooks/{webhook_id}", tag = "webhooks",
    params(
        ("service_id" = String, Path, description = "The service's UUID"),
        ("webhook_id" = String, Path, description = "The webhook's id"),
    ),
    request_body = UpdateWebhookRequest,
    security(("session" = []), ("bearer" = [])),
    responses(
        (status = 200, description = "Changed", body = UpdatedWebhook),
        (status = 400, description = "`VALIDATION_ERROR`, `INVALID_WEBHOOK_URL`, `INVALID_EVENT_TYPE`", body = SigilumError),
        (status = 401, description = "`UNAUTHORIZED`", body = SigilumError),
        (status = 403, description = "`CSRF_REJECTED`", body = SigilumError),
        (status = 404, description = "`NOT_FOUND`", body = SigilumError),
    ))]
pub async fn update(
    owner: Owner,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    body: JsonBody<UpdateWebhookRequest>,
) -> Result<HttpResponse, ApiError> {
    let (service_id, webhook_id) = path.into_inner();
    let updated = change_webhook(&state, &owner, service_id, webhook_id, body.into_inner()).await?;
    Ok(HttpResponse::Ok().json(updated))
}

/// Changes a webhook of the owner's: its url, its events, or whether it is enabled.
pub(crate) async fn change_webhook(
    state: &AppState,
    owner: &Owner,
    service_id: String,
    webhook_id: String,
    body: UpdateWebhookRequest,
) -> Result<UpdatedWebhook, ApiError> {
    if body.url.is_none() && body.events.is_none() && body.enabled.is_none() {
        return Err(ApiError::validation(&FieldError::invalid(
            "url",
            "`events` or `enabled` must be given: there is nothing to change",
        )));
    }
    let url = body
        .url
        .map(|raw| webhook_url(state, &raw).map(|u| u.to_string()))
        .transpose()?;
    let events = body
        .events
        .map(|names| webhook_events(Some(names)))
        .transpose()?;
    let changes = WebhookChanges {
        url,
        events,
        enabled: body.enabled,
        replay: body.replay,
    };
    let store = state.store.clone();
    let namespace = owner.namespace().to_owned();
    let actor = owner.actor();
    let (endpoint, missed) = web::block(move || {
        store.update_webhook_endpoint(&namespace, &service_id, &webhook_id, &changes, &actor)
    })
    .await?
    .map_err(|e| match e {
        StoreError::Conflict(_) => ApiError::bad_request(
            INVALID_EVENT_TYPE,
            "An ATP callback receives notification.responded only; its events cannot change.",
        )
        .with_detail("field", "events"),
        other => other.into(),
    })?;
    Ok(UpdatedWebhook {
        webhook: WebhookView::from(endpoint),
        missed_events: missed,
    })
}
