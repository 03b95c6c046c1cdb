//! What services and agents call with `sigilum-rfc9421-v1` signed requests: submitting a
//! claim, verifying one, the calling service's approved-claims feed, and the public namespace
//! and DID documents.

use std::net::IpAddr;

use actix_web::http::StatusCode;
use actix_web::http::header::CACHE_CONTROL;
use actix_web::{HttpRequest, HttpResponse, web};
use assent_app::agents;
use assent_auth::rfc9421;
use assent_core::claim::ClaimStatus;
use assent_core::field::{self, FieldError};
use assent_core::{Namespace, Timestamp};
use assent_store::{ClaimQuestion, NewClaim, Submitted};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::{IntoParams, ToSchema};

use crate::auth::ServiceCaller;
use crate::error::ApiError;
use crate::error::SigilumError;
use crate::nonces::{BatchError, Found};
use crate::signed::{SignatureChecked, Signed};
use crate::state::AppState;

/// The header with which a service asks that only the namespace, not the key, be bound to the
/// signature (the agent asks on behalf of another key).
const CLAIM_BINDING: &str = "x-sigilum-claim-binding";

#[derive(Debug, Deserialize, ToSchema)]
pub struct SubmitClaimRequest {
    /// The namespace whose owner is asked: the service's namespace.
    #[schema(required = true, nullable = false, example = "lin")]
    pub namespace: Option<String>,
    /// The agent key asking, `ed25519:<base64>`.
    #[schema(required = true, nullable = false)]
    pub public_key: Option<String>,
    /// The service's slug; must be the API key's service.
    #[schema(required = true, nullable = false, example = "api-gateway")]
    pub service: Option<String>,
    /// Single-use for this service for 10 minutes, 8 to 256 characters.
    #[schema(required = true, nullable = false, min_length = 8, max_length = 256)]
    pub nonce: Option<String>,
    /// The agent's address as the service sees it (informative: policies never read it).
    #[schema(nullable = false, example = "203.0.113.7")]
    pub agent_ip: Option<String>,
    #[schema(nullable = false, max_length = 256)]
    pub subject: Option<String>,
    #[schema(nullable = false, max_length = 128)]
    pub agent_id: Option<String>,
    #[schema(nullable = false, max_length = 128)]
    pub agent_name: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SubmitClaimResponse {
    pub claim_id: String,
    #[schema(example = "pending")]
    pub status: String,
    pub service: String,
    pub message: String,
    /// Present when the owner's policy decided at once: `true` for an approval (Sigilum's
    /// field).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auto_approved: Option<bool>,
    /// The rule that decided at once, `policy:<rule id>` (docs/policies.md).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decided_by: Option<String>,
}

/// Ask the namespace owner whether an agent key may act on this service.
///
/// Needs the service's API key and a `sigilum-rfc9421-v1` signature whose certificate binds
/// `namespace` (and `public_key`, unless `X-Sigilum-Claim-Binding: namespace-only`). A key
/// with a pending or approved claim gets that claim back (200); otherwise a new pending claim
/// starts (201) and `request.submitted` is delivered, unless the owner's policy decides at
/// once (201 `approved` or `rejected` with `decided_by`, and `request.approved` /
/// `request.rejected` saying why) or the owner's pending cap is reached (409).
#[utoipa::path(post, path = "/v1/claims", operation_id = "submitClaim", tag = "claims", request_body = SubmitClaimRequest,
    security(("sigilumSignature" = [], "serviceApiKey" = [])),
    responses(
        (status = 201, description = "A new claim: pending, or decided at once by the owner's policy (`decided_by`)", body = SubmitClaimResponse),
        (status = 200, description = "The key's live claim, unchanged", body = SubmitClaimResponse),
        (status = 400, description = "`VALIDATION_ERROR`, `INVALID_JSON`", body = SigilumError),
        (status = 401, description = "`SIGNATURE_*`, or `UNAUTHORIZED` (API key)", body = SigilumError),
        (status = 403, description = "`SIGNATURE_NAMESPACE_MISMATCH`, `SIGNATURE_KEY_MISMATCH`, \
            `SERVICE_MISMATCH`, `AUTH_INSUFFICIENT_PERMISSIONS`", body = SigilumError),
        (status = 409, description = "`SIGNATURE_NONCE_REPLAY` or `NONCE_REPLAY` (body nonce), \
            `PENDING_LIMIT_REACHED` (the claim is stored rejected; `details.claim_id`)", body = SigilumError),
    ))]
pub async fn submit(
    req: HttpRequest,
    signed: Signed,
    caller: ServiceCaller,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let body: SubmitClaimRequest = crate::json::parse(&signed.body)?;
    let invalid = |e: FieldError| ApiError::validation(&e);
    let namespace = field::required("namespace", body.namespace.as_deref()).map_err(invalid)?;
    Namespace::parse(&namespace).map_err(|why| invalid(FieldError::invalid("namespace", why)))?;
    let public_key = field::required("public_key", body.public_key.as_deref()).map_err(invalid)?;
    let key_bytes = rfc9421::parse_agent_key(&public_key).map_err(|_| {
        invalid(FieldError::invalid(
            "public_key",
            "must be ed25519:<base64 of 32 bytes>",
        ))
    })?;
    let service = field::required("service", body.service.as_deref()).map_err(invalid)?;
    let nonce = field::required("nonce", body.nonce.as_deref()).map_err(invalid)?;
    if !(8..=256).contains(&nonce.len()) {
        return Err(invalid(FieldError::invalid(
            "nonce",
            "must be 8 to 256 characters long",
        )));
    }
    let agent_ip = field::optional(body.agent_ip.as_deref());
    if let Some(ip) = &agent_ip {
        ip.parse::<IpAddr>()
            .map_err(|_| invalid(FieldError::invalid("agent_ip", "must be an IP address")))?;
    }
    let optional = |name: &'static str, value: Option<String>, max: usize| {
        let value = field::optional(value.as_deref());
        if let Some(v) = &value {
            field::max_chars(name, v, max).map_err(invalid)?;
        }
        Ok::<_, ApiError>(value)
    };
    let subject = optional("subject", body.subject, 256)?;
    let agent_id = optional("agent_id", body.agent_id, 128)?;
    let agent_name = optional("agent_name", body.agent_name, 128)?;

    signed.require_namespace(&namespace)?;
    let namespace_only = req
        .headers()
        .get(CLAIM_BINDING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("namespace-only"));
    if !namespace_only {
        signed.require_public_key(&public_key)?;
    }
    if service != caller.slug || namespace != caller.namespace {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            assent_app::code::SERVICE_MISMATCH,
            format!(
                "The API key belongs to service `{}` of namespace `{}`, not `{service}` of `{namespace}`.",
                caller.slug, caller.namespace
            ),
        ));
    }

    let new = NewClaim {
        namespace,
        service_id: caller.service_id.clone(),
        service_slug: caller.slug.clone(),
        agent_key: rfc9421::did_key(&key_bytes),
        public_key,
        agent_ip,
        subject,
        agent_id,
        agent_name,
    };
    let submitted = agents::submit(&state.app, new, nonce).await?;
    let (status, claim, message) = match submitted {
        Submitted::Created(c) if c.status == ClaimStatus::Approved => (
            StatusCode::CREATED,
            c,
            "Auto-approved by namespace owner's policy rules.",
        ),
        Submitted::Created(c) if c.status == ClaimStatus::Rejected => (
            StatusCode::CREATED,
            c,
            "Auto-rejected by namespace owner's policy rules.",
        ),
        Submitted::Created(c) => (
            StatusCode::CREATED,
            c,
            "Access request submitted. Awaiting namespace owner approval.",
        ),
        Submitted::Existing(c) if c.status == ClaimStatus::Approved => (
            StatusCode::OK,
            c,
            "Authorization already approved for this key.",
        ),
        Submitted::Existing(c) => (
            StatusCode::OK,
            c,
            "Authorization request already pending for this key.",
        ),
    };
    let automatic = status == StatusCode::CREATED && claim.decided_by.is_some();
    Ok(HttpResponse::build(status).json(SubmitClaimResponse {
        auto_approved: automatic.then_some(claim.status == ClaimStatus::Approved),
        decided_by: claim.decided_by.filter(|_| automatic),
        claim_id: claim.id,
        status: claim.status.as_str().to_owned(),
        service: claim.service_slug,
        message: message.to_owned(),
    }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct VerifyQuery {
    pub namespace: Option<String>,
    /// `ed25519:<base64>`.
    pub public_key: Option<String>,
    /// The service's slug.
    pub service: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Verification {
    pub authorized: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub claim_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub approved_at: Option<Timestamp>,
    /// Why not, when not authorized: `no_approved_claim`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<&'static str>,
}

/// Is this agent key authorized for this service of this namespace? The hot path: a signature
/// check, then the nonce and the lookup (two indexed lookups) together in one hand-off to the
/// database. A revoked claim answers unauthorized at once.
#[utoipa::path(get, path = "/v1/verify", operation_id = "verifyClaim", tag = "claims", params(VerifyQuery),
    security(("sigilumSignature" = [])),
    responses(
        (status = 200, description = "The answer", body = Verification),
        (status = 400, description = "`VALIDATION_ERROR`: a parameter is missing", body = SigilumError),
        (status = 401, description = "`SIGNATURE_*`", body = SigilumError),
        (status = 403, description = "`SIGNATURE_NAMESPACE_MISMATCH`", body = SigilumError),
        (status = 409, description = "`SIGNATURE_NONCE_REPLAY`", body = SigilumError),
    ))]
pub async fn verify(
    req: HttpRequest,
    checked: SignatureChecked,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    // As every signed route: once the signature verifies, the nonce is used up whatever else
    // is wrong with the request. Only a request that can be answered asks the database more.
    let question = web::Query::<VerifyQuery>::from_query(req.query_string())
        .map_err(|_| ApiError::from_status(StatusCode::BAD_REQUEST))
        .and_then(|query| question(&checked, query.into_inner()));
    let nonce = checked.nonce();
    let question = match question {
        Ok(question) => question,
        Err(refusal) => {
            let (scope, value, expires_at) = nonce;
            let fresh = state
                .nonces
                .use_nonce(state.store(), scope, value, expires_at)
                .await
                .map_err(|e| crate::signed::nonce_store_unavailable(&e))?;
            return Err(if fresh {
                refusal
            } else {
                crate::signed::replay()
            });
        }
    };
    let found = state
        .nonces
        .use_nonce_and_find(state.store(), nonce, question)
        .await
        .map_err(|e| match e {
            BatchError::NonceStore(e) => crate::signed::nonce_store_unavailable(&e),
            BatchError::Lookup(e) => ApiError::internal(&e),
        })?;
    let found = match found {
        Found::Replay => return Err(crate::signed::replay()),
        Found::Fresh(found) => found,
    };
    Ok(HttpResponse::Ok().json(match found {
        Some((claim_id, approved_at)) => Verification {
            authorized: true,
            claim_id: Some(claim_id),
            approved_at: Some(approved_at),
            reason: None,
        },
        None => Verification {
            authorized: false,
            claim_id: None,
            approved_at: None,
            reason: Some("no_approved_claim"),
        },
    }))
}

/// What a verify asks the database, once its parameters are all there and its namespace is
/// the certificate's (400, 403 otherwise).
fn question(checked: &SignatureChecked, query: VerifyQuery) -> Result<ClaimQuestion, ApiError> {
    let (Some(namespace), Some(public_key), Some(service_slug)) =
        (query.namespace, query.public_key, query.service)
    else {
        return Err(ApiError::validation(&FieldError::invalid(
            "namespace",
            "`public_key` and `service` query parameters are required",
        )));
    };
    checked.require_namespace(&namespace)?;
    Ok(ClaimQuestion {
        namespace,
        public_key,
        service_slug,
    })
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct FeedQuery {
    /// The service's slug; defaults to the API key's service, and may only be that.
    pub service: Option<String>,
    /// 1 to 2000 (default 500).
    #[param(value_type = Option<i64>, minimum = 1, maximum = 2000)]
    pub limit: Option<String>,
    /// Claims to skip (default 0).
    #[param(value_type = Option<i64>, minimum = 0)]
    pub offset: Option<String>,
}

/// The calling service's approved claims (all of them, for caching), newest approval first.
#[utoipa::path(get, path = "/v1/namespaces/claims", operation_id = "listApprovedClaims", tag = "claims", params(FeedQuery),
    security(("sigilumSignature" = [], "serviceApiKey" = [])),
    responses(
        (status = 200, description = "Approved claims of the calling service", body = super::shapes::ApprovedClaims),
        (status = 400, description = "`VALIDATION_ERROR`", body = SigilumError),
        (status = 401, description = "`SIGNATURE_*`, `UNAUTHORIZED`", body = SigilumError),
        (status = 403, description = "`SERVICE_MISMATCH`", body = SigilumError),
    ))]
pub async fn feed(
    _signed: Signed,
    caller: ServiceCaller,
    state: web::Data<AppState>,
    query: web::Query<FeedQuery>,
) -> Result<HttpResponse, ApiError> {
    let query = query.into_inner();
    if query.service.as_deref().is_some_and(|s| s != caller.slug) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            assent_app::code::SERVICE_MISMATCH,
            "The requested service is not the API key's.",
        ));
    }
    let number = |name: &'static str, raw: Option<String>, default: i64, max: i64| match raw {
        None => Ok(default),
        Some(raw) => raw
            .parse::<i64>()
            .ok()
            .filter(|n| (0..=max).contains(n))
            .ok_or_else(|| {
                ApiError::validation(&FieldError::invalid(
                    name,
                    format!("must be a number from 0 to {max}"),
                ))
            }),
    };
    let limit = number("limit", query.limit, 500, 2000)?.max(1);
    let offset = number("offset", query.offset, 0, i64::MAX)?;
    let (claims, has_more) =
        agents::approved_claims(&state.app, caller.service_id, limit, offset).await?;
    let rows: Vec<Value> = claims
        .into_iter()
        .map(|c| {
            json!({
                "claim_id": c.id, "namespace": c.namespace, "public_key": c.public_key,
                "service": c.service_slug, "subject": c.subject, "agent_id": c.agent_id,
                "agent_name": c.agent_name, "approved_at": c.approved_at,
            })
        })
        .collect();
    Ok(HttpResponse::Ok().json(json!({
        "claims": rows,
        "pagination": { "limit": limit, "offset": offset, "has_more": has_more },
    })))
}

/// A namespace's public record. The signature's certificate must be of this namespace.
#[utoipa::path(get, path = "/v1/namespaces/{namespace}", operation_id = "getNamespace", tag = "claims",
    security(("sigilumSignature" = [])),
    params(("namespace" = String, Path, description = "The namespace")),
    responses(
        (status = 200, description = "The namespace", body = super::shapes::NamespaceRecord),
        (status = 400, description = "`VALIDATION_ERROR`", body = SigilumError),
        (status = 401, description = "`SIGNATURE_*`", body = SigilumError),
        (status = 403, description = "`SIGNATURE_NAMESPACE_MISMATCH`", body = SigilumError),
        (status = 404, description = "`NOT_FOUND`", body = SigilumError),
    ))]
pub async fn namespace(
    signed: Signed,
    state: web::Data<AppState>,
    namespace: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let namespace = Namespace::parse(&namespace)
        .map_err(|why| ApiError::validation(&FieldError::invalid("namespace", why)))?;
    signed.require_namespace(namespace.as_str())?;
    let (account, active) = agents::namespace_record(&state.app, &namespace).await?;
    Ok(HttpResponse::Ok()
        .insert_header((CACHE_CONTROL, "public, max-age=300"))
        .json(json!({
            "did": namespace.did(),
            "namespace": namespace.as_str(),
            "created_at": account.created_at,
            "active": true,
            "active_claims": active,
        })))
}

/// The DID document of `did:sigilum:<namespace>`: a verification method per approved agent
/// key (as `did:key`-style multibase) and per webhook signing key (`#webhook-<id>`), and a
/// verify endpoint per approved service.
async fn did_document(
    state: &AppState,
    req: &HttpRequest,
    did: &str,
) -> Result<Option<Value>, ApiError> {
    let namespace = did
        .strip_prefix("did:sigilum:")
        .map(|rest| {
            rest.split(['#', '?', '/'])
                .next()
                .unwrap_or_default()
                .to_ascii_lowercase()
        })
        .and_then(|ns| Namespace::parse(&ns).ok())
        .ok_or_else(|| {
            ApiError::validation(&FieldError::invalid(
                "did",
                "must be did:sigilum:<namespace>",
            ))
        })?;
    let Some(subjects) = agents::did_subjects(&state.app, &namespace).await? else {
        return Ok(None);
    };
    let did = namespace.did();
    let origin = match &state.settings.public_url {
        Some(url) => url.origin().ascii_serialization(),
        None => {
            let info = req.connection_info();
            format!("{}://{}", info.scheme(), info.host())
        }
    };
    // Each key once, its most recent claim first; the services sorted.
    let mut seen = std::collections::HashSet::new();
    let keys: Vec<&str> = subjects
        .agents
        .iter()
        .map(|(agent_key, _)| agent_key.as_str())
        .filter(|key| seen.insert(*key))
        .collect();
    let services: std::collections::BTreeSet<&str> = subjects
        .agents
        .iter()
        .map(|(_, service_slug)| service_slug.as_str())
        .collect();
    let methods: Vec<Value> = keys
        .iter()
        .enumerate()
        .map(|(i, agent_key)| {
            json!({
                "id": format!("{did}#key-{}", i + 1),
                "type": "Ed25519VerificationKey2020",
                "controller": did,
                "publicKeyMultibase": agent_key.trim_start_matches("did:key:"),
            })
        })
        .collect();
    let ids: Vec<Value> = methods.iter().map(|m| m["id"].clone()).collect();
    // The keys that sign its webhooks assert (a delivery came from this namespace's server);
    // they never authenticate an agent.
    let webhook_methods = super::webhook_keys::verification_methods(&did, &subjects.webhook_keys);
    let mut assertion = ids.clone();
    assertion.extend(webhook_methods.iter().map(|m| m["id"].clone()));
    let mut all_methods = methods;
    all_methods.extend(webhook_methods);
    let mut document = json!({
        "@context": "https://www.w3.org/ns/did/v1",
        "id": did,
        "controller": did,
        "verificationMethod": all_methods,
        "authentication": ids,
        "assertionMethod": assertion,
    });
    if !services.is_empty()
        && let Some(object) = document.as_object_mut()
    {
        let entries: Vec<Value> = services
            .iter()
            .map(|slug| {
                json!({
                    "id": format!("{did}#agent-runtime-{slug}"),
                    "type": "AgentEndpoint",
                    "serviceEndpoint": format!("{origin}/v1/verify?namespace={}&service={slug}", namespace.as_str()),
                })
            })
            .collect();
        object.insert("service".into(), entries.into());
    }
    Ok(Some(
        json!({ "document": document, "created": subjects.created_at }),
    ))
}

/// A namespace's DID document (public).
#[utoipa::path(get, path = "/.well-known/did/{did}", operation_id = "getWellKnownDid", tag = "claims",
    params(("did" = String, Path, description = "did:sigilum:<namespace>")),
    responses(
        (status = 200, description = "The DID document", body = Object,
            content_type = "application/did+ld+json"),
        (status = 400, description = "`VALIDATION_ERROR`", body = SigilumError),
        (status = 404, description = "`NOT_FOUND`", body = SigilumError),
    ))]
pub async fn well_known_did(
    req: HttpRequest,
    state: web::Data<AppState>,
    did: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let found = did_document(&state, &req, &did).await?;
    let found = found.ok_or_else(|| ApiError::from(assent_store::StoreError::NotFound))?;
    Ok(HttpResponse::Ok()
        .insert_header((CACHE_CONTROL, "public, max-age=300"))
        .content_type("application/did+ld+json")
        .body(found["document"].to_string()))
}

/// DID resolution in the W3C DID-Resolution envelope (public).
#[utoipa::path(get, path = "/1.0/identifiers/{did}", operation_id = "resolveDid", tag = "claims",
    params(("did" = String, Path, description = "did:sigilum:<namespace>")),
    responses(
        (status = 200, description = "Resolved", body = Object, content_type = "application/ld+json;profile=\"https://w3id.org/did-resolution\""),
        (status = 400, description = "`invalidDid`", body = Object, content_type = "application/ld+json;profile=\"https://w3id.org/did-resolution\""),
        (status = 404, description = "`notFound`", body = Object, content_type = "application/ld+json;profile=\"https://w3id.org/did-resolution\""),
    ))]
pub async fn resolve_did(
    req: HttpRequest,
    state: web::Data<AppState>,
    did: web::Path<String>,
) -> HttpResponse {
    let envelope = |status: StatusCode, document: Value, metadata: Value, error: Option<&str>| {
        let mut resolution = json!({ "contentType": "application/did+ld+json" });
        if let (Some(error), Some(object)) = (error, resolution.as_object_mut()) {
            object.insert("error".into(), error.into());
        }
        HttpResponse::build(status)
            .insert_header((
                CACHE_CONTROL,
                if status == StatusCode::OK {
                    "public, max-age=300"
                } else {
                    "no-store"
                },
            ))
            .content_type("application/ld+json;profile=\"https://w3id.org/did-resolution\"")
            .body(
                json!({
                    "@context": "https://w3id.org/did-resolution/v1",
                    "didDocument": document,
                    "didDocumentMetadata": metadata,
                    "didResolutionMetadata": resolution,
                })
                .to_string(),
            )
    };
    match did_document(&state, &req, &did).await {
        Ok(Some(found)) => envelope(
            StatusCode::OK,
            found["document"].clone(),
            json!({ "created": found["created"], "deactivated": false }),
            None,
        ),
        Ok(None) => envelope(
            StatusCode::NOT_FOUND,
            Value::Null,
            json!({}),
            Some("notFound"),
        ),
        Err(e) if e.status() == StatusCode::BAD_REQUEST => envelope(
            StatusCode::BAD_REQUEST,
            Value::Null,
            json!({}),
            Some("invalidDid"),
        ),
        Err(_) => envelope(
            StatusCode::INTERNAL_SERVER_ERROR,
            Value::Null,
            json!({}),
            Some("internalError"),
        ),
    }
}
