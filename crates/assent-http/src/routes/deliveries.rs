//! The tools webhook users expect (`/v1/services/{id}/webhooks/{wid}/…`): the delivery log
//! with every attempt, manual retry, a test event, secret rotation, and changing or
//! re-enabling an endpoint (with replay of what it missed).

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use assent_app::pagination::Page;
use assent_app::{deliveries, webhooks};
use assent_core::Timestamp;
use assent_core::delivery::DeliveryStatus;
use assent_store::DeliveryRecord;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::secret_response;
use crate::auth::Owner;
use crate::error::ApiError;
use crate::error::SigilumError;
use crate::json::JsonBody;
use crate::routes::services::WebhookView;
use crate::state::AppState;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeliveryQuery {
    /// Only deliveries in this state: `pending`, `succeeded`, `failed`, `exhausted`, `skipped`.
    #[param(schema_with = delivery_status)]
    pub status: Option<String>,
    /// Deliveries per page, 1 to 200 (default 50).
    #[param(value_type = Option<i64>, minimum = 1, maximum = 200)]
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

fn delivery_status() -> utoipa::openapi::Object {
    crate::openapi::one_of(DeliveryStatus::ALL.map(DeliveryStatus::as_str))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryView {
    /// `dlv_…`, the same on every retry (sent as `X-Sigilum-Delivery-Id` / `X-ATP-Request-ID`).
    pub id: String,
    pub event_id: String,
    #[schema(example = "request.approved")]
    pub event_type: String,
    #[schema(schema_with = delivery_status)]
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

impl From<Page<DeliveryRecord>> for DeliveryPage {
    fn from(page: Page<DeliveryRecord>) -> Self {
        Self {
            deliveries: page.items.into_iter().map(DeliveryView::from).collect(),
            next_cursor: page.next_cursor,
        }
    }
}

impl From<DeliveryQuery> for deliveries::LogQuery {
    fn from(q: DeliveryQuery) -> Self {
        Self {
            status: q.status,
            limit: q.limit,
            cursor: q.cursor,
        }
    }
}

/// The delivery log of a webhook, newest first, each delivery with its attempts.
#[utoipa::path(get, path = "/v1/services/{service_id}/webhooks/{webhook_id}/deliveries", operation_id = "listDeliveries", tag = "webhooks",
    params(
        ("service_id" = String, Path, description = "The service's UUID"),
        ("webhook_id" = String, Path, description = "The webhook's id"),
        DeliveryQuery,
    ),
    security(("sessionToken" = []), ("sessionCookie" = [])),
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
    let query = query.into_inner().into();
    let page = deliveries::log(&state.app, &owner.account, service_id, webhook_id, query).await?;
    Ok(HttpResponse::Ok().json(DeliveryPage::from(page)))
}

/// Queue a delivery again, now, whatever its state (redelivering a success is allowed).
#[utoipa::path(post, path = "/v1/services/{service_id}/webhooks/{webhook_id}/deliveries/{delivery_id}/retry", operation_id = "retryDelivery",
    tag = "webhooks",
    params(
        ("service_id" = String, Path, description = "The service's UUID"),
        ("webhook_id" = String, Path, description = "The webhook's id"),
        ("delivery_id" = String, Path, description = "The delivery's id"),
    ),
    security(("sessionToken" = []), ("sessionCookie" = [])),
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
    let record = deliveries::retry(
        &state.app,
        &owner.account,
        service_id,
        webhook_id,
        delivery_id,
    )
    .await?;
    Ok(HttpResponse::Accepted().json(DeliveryView::from(record)))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TestSent {
    pub event_id: String,
    pub delivery_id: String,
}

impl From<webhooks::TestSent> for TestSent {
    fn from(t: webhooks::TestSent) -> Self {
        Self {
            event_id: t.event_id,
            delivery_id: t.delivery_id,
        }
    }
}

/// Send a signed `webhook.test` event to this webhook.
#[utoipa::path(post, path = "/v1/services/{service_id}/webhooks/{webhook_id}/test", operation_id = "testWebhook", tag = "webhooks",
    params(
        ("service_id" = String, Path, description = "The service's UUID"),
        ("webhook_id" = String, Path, description = "The webhook's id"),
    ),
    security(("sessionToken" = []), ("sessionCookie" = [])),
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
    let sent = webhooks::send_test(&state.app, &owner.account, service_id, webhook_id).await?;
    Ok(HttpResponse::Accepted().json(TestSent::from(sent)))
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

impl From<webhooks::RotatedSecret> for RotatedSecret {
    fn from(r: webhooks::RotatedSecret) -> Self {
        Self {
            id: r.webhook_id,
            secret: r.secret,
            previous_secret_expires_at: r.previous_secret_expires_at,
        }
    }
}

/// Replace the webhook's secret. The old one keeps signing beside it for the grace period
/// (`ASSENT_WEBHOOK_SECRET_GRACE`), so receivers can switch without losing deliveries.
#[utoipa::path(post, path = "/v1/services/{service_id}/webhooks/{webhook_id}/rotate-secret", operation_id = "rotateWebhookSecret", tag = "webhooks",
    params(
        ("service_id" = String, Path, description = "The service's UUID"),
        ("webhook_id" = String, Path, description = "The webhook's id"),
    ),
    security(("sessionToken" = []), ("sessionCookie" = [])),
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
    let rotated =
        webhooks::rotate_secret(&state.app, &owner.account, service_id, webhook_id).await?;
    Ok(secret_response(StatusCode::OK).json(RotatedSecret::from(rotated)))
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
    /// `sigilum` or `standard` (not for an ATP callback). Leaving `standard` turns
    /// asymmetric signing off.
    #[schema(nullable = false, example = "standard")]
    pub format: Option<String>,
    /// With the `standard` format: `true` adds an Ed25519 key (`v1a`; a key it has is kept),
    /// `false` drops it.
    #[schema(nullable = false)]
    pub asymmetric: Option<bool>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UpdatedWebhook {
    #[serde(flatten)]
    pub webhook: WebhookView,
    /// When this request re-enabled the webhook: events it missed while disabled (queued
    /// again when `replay` was true).
    pub missed_events: i64,
}

/// Change a webhook: its url, its events, its format and signing, or whether it is enabled. Re-enabling says how many
/// events it missed; with `replay: true` they are delivered.
#[utoipa::path(patch, path = "/v1/services/{service_id}/webhooks/{webhook_id}", operation_id = "updateWebhook", tag = "webhooks",
    params(
        ("service_id" = String, Path, description = "The service's UUID"),
        ("webhook_id" = String, Path, description = "The webhook's id"),
    ),
    request_body = UpdateWebhookRequest,
    security(("sessionToken" = []), ("sessionCookie" = [])),
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
    let body = body.into_inner();
    let change = webhooks::Change {
        url: body.url,
        events: body.events,
        enabled: body.enabled,
        replay: body.replay,
        format: body.format,
        asymmetric: body.asymmetric,
    };
    let changed =
        webhooks::change(&state.app, &owner.account, service_id, webhook_id, change).await?;
    Ok(HttpResponse::Ok().json(UpdatedWebhook {
        webhook: WebhookView::from(changed.endpoint),
        missed_events: changed.missed_events,
    }))
}
