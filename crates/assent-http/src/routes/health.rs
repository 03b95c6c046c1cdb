//! Operator endpoints: liveness (no database, the framework's ceiling) and readiness.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use serde::Serialize;
use utoipa::ToSchema;

use crate::error::{ApiError, code};
use crate::state::AppState;

#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    /// Always `ok` when the process answers.
    #[schema(example = "ok")]
    pub status: &'static str,
    /// The server's version.
    #[schema(example = "0.1.0")]
    pub version: &'static str,
}

fn alive() -> HttpResponse {
    HttpResponse::Ok().json(Health {
        status: "ok",
        version: env!("CARGO_PKG_VERSION"),
    })
}

/// Liveness: the process is up. Touches no database, so it is cheap enough for any prober.
#[utoipa::path(get, path = "/health", operation_id = "getHealth", tag = "operator",
    responses((status = 200, description = "The server is up", body = Health)))]
pub async fn health() -> HttpResponse {
    alive()
}

/// Liveness under the ATP prefix, for ATP clients' connectivity checks.
#[utoipa::path(get, path = "/api/v1/health", operation_id = "getAtpHealth", tag = "operator",
    responses((status = 200, description = "The server is up", body = Health)))]
pub async fn atp_health() -> HttpResponse {
    alive()
}

/// Readiness: the database answers. Load balancers should route to a replica only when ready.
#[utoipa::path(get, path = "/ready", operation_id = "getReadiness", tag = "operator", responses(
    (status = 200, description = "The database answers", body = Health),
    (status = 503, description = "The database does not answer", body = crate::error::SigilumError)))]
pub async fn ready(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    state.app.run(|store| store.ping()).await.map_err(|e| {
        tracing::warn!(error = %e, "readiness check failed");
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            code::SERVICE_UNAVAILABLE,
            "The database is not reachable.",
        )
    })?;
    Ok(alive())
}
