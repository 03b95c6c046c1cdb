//! ATP notifications, the service side (service API key): send one, invalidate it, read its
//! status and response.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use assent_core::Timestamp;
use assent_core::notification::{NotificationError, NotificationStatus, validate_notification};
use assent_store::{NotificationRow, Party, StoreError, TransitionError};
use serde::Serialize;
use serde_json::{Map, Value};
use utoipa::ToSchema;

use crate::auth::ServiceCaller;
use crate::error::{ApiError, code, sentence};
use crate::json::JsonBody;
use crate::openapi::AtpError;
use crate::rate_limit::Operation;
use crate::state::AppState;

pub const INVALID_RESPONSE_TYPE: &str = "INVALID_RESPONSE_TYPE";
pub const MALFORMED_ACTION: &str = "MALFORMED_ACTION";
pub const CONSTRAINT_VIOLATION: &str = "CONSTRAINT_VIOLATION";
pub const INVALID_STATUS: &str = "INVALID_STATUS";
pub const SERVICE_NOT_OWNER: &str = "SERVICE_NOT_OWNER";
pub const NOTIFICATION_NOT_FOUND: &str = "NOTIFICATION_NOT_FOUND";
pub const NOTIFICATION_ALREADY_EXISTS: &str = "NOTIFICATION_ALREADY_EXISTS";
pub const NOTIFICATION_ALREADY_RESPONDED: &str = "NOTIFICATION_ALREADY_RESPONDED";
pub const NOTIFICATION_EXPIRED: &str = "NOTIFICATION_EXPIRED";
pub const NOTIFICATION_INVALIDATED: &str = "NOTIFICATION_INVALIDATED";
pub const NOTIFICATION_ACCESS_DENIED: &str = "NOTIFICATION_ACCESS_DENIED";
/// Acknowledging a notification that is no longer pending in a way no other code names.
pub const NOTIFICATION_STATE_CONFLICT: &str = "NOTIFICATION_STATE_CONFLICT";

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
#[utoipa::path(post, path = "/api/v1/notifications", tag = "ATP notifications",
    request_body = NotificationRequest,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Stored and pushed to the user's open clients", body = NotificationCreated),
        (status = 400, description = "`MISSING_REQUIRED_FIELD`, `INVALID_RESPONSE_TYPE`, \
            `MALFORMED_ACTION`, `INVALID_PARAMETER` (all with `details.field`), `INVALID_JSON`", body = AtpError),
        (status = 401, description = "`AUTH_INVALID_TOKEN`", body = AtpError),
        (status = 403, description = "`AUTH_INSUFFICIENT_PERMISSIONS`: not a service API key", body = AtpError),
        (status = 409, description = "`NOTIFICATION_ALREADY_EXISTS`: the `id` is taken", body = AtpError),
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
        .check(Operation::Submission, &caller.service_id)?;
    let now = Timestamp::now();
    let input = validate_notification(&body.into_inner(), now).map_err(notification_error)?;
    let id = input.id.unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let row = NotificationRow {
        id,
        namespace: caller.namespace,
        service_id: caller.service_id,
        service_slug: caller.slug,
        service_name: caller.name,
        service_icon: caller.icon,
        project: input.project,
        context: Value::Object(input.context).to_string(),
        actions: serde_json::to_string(&input.actions).unwrap_or_else(|_| "[]".into()),
        status: NotificationStatus::Created.as_str().to_owned(),
        sent_at: input.timestamp.as_millis(),
        created_at: now.as_millis(),
        updated_at: now.as_millis(),
        deadline: input.deadline.map(Timestamp::as_millis),
        status_reason: None,
        response: None,
    };
    let store = state.store.clone();
    let row = web::block(move || store.create_notification(&row))
        .await?
        .map_err(|e| match e {
            StoreError::Conflict(_) => ApiError::new(
                StatusCode::CONFLICT,
                NOTIFICATION_ALREADY_EXISTS,
                "A notification with this id already exists.",
            )
            .with_detail("field", "id"),
            other => ApiError::from(other),
        })?;
    Ok(HttpResponse::Created().json(NotificationCreated {
        notification_id: row.id,
        status: row.status,
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
#[utoipa::path(patch, path = "/api/v1/notifications/{id}", tag = "ATP notifications",
    params(("id" = String, Path, description = "The notification's id")),
    request_body = InvalidationRequest,
    security(("bearer" = [])),
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
        .check(Operation::StatusUpdate, &caller.service_id)?;
    let body = body.into_inner();
    let status = match body.get("status") {
        None | Some(Value::Null) => return Err(missing("status")),
        Some(Value::String(s)) => s.clone(),
        Some(_) => return Err(wrong_type("status", "a string")),
    };
    if status != NotificationStatus::Invalidated.as_str() {
        return Err(ApiError::bad_request(
            INVALID_STATUS,
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
                CONSTRAINT_VIOLATION,
                "The field `reason` must be at most 500 characters.",
            )
            .with_detail("field", "reason"));
        }
        Some(Value::String(s)) => Some(s.trim().to_owned()),
        Some(_) => return Err(wrong_type("reason", "a string")),
    };
    let store = state.store.clone();
    let row = web::block(move || {
        store.move_notification(
            Party::Service(&caller.service_id),
            &id,
            NotificationStatus::Invalidated,
            reason.as_deref(),
            None,
        )
    })
    .await?
    .map_err(|e| transition_error(e, SERVICE_NOT_OWNER))?;
    Ok(HttpResponse::Ok().json(StatusChanged {
        notification_id: row.id,
        status: row.status,
        updated_at: Timestamp::from_millis(row.updated_at),
    }))
}

/// Extension: a notification of the calling service, with its status and, once answered, its
/// `response` (the payload its callback receives).
#[utoipa::path(get, path = "/api/v1/notifications/{id}", tag = "ATP notifications",
    params(("id" = String, Path, description = "The notification's id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The notification object", body = Object),
        (status = 401, description = "`AUTH_INVALID_TOKEN`", body = AtpError),
        (status = 403, description = "`SERVICE_NOT_OWNER`", body = AtpError),
        (status = 404, description = "`NOTIFICATION_NOT_FOUND`", body = AtpError),
    ))]
pub async fn get(
    caller: ServiceCaller,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let store = state.store.clone();
    let row = web::block(move || store.get_notification(Party::Service(&caller.service_id), &id))
        .await?
        .map_err(|e| transition_error(e, SERVICE_NOT_OWNER))?;
    Ok(HttpResponse::Ok().json(row.to_json()))
}

fn missing(field: &str) -> ApiError {
    ApiError::bad_request(
        code::MISSING_REQUIRED_FIELD,
        format!("The field `{field}` is required."),
    )
    .with_detail("field", field)
}

fn wrong_type(field: &str, expected: &str) -> ApiError {
    ApiError::bad_request(
        code::INVALID_PARAMETER,
        format!("The field `{field}` must be {expected}."),
    )
    .with_detail("field", field)
}

/// A required string field of a JSON body: 400 `MISSING_REQUIRED_FIELD` when absent or blank,
/// `INVALID_PARAMETER` when not a string.
pub fn required_string(body: &Map<String, Value>, field: &str) -> Result<String, ApiError> {
    match body.get(field) {
        Some(Value::String(s)) if !s.trim().is_empty() => Ok(s.trim().to_owned()),
        None | Some(Value::Null) | Some(Value::String(_)) => Err(missing(field)),
        Some(_) => Err(wrong_type(field, "a string")),
    }
}

fn notification_error(e: NotificationError) -> ApiError {
    let (status, code) = match &e {
        NotificationError::Missing { .. } => {
            (StatusCode::BAD_REQUEST, code::MISSING_REQUIRED_FIELD)
        }
        NotificationError::Invalid { .. } => (StatusCode::BAD_REQUEST, code::INVALID_PARAMETER),
        NotificationError::ResponseType { .. } => (StatusCode::BAD_REQUEST, INVALID_RESPONSE_TYPE),
        NotificationError::MalformedAction { .. } => (StatusCode::BAD_REQUEST, MALFORMED_ACTION),
        NotificationError::Constraint { .. } => {
            (StatusCode::UNPROCESSABLE_ENTITY, CONSTRAINT_VIOLATION)
        }
    };
    ApiError::new(status, code, sentence(&e.to_string())).with_detail("field", e.field())
}

/// A lifecycle move that did not happen, as the ATP codes say it. `not_owner` is
/// `SERVICE_NOT_OWNER` for services and `NOTIFICATION_ACCESS_DENIED` for users.
pub fn transition_error(e: TransitionError, not_owner: &'static str) -> ApiError {
    match e {
        TransitionError::NotFound => ApiError::new(
            StatusCode::NOT_FOUND,
            NOTIFICATION_NOT_FOUND,
            "No notification has this id.",
        ),
        TransitionError::NotOwner => ApiError::new(
            StatusCode::FORBIDDEN,
            not_owner,
            "This notification is not yours.",
        ),
        TransitionError::Conflict(row) => state_conflict(&row),
        TransitionError::Store(e) => ApiError::from(e),
    }
}

/// 409 for a notification whose state allows no more changes.
pub fn state_conflict(row: &NotificationRow) -> ApiError {
    let (code, message) = match row.status() {
        NotificationStatus::Responded | NotificationStatus::Completed => (
            NOTIFICATION_ALREADY_RESPONDED,
            "The notification has already been answered.",
        ),
        NotificationStatus::Expired => (
            NOTIFICATION_EXPIRED,
            "The notification deadline has passed and no longer accepts responses.",
        ),
        NotificationStatus::Invalidated => (
            NOTIFICATION_INVALIDATED,
            "The service has invalidated this notification.",
        ),
        NotificationStatus::Created
        | NotificationStatus::Delivered
        | NotificationStatus::Acknowledged => (
            NOTIFICATION_STATE_CONFLICT,
            "The notification is not in a state this change starts from.",
        ),
    };
    let mut error = ApiError::new(StatusCode::CONFLICT, code, message)
        .with_detail("notification_id", row.id.clone())
        .with_detail("status", row.status.clone());
    if row.status() == NotificationStatus::Expired
        && let Some(deadline) = row.deadline
    {
        error = error.with_detail("expired_at", Timestamp::from_millis(deadline).to_rfc3339());
    }
    error
}
