//! The services pages: the list of an owner's services with the create form, and one service
//! with its API keys and webhooks.

use askama::Template;

use super::credentials::{Credential, Secret};
use super::webhooks::{EventChoice, WebhookItem};
use super::{Nav, When};

#[derive(Debug, Template)]
#[template(path = "services.html")]
pub(in crate::dashboard) struct ServicesPage {
    pub nav: Option<Nav>,
    pub csrf: String,
    pub services: Vec<ServiceItem>,
    /// The create form's values, kept on an error.
    pub slug: String,
    pub name: String,
    pub description: String,
    pub error: Option<String>,
}

#[derive(Debug)]
pub(in crate::dashboard) struct ServiceItem {
    pub id: String,
    pub slug: String,
    pub name: String,
    pub description: Option<String>,
    pub created: When,
}

impl From<assent_core::Service> for ServiceItem {
    fn from(s: assent_core::Service) -> Self {
        Self {
            created: When::from(s.created_at),
            id: s.id,
            slug: s.slug,
            name: s.name,
            description: s.description,
        }
    }
}

#[derive(Debug, Template)]
#[template(path = "service.html")]
pub(in crate::dashboard) struct ServicePage {
    pub nav: Option<Nav>,
    pub csrf: String,
    pub service: ServiceItem,
    /// The edit form's values (the service's own, or those submitted on an error).
    pub name: String,
    pub description: String,
    pub error: Option<String>,
    /// Why the delete form was refused (its slug not typed).
    pub delete_error: Option<String>,
    pub keys: Vec<Credential>,
    pub key_name: String,
    pub key_error: Option<String>,
    /// A key just created, shown this once (and in the usage snippet, this once).
    pub new_key: Option<Secret>,
    /// This server's address for the usage snippet: the configured public URL, else a
    /// placeholder.
    pub base_url: String,
    pub webhooks: Vec<WebhookItem>,
    /// The add-a-webhook form's values (kept on an error).
    pub webhook_url: String,
    pub webhook_events: Vec<EventChoice>,
    pub webhook_error: Option<String>,
}
