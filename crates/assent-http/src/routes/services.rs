//! Sigilum-style service management for namespace owners (`/v1/services…`): services, their
//! API keys and webhooks. Every route is scoped to the caller's namespace; another owner's id
//! is a 404, exactly like an id that does not exist.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use assent_app::{keys, services, webhooks};
use assent_core::{EndpointFormat, EventType, Service, ServiceInput, Timestamp};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::secret_response;
use crate::auth::Owner;
use crate::error::ApiError;
use crate::error::SigilumError;
use crate::json::{JsonBody, OptionalJsonBody, present};
use crate::state::AppState;

#[derive(Debug, Serialize, ToSchema)]
pub struct ServiceView {
    /// A UUID.
    pub id: String,
    /// Unique in the namespace; the ATP `service_id`.
    #[schema(example = "lovelace-ide")]
    pub slug: String,
    #[schema(example = "Lovelace IDE")]
    pub name: String,
    pub description: Option<String>,
    pub icon_url: Option<String>,
    #[schema(value_type = String)]
    pub created_at: Timestamp,
    #[schema(value_type = String)]
    pub updated_at: Timestamp,
}

impl From<Service> for ServiceView {
    fn from(s: Service) -> Self {
        Self {
            id: s.id,
            slug: s.slug,
            name: s.name,
            description: s.description,
            icon_url: s.icon_url,
            created_at: s.created_at,
            updated_at: s.updated_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ServiceList {
    pub services: Vec<ServiceView>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct CreateServiceRequest {
    /// 1 to 64 of `a-z`, `0-9` and `-`, starting and ending with a letter or digit.
    #[schema(
        required = true,
        nullable = false,
        example = "lovelace-ide",
        pattern = "^[a-z0-9]([a-z0-9-]{0,62}[a-z0-9])?$"
    )]
    pub slug: Option<String>,
    #[schema(
        required = true,
        nullable = false,
        max_length = 100,
        example = "Lovelace IDE"
    )]
    pub name: Option<String>,
    #[schema(nullable = false, max_length = 500)]
    pub description: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct UpdateServiceRequest {
    #[schema(nullable = false, max_length = 100)]
    #[serde(default, deserialize_with = "present")]
    pub name: Option<Option<String>>,
    /// `null` or an empty string clears the description.
    #[schema(value_type = Option<String>, max_length = 500)]
    #[serde(default, deserialize_with = "present")]
    pub description: Option<Option<String>>,
}

/// The owner's services, oldest first (including those registered over ATP).
#[utoipa::path(get, path = "/v1/services", operation_id = "listServices", tag = "services",
    security(("sessionToken" = []), ("sessionCookie" = [])),
    responses(
        (status = 200, description = "The services", body = ServiceList),
        (status = 401, description = "`UNAUTHORIZED`", body = SigilumError),
    ))]
pub async fn list(owner: Owner, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let services = services::list(&state.app, &owner.account).await?;
    Ok(HttpResponse::Ok().json(ServiceList {
        services: services.into_iter().map(ServiceView::from).collect(),
    }))
}

/// Register a service in the owner's namespace.
#[utoipa::path(post, path = "/v1/services", operation_id = "createService", tag = "services", request_body = CreateServiceRequest,
    security(("sessionToken" = []), ("sessionCookie" = [])),
    responses(
        (status = 201, description = "Created", body = ServiceView),
        (status = 400, description = "`VALIDATION_ERROR` naming the field, `INVALID_JSON`", body = SigilumError),
        (status = 401, description = "`UNAUTHORIZED`", body = SigilumError),
        (status = 403, description = "`CSRF_REJECTED`", body = SigilumError),
        (status = 409, description = "`SERVICE_ALREADY_EXISTS` (the slug is taken in the namespace) \
            or `SERVICE_LIMIT_REACHED`", body = SigilumError),
    ))]
pub async fn create(
    owner: Owner,
    state: web::Data<AppState>,
    body: JsonBody<CreateServiceRequest>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let input = ServiceInput {
        slug: body.slug,
        name: body.name,
        description: body.description,
    };
    let created = services::create(&state.app, &owner.account, input).await?;
    Ok(HttpResponse::Created().json(ServiceView::from(created)))
}

/// One of the owner's services.
#[utoipa::path(get, path = "/v1/services/{service_id}", operation_id = "getService", tag = "services",
    params(("service_id" = String, Path, description = "The service's UUID")),
    security(("sessionToken" = []), ("sessionCookie" = [])),
    responses(
        (status = 200, description = "The service", body = ServiceView),
        (status = 401, description = "`UNAUTHORIZED`", body = SigilumError),
        (status = 404, description = "`NOT_FOUND`, also for another owner's service", body = SigilumError),
    ))]
pub async fn get(
    owner: Owner,
    state: web::Data<AppState>,
    service_id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let service = services::get(&state.app, &owner.account, service_id.into_inner()).await?;
    Ok(HttpResponse::Ok().json(ServiceView::from(service)))
}

/// Change a service's name or description (the slug is permanent).
#[utoipa::path(patch, path = "/v1/services/{service_id}", operation_id = "updateService", tag = "services",
    params(("service_id" = String, Path, description = "The service's UUID")),
    request_body = UpdateServiceRequest,
    security(("sessionToken" = []), ("sessionCookie" = [])),
    responses(
        (status = 200, description = "The updated service", body = ServiceView),
        (status = 400, description = "`VALIDATION_ERROR`: a bad field, or nothing to change", body = SigilumError),
        (status = 401, description = "`UNAUTHORIZED`", body = SigilumError),
        (status = 403, description = "`CSRF_REJECTED`", body = SigilumError),
        (status = 404, description = "`NOT_FOUND`", body = SigilumError),
    ))]
pub async fn update(
    owner: Owner,
    state: web::Data<AppState>,
    service_id: web::Path<String>,
    body: JsonBody<UpdateServiceRequest>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let service = services::change(
        &state.app,
        &owner.account,
        service_id.into_inner(),
        body.name,
        body.description,
    )
    .await?;
    Ok(HttpResponse::Ok().json(ServiceView::from(service)))
}

/// Delete a service with its API keys and webhooks. This cannot be undone.
#[utoipa::path(delete, path = "/v1/services/{service_id}", operation_id = "deleteService", tag = "services",
    params(("service_id" = String, Path, description = "The service's UUID")),
    security(("sessionToken" = []), ("sessionCookie" = [])),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "`UNAUTHORIZED`", body = SigilumError),
        (status = 403, description = "`CSRF_REJECTED`", body = SigilumError),
        (status = 404, description = "`NOT_FOUND`", body = SigilumError),
    ))]
pub async fn delete(
    owner: Owner,
    state: web::Data<AppState>,
    service_id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    services::delete(&state.app, &owner.account, service_id.into_inner()).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ApiKeyView {
    #[schema(example = "key_3f9a0c1d2e4b5a6978695a4b")]
    pub id: String,
    pub name: String,
    /// The key's first 12 characters, to tell keys apart.
    #[schema(example = "sk_live_52af")]
    pub prefix: String,
    #[schema(value_type = String)]
    pub created_at: Timestamp,
    #[schema(value_type = Option<String>)]
    pub last_used_at: Option<Timestamp>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ApiKeyList {
    pub keys: Vec<ApiKeyView>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedApiKey {
    /// The full key (`sk_live_` + 48 hex). Shown only in this response.
    pub key: String,
    pub id: String,
    pub prefix: String,
    pub name: String,
    #[schema(value_type = String)]
    pub created_at: Timestamp,
}

impl From<keys::MintedApiKey> for CreatedApiKey {
    fn from(m: keys::MintedApiKey) -> Self {
        Self {
            key: m.key,
            id: m.record.id,
            prefix: m.record.prefix,
            name: m.record.name,
            created_at: m.record.created_at,
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct CreateApiKeyRequest {
    #[schema(nullable = false, max_length = 100, example = "production")]
    pub name: Option<String>,
}

/// A service's active API keys, newest first. Never the keys themselves.
#[utoipa::path(get, path = "/v1/services/{service_id}/keys", operation_id = "listServiceKeys", tag = "services",
    params(("service_id" = String, Path, description = "The service's UUID")),
    security(("sessionToken" = []), ("sessionCookie" = [])),
    responses(
        (status = 200, description = "The keys", body = ApiKeyList),
        (status = 401, description = "`UNAUTHORIZED`", body = SigilumError),
        (status = 404, description = "`NOT_FOUND`", body = SigilumError),
    ))]
pub async fn list_keys(
    owner: Owner,
    state: web::Data<AppState>,
    service_id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let keys = keys::list(&state.app, &owner.account, service_id.into_inner()).await?;
    Ok(HttpResponse::Ok().json(ApiKeyList {
        keys: keys
            .into_iter()
            .map(|k| ApiKeyView {
                id: k.id,
                name: k.name,
                prefix: k.prefix,
                created_at: k.created_at,
                last_used_at: k.last_used_at,
            })
            .collect(),
    }))
}

/// Generate an API key. The key is shown once; store it securely.
#[utoipa::path(post, path = "/v1/services/{service_id}/keys", operation_id = "createServiceKey", tag = "services",
    params(("service_id" = String, Path, description = "The service's UUID")),
    request_body = Option<CreateApiKeyRequest>,
    security(("sessionToken" = []), ("sessionCookie" = [])),
    responses(
        (status = 201, description = "Created", body = CreatedApiKey),
        (status = 400, description = "`VALIDATION_ERROR`", body = SigilumError),
        (status = 401, description = "`UNAUTHORIZED`", body = SigilumError),
        (status = 403, description = "`CSRF_REJECTED`", body = SigilumError),
        (status = 404, description = "`NOT_FOUND`", body = SigilumError),
        (status = 409, description = "`KEY_LIMIT_REACHED`", body = SigilumError),
    ))]
pub async fn create_key(
    owner: Owner,
    state: web::Data<AppState>,
    service_id: web::Path<String>,
    body: OptionalJsonBody<CreateApiKeyRequest>,
) -> Result<HttpResponse, ApiError> {
    let name = body.into_inner().and_then(|b| b.name);
    let minted = keys::mint(&state.app, &owner.account, service_id.into_inner(), name).await?;
    Ok(secret_response(StatusCode::CREATED).json(CreatedApiKey::from(minted)))
}

/// Revoke an API key: it stops working on the very next request.
#[utoipa::path(delete, path = "/v1/services/{service_id}/keys/{key_id}", operation_id = "revokeServiceKey", tag = "services",
    params(
        ("service_id" = String, Path, description = "The service's UUID"),
        ("key_id" = String, Path, description = "The key's id"),
    ),
    security(("sessionToken" = []), ("sessionCookie" = [])),
    responses(
        (status = 204, description = "Revoked"),
        (status = 401, description = "`UNAUTHORIZED`", body = SigilumError),
        (status = 403, description = "`CSRF_REJECTED`", body = SigilumError),
        (status = 404, description = "`NOT_FOUND`: no such service, or no such active key", body = SigilumError),
    ))]
pub async fn revoke_key(
    owner: Owner,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (service_id, key_id) = path.into_inner();
    keys::revoke(&state.app, &owner.account, service_id, key_id).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookView {
    #[schema(example = "wh_3f9a0c1d2e4b5a6978695a4b")]
    pub id: String,
    pub url: String,
    #[schema(value_type = Vec<String>, example = json!(["request.approved"]))]
    pub events: Vec<EventType>,
    /// `sigilum` or `standard` (Standard Webhooks) for endpoints made here, `atp` for an ATP
    /// service's callback.
    #[schema(value_type = String, example = "standard")]
    pub format: EndpointFormat,
    /// With asymmetric signing on: the Ed25519 public key (`whpk_…`) whose `v1a` signatures
    /// each delivery carries, also published in the namespace's DID document and JWKS.
    #[schema(example = "whpk_MCowBQYDK2VwAyEA8DtVTmKB1wNqmJgJMqQZ1sQ3tIeK5f0CzWmXQ3g1k6Y=")]
    pub public_key: Option<String>,
    pub enabled: bool,
    /// Its health: `healthy`, `failing` (enabled, and its last attempts failed) or `disabled`.
    #[schema(example = "failing")]
    pub status: &'static str,
    /// Since when every attempt has failed; null after a success.
    #[schema(value_type = Option<String>)]
    pub failing_since: Option<Timestamp>,
    /// Attempts in a row that failed; 0 after a success.
    #[schema(example = 3)]
    pub consecutive_failures: u32,
    /// The last failed attempt's error while failing: `HTTP 503` for a status, else the
    /// failure in a sentence (never a secret or the receiver's body); null after a success.
    #[schema(example = "HTTP 500")]
    pub last_error: Option<String>,
    /// Why it is disabled: `gone` (a 410), `failing` (failing too long) or `owner`.
    pub disabled_reason: Option<String>,
    #[schema(value_type = Option<String>)]
    pub disabled_at: Option<Timestamp>,
    #[schema(value_type = String)]
    pub created_at: Timestamp,
    #[schema(value_type = String)]
    pub updated_at: Timestamp,
}

impl From<assent_store::WebhookEndpoint> for WebhookView {
    fn from(e: assent_store::WebhookEndpoint) -> Self {
        Self {
            status: e.status().as_str(),
            id: e.id,
            url: e.url,
            events: e.events,
            format: e.format,
            public_key: e.signing_key.map(|k| k.public_key),
            enabled: e.enabled,
            failing_since: e.failing_since,
            consecutive_failures: e.consecutive_failures,
            last_error: e.last_error,
            disabled_reason: e.disabled_reason,
            disabled_at: e.disabled_at,
            created_at: e.created_at,
            updated_at: e.updated_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookList {
    pub webhooks: Vec<WebhookView>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct CreateWebhookRequest {
    /// An https URL that resolves to public addresses.
    #[schema(
        required = true,
        nullable = false,
        example = "https://api.example.com/assent/events"
    )]
    pub url: Option<String>,
    /// Event types to receive; every `request.*` event when absent.
    #[schema(nullable = false, example = json!(["request.approved", "request.revoked"]))]
    pub events: Option<Vec<String>>,
    /// `sigilum` (the default: `X-Sigilum-*` headers, `t=…,v1=<hex>`) or `standard`
    /// (Standard Webhooks: `webhook-id`, `webhook-timestamp`, `webhook-signature`).
    #[schema(nullable = false, example = "standard")]
    pub format: Option<String>,
    /// With the `standard` format: sign with an Ed25519 key too (`v1a`), so receivers can
    /// verify with its public key alone.
    #[serde(default)]
    pub asymmetric: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedWebhook {
    pub id: String,
    pub url: String,
    #[schema(value_type = Vec<String>)]
    pub events: Vec<EventType>,
    #[schema(value_type = String, example = "standard")]
    pub format: EndpointFormat,
    /// The signing secret (`whsec_…`). Shown only in this response.
    pub secret: String,
    /// With asymmetric signing: the Ed25519 public key (`whpk_…`).
    pub public_key: Option<String>,
}

impl From<webhooks::AddedWebhook> for CreatedWebhook {
    fn from(a: webhooks::AddedWebhook) -> Self {
        Self {
            id: a.endpoint.id,
            url: a.endpoint.url,
            events: a.endpoint.events,
            format: a.endpoint.format,
            secret: a.secret,
            public_key: a.endpoint.signing_key.map(|k| k.public_key),
        }
    }
}

/// A service's webhooks (the ATP callback among them).
#[utoipa::path(get, path = "/v1/services/{service_id}/webhooks", operation_id = "listWebhooks", tag = "services",
    params(("service_id" = String, Path, description = "The service's UUID")),
    security(("sessionToken" = []), ("sessionCookie" = [])),
    responses(
        (status = 200, description = "The webhooks", body = WebhookList),
        (status = 401, description = "`UNAUTHORIZED`", body = SigilumError),
        (status = 404, description = "`NOT_FOUND`", body = SigilumError),
    ))]
pub async fn list_webhooks(
    owner: Owner,
    state: web::Data<AppState>,
    service_id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let endpoints = webhooks::list(&state.app, &owner.account, service_id.into_inner()).await?;
    Ok(HttpResponse::Ok().json(WebhookList {
        webhooks: endpoints.into_iter().map(WebhookView::from).collect(),
    }))
}

/// Add a webhook. The server generates its signing secret and shows it once.
#[utoipa::path(post, path = "/v1/services/{service_id}/webhooks", operation_id = "createWebhook", tag = "services",
    params(("service_id" = String, Path, description = "The service's UUID")),
    request_body = CreateWebhookRequest,
    security(("sessionToken" = []), ("sessionCookie" = [])),
    responses(
        (status = 201, description = "Created", body = CreatedWebhook),
        (status = 400, description = "`VALIDATION_ERROR`, `INVALID_WEBHOOK_URL`, `INVALID_EVENT_TYPE`",
            body = SigilumError),
        (status = 401, description = "`UNAUTHORIZED`", body = SigilumError),
        (status = 403, description = "`CSRF_REJECTED`", body = SigilumError),
        (status = 404, description = "`NOT_FOUND`", body = SigilumError),
        (status = 409, description = "`WEBHOOK_LIMIT_REACHED`", body = SigilumError),
    ))]
pub async fn create_webhook(
    owner: Owner,
    state: web::Data<AppState>,
    service_id: web::Path<String>,
    body: JsonBody<CreateWebhookRequest>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let added = webhooks::add(
        &state.app,
        &owner.account,
        service_id.into_inner(),
        webhooks::NewWebhook {
            url: body.url,
            events: body.events,
            format: body.format,
            asymmetric: body.asymmetric,
        },
    )
    .await?;
    Ok(secret_response(StatusCode::CREATED).json(CreatedWebhook::from(added)))
}

/// Delete a webhook: no further events are delivered to it.
#[utoipa::path(delete, path = "/v1/services/{service_id}/webhooks/{webhook_id}", operation_id = "deleteWebhook", tag = "services",
    params(
        ("service_id" = String, Path, description = "The service's UUID"),
        ("webhook_id" = String, Path, description = "The webhook's id"),
    ),
    security(("sessionToken" = []), ("sessionCookie" = [])),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "`UNAUTHORIZED`", body = SigilumError),
        (status = 403, description = "`CSRF_REJECTED`", body = SigilumError),
        (status = 404, description = "`NOT_FOUND`", body = SigilumError),
    ))]
pub async fn delete_webhook(
    owner: Owner,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (service_id, webhook_id) = path.into_inner();
    webhooks::delete(&state.app, &owner.account, service_id, webhook_id).await?;
    Ok(HttpResponse::NoContent().finish())
}
