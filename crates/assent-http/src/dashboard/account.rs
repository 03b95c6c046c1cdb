//! Sign up, log in, log out: the API's account and session code behind plain HTML forms.

use actix_web::http::StatusCode;
use actix_web::http::header::RETRY_AFTER;
use actix_web::{HttpRequest, HttpResponse, web};
use assent_app::accounts::{self, SessionGrant};
use assent_core::SignupInput;

use super::views::{LoginPage, SignupPage};
use super::{Failure, Form, Posted, error_page, finish, html, visitor};
use crate::auth::{check_same_origin, session_cookie, session_cookie_removal};
use crate::client_addr::ClientAddr;
use crate::error::status_of;
use crate::state::AppState;

pub async fn login_form(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    for_guests(
        &req,
        &state,
        &LoginPage {
            nav: None,
            email: String::new(),
            error: None,
        },
    )
    .await
}

pub async fn login(req: HttpRequest, state: web::Data<AppState>, body: web::Bytes) -> HttpResponse {
    if let Err(refused) = same_origin(&req, &state) {
        return *refused.0;
    }
    let form = Form::parse(&body);
    let email = form.get("email").unwrap_or_default().to_owned();
    let password = form.get("password").map(str::to_owned);
    let client = ClientAddr::of(&req).to_string();
    match accounts::log_in(&state.app, Some(email.clone()), password, &client).await {
        Ok((_, grant)) => started(&state, grant),
        Err(e) => refused(
            &e,
            &LoginPage {
                nav: None,
                email,
                error: Some(e.message().to_owned()),
            },
        ),
    }
}

pub async fn signup_form(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    for_guests(
        &req,
        &state,
        &SignupPage {
            nav: None,
            email: String::new(),
            namespace: String::new(),
            error: None,
        },
    )
    .await
}

pub async fn signup(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> HttpResponse {
    if let Err(refused) = same_origin(&req, &state) {
        return *refused.0;
    }
    let form = Form::parse(&body);
    let field = |name: &str| form.get(name).map(str::to_owned);
    let signup = SignupInput {
        email: field("email"),
        namespace: field("namespace"),
        password: field("password"),
    };
    match accounts::sign_up(&state.app, signup).await {
        Ok((_, grant)) => started(&state, grant),
        Err(e) => refused(
            &e,
            &SignupPage {
                nav: None,
                email: field("email").unwrap_or_default(),
                namespace: field("namespace").unwrap_or_default(),
                error: Some(e.message().to_owned()),
            },
        ),
    }
}

pub async fn logout(state: web::Data<AppState>, posted: Posted) -> HttpResponse {
    finish(
        async {
            let Posted { visitor, .. } = posted;
            accounts::log_out(&state.app, visitor.session_id).await?;
            Ok::<_, Failure>(
                HttpResponse::SeeOther()
                    .insert_header((actix_web::http::header::LOCATION, "/dashboard/login"))
                    .cookie(session_cookie_removal(&state.settings))
                    .finish(),
            )
        }
        .await,
    )
}

/// A page for visitors without a session; a logged-in owner goes on to the inbox.
async fn for_guests(
    req: &HttpRequest,
    state: &AppState,
    page: &impl askama::Template,
) -> HttpResponse {
    finish(
        async {
            if visitor(req, state).await?.is_some() {
                return Ok(super::see_other("/dashboard"));
            }
            Ok(html(StatusCode::OK, page))
        }
        .await,
    )
}

/// The forms without a session must come from this server's own pages (the API's check).
fn same_origin(req: &HttpRequest, state: &AppState) -> Result<(), Failure> {
    check_same_origin(req, &state.settings).map_err(|_| {
        Failure::new(error_page(
            StatusCode::FORBIDDEN,
            "This form could not be verified",
            "It did not come from this site's own pages. Open the page here and try again.",
            None,
        ))
    })
}

/// Logged in: the session cookie, and on to the inbox.
fn started(state: &AppState, grant: SessionGrant) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((actix_web::http::header::LOCATION, "/dashboard"))
        .cookie(session_cookie(
            &state.settings,
            grant.token,
            state.settings.session_ttl,
        ))
        .finish()
}

/// The form again, with the error's status and message (and `Retry-After` on a 429).
fn refused(e: &assent_app::Error, page: &impl askama::Template) -> HttpResponse {
    let mut response = html(status_of(e.kind()), page);
    if let Some(wait) = e.retry_after()
        && let Ok(value) = wait.as_secs().max(1).to_string().parse()
    {
        response.headers_mut().insert(RETRY_AFTER, value);
    }
    response
}
