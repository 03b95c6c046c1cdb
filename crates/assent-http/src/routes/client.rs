//! ATP notifications, the client side (user token or owner session): list, read, acknowledge
//! and answer the notifications addressed to the caller's namespace.

use actix_web::{HttpResponse, web};
use assent_app::notifications;
use assent_app::pagination::finish;
use assent_core::Timestamp;
use assent_core::notification::Notification;
use assent_core::notification::parse_status_filter;
use assent_store::NotificationQuery;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::{IntoParams, ToSchema};

use crate::auth::UserCaller;
use crate::error::AtpError;
use crate::error::{ApiError, code};
use crate::json::{JsonBody, required_string};
use crate::rate_limit::Operation;
use crate::state::AppState;

pub const DEFAULT_LIMIT: i64 = 50;
pub const MAX_LIMIT: i64 = 100;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// States, comma-separated; `pending` means created, delivered or acknowledged (and not
    /// past its deadline).
    #[param(
        pattern = r"^(pending|created|delivered|acknowledged|responded|completed|expired|invalidated)(,(pending|created|delivered|acknowledged|responded|completed|expired|invalidated))*$"
    )]
    pub status: Option<String>,
    /// Page size, 1 to 100 (default 50).
    #[param(value_type = Option<i64>, minimum = 1, maximum = 100)]
    pub limit: Option<String>,
    /// `pagination.next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Only this service's (its ATP `service_id`).
    pub service_id: Option<String>,
    /// Only this `context.project`.
    pub project: Option<String>,
    /// `newest` (default) or `oldest`.
    #[param(schema_with = sort_order)]
    pub sort: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Pagination {
    pub next_cursor: Option<String>,
    pub has_more: bool,
    /// How many notifications match the filters in all.
    pub total_count: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct NotificationPage {
    #[schema(value_type = Vec<super::shapes::NotificationObject>)]
    pub notifications: Vec<Value>,
    pub pagination: Pagination,
}

fn sort_order() -> utoipa::openapi::Object {
    crate::openapi::one_of(["newest", "oldest"])
}

fn invalid_parameter(field: &str, message: impl Into<String>) -> ApiError {
    ApiError::bad_request(code::INVALID_PARAMETER, message).with_detail("field", field)
}

impl ListQuery {
    fn to_query(&self) -> Result<NotificationQuery, ApiError> {
        let statuses = match self.status.as_deref() {
            None => Vec::new(),
            Some(text) => parse_status_filter(text).map_err(|name| {
                invalid_parameter(
                    "status",
                    format!(
                        "`{name}` is not a status: use pending, created, delivered, \
                         acknowledged, responded, completed, expired or invalidated."
                    ),
                )
            })?,
        };
        let limit = match self.limit.as_deref() {
            None => DEFAULT_LIMIT,
            Some(raw) => raw
                .parse::<i64>()
                .ok()
                .filter(|n| (1..=MAX_LIMIT).contains(n))
                .ok_or_else(|| {
                    invalid_parameter("limit", "The limit must be a number from 1 to 100.")
                })?,
        };
        let oldest_first = match self.sort.as_deref() {
            None | Some("newest") => false,
            Some("oldest") => true,
            Some(_) => {
                return Err(invalid_parameter(
                    "sort",
                    "The sort must be `newest` or `oldest`.",
                ));
            }
        };
        let after = self
            .cursor
            .as_deref()
            .map(|c| {
                c.split_once('.')
                    .and_then(|(at, id)| Some((at.parse::<i64>().ok()?, id.to_owned())))
                    .ok_or_else(|| {
                        invalid_parameter("cursor", "The cursor is not one this server issued.")
                    })
            })
            .transpose()?;
        Ok(NotificationQuery {
            statuses,
            service: self.service_id.clone(),
            project: self.project.clone(),
            oldest_first,
            after,
            // One more than the page: it tells whether there is a next page.
            limit: limit + 1,
        })
    }
}

/// The notifications addressed to the caller, newest first by default.
#[utoipa::path(get, path = "/api/v1/client/notifications", operation_id = "listClientNotifications", tag = "ATP client",
    params(ListQuery),
    security(("userToken" = []), ("sessionCookie" = [])),
    responses(
        (status = 200, description = "One page; `created` ones are now `delivered`", body = NotificationPage),
        (status = 400, description = "`INVALID_PARAMETER` (with `details.field`)", body = AtpError),
        (status = 401, description = "`AUTH_INVALID_TOKEN`", body = AtpError),
        (status = 403, description = "`AUTH_INSUFFICIENT_PERMISSIONS`: not a user token", body = AtpError),
        (status = 429, description = "`RATE_LIMIT_EXCEEDED` (60 a minute per user)", body = AtpError),
    ))]
pub async fn list(
    user: UserCaller,
    state: web::Data<AppState>,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let query = query.into_inner().to_query()?;
    state
        .limiter
        .check(Operation::Polling, &user.account.id)
        .await?;
    let page_size = query.limit - 1;
    let (mut rows, total) = notifications::list_for(&state.app, &user.account, query).await?;
    let next_cursor = finish(&mut rows, page_size, |r| {
        format!("{}.{}", r.created_at.as_millis(), r.id)
    });
    Ok(HttpResponse::Ok().json(NotificationPage {
        notifications: rows.iter().map(Notification::to_json).collect(),
        pagination: Pagination {
            has_more: next_cursor.is_some(),
            next_cursor,
            total_count: total,
        },
    }))
}

/// One notification addressed to the caller.
#[utoipa::path(get, path = "/api/v1/client/notifications/{id}", operation_id = "getClientNotification", tag = "ATP client",
    params(("id" = String, Path, description = "The notification's id")),
    security(("userToken" = []), ("sessionCookie" = [])),
    responses(
        (status = 200, description = "The notification object", body = super::shapes::NotificationObject),
        (status = 401, description = "`AUTH_INVALID_TOKEN`", body = AtpError),
        (status = 403, description = "`NOTIFICATION_ACCESS_DENIED`: addressed to someone else", body = AtpError),
        (status = 404, description = "`NOTIFICATION_NOT_FOUND`", body = AtpError),
        (status = 429, description = "`RATE_LIMIT_EXCEEDED`", body = AtpError),
    ))]
pub async fn get(
    user: UserCaller,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    state
        .limiter
        .check(Operation::Polling, &user.account.id)
        .await?;
    let row = notifications::get_for(&state.app, &user.account, id.into_inner()).await?;
    Ok(HttpResponse::Ok().json(row.to_json()))
}

/// Extension: the user has seen the notification (`created`/`delivered` → `acknowledged`).
/// Acknowledging an acknowledged notification changes nothing.
#[utoipa::path(post, path = "/api/v1/client/notifications/{id}/acknowledge", operation_id = "acknowledgeNotification", tag = "ATP client",
    params(("id" = String, Path, description = "The notification's id")),
    security(("userToken" = []), ("sessionCookie" = [])),
    responses(
        (status = 200, description = "The notification, acknowledged", body = super::shapes::NotificationObject),
        (status = 401, description = "`AUTH_INVALID_TOKEN`", body = AtpError),
        (status = 403, description = "`NOTIFICATION_ACCESS_DENIED`", body = AtpError),
        (status = 404, description = "`NOTIFICATION_NOT_FOUND`", body = AtpError),
        (status = 409, description = "`NOTIFICATION_ALREADY_RESPONDED`, `NOTIFICATION_EXPIRED`, \
            `NOTIFICATION_INVALIDATED`", body = AtpError),
    ))]
pub async fn acknowledge(
    user: UserCaller,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let row = notifications::acknowledge(&state.app, user.namespace().to_owned(), id.into_inner())
        .await?;
    Ok(HttpResponse::Ok().json(row.to_json()))
}

/// The body of `POST /api/v1/client/respond` (documentation only).
#[derive(Debug, ToSchema)]
#[allow(
    dead_code,
    reason = "describes the request body in the OpenAPI document"
)]
pub struct RespondRequest {
    notification_id: String,
    /// One of the notification's `actions[].id`.
    action_id: String,
    /// `null` for `simple`; a boolean for `binary`; an option value for `choice`; an array of
    /// option values for `multi_choice`; a string for `text`; a number for `number`.
    #[schema(value_type = Object)]
    response_data: Option<Value>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Responded {
    pub notification_id: String,
    pub action_id: String,
    #[schema(example = "responded")]
    pub status: String,
    #[schema(value_type = String)]
    pub responded_at: Timestamp,
}

/// Answer a notification. Exactly one answer is recorded; it reaches the service's callback
/// as a signed ATP webhook.
#[utoipa::path(post, path = "/api/v1/client/respond", operation_id = "respondToNotification", tag = "ATP client",
    request_body = RespondRequest,
    security(("userToken" = []), ("sessionCookie" = [])),
    responses(
        (status = 200, description = "Recorded; the webhook is on its way", body = Responded),
        (status = 400, description = "`MISSING_REQUIRED_FIELD`, `INVALID_ACTION_ID`, \
            `INVALID_RESPONSE_DATA` (wrong JSON type for the response type), `INVALID_PARAMETER`, `INVALID_JSON`", body = AtpError),
        (status = 401, description = "`AUTH_INVALID_TOKEN`", body = AtpError),
        (status = 403, description = "`NOTIFICATION_ACCESS_DENIED`; `CSRF_REJECTED` for a cookie from another origin", body = AtpError),
        (status = 404, description = "`NOTIFICATION_NOT_FOUND`", body = AtpError),
        (status = 409, description = "`NOTIFICATION_EXPIRED`, `NOTIFICATION_INVALIDATED`, \
            `NOTIFICATION_ALREADY_RESPONDED`", body = AtpError),
        (status = 422, description = "`CONSTRAINT_VIOLATION`: not an option, outside min/max, \
            too long or short, not whole", body = AtpError),
        (status = 429, description = "`RATE_LIMIT_EXCEEDED` (100 a minute per user)", body = AtpError),
    ))]
pub async fn respond(
    user: UserCaller,
    state: web::Data<AppState>,
    body: JsonBody<Map<String, Value>>,
) -> Result<HttpResponse, ApiError> {
    state
        .limiter
        .check(Operation::Response, &user.account.id)
        .await?;
    let body = body.into_inner();
    let notification_id = required_string(&body, "notification_id")?;
    let action_id = required_string(&body, "action_id")?;
    let data = body.get("response_data").cloned();
    let row = notifications::respond(&state.app, &user.account, notification_id, &action_id, data)
        .await?;
    Ok(HttpResponse::Ok().json(Responded {
        notification_id: row.id,
        action_id,
        status: row.status.as_str().to_owned(),
        responded_at: row.updated_at,
    }))
}
