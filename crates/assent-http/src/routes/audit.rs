//! The owner's audit log: who changed what in the namespace, newest first.

use actix_web::{HttpResponse, web};
use assent_core::Timestamp;
use assent_store::AuditRecord;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::auth::Owner;
use crate::error::ApiError;
use crate::openapi::SigilumError;
use crate::pagination;
use crate::state::AppState;

#[derive(Debug, Deserialize, IntoParams)]
pub struct AuditQuery {
    /// Entries per page, 1 to 200 (default 50).
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
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AuditPage {
    pub entries: Vec<AuditEntryView>,
    /// Pass as `cursor` for the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

/// The namespace's audit log, newest first.
#[utoipa::path(get, path = "/v1/audit-log", tag = "owners", params(AuditQuery),
    security(("session" = []), ("bearer" = [])),
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
    let (records, next_cursor) = audit_page(
        &state,
        owner.namespace().to_owned(),
        query.limit.as_deref(),
        query.cursor,
    )
    .await?;
    Ok(HttpResponse::Ok().json(AuditPage {
        entries: records
            .into_iter()
            .map(|r| AuditEntryView {
                id: r.seq,
                actor: r.actor,
                action: r.action,
                target_id: r.target_id,
                details: r.details,
                created_at: r.created_at,
            })
            .collect(),
        next_cursor,
    }))
}

/// One page of a namespace's audit log, newest first, and the cursor of the next page: the
/// rules of `GET /v1/audit-log` (`limit` 1 to 200, default 50; the cursor a `seq`), shared
/// with the dashboard.
pub(crate) async fn audit_page(
    state: &AppState,
    namespace: String,
    limit: Option<&str>,
    cursor: Option<String>,
) -> Result<(Vec<AuditRecord>, Option<String>), ApiError> {
    let limit = pagination::limit(limit)?;
    let before = cursor
        .map(|raw| raw.parse::<i64>().map_err(|_| pagination::bad_cursor()))
        .transpose()?;
    let store = state.store.clone();
    let mut records =
        web::block(move || store.list_audit_log(&namespace, limit + 1, before)).await??;
    let next_cursor = pagination::finish(&mut records, limit, |r| r.seq.to_string());
    Ok((records, next_cursor))
}
