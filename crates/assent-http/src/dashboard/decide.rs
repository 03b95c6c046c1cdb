//! The inbox (pending claims and notifications), its live fragment, the history, and the
//! decisions: approve, reject and revoke claims; answer notifications.

use std::collections::HashMap;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use assent_core::claim::{ClaimStatus, Decision};
use assent_core::notification::{Action, NotificationStatus, ResponseType};
use assent_store::{DecideError, NotificationQuery, Party, Store, StoreError, TransitionError};
use serde_json::Value;

use super::views::{ClaimView, HistoryPage, InboxPage, Item, NotificationView};
use super::{Failure, Form, Visitor, finish, html, logged_in, message, not_found, posted};
use crate::rate_limit::Operation;
use crate::routes::client::record_response;
use crate::routes::notifications::{NOTIFICATION_ACCESS_DENIED, NOTIFICATION_NOT_FOUND};
use crate::state::AppState;

/// At most this many claims and as many notifications per list.
const LIST_LIMIT: i64 = 100;

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
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    body: web::Bytes,
) -> HttpResponse {
    finish(
        async {
            let (visitor, _) = posted(&req, &state, &body).await?;
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
            let store = state.store.clone();
            let namespace = visitor.account.namespace.clone();
            let actor = visitor.actor();
            let decided =
                web::block(move || store.decide_claim(&namespace, &claim_id, decision, &actor))
                    .await?;
            match decided {
                Ok(_) => Ok(super::see_other(match origin {
                    Origin::Inbox => "/dashboard",
                    Origin::History => "/dashboard/history",
                })),
                Err(DecideError::NotFound) => Err(not_found(&visitor)),
                Err(DecideError::Conflict(status)) => {
                    let notice = conflict_notice(decision, status);
                    show(&state, &visitor, origin, StatusCode::CONFLICT, Some(notice)).await
                }
                Err(DecideError::Store(e)) => Err(e.into()),
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
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
    body: web::Bytes,
) -> HttpResponse {
    finish(
        async {
            let (visitor, form) = posted(&req, &state, &body).await?;
            let refuse = |status: StatusCode, notice: String| {
                show(&state, &visitor, Origin::Inbox, status, Some(notice))
            };
            if let Err(e) = state
                .limiter
                .check(Operation::Response, &visitor.account.id)
            {
                return refuse(e.status(), message(&e)).await;
            }
            let id = id.into_inner();
            let store = state.store.clone();
            let namespace = visitor.account.namespace.clone();
            let lookup = id.clone();
            let row =
                web::block(move || store.get_notification(Party::Namespace(&namespace), &lookup))
                    .await?;
            let row = match row {
                Ok(row) => row,
                Err(TransitionError::NotFound | TransitionError::NotOwner) => {
                    return Err(not_found(&visitor));
                }
                Err(TransitionError::Conflict(row)) => *row,
                Err(TransitionError::Store(e)) => return Err(e.into()),
            };
            let action_id = form.get("action_id").unwrap_or_default().to_owned();
            let data = match row.action(&action_id) {
                Some(action) if row.status().is_pending() => match response_data(&action, &form) {
                    Ok(data) => data,
                    Err(notice) => return refuse(StatusCode::BAD_REQUEST, notice).await,
                },
                // The shared check names the problem first (answered, expired, no such
                // action), whatever the form holds.
                _ => None,
            };
            match record_response(&state, &visitor.account, id, &action_id, data).await {
                Ok(_) => Ok(super::see_other("/dashboard")),
                Err(e)
                    if e.code() == NOTIFICATION_NOT_FOUND
                        || e.code() == NOTIFICATION_ACCESS_DENIED =>
                {
                    Err(not_found(&visitor))
                }
                Err(e) if e.status().is_server_error() => Err(e.into()),
                Err(e) => refuse(e.status(), message(&e)).await,
            }
        }
        .await,
    )
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
            let store = state.store.clone();
            let namespace = visitor.account.namespace.clone();
            let items = web::block(move || history_items(&store, &namespace)).await??;
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
    let store = state.store.clone();
    let namespace = visitor.account.namespace.clone();
    let items = web::block(move || inbox_items_of(&store, &namespace)).await??;
    Ok(InboxPage {
        nav: Some(visitor.nav("inbox")),
        csrf: visitor.csrf.clone(),
        notice,
        items,
    })
}

/// Service ids to display names, for claims (which keep only the slug).
fn service_names(store: &Store, namespace: &str) -> Result<HashMap<String, String>, StoreError> {
    Ok(store
        .list_services(namespace)?
        .into_iter()
        .map(|s| (s.id, s.name))
        .collect())
}

/// Pending claims and notifications, newest first.
fn inbox_items_of(store: &Store, namespace: &str) -> Result<Vec<Item>, StoreError> {
    let claims = store.list_claims(
        namespace,
        Some(ClaimStatus::Pending),
        None,
        LIST_LIMIT,
        None,
    )?;
    let query = NotificationQuery {
        statuses: NotificationStatus::PENDING.to_vec(),
        limit: LIST_LIMIT,
        ..NotificationQuery::default()
    };
    let (notifications, _) = store.list_notifications(namespace, &query)?;
    // The owner now sees them: they are delivered, as when a client app lists them.
    let notifications = crate::routes::client::deliver(store, notifications)?;
    sorted(store, namespace, claims, notifications, false)
}

/// Decided claims and finished notifications, most recently changed first.
fn history_items(store: &Store, namespace: &str) -> Result<Vec<Item>, StoreError> {
    let mut claims = Vec::new();
    for status in [
        ClaimStatus::Approved,
        ClaimStatus::Rejected,
        ClaimStatus::Revoked,
        ClaimStatus::Expired,
    ] {
        claims.extend(store.list_claims(namespace, Some(status), None, LIST_LIMIT, None)?);
    }
    let query = NotificationQuery {
        statuses: vec![
            NotificationStatus::Responded,
            NotificationStatus::Completed,
            NotificationStatus::Expired,
            NotificationStatus::Invalidated,
        ],
        limit: LIST_LIMIT,
        ..NotificationQuery::default()
    };
    let (notifications, _) = store.list_notifications(namespace, &query)?;
    sorted(store, namespace, claims, notifications, true)
}

fn sorted(
    store: &Store,
    namespace: &str,
    claims: Vec<assent_store::ClaimRow>,
    notifications: Vec<assent_store::NotificationRow>,
    by_change: bool,
) -> Result<Vec<Item>, StoreError> {
    let names = if claims.is_empty() {
        HashMap::new()
    } else {
        service_names(store, namespace)?
    };
    let mut items: Vec<Item> = claims
        .into_iter()
        .map(|c| Item::Claim(ClaimView::new(c, &names)))
        .chain(
            notifications
                .into_iter()
                .map(|n| Item::Notification(NotificationView::new(n))),
        )
        .collect();
    items.sort_by(|a, b| b.sort_key(by_change).cmp(&a.sort_key(by_change)));
    items.truncate(2 * LIST_LIMIT as usize);
    Ok(items)
}
