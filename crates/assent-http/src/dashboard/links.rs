//! The pages of the one-click links in messages to owners (`/dashboard/links/{token}`). A GET
//! only shows what the link would do, because mail scanners and chat link previews fetch
//! links; the button on that page POSTs, and the POST does it, once.

use actix_web::http::StatusCode;
use actix_web::http::header::CACHE_CONTROL;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use assent_app::channels::{self, Followed, LinkState};
use assent_core::claim::{ClaimStatus, Decision};

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
    button: Option<&'static str>,
}

fn page(
    status: StatusCode,
    token: &str,
    heading: &str,
    text: String,
    button: Option<&'static str>,
) -> HttpResponse {
    let mut response = html(
        status,
        &LinkPage {
            nav: None,
            token: token.to_owned(),
            heading: heading.to_owned(),
            text,
            button,
        },
    );
    response.headers_mut().insert(
        CACHE_CONTROL,
        actix_web::http::header::HeaderValue::from_static("no-store"),
    );
    response
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

/// GET: what the link would do, with a button to do it.
pub async fn show(state: web::Data<AppState>, token: web::Path<String>) -> HttpResponse {
    let token = token.into_inner();
    if !well_formed(&token) {
        return refused(&token, &LinkState::Unknown);
    }
    match channels::inspect(&state.app, &token).await {
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
    match channels::follow(&state.app, &token).await {
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
        Ok(Followed::Refused(state)) => refused(&token, &state),
        Err(e) => super::error_page(
            crate::error::status_of(e.kind()),
            "Something went wrong",
            e.message(),
            None,
        ),
    }
}
