//! Services: one row per registered AI service, whichever dialect created it.

use assent_core::{Service, Timestamp};
use diesel::prelude::*;

use crate::api_keys::{self, NewApiKey};
use crate::db::Store;
use crate::error::{StoreError, is_unique_violation};
use crate::schema::services;
use crate::webhooks::{self, NewWebhookEndpoint};
use crate::{AnyConnection, accounts};

#[derive(Debug, Clone)]
pub struct NewService {
    pub namespace: String,
    pub slug: String,
    pub name: String,
    pub description: Option<String>,
    pub icon_url: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum RegisterError {
    #[error("namespace `{0}` does not exist")]
    NamespaceNotFound(String),
    #[error("a service with this name or slug already exists in the namespace")]
    ServiceExists,
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<diesel::result::Error> for RegisterError {
    fn from(e: diesel::result::Error) -> Self {
        Self::Store(e.into())
    }
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = services)]
struct ServiceRow {
    id: String,
    namespace: String,
    slug: String,
    name: String,
    description: Option<String>,
    icon_url: Option<String>,
    created_at: i64,
    updated_at: i64,
}

impl From<ServiceRow> for Service {
    fn from(row: ServiceRow) -> Self {
        Self {
            id: row.id,
            namespace: row.namespace,
            slug: row.slug,
            name: row.name,
            description: row.description,
            icon_url: row.icon_url,
            created_at: Timestamp::from_millis(row.created_at),
            updated_at: Timestamp::from_millis(row.updated_at),
        }
    }
}

impl Store {
    /// Registers a service with its first API key and webhook endpoint in one transaction
    /// (ATP registration): either all three rows exist afterwards or none does.
    pub fn register_service(
        &self,
        service: NewService,
        key: NewApiKey,
        endpoint: NewWebhookEndpoint,
    ) -> Result<Service, RegisterError> {
        let now = Timestamp::now().as_millis();
        self.write(|conn| {
            if !accounts::namespace_exists(conn, &service.namespace)? {
                return Err(RegisterError::NamespaceNotFound(service.namespace.clone()));
            }
            if name_taken(conn, &service.namespace, &service.name)? {
                return Err(RegisterError::ServiceExists);
            }
            let created = insert(conn, &service, now).map_err(|e| {
                if is_unique_violation(&e) {
                    RegisterError::ServiceExists
                } else {
                    e.into()
                }
            })?;
            api_keys::insert(conn, &created.id, &key, now)?;
            webhooks::insert(conn, &created.id, &endpoint, now)?;
            Ok(created)
        })
    }

    pub fn get_service(&self, id: &str) -> Result<Option<Service>, StoreError> {
        self.read(|conn| {
            Ok(services::table
                .find(id)
                .select(ServiceRow::as_select())
                .first(conn)
                .optional()?
                .map(Service::from))
        })
    }

    /// A namespace's services, oldest first.
    pub fn list_services(&self, namespace: &str) -> Result<Vec<Service>, StoreError> {
        self.read(|conn| {
            Ok(services::table
                .filter(services::namespace.eq(namespace))
                .order((services::created_at.asc(), services::id.asc()))
                .select(ServiceRow::as_select())
                .load(conn)?
                .into_iter()
                .map(Service::from)
                .collect())
        })
    }
}

fn name_taken(conn: &mut AnyConnection, namespace: &str, name: &str) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(
        services::table
            .filter(services::namespace.eq(namespace))
            .filter(services::name.eq(name)),
    ))
    .get_result(conn)
}

fn insert(conn: &mut AnyConnection, new: &NewService, now: i64) -> QueryResult<Service> {
    let service = Service {
        id: uuid::Uuid::new_v4().to_string(),
        namespace: new.namespace.clone(),
        slug: new.slug.clone(),
        name: new.name.clone(),
        description: new.description.clone(),
        icon_url: new.icon_url.clone(),
        created_at: Timestamp::from_millis(now),
        updated_at: Timestamp::from_millis(now),
    };
    diesel::insert_into(services::table)
        .values((
            services::id.eq(&service.id),
            services::namespace.eq(&new.namespace),
            services::slug.eq(&new.slug),
            services::name.eq(&new.name),
            services::description.eq(&new.description),
            services::icon_url.eq(&new.icon_url),
            services::created_at.eq(now),
            services::updated_at.eq(now),
        ))
        .execute(conn)
        .map(|_| service)
}
