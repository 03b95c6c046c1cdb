//! A service's webhooks: added (the signing secret generated, sealed at rest, shown once),
//! listed, changed, re-enabled with or without replay, rotated, tested and deleted. An owner
//! picks each one's format (`sigilum` or `standard`, for Standard Webhooks) and, for the
//! standard format, whether an Ed25519 key signs too (`v1a`); the public keys are published.

use assent_auth::standard_webhooks::WebhookSigningKey;
use assent_auth::{random, webhook_secret};
use assent_core::{
    EndpointFormat, EventType, FieldError, Namespace, Service, Timestamp, outbound,
    request_subscription,
};
use assent_store::{
    Account, NewWebhookEndpoint, PublishedKey, SealedSigningKey, StoreError, WebhookChanges,
    WebhookEndpoint,
};

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

/// A webhook to add. `format` is `sigilum` (the default) or `standard`; `asymmetric` asks for
/// an Ed25519 key beside the secret, and needs the `standard` format.
#[derive(Debug, Clone, Default)]
pub struct NewWebhook {
    pub url: Option<String>,
    pub events: Option<Vec<String>>,
    pub format: Option<String>,
    pub asymmetric: bool,
}

/// What to change of a webhook; at least one of `url`, `events`, `enabled`, `format` and
/// `asymmetric`.
#[derive(Debug, Clone, Default)]
pub struct Change {
    pub url: Option<String>,
    pub events: Option<Vec<String>>,
    pub enabled: Option<bool>,
    /// `sigilum` or `standard`; leaving `standard` turns asymmetric signing off.
    pub format: Option<String>,
    /// On: a new Ed25519 key (when it has none); off: its key is dropped.
    pub asymmetric: Option<bool>,
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
    webhook: NewWebhook,
) -> Result<AddedWebhook, Error> {
    let url = assent_core::field::required("url", webhook.url.as_deref())?;
    let url = checked_url(app, &url)?;
    let events = subscription(webhook.events)?;
    let format = webhook
        .format
        .as_deref()
        .map(chosen_format)
        .transpose()?
        .unwrap_or(EndpointFormat::Sigilum);
    if webhook.asymmetric {
        asymmetric_allowed(format)?;
    }

    let id = random::Id::Webhook.mint();
    let secret = webhook_secret();
    let new = NewWebhookEndpoint {
        secret_sealed: app.secret_key.seal(&secret, &id),
        signing_key: webhook.asymmetric.then(|| new_signing_key(app, &id)),
        id,
        url: url.to_string(),
        format,
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

/// A format an owner may choose (`VALIDATION_ERROR` for any other, `atp` included: that one
/// belongs to an ATP service's callback).
fn chosen_format(name: &str) -> Result<EndpointFormat, Error> {
    match EndpointFormat::parse(name) {
        Some(format @ (EndpointFormat::Sigilum | EndpointFormat::Standard)) => Ok(format),
        _ => Err(FieldError::invalid("format", "must be sigilum or standard").into()),
    }
}

/// Ed25519 signatures have a place in the Standard Webhooks header only.
fn asymmetric_allowed(format: EndpointFormat) -> Result<(), Error> {
    if format == EndpointFormat::Standard {
        Ok(())
    } else {
        Err(FieldError::invalid(
            "asymmetric",
            "needs the standard format: Ed25519 signatures (v1a) are a Standard Webhooks scheme",
        )
        .into())
    }
}

/// A new Ed25519 key for a webhook, sealed to it.
fn new_signing_key(app: &App, webhook_id: &str) -> SealedSigningKey {
    let pair = WebhookSigningKey::generate();
    SealedSigningKey {
        sealed: app.secret_key.seal(
            &pair.to_secret(),
            &SealedSigningKey::associated_data(webhook_id),
        ),
        public_key: pair.public_key(),
    }
}

/// The Ed25519 public keys a namespace's webhooks sign with, for its DID document and JWKS
/// (`NOT_FOUND` for a namespace nobody owns).
pub async fn published_keys(app: &App, namespace: &Namespace) -> Result<Vec<PublishedKey>, Error> {
    let namespace = namespace.as_str().to_owned();
    app.run(move |store| {
        store
            .find_account_by_namespace(&namespace)?
            .ok_or(StoreError::NotFound)?;
        store.published_webhook_keys(&namespace)
    })
    .await
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
    if change.url.is_none()
        && change.events.is_none()
        && change.enabled.is_none()
        && change.format.is_none()
        && change.asymmetric.is_none()
    {
        return Err(FieldError::invalid(
            "url",
            "`events`, `enabled`, `format` or `asymmetric` must be given: there is nothing \
             to change",
        )
        .into());
    }
    let format = change.format.as_deref().map(chosen_format).transpose()?;
    let signing_key = signing_key_change(
        app,
        owner,
        &service_id,
        &webhook_id,
        format,
        change.asymmetric,
    )
    .await?;
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
        format,
        signing_key,
    };
    let namespace = owner.namespace.clone();
    let actor = actor(owner);
    let (endpoint, missed_events) = app
        .run(move |store| {
            store
                .update_webhook_endpoint(&namespace, &service_id, &webhook_id, &changes, &actor)
                .map_err(|e| match e {
                    StoreError::Conflict("atp format") => Error::from(FieldError::invalid(
                        "format",
                        "an ATP callback keeps the atp format",
                    )),
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

/// What becomes of a webhook's Ed25519 key: a new one when asymmetric signing is turned on
/// (the one it has is kept), none when it is turned off or the format leaves `standard`.
async fn signing_key_change(
    app: &App,
    owner: &Account,
    service_id: &str,
    webhook_id: &str,
    format: Option<EndpointFormat>,
    asymmetric: Option<bool>,
) -> Result<Option<Option<SealedSigningKey>>, Error> {
    if format.is_none() && asymmetric.is_none() {
        return Ok(None);
    }
    let (_, current) = get(app, owner, service_id.to_owned(), webhook_id.to_owned()).await?;
    let format = format.unwrap_or(current.format);
    let wanted = asymmetric.unwrap_or(current.signing_key.is_some());
    Ok(match (wanted, &current.signing_key) {
        (true, _) if format != EndpointFormat::Standard => {
            if asymmetric == Some(true) {
                asymmetric_allowed(format)?;
            }
            // The format leaves `standard`: the key has no place to sign any more.
            Some(None)
        }
        (true, Some(_)) => None,
        (true, None) => Some(Some(new_signing_key(app, webhook_id))),
        (false, Some(_)) => Some(None),
        (false, None) => None,
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
