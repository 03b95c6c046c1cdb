//! An owner's channels (`/v1/auth/channels`): where assent reaches them (email, Slack, Discord,
//! ntfy, Web Push), the log of messages sent (`/v1/auth/messages`), and the server's VAPID
//! public key a browser subscribes with (`/v1/auth/web-push`).

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use assent_app::channels::{self, AddInput, PushKeysInput, UpdateInput};
use assent_core::Timestamp;
use assent_store::{Channel, MessageRecord};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::Owner;
use crate::error::{ApiError, SigilumError};
use crate::json::JsonBody;
use crate::state::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/v1/auth/channels")
            .route(web::get().to(list))
            .route(web::post().to(add)),
    )
    .service(web::resource("/v1/auth/channels/verify").route(web::post().to(verify)))
    .service(
        web::resource("/v1/auth/channels/{channel_id}")
            .route(web::patch().to(update))
            .route(web::delete().to(remove)),
    )
    .service(web::resource("/v1/auth/channels/{channel_id}/test").route(web::post().to(test)))
    .service(
        web::resource("/v1/auth/channels/{channel_id}/verification")
            .route(web::post().to(resend_verification)),
    )
    .service(web::resource("/v1/auth/messages").route(web::get().to(messages)))
    .service(web::resource("/v1/auth/web-push").route(web::get().to(web_push_key)));
}

/// A channel as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct ChannelView {
    #[schema(example = "chn_3f9a0c1b2d4e5f60718293a4")]
    pub id: String,
    /// `email`, `slack`, `discord`, `ntfy` or `web_push`.
    #[schema(example = "email")]
    pub kind: String,
    /// The email address, the chat webhook URL, or the push subscription's endpoint.
    #[schema(example = "ada@example.com")]
    pub address: String,
    /// The events it gets.
    #[schema(example = json!(["claim.submitted"]))]
    pub events: Vec<String>,
    /// `HH:MM-HH:MM` in UTC, or null.
    #[schema(example = "22:00-07:00")]
    pub quiet_hours: Option<String>,
    /// At most one message per this many seconds; what comes meanwhile is one digest.
    pub throttle_seconds: u32,
    /// How long before a pending claim or notification expires it gets an `item.expiring`
    /// reminder.
    pub expiry_lead_seconds: u32,
    /// Whether it gets messages (an email address is verified by the link sent to it).
    pub verified: bool,
    #[schema(value_type = Option<String>)]
    pub verified_at: Option<Timestamp>,
    /// Whether it stopped getting messages for good (its push subscription is gone: add the
    /// device again).
    pub disabled: bool,
    /// Why it was disabled, or null.
    #[schema(example = "the push service says the subscription is gone (HTTP 410)")]
    pub disabled_reason: Option<String>,
    #[schema(value_type = String)]
    pub created_at: Timestamp,
}

impl From<Channel> for ChannelView {
    fn from(c: Channel) -> Self {
        Self {
            id: c.id,
            kind: c.kind.as_str().to_owned(),
            address: c.address,
            events: c.events.iter().map(|e| e.as_str().to_owned()).collect(),
            quiet_hours: c.quiet_hours.map(|q| q.to_text()),
            throttle_seconds: c.throttle_seconds,
            expiry_lead_seconds: c.expiry_lead_seconds,
            verified: c.verified_at.is_some(),
            verified_at: c.verified_at,
            disabled: c.disabled_at.is_some(),
            disabled_reason: c.disabled_reason,
            created_at: c.created_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ChannelList {
    pub channels: Vec<ChannelView>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct AddChannelRequest {
    /// `email`, `slack`, `discord`, `ntfy` or `web_push`.
    #[schema(required = true, nullable = false, example = "email")]
    pub kind: Option<String>,
    /// An email address, the chat service's webhook URL, or the push subscription's
    /// `endpoint` (https, public).
    #[schema(required = true, nullable = false, example = "ada@example.com")]
    pub address: Option<String>,
    /// For `web_push` only, and required there: the subscription's keys, as
    /// `PushSubscription.toJSON().keys` gives them.
    #[schema(nullable = false)]
    pub keys: Option<PushKeysRequest>,
    /// Event names; every one when left out.
    #[schema(nullable = false, example = json!(["claim.submitted"]))]
    pub events: Option<Vec<String>>,
    /// `HH:MM-HH:MM` in UTC: nothing is sent then (it waits for the end).
    #[schema(nullable = false, example = "22:00-07:00")]
    pub quiet_hours: Option<String>,
    /// 0 to 86400; 60 when left out.
    #[schema(nullable = false, minimum = 0, maximum = 86400)]
    pub throttle_seconds: Option<i64>,
    /// How long before a pending item expires to remind (`item.expiring`): 60 to 86400; 600
    /// when left out.
    #[schema(nullable = false, minimum = 60, maximum = 86400)]
    pub expiry_lead_seconds: Option<i64>,
}

/// A browser push subscription's keys, base64url.
#[derive(Debug, Deserialize, ToSchema)]
pub struct PushKeysRequest {
    /// The browser's P-256 public key (65 bytes, uncompressed).
    #[schema(
        required = true,
        nullable = false,
        example = "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4"
    )]
    pub p256dh: Option<String>,
    /// The subscription's authentication secret (16 bytes).
    #[schema(required = true, nullable = false, example = "BTBZMqHH6r4Tts7J_aSIgg")]
    pub auth: Option<String>,
}

/// The server's Web Push identity.
#[derive(Debug, Serialize, ToSchema)]
pub struct WebPushKey {
    /// The VAPID public key (base64url, 65 bytes): `applicationServerKey` for
    /// `pushManager.subscribe`.
    #[schema(
        example = "BP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A8"
    )]
    pub vapid_public_key: String,
}

/// What to change of a channel; what is left out stays as it is.
#[derive(Debug, Deserialize, ToSchema)]
pub struct UpdateChannelRequest {
    /// Event names (at least one).
    #[schema(nullable = false, example = json!(["claim.submitted"]))]
    pub events: Option<Vec<String>>,
    /// `HH:MM-HH:MM` in UTC; `""` turns quiet hours off.
    #[schema(nullable = false, example = "22:00-07:00")]
    pub quiet_hours: Option<String>,
    /// 0 to 86400.
    #[schema(nullable = false, minimum = 0, maximum = 86400)]
    pub throttle_seconds: Option<i64>,
    /// 60 to 86400. Reminders already scheduled keep their due time.
    #[schema(nullable = false, minimum = 60, maximum = 86400)]
    pub expiry_lead_seconds: Option<i64>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct VerifyChannelRequest {
    /// The token of the verification link (the last part of its URL).
    #[schema(required = true, nullable = false)]
    pub token: Option<String>,
}

/// A message just queued.
#[derive(Debug, Serialize, ToSchema)]
pub struct QueuedMessage {
    #[schema(example = "msg_3f9a0c1b2d4e5f60718293a4")]
    pub message_id: String,
}

/// One message of the sent log.
#[derive(Debug, Serialize, ToSchema)]
pub struct MessageView {
    pub id: String,
    pub channel_id: String,
    /// The event (`claim.submitted`, `notification.created`, `endpoint.failing`…), or
    /// `channel.verify` or `channel.test`.
    pub topic: String,
    /// `pending`, `sent`, `skipped` (nothing left to tell) or `exhausted` (gave up).
    pub status: String,
    pub attempt_count: u32,
    /// How many items it carried (a digest carries many).
    pub item_count: u32,
    pub last_error: Option<String>,
    #[schema(value_type = String)]
    pub created_at: Timestamp,
    #[schema(value_type = Option<String>)]
    pub sent_at: Option<Timestamp>,
    #[schema(value_type = Option<String>)]
    pub next_attempt_at: Option<Timestamp>,
}

impl From<MessageRecord> for MessageView {
    fn from(m: MessageRecord) -> Self {
        Self {
            id: m.id,
            channel_id: m.channel_id,
            topic: m.topic,
            status: m.status,
            attempt_count: m.attempt_count,
            item_count: m.item_count,
            last_error: m.last_error,
            created_at: m.created_at,
            sent_at: m.sent_at,
            next_attempt_at: m.next_attempt_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MessageList {
    pub messages: Vec<MessageView>,
}

/// The owner's channels, oldest first.
#[utoipa::path(get, path = "/v1/auth/channels", operation_id = "listChannels", tag = "owners",
    security(("sessionToken" = []), ("sessionCookie" = [])),
    responses(
        (status = 200, description = "The channels", body = ChannelList),
        (status = 401, description = "`UNAUTHORIZED`", body = SigilumError),
    ))]
pub async fn list(owner: Owner, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let channels = channels::list(&state.app, &owner.account).await?;
    Ok(HttpResponse::Ok().json(ChannelList {
        channels: channels.into_iter().map(ChannelView::from).collect(),
    }))
}

/// Add a channel. An email address is sent a verification link and gets nothing else until
/// it is opened; a chat webhook works at once.
#[utoipa::path(post, path = "/v1/auth/channels", operation_id = "addChannel", tag = "owners",
    request_body = AddChannelRequest,
    security(("sessionToken" = []), ("sessionCookie" = [])),
    responses(
        (status = 201, description = "Added", body = ChannelView),
        (status = 400, description = "`VALIDATION_ERROR`, `INVALID_WEBHOOK_URL`, `INVALID_PUSH_SUBSCRIPTION`, `INVALID_EVENT_TYPE`", body = SigilumError),
        (status = 401, description = "`UNAUTHORIZED`", body = SigilumError),
        (status = 403, description = "`CSRF_REJECTED`", body = SigilumError),
        (status = 409, description = "`CHANNEL_ALREADY_EXISTS`, `CHANNEL_LIMIT_REACHED`", body = SigilumError),
    ))]
pub async fn add(
    owner: Owner,
    state: web::Data<AppState>,
    body: JsonBody<AddChannelRequest>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let input = AddInput {
        kind: body.kind,
        address: body.address,
        keys: body.keys.map(|k| PushKeysInput {
            p256dh: k.p256dh,
            auth: k.auth,
        }),
        events: body.events,
        quiet_hours: body.quiet_hours,
        throttle_seconds: body.throttle_seconds,
        expiry_lead_seconds: body.expiry_lead_seconds,
    };
    let channel = channels::add(&state.app, &owner.account, input).await?;
    Ok(HttpResponse::build(StatusCode::CREATED).json(ChannelView::from(channel)))
}

/// Verify a channel with its verification link's token (what opening the link does).
#[utoipa::path(post, path = "/v1/auth/channels/verify", operation_id = "verifyChannel", tag = "owners",
    request_body = VerifyChannelRequest,
    security(("sessionToken" = []), ("sessionCookie" = [])),
    responses(
        (status = 200, description = "Verified", body = ChannelView),
        (status = 400, description = "`VALIDATION_ERROR`, `LINK_INVALID`", body = SigilumError),
        (status = 401, description = "`UNAUTHORIZED`", body = SigilumError),
        (status = 403, description = "`CSRF_REJECTED`", body = SigilumError),
    ))]
pub async fn verify(
    owner: Owner,
    state: web::Data<AppState>,
    body: JsonBody<VerifyChannelRequest>,
) -> Result<HttpResponse, ApiError> {
    let channel = channels::verify(&state.app, &owner.account, body.into_inner().token).await?;
    Ok(HttpResponse::Ok().json(ChannelView::from(channel)))
}

/// Change a channel's events, quiet hours, throttle or expiry lead (its kind and address stay).
#[utoipa::path(patch, path = "/v1/auth/channels/{channel_id}", operation_id = "updateChannel", tag = "owners",
    params(("channel_id" = String, Path, description = "The channel's id")),
    request_body = UpdateChannelRequest,
    security(("sessionToken" = []), ("sessionCookie" = [])),
    responses(
        (status = 200, description = "Changed", body = ChannelView),
        (status = 400, description = "`VALIDATION_ERROR`, `INVALID_EVENT_TYPE`", body = SigilumError),
        (status = 401, description = "`UNAUTHORIZED`", body = SigilumError),
        (status = 403, description = "`CSRF_REJECTED`", body = SigilumError),
        (status = 404, description = "`NOT_FOUND`", body = SigilumError),
    ))]
pub async fn update(
    owner: Owner,
    state: web::Data<AppState>,
    channel_id: web::Path<String>,
    body: JsonBody<UpdateChannelRequest>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let input = UpdateInput {
        events: body.events,
        quiet_hours: body.quiet_hours,
        throttle_seconds: body.throttle_seconds,
        expiry_lead_seconds: body.expiry_lead_seconds,
    };
    let channel =
        channels::update(&state.app, &owner.account, channel_id.into_inner(), input).await?;
    Ok(HttpResponse::Ok().json(ChannelView::from(channel)))
}

/// Remove a channel; messages waiting for it are dropped.
#[utoipa::path(delete, path = "/v1/auth/channels/{channel_id}", operation_id = "removeChannel", tag = "owners",
    params(("channel_id" = String, Path, description = "The channel's id")),
    security(("sessionToken" = []), ("sessionCookie" = [])),
    responses(
        (status = 204, description = "Removed"),
        (status = 401, description = "`UNAUTHORIZED`", body = SigilumError),
        (status = 403, description = "`CSRF_REJECTED`", body = SigilumError),
        (status = 404, description = "`NOT_FOUND`", body = SigilumError),
    ))]
pub async fn remove(
    owner: Owner,
    state: web::Data<AppState>,
    channel_id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    channels::remove(&state.app, &owner.account, channel_id.into_inner()).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Send a test message on a verified channel (it shows in the sent log).
#[utoipa::path(post, path = "/v1/auth/channels/{channel_id}/test", operation_id = "testChannel", tag = "owners",
    params(("channel_id" = String, Path, description = "The channel's id")),
    security(("sessionToken" = []), ("sessionCookie" = [])),
    responses(
        (status = 202, description = "Queued", body = QueuedMessage),
        (status = 401, description = "`UNAUTHORIZED`", body = SigilumError),
        (status = 403, description = "`CSRF_REJECTED`", body = SigilumError),
        (status = 404, description = "`NOT_FOUND`", body = SigilumError),
        (status = 409, description = "`CHANNEL_NOT_VERIFIED`", body = SigilumError),
    ))]
pub async fn test(
    owner: Owner,
    state: web::Data<AppState>,
    channel_id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let message_id = channels::test(&state.app, &owner.account, channel_id.into_inner()).await?;
    Ok(HttpResponse::Accepted().json(QueuedMessage { message_id }))
}

/// Send a channel's verification link again.
#[utoipa::path(post, path = "/v1/auth/channels/{channel_id}/verification", operation_id = "resendChannelVerification", tag = "owners",
    params(("channel_id" = String, Path, description = "The channel's id")),
    security(("sessionToken" = []), ("sessionCookie" = [])),
    responses(
        (status = 202, description = "Queued", body = QueuedMessage),
        (status = 401, description = "`UNAUTHORIZED`", body = SigilumError),
        (status = 403, description = "`CSRF_REJECTED`", body = SigilumError),
        (status = 404, description = "`NOT_FOUND`", body = SigilumError),
        (status = 409, description = "`CHANNEL_ALREADY_VERIFIED`", body = SigilumError),
    ))]
pub async fn resend_verification(
    owner: Owner,
    state: web::Data<AppState>,
    channel_id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let message_id =
        channels::resend_verification(&state.app, &owner.account, channel_id.into_inner()).await?;
    Ok(HttpResponse::Accepted().json(QueuedMessage { message_id }))
}

/// The messages sent to the owner, newest first (the last 100).
#[utoipa::path(get, path = "/v1/auth/messages", operation_id = "listMessages", tag = "owners",
    security(("sessionToken" = []), ("sessionCookie" = [])),
    responses(
        (status = 200, description = "The sent log", body = MessageList),
        (status = 401, description = "`UNAUTHORIZED`", body = SigilumError),
    ))]
pub async fn messages(owner: Owner, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let messages = channels::messages(&state.app, &owner.account, 100).await?;
    Ok(HttpResponse::Ok().json(MessageList {
        messages: messages.into_iter().map(MessageView::from).collect(),
    }))
}

/// The server's VAPID public key, for a browser to subscribe to Web Push with.
#[utoipa::path(get, path = "/v1/auth/web-push", operation_id = "getWebPushKey", tag = "owners",
    security(("sessionToken" = []), ("sessionCookie" = [])),
    responses(
        (status = 200, description = "The key", body = WebPushKey),
        (status = 401, description = "`UNAUTHORIZED`", body = SigilumError),
        (status = 404, description = "`NOT_FOUND`: Web Push is not set up on this server", body = SigilumError),
    ))]
pub async fn web_push_key(
    _owner: Owner,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let key = state
        .settings
        .vapid_public_key
        .clone()
        .ok_or_else(assent_app::Error::not_found)?;
    Ok(HttpResponse::Ok().json(WebPushKey {
        vapid_public_key: key,
    }))
}
