//! ATP notifications, the service side (service API key): send one, invalidate it, read its
//! status and response.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use assent_app::notifications::{self, Sender};
use assent_core::Timestamp;
use assent_core::notification::{NotificationError, NotificationStatus, validate_notification};
use serde::Serialize;
use serde_json::{Map, Value};
use utoipa::ToSchema;

use crate::auth::ServiceCaller;
use crate::error::AtpError;
use crate::error::{ApiError, code, sentence};
use crate::json::{JsonBody, missing, wrong_type};
use crate::rate_limit::Operation;
use crate::state::AppState;

/// The body of `POST /api/v1/notifications` (documentation only: the handler reads the JSON
/// as it is, to name every problem by its path).
#[derive(Debug, ToSchema)]
#[allow(
    dead_code,
    reason = "describes the request body in the OpenAPI document"
)]
pub struct NotificationRequest {
    /// A UUID of the service's choosing; generated when absent. A duplicate is 409.
    id: Option<String>,
    /// `"1.0"` when present.
    #[schema(example = "1.0")]
    version: Option<String>,
    /// RFC 3339; defaults to now.
    timestamp: Option<String>,
    /// RFC 3339; after it the notification expires unanswered. Must lie ahead.
    deadline: Option<String>,
    /// `title` and `description` (required), `project`, `metadata` (object) and
    /// `attachments` (`[{type, description?, uri | data}]`).
    #[schema(value_type = Object)]
    context: Value,
    /// `[{id, label, response_type, flags?, options?, constraints?}]`; `response_type` is
    /// one of `simple`, `binary`, `choice`, `multi_choice`, `text`, `number`.
    #[schema(value_type = Vec<Object>)]
    actions: Value,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct NotificationCreated {
    pub notification_id: String,
    #[schema(example = "created")]
    pub status: String,
    /// When clients can have it: now (it is pushed to the user's open connections at once).
    #[schema(value_type = String)]
    pub estimated_delivery: Timestamp,
}

/// Send a notification to the owner of the service's namespace.
#[utoipa::path(post, path = "/api/v1/notifications", operation_id = "createNotification", tag = "ATP notifications",
    request_body = NotificationRequest,
    security(("serviceApiKey" = [])),
    responses(
        (status = 201, description = "Stored and pushed to the user's open clients", body = NotificationCreated),
        (status = 400, description = "`MISSING_REQUIRED_FIELD`, `INVALID_RESPONSE_TYPE`, \
            `MALFORMED_ACTION`, `INVALID_PARAMETER` (all with `details.field`), `INVALID_JSON`", body = AtpError),
        (status = 401, description = "`AUTH_INVALID_TOKEN`", body = AtpError),
        (status = 403, description = "`AUTH_INSUFFICIENT_PERMISSIONS`: not a service API key", body = AtpError),
        (status = 409, description = "`NOTIFICATION_ALREADY_EXISTS`: the `id` is taken; `PENDING_LIMIT_REACHED`: the owner's pending cap is reached (nothing is stored)", body = AtpError),
        (status = 413, description = "`PAYLOAD_TOO_LARGE`", body = AtpError),
        (status = 422, description = "`CONSTRAINT_VIOLATION`: a deadline in the past, text too long, too many actions", body = AtpError),
        (status = 429, description = "`RATE_LIMIT_EXCEEDED` (100 a minute per service), with `Retry-After`", body = AtpError),
    ))]
pub async fn create(
    caller: ServiceCaller,
    state: web::Data<AppState>,
    body: JsonBody<Map<String, Value>>,
) -> Result<HttpResponse, ApiError> {
    state
        .limiter
        .check(Operation::Submission, &caller.service_id)
        .await?;
    let now = Timestamp::now();
    let input = validate_notification(&body.into_inner(), now).map_err(notification_error)?;
    let sender = Sender {
        service_id: caller.service_id,
        namespace: caller.namespace,
        slug: caller.slug,
        name: caller.name,
        icon: caller.icon,
    };
    let row = notifications::send(&state.app, sender, input, now).await?;
    Ok(HttpResponse::Created().json(NotificationCreated {
        notification_id: row.id,
        status: row.status.as_str().to_owned(),
        estimated_delivery: now,
    }))
}

/// The body of `PATCH /api/v1/notifications/{id}`.
#[derive(Debug, ToSchema)]
#[allow(
    dead_code,
    reason = "describes the request body in the OpenAPI document"
)]
pub struct InvalidationRequest {
    /// `invalidated`: the only status a service may set.
    #[schema(example = "invalidated")]
    status: String,
    /// Why, for the user (up to 500 characters).
    reason: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct StatusChanged {
    pub notification_id: String,
    #[schema(example = "invalidated")]
    pub status: String,
    #[schema(value_type = String)]
    pub updated_at: Timestamp,
}

/// Invalidate a notification that no longer applies: clients are told at once and no
/// response is accepted any more.
#[utoipa::path(patch, path = "/api/v1/notifications/{id}", operation_id = "invalidateNotification", tag = "ATP notifications",
    params(("id" = String, Path, description = "The notification's id")),
    request_body = InvalidationRequest,
    security(("serviceApiKey" = [])),
    responses(
        (status = 200, description = "Invalidated", body = StatusChanged),
        (status = 400, description = "`INVALID_STATUS` (only `invalidated` may be set), \
            `MISSING_REQUIRED_FIELD`, `INVALID_PARAMETER`, `INVALID_JSON`", body = AtpError),
        (status = 401, description = "`AUTH_INVALID_TOKEN`", body = AtpError),
        (status = 403, description = "`SERVICE_NOT_OWNER`: another service's notification", body = AtpError),
        (status = 404, description = "`NOTIFICATION_NOT_FOUND`", body = AtpError),
        (status = 409, description = "`NOTIFICATION_ALREADY_RESPONDED`, `NOTIFICATION_EXPIRED`, \
            `NOTIFICATION_INVALIDATED`", body = AtpError),
        (status = 422, description = "`CONSTRAINT_VIOLATION`: reason too long", body = AtpError),
        (status = 429, description = "`RATE_LIMIT_EXCEEDED` (200 a minute per service)", body = AtpError),
    ))]
pub async fn invalidate(
    caller: ServiceCaller,
    state: web::Data<AppState>,
    id: web::Path<String>,
    body: JsonBody<Map<String, Value>>,
) -> Result<HttpResponse, ApiError> {
    state
        .limiter
        .check(Operation::StatusUpdate, &caller.service_id)
        .await?;
    let body = body.into_inner();
    let status = match body.get("status") {
        None | Some(Value::Null) => return Err(missing("status")),
        Some(Value::String(s)) => s.clone(),
        Some(_) => return Err(wrong_type("status", "a string")),
    };
    if status != NotificationStatus::Invalidated.as_str() {
        return Err(ApiError::bad_request(
            code::INVALID_STATUS,
            format!("A service may set only the status `invalidated`, not `{status}`."),
        )
        .with_detail("field", "status"));
    }
    let reason = match body.get("reason") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.trim().is_empty() => None,
        Some(Value::String(s)) if s.chars().count() > 500 => {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                code::CONSTRAINT_VIOLATION,
                "The field `reason` must be at most 500 characters.",
            )
            .with_detail("field", "reason"));
        }
        Some(Value::String(s)) => Some(s.trim().to_owned()),
        Some(_) => return Err(wrong_type("reason", "a string")),
    };
    let row =
        notifications::invalidate(&state.app, caller.service_id, id.into_inner(), reason).await?;
    Ok(HttpResponse::Ok().json(StatusChanged {
        notification_id: row.id,
        status: row.status.as_str().to_owned(),
        updated_at: row.updated_at,
    }))
}

/// Extension: a notification of the calling service, with its status and, once answered, its
/// `response` (the payload its callback receives).
#[utoipa::path(get, path = "/api/v1/notifications/{id}", operation_id = "getNotification", tag = "ATP notifications",
    params(("id" = String, Path, description = "The notification's id")),
    security(("serviceApiKey" = [])),
    responses(
        (status = 200, description = "The notification object", body = super::shapes::NotificationObject),
        (status = 401, description = "`AUTH_INVALID_TOKEN`", body = AtpError),
        (status = 403, description = "`SERVICE_NOT_OWNER`", body = AtpError),
        (status = 404, description = "`NOTIFICATION_NOT_FOUND`", body = AtpError),
    ))]
pub async fn get(
    caller: ServiceCaller,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let row =
        notifications::get_for_service(&state.app, caller.service_id, id.into_inner()).await?;
    Ok(HttpResponse::Ok().json(row.to_json()))
}

fn notification_error(e: NotificationError) -> ApiError {
    let (status, code) = match &e {
        NotificationError::Missing { .. } => {
            (StatusCode::BAD_REQUEST, code::MISSING_REQUIRED_FIELD)
        }
        NotificationError::Invalid { .. } => (StatusCode::BAD_REQUEST, code::INVALID_PARAMETER),
        NotificationError::ResponseType { .. } => {
            (StatusCode::BAD_REQUEST, code::INVALID_RESPONSE_TYPE)
        }
        NotificationError::MalformedAction { .. } => {
            (StatusCode::BAD_REQUEST, code::MALFORMED_ACTION)
        }
        NotificationError::Constraint { .. } => {
            (StatusCode::UNPROCESSABLE_ENTITY, code::CONSTRAINT_VIOLATION)
        }
    };
    ApiError::new(status, code, sentence(&e.to_string())).with_detail("field", e.field())
}
