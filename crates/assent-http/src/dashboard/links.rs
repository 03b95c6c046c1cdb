//! The pages of the one-click links in messages to owners (`/dashboard/links/{token}`). A GET
//! only shows what the link would do, because mail scanners and chat link previews fetch
//! links; the button on that page POSTs, and the POST does it, once. A link answering a
//! notification with an action that cannot be undone works only in its owner's logged-in
//! session: without it, the page asks to log in and come back.

use actix_web::http::StatusCode;
use actix_web::http::header::CACHE_CONTROL;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use assent_app::channels::{self, Followed, LinkState};
use assent_core::claim::{ClaimStatus, Decision};
use assent_core::notification::{Notification, NotificationStatus, OneClick};
use assent_store::Account;

use super::html;
use super::views::Nav;
use crate::auth::check_same_origin;
use crate::state::AppState;

#[derive(Debug, Template)]
#[template(path = "link.html")]
struct LinkPage {
    nav: Option<Nav>,
    token: String,
    heading: String,
    text: String,
    /// The confirming button, when the link can still be used.
    button: Option<String>,
    /// The login page that comes back to this link, when the link needs its owner's session.
    login: Option<String>,
}

fn page(
    status: StatusCode,
    token: &str,
    heading: &str,
    text: String,
    button: Option<&str>,
) -> HttpResponse {
    render(status, token, heading, text, button, None)
}

fn render(
    status: StatusCode,
    token: &str,
    heading: &str,
    text: String,
    button: Option<&str>,
    login: Option<String>,
) -> HttpResponse {
    let mut response = html(
        status,
        &LinkPage {
            nav: None,
            token: token.to_owned(),
            heading: heading.to_owned(),
            text,
            button: button.map(str::to_owned),
            login,
        },
    );
    response.headers_mut().insert(
        CACHE_CONTROL,
        actix_web::http::header::HeaderValue::from_static("no-store"),
    );
    response
}

/// The address of a link's page, if `path` is one: where the login page may send a visitor
/// back to (nowhere else, so it cannot be made to redirect off this site).
pub(super) fn return_path(path: &str) -> Option<&str> {
    path.strip_prefix("/dashboard/links/")
        .filter(|token| well_formed(token) && !token.is_empty())
        .map(|_| path)
}

/// The login page that comes back to this link.
fn login_url(token: &str) -> String {
    format!("/dashboard/login?next=/dashboard/links/{token}")
}

/// A link's token as it may appear in a URL; anything else is unknown without a lookup.
fn well_formed(token: &str) -> bool {
    token.len() <= 100
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

fn refused(token: &str, state: &LinkState) -> HttpResponse {
    let (status, heading, text) = match state {
        LinkState::Used => (
            StatusCode::GONE,
            "This link was used already",
            "Each link works once. Open the dashboard to see where things stand.",
        ),
        LinkState::Expired => (
            StatusCode::GONE,
            "This link has expired",
            "What it was about expired with it. Open the dashboard to see where things stand.",
        ),
        _ => (
            StatusCode::NOT_FOUND,
            "This link is not valid",
            "It may be mistyped or incomplete, or what it was about was removed.",
        ),
    };
    page(status, token, heading, text.to_owned(), None)
}

fn verb(decision: Decision) -> &'static str {
    match decision {
        Decision::Approve => "Approve",
        Decision::Reject => "Reject",
        Decision::Revoke => "Revoke",
    }
}

/// The account whose live session the request carries. A failed lookup counts as none: the
/// page then asks to log in, and nothing irreversible happens.
async fn session_account(req: &HttpRequest, state: &AppState) -> Option<Account> {
    super::visitor(req, state)
        .await
        .ok()
        .flatten()
        .map(|v| v.account)
}

/// What an answer link's page says about the notification.
fn about(notification: &Notification) -> String {
    let title = notification
        .context
        .get("title")
        .and_then(|t| t.as_str())
        .unwrap_or("a notification");
    format!(
        "{} asks: {} (notification {}).",
        notification.service_name, title, notification.id
    )
}

/// The page of an answer link that needs its owner's session: why, and the way to log in and
/// come back.
fn login_required(
    status: StatusCode,
    token: &str,
    notification: &Notification,
    answer: &OneClick,
) -> HttpResponse {
    render(
        status,
        token,
        "Log in to answer this",
        format!(
            "{} “{}” cannot be undone, so it is answered only by its owner, logged in: log in \
             to the dashboard in this browser, then come back to this link. Nothing was changed.",
            about(notification),
            answer.label
        ),
        None,
        Some(login_url(token)),
    )
}

fn already_answered(token: &str, notification: &Notification) -> HttpResponse {
    let heading = match notification.status {
        NotificationStatus::Expired => "This notification has expired",
        NotificationStatus::Invalidated => "This notification was withdrawn",
        _ => "This notification was answered already",
    };
    page(
        StatusCode::CONFLICT,
        token,
        heading,
        format!(
            "{} It is {}; nothing was changed.",
            about(notification),
            notification.status.as_str()
        ),
        None,
    )
}

/// GET: what the link would do, with a button to do it.
pub async fn show(
    req: HttpRequest,
    state: web::Data<AppState>,
    token: web::Path<String>,
) -> HttpResponse {
    let token = token.into_inner();
    if !well_formed(&token) {
        return refused(&token, &LinkState::Unknown);
    }
    match channels::inspect(&state.app, &token).await {
        Ok(LinkState::Notification {
            notification,
            action,
            answer,
            owner_id,
        }) => {
            if !notification.status.is_pending() {
                return already_answered(&token, &notification);
            }
            if !action.is_irreversible() {
                return page(
                    StatusCode::OK,
                    &token,
                    &format!("Answer “{}”?", answer.label),
                    about(&notification),
                    Some(&answer.label),
                );
            }
            let owner = session_account(&req, &state)
                .await
                .is_some_and(|a| a.id == owner_id);
            if !owner {
                return login_required(StatusCode::OK, &token, &notification, &answer);
            }
            page(
                StatusCode::OK,
                &token,
                &format!("Answer “{}”?", answer.label),
                format!(
                    "{} “{}” cannot be undone: the button answers for good.",
                    about(&notification),
                    answer.label
                ),
                Some(&answer.label),
            )
        }
        Ok(LinkState::Verify(channel)) => page(
            StatusCode::OK,
            &token,
            "Confirm this channel",
            format!("Receive assent messages at {}.", channel.address),
            Some("Confirm"),
        ),
        Ok(LinkState::Claim { claim, decision }) if claim.status == ClaimStatus::Pending => page(
            StatusCode::OK,
            &token,
            &format!("{} this claim?", verb(decision)),
            format!(
                "{} asks to act for you on {} (claim {}, key {}).",
                claim.agent_name.as_deref().unwrap_or("An agent"),
                claim.service_slug,
                claim.id,
                claim.agent_key
            ),
            Some(verb(decision)),
        ),
        Ok(LinkState::Claim { claim, .. }) => already(&token, claim.status),
        Ok(other) => refused(&token, &other),
        Err(e) => super::error_page(
            crate::error::status_of(e.kind()),
            "Something went wrong",
            e.message(),
            None,
        ),
    }
}

fn already(token: &str, status: ClaimStatus) -> HttpResponse {
    page(
        StatusCode::CONFLICT,
        token,
        "This claim was decided already",
        format!("It is {status}; nothing was changed."),
        None,
    )
}

/// POST: does what the link says, once.
pub async fn follow(
    req: HttpRequest,
    state: web::Data<AppState>,
    token: web::Path<String>,
) -> HttpResponse {
    let token = token.into_inner();
    if check_same_origin(&req, &state.settings).is_err() {
        return super::error_page(
            StatusCode::FORBIDDEN,
            "This form could not be verified",
            "It did not come from this site's own pages. Open the link again and use its button.",
            None,
        );
    }
    if !well_formed(&token) {
        return refused(&token, &LinkState::Unknown);
    }
    let visitor = session_account(&req, &state).await;
    match channels::follow(&state.app, &token, visitor.as_ref()).await {
        Ok(Followed::Verified(channel)) => page(
            StatusCode::OK,
            &token,
            "Channel confirmed",
            format!("assent will reach you at {}.", channel.address),
            None,
        ),
        Ok(Followed::Decided(claim)) => page(
            StatusCode::OK,
            &token,
            &format!("Claim {}", claim.status),
            format!(
                "The claim {} of {} on {} is {}. The service is told.",
                claim.id,
                claim.agent_name.as_deref().unwrap_or("an agent"),
                claim.service_slug,
                claim.status
            ),
            None,
        ),
        Ok(Followed::AlreadyDecided(claim)) => already(&token, claim.status),
        Ok(Followed::Answered(notification)) => {
            let label = notification
                .response
                .as_ref()
                .and_then(|r| r.get("action_id"))
                .and_then(|id| notification.action(id.as_str()?))
                .map_or_else(String::new, |a| a.label.clone());
            page(
                StatusCode::OK,
                &token,
                "Answered",
                format!(
                    "{} Your answer “{label}” is recorded. The service is told.",
                    about(&notification)
                ),
                None,
            )
        }
        Ok(Followed::AlreadyAnswered(notification)) => already_answered(&token, &notification),
        Ok(Followed::LoginRequired(LinkState::Notification {
            notification,
            answer,
            ..
        })) => login_required(StatusCode::FORBIDDEN, &token, &notification, &answer),
        Ok(Followed::LoginRequired(state) | Followed::Refused(state)) => refused(&token, &state),
        Err(e) => super::error_page(
            crate::error::status_of(e.kind()),
            "Something went wrong",
            e.message(),
            None,
        ),
    }
}
