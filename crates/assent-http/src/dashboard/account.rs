//! Sign up, log in, log out, the owner's account page (change the password, list and end
//! sessions) and the password reset link's page: the API's account code behind plain HTML
//! forms.

use actix_web::http::StatusCode;
use actix_web::http::header::RETRY_AFTER;
use actix_web::{HttpRequest, HttpResponse, web};
use assent_app::accounts::{self, SessionGrant};
use assent_app::{Kind, code};
use assent_core::{SignupInput, SignupPolicy};

use super::views::{AccountPage, LoginPage, ResetPage, SessionItem, SignupPage};
use super::{
    Failure, Form, Posted, Visitor, error_page, finish, html, logged_in, missing, see_other,
    visitor,
};
use crate::auth::{check_same_origin, session_cookie, session_cookie_removal, session_origin};
use crate::error::status_of;
use crate::state::AppState;

/// The login form; `?next=` (a one-click link's page, nothing else) is where it goes after.
pub async fn login_form(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let query = Form::parse(req.query_string().as_bytes());
    let next = next_page(query.get("next"));
    if visitor(&req, &state).await.ok().flatten().is_some() {
        return see_other(next.unwrap_or("/dashboard"));
    }
    html(
        StatusCode::OK,
        &LoginPage {
            nav: None,
            email: String::new(),
            error: None,
            next: next.unwrap_or_default().to_owned(),
        },
    )
}

/// Where a login goes on to: a one-click link's page when asked (it needs the session), else
/// the inbox. Any other address is ignored, so the form cannot redirect off this site.
fn next_page(asked: Option<&str>) -> Option<&str> {
    asked.and_then(super::links::return_path)
}

pub async fn login(req: HttpRequest, state: web::Data<AppState>, body: web::Bytes) -> HttpResponse {
    if let Err(refused) = same_origin(&req, &state) {
        return *refused.0;
    }
    let form = Form::parse(&body);
    let email = form.get("email").unwrap_or_default().to_owned();
    let password = form.get("password").map(str::to_owned);
    let origin = session_origin(&req);
    let next = next_page(form.get("next"));
    match accounts::log_in(&state.app, Some(email.clone()), password, origin).await {
        Ok((_, grant)) => started(&state, grant, next.unwrap_or("/dashboard")),
        Err(e) => refused(
            &e,
            &LoginPage {
                nav: None,
                email,
                error: Some(e.message().to_owned()),
                next: next.unwrap_or_default().to_owned(),
            },
        ),
    }
}

/// The sign-up form; a link made by `assent account invite` fills in its `?invite=`. Under a
/// closed policy the page says how to get an account instead.
pub async fn signup_form(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let query = Form::parse(req.query_string().as_bytes());
    let invite = query.get("invite").unwrap_or_default().to_owned();
    for_guests(
        &req,
        &state,
        &signup_page(&state, String::new(), String::new(), invite, None),
    )
    .await
}

fn signup_page(
    state: &AppState,
    email: String,
    namespace: String,
    invite: String,
    error: Option<String>,
) -> SignupPage {
    let policy = state.app.settings().signup;
    SignupPage {
        nav: None,
        email,
        namespace,
        error,
        invite,
        invite_only: policy == SignupPolicy::Invite,
        closed: policy == SignupPolicy::Closed,
    }
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
        invite: field("invite"),
    };
    match accounts::sign_up(&state.app, signup, session_origin(&req)).await {
        Ok((_, grant)) => started(&state, grant, "/dashboard"),
        Err(e) => refused(
            &e,
            &signup_page(
                &state,
                field("email").unwrap_or_default(),
                field("namespace").unwrap_or_default(),
                field("invite").unwrap_or_default(),
                Some(e.message().to_owned()),
            ),
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

/// Logged in: the session cookie, and on to `next` (the inbox, or a link's page).
fn started(state: &AppState, grant: SessionGrant, next: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((actix_web::http::header::LOCATION, next.to_owned()))
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

/// The owner's account page.
pub async fn account(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    finish(
        async {
            let visitor = logged_in(&req, &state).await?;
            let page = account_page(&state, &visitor, None, None).await?;
            Ok(html(StatusCode::OK, &page))
        }
        .await,
    )
}

async fn account_page(
    state: &AppState,
    visitor: &Visitor,
    notice: Option<String>,
    error: Option<String>,
) -> Result<AccountPage, Failure> {
    let sessions = accounts::sessions(&state.app, &visitor.account).await?;
    Ok(AccountPage {
        nav: Some(visitor.nav("account")),
        csrf: visitor.csrf.clone(),
        email: visitor.account.email.clone(),
        namespace: visitor.account.namespace.clone(),
        sessions: sessions
            .into_iter()
            .map(|s| SessionItem {
                current: s.id == visitor.session_id,
                id: s.id,
                user_agent: s.user_agent.unwrap_or_else(|| "Unknown browser".to_owned()),
                address: s
                    .address
                    .filter(|a| !a.is_empty())
                    .unwrap_or_else(|| "Unknown".to_owned()),
                created: s.created_at.into(),
                last_seen: s.last_seen_at.map(Into::into),
                expires: s.expires_at.into(),
            })
            .collect(),
        notice,
        error,
    })
}

/// Changes the password; every other session ends. A refusal shows the page again with why.
pub async fn change_password(state: web::Data<AppState>, posted: Posted) -> HttpResponse {
    finish(
        async {
            let Posted { visitor, form } = posted;
            let field = |name: &str| form.get(name).map(str::to_owned);
            let changed = accounts::change_password(
                &state.app,
                &visitor.account,
                Some(visitor.session_id.clone()),
                field("current_password"),
                field("new_password"),
            )
            .await;
            let (status, notice, error) = match changed {
                Ok(()) => (
                    StatusCode::OK,
                    Some("The password is changed; every other session has ended.".to_owned()),
                    None,
                ),
                Err(e) if e.kind() == Kind::Internal => return Err(e.into()),
                Err(e) => (status_of(e.kind()), None, Some(e.message().to_owned())),
            };
            let page = account_page(&state, &visitor, notice, error).await?;
            Ok(html(status, &page))
        }
        .await,
    )
}

/// Ends one of the owner's other sessions.
pub async fn end_session(
    state: web::Data<AppState>,
    posted: Posted,
    id: web::Path<String>,
) -> HttpResponse {
    finish(
        async {
            let Posted { visitor, .. } = posted;
            match accounts::end_session(&state.app, &visitor.account, id.into_inner()).await {
                Ok(()) => Ok(see_other("/dashboard/account")),
                Err(e) if e.code() == code::NOT_FOUND => Err(missing(
                    &visitor,
                    "There is no such session of yours. It may have ended already.",
                )),
                Err(e) => Err(e.into()),
            }
        }
        .await,
    )
}

/// Ends every session of the owner but this one.
pub async fn end_other_sessions(state: web::Data<AppState>, posted: Posted) -> HttpResponse {
    finish(
        async {
            let Posted { visitor, .. } = posted;
            accounts::end_other_sessions(&state.app, &visitor.account, visitor.session_id).await?;
            Ok(see_other("/dashboard/account"))
        }
        .await,
    )
}

/// The page of a password reset link (`?token=`): the form while the link is usable.
pub async fn reset_form(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let query = Form::parse(req.query_string().as_bytes());
    let token = query.get("token").unwrap_or_default().to_owned();
    match accounts::password_reset_account(&state.app, token.clone()).await {
        Ok(account) => html(
            StatusCode::OK,
            &ResetPage {
                nav: None,
                token,
                email: Some(account.email),
                error: None,
            },
        ),
        Err(e) => reset_refused(&e, token, None),
    }
}

/// Sets the new password with the link's token, then on to the login page.
pub async fn reset(req: HttpRequest, state: web::Data<AppState>, body: web::Bytes) -> HttpResponse {
    if let Err(refused) = same_origin(&req, &state) {
        return *refused.0;
    }
    let form = Form::parse(&body);
    let token = form.get("token").unwrap_or_default().to_owned();
    let password = form.get("new_password").map(str::to_owned);
    match accounts::reset_password(&state.app, token.clone(), password).await {
        Ok(_) => see_other("/dashboard/login"),
        Err(e) if e.code() == code::VALIDATION_ERROR => {
            // The link is still good: the form again, for the same account.
            let email = accounts::password_reset_account(&state.app, token.clone())
                .await
                .ok()
                .map(|a| a.email);
            reset_refused(&e, token, email)
        }
        Err(e) => reset_refused(&e, token, None),
    }
}

fn reset_refused(e: &assent_app::Error, token: String, email: Option<String>) -> HttpResponse {
    html(
        status_of(e.kind()),
        &ResetPage {
            nav: None,
            token: if email.is_some() {
                token
            } else {
                String::new()
            },
            email,
            error: Some(e.message().to_owned()),
        },
    )
}
