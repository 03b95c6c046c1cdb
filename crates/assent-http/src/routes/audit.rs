//! The owner's audit log: who changed what in the namespace, newest first.

use actix_web::{HttpResponse, web};
use assent_app::audit;
use assent_core::Timestamp;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::auth::Owner;
use crate::error::ApiError;
use crate::error::SigilumError;
use crate::state::AppState;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// Entries per page, 1 to 200 (default 50).
    #[param(value_type = Option<i64>, minimum = 1, maximum = 200)]
    pub limit: Option<String>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AuditEntryView {
    /// Increases with every entry.
    pub id: i64,
    /// `account:<id>`, `admin_token:<id>` or `cli`.
    pub actor: String,
    #[schema(example = "api_key.revoked")]
    pub action: String,
    pub target_id: String,
    #[schema(value_type = Object)]
    pub details: serde_json::Value,
    #[schema(value_type = String)]
    pub created_at: Timestamp,
    /// The client address the change came from (as trusted proxies forwarded it); `null` for
    /// the operator's command line and for entries older than this field.
    #[schema(example = "203.0.113.7")]
    pub client_addr: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AuditPage {
    pub entries: Vec<AuditEntryView>,
    /// Pass as `cursor` for the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

/// The namespace's audit log, newest first.
#[utoipa::path(get, path = "/v1/audit-log", operation_id = "listAuditLog", tag = "owners", params(AuditQuery),
    security(("sessionToken" = []), ("sessionCookie" = [])),
    responses(
        (status = 200, description = "One page of entries", body = AuditPage),
        (status = 400, description = "`VALIDATION_ERROR`: a bad `limit` or `cursor`", body = SigilumError),
        (status = 401, description = "`UNAUTHORIZED`", body = SigilumError),
    ))]
pub async fn list(
    owner: Owner,
    state: web::Data<AppState>,
    query: web::Query<AuditQuery>,
) -> Result<HttpResponse, ApiError> {
    let query = query.into_inner();
    let page = audit::page(
        &state.app,
        &owner.account,
        query.limit.as_deref(),
        query.cursor,
    )
    .await?;
    Ok(HttpResponse::Ok().json(AuditPage {
        entries: page
            .items
            .into_iter()
            .map(|r| AuditEntryView {
                id: r.seq,
                actor: r.actor,
                action: r.action,
                target_id: r.target_id,
                details: r.details,
                created_at: r.created_at,
                client_addr: r.client_addr,
            })
            .collect(),
        next_cursor: page.next_cursor,
    }))
}
