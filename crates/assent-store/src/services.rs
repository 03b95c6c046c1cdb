//! Services: one row per registered AI service, whichever dialect created it. Every method an
//! owner reaches takes the owner's namespace and treats a service of another namespace as
//! absent (`NotFound`), so ids of other tenants reveal nothing.

use assent_core::{Service, Timestamp};
use diesel::prelude::*;
use serde_json::json;

use crate::api_keys::{self, NewApiKey};
use crate::audit::{self, Actor, AuditEntry};
use crate::db::Store;
use crate::error::{Quota, StoreError, is_unique_violation};
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

/// What `PATCH` may change; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct ServiceChanges {
    pub name: Option<String>,
    /// `Some(None)` clears the description.
    pub description: Option<Option<String>>,
}

#[derive(Debug, thiserror::Error)]
pub enum RegisterError {
    #[error("namespace `{0}` does not exist")]
    NamespaceNotFound(String),
    #[error("a service with this name or slug already exists in the namespace")]
    ServiceExists,
    #[error("the namespace has reached its limit of services")]
    LimitReached,
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl crate::error::WriteError for RegisterError {
    fn store_error(&self) -> Option<&StoreError> {
        match self {
            Self::Store(e) => Some(e),
            _ => None,
        }
    }
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
        actor: &Actor,
        max_services: u32,
    ) -> Result<Service, RegisterError> {
        let now = Timestamp::now().as_millis();
        self.write(|conn| {
            if !accounts::namespace_exists(conn, &service.namespace)? {
                return Err(RegisterError::NamespaceNotFound(service.namespace.clone()));
            }
            crate::db::lock_quota_owner(conn, Quota::Services, &service.namespace)?;
            if name_taken(conn, &service.namespace, &service.name)? {
                return Err(RegisterError::ServiceExists);
            }
            if count_in_namespace(conn, &service.namespace)? >= i64::from(max_services) {
                return Err(RegisterError::LimitReached);
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
            audit::record(conn, created_entry(&created, actor))?;
            Ok(created)
        })
    }

    /// Creates a service in its namespace. `Conflict("slug")` when the slug is taken there,
    /// `LimitReached(Quota::Services)` when the namespace has `max_services` already.
    pub fn create_service(
        &self,
        service: NewService,
        actor: &Actor,
        max_services: u32,
    ) -> Result<Service, StoreError> {
        let now = Timestamp::now().as_millis();
        self.write(|conn| {
            crate::db::lock_quota_owner(conn, Quota::Services, &service.namespace)?;
            if count_in_namespace(conn, &service.namespace)? >= i64::from(max_services) {
                return Err(StoreError::LimitReached(Quota::Services));
            }
            let created = insert(conn, &service, now).map_err(|e| {
                if is_unique_violation(&e) {
                    StoreError::Conflict("slug")
                } else {
                    e.into()
                }
            })?;
            audit::record(conn, created_entry(&created, actor))?;
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

    /// The service with this id if it belongs to `namespace`; `NotFound` otherwise.
    pub fn get_owned_service(&self, namespace: &str, id: &str) -> Result<Service, StoreError> {
        self.read(|conn| owned(conn, namespace, id))
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

    pub fn update_service(
        &self,
        namespace: &str,
        id: &str,
        changes: ServiceChanges,
        actor: &Actor,
    ) -> Result<Service, StoreError> {
        let now = Timestamp::now().as_millis();
        self.write(|conn| {
            let mut service = owned(conn, namespace, id)?;
            if let Some(name) = changes.name.clone() {
                service.name = name;
            }
            if let Some(description) = changes.description.clone() {
                service.description = description;
            }
            service.updated_at = Timestamp::from_millis(now);
            diesel::update(services::table.find(id))
                .set((
                    services::name.eq(&service.name),
                    services::description.eq(&service.description),
                    services::updated_at.eq(now),
                ))
                .execute(conn)?;
            let mut changed = serde_json::Map::new();
            if let Some(name) = &changes.name {
                changed.insert("name".into(), name.clone().into());
            }
            if let Some(description) = &changes.description {
                changed.insert("description".into(), description.clone().into());
            }
            audit::record(
                conn,
                AuditEntry {
                    namespace,
                    actor,
                    action: "service.updated",
                    target_id: id,
                    details: changed.into(),
                },
            )?;
            Ok(service)
        })
    }

    /// Deletes a service with its keys and webhook endpoints (they cascade).
    pub fn delete_service(
        &self,
        namespace: &str,
        id: &str,
        actor: &Actor,
    ) -> Result<(), StoreError> {
        self.write(|conn| {
            let service = owned(conn, namespace, id)?;
            diesel::delete(services::table.find(id)).execute(conn)?;
            audit::record(
                conn,
                AuditEntry {
                    namespace,
                    actor,
                    action: "service.deleted",
                    target_id: id,
                    details: json!({ "slug": service.slug, "name": service.name }),
                },
            )?;
            Ok(())
        })
    }
}

fn created_entry<'a>(service: &'a Service, actor: &'a Actor) -> AuditEntry<'a> {
    AuditEntry {
        namespace: &service.namespace,
        actor,
        action: "service.created",
        target_id: &service.id,
        details: json!({ "slug": service.slug, "name": service.name }),
    }
}

/// The service if it exists in `namespace`: the one ownership check every owner path uses.
pub(crate) fn owned(
    conn: &mut AnyConnection,
    namespace: &str,
    id: &str,
) -> Result<Service, StoreError> {
    services::table
        .filter(services::id.eq(id))
        .filter(services::namespace.eq(namespace))
        .select(ServiceRow::as_select())
        .first(conn)
        .optional()?
        .map(Service::from)
        .ok_or(StoreError::NotFound)
}

fn count_in_namespace(conn: &mut AnyConnection, namespace: &str) -> QueryResult<i64> {
    services::table
        .filter(services::namespace.eq(namespace))
        .count()
        .get_result(conn)
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
        id: assent_auth::random::Id::Service.mint(),
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
            services::namespace.eq(&service.namespace),
            services::slug.eq(&service.slug),
            services::name.eq(&service.name),
            services::description.eq(&service.description),
            services::icon_url.eq(&service.icon_url),
            services::created_at.eq(now),
            services::updated_at.eq(now),
        ))
        .execute(conn)
        .map(|_| service)
}
