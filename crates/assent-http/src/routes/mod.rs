//! Route table. Each module holds the handlers of one resource.

use actix_web::http::StatusCode;
use actix_web::http::header::CACHE_CONTROL;
use actix_web::{HttpResponse, HttpResponseBuilder, web};

pub mod agents;
pub mod atp_services;
pub mod audit;
pub mod auth;
pub mod channels;
pub mod claims;
pub mod client;
pub mod deliveries;
pub mod health;
pub mod mcp;
pub mod notifications;
pub mod policies;
pub mod services;
pub mod shapes;
pub mod streams;
pub mod webhook_keys;

/// A response carrying a secret shown once (a session, key, token or webhook secret):
/// `Cache-Control: no-store`, so no cache or browser history keeps a copy.
pub(crate) fn secret_response(status: StatusCode) -> HttpResponseBuilder {
    let mut response = HttpResponse::build(status);
    response.insert_header((CACHE_CONTROL, "no-store"));
    response
}

/// Registers every route. Unknown paths and wrong methods become enveloped 404/405 errors in
/// the request-context middleware.
pub fn configure(cfg: &mut web::ServiceConfig) {
    // HEAD as well as GET: load balancers and uptime checkers probe with either.
    cfg.service(
        web::resource("/health")
            .route(web::get().to(health::health))
            .route(web::head().to(health::health)),
    )
    .service(
        web::resource("/api/v1/health")
            .route(web::get().to(health::atp_health))
            .route(web::head().to(health::atp_health)),
    )
    .service(
        web::resource("/ready")
            .route(web::get().to(health::ready))
            .route(web::head().to(health::ready)),
    )
    .service(web::resource("/mcp").route(web::post().to(mcp::post)))
    .service(web::resource("/api/v1/services").route(web::post().to(atp_services::register)))
    .service(web::resource("/api/v1/services/me").route(web::get().to(atp_services::me)))
    .service(web::resource("/api/v1/notifications").route(web::post().to(notifications::create)))
    .service(
        web::resource("/api/v1/notifications/{id}")
            .route(web::get().to(notifications::get))
            .route(web::patch().to(notifications::invalidate)),
    )
    .service(web::resource("/api/v1/client/notifications").route(web::get().to(client::list)))
    .service(web::resource("/api/v1/client/notifications/{id}").route(web::get().to(client::get)))
    .service(
        web::resource("/api/v1/client/notifications/{id}/acknowledge")
            .route(web::post().to(client::acknowledge)),
    )
    .service(web::resource("/api/v1/client/respond").route(web::post().to(client::respond)))
    .service(web::resource("/api/v1/client/events").route(web::get().to(streams::events)))
    .service(web::resource("/api/v1/client/stream").route(web::get().to(streams::stream)))
    .service(web::resource("/dashboard/events").route(web::get().to(streams::dashboard_events)))
    .service(web::resource("/v1/auth/signup").route(web::post().to(auth::signup)))
    .service(web::resource("/v1/auth/login").route(web::post().to(auth::login)))
    .service(web::resource("/v1/auth/logout").route(web::post().to(auth::logout)))
    .service(web::resource("/v1/auth/me").route(web::get().to(auth::me)))
    .service(web::resource("/v1/auth/password").route(web::post().to(auth::change_password)))
    .service(web::resource("/v1/invites").route(web::post().to(auth::create_invite)))
    .configure(channels::configure)
    .service(
        web::resource("/v1/auth/sessions")
            .route(web::get().to(auth::list_sessions))
            .route(web::delete().to(auth::end_other_sessions)),
    )
    .service(
        web::resource("/v1/auth/sessions/{session_id}").route(web::delete().to(auth::end_session)),
    )
    .service(
        web::resource("/v1/auth/tokens")
            .route(web::get().to(auth::list_tokens))
            .route(web::post().to(auth::create_token)),
    )
    .service(
        web::resource("/v1/auth/tokens/{token_id}").route(web::delete().to(auth::revoke_token)),
    )
    .service(web::resource("/v1/audit-log").route(web::get().to(audit::list)))
    .service(
        web::resource("/v1/auth/settings")
            .route(web::get().to(policies::get_settings))
            .route(web::patch().to(policies::patch_settings)),
    )
    .service(
        web::resource("/v1/policies")
            .route(web::get().to(policies::get))
            .route(web::put().to(policies::replace)),
    )
    .service(
        web::resource("/v1/grants")
            .route(web::get().to(policies::list_grants))
            .route(web::post().to(policies::create_grant)),
    )
    .service(web::resource("/v1/grants/{grant_id}").route(web::delete().to(policies::revoke_grant)))
    .service(web::resource("/v1/claims").route(web::post().to(agents::submit)))
    .service(web::resource("/v1/verify").route(web::get().to(agents::verify)))
    // Before /v1/namespaces/{namespace}, which would also match it.
    .service(web::resource("/v1/namespaces/claims").route(web::get().to(agents::feed)))
    .service(web::resource("/v1/namespaces/{namespace}").route(web::get().to(agents::namespace)))
    .service(web::resource("/.well-known/did/{did}").route(web::get().to(agents::well_known_did)))
    .service(web::resource("/1.0/identifiers/{did}").route(web::get().to(agents::resolve_did)))
    .service(web::resource("/v1/claims/{claim_id}").route(web::get().to(claims::get)))
    .service(web::resource("/v1/claims/{claim_id}/approve").route(web::post().to(claims::approve)))
    .service(web::resource("/v1/claims/{claim_id}/reject").route(web::post().to(claims::reject)))
    .service(web::resource("/v1/claims/{claim_id}/revoke").route(web::post().to(claims::revoke)))
    .service(web::resource("/v1/namespaces/{namespace}/claims").route(web::get().to(claims::list)))
    .service(
        web::resource("/v1/namespaces/{namespace}/jwks.json")
            .route(web::get().to(webhook_keys::jwks)),
    )
    .service(
        web::resource("/v1/services")
            .route(web::get().to(services::list))
            .route(web::post().to(services::create)),
    )
    .service(
        web::resource("/v1/services/{service_id}")
            .route(web::get().to(services::get))
            .route(web::patch().to(services::update))
            .route(web::delete().to(services::delete)),
    )
    .service(
        web::resource("/v1/services/{service_id}/keys")
            .route(web::get().to(services::list_keys))
            .route(web::post().to(services::create_key)),
    )
    .service(
        web::resource("/v1/services/{service_id}/keys/{key_id}")
            .route(web::delete().to(services::revoke_key)),
    )
    .service(
        web::resource("/v1/services/{service_id}/webhooks")
            .route(web::get().to(services::list_webhooks))
            .route(web::post().to(services::create_webhook)),
    )
    .service(
        web::resource("/v1/services/{service_id}/webhooks/{webhook_id}")
            .route(web::patch().to(deliveries::update))
            .route(web::delete().to(services::delete_webhook)),
    )
    .service(
        web::resource("/v1/services/{service_id}/webhooks/{webhook_id}/deliveries")
            .route(web::get().to(deliveries::list)),
    )
    .service(
        web::resource(
            "/v1/services/{service_id}/webhooks/{webhook_id}/deliveries/{delivery_id}/retry",
        )
        .route(web::post().to(deliveries::retry)),
    )
    .service(
        web::resource("/v1/services/{service_id}/webhooks/{webhook_id}/test")
            .route(web::post().to(deliveries::test)),
    )
    .service(
        web::resource("/v1/services/{service_id}/webhooks/{webhook_id}/rotate-secret")
            .route(web::post().to(deliveries::rotate_secret)),
    );
}

#[cfg(test)]
mod tests {
    use assent_core::Namespace;
    use assent_core::namespace::RESERVED;

    /// The literal segments of every path this crate routes that could be a namespace: from
    /// the route tables' string literals (the API's, the dashboard's, the server's own) and
    /// from the OpenAPI document.
    fn route_segments() -> Vec<String> {
        let sources = [
            include_str!("mod.rs"),
            include_str!("../dashboard/mod.rs"),
            include_str!("../server.rs"),
        ];
        let literals = sources
            .iter()
            .flat_map(|source| source.split('"').skip(1).step_by(2))
            .filter(|literal| literal.starts_with('/'))
            .map(str::to_owned);
        let document: serde_json::Value =
            serde_json::from_str(&crate::openapi::document_json()).unwrap_or_default();
        let documented = document["paths"]
            .as_object()
            .map(|paths| paths.keys().cloned().collect::<Vec<_>>())
            .unwrap_or_default();
        assert!(!documented.is_empty(), "the OpenAPI document has paths");
        literals
            .chain(documented)
            .flat_map(|path| {
                path.split('/')
                    .filter(|segment| !segment.starts_with('{'))
                    .filter(|segment| Namespace::parse(segment).is_ok())
                    .map(str::to_owned)
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    #[test]
    fn every_path_segment_is_a_reserved_namespace() {
        let segments = route_segments();
        assert!(segments.iter().any(|s| s == "claims"), "{segments:?}");
        let mut missing: Vec<&String> = segments
            .iter()
            .filter(|segment| !RESERVED.contains(&segment.as_str()))
            .collect();
        missing.dedup();
        assert!(
            missing.is_empty(),
            "add these to assent_core::namespace::RESERVED: {missing:?}"
        );
    }
}
