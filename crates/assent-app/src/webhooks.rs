//! A service's webhooks: added (the signing secret generated, sealed at rest, shown once),
//! listed, changed, re-enabled with or without replay, rotated, tested and deleted.

use assent_auth::{random, webhook_secret};
use assent_core::{
    EndpointFormat, EventType, FieldError, Service, Timestamp, outbound, request_subscription,
};
use assent_store::{Account, NewWebhookEndpoint, StoreError, WebhookChanges, WebhookEndpoint};

use crate::{App, Error, actor, code, sentence};

/// A webhook just added, with its signing secret to show once.
#[derive(Debug, Clone)]
pub struct AddedWebhook {
    pub secret: String,
    pub endpoint: WebhookEndpoint,
}

/// A webhook's new secret, to show once, and until when the previous one still signs.
#[derive(Debug, Clone)]
pub struct RotatedSecret {
    pub webhook_id: String,
    pub secret: String,
    pub previous_secret_expires_at: Timestamp,
}

/// What to change of a webhook; at least one of `url`, `events` and `enabled`.
#[derive(Debug, Clone, Default)]
pub struct Change {
    pub url: Option<String>,
    pub events: Option<Vec<String>>,
    pub enabled: Option<bool>,
    /// With `enabled: true` on a disabled webhook: deliver the events it missed.
    pub replay: bool,
}

/// A changed webhook and, when the change re-enabled it, how many events it missed while
/// disabled (queued again when `replay` was asked for).
#[derive(Debug, Clone)]
pub struct Changed {
    pub endpoint: WebhookEndpoint,
    pub missed_events: i64,
}

/// The test event just queued and its delivery.
#[derive(Debug, Clone)]
pub struct TestSent {
    pub event_id: String,
    pub delivery_id: String,
}

/// The webhooks of one of the owner's services (the ATP callback among them).
pub async fn list(
    app: &App,
    owner: &Account,
    service_id: String,
) -> Result<Vec<WebhookEndpoint>, Error> {
    let namespace = owner.namespace.clone();
    app.run(move |store| store.list_owned_webhook_endpoints(&namespace, &service_id))
        .await
}

/// One webhook of one of the owner's services, with the service (`NOT_FOUND` for either).
pub async fn get(
    app: &App,
    owner: &Account,
    service_id: String,
    webhook_id: String,
) -> Result<(Service, WebhookEndpoint), Error> {
    let namespace = owner.namespace.clone();
    app.run(move |store| {
        let service = store.get_owned_service(&namespace, &service_id)?;
        let webhook = store
            .list_owned_webhook_endpoints(&namespace, &service_id)?
            .into_iter()
            .find(|w| w.id == webhook_id)
            .ok_or(StoreError::NotFound)?;
        Ok::<_, StoreError>((service, webhook))
    })
    .await
}

/// Adds a webhook to one of the owner's services, its url checked and its secret generated.
/// `VALIDATION_ERROR`, `INVALID_WEBHOOK_URL`, `INVALID_EVENT_TYPE`, `NOT_FOUND`,
/// `WEBHOOK_LIMIT_REACHED`.
pub async fn add(
    app: &App,
    owner: &Account,
    service_id: String,
    url: Option<String>,
    events: Option<Vec<String>>,
) -> Result<AddedWebhook, Error> {
    let url = assent_core::field::required("url", url.as_deref())?;
    let url = checked_url(app, &url)?;
    let events = subscription(events)?;

    let id = random::Id::Webhook.mint();
    let secret = webhook_secret();
    let new = NewWebhookEndpoint {
        secret_sealed: app.secret_key.seal(&secret, &id),
        id,
        url: url.to_string(),
        format: EndpointFormat::Sigilum,
        events,
    };
    let max = app.settings.quotas.webhooks_per_service;
    let namespace = owner.namespace.clone();
    let actor = actor(owner);
    let endpoint = app
        .run(move |store| store.create_webhook_endpoint(&namespace, &service_id, &new, &actor, max))
        .await?;
    Ok(AddedWebhook {
        secret: secret.expose().to_owned(),
        endpoint,
    })
}

/// A webhook's target, checked against the server's policy (`INVALID_WEBHOOK_URL`).
pub fn checked_url(app: &App, raw: &str) -> Result<url::Url, Error> {
    outbound::check_webhook_url(raw, app.settings.webhook_policy).map_err(|why| {
        Error::invalid(
            code::INVALID_WEBHOOK_URL,
            sentence(&format!("the url {why}")),
        )
        .for_field("url")
    })
}

/// The events a webhook subscribes to, every `request.*` one when `None`
/// (`INVALID_EVENT_TYPE` for none, or for one it cannot subscribe to).
pub fn subscription(names: Option<Vec<String>>) -> Result<Vec<EventType>, Error> {
    request_subscription(names).map_err(|name| {
        let message = if name.is_empty() {
            "`events` must name at least one event.".to_owned()
        } else {
            format!(
                "`{name}` is not an event a webhook can subscribe to; use request.submitted, \
                 request.approved, request.rejected, request.revoked or request.expired."
            )
        };
        Error::invalid(code::INVALID_EVENT_TYPE, message).for_field("events")
    })
}

/// Changes a webhook of the owner's: its url, its events, or whether it is enabled.
pub async fn change(
    app: &App,
    owner: &Account,
    service_id: String,
    webhook_id: String,
    change: Change,
) -> Result<Changed, Error> {
    if change.url.is_none() && change.events.is_none() && change.enabled.is_none() {
        return Err(FieldError::invalid(
            "url",
            "`events` or `enabled` must be given: there is nothing to change",
        )
        .into());
    }
    let url = change
        .url
        .map(|raw| checked_url(app, &raw).map(|u| u.to_string()))
        .transpose()?;
    let events = change
        .events
        .map(|names| subscription(Some(names)))
        .transpose()?;
    let changes = WebhookChanges {
        url,
        events,
        enabled: change.enabled,
        replay: change.replay,
    };
    let namespace = owner.namespace.clone();
    let actor = actor(owner);
    let (endpoint, missed_events) = app
        .run(move |store| {
            store
                .update_webhook_endpoint(&namespace, &service_id, &webhook_id, &changes, &actor)
                .map_err(|e| match e {
                    StoreError::Conflict(_) => Error::invalid(
                        code::INVALID_EVENT_TYPE,
                        "An ATP callback receives notification.responded only; its events \
                         cannot change.",
                    )
                    .for_field("events"),
                    other => other.into(),
                })
        })
        .await?;
    Ok(Changed {
        endpoint,
        missed_events,
    })
}

/// Gives a webhook of the owner's a new secret; the old one keeps signing beside it for the
/// grace period, so receivers can switch without losing deliveries.
pub async fn rotate_secret(
    app: &App,
    owner: &Account,
    service_id: String,
    webhook_id: String,
) -> Result<RotatedSecret, Error> {
    let secret = webhook_secret();
    let sealed = app.secret_key.seal(&secret, &webhook_id);
    let grace_ms = i64::try_from(app.settings.secret_grace.as_millis()).unwrap_or(i64::MAX);
    let until = Timestamp::from_millis(Timestamp::now().as_millis().saturating_add(grace_ms));
    let namespace = owner.namespace.clone();
    let actor = actor(owner);
    let id = webhook_id.clone();
    app.run(move |store| {
        store.rotate_webhook_secret(&namespace, &service_id, &id, &sealed, until, &actor)
    })
    .await?;
    Ok(RotatedSecret {
        webhook_id,
        secret: secret.expose().to_owned(),
        previous_secret_expires_at: until,
    })
}

/// Queues a signed `webhook.test` event for one webhook of the owner's
/// (`WEBHOOK_DISABLED` while it is disabled).
pub async fn send_test(
    app: &App,
    owner: &Account,
    service_id: String,
    webhook_id: String,
) -> Result<TestSent, Error> {
    let namespace = owner.namespace.clone();
    let event_id = random::Id::Event.mint();
    let sent = app
        .run(move |store| {
            let service = store.get_owned_service(&namespace, &service_id)?;
            let payload = assent_core::event::test_event_payload(
                &webhook_id,
                &service.slug,
                &service.namespace,
                &event_id,
                Timestamp::now(),
            );
            store
                .emit_test_event(&namespace, &service_id, &webhook_id, &event_id, payload)
                .map_err(|e| match e {
                    StoreError::Conflict(_) => Error::conflict(
                        code::WEBHOOK_DISABLED,
                        "This webhook is disabled; enable it before sending a test.",
                    ),
                    other => other.into(),
                })
        })
        .await?;
    Ok(TestSent {
        event_id: sent.event_id,
        delivery_id: sent.delivery_ids.into_iter().next().unwrap_or_default(),
    })
}

/// Deletes a webhook of the owner's: no further events are delivered to it.
pub async fn delete(
    app: &App,
    owner: &Account,
    service_id: String,
    webhook_id: String,
) -> Result<(), Error> {
    let namespace = owner.namespace.clone();
    let actor = actor(owner);
    app.run(move |store| {
        store.delete_webhook_endpoint(&namespace, &service_id, &webhook_id, &actor)
    })
    .await
}
