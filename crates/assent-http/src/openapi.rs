//! The OpenAPI document, generated from the handlers' annotations. `docs/openapi.json` is a
//! committed copy; a test fails when it is stale (regenerate with `just openapi`).

use std::sync::OnceLock;

use actix_web::http::header::LOCATION;
use actix_web::{HttpResponse, web};
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{Object, ObjectBuilder, Schema, SchemaType, Type};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_swagger_ui::{Config, SwaggerUi};

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
        crate::metrics::scrape,
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
        routes::mcp::post,
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
        routes::channels::list,
        routes::channels::add,
        routes::channels::verify,
        routes::channels::remove,
        routes::channels::update,
        routes::channels::test,
        routes::channels::resend_verification,
        routes::channels::messages,
        routes::channels::web_push_key,
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
        routes::webhook_keys::jwks,
        routes::agents::resolve_did,
        routes::claims::get,
        routes::claims::approve,
        routes::claims::reject,
        routes::claims::revoke,
        routes::claims::list,
        routes::policies::get,
        routes::policies::replace,
        routes::policies::get_settings,
        routes::policies::patch_settings,
        routes::policies::list_grants,
        routes::policies::create_grant,
        routes::policies::revoke_grant,
    ),
    components(schemas(AtpError, SigilumError)),
    modifiers(&SecuritySchemes, &OptionalBodies),
    tags(
        (name = "operator", description = "Health and readiness"),
        (name = "ATP services", description = "Service registration (admin token) and identity (API key)"),
        (name = "owners", description = "Accounts, sessions, user tokens and the audit log"),
        (name = "services", description = "Owners' services, API keys and webhooks (session)"),
        (name = "claims", description = "Authorization requests of agents, decided by the namespace owner"),
        (name = "MCP", description = "The Model Context Protocol endpoint for agents (Streamable HTTP); see docs/mcp.md"),
        (name = "webhooks", description = "Delivery log, retry, test, secret rotation (session); see docs/webhooks.md"),
        (name = "policies", description = "Owner policies: rules, pending caps, standing grants, Sigilum settings (session); see docs/policies.md"),
    )
)]
pub struct ApiDoc;

/// The credential kinds, one security scheme each: several are bearer tokens, told apart by
/// what issued them, so a client (or a code generator) knows which one an operation takes.
struct SecuritySchemes;

/// How an agent signs a request (RFC 9421 with the Sigilum profile), for the
/// `sigilumSignature` scheme: OpenAPI has no scheme for HTTP message signatures, so the scheme
/// names the `Signature` header and this says what goes with it.
const SIGNATURE_DESCRIPTION: &str = "An RFC 9421 HTTP message signature (Ed25519) by an \
    agent key, with the Sigilum profile; see `docs/signing.md`. Every header below is required \
    once and non-empty:\n\n\
    - `Signature-Input`: `sig1=(\"@method\" \"@target-uri\" [\"content-digest\"] \
    \"sigilum-namespace\" \"sigilum-subject\" \"sigilum-agent-key\" \"sigilum-agent-cert\");\
    created=<unix seconds>;keyid=\"<key id>\";alg=\"ed25519\";nonce=\"<unique>\"` \
    (the components in exactly this order; `content-digest` only when there is a body).\n\
    - `Signature`: `sig1=:<base64 of the 64-byte Ed25519 signature of the signature base>:`.\n\
    - `Content-Digest`: `sha-256=:<base64 of SHA-256 of the body>:`, for a request with a body.\n\
    - `Sigilum-Namespace`: the namespace the agent acts in.\n\
    - `Sigilum-Subject`: who the agent acts for.\n\
    - `Sigilum-Agent-Key`: `ed25519:<base64 of the 32-byte public key>`.\n\
    - `Sigilum-Agent-Cert`: the self-signed certificate binding the key to the namespace.\n\n\
    A nonce is accepted once (`SIGNATURE_NONCE_REPLAY`), and `created` must be recent.";

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        let bearer = |format: &str, description: &str| {
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format(format)
                    .description(Some(description))
                    .build(),
            )
        };
        components.add_security_scheme(
            "adminToken",
            bearer(
                "admin token",
                "An operator's admin token, from `assent admin-token create` (or the \
                 bootstrap token of the first start).",
            ),
        );
        components.add_security_scheme(
            "serviceApiKey",
            bearer(
                "sk_live_…",
                "A service's API key (`sk_live_…`), returned once when the service is \
                 registered or a key is created.",
            ),
        );
        components.add_security_scheme(
            "userToken",
            bearer(
                "ut_…",
                "A user token (`ut_…`) of a namespace owner's ATP client app, from \
                 `POST /v1/auth/tokens` or `assent user-token create`; an owner's session \
                 token is accepted too.",
            ),
        );
        components.add_security_scheme(
            "sessionToken",
            bearer(
                "session token",
                "A namespace owner's session token, returned by `/v1/auth/login` and \
                 `/v1/auth/signup`.",
            ),
        );
        components.add_security_scheme(
            "sessionCookie",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                crate::auth::SESSION_COOKIE,
                "The session cookie set at login. A state-changing request with it must come \
                 from this server's own origin (`Origin` or `Referer`), else 403 \
                 `CSRF_REJECTED`.",
            ))),
        );
        components.add_security_scheme(
            "streamToken",
            SecurityScheme::ApiKey(ApiKey::Query(ApiKeyValue::with_description(
                "token",
                "A user token in the query, for `EventSource` and WebSocket clients, which \
                 cannot set headers.",
            ))),
        );
        components.add_security_scheme(
            "sigilumSignature",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "Signature",
                SIGNATURE_DESCRIPTION,
            ))),
        );
    }
}

/// utoipa writes an optional body (`request_body = Option<T>`) as "`T` or `null`", but the
/// server takes an absent body, not a `null` one (400 `INVALID_JSON`): the body stays optional
/// (`required` unset) with `T` as its schema.
struct OptionalBodies;

impl Modify for OptionalBodies {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let items = openapi.paths.paths.values_mut();
        let operations = items.flat_map(|item| {
            [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.patch,
            ]
        });
        for body in operations.flatten().filter_map(|o| o.request_body.as_mut()) {
            for content in body.content.values_mut() {
                if let Some(RefOr::T(Schema::OneOf(one_of))) = &content.schema {
                    let not_null = one_of.items.iter().find(|item| {
                        !matches!(item, RefOr::T(Schema::Object(o))
                            if o.schema_type == SchemaType::Type(Type::Null))
                    });
                    if let (Some(schema), 2) = (not_null, one_of.items.len()) {
                        content.schema = Some(schema.clone());
                    }
                }
            }
        }
    }
}

/// A string schema that takes only `values`, for a field whose Rust type is a plain string but
/// whose values the server limits to a few names (taken from the domain type, so the document
/// cannot drift from what the server accepts or sends).
pub(crate) fn one_of(values: impl IntoIterator<Item = &'static str>) -> Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(values))
        .build()
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

/// Browsable API docs at `/docs/`: Swagger UI, bundled into the binary (no network needed),
/// reading the document at `/openapi.json`. `/docs` itself redirects there, so the page's
/// relative asset paths resolve under `/docs/`.
pub fn configure_docs(cfg: &mut web::ServiceConfig) {
    // Swagger UI would otherwise send the document's URL to validator.swagger.io for a badge.
    let config = Config::new(["/openapi.json"]).validator_url("none");
    cfg.service(web::resource("/docs").route(web::get().to(|| async {
        HttpResponse::PermanentRedirect()
            .insert_header((LOCATION, "/docs/"))
            .finish()
    })))
    .service(SwaggerUi::new("/docs/{_:.*}").config(config));
}
