//! The Policies page: rules with their match counts, editing them and the pending caps, and
//! the standing grants (created from an answered notification in the history, revoked here).

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use assent_app::{grants, policies};
use serde_json::{Value, json};

use super::manage::{failure_of, refusal};
use super::views::PoliciesPage;
use super::{Posted, Visitor, finish, html, logged_in, see_other};
use crate::state::AppState;

async fn page(state: &AppState, visitor: &Visitor) -> Result<PoliciesPage, super::Failure> {
    let policy = policies::get(&state.app, &visitor.account).await?;
    let grants = grants::list(&state.app, &visitor.account).await?;
    Ok(PoliciesPage::new(visitor.nav("policies"), &policy, grants))
}

/// `GET /dashboard/policies`.
pub async fn show(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    finish(
        async {
            let visitor = logged_in(&req, &state).await?;
            Ok(html(StatusCode::OK, &page(&state, &visitor).await?))
        }
        .await,
    )
}

/// A cap field as the API takes it: blank is no cap; anything else is passed on as written
/// (a number if it reads as one), so the operation's refusal names the field.
fn cap(text: Option<&str>) -> Value {
    match text.map(str::trim) {
        None | Some("") => Value::Null,
        Some(t) => t.parse::<i64>().map_or_else(|_| t.into(), Value::from),
    }
}

/// `POST /dashboard/policies`: replaces the rules and caps. A refusal shows the page again
/// with the text as written and what is wrong.
pub async fn save(state: web::Data<AppState>, posted: Posted) -> HttpResponse {
    finish(
        async {
            let Posted { visitor, form } = posted;
            let text = form.get("rules").unwrap_or("[]").to_owned();
            let max_pending = form.get("max_pending").map(str::to_owned);
            let per_service = form.get("max_pending_per_service").map(str::to_owned);
            let outcome = match serde_json::from_str::<Value>(if text.trim().is_empty() {
                "[]"
            } else {
                &text
            }) {
                Err(e) => Err((
                    StatusCode::BAD_REQUEST,
                    format!("The rules are not valid JSON: {e}."),
                )),
                Ok(rules) => {
                    let body = json!({
                        "rules": rules,
                        "max_pending": cap(max_pending.as_deref()),
                        "max_pending_per_service": cap(per_service.as_deref()),
                    });
                    match policies::replace(&state.app, &visitor.account, body).await {
                        Ok(_) => Ok(()),
                        Err(e) => Err(refusal(e)?),
                    }
                }
            };
            match outcome {
                Ok(()) => {
                    let mut page = page(&state, &visitor).await?;
                    page.notice = Some("The policy is saved.".to_owned());
                    Ok(html(StatusCode::OK, &page))
                }
                Err((status, error)) => {
                    let mut page = page(&state, &visitor).await?;
                    page.rules_json = text;
                    page.max_pending = max_pending.unwrap_or_default();
                    page.max_pending_per_service = per_service.unwrap_or_default();
                    page.error = Some(error);
                    Ok(html(status, &page))
                }
            }
        }
        .await,
    )
}

/// `POST /dashboard/grants`: a grant from an answered notification (`notification_id`,
/// `uses`, `minutes`), then the Policies page that lists it.
pub async fn create_grant(state: web::Data<AppState>, posted: Posted) -> HttpResponse {
    finish(
        async {
            let Posted { visitor, form } = posted;
            let minutes = match form.get("minutes").map(str::trim) {
                None | Some("") => None,
                Some(m) => Some(m.parse::<i64>().unwrap_or(0)),
            };
            let uses = form.get("uses").map(str::to_owned);
            let input = grants::GrantInput {
                notification_id: form.get("notification_id").map(str::to_owned),
                // Minutes belong to a timed grant only; the form sends them whichever button
                // was pressed.
                minutes: minutes.filter(|_| uses.as_deref() == Some("timed")),
                uses,
                pattern: None,
            };
            grants::create(&state.app, &visitor.account, input)
                .await
                .map_err(|e| {
                    failure_of(
                        &visitor,
                        e,
                        "There is no such notification in your namespace.",
                    )
                })?;
            Ok(see_other("/dashboard/policies"))
        }
        .await,
    )
}

/// `POST /dashboard/grants/{id}/revoke`.
pub async fn revoke_grant(
    state: web::Data<AppState>,
    id: web::Path<String>,
    posted: Posted,
) -> HttpResponse {
    finish(
        async {
            let Posted { visitor, .. } = posted;
            grants::revoke(&state.app, &visitor.account, id.into_inner())
                .await
                .map_err(|e| failure_of(&visitor, e, "There is no such grant of yours."))?;
            Ok(see_other("/dashboard/policies"))
        }
        .await,
    )
}
