//! ATP notifications: creation, the compare-and-set moves of their lifecycle, expiry, and the
//! listings of the client API.
//!
//! Every state change writes, in the transaction that makes it, a row of `changes` (what
//! the user's open clients are pushed; see [`crate::changes`]) and, for a response, the
//! `notification.responded` event through the outbox. New notifications may share one
//! transaction ([`Store::create_screened_notifications`]), each in its own savepoint.

use assent_core::notification::{
    Notification, NotificationStatus, parse_uuid, responded_payload, status_update,
};
use assent_core::policy::Effect;
use assent_core::{EventType, Timestamp};
use diesel::prelude::*;
use serde_json::{Value, json};

use crate::AnyConnection;
use crate::changes::{self, ChangeKind};
use crate::db::Store;
use crate::error::{StoreError, is_unique_violation};
use crate::outbox::{NewEvent, Outbox};
use crate::schema::notifications;

/// A notification as stored; callers get it as a [`Notification`].
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable)]
#[diesel(table_name = notifications)]
pub(crate) struct NotificationRow {
    pub id: String,
    pub namespace: String,
    pub service_id: String,
    pub service_slug: String,
    pub service_name: String,
    pub service_icon: Option<String>,
    pub project: Option<String>,
    pub context: String,
    pub actions: String,
    pub status: String,
    pub sent_at: i64,
    pub created_at: i64,
    pub updated_at: i64,
    pub deadline: Option<i64>,
    pub status_reason: Option<String>,
    /// Once answered: the ATP webhook payload (`notification_id`, `action_id`,
    /// `response_data`, `responded_at`, `responder`).
    pub response: Option<String>,
}

impl NotificationRow {
    fn status(&self) -> NotificationStatus {
        // The CHECK constraint allows only known states.
        NotificationStatus::parse(&self.status).unwrap_or(NotificationStatus::Expired)
    }

    /// Whether its deadline has passed at `now`.
    fn is_past_deadline(&self, now: i64) -> bool {
        self.deadline.is_some_and(|d| d <= now)
    }

    /// The row of a new notification.
    fn of(n: &Notification) -> Self {
        Self {
            id: n.id.clone(),
            namespace: n.namespace.clone(),
            service_id: n.service_id.clone(),
            service_slug: n.service_slug.clone(),
            service_name: n.service_name.clone(),
            service_icon: n.service_icon.clone(),
            project: n.project.clone(),
            context: Value::Object(n.context.clone()).to_string(),
            actions: json!(n.actions).to_string(),
            status: n.status.as_str().to_owned(),
            sent_at: n.sent_at.as_millis(),
            created_at: n.created_at.as_millis(),
            updated_at: n.updated_at.as_millis(),
            deadline: n.deadline.map(Timestamp::as_millis),
            status_reason: n.status_reason.clone(),
            response: n.response.as_ref().map(Value::to_string),
        }
    }
}

/// The stored JSON columns are written by this crate only; one that does not parse reads as
/// empty rather than failing the read.
impl From<NotificationRow> for Notification {
    fn from(row: NotificationRow) -> Self {
        Self {
            status: row.status(),
            context: serde_json::from_str(&row.context).unwrap_or_default(),
            actions: serde_json::from_str(&row.actions).unwrap_or_default(),
            response: row
                .response
                .as_deref()
                .and_then(|r| serde_json::from_str(r).ok()),
            sent_at: Timestamp::from_millis(row.sent_at),
            created_at: Timestamp::from_millis(row.created_at),
            updated_at: Timestamp::from_millis(row.updated_at),
            deadline: row.deadline.map(Timestamp::from_millis),
            id: row.id,
            namespace: row.namespace,
            service_id: row.service_id,
            service_slug: row.service_slug,
            service_name: row.service_name,
            service_icon: row.service_icon,
            project: row.project,
            status_reason: row.status_reason,
        }
    }
}

/// A user's answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Response {
    pub action_id: String,
    pub data: Value,
    /// The account that answered.
    pub responder_id: String,
}

/// Why a move of a notification's lifecycle did not happen.
#[derive(Debug, thiserror::Error)]
pub enum TransitionError {
    #[error("no such notification")]
    NotFound,
    /// It belongs to another service (service side) or another namespace (client side).
    #[error("the notification belongs to someone else")]
    NotOwner,
    /// It is not in a state the move starts from; carries the state it is in (a pending one
    /// past its deadline is expired on the way).
    #[error("the notification is {}", .0.status)]
    Conflict(Box<Notification>),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl crate::error::WriteError for TransitionError {
    fn store_error(&self) -> Option<&StoreError> {
        match self {
            Self::Store(e) => Some(e),
            _ => None,
        }
    }
}

impl From<diesel::result::Error> for TransitionError {
    fn from(e: diesel::result::Error) -> Self {
        Self::Store(e.into())
    }
}

/// Whose view a read or a move is made from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Party<'a> {
    /// The service that sent it (by service id).
    Service(&'a str),
    /// The owner of the namespace it is addressed to.
    Namespace(&'a str),
}

impl Party<'_> {
    fn owns(self, row: &NotificationRow) -> bool {
        match self {
            Self::Service(id) => row.service_id == id,
            Self::Namespace(ns) => row.namespace == ns,
        }
    }
}

/// An owner's answer to one of their notifications, for [`Store::respond_notifications`].
#[derive(Debug, Clone)]
pub struct Answer {
    /// The owner's namespace: a notification addressed to another one is `NotOwner`.
    pub namespace: String,
    pub notification_id: String,
    pub response: Response,
    /// Where the answer came from, for the audit log.
    pub client_addr: Option<std::net::IpAddr>,
}

/// What the owner's grants and policy are asked of a new notification.
#[derive(Debug, Clone, Default)]
pub struct NotificationScreening {
    /// What grants are bound to: the notification's `context.metadata` (`{}` without one).
    pub arguments: Value,
    /// The actions an automatic answer may choose (those that need no response data), in the
    /// notification's order.
    pub answerable: Vec<String>,
    /// The rule that decides (its id, its effect, and the action it answers with).
    pub rule: Option<(String, Effect, Option<String>)>,
    /// The owner's pending caps: a notification left pending past one is refused
    /// ([`StoreError::PendingLimit`]) and not stored.
    pub caps: crate::PendingCaps,
}

/// One notification of a group commit ([`Store::create_screened_notifications`]): the
/// notification, its screening, and the address its request came from.
#[derive(Debug, Clone)]
pub struct ScreenedNotification {
    pub notification: Notification,
    pub screening: NotificationScreening,
    pub client_addr: Option<std::net::IpAddr>,
}

/// The filters of a client listing.
#[derive(Debug, Clone, Default)]
pub struct NotificationQuery {
    /// Any of these states; empty for all.
    pub statuses: Vec<NotificationStatus>,
    /// A service slug (the ATP `service_id`).
    pub service: Option<String>,
    pub project: Option<String>,
    pub oldest_first: bool,
    /// Rows after this `(created_at, id)` in the listing's order.
    pub after: Option<(i64, String)>,
    pub limit: i64,
}

/// Tells the owner's channels that a notification waits for them (in the transaction that
/// stores it, so once).
fn tell_owner(
    conn: &mut AnyConnection,
    outbox: &mut Outbox,
    row: &NotificationRow,
) -> Result<(), StoreError> {
    crate::channels::notify_owner(
        conn,
        outbox,
        &row.namespace,
        assent_core::channel::ChannelEvent::NotificationCreated,
        (crate::channels::ItemKind::Notification, &row.id),
    )?;
    // Only a notification with a deadline expires.
    match row.deadline {
        Some(deadline) => crate::channels::schedule_reminders(
            conn,
            outbox,
            &row.namespace,
            (crate::channels::ItemKind::Notification, &row.id),
            deadline,
        ),
        None => Ok(()),
    }
}

impl Store {
    /// Stores a new notification (status `created`) and its change, unscreened (no grant or
    /// policy answers it, no pending cap holds it). `Conflict` when its id is taken.
    pub fn create_notification(
        &self,
        notification: &Notification,
    ) -> Result<Notification, StoreError> {
        self.create_screened_notification(notification, &NotificationScreening::default())
    }

    /// Stores a new notification as [`Store::create_notification`] does, then lets the owner's
    /// standing grants and policy answer it in the same transaction: the first live grant of
    /// the service for one of `screening.answerable` that covers `screening.arguments` is used
    /// (a single-use one by compare-and-set, so concurrent requests cannot both use it) and
    /// answers with its action (`grant:<id>`); otherwise the screening's rule may answer
    /// (`policy:<id>`) or invalidate it. An automatic answer emits `notification.responded`
    /// with `auto_approved` and `decided_by`; who decided is recorded either way.
    pub fn create_screened_notification(
        &self,
        notification: &Notification,
        screening: &NotificationScreening,
    ) -> Result<Notification, StoreError> {
        let now = Timestamp::now().as_millis();
        self.write_changes(|conn, outbox| {
            create_screened(conn, outbox, notification, screening, now)
        })
    }

    /// Group commit of [`Store::create_screened_notification`]: stores `items` in one write
    /// transaction, each in its own savepoint, so one that is refused (a taken id, a pending
    /// cap, a store error inside its savepoint) is rolled back alone and the others commit
    /// with the same rows, changes, events and deliveries as one by one. The results are in
    /// the order of `items`, each made with its own client address (for the audit log).
    /// The outer `Err` means nothing was stored (the transaction as a whole failed).
    ///
    /// Items are written in namespace order: a pending cap locks its namespace's account row,
    /// and two groups that lock the same rows in the same order cannot deadlock on them. (Two
    /// groups of one namespace that use single-use grants in opposite orders still can, across
    /// replicas; PostgreSQL then aborts one, whose caller writes its items again one by one.)
    pub fn create_screened_notifications(
        &self,
        items: &[ScreenedNotification],
    ) -> Result<Vec<Result<Notification, StoreError>>, StoreError> {
        let now = Timestamp::now().as_millis();
        let mut order: Vec<usize> = (0..items.len()).collect();
        order.sort_by(|&a, &b| {
            items[a]
                .notification
                .namespace
                .cmp(&items[b].notification.namespace)
        });
        self.write_changes(|conn, outbox| {
            let mut results: Vec<Option<Result<Notification, StoreError>>> =
                items.iter().map(|_| None).collect();
            for &i in &order {
                let item = &items[i];
                let result = crate::audit::with_client_addr(item.client_addr, || {
                    // The savepoint runs again, not the batch: one item broken by a
                    // concurrent commit must not undo the others.
                    crate::db::run_again_if_broken(|| {
                        conn.transaction(|conn| {
                            create_screened(conn, outbox, &item.notification, &item.screening, now)
                        })
                    })
                });
                results[i] = Some(result);
            }
            Ok::<_, StoreError>(results.into_iter().flatten().collect())
        })
    }

    /// A notification as `party` may see it: `NotFound`, `NotOwner`, or the row (a pending one
    /// past its deadline is expired on the way, so no read shows a stale pending state).
    pub fn get_notification(
        &self,
        party: Party<'_>,
        id: &str,
    ) -> Result<Notification, TransitionError> {
        let now = Timestamp::now().as_millis();
        let row = self
            .read(|conn| find(conn, id))?
            .ok_or(TransitionError::NotFound)?;
        if !party.owns(&row) {
            return Err(TransitionError::NotOwner);
        }
        if row.status().is_pending() && row.is_past_deadline(now) {
            let expired = self.write_changes(|conn, outbox| match find(conn, id)? {
                Some(row) => expire_if_due(conn, outbox, row, now),
                None => Err(StoreError::NotFound),
            })?;
            return Ok(expired.into());
        }
        Ok(row.into())
    }

    /// Moves a notification to `to` if, and only if, it is in a state that move starts from
    /// and (except for expiry) its deadline has not passed: of concurrent movers exactly one
    /// wins; the others get `Conflict`. `reason` is kept for an invalidation; `response` is
    /// required for `Responded` and emits `notification.responded`.
    pub fn move_notification(
        &self,
        party: Party<'_>,
        id: &str,
        to: NotificationStatus,
        reason: Option<&str>,
        response: Option<&Response>,
    ) -> Result<Notification, TransitionError> {
        let now = Timestamp::now().as_millis();
        // The outer result commits (an expiry found on the way is kept); the inner one is
        // the caller's answer.
        self.write_changes(|conn, outbox| {
            move_one(conn, outbox, party, id, to, reason, response, now)
        })
        .map_err(TransitionError::Store)?
    }

    /// Records owners' answers together, as [`Store::move_notification`] to `Responded` does
    /// each, in one transaction with a savepoint per answer (group commit): each gets its own
    /// outcome, in the order given. Answers are written in notification id order, the order
    /// every transaction that moves several notifications locks them in.
    pub fn respond_notifications(
        &self,
        answers: &[Answer],
    ) -> Result<Vec<Result<Notification, TransitionError>>, StoreError> {
        let now = Timestamp::now().as_millis();
        let mut order: Vec<usize> = (0..answers.len()).collect();
        order.sort_by(|&a, &b| answers[a].notification_id.cmp(&answers[b].notification_id));
        self.write_changes(|conn, outbox| {
            let mut results: Vec<Option<Result<Notification, TransitionError>>> =
                answers.iter().map(|_| None).collect();
            for &i in &order {
                let answer = &answers[i];
                let result = crate::audit::with_client_addr(answer.client_addr, || {
                    crate::db::run_again_if_broken(|| {
                        conn.transaction(|conn| {
                            move_one(
                                conn,
                                outbox,
                                Party::Namespace(&answer.namespace),
                                &answer.notification_id,
                                NotificationStatus::Responded,
                                None,
                                Some(&answer.response),
                                now,
                            )
                        })
                    })
                });
                results[i] = Some(result.unwrap_or_else(|e| Err(TransitionError::Store(e))));
            }
            Ok::<_, StoreError>(results.into_iter().flatten().collect())
        })
    }

    /// Marks `created` notifications as `delivered` (a client of their user received them),
    /// each with its status update. Returns those moved; others are left as they are.
    pub fn mark_delivered(&self, ids: &[String]) -> Result<Vec<Notification>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let now = Timestamp::now().as_millis();
        self.write_changes(|conn, outbox| {
            let rows: Vec<NotificationRow> = notifications::table
                .filter(notifications::id.eq_any(ids))
                .filter(notifications::status.eq(NotificationStatus::Created.as_str()))
                // In id order, as every transaction that moves several does: two of them lock
                // their rows in the same order and cannot deadlock.
                .order(notifications::id.asc())
                .select(NotificationRow::as_select())
                .load(conn)?;
            let mut moved = Vec::with_capacity(rows.len());
            for row in rows {
                if row.is_past_deadline(now) {
                    continue;
                }
                let delivered = transition(
                    conn,
                    outbox,
                    row,
                    NotificationStatus::Delivered,
                    None,
                    None,
                    now,
                )?;
                moved.extend(delivered.map(Notification::from));
            }
            Ok(moved)
        })
    }

    /// One page of a namespace's notifications and how many match in all. Due ones are
    /// expired first, so `pending` means pending and not past its deadline.
    pub fn list_notifications(
        &self,
        namespace: &str,
        query: &NotificationQuery,
    ) -> Result<(Vec<Notification>, i64), StoreError> {
        self.expire_due_notifications_of(Some(namespace), Timestamp::now(), 1000)?;
        self.read(|conn| {
            let filtered = || {
                let mut q = notifications::table
                    .filter(notifications::namespace.eq(namespace))
                    .into_boxed();
                if !query.statuses.is_empty() {
                    let names: Vec<&str> = query.statuses.iter().map(|s| s.as_str()).collect();
                    q = q.filter(notifications::status.eq_any(names));
                }
                if let Some(service) = &query.service {
                    q = q.filter(notifications::service_slug.eq(service.clone()));
                }
                if let Some(project) = &query.project {
                    q = q.filter(notifications::project.eq(project.clone()));
                }
                q
            };
            let total: i64 = filtered().count().get_result(conn)?;
            let mut page = filtered();
            if let Some((at, id)) = &query.after {
                page = if query.oldest_first {
                    page.filter(
                        notifications::created_at
                            .gt(*at)
                            .or(notifications::created_at
                                .eq(*at)
                                .and(notifications::id.gt(id.clone()))),
                    )
                } else {
                    page.filter(
                        notifications::created_at
                            .lt(*at)
                            .or(notifications::created_at
                                .eq(*at)
                                .and(notifications::id.lt(id.clone()))),
                    )
                };
            }
            page = if query.oldest_first {
                page.order((notifications::created_at.asc(), notifications::id.asc()))
            } else {
                page.order((notifications::created_at.desc(), notifications::id.desc()))
            };
            let rows = page
                .limit(query.limit)
                .select(NotificationRow::as_select())
                .load::<NotificationRow>(conn)?;
            Ok((rows.into_iter().map(Notification::from).collect(), total))
        })
    }

    /// A namespace's notifications that await a response, oldest first: what a client that
    /// connects is sent first.
    pub fn pending_notifications(
        &self,
        namespace: &str,
        limit: i64,
    ) -> Result<Vec<Notification>, StoreError> {
        let query = NotificationQuery {
            statuses: NotificationStatus::PENDING.to_vec(),
            oldest_first: true,
            limit,
            ..NotificationQuery::default()
        };
        Ok(self.list_notifications(namespace, &query)?.0)
    }

    /// Expires up to `limit` pending notifications past their deadline, each with its status
    /// update. Returns how many. Run periodically by the server, and before listings.
    pub fn expire_due_notifications(
        &self,
        now: Timestamp,
        limit: i64,
    ) -> Result<usize, StoreError> {
        self.expire_due_notifications_of(None, now, limit)
    }

    fn expire_due_notifications_of(
        &self,
        namespace: Option<&str>,
        now: Timestamp,
        limit: i64,
    ) -> Result<usize, StoreError> {
        let now = now.as_millis();
        let due = |conn: &mut AnyConnection| -> Result<Vec<NotificationRow>, StoreError> {
            let pending: Vec<&str> = NotificationStatus::PENDING
                .iter()
                .map(|s| s.as_str())
                .collect();
            let mut q = notifications::table
                .filter(notifications::status.eq_any(pending))
                .filter(notifications::deadline.le(now))
                .into_boxed();
            if let Some(namespace) = namespace {
                q = q.filter(notifications::namespace.eq(namespace));
            }
            // In id order, so concurrent sweeps lock rows in one order (see mark_delivered).
            Ok(q.order(notifications::id.asc())
                .limit(limit)
                .select(NotificationRow::as_select())
                .load(conn)?)
        };
        // A read first: the common case has nothing due and takes no write lock.
        if self.read(due)?.is_empty() {
            return Ok(0);
        }
        self.write_changes(|conn, outbox| {
            let rows = due(conn)?;
            let count = rows.len();
            for row in rows {
                expire_if_due(conn, outbox, row, now)?;
            }
            Ok(count)
        })
    }
}

/// The notification with this id; a UUID is matched in any letter case, as it is stored
/// lowercased.
/// [`Store::move_notification`] inside a write transaction: the outer error fails the
/// transaction, the inner one is the caller's answer (and commits an expiry found on the way).
#[expect(
    clippy::too_many_arguments,
    reason = "the move's own arguments, and the transaction's two"
)]
fn move_one(
    conn: &mut AnyConnection,
    outbox: &mut Outbox,
    party: Party<'_>,
    id: &str,
    to: NotificationStatus,
    reason: Option<&str>,
    response: Option<&Response>,
    now: i64,
) -> Result<Result<Notification, TransitionError>, StoreError> {
    let Some(row) = find(conn, id)? else {
        return Ok(Err(TransitionError::NotFound));
    };
    if !party.owns(&row) {
        return Ok(Err(TransitionError::NotOwner));
    }
    let row = expire_if_due(conn, outbox, row, now)?;
    if !to.reachable_from().contains(&row.status()) {
        return Ok(Err(TransitionError::Conflict(Box::new(row.into()))));
    }
    let id = row.id.clone();
    Ok(
        match transition(conn, outbox, row, to, reason, response, now)? {
            Some(moved) => Ok(moved.into()),
            None => Err(match find(conn, &id)? {
                Some(current) => TransitionError::Conflict(Box::new(current.into())),
                None => TransitionError::NotFound,
            }),
        },
    )
}

fn find(conn: &mut AnyConnection, id: &str) -> Result<Option<NotificationRow>, StoreError> {
    let id = parse_uuid(id).unwrap_or_else(|| id.to_owned());
    Ok(notifications::table
        .find(id)
        .select(NotificationRow::as_select())
        .first(conn)
        .optional()?)
}

/// Expires `row` when it is pending and past its deadline; returns it as it then stands.
fn expire_if_due(
    conn: &mut AnyConnection,
    outbox: &mut Outbox,
    row: NotificationRow,
    now: i64,
) -> Result<NotificationRow, StoreError> {
    if !(row.status().is_pending() && row.is_past_deadline(now)) {
        return Ok(row);
    }
    let id = row.id.clone();
    match transition(
        conn,
        outbox,
        row,
        NotificationStatus::Expired,
        None,
        None,
        now,
    )? {
        Some(expired) => Ok(expired),
        // Another transaction moved it first: report it as it now stands.
        None => find(conn, &id)?.ok_or(StoreError::NotFound),
    }
}

/// Stores a new notification and lets the owner's grants and policy answer it, in the
/// caller's transaction (see [`Store::create_screened_notification`]).
fn create_screened(
    conn: &mut AnyConnection,
    outbox: &mut Outbox,
    notification: &Notification,
    screening: &NotificationScreening,
    now: i64,
) -> Result<Notification, StoreError> {
    let row = NotificationRow::of(notification);
    diesel::insert_into(notifications::table)
        .values(&row)
        .execute(conn)
        .map_err(|e| {
            if is_unique_violation(&e) {
                StoreError::Conflict("notification")
            } else {
                StoreError::Database(e)
            }
        })?;
    changes::record(
        conn,
        outbox,
        &row.namespace,
        &row.id,
        ChangeKind::Notification,
        &notification.to_json(),
    )?;
    let at = Timestamp::from_millis(now);
    for action in &screening.answerable {
        for grant in crate::policies::live_grants(conn, &row.service_id, action, now)? {
            if grant.covers(&row.service_id, action, &screening.arguments, at)
                && crate::policies::use_grant(conn, &grant, now)?
            {
                let by = format!("grant:{}", grant.id);
                return answer_automatically(conn, outbox, row, action, &by, now);
            }
        }
    }
    let Some((rule, effect, action)) = &screening.rule else {
        within_pending_caps(conn, &row, screening.caps)?;
        tell_owner(conn, outbox, &row)?;
        return Ok(row.into());
    };
    crate::policies::count_match(conn, &row.namespace, rule, now)?;
    let by = format!("policy:{rule}");
    match (effect, action) {
        (Effect::AutoApprove, Some(action)) if screening.answerable.contains(action) => {
            answer_automatically(conn, outbox, row, action, &by, now)
        }
        (Effect::AutoReject, _) => {
            let reason = format!("Rejected by the owner's policy ({by}).");
            crate::claims::record_decider(conn, &row.namespace, &row.id, &by, now)?;
            let id = row.id.clone();
            transition(
                conn,
                outbox,
                row,
                NotificationStatus::Invalidated,
                Some(&reason),
                None,
                now,
            )?
            .map(Notification::from)
            // Created in this transaction: nothing else can have moved it.
            .ok_or_else(|| StoreError::Corrupt(format!("notification {id} moved")))
        }
        _ => {
            within_pending_caps(conn, &row, screening.caps)?;
            tell_owner(conn, outbox, &row)?;
            Ok(row.into())
        }
    }
}

/// Refuses `row`, a notification about to stay pending, if the owner's pending notifications
/// (this one excluded) already reach a cap. The namespace's account row is locked first (as
/// for claims, `crate::claims`), so concurrent creates count one at a time and a cap is exact;
/// the refusal rolls the whole creation back.
fn within_pending_caps(
    conn: &mut AnyConnection,
    row: &NotificationRow,
    caps: crate::PendingCaps,
) -> Result<(), StoreError> {
    if !caps.is_set() {
        return Ok(());
    }
    crate::db::lock_quota_owner(conn, crate::Quota::Services, &row.namespace)?;
    let pending = |conn: &mut AnyConnection, service: Option<&str>| {
        let mut query = notifications::table
            .filter(notifications::namespace.eq(&row.namespace))
            .filter(notifications::status.eq_any(NotificationStatus::PENDING.map(|s| s.as_str())))
            .filter(notifications::id.ne(&row.id))
            .into_boxed();
        if let Some(service) = service {
            query = query.filter(notifications::service_id.eq(service));
        }
        query.count().get_result::<i64>(conn)
    };
    let limits = [
        (caps.namespace, None, "limit:max_pending"),
        (
            caps.per_service,
            Some(row.service_id.as_str()),
            "limit:max_pending_per_service",
        ),
    ];
    for (cap, service, by) in limits {
        if let Some(cap) = cap
            && pending(conn, service)? >= i64::from(cap)
        {
            return Err(StoreError::PendingLimit(by));
        }
    }
    Ok(())
}

/// Writes a move the caller has checked, guarded by the states it starts from, with its
/// change and, for a response, its event. `None` when a concurrent transaction moved the
/// notification first (possible on PostgreSQL between the caller's read and this update).
/// Answers a just-created notification with `action` on the owner's behalf (`by`:
/// `grant:<id>` or `policy:<id>`): the `notification.responded` payload says so
/// (`auto_approved`, `decided_by`, a responder of type `policy`).
fn answer_automatically(
    conn: &mut AnyConnection,
    outbox: &mut Outbox,
    row: NotificationRow,
    action: &str,
    by: &str,
    now: i64,
) -> Result<Notification, StoreError> {
    let mut payload = responded_payload(
        &row.id,
        action,
        &Value::Null,
        Timestamp::from_millis(now),
        by,
    );
    payload["responder"]["type"] = "policy".into();
    payload["auto_approved"] = true.into();
    payload["decided_by"] = by.into();
    if let Some(rule) = by.strip_prefix("policy:") {
        payload["rule"] = rule.into();
    }
    let payload = payload.to_string();
    diesel::update(notifications::table.filter(notifications::id.eq(&row.id)))
        .set((
            notifications::status.eq(NotificationStatus::Responded.as_str()),
            notifications::updated_at.eq(now),
            notifications::response.eq(Some(&payload)),
        ))
        .execute(conn)?;
    let moved = NotificationRow {
        status: NotificationStatus::Responded.as_str().to_owned(),
        updated_at: now,
        response: Some(payload.clone()),
        ..row
    };
    changes::record(
        conn,
        outbox,
        &moved.namespace,
        &moved.id,
        ChangeKind::StatusUpdate,
        &status_update(
            &moved.id,
            NotificationStatus::Responded,
            Timestamp::from_millis(now),
            None,
        ),
    )?;
    let event = NewEvent {
        id: assent_auth::random::Id::Event.mint(),
        service_id: moved.service_id.clone(),
        namespace: moved.namespace.clone(),
        event_type: EventType::NotificationResponded,
        payload,
    };
    outbox.emit(conn, &event, None)?;
    crate::claims::record_decider(conn, &moved.namespace, &moved.id, by, now)?;
    crate::audit::record(
        conn,
        crate::audit::AuditEntry {
            namespace: &moved.namespace,
            actor: &crate::audit::Actor::Automatic(by.to_owned()),
            action: "notification.responded",
            target_id: &moved.id,
            details: json!({ "service": moved.service_slug, "action_id": action, "decided_by": by }),
        },
    )?;
    Ok(moved.into())
}

fn transition(
    conn: &mut AnyConnection,
    outbox: &mut Outbox,
    row: NotificationRow,
    to: NotificationStatus,
    reason: Option<&str>,
    response: Option<&Response>,
    now: i64,
) -> Result<Option<NotificationRow>, StoreError> {
    let from: Vec<&str> = to.reachable_from().iter().map(|s| s.as_str()).collect();
    // What the service's callback receives, and what reads show as `response`.
    let response = response.map(|r| {
        responded_payload(
            &row.id,
            &r.action_id,
            &r.data,
            Timestamp::from_millis(now),
            &r.responder_id,
        )
        .to_string()
    });
    let changed = diesel::update(
        notifications::table
            .filter(notifications::id.eq(&row.id))
            .filter(notifications::status.eq_any(from)),
    )
    .set((
        notifications::status.eq(to.as_str()),
        notifications::updated_at.eq(now),
        notifications::status_reason.eq(reason.or(row.status_reason.as_deref())),
        notifications::response.eq(response.as_deref().or(row.response.as_deref())),
    ))
    .execute(conn)?;
    if changed == 0 {
        return Ok(None);
    }
    let moved = NotificationRow {
        status: to.as_str().to_owned(),
        updated_at: now,
        status_reason: reason.map(str::to_owned).or(row.status_reason.clone()),
        response: response.clone().or(row.response.clone()),
        ..row
    };
    changes::record(
        conn,
        outbox,
        &moved.namespace,
        &moved.id,
        ChangeKind::StatusUpdate,
        &status_update(
            &moved.id,
            to,
            Timestamp::from_millis(now),
            moved.status_reason.as_deref(),
        ),
    )?;
    if let Some(payload) = response {
        let event = NewEvent {
            id: assent_auth::random::Id::Event.mint(),
            service_id: moved.service_id.clone(),
            namespace: moved.namespace.clone(),
            event_type: EventType::NotificationResponded,
            payload,
        };
        outbox.emit(conn, &event, None)?;
    }
    Ok(Some(moved))
}
