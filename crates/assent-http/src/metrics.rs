//! `GET /metrics`: the server's metrics in the OpenMetrics text format (which Prometheus
//! scrapes), with `prometheus-client`.
//!
//! Cheap on the hot paths: requests are counted by a middleware (a labelled histogram: a read
//! lock, a hash lookup and an uncontended mutex per request), everything else where it happens
//! with an atomic add (decisions in `assent-app`, attempts in the delivery engine, rate-limit
//! refusals here). What is a state rather than an event (pending claims, the due queue, the
//! pool, open streams) is read at scrape time: five indexed counts and some atomics.

use std::sync::Arc;
use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{AUTHORIZATION, CONTENT_TYPE};
use actix_web::middleware::Next;
use actix_web::{HttpRequest, HttpResponse, web};
use assent_auth::Secret;
use assent_core::Timestamp;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::error::{ApiError, code};
use crate::rate_limit::ConnectionLimit;
use crate::state::AppState;

/// Where and how `/metrics` is served (`ASSENT_METRICS`, `ASSENT_METRICS_TOKEN`,
/// `ASSENT_METRICS_BIND`).
#[derive(Debug, Clone, Default)]
pub struct MetricsSettings {
    /// Off: no `/metrics`, and requests are not timed.
    pub enabled: bool,
    /// When set, a scrape must send `Authorization: Bearer <token>`.
    pub token: Option<Secret>,
    /// Served on its own listener (`ASSENT_METRICS_BIND`), not on the main one.
    pub separate: bool,
}

/// A request's labels: the route's template (`/api/v1/notifications/{id}`, never the path
/// itself, which would make one series per id), the method and the status class.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    route: String,
    method: &'static str,
    status: &'static str,
}

/// Latency buckets, in seconds: 1 ms to about 8 s.
fn latency_buckets() -> impl Iterator<Item = f64> {
    prometheus_client::metrics::histogram::exponential_buckets(0.001, 2.0, 14)
}

/// The registry and the request histogram; the other metrics live with what they count.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Histogram>,
    delivery_attempts: Family<[(&'static str, &'static str); 1], Counter>,
}

impl Metrics {
    /// Registers every metric of `state`'s parts (called once, by [`AppState::new`]).
    pub(crate) fn new(
        app: &assent_app::App,
        limiter: &crate::rate_limit::RateLimiter,
        websockets: Arc<ConnectionLimit>,
        event_streams: Arc<ConnectionLimit>,
    ) -> Self {
        let mut registry = Registry::with_prefix("assent");
        let requests = Family::<RequestLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(latency_buckets())
        });
        registry.register_with_unit(
            "http_request_duration",
            "HTTP requests by route template, method and status class, and how long they took",
            prometheus_client::registry::Unit::Seconds,
            requests.clone(),
        );
        let delivery_attempts = Family::default();
        registry.register(
            "delivery_attempts",
            "Webhook delivery attempts by outcome",
            delivery_attempts.clone(),
        );
        registry.register(
            "decisions",
            "Decisions on claims and notifications, by kind and by how they were made",
            app.decisions().family(),
        );
        registry.register(
            "rate_limit_refusals",
            "Requests refused by a rate limit, by operation",
            limiter.refusals(),
        );
        registry.register_collector(Box::new(Scraped {
            store: app.store().clone(),
            websockets,
            event_streams,
        }));
        Self {
            registry,
            requests,
            delivery_attempts,
        }
    }

    /// The family the delivery engine counts its attempts into (the binary hands it over).
    pub fn delivery_attempts(&self) -> Family<[(&'static str, &'static str); 1], Counter> {
        self.delivery_attempts.clone()
    }

    fn observe(&self, route: String, method: &'static str, status: u16, seconds: f64) {
        let status = match status {
            100..=199 => "1xx",
            200..=299 => "2xx",
            300..=399 => "3xx",
            400..=499 => "4xx",
            _ => "5xx",
        };
        self.requests
            .get_or_create(&RequestLabels {
                route,
                method,
                status,
            })
            .observe(seconds);
    }

    /// The whole exposition (runs the scrape-time counts: call it on a blocking thread).
    pub fn encode(&self) -> Result<String, std::fmt::Error> {
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry)?;
        Ok(text)
    }
}

/// The label value of a method: the standard ones by name, anything else as `other` (a
/// client may send any token as a method; each must not become a series).
fn method_label(method: &actix_web::http::Method) -> &'static str {
    use actix_web::http::Method;
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

/// The middleware: times each request to its response head and counts it by route template.
pub async fn record(
    metrics: Arc<Metrics>,
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = Instant::now();
    let method = method_label(req.method());
    let result = next.call(req).await;
    let (route, status) = match &result {
        Ok(res) => (
            res.request().match_pattern(),
            res.response().status().as_u16(),
        ),
        Err(e) => (None, e.as_response_error().status_code().as_u16()),
    };
    // Unmatched paths (404s of scanners) share one series.
    let route = route.unwrap_or_else(|| "unmatched".to_owned());
    metrics.observe(route, method, status, started.elapsed().as_secs_f64());
    result
}

/// What a scrape reads now: the database's few counts, the pool, open streams.
#[derive(Debug)]
struct Scraped {
    store: assent_store::Store,
    websockets: Arc<ConnectionLimit>,
    event_streams: Arc<ConnectionLimit>,
}

fn gauge(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    value: i64,
) -> Result<(), std::fmt::Error> {
    let metric = ConstGauge::new(value);
    metric.encode(encoder.encode_descriptor(name, help, None, metric.metric_type())?)
}

fn counter(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    value: f64,
) -> Result<(), std::fmt::Error> {
    let metric = ConstCounter::new(value);
    metric.encode(encoder.encode_descriptor(name, help, None, metric.metric_type())?)
}

impl Collector for Scraped {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let open = |limit: &ConnectionLimit| i64::try_from(limit.open()).unwrap_or(i64::MAX);
        gauge(
            &mut encoder,
            "open_websockets",
            "Open client WebSocket connections",
            open(&self.websockets),
        )?;
        gauge(
            &mut encoder,
            "open_event_streams",
            "Open client Server-Sent Events streams",
            open(&self.event_streams),
        )?;
        let pool = self.store.pool_stats();
        gauge(
            &mut encoder,
            "db_pool_connections",
            "Database connections open in the pool",
            i64::from(pool.connections),
        )?;
        gauge(
            &mut encoder,
            "db_pool_idle_connections",
            "Database connections idle in the pool",
            i64::from(pool.idle),
        )?;
        gauge(
            &mut encoder,
            "db_pool_max_connections",
            "Most database connections the pool opens",
            i64::from(pool.max),
        )?;
        counter(
            &mut encoder,
            "db_pool_waits",
            "Checkouts that waited 1 ms or more for a database connection",
            pool.waits as f64,
        )?;
        counter(
            &mut encoder,
            "db_pool_wait_seconds",
            "Time spent waiting for database connections",
            pool.wait_time.as_secs_f64(),
        )?;
        counter(
            &mut encoder,
            "db_pool_timeouts",
            "Checkouts that found no database connection in time",
            pool.timeouts as f64,
        )?;
        match self.store.gauges(Timestamp::now()) {
            Ok(g) => {
                gauge(
                    &mut encoder,
                    "database_up",
                    "Whether the scrape's counts could be read",
                    1,
                )?;
                gauge(
                    &mut encoder,
                    "pending_claims",
                    "Claims waiting for a decision",
                    g.pending_claims,
                )?;
                gauge(
                    &mut encoder,
                    "pending_notifications",
                    "Notifications waiting for an answer",
                    g.pending_notifications,
                )?;
                gauge(
                    &mut encoder,
                    "deliveries_due",
                    "Webhook deliveries due now and not yet attempted",
                    g.due_deliveries,
                )?;
                let metric = ConstGauge::new(g.oldest_due.as_secs_f64());
                metric.encode(encoder.encode_descriptor(
                    "oldest_due_delivery_age",
                    "How long the oldest due delivery has waited",
                    Some(&prometheus_client::registry::Unit::Seconds),
                    metric.metric_type(),
                )?)?;
                gauge(
                    &mut encoder,
                    "disabled_endpoints",
                    "Webhook endpoints disabled after failing",
                    g.disabled_endpoints,
                )?;
            }
            Err(e) => {
                tracing::warn!(error = %e, "metrics: the database counts could not be read");
                gauge(
                    &mut encoder,
                    "database_up",
                    "Whether the scrape's counts could be read",
                    0,
                )?;
            }
        }
        Ok(())
    }
}

/// The OpenMetrics media type, which Prometheus asks for and understands.
const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The metrics, in the OpenMetrics text format. With `ASSENT_METRICS_TOKEN` set, only for
/// `Authorization: Bearer <token>`.
#[utoipa::path(get, path = "/metrics", operation_id = "getMetrics", tag = "operator", responses(
    (status = 200, description = "The metrics, in the OpenMetrics text format", content_type = "application/openmetrics-text", body = String),
    (status = 401, description = "`ASSENT_METRICS_TOKEN` is set and the request does not carry it", body = crate::error::SigilumError),
    (status = 404, description = "`NOT_FOUND`: metrics are off (`ASSENT_METRICS`), or served on their own listener (`ASSENT_METRICS_BIND`)", body = crate::error::SigilumError)))]
pub async fn scrape(
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    if let Some(token) = &state.settings.metrics.token {
        let given = req
            .headers()
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or("");
        if !token.ct_eq(given) {
            return Err(ApiError::new(
                actix_web::http::StatusCode::UNAUTHORIZED,
                code::UNAUTHORIZED,
                "The metrics need the bearer token of ASSENT_METRICS_TOKEN.",
            ));
        }
    }
    let metrics = Arc::clone(&state.metrics);
    let text = web::block(move || metrics.encode())
        .await
        .map_err(|e| ApiError::internal(&e))?
        .map_err(|e| ApiError::internal(&e))?;
    Ok(HttpResponse::Ok()
        .insert_header((CONTENT_TYPE, OPENMETRICS))
        .body(text))
}

/// `/metrics` alone, for the separate listener of `ASSENT_METRICS_BIND`.
pub fn configure_separate(state: AppState) -> impl Fn(&mut web::ServiceConfig) + Clone {
    let data = web::Data::new(state);
    move |cfg: &mut web::ServiceConfig| {
        cfg.app_data(data.clone())
            .service(web::resource("/metrics").route(web::get().to(scrape)));
    }
}
