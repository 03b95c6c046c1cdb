//! The OpenAPI document, generated from the handlers' annotations. `docs/openapi.json` is a
//! committed copy; a test fails when it is stale (regenerate with `just openapi`).

use std::sync::OnceLock;

use actix_web::HttpResponse;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::error::{AtpError, SigilumError};
use crate::routes;

#[derive(Debug, OpenApi)]
#[openapi(
    info(
        title = "assent",
        description = "A control plane for human decisions about AI agents. Two dialects over one \
            core: ATP under `/api/v1`, Sigilum-style under `/v1`. Every response carries \
            `X-Request-ID`; error codes are listed in `docs/errors.md`.",
        license(name = "Apache-2.0"),
    ),
    paths(
        routes::health::health,
        routes::health::atp_health,
        routes::health::ready,
        routes::atp_services::register,
        routes::atp_services::me,
        routes::notifications::create,
        routes::notifications::invalidate,
        routes::notifications::get,
        routes::client::list,
        routes::client::get,
        routes::client::acknowledge,
        routes::client::respond,
        routes::streams::events,
        routes::streams::stream,
        routes::auth::signup,
        routes::auth::login,
        routes::auth::logout,
        routes::auth::me,
        routes::auth::create_token,
        routes::auth::list_tokens,
        routes::auth::revoke_token,
        routes::auth::change_password,
        routes::auth::list_sessions,
        routes::auth::end_other_sessions,
        routes::auth::end_session,
        routes::auth::create_invite,
        routes::audit::list,
        routes::services::list,
        routes::services::create,
        routes::services::get,
        routes::services::update,
        routes::services::delete,
        routes::services::list_keys,
        routes::services::create_key,
        routes::services::revoke_key,
        routes::services::list_webhooks,
        routes::services::create_webhook,
        routes::services::delete_webhook,
        routes::deliveries::update,
        routes::deliveries::list,
        routes::deliveries::retry,
        routes::deliveries::test,
        routes::deliveries::rotate_secret,
        routes::agents::submit,
        routes::agents::verify,
        routes::agents::feed,
        routes::agents::namespace,
        routes::agents::well_known_did,
        routes::agents::resolve_did,
        routes::claims::get,
        routes::claims::approve,
        routes::claims::reject,
        routes::claims::revoke,
        routes::claims::list,
    ),
    components(schemas(AtpError, SigilumError)),
    modifiers(&BearerAuth),
    tags(
        (name = "operator", description = "Health and readiness"),
        (name = "ATP services", description = "Service registration (admin token) and identity (API key)"),
        (name = "owners", description = "Accounts, sessions, user tokens and the audit log"),
        (name = "services", description = "Owners' services, API keys and webhooks (session)"),
        (name = "claims", description = "Authorization requests of agents, decided by the namespace owner"),
        (name = "webhooks", description = "Delivery log, retry, test, secret rotation (session); see docs/webhooks.md"),
    )
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
        components.add_security_scheme(
            "session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::new(
                crate::auth::SESSION_COOKIE,
            ))),
        );
    }
}

/// The document as pretty JSON with a trailing newline, exactly as committed.
pub fn document_json() -> String {
    let mut json = ApiDoc::openapi()
        .to_pretty_json()
        .unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"));
    json.push('\n');
    json
}

/// `GET /openapi.json`.
pub async fn document() -> HttpResponse {
    static DOCUMENT: OnceLock<String> = OnceLock::new();
    HttpResponse::Ok()
        .content_type("application/json")
        .body(DOCUMENT.get_or_init(document_json).as_str())
}
