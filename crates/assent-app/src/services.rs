//! An owner's services: create, list, read, change and delete. Every operation is scoped to
//! the owner's namespace; another owner's service is `NOT_FOUND`, like one that does not exist.

use assent_auth::{MintedToken, Secret, TokenKind, random};
use assent_core::{
    AtpRegistrationInput, EndpointFormat, EventType, FieldError, RegistrationError, Service,
    ServiceInput,
};
use assent_store::{
    Account, Actor, NewApiKey, NewService, NewWebhookEndpoint, Quota, RegisterError,
    ServiceChanges, StoreError,
};

use crate::{App, Error, actor, code, sentence};

/// The owner's services, oldest first (those registered over ATP among them).
pub async fn list(app: &App, owner: &Account) -> Result<Vec<Service>, Error> {
    let namespace = owner.namespace.clone();
    app.run(move |store| store.list_services(&namespace)).await
}

/// Validates `input` and creates the service in the owner's namespace.
/// `VALIDATION_ERROR`, `SERVICE_ALREADY_EXISTS`, `SERVICE_LIMIT_REACHED`.
pub async fn create(app: &App, owner: &Account, input: ServiceInput) -> Result<Service, Error> {
    let fields = input.validate()?;
    let new = NewService {
        namespace: owner.namespace.clone(),
        slug: fields.slug.into_string(),
        name: fields.name,
        description: fields.description,
        icon_url: None,
    };
    let max = app.settings.quotas.services_per_namespace;
    let actor = actor(owner);
    app.run(move |store| {
        store.create_service(new, &actor, max).map_err(|e| match e {
            StoreError::Conflict(_) => Error::conflict(
                code::SERVICE_ALREADY_EXISTS,
                "A service with this slug already exists in your namespace.",
            ),
            other => other.into(),
        })
    })
    .await
}

/// One of the owner's services.
pub async fn get(app: &App, owner: &Account, service_id: String) -> Result<Service, Error> {
    let namespace = owner.namespace.clone();
    app.run(move |store| store.get_owned_service(&namespace, &service_id))
        .await
}

/// Changes the name (`None`: unchanged) and the description (`None`: unchanged, `Some(None)`
/// or an empty string: cleared) of one of the owner's services; the slug is permanent.
pub async fn change(
    app: &App,
    owner: &Account,
    service_id: String,
    name: Option<Option<String>>,
    description: Option<Option<String>>,
) -> Result<Service, Error> {
    let changes = changes(name, description)?;
    let namespace = owner.namespace.clone();
    let actor = actor(owner);
    app.run(move |store| store.update_service(&namespace, &service_id, changes, &actor))
        .await
}

/// Deletes one of the owner's services with its API keys and webhooks.
pub async fn delete(app: &App, owner: &Account, service_id: String) -> Result<(), Error> {
    let namespace = owner.namespace.clone();
    let actor = actor(owner);
    app.run(move |store| store.delete_service(&namespace, &service_id, &actor))
        .await
}

/// Deletes one of the owner's services once the owner has typed its slug, as the dashboard
/// asks before a change that cannot be undone. `CONFIRMATION_REQUIRED` (nothing deleted) when
/// `typed_slug` is not the service's slug.
pub async fn delete_confirmed(
    app: &App,
    owner: &Account,
    service_id: String,
    typed_slug: &str,
) -> Result<(), Error> {
    let namespace = owner.namespace.clone();
    let actor = actor(owner);
    let typed_slug = typed_slug.trim().to_owned();
    app.run(move |store| {
        let service = store.get_owned_service(&namespace, &service_id)?;
        if service.slug != typed_slug {
            return Err(Error::invalid(
                code::CONFIRMATION_REQUIRED,
                format!(
                    "Nothing was deleted: type the service's slug, `{}`, to confirm.",
                    service.slug
                ),
            ));
        }
        store
            .delete_service(&namespace, &service_id, &actor)
            .map_err(Error::from)
    })
    .await
}

/// The changes asked for, checked; at least one must be given.
fn changes(
    name: Option<Option<String>>,
    description: Option<Option<String>>,
) -> Result<ServiceChanges, Error> {
    let name = name
        .map(|name| {
            assent_core::field::required("name", name.as_deref())
                .and_then(assent_core::service::service_name)
        })
        .transpose()?;
    let description = description
        .map(|d| {
            assent_core::field::optional(d.as_deref())
                .map(assent_core::service::service_description)
                .transpose()
        })
        .transpose()?;
    if name.is_none() && description.is_none() {
        return Err(FieldError::invalid(
            "name",
            "or `description` must be given: there is nothing to change",
        )
        .into());
    }
    Ok(ServiceChanges { name, description })
}

/// A service with its active API keys and its webhooks, read together.
#[derive(Debug, Clone)]
pub struct Overview {
    pub service: Service,
    pub keys: Vec<assent_store::ApiKey>,
    pub webhooks: Vec<assent_store::WebhookEndpoint>,
}

/// One of the owner's services with its keys and webhooks, in one trip to the store.
pub async fn overview(app: &App, owner: &Account, service_id: String) -> Result<Overview, Error> {
    let namespace = owner.namespace.clone();
    app.run(move |store| {
        Ok::<_, StoreError>(Overview {
            service: store.get_owned_service(&namespace, &service_id)?,
            keys: store.list_api_keys(&namespace, &service_id)?,
            webhooks: store.list_owned_webhook_endpoints(&namespace, &service_id)?,
        })
    })
    .await
}

/// An ATP service just registered: its id (the slug) and the credentials to show once.
#[derive(Debug, Clone)]
pub struct Registered {
    pub service: Service,
    pub api_key: String,
    pub webhook_secret: String,
}

/// Registers an ATP service on an operator's request (`admin_token_id`): the service, its
/// first API key and its callback as an ATP-format webhook, in one transaction. The ATP
/// codes: `MISSING_REQUIRED_FIELD` and `INVALID_PARAMETER` naming the field,
/// `INVALID_CALLBACK_URL`, `SERVICE_ALREADY_EXISTS`, `SERVICE_LIMIT_REACHED`.
pub async fn register_atp(
    app: &App,
    admin_token_id: String,
    input: AtpRegistrationInput,
) -> Result<Registered, Error> {
    let registration = input
        .validate(app.settings.webhook_policy)
        .map_err(registration_error)?;
    let namespace = registration
        .namespace
        .as_ref()
        .map(|n| n.as_str().to_owned())
        .or_else(|| app.settings.default_namespace.clone())
        .ok_or_else(|| {
            missing_namespace(
                "The body names no `namespace` and the server has no default namespace.",
            )
        })?;

    let api_key = MintedToken::new(TokenKind::ApiKey);
    let endpoint_id = random::Id::Webhook.mint();
    let webhook_secret = Secret::new(registration.webhook_secret.clone());
    let endpoint = NewWebhookEndpoint {
        secret_sealed: app.secret_key.seal(&webhook_secret, &endpoint_id),
        id: endpoint_id,
        url: registration.callback_url.to_string(),
        format: EndpointFormat::Atp,
        events: vec![EventType::NotificationResponded],
        signing_key: None,
    };
    let key = NewApiKey {
        id: random::Id::ApiKey.mint(),
        name: "default".to_owned(),
        prefix: api_key.display_prefix(),
        hash: api_key.hash.clone(),
    };
    let service = NewService {
        namespace,
        slug: registration.slug.as_str().to_owned(),
        name: registration.name.clone(),
        description: Some(registration.description.clone()),
        icon_url: registration.icon_url.as_ref().map(ToString::to_string),
    };
    let actor = Actor::AdminToken(admin_token_id);
    let max_services = app.settings.quotas.services_per_namespace;
    let service = app
        .run(move |store| {
            store
                .register_service(service, key, endpoint, &actor, max_services)
                .map_err(|e| match e {
                    RegisterError::NamespaceNotFound(ns) => {
                        missing_namespace(format!("The namespace `{ns}` does not exist."))
                    }
                    RegisterError::ServiceExists => Error::conflict(
                        code::SERVICE_ALREADY_EXISTS,
                        "A service with this name already exists in the namespace.",
                    ),
                    RegisterError::LimitReached => Error::limit_reached(Quota::Services),
                    RegisterError::Store(e) => Error::internal(&e),
                })
        })
        .await?;
    tracing::info!(service_id = %service.slug, namespace = %service.namespace, "service registered");
    Ok(Registered {
        service,
        api_key: api_key.plaintext.expose().to_owned(),
        webhook_secret: webhook_secret.expose().to_owned(),
    })
}

fn missing_namespace(message: impl Into<String>) -> Error {
    Error::invalid(code::MISSING_REQUIRED_FIELD, message).for_field("namespace")
}

/// A registration body's fault, in ATP's codes.
fn registration_error(e: RegistrationError) -> Error {
    match e {
        RegistrationError::Field(FieldError::Missing { field }) => Error::invalid(
            code::MISSING_REQUIRED_FIELD,
            format!("The field `{field}` is required."),
        )
        .for_field(field),
        RegistrationError::Field(e @ FieldError::Invalid { .. }) => {
            let field = e.field();
            Error::invalid(code::INVALID_PARAMETER, sentence(&e.to_string())).for_field(field)
        }
        RegistrationError::CallbackUrl(why) => Error::invalid(
            code::INVALID_CALLBACK_URL,
            format!("The callback_url {why}."),
        )
        .for_field("callback_url"),
    }
}
