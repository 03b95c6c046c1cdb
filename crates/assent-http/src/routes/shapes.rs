//! The shapes of JSON that handlers build with `json!` or that core builds as a `Value` (the ATP
//! notification object, the namespace record, the approved-claims feed), described for the
//! OpenAPI document only. Nothing serializes these types; schemathesis in CI checks every
//! response against them, so a drift between the JSON and its description fails CI. A field
//! that may be missing is left out of the JSON, never `null`.

#![expect(
    dead_code,
    reason = "the fields describe JSON for the OpenAPI document; nothing reads them"
)]

use serde_json::Value;
use utoipa::ToSchema;

fn notification_status() -> utoipa::openapi::Object {
    use assent_core::notification::NotificationStatus;
    crate::openapi::one_of(NotificationStatus::ALL.map(NotificationStatus::as_str))
}

fn response_type() -> utoipa::openapi::Object {
    use assent_core::notification::ResponseType;
    crate::openapi::one_of(ResponseType::ALL.map(ResponseType::as_str))
}

/// An ATP notification as services and client apps read it.
#[derive(Debug, ToSchema)]
pub struct NotificationObject {
    #[schema(format = "uuid")]
    id: String,
    #[schema(example = "1.0")]
    version: String,
    /// When the service says it sent it (RFC 3339).
    #[schema(format = DateTime)]
    timestamp: String,
    /// After it the notification expires unanswered.
    #[schema(nullable = false, format = DateTime)]
    deadline: Option<String>,
    service: NotificationService,
    context: NotificationContext,
    #[schema(min_items = 1)]
    actions: Vec<NotificationAction>,
    #[schema(schema_with = notification_status)]
    status: String,
    #[schema(format = DateTime)]
    created_at: String,
    #[schema(format = DateTime)]
    updated_at: String,
    /// The answer, once responded (the `notification.responded` payload).
    #[schema(nullable = false)]
    response: Option<NotificationResponse>,
    /// Why it was invalidated or expired.
    #[schema(nullable = false)]
    status_reason: Option<String>,
}

/// The service that sent a notification.
#[derive(Debug, ToSchema)]
pub struct NotificationService {
    /// The service's slug.
    id: String,
    name: String,
    #[schema(nullable = false)]
    icon: Option<String>,
}

/// What the notification is about.
#[derive(Debug, ToSchema)]
pub struct NotificationContext {
    title: String,
    description: String,
    #[schema(nullable = false)]
    project: Option<String>,
    #[schema(nullable = false)]
    metadata: Option<serde_json::Map<String, Value>>,
    #[schema(nullable = false)]
    attachments: Option<Vec<NotificationAttachment>>,
}

/// A file or link shown with a notification: a `uri` or inline base64 `data`.
#[derive(Debug, ToSchema)]
pub struct NotificationAttachment {
    /// A media type, e.g. `text/plain`.
    r#type: String,
    #[schema(nullable = false)]
    description: Option<String>,
    #[schema(nullable = false)]
    uri: Option<String>,
    #[schema(nullable = false)]
    data: Option<String>,
}

/// One way to answer a notification.
#[derive(Debug, ToSchema)]
pub struct NotificationAction {
    id: String,
    label: String,
    #[schema(schema_with = response_type)]
    response_type: String,
    /// `irreversible` marks an action that cannot be undone.
    #[schema(nullable = false)]
    flags: Option<Vec<String>>,
    /// Per response type: `true_label`/`false_label` (binary), the choices (choice,
    /// multi_choice).
    #[schema(nullable = false)]
    options: Option<Value>,
    /// Bounds of a text, number or multi-choice answer.
    #[schema(nullable = false, value_type = Option<Object>)]
    constraints: Option<Value>,
}

/// A notification's answer.
#[derive(Debug, ToSchema)]
pub struct NotificationResponse {
    notification_id: String,
    action_id: String,
    /// Per the action's response type: `null`, a boolean, a string, an array or a number.
    response_data: Value,
    #[schema(format = DateTime)]
    responded_at: String,
    responder: Responder,
}

/// Who answered.
#[derive(Debug, ToSchema)]
pub struct Responder {
    id: String,
    #[schema(example = "human")]
    r#type: String,
}

/// A namespace's public record.
#[derive(Debug, ToSchema)]
pub struct NamespaceRecord {
    #[schema(example = "did:sigilum:lin")]
    did: String,
    namespace: String,
    #[schema(format = DateTime)]
    created_at: String,
    active: bool,
    /// Approved claims in the namespace.
    #[schema(minimum = 0)]
    active_claims: i64,
}

/// The calling service's approved claims, newest approval first.
#[derive(Debug, ToSchema)]
pub struct ApprovedClaims {
    claims: Vec<ApprovedClaim>,
    pagination: FeedPagination,
}

/// One approved claim in the feed (its unknown fields are `null`).
#[derive(Debug, ToSchema)]
pub struct ApprovedClaim {
    claim_id: String,
    namespace: String,
    /// `ed25519:<base64>`.
    public_key: String,
    /// The service's slug.
    service: String,
    subject: Option<String>,
    agent_id: Option<String>,
    agent_name: Option<String>,
    #[schema(format = DateTime)]
    approved_at: Option<String>,
}

/// Where this page of the feed stands.
#[derive(Debug, ToSchema)]
pub struct FeedPagination {
    #[schema(minimum = 1, maximum = 2000)]
    limit: i64,
    #[schema(minimum = 0)]
    offset: i64,
    has_more: bool,
}
