//! The ATP client streams: Server-Sent Events at `/api/v1/client/events` and WebSocket at
//! `/api/v1/client/stream`. Both open with the notifications awaiting an answer (or, for an
//! SSE client that resumes, the changes it missed), then carry every change of the user's
//! namespace as it commits on any replica, with heartbeats in between.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Instant;

use actix_web::http::header::{CACHE_CONTROL, HeaderValue};
use actix_web::web::Bytes;
use actix_web::{HttpRequest, HttpResponse, web};
use actix_ws::{AggregatedMessage, CloseCode, CloseReason, Session};
use assent_app::notifications;
use assent_core::Timestamp;
use assent_core::notification::NotificationStatus;
use assent_store::{Change, ChangeKind, Store, StoreError};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::mpsc;
use utoipa::IntoParams;

use crate::auth::{StreamOwner, StreamUser};
use crate::error::AtpError;
use crate::error::{ApiError, code};
use crate::feed::Subscription;
use crate::rate_limit::ConnectionPermit;
use crate::state::AppState;

/// Largest WebSocket message a client may send (ATP: 1 MB).
const MAX_MESSAGE_BYTES: usize = 1024 * 1024;
/// Most changes a resuming client is replayed; past that it gets the current state instead.
const RESUME_LIMIT: i64 = 10_000;
/// Most pending notifications a connecting client is sent first.
const OPENING_LIMIT: i64 = 1_000;

/// What a connection sends first.
struct Opening {
    /// `(event id, kind, payload)` in order.
    frames: Vec<(i64, ChangeKind, Value)>,
    /// Live changes numbered up to here are already covered.
    covered: i64,
}

/// The opening of a connection of `namespace` that saw changes up to `resume` (if it says):
/// the changes since then when they are all still kept, else every notification awaiting an
/// answer, each under the newest change number. New notifications it `shows` are now
/// delivered. Call after subscribing, so nothing committed in between is lost.
fn opening(
    store: &Store,
    namespace: &str,
    resume: Option<i64>,
    shows: bool,
) -> Result<Opening, StoreError> {
    let latest = store.latest_change()?;
    if let Some(last) = resume {
        let complete = store
            .oldest_change()?
            .is_none_or(|oldest| last >= oldest - 1);
        if complete {
            let changes = store.changes_after(Some(namespace), last, RESUME_LIMIT)?;
            if i64::try_from(changes.len()).unwrap_or(i64::MAX) < RESUME_LIMIT {
                let covered = changes.last().map_or(last.min(latest), |c| c.seq);
                let mut frames = Vec::with_capacity(changes.len());
                let mut new = Vec::new();
                for change in changes {
                    if change.kind == ChangeKind::Notification {
                        new.push(change.subject_id.clone());
                    }
                    frames.push((change.seq, change.kind, change.payload));
                }
                if shows {
                    store.mark_delivered(&new)?;
                }
                return Ok(Opening { frames, covered });
            }
        }
    }
    let pending = store.pending_notifications(namespace, OPENING_LIMIT)?;
    let created: Vec<String> = pending
        .iter()
        .filter(|n| n.status == NotificationStatus::Created)
        .map(|n| n.id.clone())
        .collect();
    let frames = pending
        .iter()
        .map(|n| (latest, ChangeKind::Notification, n.to_json()))
        .collect();
    if shows {
        store.mark_delivered(&created)?;
    }
    Ok(Opening {
        frames,
        covered: latest,
    })
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EventsQuery {
    /// The id of the last event received; the `Last-Event-ID` header takes precedence.
    pub last_event_id: Option<String>,
    /// Event types to receive, comma-separated: `notification`, `status_update` (default both).
    pub types: Option<String>,
    /// The client's own correlation id (logged).
    pub client_id: Option<String>,
    /// Protocol version; `1.0` is the only one.
    pub version: Option<String>,
}

fn invalid(field: &str, message: &str) -> ApiError {
    ApiError::bad_request(code::INVALID_PARAMETER, message).with_detail("field", field)
}

fn parse_resume(req: &HttpRequest, query: &EventsQuery) -> Result<Option<i64>, ApiError> {
    let header = req
        .headers()
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    header
        .or_else(|| query.last_event_id.clone())
        .filter(|id| !id.trim().is_empty())
        .map(|id| {
            id.trim()
                .parse::<i64>()
                .ok()
                .filter(|n| *n >= 0)
                .ok_or_else(|| {
                    invalid(
                        "last_event_id",
                        "The last event id is not one this server sent.",
                    )
                })
        })
        .transpose()
}

fn parse_types(text: Option<&str>) -> Result<Vec<ChangeKind>, ApiError> {
    let Some(text) = text.filter(|t| !t.trim().is_empty()) else {
        return Ok(ChangeKind::ATP.to_vec());
    };
    text.split(',')
        .map(|name| {
            let kind = ChangeKind::parse(name.trim()).filter(|k| ChangeKind::ATP.contains(k));
            kind.ok_or_else(|| {
                invalid(
                    "types",
                    "The types must be `notification`, `status_update` or both, comma-separated.",
                )
            })
        })
        .collect()
}

fn check_version(version: Option<&str>) -> Result<(), ApiError> {
    match version {
        None | Some("1" | "1.0" | "v1") => Ok(()),
        Some(_) => Err(invalid("version", "The only protocol version is 1.0.")),
    }
}

fn sse_event(id: Option<i64>, event: &str, data: &Value) -> Bytes {
    let id = id.map(|id| format!("id: {id}\n")).unwrap_or_default();
    Bytes::from(format!("{id}event: {event}\ndata: {data}\n\n"))
}

fn heartbeat() -> Value {
    json!({ "timestamp": Timestamp::now() })
}

/// Server-Sent Events: `notification` and `status_update` events with ids (resume with
/// `Last-Event-ID`), and a `heartbeat` event between them.
#[utoipa::path(get, path = "/api/v1/client/events", operation_id = "streamClientEvents", tag = "ATP client",
    params(EventsQuery),
    security(("userToken" = []), ("sessionCookie" = []), ("streamToken" = [])),
    responses(
        (status = 200, description = "`text/event-stream`: `notification` (the notification \
            object), `status_update` (`{notification_id, status, updated_at, reason?}`) and \
            `heartbeat` (`{timestamp}`) events", content_type = "text/event-stream"),
        (status = 400, description = "`INVALID_PARAMETER`", body = AtpError),
        (status = 401, description = "`AUTH_INVALID_TOKEN`", body = AtpError),
        (status = 403, description = "`AUTH_INSUFFICIENT_PERMISSIONS`; `CSRF_REJECTED` for a \
            session cookie from a page of another origin", body = AtpError),
        (status = 429, description = "`RATE_LIMIT_EXCEEDED`: 10 open streams per user", body = AtpError),
    ))]
pub async fn events(
    req: HttpRequest,
    user: StreamUser,
    state: web::Data<AppState>,
    query: web::Query<EventsQuery>,
) -> Result<HttpResponse, ApiError> {
    let user = user.0;
    let resume = parse_resume(&req, &query)?;
    let types = parse_types(query.types.as_deref())?;
    check_version(query.version.as_deref())?;
    let permit = state
        .event_streams
        .acquire(
            &user.account.id,
            state.settings.rate.sse_per_user,
            state.settings.rate_limits,
        )
        .await?;
    let namespace = user.namespace().to_owned();
    let shows = types.contains(&ChangeKind::Notification);
    let subscription = state.feed.subscribe(&namespace, &types, shows);
    let opening = state
        .app
        .run(move |store| opening(store, &namespace, resume, shows))
        .await?;
    tracing::debug!(client_id = ?query.client_id, "event stream opened");

    let frames = opening
        .frames
        .into_iter()
        .filter(|(_, kind, _)| types.contains(kind))
        .map(|(id, kind, payload)| sse_event(Some(id), kind.as_str(), &payload))
        .collect();
    Ok(sse_response(
        permit,
        subscription,
        opening.covered,
        frames,
        state.settings.stream_heartbeat,
        |change| {
            Some(sse_event(
                Some(change.seq),
                change.kind.as_str(),
                &change.payload,
            ))
        },
    ))
}

/// An event stream: `opening` first, then every live change numbered after `covered` that
/// `render` turns into an event, with heartbeats between. It ends when the client goes away
/// or the feed lets go of the subscription (the connection's place is given back then).
fn sse_response(
    permit: ConnectionPermit,
    mut subscription: Subscription,
    mut covered: i64,
    opening: Vec<Bytes>,
    heartbeat_every: std::time::Duration,
    render: impl Fn(&Change) -> Option<Bytes> + 'static,
) -> HttpResponse {
    let (sender, receiver) = mpsc::channel::<Bytes>(64);
    actix_web::rt::spawn(async move {
        let _permit = permit;
        // Tells EventSource how soon to reconnect after a drop.
        let retry = std::iter::once(Bytes::from_static(b"retry: 3000\n\n"));
        for frame in retry.chain(opening) {
            if sender.send(frame).await.is_err() {
                return;
            }
        }
        let mut tick = tokio::time::interval_at(
            tokio::time::Instant::now() + heartbeat_every,
            heartbeat_every,
        );
        loop {
            let frame = tokio::select! {
                change = subscription.changes.recv() => match change {
                    Some(change) if change.seq <= covered => continue,
                    Some(change) => {
                        covered = change.seq;
                        match render(&change) {
                            Some(frame) => frame,
                            None => continue,
                        }
                    }
                    // Dropped by the feed (stalled, or the server is stopping): end, and the
                    // client resumes.
                    None => return,
                },
                _ = tick.tick() => sse_event(None, "heartbeat", &heartbeat()),
                // The response was dropped (the client went away): free the place now.
                () = sender.closed() => return,
            };
            if sender.send(frame).await.is_err() {
                return;
            }
        }
    });
    let body = futures_util::stream::unfold(receiver, |mut receiver| async move {
        receiver
            .recv()
            .await
            .map(|bytes| (Ok::<_, Infallible>(bytes), receiver))
    });
    HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header((CACHE_CONTROL, HeaderValue::from_static("no-cache")))
        .insert_header(("X-Accel-Buffering", "no"))
        .streaming(body)
}

/// The dashboard's live updates (owner session; a session cookie must come from this
/// server's own pages): a `changed` event (`{kind, id}`) whenever
/// a notification or claim of the owner's namespace is created or changes in a way the inbox
/// shows, so the page can refresh its list. Counted against the same per-user limit as the
/// ATP event streams.
///
/// The stream itself delivers nothing (the page's own listing marks what it shows
/// delivered), and `delivered` and `acknowledged` are no change to the owner: all pending
/// states look the same in the inbox, so those updates would only refresh it again.
pub async fn dashboard_events(
    owner: StreamOwner,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let owner = owner.0;
    let permit = state
        .event_streams
        .acquire(
            &owner.account.id,
            state.settings.rate.sse_per_user,
            state.settings.rate_limits,
        )
        .await?;
    // Live changes only, from now: the page was rendered from the current state.
    let subscription = state
        .feed
        .subscribe(owner.namespace(), &ChangeKind::ALL, false);
    Ok(sse_response(
        permit,
        subscription,
        0,
        Vec::new(),
        state.settings.stream_heartbeat,
        |change| {
            let status = change
                .payload
                .get("status")
                .and_then(Value::as_str)
                .and_then(NotificationStatus::parse);
            if change.kind == ChangeKind::StatusUpdate
                && matches!(
                    status,
                    Some(NotificationStatus::Delivered | NotificationStatus::Acknowledged)
                )
            {
                return None;
            }
            let data = json!({ "kind": change.kind.as_str(), "id": change.subject_id });
            Some(sse_event(Some(change.seq), "changed", &data))
        },
    ))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StreamQuery {
    /// The client's own correlation id (logged).
    pub client_id: Option<String>,
    /// Protocol version; `1.0` is the only one.
    pub version: Option<String>,
}

/// WebSocket: `{type, data}` text frames. The server sends `notification`, `status_update`,
/// `heartbeat` (every 30 s) and `error`; the client may send `heartbeat_ack` and
/// `acknowledge` (`{"type":"acknowledge","notification_id":…}`). A connection that sends
/// nothing for 60 s is closed.
#[utoipa::path(get, path = "/api/v1/client/stream", operation_id = "openClientWebSocket", tag = "ATP client",
    params(StreamQuery),
    security(("userToken" = []), ("sessionCookie" = []), ("streamToken" = [])),
    responses(
        (status = 101, description = "Switching to the WebSocket protocol"),
        (status = 400, description = "`INVALID_PARAMETER`; not a WebSocket handshake", body = AtpError),
        (status = 401, description = "`AUTH_INVALID_TOKEN`", body = AtpError),
        (status = 403, description = "`AUTH_INSUFFICIENT_PERMISSIONS`; `CSRF_REJECTED` for a \
            session cookie from a page of another origin", body = AtpError),
        (status = 429, description = "`RATE_LIMIT_EXCEEDED`: 5 open WebSockets per user", body = AtpError),
    ))]
pub async fn stream(
    req: HttpRequest,
    body: web::Payload,
    user: StreamUser,
    state: web::Data<AppState>,
    query: web::Query<StreamQuery>,
) -> Result<HttpResponse, ApiError> {
    let user = user.0;
    check_version(query.version.as_deref())?;
    let permit = state
        .websockets
        .acquire(
            &user.account.id,
            state.settings.rate.websockets_per_user,
            state.settings.rate_limits,
        )
        .await?;
    let (response, session, messages) = actix_ws::handle(&req, body).map_err(|_| {
        ApiError::bad_request(
            code::INVALID_PARAMETER,
            "This endpoint speaks WebSocket: send an Upgrade handshake.",
        )
    })?;
    let namespace = user.namespace().to_owned();
    let subscription = state.feed.subscribe(&namespace, &ChangeKind::ATP, true);
    let opening_namespace = namespace.clone();
    let opening = state
        .app
        .run(move |store| opening(store, &opening_namespace, None, true))
        .await?;
    tracing::debug!(client_id = ?query.client_id, "websocket opened");
    let messages = messages
        .max_frame_size(MAX_MESSAGE_BYTES)
        .aggregate_continuations()
        .max_continuation_size(MAX_MESSAGE_BYTES);
    let connection = Connection {
        state: state.into_inner(),
        namespace,
        session,
    };
    actix_web::rt::spawn(async move {
        let _permit = permit;
        connection.run(opening, subscription, messages).await;
    });
    Ok(response)
}

struct Connection {
    state: Arc<AppState>,
    namespace: String,
    session: Session,
}

fn frame(kind: &str, data: &Value) -> String {
    json!({ "type": kind, "data": data }).to_string()
}

fn error_frame(error: &ApiError) -> String {
    frame("error", &error.to_body(crate::Dialect::Atp, ""))
}

impl Connection {
    async fn run(
        mut self,
        opening: Opening,
        mut subscription: Subscription,
        mut messages: actix_ws::AggregatedMessageStream,
    ) {
        for (_, kind, payload) in &opening.frames {
            if self
                .session
                .text(frame(kind.as_str(), payload))
                .await
                .is_err()
            {
                return;
            }
        }
        let heartbeat_every = self.state.settings.stream_heartbeat;
        let idle_timeout = self.state.settings.stream_idle_timeout;
        let mut covered = opening.covered;
        let mut last_heard = Instant::now();
        let mut tick = tokio::time::interval_at(
            tokio::time::Instant::now() + heartbeat_every,
            heartbeat_every,
        );
        // Idle checks run at least this often, whatever the heartbeat interval.
        let mut idle_check = tokio::time::interval(idle_timeout / 4);
        let reason = loop {
            let sent = tokio::select! {
                change = subscription.changes.recv() => match change {
                    Some(change) if change.seq <= covered => continue,
                    Some(change) => {
                        covered = change.seq;
                        self.session.text(frame(change.kind.as_str(), &change.payload)).await
                    }
                    // The feed let go of it: it fell behind, or the server is stopping.
                    None => break Some(close(CloseCode::Again, "reconnect")),
                },
                _ = tick.tick() => self.session.text(frame("heartbeat", &heartbeat())).await,
                _ = idle_check.tick() => {
                    if last_heard.elapsed() >= idle_timeout {
                        break Some(close(CloseCode::Policy, "idle timeout"));
                    }
                    continue;
                }
                message = messages.recv() => {
                    last_heard = Instant::now();
                    match message {
                        Some(Ok(AggregatedMessage::Text(text))) => {
                            let reply = self.handle(&text).await;
                            match reply {
                                Some(reply) => self.session.text(reply).await,
                                None => continue,
                            }
                        }
                        Some(Ok(AggregatedMessage::Binary(_))) => {
                            let error = ApiError::bad_request(
                                code::INVALID_PARAMETER,
                                "Messages are JSON text frames.",
                            );
                            self.session.text(error_frame(&error)).await
                        }
                        Some(Ok(AggregatedMessage::Ping(bytes))) => self.session.pong(&bytes).await,
                        Some(Ok(AggregatedMessage::Pong(_))) => continue,
                        Some(Ok(AggregatedMessage::Close(_))) | None => break None,
                        Some(Err(e)) => {
                            tracing::debug!(error = %e, "websocket protocol error");
                            break Some(close(CloseCode::Size, "message too large or malformed"));
                        }
                    }
                }
            };
            if sent.is_err() {
                return;
            }
        };
        let _ = self.session.close(reason).await;
    }

    /// Answers one client message; `None` when there is nothing to say.
    async fn handle(&self, text: &str) -> Option<String> {
        #[derive(Deserialize)]
        struct Message {
            #[serde(rename = "type")]
            kind: String,
            notification_id: Option<String>,
        }
        let message: Message = match serde_json::from_str(text) {
            Ok(message) => message,
            Err(_) => {
                return Some(error_frame(&ApiError::bad_request(
                    code::INVALID_JSON,
                    "A message is a JSON object with a `type`.",
                )));
            }
        };
        match message.kind.as_str() {
            "heartbeat_ack" | "heartbeat" => None,
            "acknowledge" | "ack" => {
                let Some(id) = message.notification_id else {
                    return Some(error_frame(
                        &ApiError::bad_request(
                            code::MISSING_REQUIRED_FIELD,
                            "The field `notification_id` is required.",
                        )
                        .with_detail("field", "notification_id"),
                    ));
                };
                // The status update reaches every connection through the feed.
                match notifications::acknowledge(&self.state.app, self.namespace.clone(), id).await
                {
                    Ok(_) => None,
                    Err(e) => Some(error_frame(&ApiError::from(e))),
                }
            }
            other => Some(error_frame(
                &ApiError::bad_request(
                    code::INVALID_PARAMETER,
                    format!(
                        "Unknown message type `{other}`: send `heartbeat_ack` or `acknowledge`; \
                         answer notifications with POST /api/v1/client/respond."
                    ),
                )
                .with_detail("field", "type"),
            )),
        }
    }
}

fn close(code: CloseCode, description: &str) -> CloseReason {
    CloseReason {
        code,
        description: Some(description.to_owned()),
    }
}
