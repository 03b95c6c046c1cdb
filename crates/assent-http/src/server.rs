//! Building and starting the HTTP server.

use std::net::TcpListener;
use std::time::Duration;

use actix_cors::Cors;
use actix_web::dev::Server;
use actix_web::http::Method;
use actix_web::http::header::{AUTHORIZATION, CONTENT_TYPE, LOCATION, RETRY_AFTER};
use actix_web::middleware::{Condition, DefaultHeaders, from_fn};
use actix_web::{App, HttpResponse, HttpServer, web};

use crate::request_context::{REQUEST_ID_HEADER, request_context};
use crate::routes;
use crate::state::AppState;

#[derive(Debug, Clone)]
pub struct ServerOptions {
    /// Worker threads (each runs its own event loop).
    pub workers: usize,
    /// How long in-flight requests may take to finish on shutdown.
    pub shutdown_timeout: Duration,
}

impl Default for ServerOptions {
    fn default() -> Self {
        Self {
            workers: std::thread::available_parallelism().map_or(2, usize::from),
            shutdown_timeout: Duration::from_secs(10),
        }
    }
}

/// The whole application on one `ServiceConfig`, for `App::configure` (the server below, or a
/// test harness of an embedding project).
pub fn app_config(state: AppState) -> impl Fn(&mut web::ServiceConfig) + Clone {
    let payload = web::PayloadConfig::new(state.settings.max_body_bytes);
    let data = web::Data::new(state);
    move |cfg: &mut web::ServiceConfig| {
        cfg.app_data(data.clone()).app_data(payload.clone());
        // The JSON routes (and the document that describes them) first: `/dashboard/events`
        // is one of them, before the dashboard's scope.
        routes::configure(cfg);
        if data.settings.metrics.enabled && !data.settings.metrics.separate {
            cfg.service(web::resource("/metrics").route(web::get().to(crate::metrics::scrape)));
        }
        cfg.service(web::resource("/openapi.json").route(web::get().to(crate::openapi::document)));
        crate::openapi::configure_docs(cfg);
        crate::dashboard::configure(cfg);
        cfg.default_service(web::to(HttpResponse::NotFound));
    }
}

/// CORS for browser apps at `origins` calling the API with a bearer token. Never with
/// credentials: a cross-origin request carries no cookie the server would believe, so the
/// session cookie stays same-origin. A request from another origin is served as it would be
/// without CORS (the browser withholds the answer); its preflight is refused.
fn cors(origins: &[String]) -> Cors {
    origins
        .iter()
        .fold(Cors::default(), |cors, origin| cors.allowed_origin(origin))
        .allowed_methods([
            Method::GET,
            Method::HEAD,
            Method::POST,
            Method::PUT,
            Method::PATCH,
            Method::DELETE,
        ])
        .allowed_headers([AUTHORIZATION, CONTENT_TYPE, REQUEST_ID_HEADER])
        .expose_headers([REQUEST_ID_HEADER, RETRY_AFTER, LOCATION])
        .block_on_origin_mismatch(false)
        .max_age(3600)
}

/// Starts serving on `listener`, and the change feed that pushes notifications to open client
/// connections (an embedder using [`app_config`] alone spawns `state.feed.run(…)` itself).
/// The returned [`Server`] runs when awaited (or spawned); stop it through its handle. Signals
/// are left to the caller, which owns the process. Call it inside an actix or tokio runtime.
pub fn start(
    state: AppState,
    listener: TcpListener,
    options: &ServerOptions,
) -> std::io::Result<Server> {
    actix_web::rt::spawn(
        state
            .feed
            .clone()
            .run(state.store().clone(), state.settings.feed_poll),
    );
    let cors_origins = state.settings.cors_origins.clone();
    let timed = state.settings.metrics.enabled;
    let metrics = std::sync::Arc::clone(&state.metrics);
    let config = app_config(state);
    let server = HttpServer::new(move || {
        App::new()
            .configure(config.clone())
            .wrap(DefaultHeaders::new().add(("X-Content-Type-Options", "nosniff")))
            .wrap(Condition::new(
                !cors_origins.is_empty(),
                cors(&cors_origins),
            ))
            .wrap(from_fn(request_context))
            // Outermost, so the time includes every other middleware.
            .wrap(Condition::new(timed, {
                let metrics = std::sync::Arc::clone(&metrics);
                from_fn(move |req, next| {
                    crate::metrics::record(std::sync::Arc::clone(&metrics), req, next)
                })
            }))
    })
    .workers(options.workers)
    // A client that closes its side of the connection is gone: end the connection at once, so
    // a long-lived stream gives its per-user place back now rather than when a heartbeat
    // finally fails to write (a minute later). No HTTP client half-closes and then waits.
    .h1_allow_half_closed(false)
    .shutdown_timeout(options.shutdown_timeout.as_secs())
    .disable_signals()
    .listen(listener)?
    .run();
    Ok(server)
}

/// Serves `/metrics` alone on `listener` (`ASSENT_METRICS_BIND`), beside [`start`].
pub fn start_metrics(state: AppState, listener: TcpListener) -> std::io::Result<Server> {
    let config = crate::metrics::configure_separate(state);
    Ok(
        HttpServer::new(move || App::new().configure(config.clone()))
            .workers(1)
            .disable_signals()
            .listen(listener)?
            .run(),
    )
}
