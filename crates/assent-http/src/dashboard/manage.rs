//! Managing the namespace: services (create, edit, delete), their API keys (create, shown
//! once; revoke), the owner's user tokens (create, shown once; revoke) and the audit log. The
//! rules are the JSON API's own functions; a refused form is shown again with the message.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use assent_app::{Kind, accounts, audit, keys, services};
use assent_core::{EventType, ServiceInput};

use super::views::{
    AuditItem, AuditPage, Credential, EventChoice, Secret, ServiceItem, ServicePage, Services,
    ServicesPage, TokensPage, WebhookItem,
};
use super::{Failure, Form, Posted, Visitor, finish, html, logged_in, see_other};
use crate::error::status_of;
use crate::state::AppState;

/// Audit entries per page.
const AUDIT_PAGE_SIZE: &str = "50";

pub(super) const NO_SUCH_SERVICE: &str = "There is no such service in your namespace. It may have been \
    deleted, or the link is wrong.";

/// `GET /dashboard/services`.
pub async fn services(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    finish(
        async {
            let visitor = logged_in(&req, &state).await?;
            let page = services_page(&state, &visitor, &Form::default(), None).await?;
            Ok(html(StatusCode::OK, &page))
        }
        .await,
    )
}

/// `POST /dashboard/services`: `POST /v1/services` from a form; on to the new service's page.
pub async fn create_service(state: web::Data<AppState>, posted: Posted) -> HttpResponse {
    finish(
        async {
            let Posted { visitor, form } = posted;
            let field = |name: &str| form.get(name).map(str::to_owned);
            let input = ServiceInput {
                slug: field("slug"),
                name: field("name"),
                description: field("description"),
            };
            match services::create(&state.app, &visitor.account, input).await {
                Ok(service) => Ok(see_other(&format!("/dashboard/services/{}", service.id))),
                Err(e) => {
                    let error = refusal(e)?;
                    let page = services_page(&state, &visitor, &form, Some(error.1)).await?;
                    Ok(html(error.0, &page))
                }
            }
        }
        .await,
    )
}

/// `GET /dashboard/services/{id}`.
pub async fn service(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> HttpResponse {
    finish(
        async {
            let visitor = logged_in(&req, &state).await?;
            let page = service_page(&state, &visitor, id.into_inner()).await?;
            Ok(html(StatusCode::OK, &page))
        }
        .await,
    )
}

/// `POST /dashboard/services/{id}`: a new name and description (`PATCH /v1/services/{id}`).
pub async fn update_service(
    state: web::Data<AppState>,
    id: web::Path<String>,
    posted: Posted,
) -> HttpResponse {
    finish(
        async {
            let Posted { visitor, form } = posted;
            let id = id.into_inner();
            let name = form.get("name").unwrap_or_default().to_owned();
            let description = form.get("description").unwrap_or_default().to_owned();
            let updated = services::change(
                &state.app,
                &visitor.account,
                id.clone(),
                Some(Some(name.clone())),
                Some(Some(description.clone())),
            )
            .await;
            match updated {
                Ok(_) => Ok(see_other(&format!("/dashboard/services/{id}"))),
                Err(e) => {
                    let (status, error) = refusal_of(&visitor, e, NO_SUCH_SERVICE)?;
                    let mut page = service_page(&state, &visitor, id).await?;
                    page.name = name;
                    page.description = description;
                    page.error = Some(error);
                    Ok(html(status, &page))
                }
            }
        }
        .await,
    )
}

/// `POST /dashboard/services/{id}/delete`: the service, its keys and webhooks, for good, once
/// the owner has typed its slug (`confirm_slug`); otherwise the page again, saying so.
pub async fn delete_service(
    state: web::Data<AppState>,
    id: web::Path<String>,
    posted: Posted,
) -> HttpResponse {
    finish(
        async {
            let Posted { visitor, form } = posted;
            let id = id.into_inner();
            let typed = form.get("confirm_slug").unwrap_or_default();
            match services::delete_confirmed(&state.app, &visitor.account, id.clone(), typed).await
            {
                Ok(()) => Ok(see_other("/dashboard/services")),
                Err(e) => {
                    let (status, error) = refusal_of(&visitor, e, NO_SUCH_SERVICE)?;
                    let mut page = service_page(&state, &visitor, id).await?;
                    page.delete_error = Some(error);
                    Ok(html(status, &page))
                }
            }
        }
        .await,
    )
}

/// `POST /dashboard/services/{id}/keys`: a new key, shown on the page this once.
pub async fn create_key(
    state: web::Data<AppState>,
    id: web::Path<String>,
    posted: Posted,
) -> HttpResponse {
    finish(
        async {
            let Posted { visitor, form } = posted;
            let id = id.into_inner();
            let name = form.get("name").map(str::to_owned);
            match keys::mint(&state.app, &visitor.account, id.clone(), name.clone()).await {
                Ok(minted) => {
                    let mut page = service_page(&state, &visitor, id).await?;
                    page.new_key = Some(Secret {
                        name: minted.record.name,
                        value: minted.key,
                    });
                    Ok(html(StatusCode::OK, &page))
                }
                Err(e) => {
                    let (status, error) = refusal_of(&visitor, e, NO_SUCH_SERVICE)?;
                    let mut page = service_page(&state, &visitor, id).await?;
                    page.key_name = name.unwrap_or_default();
                    page.key_error = Some(error);
                    Ok(html(status, &page))
                }
            }
        }
        .await,
    )
}

/// `POST /dashboard/services/{id}/keys/{key_id}/revoke`.
pub async fn revoke_key(
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    posted: Posted,
) -> HttpResponse {
    finish(
        async {
            let Posted { visitor, .. } = posted;
            let (service_id, key_id) = path.into_inner();
            keys::revoke(&state.app, &visitor.account, service_id.clone(), key_id)
                .await
                .map_err(|e| {
                    failure_of(
                        &visitor,
                        e,
                        "There is no such active key of a service of yours. It may have been \
                         revoked already.",
                    )
                })?;
            Ok(see_other(&format!("/dashboard/services/{service_id}")))
        }
        .await,
    )
}

/// `GET /dashboard/tokens`.
pub async fn tokens(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    finish(
        async {
            let visitor = logged_in(&req, &state).await?;
            let page = tokens_page(&state, &visitor).await?;
            Ok(html(StatusCode::OK, &page))
        }
        .await,
    )
}

/// `POST /dashboard/tokens`: a new user token, shown on the page this once.
pub async fn create_token(state: web::Data<AppState>, posted: Posted) -> HttpResponse {
    finish(
        async {
            let Posted { visitor, form } = posted;
            let name = form.get("name").map(str::to_owned);
            match accounts::mint_user_token(&state.app, &visitor.account, name.clone()).await {
                Ok(minted) => {
                    let mut page = tokens_page(&state, &visitor).await?;
                    page.new_token = Some(Secret {
                        name: minted.record.name,
                        value: minted.token,
                    });
                    Ok(html(StatusCode::OK, &page))
                }
                Err(e) => {
                    let (status, error) = refusal(e)?;
                    let mut page = tokens_page(&state, &visitor).await?;
                    page.name = name.unwrap_or_default();
                    page.error = Some(error);
                    Ok(html(status, &page))
                }
            }
        }
        .await,
    )
}

/// `POST /dashboard/tokens/{id}/revoke`.
pub async fn revoke_token(
    state: web::Data<AppState>,
    id: web::Path<String>,
    posted: Posted,
) -> HttpResponse {
    finish(
        async {
            let Posted { visitor, .. } = posted;
            accounts::revoke_user_token(&state.app, &visitor.account, id.into_inner())
                .await
                .map_err(|e| {
                    failure_of(
                        &visitor,
                        e,
                        "There is no such active token of yours. It may have been revoked \
                         already.",
                    )
                })?;
            Ok(see_other("/dashboard/tokens"))
        }
        .await,
    )
}

/// `GET /dashboard/audit[?cursor=…]`: one page of the audit log, newest first.
pub async fn audit(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    finish(
        async {
            let visitor = logged_in(&req, &state).await?;
            let query = Form::parse(req.query_string().as_bytes());
            let cursor = query.get("cursor").map(str::to_owned);
            let later = cursor.is_some();
            let page =
                audit::page(&state.app, &visitor.account, Some(AUDIT_PAGE_SIZE), cursor).await?;
            let own = visitor.actor().to_string();
            let services: Services = services::list(&state.app, &visitor.account)
                .await?
                .into_iter()
                .map(|s| (s.id, (s.name, s.slug)))
                .collect();
            Ok(html(
                StatusCode::OK,
                &AuditPage {
                    nav: Some(visitor.nav("audit")),
                    entries: page
                        .items
                        .into_iter()
                        .map(|r| AuditItem::new(r, &own, &services))
                        .collect(),
                    later,
                    next_cursor: page.next_cursor,
                },
            ))
        }
        .await,
    )
}

async fn services_page(
    state: &AppState,
    visitor: &Visitor,
    form: &Form,
    error: Option<String>,
) -> Result<ServicesPage, Failure> {
    let services = services::list(&state.app, &visitor.account).await?;
    let field = |name: &str| form.get(name).unwrap_or_default().to_owned();
    Ok(ServicesPage {
        nav: Some(visitor.nav("services")),
        csrf: visitor.csrf.clone(),
        services: services.into_iter().map(ServiceItem::from).collect(),
        slug: field("slug"),
        name: field("name"),
        description: field("description"),
        error,
    })
}

/// A service's page with its keys; a 404 page for a service not of the visitor's namespace.
pub(super) async fn service_page(
    state: &AppState,
    visitor: &Visitor,
    id: String,
) -> Result<ServicePage, Failure> {
    let services::Overview {
        service,
        keys,
        webhooks,
    } = services::overview(&state.app, &visitor.account, id)
        .await
        .map_err(|e| failure_of(visitor, e, NO_SUCH_SERVICE))?;
    Ok(ServicePage {
        nav: Some(visitor.nav("services")),
        csrf: visitor.csrf.clone(),
        name: service.name.clone(),
        description: service.description.clone().unwrap_or_default(),
        service: ServiceItem::from(service),
        error: None,
        delete_error: None,
        keys: keys.into_iter().map(Credential::from).collect(),
        key_name: String::new(),
        key_error: None,
        new_key: None,
        base_url: state.settings.public_url.as_ref().map_or_else(
            || "https://assent.example.com".to_owned(),
            |url| url.as_str().trim_end_matches('/').to_owned(),
        ),
        webhooks: webhooks.into_iter().map(WebhookItem::from).collect(),
        webhook_url: String::new(),
        webhook_events: EventChoice::all(&EventType::REQUEST_EVENTS.map(EventType::as_str)),
        webhook_error: None,
    })
}

async fn tokens_page(state: &AppState, visitor: &Visitor) -> Result<TokensPage, Failure> {
    let tokens = accounts::user_tokens(&state.app, &visitor.account).await?;
    Ok(TokensPage {
        nav: Some(visitor.nav("tokens")),
        csrf: visitor.csrf.clone(),
        tokens: tokens.into_iter().map(Credential::from).collect(),
        name: String::new(),
        error: None,
        new_token: None,
    })
}

/// A refusal to show on the form (its status and message); a server error is a page of its own.
pub(super) fn refusal(e: assent_app::Error) -> Result<(StatusCode, String), Failure> {
    if e.kind() == Kind::Internal {
        Err(e.into())
    } else {
        Ok((status_of(e.kind()), e.message().to_owned()))
    }
}

/// As [`refusal`], but a missing service or webhook is the 404 page, saying `missing`.
pub(super) fn refusal_of(
    visitor: &Visitor,
    e: assent_app::Error,
    missing: &str,
) -> Result<(StatusCode, String), Failure> {
    if e.kind() == Kind::NotFound {
        Err(super::missing(visitor, missing))
    } else {
        refusal(e)
    }
}

/// A failed change that has no form to show again: the 404 page saying `missing` for a
/// missing service or webhook, else the error's page.
pub(super) fn failure_of(visitor: &Visitor, e: assent_app::Error, missing: &str) -> Failure {
    if e.kind() == Kind::NotFound {
        super::missing(visitor, missing)
    } else {
        e.into()
    }
}
