//! A service's webhooks in the dashboard: add one (its secret shown once), change its url and
//! events, disable and enable it again (optionally replaying what it missed), rotate its
//! secret, send a test event, delete it, and read its delivery log with every attempt and a
//! retry button. The rules are the JSON API's own functions.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use assent_app::{deliveries, webhooks};

use super::manage::{NO_SUCH_SERVICE, failure_of, refusal_of, service_page};
use super::views::{
    DeliveryItem, DeliveryLog, EventChoice, Filter, Secret, ServiceItem, WebhookItem, WebhookPage,
};
use super::{Failure, Form, Posted, Visitor, finish, html, logged_in, see_other};
use crate::state::AppState;

/// Deliveries per page of the log.
const LOG_PAGE_SIZE: &str = "25";

const NO_SUCH_WEBHOOK: &str = "There is no such webhook of a service of yours. It may have \
    been deleted, or the link is wrong.";

/// `POST /dashboard/services/{id}/webhooks`: a new webhook, on its page with the secret
/// shown this once; the service's page again with the message when refused.
pub async fn create(
    state: web::Data<AppState>,
    id: web::Path<String>,
    posted: Posted,
) -> HttpResponse {
    finish(
        async {
            let Posted { visitor, form } = posted;
            let service_id = id.into_inner();
            let url = form.get("url").unwrap_or_default().to_owned();
            let events = form.all("events");
            let chosen = events.iter().map(|e| (*e).to_owned()).collect();
            let format = form.get("format").map(str::to_owned);
            let asymmetric = form.get("asymmetric").is_some();
            let webhook = webhooks::NewWebhook {
                url: Some(url.clone()),
                events: Some(chosen),
                format,
                asymmetric,
            };
            match webhooks::add(&state.app, &visitor.account, service_id.clone(), webhook).await {
                Ok(added) => {
                    let id = &added.endpoint.id;
                    let mut page =
                        webhook_page(&state, &visitor, &service_id, id, &Form::default()).await?;
                    page.new_secret = Some(Secret {
                        name: added.endpoint.url,
                        value: added.secret,
                    });
                    Ok(html(StatusCode::CREATED, &page))
                }
                Err(e) => {
                    let (status, error) = refusal_of(&visitor, e, NO_SUCH_SERVICE)?;
                    let mut page = service_page(&state, &visitor, service_id).await?;
                    page.webhook_url = url;
                    page.webhook_events = EventChoice::all(&events);
                    page.webhook_error = Some(error);
                    Ok(html(status, &page))
                }
            }
        }
        .await,
    )
}

/// `GET /dashboard/services/{id}/webhooks/{webhook_id}[?status=…&cursor=…]`.
pub async fn show(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> HttpResponse {
    finish(
        async {
            let visitor = logged_in(&req, &state).await?;
            let (service_id, webhook_id) = path.into_inner();
            let query = Form::parse(req.query_string().as_bytes());
            let page = webhook_page(&state, &visitor, &service_id, &webhook_id, &query).await?;
            Ok(html(StatusCode::OK, &page))
        }
        .await,
    )
}

/// `POST /dashboard/services/{id}/webhooks/{webhook_id}`: a new url and, for a webhook of
/// `request.*` events, a new choice of events.
pub async fn update(
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    posted: Posted,
) -> HttpResponse {
    finish(
        async {
            let Posted { visitor, form } = posted;
            let (service_id, webhook_id) = path.into_inner();
            let url = form.get("url").unwrap_or_default().to_owned();
            // The events' checkboxes send nothing when none is checked: the form says it
            // carries them, so an empty choice is refused rather than ignored.
            let events = form
                .get("with_events")
                .map(|_| form.all("events").into_iter().map(str::to_owned).collect());
            // The format's controls are on the form of a webhook that may change format.
            let format = form.get("format").map(str::to_owned);
            let asymmetric = format.as_ref().map(|_| form.get("asymmetric").is_some());
            let change = webhooks::Change {
                url: Some(url.clone()),
                events: events.clone(),
                format,
                asymmetric,
                ..webhooks::Change::default()
            };
            let changed = webhooks::change(
                &state.app,
                &visitor.account,
                service_id.clone(),
                webhook_id.clone(),
                change,
            )
            .await;
            match changed {
                Ok(_) => Ok(see_other(&webhook_path(&service_id, &webhook_id))),
                Err(e) => {
                    let (status, error) = refusal_of(&visitor, e, NO_SUCH_WEBHOOK)?;
                    let mut page =
                        webhook_page(&state, &visitor, &service_id, &webhook_id, &Form::default())
                            .await?;
                    page.url = url;
                    if let Some(events) = events {
                        let chosen: Vec<&str> = events.iter().map(String::as_str).collect();
                        page.events = EventChoice::all(&chosen);
                    }
                    page.error = Some(error);
                    Ok(html(status, &page))
                }
            }
        }
        .await,
    )
}

/// `POST /dashboard/services/{id}/webhooks/{webhook_id}/enable` (with `replay` checked, the
/// events it missed are delivered) and `…/disable`.
pub async fn set_enabled(
    state: web::Data<AppState>,
    path: web::Path<(String, String, String)>,
    posted: Posted,
) -> HttpResponse {
    finish(
        async {
            let Posted { visitor, form } = posted;
            let (service_id, webhook_id, switch) = path.into_inner();
            let enabled = match switch.as_str() {
                "enable" => true,
                "disable" => false,
                _ => return Err(super::missing(&visitor, "There is no such page.")),
            };
            let replay = enabled && form.get("replay").is_some();
            let change = webhooks::Change {
                enabled: Some(enabled),
                replay,
                ..webhooks::Change::default()
            };
            let updated = webhooks::change(
                &state.app,
                &visitor.account,
                service_id.clone(),
                webhook_id.clone(),
                change,
            )
            .await
            .map_err(|e| failure_of(&visitor, e, NO_SUCH_WEBHOOK))?;
            let mut page =
                webhook_page(&state, &visitor, &service_id, &webhook_id, &Form::default()).await?;
            page.notice = Some(match (enabled, updated.missed_events, replay) {
                (false, _, _) => "Disabled: events are no longer delivered to it.".to_owned(),
                (true, 0, _) => "Enabled: events are delivered to it again.".to_owned(),
                (true, n, true) => format!(
                    "Enabled. The {n} event(s) it missed while disabled are being delivered."
                ),
                (true, n, false) => format!(
                    "Enabled. It missed {n} event(s) while disabled; they were not replayed."
                ),
            });
            Ok(html(StatusCode::OK, &page))
        }
        .await,
    )
}

/// `POST /dashboard/services/{id}/webhooks/{webhook_id}/rotate`: a new secret, shown this
/// once; the old one keeps signing beside it for the grace period.
pub async fn rotate_secret(
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    posted: Posted,
) -> HttpResponse {
    finish(
        async {
            let Posted { visitor, .. } = posted;
            let (service_id, webhook_id) = path.into_inner();
            let rotated = webhooks::rotate_secret(
                &state.app,
                &visitor.account,
                service_id.clone(),
                webhook_id.clone(),
            )
            .await
            .map_err(|e| failure_of(&visitor, e, NO_SUCH_WEBHOOK))?;
            let mut page =
                webhook_page(&state, &visitor, &service_id, &webhook_id, &Form::default()).await?;
            page.previous_until = Some(rotated.previous_secret_expires_at.into());
            page.new_secret = Some(Secret {
                name: page.webhook.url.clone(),
                value: rotated.secret,
            });
            Ok(html(StatusCode::OK, &page))
        }
        .await,
    )
}

/// `POST /dashboard/services/{id}/webhooks/{webhook_id}/test`: a signed `webhook.test`
/// event, queued; it appears at the top of the log.
pub async fn test(
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    posted: Posted,
) -> HttpResponse {
    finish(
        async {
            let Posted { visitor, .. } = posted;
            let (service_id, webhook_id) = path.into_inner();
            let sent = webhooks::send_test(
                &state.app,
                &visitor.account,
                service_id.clone(),
                webhook_id.clone(),
            )
            .await;
            let (status, notice, error) = match sent {
                Ok(_) => (
                    StatusCode::OK,
                    Some("A test event was queued: it is at the top of the log.".to_owned()),
                    None,
                ),
                Err(e) => {
                    let (status, error) = refusal_of(&visitor, e, NO_SUCH_WEBHOOK)?;
                    (status, None, Some(error))
                }
            };
            let mut page =
                webhook_page(&state, &visitor, &service_id, &webhook_id, &Form::default()).await?;
            page.notice = notice;
            page.error = error;
            Ok(html(status, &page))
        }
        .await,
    )
}

/// `POST /dashboard/services/{id}/webhooks/{webhook_id}/delete`.
pub async fn delete(
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    posted: Posted,
) -> HttpResponse {
    finish(
        async {
            let Posted { visitor, .. } = posted;
            let (service_id, webhook_id) = path.into_inner();
            webhooks::delete(&state.app, &visitor.account, service_id.clone(), webhook_id)
                .await
                .map_err(|e| failure_of(&visitor, e, NO_SUCH_WEBHOOK))?;
            Ok(see_other(&format!("/dashboard/services/{service_id}")))
        }
        .await,
    )
}

/// `POST /dashboard/services/{id}/webhooks/{webhook_id}/deliveries/{delivery_id}/retry`:
/// the delivery queued again now; back to the log.
pub async fn retry(
    state: web::Data<AppState>,
    path: web::Path<(String, String, String)>,
    posted: Posted,
) -> HttpResponse {
    finish(
        async {
            let Posted { visitor, .. } = posted;
            let (service_id, webhook_id, delivery_id) = path.into_inner();
            deliveries::retry(
                &state.app,
                &visitor.account,
                service_id.clone(),
                webhook_id.clone(),
                delivery_id,
            )
            .await
            .map_err(|e| {
                failure_of(
                    &visitor,
                    e,
                    "There is no such delivery of a webhook of yours. The link may be wrong.",
                )
            })?;
            Ok(see_other(&webhook_path(&service_id, &webhook_id)))
        }
        .await,
    )
}

fn webhook_path(service_id: &str, webhook_id: &str) -> String {
    format!("/dashboard/services/{service_id}/webhooks/{webhook_id}")
}

/// A webhook's page with one page of its log (`status` and `cursor` from `query`); a 404
/// page for a webhook not of the visitor's namespace.
async fn webhook_page(
    state: &AppState,
    visitor: &Visitor,
    service_id: &str,
    webhook_id: &str,
    query: &Form,
) -> Result<WebhookPage, Failure> {
    let (service, webhook) = webhooks::get(
        &state.app,
        &visitor.account,
        service_id.to_owned(),
        webhook_id.to_owned(),
    )
    .await
    .map_err(|e| failure_of(visitor, e, NO_SUCH_WEBHOOK))?;

    let status = query.get("status").unwrap_or_default().to_owned();
    let cursor = query.get("cursor").map(str::to_owned);
    let later = cursor.is_some();
    let log = deliveries::log(
        &state.app,
        &visitor.account,
        service_id.to_owned(),
        webhook_id.to_owned(),
        deliveries::LogQuery {
            status: (!status.is_empty()).then(|| status.clone()),
            limit: Some(LOG_PAGE_SIZE.to_owned()),
            cursor,
        },
    )
    .await?;

    let webhook = WebhookItem::from(webhook);
    Ok(WebhookPage {
        nav: Some(visitor.nav("services")),
        csrf: visitor.csrf.clone(),
        service: ServiceItem::from(service),
        url: webhook.url.clone(),
        events: EventChoice::all(&webhook.events),
        webhook,
        new_secret: None,
        previous_until: None,
        notice: None,
        error: None,
        log: DeliveryLog {
            deliveries: log.items.into_iter().map(DeliveryItem::from).collect(),
            filters: Filter::all(&status),
            status,
            later,
            next_cursor: log.next_cursor,
        },
    })
}
