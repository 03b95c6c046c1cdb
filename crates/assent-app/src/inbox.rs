//! What waits for the human, and what they decided: a namespace's claims and notifications
//! together, for a front end that shows both (the dashboard's inbox and history).

use std::collections::HashMap;

use assent_core::claim::Claim;
use assent_core::claim::ClaimStatus;
use assent_core::notification::Notification;
use assent_core::notification::NotificationStatus;
use assent_store::{Account, NotificationQuery, Store, StoreError};

use crate::notifications::deliver;
use crate::{App, Error};

/// At most this many claims and as many notifications per list.
pub const LIST_LIMIT: i64 = 100;

/// A namespace's claims and notifications, with the display names of the claims' services.
#[derive(Debug, Clone, Default)]
pub struct Items {
    pub claims: Vec<Claim>,
    pub notifications: Vec<Notification>,
    /// Service ids to display names (claims keep only the slug).
    pub service_names: HashMap<String, String>,
}

/// The pending claims and notifications of the owner's namespace. The owner now sees the
/// notifications, so they are delivered, as when a client app lists them.
pub async fn pending(app: &App, owner: &Account) -> Result<Items, Error> {
    let namespace = owner.namespace.clone();
    app.run(move |store| {
        let claims = store.list_claims(
            &namespace,
            Some(ClaimStatus::Pending),
            None,
            LIST_LIMIT,
            None,
        )?;
        let query = NotificationQuery {
            statuses: NotificationStatus::PENDING.to_vec(),
            limit: LIST_LIMIT,
            ..NotificationQuery::default()
        };
        let (notifications, _) = store.list_notifications(&namespace, &query)?;
        let notifications = deliver(store, notifications)?;
        items(store, &namespace, claims, notifications)
    })
    .await
}

/// The decided claims and finished notifications of the owner's namespace.
pub async fn history(app: &App, owner: &Account) -> Result<Items, Error> {
    let namespace = owner.namespace.clone();
    app.run(move |store| {
        let mut claims = Vec::new();
        for status in [
            ClaimStatus::Approved,
            ClaimStatus::Rejected,
            ClaimStatus::Revoked,
            ClaimStatus::Expired,
        ] {
            claims.extend(store.list_claims(&namespace, Some(status), None, LIST_LIMIT, None)?);
        }
        let query = NotificationQuery {
            statuses: vec![
                NotificationStatus::Responded,
                NotificationStatus::Completed,
                NotificationStatus::Expired,
                NotificationStatus::Invalidated,
            ],
            limit: LIST_LIMIT,
            ..NotificationQuery::default()
        };
        let (notifications, _) = store.list_notifications(&namespace, &query)?;
        items(store, &namespace, claims, notifications)
    })
    .await
}

fn items(
    store: &Store,
    namespace: &str,
    claims: Vec<Claim>,
    notifications: Vec<Notification>,
) -> Result<Items, StoreError> {
    let service_names = if claims.is_empty() {
        HashMap::new()
    } else {
        store
            .list_services(namespace)?
            .into_iter()
            .map(|s| (s.id, s.name))
            .collect()
    };
    Ok(Items {
        claims,
        notifications,
        service_names,
    })
}
