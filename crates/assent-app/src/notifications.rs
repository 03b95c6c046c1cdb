//! ATP notifications as their human sees them: acknowledging one, and answering it exactly
//! once. The lifecycle's refusals carry ATP's codes whichever front end asked.

use assent_core::Timestamp;
use assent_core::notification::{
    Action, NewNotification, Notification, NotificationStatus, ResponseError, ResponseType,
};
use assent_store::{
    Account, Answer, NotificationQuery, Party, Response, ScreenedNotification, Store, StoreError,
    TransitionError,
};
use serde_json::Value;

use crate::{App, Error, Kind, code, sentence};

/// One page of the notifications addressed to the human's namespace (`query.limit` is the
/// page size plus one, which tells whether a next page exists), and how many match in all.
/// The `created` ones reached a client, so they are now `delivered`.
pub async fn list_for(
    app: &App,
    account: &Account,
    query: NotificationQuery,
) -> Result<(Vec<Notification>, i64), Error> {
    let namespace = account.namespace.clone();
    app.run(move |store| {
        let (rows, total) = store.list_notifications(&namespace, &query)?;
        Ok::<_, StoreError>((deliver(store, rows)?, total))
    })
    .await
}

/// One notification addressed to the human's namespace, `delivered` if it was `created`.
pub async fn get_for(app: &App, account: &Account, id: String) -> Result<Notification, Error> {
    let namespace = account.namespace.clone();
    app.run(move |store| {
        let row = store
            .get_notification(Party::Namespace(&namespace), &id)
            .map_err(|e| transition_error(e, code::NOTIFICATION_ACCESS_DENIED))?;
        let mut rows = deliver(store, vec![row])?;
        Ok::<_, Error>(rows.remove(0))
    })
    .await
}

/// Notifications that reached a client are `delivered`: marks the `created` ones of `rows`
/// and returns the rows as they now stand.
pub(crate) fn deliver(
    store: &Store,
    mut rows: Vec<Notification>,
) -> Result<Vec<Notification>, StoreError> {
    let created: Vec<String> = rows
        .iter()
        .filter(|r| r.status == NotificationStatus::Created)
        .map(|r| r.id.clone())
        .collect();
    for moved in store.mark_delivered(&created)? {
        if let Some(row) = rows.iter_mut().find(|r| r.id == moved.id) {
            *row = moved;
        }
    }
    Ok(rows)
}

/// Holds an action flagged `irreversible` to an explicit confirmation, as the dashboard asks
/// before sending it: `CONFIRMATION_REQUIRED` unless `confirmed`. Other actions pass.
pub fn check_confirmed(action: &Action, confirmed: bool) -> Result<(), Error> {
    if action.is_irreversible() && !confirmed {
        return Err(Error::invalid(
            code::CONFIRMATION_REQUIRED,
            format!(
                "“{}” cannot be undone: tick the box to confirm it. Nothing was sent.",
                action.label
            ),
        ));
    }
    Ok(())
}

/// The action `action_id` of a notification of the human's namespace, if the notification
/// still takes an answer and has that action: what a front end needs to read an answer from
/// a form before [`respond`] checks it. `NOTIFICATION_NOT_FOUND` or
/// `NOTIFICATION_ACCESS_DENIED` when the notification is not theirs to answer.
pub async fn action_of(
    app: &App,
    account: &Account,
    id: &str,
    action_id: &str,
) -> Result<Option<Action>, Error> {
    let namespace = account.namespace.clone();
    let id = id.to_owned();
    let row = app
        .run(
            move |store| match store.get_notification(Party::Namespace(&namespace), &id) {
                Ok(row) => Ok(row),
                Err(TransitionError::Conflict(row)) => Ok(*row),
                Err(e) => Err(transition_error(e, code::NOTIFICATION_ACCESS_DENIED)),
            },
        )
        .await?;
    Ok(row
        .action(action_id)
        .filter(|_| row.status.is_pending())
        .cloned())
}

/// Checks an answer against its notification and records it, exactly once: the notification
/// must be the namespace's and pending, the action one of its own, and the data must fit the
/// action's response type and constraints (`None` is allowed for `simple` only).
pub async fn respond(
    app: &App,
    account: &Account,
    notification_id: String,
    action_id: &str,
    data: Option<Value>,
) -> Result<Notification, Error> {
    let namespace = account.namespace.clone();
    let lookup = notification_id.clone();
    let row = app
        .run(move |store| {
            store
                .get_notification(Party::Namespace(&namespace), &lookup)
                .map_err(|e| transition_error(e, code::NOTIFICATION_ACCESS_DENIED))
        })
        .await?;
    // A notification that takes no answer says so first, whatever the answer.
    if !row.status.is_pending() {
        return Err(state_conflict(&row));
    }
    let action = row.action(action_id).ok_or_else(|| {
        Error::invalid(
            code::INVALID_ACTION_ID,
            format!("The notification has no action `{action_id}`."),
        )
        .for_field("action_id")
    })?;
    let data = match data {
        Some(data) => data,
        None if action.response_type == ResponseType::Simple => Value::Null,
        None => {
            return Err(Error::invalid(
                code::MISSING_REQUIRED_FIELD,
                "The field `response_data` is required for this action.",
            )
            .for_field("response_data"));
        }
    };
    action.check_response(&data).map_err(|e| {
        let (kind, code) = match e {
            ResponseError::WrongType(_) => (Kind::Invalid, code::INVALID_RESPONSE_DATA),
            ResponseError::Constraint(_) => (Kind::Unprocessable, code::CONSTRAINT_VIOLATION),
        };
        Error::new(kind, code, sentence(&e.to_string()))
            .for_field("response_data")
            .with_detail("response_type", action.response_type.as_str())
    })?;

    let answer = Answer {
        namespace: account.namespace.clone(),
        notification_id,
        response: Response {
            action_id: action_id.to_owned(),
            data,
            responder_id: account.id.clone(),
        },
        client_addr: crate::client_addr(),
    };
    // Written with the answers that arrive together (`crate::group_commit`).
    let answered = app
        .answers
        .write(app.store(), answer)
        .await?
        .map_err(|e| transition_error(e, code::NOTIFICATION_ACCESS_DENIED))?;
    app.decisions().add("notification", "owner", 1);
    Ok(answered)
}

/// Moves a notification of `namespace` to `acknowledged`: the human has seen it.
/// Acknowledging an acknowledged notification changes nothing.
pub async fn acknowledge(app: &App, namespace: String, id: String) -> Result<Notification, Error> {
    app.run(move |store| {
        match store.move_notification(
            Party::Namespace(&namespace),
            &id,
            NotificationStatus::Acknowledged,
            None,
            None,
        ) {
            Ok(row) => Ok(row),
            Err(TransitionError::Conflict(row))
                if row.status == NotificationStatus::Acknowledged =>
            {
                Ok(*row)
            }
            Err(e) => Err(transition_error(e, code::NOTIFICATION_ACCESS_DENIED)),
        }
    })
    .await
}

/// A lifecycle move that did not happen, as ATP's codes say it. `not_owner` is
/// `SERVICE_NOT_OWNER` for services and `NOTIFICATION_ACCESS_DENIED` for humans.
pub fn transition_error(e: TransitionError, not_owner: &'static str) -> Error {
    match e {
        TransitionError::NotFound => Error::new(
            Kind::NotFound,
            code::NOTIFICATION_NOT_FOUND,
            "No notification has this id.",
        ),
        TransitionError::NotOwner => Error::new(
            Kind::Forbidden,
            not_owner,
            "This notification is not yours.",
        ),
        TransitionError::Conflict(row) => state_conflict(&row),
        TransitionError::Store(e) => e.into(),
    }
}

/// The conflict of a notification whose state allows no more changes.
pub fn state_conflict(row: &Notification) -> Error {
    let (code, message) = match row.status {
        NotificationStatus::Responded | NotificationStatus::Completed => (
            code::NOTIFICATION_ALREADY_RESPONDED,
            "The notification has already been answered.",
        ),
        NotificationStatus::Expired => (
            code::NOTIFICATION_EXPIRED,
            "The notification deadline has passed and no longer accepts responses.",
        ),
        NotificationStatus::Invalidated => (
            code::NOTIFICATION_INVALIDATED,
            "The service has invalidated this notification.",
        ),
        NotificationStatus::Created
        | NotificationStatus::Delivered
        | NotificationStatus::Acknowledged => (
            code::NOTIFICATION_STATE_CONFLICT,
            "The notification is not in a state this change starts from.",
        ),
    };
    let mut error = Error::conflict(code, message)
        .with_detail("notification_id", row.id.clone())
        .with_detail("status", row.status.as_str());
    if row.status == NotificationStatus::Expired
        && let Some(deadline) = row.deadline
    {
        error = error.with_detail("expired_at", deadline.to_rfc3339());
    }
    error
}

/// The service sending a notification, as its API key identifies it.
#[derive(Debug, Clone)]
pub struct Sender {
    pub service_id: String,
    pub namespace: String,
    /// The ATP `service_id`.
    pub slug: String,
    pub name: String,
    pub icon: Option<String>,
}

/// Stores a notification the service sent (checked by core's `validate_notification`) for
/// the owner of its namespace, at `now`. `NOTIFICATION_ALREADY_EXISTS` for a taken `id`.
/// The owner's standing grants and policy may answer it at once (`crate::policies`): it is
/// then returned `responded`, its response saying `decided_by`. The write joins the group
/// commit of notifications that arrive together (`crate::group_commit`).
pub async fn send(
    app: &App,
    sender: Sender,
    input: NewNotification,
    now: Timestamp,
) -> Result<Notification, Error> {
    let notification = Notification {
        id: input
            .id
            .unwrap_or_else(|| assent_auth::random::Id::Notification.mint()),
        namespace: sender.namespace,
        service_id: sender.service_id,
        service_slug: sender.slug,
        service_name: sender.name,
        service_icon: sender.icon,
        project: input.project,
        context: input.context,
        actions: input.actions,
        status: NotificationStatus::Created,
        sent_at: input.timestamp,
        created_at: now,
        updated_at: now,
        deadline: input.deadline,
        status_reason: None,
        response: None,
    };
    let source = crate::client_addr();
    let screening = {
        let notification = notification.clone();
        app.run(move |store| crate::policies::screen_notification(store, &notification, source))
            .await?
    };
    let item = ScreenedNotification {
        notification,
        screening,
        client_addr: source,
    };
    let created = app
        .creates
        .write(app.store(), item)
        .await?
        .map_err(|e| match e {
            StoreError::Conflict(_) => Error::conflict(
                code::NOTIFICATION_ALREADY_EXISTS,
                "A notification with this id already exists.",
            )
            .for_field("id"),
            // Nothing is stored: ATP has no rejected state for a refused notification.
            StoreError::PendingLimit(by) => crate::policies::pending_limit(by),
            other => other.into(),
        })?;
    // Created and moved in one transaction: the owner's grants or policy decided it.
    match created.status {
        NotificationStatus::Responded => {
            let by = created
                .response
                .as_ref()
                .and_then(|r| r["decided_by"].as_str());
            app.decisions()
                .add_automatic("notification", by.unwrap_or_default());
        }
        NotificationStatus::Invalidated => app.decisions().add("notification", "policy", 1),
        _ => {}
    }
    Ok(created)
}

/// The service invalidates one of its notifications that no longer applies; no answer is
/// accepted after it. `SERVICE_NOT_OWNER` for another service's.
pub async fn invalidate(
    app: &App,
    service_id: String,
    id: String,
    reason: Option<String>,
) -> Result<Notification, Error> {
    app.run(move |store| {
        store
            .move_notification(
                Party::Service(&service_id),
                &id,
                NotificationStatus::Invalidated,
                reason.as_deref(),
                None,
            )
            .map_err(|e| transition_error(e, code::SERVICE_NOT_OWNER))
    })
    .await
}

/// One of the service's notifications, with its status and, once answered, its response.
pub async fn get_for_service(
    app: &App,
    service_id: String,
    id: String,
) -> Result<Notification, Error> {
    app.run(move |store| {
        store
            .get_notification(Party::Service(&service_id), &id)
            .map_err(|e| transition_error(e, code::SERVICE_NOT_OWNER))
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn action(flags: &[&str]) -> Action {
        serde_json::from_value(serde_json::json!({
            "id": "apply", "label": "Apply", "response_type": "simple", "flags": flags,
        }))
        .unwrap()
    }

    #[test]
    fn only_an_irreversible_action_needs_its_confirmation() {
        let refused = check_confirmed(&action(&["irreversible"]), false).unwrap_err();
        assert_eq!(refused.code(), code::CONFIRMATION_REQUIRED);
        assert_eq!(refused.kind(), Kind::Invalid);
        assert!(check_confirmed(&action(&["irreversible"]), true).is_ok());
        assert!(check_confirmed(&action(&["urgent"]), false).is_ok());
    }
}
