//! Owner policies (session): the namespace's ordered rules and pending caps, and Sigilum's
//! `/v1/auth/settings` mapped onto them. The rules themselves live in `assent_app::policies`.

use actix_web::{HttpResponse, web};
use assent_app::{grants, policies};
use assent_core::Timestamp;
use assent_core::policy::{Binding, Grant};
use assent_store::{Policy, StoredRule};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use crate::auth::Owner;
use crate::error::{ApiError, SigilumError};
use crate::json::JsonBody;
use crate::state::AppState;

/// One rule. Every condition that is set must hold; an empty list is no condition.
#[derive(Debug, Serialize, ToSchema)]
pub struct RuleView {
    /// `pol_` + hex, or `sigilum-trusted-services` / `sigilum-trusted-ip-ranges` for the rules
    /// `/v1/auth/settings` manages.
    pub id: String,
    /// `claim` or `notification`; `null` for both.
    #[schema(example = "claim")]
    pub kind: Option<String>,
    /// Service slugs (any of them).
    pub services: Vec<String>,
    /// Agent keys, `ed25519:<base64>` or `did:key:z…` (any of them).
    pub agent_keys: Vec<String>,
    /// Source address ranges, IPv4 or IPv6 CIDR (any of them); the connection's address, or
    /// what a trusted proxy forwarded.
    #[schema(example = json!(["10.0.0.0/8"]))]
    pub sources: Vec<String>,
    /// A notification's action id.
    pub action: Option<String>,
    /// Flags the action must all carry.
    pub flags: Vec<String>,
    /// `low`, `medium`, `high` (any of them): a notification's `context.metadata.risk`.
    pub risks: Vec<String>,
    /// `auto_approve`, `auto_reject` or `ask`.
    #[schema(example = "auto_approve")]
    pub effect: String,
    pub description: Option<String>,
    /// How many requests it decided.
    pub matched: i64,
    #[schema(value_type = Option<String>)]
    pub last_matched_at: Option<Timestamp>,
}

impl From<&StoredRule> for RuleView {
    fn from(stored: &StoredRule) -> Self {
        let r = &stored.rule;
        Self {
            id: r.id.clone(),
            kind: r.kind.map(|k| k.as_str().to_owned()),
            services: r.services.clone(),
            agent_keys: r.agent_keys.clone(),
            sources: r.sources.iter().map(ToString::to_string).collect(),
            action: r.action.clone(),
            flags: r.flags.clone(),
            risks: r.risks.iter().map(|k| k.as_str().to_owned()).collect(),
            effect: r.effect.as_str().to_owned(),
            description: r.description.clone(),
            matched: stored.matched,
            last_matched_at: stored.last_matched_at,
        }
    }
}

/// A namespace's policy.
#[derive(Debug, Serialize, ToSchema)]
pub struct PolicyView {
    /// In evaluation order: the first rule a request matches decides it.
    pub rules: Vec<RuleView>,
    /// Pending requests the namespace may have; `null`: no cap.
    pub max_pending: Option<i32>,
    /// Pending requests each service may have; `null`: no cap.
    pub max_pending_per_service: Option<i32>,
}

impl From<&Policy> for PolicyView {
    fn from(p: &Policy) -> Self {
        Self {
            rules: p.rules.iter().map(RuleView::from).collect(),
            max_pending: p.caps.namespace,
            max_pending_per_service: p.caps.per_service,
        }
    }
}

/// A rule as written: the fields of a shown rule without `matched` and `last_matched_at`.
#[derive(Debug, serde::Deserialize, ToSchema)]
pub struct RuleInput {
    /// Keep an existing rule (and its match count); leave out for a new one.
    pub id: Option<String>,
    #[schema(example = "claim")]
    pub kind: Option<String>,
    pub services: Option<Vec<String>>,
    pub agent_keys: Option<Vec<String>>,
    #[schema(example = json!(["10.0.0.0/8"]))]
    pub sources: Option<Vec<String>>,
    pub action: Option<String>,
    pub flags: Option<Vec<String>>,
    pub risks: Option<Vec<String>>,
    #[schema(example = "auto_approve")]
    pub effect: String,
    pub description: Option<String>,
}

/// A whole policy, replacing the one before.
#[derive(Debug, serde::Deserialize, ToSchema)]
pub struct PolicyRequest {
    pub rules: Vec<RuleInput>,
    pub max_pending: Option<i32>,
    pub max_pending_per_service: Option<i32>,
}

/// The owner's policy: rules in order with their match counts, and the pending caps.
#[utoipa::path(get, path = "/v1/policies", operation_id = "getPolicy", tag = "policies",
    security(("sessionToken" = []), ("sessionCookie" = [])),
    responses(
        (status = 200, description = "The policy", body = PolicyView),
        (status = 401, description = "`UNAUTHORIZED`", body = SigilumError),
    ))]
pub async fn get(owner: Owner, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let policy = policies::get(&state.app, &owner.account).await?;
    Ok(HttpResponse::Ok().json(PolicyView::from(&policy)))
}

/// Replace the owner's rules and caps. Checked whole before anything is saved: an invalid
/// range, an unknown service, a rule that contradicts or repeats an earlier one, an
/// `auto_approve` rule without any condition, or a misspelt field is a 400 naming the field
/// (`rules[2].sources[0]`).
#[utoipa::path(put, path = "/v1/policies", operation_id = "replacePolicy", tag = "policies",
    request_body = PolicyRequest,
    security(("sessionToken" = []), ("sessionCookie" = [])),
    responses(
        (status = 200, description = "The policy as saved", body = PolicyView),
        (status = 400, description = "`VALIDATION_ERROR` naming the field, `INVALID_JSON`", body = SigilumError),
        (status = 401, description = "`UNAUTHORIZED`", body = SigilumError),
        (status = 403, description = "`CSRF_REJECTED`", body = SigilumError),
    ))]
pub async fn replace(
    owner: Owner,
    state: web::Data<AppState>,
    body: JsonBody<Value>,
) -> Result<HttpResponse, ApiError> {
    let policy = policies::replace(&state.app, &owner.account, body.into_inner()).await?;
    Ok(HttpResponse::Ok().json(PolicyView::from(&policy)))
}

/// Sigilum's policy keys, read from the rules and cap they map onto.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SigilumPolicyView {
    /// Whether the rule `sigilum-trusted-services` approves claims of `trustedServices`.
    pub auto_approve_trusted: bool,
    pub trusted_services: Vec<String>,
    /// Whether the rule `sigilum-trusted-ip-ranges` approves claims from `trustedIPRanges`.
    #[serde(rename = "autoApproveIP")]
    #[schema(rename = "autoApproveIP")]
    pub auto_approve_ip: bool,
    #[serde(rename = "trustedIPRanges")]
    #[schema(rename = "trustedIPRanges")]
    pub trusted_ip_ranges: Vec<String>,
    /// The namespace's pending cap (an integer), or `false` for none.
    #[schema(value_type = Value)]
    pub max_pending_limit: Value,
    /// Always `true`: pending claims expire after the server's claim TTL.
    pub auto_expire: bool,
}

/// The account's settings.
#[derive(Debug, Serialize, ToSchema)]
pub struct SigilumSettings {
    pub policy: SigilumPolicyView,
    /// Any other keys, as last saved.
    #[serde(flatten)]
    #[schema(value_type = Object)]
    pub other: serde_json::Map<String, Value>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SettingsResponse {
    pub success: bool,
    pub settings: SigilumSettings,
}

fn settings_response(settings: Value) -> SettingsResponse {
    let mut other = match settings {
        Value::Object(o) => o,
        _ => serde_json::Map::new(),
    };
    let policy = other.remove("policy").unwrap_or_default();
    let strings = |key: &str| -> Vec<String> {
        policy[key]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect()
    };
    SettingsResponse {
        success: true,
        settings: SigilumSettings {
            policy: SigilumPolicyView {
                auto_approve_trusted: policy["autoApproveTrusted"] == true,
                trusted_services: strings("trustedServices"),
                auto_approve_ip: policy["autoApproveIP"] == true,
                trusted_ip_ranges: strings("trustedIPRanges"),
                max_pending_limit: policy["maxPendingLimit"].clone(),
                auto_expire: true,
            },
            other,
        },
    }
}

/// The account's settings (Sigilum): its policy keys say what the namespace's rules and caps
/// enforce.
#[utoipa::path(get, path = "/v1/auth/settings", operation_id = "getSettings", tag = "policies",
    security(("sessionToken" = []), ("sessionCookie" = [])),
    responses(
        (status = 200, description = "The settings", body = SettingsResponse),
        (status = 401, description = "`UNAUTHORIZED`", body = SigilumError),
    ))]
pub async fn get_settings(
    owner: Owner,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let settings = policies::sigilum_settings(&state.app, &owner.account).await?;
    Ok(HttpResponse::Ok().json(settings_response(settings)))
}

/// Change the account's settings (Sigilum): a shallow merge. `policy.autoApproveTrusted`
/// with `policy.trustedServices`, and `policy.autoApproveIP` with `policy.trustedIPRanges`,
/// become auto-approve rules for claims; `policy.maxPendingLimit` (`true`: 20, `false`: none,
/// or a number) the namespace's pending cap. A wrong type, an unknown service or an invalid
/// range is a 400 naming the field, and nothing is saved.
#[utoipa::path(patch, path = "/v1/auth/settings", operation_id = "updateSettings", tag = "policies",
    request_body(content = Object, description = "Settings keys to merge; `policy` is merged key by key"),
    security(("sessionToken" = []), ("sessionCookie" = [])),
    responses(
        (status = 200, description = "The settings as saved", body = SettingsResponse),
        (status = 400, description = "`VALIDATION_ERROR` naming the field, `INVALID_JSON`", body = SigilumError),
        (status = 401, description = "`UNAUTHORIZED`", body = SigilumError),
        (status = 403, description = "`CSRF_REJECTED`", body = SigilumError),
    ))]
pub async fn patch_settings(
    owner: Owner,
    state: web::Data<AppState>,
    body: JsonBody<Value>,
) -> Result<HttpResponse, ApiError> {
    let settings =
        policies::patch_sigilum_settings(&state.app, &owner.account, body.into_inner()).await?;
    Ok(HttpResponse::Ok().json(settings_response(settings)))
}

/// A standing grant.
#[derive(Debug, Serialize, ToSchema)]
pub struct GrantView {
    /// `gr_` + hex.
    pub id: String,
    /// The service's slug.
    pub service: String,
    pub service_id: String,
    /// The action (its id) the grant answers with.
    pub action: String,
    /// `sha256:<hex>` of the RFC 8785 canonical JSON of the arguments it is bound to, when it
    /// is bound to exact arguments.
    pub arguments_digest: Option<String>,
    /// The argument pattern it is bound to, when the owner wrote one.
    #[schema(value_type = Option<Object>)]
    pub pattern: Option<Value>,
    /// `once`, `timed` or `always`.
    #[schema(example = "timed")]
    pub uses: String,
    /// `active`, `used`, `expired` or `revoked`.
    #[schema(example = "active")]
    pub state: String,
    #[schema(value_type = Option<String>)]
    pub expires_at: Option<Timestamp>,
    #[schema(value_type = Option<String>)]
    pub used_at: Option<Timestamp>,
    #[schema(value_type = Option<String>)]
    pub revoked_at: Option<Timestamp>,
    /// The notification it was granted from.
    pub source_id: Option<String>,
    /// How many requests it answered.
    pub matched: i64,
    #[schema(value_type = String)]
    pub created_at: Timestamp,
}

impl From<Grant> for GrantView {
    fn from(g: Grant) -> Self {
        let state = g.state(Timestamp::now()).to_owned();
        let (arguments_digest, pattern) = match g.binding {
            Binding::Digest(d) => (Some(d), None),
            Binding::Pattern(p) => (None, Some(Value::Object(p))),
        };
        Self {
            id: g.id,
            service: g.service_slug,
            service_id: g.service_id,
            action: g.action,
            arguments_digest,
            pattern,
            uses: g.uses.as_str().to_owned(),
            state,
            expires_at: g.expires_at,
            used_at: g.used_at,
            revoked_at: g.revoked_at,
            source_id: g.source_id,
            matched: g.matched,
            created_at: g.created_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct GrantList {
    pub grants: Vec<GrantView>,
}

/// A grant to create from an answered notification.
#[derive(Debug, serde::Deserialize, ToSchema)]
pub struct CreateGrantRequest {
    /// The notification whose answer is granted again (answered with an action that needs no
    /// response data).
    pub notification_id: Option<String>,
    /// `once` (the next matching request), `timed` (for `minutes`) or `always` (until revoked).
    #[schema(example = "timed")]
    pub uses: Option<String>,
    /// 1 to 43200; required for `timed`, optional for `once`.
    #[schema(example = 60)]
    pub minutes: Option<i64>,
    /// Bind to arguments matching this pattern instead of the exact arguments answered: every
    /// key must be in the arguments with this value (a string ending in `*` is a prefix).
    #[schema(value_type = Option<Object>)]
    pub pattern: Option<Value>,
}

/// The owner's standing grants, newest first, in every state.
#[utoipa::path(get, path = "/v1/grants", operation_id = "listGrants", tag = "policies",
    security(("sessionToken" = []), ("sessionCookie" = [])),
    responses(
        (status = 200, description = "The grants", body = GrantList),
        (status = 401, description = "`UNAUTHORIZED`", body = SigilumError),
    ))]
pub async fn list_grants(
    owner: Owner,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let list = grants::list(&state.app, &owner.account).await?;
    Ok(HttpResponse::Ok().json(GrantList {
        grants: list.into_iter().map(GrantView::from).collect(),
    }))
}

/// Grant the answer given to a notification again: later notifications of the same service
/// with the same action and the same arguments (their RFC 8785 digest), or arguments matching
/// `pattern`, are answered at once, by `grant:<id>`.
#[utoipa::path(post, path = "/v1/grants", operation_id = "createGrant", tag = "policies",
    request_body = CreateGrantRequest,
    security(("sessionToken" = []), ("sessionCookie" = [])),
    responses(
        (status = 201, description = "The grant", body = GrantView),
        (status = 400, description = "`VALIDATION_ERROR` naming the field, `INVALID_JSON`", body = SigilumError),
        (status = 401, description = "`UNAUTHORIZED`", body = SigilumError),
        (status = 403, description = "`CSRF_REJECTED`", body = SigilumError),
        (status = 404, description = "`NOT_FOUND`: no such notification of the namespace", body = SigilumError),
    ))]
pub async fn create_grant(
    owner: Owner,
    state: web::Data<AppState>,
    body: JsonBody<CreateGrantRequest>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let input = grants::GrantInput {
        notification_id: body.notification_id,
        uses: body.uses,
        minutes: body.minutes,
        pattern: body.pattern,
    };
    let grant = grants::create(&state.app, &owner.account, input).await?;
    Ok(HttpResponse::Created().json(GrantView::from(grant)))
}

/// Revoke a grant: from the next request on it answers nothing.
#[utoipa::path(delete, path = "/v1/grants/{grant_id}", operation_id = "revokeGrant", tag = "policies",
    params(("grant_id" = String, Path, description = "The grant's id")),
    security(("sessionToken" = []), ("sessionCookie" = [])),
    responses(
        (status = 200, description = "The grant, revoked", body = GrantView),
        (status = 401, description = "`UNAUTHORIZED`", body = SigilumError),
        (status = 403, description = "`CSRF_REJECTED`", body = SigilumError),
        (status = 404, description = "`NOT_FOUND`, also for another namespace's grant", body = SigilumError),
    ))]
pub async fn revoke_grant(
    owner: Owner,
    state: web::Data<AppState>,
    grant_id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let grant = grants::revoke(&state.app, &owner.account, grant_id.into_inner()).await?;
    Ok(HttpResponse::Ok().json(GrantView::from(grant)))
}
