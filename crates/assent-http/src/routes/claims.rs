//! Claims for namespace owners (session): read one, decide (approve, reject, revoke), and list
//! the namespace's claims.

use actix_web::{HttpResponse, web};
use assent_app::claims;
use assent_core::Timestamp;
use assent_core::claim::Decision;
use assent_core::claim::{Claim, ClaimStatus};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::auth::Owner;
use crate::error::ApiError;
use crate::error::SigilumError;
use crate::state::AppState;

#[derive(Debug, Serialize, ToSchema)]
pub struct ClaimView {
    /// `cl_` + 24 hex.
    pub claim_id: String,
    pub namespace: String,
    /// The service's slug.
    pub service: String,
    pub service_id: String,
    /// The agent key as submitted (`ed25519:<base64>`).
    pub public_key: String,
    /// The same key as a `did:key`.
    pub agent_key: String,
    pub agent_ip: Option<String>,
    pub subject: Option<String>,
    pub agent_id: Option<String>,
    pub agent_name: Option<String>,
    #[schema(schema_with = claim_status)]
    pub status: String,
    #[schema(value_type = String)]
    pub created_at: Timestamp,
    /// When a pending claim expires.
    #[schema(value_type = String)]
    pub expires_at: Timestamp,
    #[schema(value_type = Option<String>)]
    pub approved_at: Option<Timestamp>,
    /// When it was rejected, revoked or expired.
    #[schema(value_type = Option<String>)]
    pub decided_at: Option<Timestamp>,
    /// Who or what decided it: `account:<id>` (the owner), `policy:<rule id>`, or
    /// `limit:max_pending` / `limit:max_pending_per_service` (docs/policies.md).
    #[schema(example = "policy:pol_3f9a0c1d2e4b5a6978a1b2c3")]
    pub decided_by: Option<String>,
}

fn claim_status() -> utoipa::openapi::Object {
    crate::openapi::one_of(ClaimStatus::ALL.map(ClaimStatus::as_str))
}

impl From<Claim> for ClaimView {
    fn from(c: Claim) -> Self {
        Self {
            claim_id: c.id,
            namespace: c.namespace,
            service: c.service_slug,
            service_id: c.service_id,
            public_key: c.public_key,
            agent_key: c.agent_key,
            agent_ip: c.agent_ip,
            subject: c.subject,
            agent_id: c.agent_id,
            agent_name: c.agent_name,
            status: c.status.as_str().to_owned(),
            created_at: c.created_at,
            expires_at: c.expires_at,
            approved_at: c.approved_at,
            decided_at: c.decided_at,
            decided_by: c.decided_by,
        }
    }
}

/// One of the owner's claims.
#[utoipa::path(get, path = "/v1/claims/{claim_id}", operation_id = "getClaim", tag = "claims",
    params(("claim_id" = String, Path, description = "The claim's id")),
    security(("sessionToken" = []), ("sessionCookie" = [])),
    responses(
        (status = 200, description = "The claim", body = ClaimView),
        (status = 401, description = "`UNAUTHORIZED`", body = SigilumError),
        (status = 404, description = "`NOT_FOUND`, also for another namespace's claim", body = SigilumError),
    ))]
pub async fn get(
    owner: Owner,
    state: web::Data<AppState>,
    claim_id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let claim = claims::get(&state.app, &owner.account, claim_id.into_inner()).await?;
    Ok(HttpResponse::Ok().json(ClaimView::from(claim)))
}

async fn decide(
    owner: Owner,
    state: web::Data<AppState>,
    claim_id: String,
    decision: Decision,
) -> Result<HttpResponse, ApiError> {
    let claim = claims::decide(&state.app, &owner.account, claim_id, decision).await?;
    Ok(HttpResponse::Ok().json(ClaimView::from(claim)))
}

/// Approve a pending claim: the agent key may act on the service. Of concurrent decisions
/// exactly one wins; the others get 409.
#[utoipa::path(post, path = "/v1/claims/{claim_id}/approve", operation_id = "approveClaim", tag = "claims",
    params(("claim_id" = String, Path, description = "The claim's id")),
    security(("sessionToken" = []), ("sessionCookie" = [])),
    responses(
        (status = 200, description = "Approved; `request.approved` is delivered", body = ClaimView),
        (status = 401, description = "`UNAUTHORIZED`", body = SigilumError),
        (status = 403, description = "`CSRF_REJECTED`", body = SigilumError),
        (status = 404, description = "`NOT_FOUND`", body = SigilumError),
        (status = 409, description = "`CLAIM_STATE_CONFLICT`: not pending (decided, or expired)", body = SigilumError),
    ))]
pub async fn approve(
    owner: Owner,
    state: web::Data<AppState>,
    claim_id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    decide(owner, state, claim_id.into_inner(), Decision::Approve).await
}

/// Reject a pending claim.
#[utoipa::path(post, path = "/v1/claims/{claim_id}/reject", operation_id = "rejectClaim", tag = "claims",
    params(("claim_id" = String, Path, description = "The claim's id")),
    security(("sessionToken" = []), ("sessionCookie" = [])),
    responses(
        (status = 200, description = "Rejected; `request.rejected` is delivered", body = ClaimView),
        (status = 401, description = "`UNAUTHORIZED`", body = SigilumError),
        (status = 403, description = "`CSRF_REJECTED`", body = SigilumError),
        (status = 404, description = "`NOT_FOUND`", body = SigilumError),
        (status = 409, description = "`CLAIM_STATE_CONFLICT`: not pending", body = SigilumError),
    ))]
pub async fn reject(
    owner: Owner,
    state: web::Data<AppState>,
    claim_id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    decide(owner, state, claim_id.into_inner(), Decision::Reject).await
}

/// Revoke an approved claim: verification says unauthorized from the next request on.
#[utoipa::path(post, path = "/v1/claims/{claim_id}/revoke", operation_id = "revokeClaim", tag = "claims",
    params(("claim_id" = String, Path, description = "The claim's id")),
    security(("sessionToken" = []), ("sessionCookie" = [])),
    responses(
        (status = 200, description = "Revoked; `request.revoked` is delivered", body = ClaimView),
        (status = 401, description = "`UNAUTHORIZED`", body = SigilumError),
        (status = 403, description = "`CSRF_REJECTED`", body = SigilumError),
        (status = 404, description = "`NOT_FOUND`", body = SigilumError),
        (status = 409, description = "`CLAIM_STATE_CONFLICT`: not approved", body = SigilumError),
    ))]
pub async fn revoke(
    owner: Owner,
    state: web::Data<AppState>,
    claim_id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    decide(owner, state, claim_id.into_inner(), Decision::Revoke).await
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ClaimQuery {
    /// `pending`, `approved`, `rejected`, `revoked` or `expired`.
    #[param(schema_with = claim_status)]
    pub status: Option<String>,
    /// A service slug.
    pub service: Option<String>,
    /// Claims per page, 1 to 200 (default 50).
    #[param(value_type = Option<i64>, minimum = 1, maximum = 200)]
    pub limit: Option<String>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ClaimPage {
    pub claims: Vec<ClaimView>,
    pub next_cursor: Option<String>,
}

/// The namespace's claims, newest first.
#[utoipa::path(get, path = "/v1/namespaces/{namespace}/claims", operation_id = "listNamespaceClaims", tag = "claims",
    params(("namespace" = String, Path, description = "The owner's namespace"), ClaimQuery),
    security(("sessionToken" = []), ("sessionCookie" = [])),
    responses(
        (status = 200, description = "One page of claims", body = ClaimPage),
        (status = 400, description = "`VALIDATION_ERROR`", body = SigilumError),
        (status = 401, description = "`UNAUTHORIZED`", body = SigilumError),
        (status = 403, description = "`FORBIDDEN`: not the caller's namespace", body = SigilumError),
    ))]
pub async fn list(
    owner: Owner,
    state: web::Data<AppState>,
    namespace: web::Path<String>,
    query: web::Query<ClaimQuery>,
) -> Result<HttpResponse, ApiError> {
    let query = query.into_inner();
    let query = claims::ListQuery {
        status: query.status,
        service: query.service,
        limit: query.limit,
        cursor: query.cursor,
    };
    let page = claims::list(&state.app, &owner.account, &namespace, query).await?;
    Ok(HttpResponse::Ok().json(ClaimPage {
        claims: page.items.into_iter().map(ClaimView::from).collect(),
        next_cursor: page.next_cursor,
    }))
}
