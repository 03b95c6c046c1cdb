//! A service's webhooks in the dashboard: add one (its secret shown once), change its url and
//! events, disable and enable it again (optionally replaying what it missed), rotate its
//! secret, send a test event, delete it, and read its delivery log with every attempt and a
//! retry button. The rules are the JSON API's own functions.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};

use super::manage::{NO_SUCH_SERVICE, failure_of, refusal_of, service_page};
use super::views::{
    DeliveryItem, DeliveryLog, EventChoice, Filter, Secret, ServiceItem, WebhookItem, WebhookPage,
};
use super::{Failure, Form, Visitor, finish, html, logged_in, posted, see_other};
use crate::routes::deliveries::{
    DeliveryQuery, UpdateWebhookRequest, change_webhook, delivery_page, retry_delivery, rotate,
    send_test,
};
use crate::routes::services::add_webhook;
use crate::state::AppState;

/// Deliveries per page of the log.
const LOG_PAGE_SIZE: &str = "25";

const NO_SUCH_WEBHOOK: &str = "There is no such webhook of a service of yours. It may have \
    been deleted, or the link is wrong.";

/// `POST /dashboard/services/{id}/webhooks`: a new webhook, on its page with the secret
/// shown this once; the service's page again with the message when refused.
pub async fn create(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
    body: web::Bytes,
) -> HttpResponse {
    finish(
        async {
            let (visitor, form) = posted(&req, &state, &body).await?;
            let service_id = id.into_inner();
            let url = form.get("url").unwrap_or_default().to_owned();
            let events = form.all("events");
            let chosen = events.iter().map(|e| (*e).to_owned()).collect();
            match add_webhook(
                &state,
                &visitor.owner(),
                service_id.clone(),
                Some(url.clone()),
                Some(chosen),
            )
            .await
            {
                Ok(created) => {
                    let mut page =
                        webhook_page(&state, &visitor, &service_id, &created.id, &Form::default())
                            .await?;
                    page.new_secret = Some(Secret {
                        name: created.url,
                        value: created.secret,
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
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    body: web::Bytes,
) -> HttpResponse {
    finish(
        async {
            let (visitor, form) = posted(&req, &state, &body).await?;
            let (service_id, webhook_id) = path.into_inner();
            let url = form.get("url").unwrap_or_default().to_owned();
            // The events' checkboxes send nothing when none is checked: the form says it
            // carries them, so an empty choice is refused rather than ignored.
            let events = form
                .get("with_events")
                .map(|_| form.all("events").into_iter().map(str::to_owned).collect());
            let changes = UpdateWebhookRequest {
                url: Some(url.clone()),
                events: events.clone(),
                enabled: None,
                replay: false,
            };
            let changed = change_webhook(
                &state,
                &visitor.owner(),
                service_id.clone(),
                webhook_id.clone(),
                changes,
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
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<(String, String, String)>,
    body: web::Bytes,
) -> HttpResponse {
    finish(
        async {
            let (visitor, form) = posted(&req, &state, &body).await?;
            let (service_id, webhook_id, switch) = path.into_inner();
            let enabled = match switch.as_str() {
                "enable" => true,
                "disable" => false,
                _ => return Err(super::missing(&visitor, "There is no such page.")),
            };
            let replay = enabled && form.get("replay").is_some();
            let changes = UpdateWebhookRequest {
                url: None,
                events: None,
                enabled: Some(enabled),
                replay,
            };
            let updated = change_webhook(
                &state,
                &visitor.owner(),
                service_id.clone(),
                webhook_id.clone(),
                changes,
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
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    body: web::Bytes,
) -> HttpResponse {
    finish(
        async {
            let (visitor, _) = posted(&req, &state, &body).await?;
            let (service_id, webhook_id) = path.into_inner();
            let rotated = rotate(
                &state,
                &visitor.owner(),
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
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    body: web::Bytes,
) -> HttpResponse {
    finish(
        async {
            let (visitor, _) = posted(&req, &state, &body).await?;
            let (service_id, webhook_id) = path.into_inner();
            let sent = send_test(
                &state,
                &visitor.owner(),
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
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    body: web::Bytes,
) -> HttpResponse {
    finish(
        async {
            let (visitor, _) = posted(&req, &state, &body).await?;
            let (service_id, webhook_id) = path.into_inner();
            let store = state.store.clone();
            let namespace = visitor.account.namespace.clone();
            let actor = visitor.actor();
            let id = service_id.clone();
            web::block(move || store.delete_webhook_endpoint(&namespace, &id, &webhook_id, &actor))
                .await?
                .map_err(|e| failure_of(&visitor, e.into(), NO_SUCH_WEBHOOK))?;
            Ok(see_other(&format!("/dashboard/services/{service_id}")))
        }
        .await,
    )
}

/// `POST /dashboard/services/{id}/webhooks/{webhook_id}/deliveries/{delivery_id}/retry`:
/// the delivery queued again now; back to the log.
pub async fn retry(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<(String, String, String)>,
    body: web::Bytes,
) -> HttpResponse {
    finish(
        async {
            let (visitor, _) = posted(&req, &state, &body).await?;
            let (service_id, webhook_id, delivery_id) = path.into_inner();
            retry_delivery(
                &state,
                &visitor.owner(),
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
    let store = state.store.clone();
    let namespace = visitor.account.namespace.clone();
    let (sid, wid) = (service_id.to_owned(), webhook_id.to_owned());
    let (service, webhook) = web::block(move || {
        let service = store.get_owned_service(&namespace, &sid)?;
        let webhook = store
            .list_owned_webhook_endpoints(&namespace, &sid)?
            .into_iter()
            .find(|w| w.id == wid);
        Ok::<_, assent_store::StoreError>((service, webhook))
    })
    .await?
    .map_err(|e| failure_of(visitor, e.into(), NO_SUCH_WEBHOOK))?;
    let webhook = webhook.ok_or_else(|| super::missing(visitor, NO_SUCH_WEBHOOK))?;

    let status = query.get("status").unwrap_or_default().to_owned();
    let cursor = query.get("cursor").map(str::to_owned);
    let later = cursor.is_some();
    let log = delivery_page(
        state,
        &visitor.owner(),
        service_id.to_owned(),
        webhook_id.to_owned(),
        DeliveryQuery {
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
            deliveries: log.deliveries.into_iter().map(DeliveryItem::from).collect(),
            filters: Filter::all(&status),
            status,
            later,
            next_cursor: log.next_cursor,
        },
    })
}
