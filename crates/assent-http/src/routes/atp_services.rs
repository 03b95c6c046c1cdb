//! ATP service registration: `POST /api/v1/services` (admin token).

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use assent_app::services;
use assent_core::AtpRegistrationInput;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::secret_response;
use crate::auth::{AdminCaller, ServiceCaller};
use crate::client_addr::ClientAddr;
use crate::error::ApiError;
use crate::json::JsonBody;
use crate::rate_limit::Operation;
use crate::state::AppState;

/// Fields are optional here so that a missing one is reported by name
/// (`MISSING_REQUIRED_FIELD`); the documented ones are required.
#[derive(Debug, Deserialize, ToSchema)]
pub struct RegisterServiceRequest {
    /// Human-readable name; its slug becomes the `service_id` (`Lovelace IDE` → `lovelace-ide`).
    #[schema(
        required = true,
        nullable = false,
        example = "Lovelace IDE",
        max_length = 100
    )]
    pub name: Option<String>,
    #[schema(
        required = true,
        nullable = false,
        max_length = 500,
        example = "AI-powered integrated development environment"
    )]
    pub description: Option<String>,
    /// HTTPS endpoint that receives users' responses (`notification.responded`).
    #[schema(
        required = true,
        nullable = false,
        example = "https://lovelace.dev/atp/webhook"
    )]
    pub callback_url: Option<String>,
    /// Shared secret for webhook signatures, 16 to 256 characters. Stored encrypted.
    #[schema(
        required = true,
        nullable = false,
        min_length = 16,
        max_length = 256,
        example = "your-secure-random-string"
    )]
    pub webhook_secret: Option<String>,
    /// Extension: an icon that client apps show next to the service's notifications.
    #[schema(nullable = false)]
    pub icon_url: Option<String>,
    /// Extension: the namespace that owns the service; defaults to `ASSENT_DEFAULT_NAMESPACE`.
    #[schema(
        nullable = false,
        example = "ada",
        pattern = "^[a-z0-9][a-z0-9-]{1,62}[a-z0-9]$"
    )]
    pub namespace: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RegisterServiceResponse {
    #[schema(example = "lovelace-ide")]
    pub service_id: String,
    /// The service's API key (`sk_live_` + 48 hex). Shown only in this response.
    #[schema(example = "sk_live_0123456789abcdef0123456789abcdef0123456789abcdef")]
    pub api_key: String,
    /// The submitted secret, echoed for confirmation.
    #[schema(example = "your-secure-random-string")]
    pub webhook_secret: String,
}

impl From<RegisterServiceRequest> for AtpRegistrationInput {
    fn from(r: RegisterServiceRequest) -> Self {
        Self {
            name: r.name,
            description: r.description,
            callback_url: r.callback_url,
            webhook_secret: r.webhook_secret,
            icon_url: r.icon_url,
            namespace: r.namespace,
        }
    }
}

/// Register a service.
///
/// Creates the service in the namespace named by the body (else the configured default), its
/// first API key, and a webhook endpoint for `callback_url` in the ATP format subscribed to
/// `notification.responded`, all in one transaction.
#[utoipa::path(post, path = "/api/v1/services", operation_id = "registerService", tag = "ATP services",
    request_body = RegisterServiceRequest,
    security(("adminToken" = [])),
    responses(
        (status = 201, description = "Registered", body = RegisterServiceResponse),
        (status = 400, description = "`MISSING_REQUIRED_FIELD` (with `details.field`), \
            `INVALID_CALLBACK_URL`, `INVALID_PARAMETER`, `INVALID_JSON`", body = crate::error::AtpError),
        (status = 401, description = "`AUTH_INVALID_TOKEN`", body = crate::error::AtpError),
        (status = 403, description = "`AUTH_INSUFFICIENT_PERMISSIONS`: not an admin token",
            body = crate::error::AtpError),
        (status = 409, description = "`SERVICE_ALREADY_EXISTS`, or `SERVICE_LIMIT_REACHED` when \
            the namespace has its quota of services", body = crate::error::AtpError),
        (status = 413, description = "`PAYLOAD_TOO_LARGE`", body = crate::error::AtpError),
        (status = 429, description = "`RATE_LIMIT_EXCEEDED` (10 an hour per address), with \
            `Retry-After`", body = crate::error::AtpError),
    ))]
pub async fn register(
    req: HttpRequest,
    admin: AdminCaller,
    state: web::Data<AppState>,
    body: JsonBody<RegisterServiceRequest>,
) -> Result<HttpResponse, ApiError> {
    // Per client address: the peer's, or the one trusted proxies forwarded.
    state
        .limiter
        .check(Operation::Registration, &ClientAddr::of(&req).to_string())
        .await?;
    let input = AtpRegistrationInput::from(body.into_inner());
    let registered = services::register_atp(&state.app, admin.token_id, input).await?;
    Ok(
        secret_response(StatusCode::CREATED).json(RegisterServiceResponse {
            service_id: registered.service.slug,
            api_key: registered.api_key,
            webhook_secret: registered.webhook_secret,
        }),
    )
}

/// The calling service, as its API key identifies it.
#[derive(Debug, Serialize, ToSchema)]
pub struct ServiceIdentity {
    /// The ATP service id (the slug).
    #[schema(example = "lovelace-ide")]
    pub service_id: String,
    /// The service's UUID (its id in `/v1/services/{id}`).
    pub id: String,
    #[schema(example = "ada")]
    pub namespace: String,
    #[schema(example = "Lovelace IDE")]
    pub name: String,
}

/// Who am I: checks a service API key and names its service.
///
/// A cheap authenticated call for SDKs to validate their credentials (a revoked key fails on
/// the very next request). Also keeps the key's `last_used_at`.
#[utoipa::path(get, path = "/api/v1/services/me", operation_id = "getServiceIdentity", tag = "ATP services",
    security(("serviceApiKey" = [])),
    responses(
        (status = 200, description = "The key is active", body = ServiceIdentity),
        (status = 401, description = "`AUTH_INVALID_TOKEN`: no key, or an unknown or revoked one",
            body = crate::error::AtpError),
        (status = 403, description = "`AUTH_INSUFFICIENT_PERMISSIONS`: not a service API key",
            body = crate::error::AtpError),
    ))]
pub async fn me(caller: ServiceCaller) -> HttpResponse {
    // The key check joined the service, so it is read already; a deleted one fails that check.
    HttpResponse::Ok().json(ServiceIdentity {
        service_id: caller.slug,
        id: caller.service_id,
        namespace: caller.namespace,
        name: caller.name,
    })
}
