//! The owner's dashboard: server-rendered HTML pages under `/dashboard` (askama templates in
//! `templates/`, autoescaped), a small stylesheet and a small script.
//!
//! Every action is a plain form post that answers with a redirect (303) or the page again
//! with a readable message; the script only refreshes the inbox live and adds copy buttons to
//! secrets shown once. Sessions are the API's (`assent_session` cookie, created and checked by
//! the same code). Every form of a logged-in owner carries a CSRF token, an HMAC of the session
//! id under a key derived from the server's secret; the login and signup forms, which have no
//! session yet, are held to the API's same-origin check instead. Every response carries a
//! strict Content-Security-Policy and refuses framing and caching.

mod account;
mod decide;
mod links;
mod manage;
mod policies;
mod settings;
mod views;
mod webhooks;

use actix_web::http::StatusCode;
use actix_web::http::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, LOCATION, REFERRER_POLICY, X_FRAME_OPTIONS,
};
use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::middleware::DefaultHeaders;
use actix_web::{FromRequest, HttpRequest, HttpResponse, web};
use askama::Template;
use assent_app::credentials;
use assent_auth::TokenHash;
use assent_store::{Account, Actor};

use crate::auth::SESSION_COOKIE;
use crate::error::{ApiError, Dialect, RenderedPage, status_of};
use crate::state::AppState;

/// The policy of every dashboard response: scripts and styles from this server only (no
/// inline ones), forms posting to this server only, no framing; the web app manifest and the
/// service worker (`/dashboard/sw.js`) from this server too.
pub const CONTENT_SECURITY_POLICY_VALUE: &str = "default-src 'none'; script-src 'self'; \
    style-src 'self'; img-src 'self' https: data:; connect-src 'self'; form-action 'self'; \
    manifest-src 'self'; worker-src 'self'; frame-ancestors 'none'; base-uri 'none'";

/// What the CSRF tokens' key is derived for.
const CSRF_PURPOSE: &str = "dashboard csrf";

const STYLESHEET: &str = include_str!("static/app.css");
const SCRIPT: &str = include_str!("static/app.js");
const PUSH_SCRIPT: &str = include_str!("static/push.js");
const SERVICE_WORKER: &str = include_str!("static/sw.js");
const MANIFEST: &str = include_str!("static/manifest.webmanifest");
const ICON_192: &[u8] = include_bytes!("static/icon-192.png");
const ICON_512: &[u8] = include_bytes!("static/icon-512.png");

/// Registers the dashboard's routes.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/dashboard")
            .wrap(
                DefaultHeaders::new()
                    .add((CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY_VALUE))
                    .add((X_FRAME_OPTIONS, "DENY"))
                    // Not `no-referrer`: under it Chromium posts forms with `Origin: null`,
                    // which the same-origin check must refuse. Other sites get no Referer.
                    .add((REFERRER_POLICY, "same-origin"))
                    .add((CACHE_CONTROL, "no-store")),
            )
            .route("", web::get().to(decide::inbox))
            // The installed app's start page: inside the service worker's scope, `/dashboard/`.
            .route("/", web::get().to(decide::inbox))
            .route("/inbox/items", web::get().to(decide::inbox_items))
            .route("/history", web::get().to(decide::history))
            .service(
                web::resource("/signup")
                    .route(web::get().to(account::signup_form))
                    .route(web::post().to(account::signup)),
            )
            .service(
                web::resource("/login")
                    .route(web::get().to(account::login_form))
                    .route(web::post().to(account::login)),
            )
            .route("/logout", web::post().to(account::logout))
            .route("/account", web::get().to(account::account))
            .route(
                "/account/password",
                web::post().to(account::change_password),
            )
            .route(
                "/account/sessions/end-others",
                web::post().to(account::end_other_sessions),
            )
            .route(
                "/account/sessions/{id}/end",
                web::post().to(account::end_session),
            )
            .service(
                web::resource("/links/{token}")
                    .route(web::get().to(links::show))
                    .route(web::post().to(links::follow)),
            )
            .service(
                web::resource("/reset-password")
                    .route(web::get().to(account::reset_form))
                    .route(web::post().to(account::reset)),
            )
            .route("/claims/{id}/{decision}", web::post().to(decide::decide))
            .route(
                "/notifications/{id}/respond",
                web::post().to(decide::respond),
            )
            .service(
                web::resource("/services")
                    .route(web::get().to(manage::services))
                    .route(web::post().to(manage::create_service)),
            )
            .service(
                web::resource("/services/{id}")
                    .route(web::get().to(manage::service))
                    .route(web::post().to(manage::update_service)),
            )
            .route(
                "/services/{id}/delete",
                web::post().to(manage::delete_service),
            )
            .route("/services/{id}/keys", web::post().to(manage::create_key))
            .route(
                "/services/{id}/keys/{key_id}/revoke",
                web::post().to(manage::revoke_key),
            )
            .route("/services/{id}/webhooks", web::post().to(webhooks::create))
            .service(
                web::resource("/services/{id}/webhooks/{webhook_id}")
                    .route(web::get().to(webhooks::show))
                    .route(web::post().to(webhooks::update)),
            )
            .route(
                "/services/{id}/webhooks/{webhook_id}/{switch:enable|disable}",
                web::post().to(webhooks::set_enabled),
            )
            .route(
                "/services/{id}/webhooks/{webhook_id}/rotate",
                web::post().to(webhooks::rotate_secret),
            )
            .route(
                "/services/{id}/webhooks/{webhook_id}/test",
                web::post().to(webhooks::test),
            )
            .route(
                "/services/{id}/webhooks/{webhook_id}/delete",
                web::post().to(webhooks::delete),
            )
            .route(
                "/services/{id}/webhooks/{webhook_id}/deliveries/{delivery_id}/retry",
                web::post().to(webhooks::retry),
            )
            .service(
                web::resource("/tokens")
                    .route(web::get().to(manage::tokens))
                    .route(web::post().to(manage::create_token)),
            )
            .route("/tokens/{id}/revoke", web::post().to(manage::revoke_token))
            .route("/audit", web::get().to(manage::audit))
            .service(
                web::resource("/policies")
                    .route(web::get().to(policies::show))
                    .route(web::post().to(policies::save)),
            )
            .route("/settings", web::get().to(settings::show))
            .route("/settings/channels", web::post().to(settings::add))
            .route("/settings/channels/{id}", web::post().to(settings::update))
            .route(
                "/settings/channels/{id}/test",
                web::post().to(settings::test),
            )
            .route(
                "/settings/channels/{id}/verification",
                web::post().to(settings::resend_verification),
            )
            .route(
                "/settings/channels/{id}/delete",
                web::post().to(settings::remove),
            )
            .route("/grants", web::post().to(policies::create_grant))
            .route(
                "/grants/{id}/revoke",
                web::post().to(policies::revoke_grant),
            )
            .route("/static/app.css", web::get().to(stylesheet))
            .route("/static/app.js", web::get().to(script))
            .route("/static/push.js", web::get().to(push_script))
            .route("/static/icon-192.png", web::get().to(icon_192))
            .route("/static/icon-512.png", web::get().to(icon_512))
            .route("/sw.js", web::get().to(service_worker))
            .route("/manifest.webmanifest", web::get().to(manifest))
            .default_service(web::to(elsewhere)),
    );
}

/// Any other dashboard address. A form's page is shown at the address it posted to, so a GET
/// of that address (a restored tab, the address bar) goes to the page the form came from;
/// anything else is the 404 page.
async fn elsewhere(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    finish(
        async {
            if req.method() == actix_web::http::Method::GET
                && let Some(page) = page_of_form(req.path())
            {
                return Ok(see_other(&page));
            }
            let nav = visitor(&req, &state).await?.map(|v| v.nav(""));
            Ok(error_page(
                StatusCode::NOT_FOUND,
                "Not found",
                "There is no such page. The link may be wrong or out of date.",
                nav,
            ))
        }
        .await,
    )
}

/// The page whose form posts to `path`, for the forms that answer with a page.
fn page_of_form(path: &str) -> Option<String> {
    let segments: Vec<&str> = path.trim_end_matches('/').split('/').skip(2).collect();
    match segments.as_slice() {
        ["claims" | "notifications", _, _] => Some("/dashboard".to_owned()),
        ["account", "password"] => Some("/dashboard/account".to_owned()),
        ["settings", "channels", ..] => Some("/dashboard/settings".to_owned()),
        ["services", id, "keys" | "webhooks" | "delete"] => {
            Some(format!("/dashboard/services/{id}"))
        }
        [
            "services",
            id,
            "webhooks",
            webhook,
            "enable" | "disable" | "rotate" | "test",
        ] => Some(format!("/dashboard/services/{id}/webhooks/{webhook}")),
        _ => None,
    }
}

async fn stylesheet() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/css; charset=utf-8")
        .body(STYLESHEET)
}

async fn script() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/javascript; charset=utf-8")
        .body(SCRIPT)
}

async fn push_script() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/javascript; charset=utf-8")
        .body(PUSH_SCRIPT)
}

/// The service worker. At `/dashboard/sw.js` its default scope is `/dashboard/`, which is all
/// it needs (no `Service-Worker-Allowed`).
async fn service_worker() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/javascript; charset=utf-8")
        .body(SERVICE_WORKER)
}

async fn manifest() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/manifest+json")
        .body(MANIFEST)
}

async fn icon_192() -> HttpResponse {
    HttpResponse::Ok().content_type("image/png").body(ICON_192)
}

async fn icon_512() -> HttpResponse {
    HttpResponse::Ok().content_type("image/png").body(ICON_512)
}

/// A logged-in owner, with the CSRF token of their session.
#[derive(Debug, Clone)]
struct Visitor {
    account: Account,
    session_id: String,
    csrf: String,
}

impl Visitor {
    fn nav(&self, current: &'static str) -> views::Nav {
        views::Nav {
            namespace: self.account.namespace.clone(),
            email: self.account.email.clone(),
            csrf: self.csrf.clone(),
            current,
        }
    }

    fn actor(&self) -> Actor {
        assent_app::actor(&self.account)
    }
}

/// The owner whose session cookie this request carries, if it is live.
async fn visitor(req: &HttpRequest, state: &AppState) -> Result<Option<Visitor>, Failure> {
    let Some(cookie) = req.cookie(SESSION_COOKIE) else {
        return Ok(None);
    };
    let hash = TokenHash::of(cookie.value());
    let session = credentials::session(&state.app, hash).await?;
    Ok(session.map(|session| Visitor {
        csrf: state.app.secret_key().mac(CSRF_PURPOSE, &session.id),
        account: session.account,
        session_id: session.id,
    }))
}

/// The logged-in owner, or a redirect to the login page.
async fn logged_in(req: &HttpRequest, state: &AppState) -> Result<Visitor, Failure> {
    visitor(req, state)
        .await?
        .ok_or_else(|| Failure::new(see_other("/dashboard/login")))
}

/// A form posted by a logged-in owner, its CSRF token checked: what every state-changing
/// dashboard handler takes first. A visitor without a session is sent to the login page; a
/// form without the session's token gets the 403 page.
#[derive(Debug)]
pub(crate) struct Posted {
    visitor: Visitor,
    form: Form,
}

impl FromRequest for Posted {
    type Error = actix_web::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self, actix_web::Error>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let body = web::Bytes::from_request(req, payload);
        let req = req.clone();
        Box::pin(async move {
            let body = body.await?;
            let checked = async {
                let state = req.app_data::<web::Data<AppState>>().ok_or_else(|| {
                    Failure::from(ApiError::internal(&"AppState is not registered"))
                })?;
                let visitor = logged_in(&req, state).await?;
                let form = Form::parse(&body);
                check_csrf(state, &visitor, &form)?;
                Ok::<_, Failure>(Self { visitor, form })
            };
            checked
                .await
                .map_err(|failure| RenderedPage::new(*failure.0).into())
        })
    }
}

/// Refuses (403) a form whose `csrf` field is not the token of the visitor's session.
fn check_csrf(state: &AppState, visitor: &Visitor, form: &Form) -> Result<(), Failure> {
    let valid = form.get("csrf").is_some_and(|token| {
        state
            .app
            .secret_key()
            .verify_mac(CSRF_PURPOSE, &visitor.session_id, token)
    });
    if valid {
        Ok(())
    } else {
        Err(Failure::new(error_page(
            StatusCode::FORBIDDEN,
            "This form could not be verified",
            "It may come from another site, or from a page older than your session. \
             Reload the page and try again.",
            Some(visitor.nav("")),
        )))
    }
}

/// A form body (`application/x-www-form-urlencoded`), keeping repeated fields.
#[derive(Debug, Default)]
struct Form(Vec<(String, String)>);

impl Form {
    fn parse(body: &[u8]) -> Self {
        Self(
            url::form_urlencoded::parse(body)
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        )
    }

    /// The first value of `name`.
    fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of `name`, in order.
    fn all(&self, name: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }
}

/// A page that answers instead of the one asked for: an error page or a redirect.
#[derive(Debug)]
struct Failure(Box<HttpResponse>);

impl Failure {
    fn new(response: HttpResponse) -> Self {
        Self(Box::new(response))
    }
}

impl Failure {
    /// The error page of a failure with this status and message.
    fn page(status: StatusCode, message: &str) -> Self {
        let title = match status {
            StatusCode::NOT_FOUND => "Not found",
            StatusCode::FORBIDDEN => "Not allowed",
            StatusCode::TOO_MANY_REQUESTS => "Too many requests",
            s if s.is_server_error() => "Something went wrong",
            _ => "This did not work",
        };
        Self::new(error_page(status, title, message, None))
    }
}

/// An operation's failure as a page: its kind's status and its message.
impl From<assent_app::Error> for Failure {
    fn from(e: assent_app::Error) -> Self {
        Self::page(status_of(e.kind()), e.message())
    }
}

/// A refusal of the HTTP layer itself (a rate limit, the same-origin check).
impl From<ApiError> for Failure {
    fn from(e: ApiError) -> Self {
        Self::page(e.status(), &api_message(&e))
    }
}

/// The answer of a handler whose work may stop at a [`Failure`].
fn finish(result: Result<HttpResponse, Failure>) -> HttpResponse {
    result.unwrap_or_else(|failure| *failure.0)
}

/// An [`ApiError`]'s message for humans.
fn api_message(e: &ApiError) -> String {
    e.to_body(Dialect::Atp, "")["message"]
        .as_str()
        .unwrap_or("This did not work.")
        .to_owned()
}

/// A page, or a bare 500 if the template fails (it cannot fail on valid data).
fn html(status: StatusCode, page: &impl Template) -> HttpResponse {
    match page.render() {
        Ok(body) => HttpResponse::build(status)
            .content_type("text/html; charset=utf-8")
            .body(body),
        Err(e) => {
            tracing::error!(error = %e, "a dashboard template failed to render");
            HttpResponse::InternalServerError()
                .content_type("text/plain; charset=utf-8")
                .body("An internal error occurred; it has been logged.")
        }
    }
}

fn see_other(location: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((LOCATION, location.to_owned()))
        .finish()
}

fn error_page(
    status: StatusCode,
    title: &str,
    message: &str,
    nav: Option<views::Nav>,
) -> HttpResponse {
    html(
        status,
        &views::ErrorPage {
            nav,
            status: status.as_u16(),
            title: title.to_owned(),
            message: message.to_owned(),
        },
    )
}

fn not_found(visitor: &Visitor) -> Failure {
    missing(
        visitor,
        "There is no such request in your namespace. It may have been removed, or the link \
         is wrong.",
    )
}

/// A 404 page saying what is missing.
fn missing(visitor: &Visitor, message: &str) -> Failure {
    Failure::new(error_page(
        StatusCode::NOT_FOUND,
        "Not found",
        message,
        Some(visitor.nav("")),
    ))
}
