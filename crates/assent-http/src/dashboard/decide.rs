//! The inbox (pending claims and notifications), its live fragment, the history, and the
//! decisions: approve, reject and revoke claims; answer notifications.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use assent_app::{Kind, claims, code, inbox, notifications};
use assent_core::claim::{ClaimStatus, Decision};
use assent_core::notification::{Action, ResponseType};
use serde_json::Value;

use super::views::{ClaimView, HistoryPage, InboxPage, Item, NotificationView};
use super::{Failure, Form, Posted, Visitor, api_message, finish, html, logged_in, not_found};
use crate::error::status_of;
use crate::rate_limit::Operation;
use crate::state::AppState;

/// Which page a decision was taken on: a refusal shows it again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Origin {
    Inbox,
    History,
}

pub async fn inbox(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    finish(
        async {
            let visitor = logged_in(&req, &state).await?;
            show(&state, &visitor, Origin::Inbox, StatusCode::OK, None).await
        }
        .await,
    )
}

/// The inbox's list alone (its `items` block), for the live update.
pub async fn inbox_items(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    finish(
        async {
            let Some(visitor) = super::visitor(&req, &state).await? else {
                // The script stops updating; a reload leads to the login page.
                return Ok(HttpResponse::Unauthorized()
                    .content_type("text/plain; charset=utf-8")
                    .body("Log in again."));
            };
            let page = inbox_page(&state, &visitor, None).await?;
            Ok(html(StatusCode::OK, &page.as_items()))
        }
        .await,
    )
}

pub async fn history(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    finish(
        async {
            let visitor = logged_in(&req, &state).await?;
            show(&state, &visitor, Origin::History, StatusCode::OK, None).await
        }
        .await,
    )
}

/// `POST /dashboard/claims/{id}/{approve|reject|revoke}`.
pub async fn decide(
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    posted: Posted,
) -> HttpResponse {
    finish(
        async {
            let Posted { visitor, .. } = posted;
            let (claim_id, decision) = path.into_inner();
            let decision = match decision.as_str() {
                "approve" => Decision::Approve,
                "reject" => Decision::Reject,
                "revoke" => Decision::Revoke,
                _ => return Err(not_found(&visitor)),
            };
            let origin = match decision {
                Decision::Revoke => Origin::History,
                Decision::Approve | Decision::Reject => Origin::Inbox,
            };
            match claims::decide(&state.app, &visitor.account, claim_id, decision).await {
                Ok(_) => Ok(super::see_other(match origin {
                    Origin::Inbox => "/dashboard",
                    Origin::History => "/dashboard/history",
                })),
                Err(e) if e.kind() == Kind::NotFound => Err(not_found(&visitor)),
                Err(e) if e.code() == code::CLAIM_STATE_CONFLICT => {
                    let status = e.detail("status").and_then(ClaimStatus::parse);
                    let notice = status.map_or_else(
                        || e.message().to_owned(),
                        |status| conflict_notice(decision, status),
                    );
                    show(&state, &visitor, origin, StatusCode::CONFLICT, Some(notice)).await
                }
                Err(e) => Err(e.into()),
            }
        }
        .await,
    )
}

fn conflict_notice(decision: Decision, status: ClaimStatus) -> String {
    let verb = match decision {
        Decision::Approve => "approved",
        Decision::Reject => "rejected",
        Decision::Revoke => "revoked",
    };
    let now = match status {
        ClaimStatus::Pending => "still pending",
        ClaimStatus::Approved => "already approved",
        ClaimStatus::Rejected => "already rejected",
        ClaimStatus::Revoked => "already revoked",
        ClaimStatus::Expired => "expired",
    };
    format!("This request is {now}, so it can no longer be {verb}.")
}

/// `POST /dashboard/notifications/{id}/respond`: the form becomes `response_data` and goes
/// through the same checks and the same store call as `POST /api/v1/client/respond`.
pub async fn respond(
    state: web::Data<AppState>,
    id: web::Path<String>,
    posted: Posted,
) -> HttpResponse {
    finish(
        async {
            let Posted { visitor, form } = posted;
            let refuse = |status: StatusCode, notice: String| {
                show(&state, &visitor, Origin::Inbox, status, Some(notice))
            };
            if let Err(e) = state
                .limiter
                .check(Operation::Response, &visitor.account.id)
                .await
            {
                return refuse(e.status(), api_message(&e)).await;
            }
            let id = id.into_inner();
            let action_id = form.get("action_id").unwrap_or_default().to_owned();
            let data = match notifications::action_of(&state.app, &visitor.account, &id, &action_id)
                .await
            {
                Ok(Some(action)) => {
                    // Without JavaScript too: an action that cannot be undone goes only with
                    // its confirmation box ticked.
                    let confirmed = form.get(CONFIRM_IRREVERSIBLE) == Some("1");
                    if let Err(e) = notifications::check_confirmed(&action, confirmed) {
                        return refuse(status_of(e.kind()), e.message().to_owned()).await;
                    }
                    match response_data(&action, &form) {
                        Ok(data) => data,
                        Err(notice) => return refuse(StatusCode::BAD_REQUEST, notice).await,
                    }
                }
                // The shared check names the problem first (answered, expired, no such
                // action), whatever the form holds.
                Ok(None) => None,
                Err(e) if is_not_theirs(&e) => return Err(not_found(&visitor)),
                Err(e) => return Err(e.into()),
            };
            match notifications::respond(&state.app, &visitor.account, id, &action_id, data).await {
                Ok(_) => Ok(super::see_other("/dashboard")),
                Err(e) if is_not_theirs(&e) => Err(not_found(&visitor)),
                Err(e) if e.kind() == Kind::Internal => Err(e.into()),
                Err(e) => refuse(status_of(e.kind()), e.message().to_owned()).await,
            }
        }
        .await,
    )
}

/// The form field that confirms an irreversible action.
const CONFIRM_IRREVERSIBLE: &str = "confirm_irreversible";

/// A notification that does not exist, or is another namespace's: the dashboard's 404 page.
fn is_not_theirs(e: &assent_app::Error) -> bool {
    e.code() == code::NOTIFICATION_NOT_FOUND || e.code() == code::NOTIFICATION_ACCESS_DENIED
}

/// The answer a form gives for `action`; a readable message when it gives none.
fn response_data(action: &Action, form: &Form) -> Result<Option<Value>, String> {
    let value = form.get("value").map(str::trim);
    Ok(Some(match action.response_type {
        ResponseType::Simple => return Ok(None),
        ResponseType::Binary => match value {
            Some("true") => Value::Bool(true),
            Some("false") => Value::Bool(false),
            _ => return Err("Choose one of the two answers.".to_owned()),
        },
        ResponseType::Choice => match form.get("value") {
            Some(choice) => Value::String(choice.to_owned()),
            None => return Err("Choose one of the options.".to_owned()),
        },
        ResponseType::MultiChoice => Value::Array(
            form.all("value")
                .into_iter()
                .map(|v| Value::String(v.to_owned()))
                .collect(),
        ),
        ResponseType::Text => Value::String(form.get("value").unwrap_or_default().to_owned()),
        ResponseType::Number => {
            let text = value.unwrap_or_default();
            if let Ok(whole) = text.parse::<i64>() {
                Value::from(whole)
            } else {
                text.parse::<f64>()
                    .ok()
                    .and_then(serde_json::Number::from_f64)
                    .map(Value::Number)
                    .ok_or_else(|| "Enter a number.".to_owned())?
            }
        }
    }))
}

/// The inbox or the history, with `notice` above the list.
async fn show(
    state: &AppState,
    visitor: &Visitor,
    origin: Origin,
    status: StatusCode,
    notice: Option<String>,
) -> Result<HttpResponse, Failure> {
    Ok(match origin {
        Origin::Inbox => html(status, &inbox_page(state, visitor, notice).await?),
        Origin::History => {
            let items = sorted(inbox::history(&state.app, &visitor.account).await?, true);
            html(
                status,
                &HistoryPage {
                    nav: Some(visitor.nav("history")),
                    csrf: visitor.csrf.clone(),
                    notice,
                    items,
                },
            )
        }
    })
}

async fn inbox_page(
    state: &AppState,
    visitor: &Visitor,
    notice: Option<String>,
) -> Result<InboxPage, Failure> {
    let items = sorted(inbox::pending(&state.app, &visitor.account).await?, false);
    Ok(InboxPage {
        nav: Some(visitor.nav("inbox")),
        csrf: visitor.csrf.clone(),
        notice,
        items,
    })
}

/// The inbox's or the history's list, newest first (the history by the time of the change).
fn sorted(found: inbox::Items, by_change: bool) -> Vec<Item> {
    let names = found.service_names;
    let mut items: Vec<Item> = found
        .claims
        .into_iter()
        .map(|c| Item::Claim(ClaimView::new(c, &names)))
        .chain(
            found
                .notifications
                .into_iter()
                .map(|n| Item::Notification(NotificationView::new(n))),
        )
        .collect();
    items.sort_by(|a, b| b.sort_key(by_change).cmp(&a.sort_key(by_change)));
    items.truncate(2 * inbox::LIST_LIMIT as usize);
    items
}
