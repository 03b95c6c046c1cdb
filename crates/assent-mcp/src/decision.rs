//! A decision as an agent sees it, read from its notification, and the wait for it.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use assent_app::notifications::{self, Sender};
use assent_core::Timestamp;
use assent_core::notification::{Notification, NotificationStatus};
use serde_json::{Map, Value, json};
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::protocol::Mcp;

/// Where a waiting call learns that a notification's status changed: the change feed that
/// also drives the SSE and WebSocket streams, so one task per process reads the change log
/// for every waiter, and a decision made on another replica arrives with that feed's poll.
pub trait Watch: Send + Sync + std::fmt::Debug {
    /// The status changes of `namespace`'s notifications from now on.
    fn status_updates(&self, namespace: &str) -> Box<dyn Updates>;
}

/// One waiter's stream of status changes; unsubscribes when dropped.
pub trait Updates: Send {
    /// The id of the next notification whose status changed, or `None` once the feed has
    /// closed (the server is stopping).
    fn next(&mut self) -> Pin<Box<dyn Future<Output = Option<String>> + Send + '_>>;
}

/// Which tool made a notification, as its metadata records.
pub(crate) const TOOL_KEY: &str = "mcp_tool";

/// The `Decision` every tool returns, from the notification as it stands.
pub(crate) fn decision(row: &Notification) -> Value {
    let metadata = row
        .context
        .get("metadata")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let kind = if metadata.get(TOOL_KEY).and_then(Value::as_str) == Some("ask_human") {
        "question"
    } else {
        "approval"
    };
    let response = row.response.as_ref();
    let action_id = response
        .and_then(|r| r.get("action_id"))
        .and_then(Value::as_str);
    let data = response.and_then(|r| r.get("response_data")).cloned();
    let (status, comment) = match row.status {
        NotificationStatus::Responded | NotificationStatus::Completed => match (kind, action_id) {
            ("question", _) => ("answered", None),
            (_, Some("approve")) => ("approved", None),
            // permission_prompt only: allowed with the input the owner wrote, which is not the
            // action the digest names.
            (_, Some(crate::tools::EDIT_ACTION)) => (
                "approved",
                Some(format!(
                    "Allowed with edited input: {}",
                    data.as_ref().and_then(Value::as_str).unwrap_or_default()
                )),
            ),
            _ => ("rejected", None),
        },
        NotificationStatus::Expired => (
            "expired",
            Some("Nobody decided before the deadline; this is not an approval.".to_owned()),
        ),
        NotificationStatus::Invalidated => (
            "rejected",
            Some(match &row.status_reason {
                Some(reason) => format!("Withdrawn by the service: {reason}"),
                None => "Withdrawn by the service.".to_owned(),
            }),
        ),
        NotificationStatus::Created
        | NotificationStatus::Delivered
        | NotificationStatus::Acknowledged => ("pending", None),
    };
    let decided_at = match row.status {
        NotificationStatus::Responded | NotificationStatus::Completed => response
            .and_then(|r| r.get("responded_at"))
            .cloned()
            .unwrap_or_else(|| json!(row.updated_at)),
        NotificationStatus::Expired | NotificationStatus::Invalidated => json!(row.updated_at),
        _ => Value::Null,
    };
    let decided_by = response
        .and_then(|r| r.pointer("/responder/id"))
        .cloned()
        .unwrap_or(Value::Null);
    let mut out = Map::new();
    out.insert("status".into(), status.into());
    out.insert("decision_id".into(), row.id.clone().into());
    out.insert("kind".into(), kind.into());
    out.insert("decided_by".into(), decided_by);
    out.insert("decided_at".into(), decided_at);
    out.insert("comment".into(), comment.map_or(Value::Null, Value::from));
    out.insert(
        "expires_at".into(),
        row.deadline.map_or(Value::Null, |d| json!(d)),
    );
    if kind == "approval" {
        let action = json!({
            "name": metadata.get("action").cloned().unwrap_or(Value::Null),
            "args": metadata
                .get("arguments")
                .and_then(Value::as_str)
                .and_then(|text| serde_json::from_str::<Value>(text).ok())
                .unwrap_or(Value::Null),
        });
        out.insert("action".into(), action);
        out.insert(
            "action_digest".into(),
            metadata
                .get("action_digest")
                .cloned()
                .unwrap_or(Value::Null),
        );
    } else {
        let answer = if status == "answered" { data } else { None };
        out.insert("answer".into(), answer.unwrap_or(Value::Null));
    }
    Value::Object(out)
}

/// Where progress notifications of one call go.
pub(crate) struct Progress<'a> {
    pub token: Option<Value>,
    pub out: &'a mpsc::Sender<Value>,
    pub message: String,
}

impl Progress<'_> {
    fn send(&self, elapsed: Duration, total: Duration) {
        if let Some(token) = &self.token {
            let notification = json!({
                "jsonrpc": "2.0",
                "method": "notifications/progress",
                "params": {
                    "progressToken": token,
                    "progress": elapsed.as_secs(),
                    "total": total.as_secs(),
                    "message": self.message,
                },
            });
            // A full queue (a slow client) skips one progress tick; the next one follows.
            let _ = self.out.try_send(notification);
        }
    }
}

impl Mcp {
    /// The caller's notification `id`, once it is no longer pending or after `wait`, whichever
    /// comes first. Wakes on the change feed (no polling of the database per waiter); ends
    /// early when the client went away or the server is stopping.
    pub(crate) async fn wait(
        &self,
        caller: &Sender,
        id: &str,
        wait: Duration,
        progress: &Progress<'_>,
    ) -> Result<Notification, assent_app::Error> {
        // Subscribed before the first read, so a decision between the read and the wait is
        // not missed.
        let mut updates = self.watch.status_updates(&caller.namespace);
        let start = Instant::now();
        let end = start + wait;
        let mut ticks = tokio::time::interval_at(
            start + self.options.progress_every,
            self.options.progress_every,
        );
        progress.send(Duration::ZERO, wait);
        loop {
            let row =
                notifications::get_for_service(&self.app, caller.service_id.clone(), id.to_owned())
                    .await?;
            if !row.status.is_pending() || Instant::now() >= end {
                return Ok(row);
            }
            // A deadline inside the wait: read again just after it, which expires it.
            let wake_at = row
                .deadline
                .map(|deadline| {
                    let left = deadline.as_millis() - Timestamp::now().as_millis();
                    Instant::now() + Duration::from_millis(u64::try_from(left).unwrap_or(0) + 20)
                })
                .map_or(end, |at| at.min(end));
            loop {
                tokio::select! {
                    changed = updates.next() => match changed {
                        Some(subject) if subject == id => break,
                        Some(_) => {}
                        None => return Ok(row),
                    },
                    () = tokio::time::sleep_until(wake_at) => break,
                    _ = ticks.tick() => progress.send(start.elapsed(), wait),
                    () = progress.out.closed() => return Ok(row),
                }
            }
        }
    }
}
