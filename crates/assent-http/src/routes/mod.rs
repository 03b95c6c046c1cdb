//! Route table. Each module holds the handlers of one resource.

use actix_web::web;

pub mod atp_services;
pub mod health;

/// Registers every route. Unknown paths and wrong methods become enveloped 404/405 errors in
/// the request-context middleware.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/health").route(web::get().to(health::health)))
        .service(web::resource("/api/v1/health").route(web::get().to(health::atp_health)))
        .service(web::resource("/ready").route(web::get().to(health::ready)))
        .service(web::resource("/openapi.json").route(web::get().to(crate::openapi::document)))
        .service(web::resource("/api/v1/services").route(web::post().to(atp_services::register)));
}
