//! The webhook receiver of the `deliveries` and `respond` scenarios: a minimal HTTP/1.1 server
//! on loopback that answers every request `200 OK` at once and records, per delivery, when it
//! first arrived. A delivery is named by its `X-Sigilum-Delivery-Id` (Sigilum format) or, for an
//! ATP webhook (`X-ATP-Request-ID`), by the `notification_id` in its body: a notification has
//! one `notification.responded`. It parses only what it needs (the request head and a
//! `Content-Length` body), keeps connections alive when the client wants to, and bounds
//! everything it reads. It does not check signatures.

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};

/// The header that names a delivery; the same on every retry of it.
pub const DELIVERY_ID_HEADER: &str = "x-sigilum-delivery-id";
/// The header that names a delivery in the ATP format, and so marks an ATP webhook.
pub const ATP_REQUEST_ID_HEADER: &str = "x-atp-request-id";
/// A request head larger than this is refused (the server's are well under 1 KiB).
pub const MAX_HEAD_BYTES: usize = 16 * 1024;
/// A body larger than this is refused (bench payloads are a few hundred bytes).
pub const MAX_BODY_BYTES: u64 = 1024 * 1024;
/// A connection idle this long (mid-request or between requests) is closed.
const IDLE_TIMEOUT: Duration = Duration::from_secs(30);
const OK_RESPONSE: &[u8] = b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n";
const BAD_REQUEST: &[u8] =
    b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\nconnection: close\r\n\r\n";

/// What the parser needs from a request head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    pub method: String,
    pub target: String,
    /// Bytes of the head, the blank line included: the body starts here.
    pub head_len: usize,
    pub content_length: u64,
    pub delivery_id: Option<String>,
    pub atp_request_id: Option<String>,
    /// The client asked to close after this request (or speaks HTTP/1.0 without keep-alive).
    pub close: bool,
}

/// Why a request head was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeadError {
    NotUtf8,
    BadRequestLine,
    UnsupportedVersion,
    BadHeaderLine,
    BadContentLength,
    /// Chunked or other transfer codings: the delivery client always sends a length.
    TransferEncoding,
    BodyTooLarge,
}

impl std::fmt::Display for HeadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::NotUtf8 => "the request head is not UTF-8",
            Self::BadRequestLine => "malformed request line",
            Self::UnsupportedVersion => "only HTTP/1.0 and HTTP/1.1 are supported",
            Self::BadHeaderLine => "malformed header line",
            Self::BadContentLength => "invalid or conflicting Content-Length",
            Self::TransferEncoding => "Transfer-Encoding is not supported",
            Self::BodyTooLarge => "the body is too large",
        })
    }
}

impl std::error::Error for HeadError {}

/// Parses the request head at the start of `buf`. `Ok(None)` means the head is not complete
/// yet (the caller bounds how long it waits and how much it buffers); bytes after the head
/// (the body, or a pipelined request) are left alone.
pub fn parse_head(buf: &[u8]) -> Result<Option<Head>, HeadError> {
    let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
        return Ok(None);
    };
    let head_len = end + 4;
    let text = std::str::from_utf8(&buf[..end]).map_err(|_| HeadError::NotUtf8)?;
    let mut lines = text.split("\r\n");
    let request_line = lines.next().unwrap_or_default();
    let mut parts = request_line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(HeadError::BadRequestLine);
    };
    if method.is_empty() || !method.bytes().all(|b| b.is_ascii_uppercase()) || target.is_empty() {
        return Err(HeadError::BadRequestLine);
    }
    let http10 = match version {
        "HTTP/1.1" => false,
        "HTTP/1.0" => true,
        _ => return Err(HeadError::UnsupportedVersion),
    };

    let mut content_length: Option<u64> = None;
    let mut delivery_id = None;
    let mut atp_request_id = None;
    let mut close = false;
    let mut keep_alive = false;
    for line in lines {
        let (name, value) = line.split_once(':').ok_or(HeadError::BadHeaderLine)?;
        // No whitespace is allowed between a field name and the colon (RFC 9112 §5.1).
        if name.is_empty() || name.bytes().any(|b| b.is_ascii_whitespace()) {
            return Err(HeadError::BadHeaderLine);
        }
        let value = value.trim_matches([' ', '\t']);
        if name.eq_ignore_ascii_case("content-length") {
            if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
                return Err(HeadError::BadContentLength);
            }
            let length: u64 = value.parse().map_err(|_| HeadError::BadContentLength)?;
            if content_length.is_some_and(|seen| seen != length) {
                return Err(HeadError::BadContentLength);
            }
            content_length = Some(length);
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            return Err(HeadError::TransferEncoding);
        } else if name.eq_ignore_ascii_case("connection") {
            for token in value.split(',').map(str::trim) {
                close |= token.eq_ignore_ascii_case("close");
                keep_alive |= token.eq_ignore_ascii_case("keep-alive");
            }
        } else if name.eq_ignore_ascii_case(DELIVERY_ID_HEADER) && !value.is_empty() {
            delivery_id = Some(value.to_owned());
        } else if name.eq_ignore_ascii_case(ATP_REQUEST_ID_HEADER) && !value.is_empty() {
            atp_request_id = Some(value.to_owned());
        }
    }
    let content_length = content_length.unwrap_or(0);
    if content_length > MAX_BODY_BYTES {
        return Err(HeadError::BodyTooLarge);
    }
    Ok(Some(Head {
        method: method.to_owned(),
        target: target.to_owned(),
        head_len,
        content_length,
        delivery_id,
        atp_request_id,
        close: close || (http10 && !keep_alive),
    }))
}

impl Head {
    /// What names the delivery in the log: the Sigilum delivery id, or an ATP webhook's
    /// `notification_id` read from `body`; `None` for any other request.
    pub fn delivery_key(&self, body: &[u8]) -> Option<String> {
        if let Some(id) = &self.delivery_id {
            return Some(id.clone());
        }
        self.atp_request_id.as_ref()?;
        serde_json::from_slice::<serde_json::Value>(body)
            .ok()?
            .get("notification_id")?
            .as_str()
            .filter(|id| !id.is_empty())
            .map(str::to_owned)
    }
}

/// Everything the receiver saw.
#[derive(Debug, Default)]
pub struct Log {
    /// The first receipt of each delivery (see [`Head::delivery_key`]).
    first: HashMap<String, Instant>,
    /// Requests for a delivery received before.
    pub duplicates: u64,
    /// Every complete request, duplicates and id-less ones included.
    pub requests: u64,
    /// Requests that name no delivery (not counted as deliveries).
    pub without_id: u64,
    /// Connections closed because of a malformed or oversized request.
    pub malformed: u64,
    /// The earliest and the latest first receipt.
    pub first_receipt: Option<Instant>,
    pub last_new_receipt: Option<Instant>,
}

impl Log {
    /// Requests that were not a delivery: without an id, or malformed.
    pub fn unexpected(&self) -> u64 {
        self.without_id + self.malformed
    }

    /// Records one request for `delivery` (its key) received at `at`.
    pub fn record(&mut self, delivery: Option<String>, at: Instant) {
        self.requests += 1;
        let Some(id) = delivery else {
            self.without_id += 1;
            return;
        };
        if self.first.contains_key(&id) {
            self.duplicates += 1;
            return;
        }
        self.first.insert(id, at);
        self.first_receipt.get_or_insert(at);
        self.last_new_receipt = Some(at);
    }

    /// Distinct deliveries received.
    pub fn distinct(&self) -> usize {
        self.first.len()
    }

    /// When the delivery keyed `delivery` (a delivery id, or an ATP notification id) first
    /// arrived.
    pub fn received_at(&self, delivery: &str) -> Option<Instant> {
        self.first.get(delivery).copied()
    }
}

/// A running receiver. Dropping it stops accepting and closes its connections.
#[derive(Debug)]
pub struct Receiver {
    addr: SocketAddr,
    log: Arc<Mutex<Log>>,
    /// Bumped after every recorded request, so waiters can re-check their condition.
    changes: watch::Receiver<u64>,
    task: JoinHandle<()>,
}

impl Receiver {
    /// Listens on 127.0.0.1 on a free port.
    pub async fn start() -> Result<Self> {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .await
            .context("binding the webhook receiver on 127.0.0.1")?;
        let addr = listener
            .local_addr()
            .context("reading the receiver's address")?;
        let log = Arc::new(Mutex::new(Log::default()));
        let (tx, changes) = watch::channel(0u64);
        let task = tokio::spawn(accept_loop(listener, Arc::clone(&log), tx));
        Ok(Self {
            addr,
            log,
            changes,
            task,
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Runs `f` on the log.
    pub fn with_log<T>(&self, f: impl FnOnce(&Log) -> T) -> T {
        f(&self.log.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// Waits until `done` holds for the log or `deadline` passes; returns whether it held.
    pub async fn wait_until(
        &self,
        deadline: tokio::time::Instant,
        mut done: impl FnMut(&Log) -> bool,
    ) -> bool {
        let mut changes = self.changes.clone();
        let log = &self.log;
        let waited = tokio::time::timeout_at(
            deadline,
            changes.wait_for(|_| done(&log.lock().unwrap_or_else(PoisonError::into_inner))),
        )
        .await;
        matches!(waited, Ok(Ok(_)))
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        // The accept loop owns the connection tasks: aborting it aborts them.
        self.task.abort();
    }
}

async fn accept_loop(listener: TcpListener, log: Arc<Mutex<Log>>, tx: watch::Sender<u64>) {
    let tx = Arc::new(tx);
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    let _ = stream.set_nodelay(true);
                    connections.spawn(serve(stream, Arc::clone(&log), Arc::clone(&tx)));
                }
                Err(e) => {
                    // Out of file descriptors, say: back off rather than spin.
                    eprintln!("warning: the webhook receiver could not accept: {e}");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            },
            // Reap finished connections so the set does not grow with every attempt.
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

/// One connection: requests one after another until the client closes or asks to.
async fn serve(mut stream: TcpStream, log: Arc<Mutex<Log>>, tx: Arc<watch::Sender<u64>>) {
    match exchange_all(&mut stream, &log, &tx).await {
        Ok(()) => {}
        Err(e) if e.is::<HeadError>() => {
            log.lock().unwrap_or_else(PoisonError::into_inner).malformed += 1;
            let _ = tokio::time::timeout(IDLE_TIMEOUT, stream.write_all(BAD_REQUEST)).await;
        }
        // Resets and idle timeouts: nothing to answer.
        Err(_) => {}
    }
}

async fn exchange_all(
    stream: &mut TcpStream,
    log: &Mutex<Log>,
    tx: &watch::Sender<u64>,
) -> Result<()> {
    let mut buf: Vec<u8> = Vec::with_capacity(4096);
    loop {
        let head = loop {
            if let Some(head) = parse_head(&buf)? {
                break head;
            }
            if buf.len() > MAX_HEAD_BYTES {
                bail!("request head over {MAX_HEAD_BYTES} bytes");
            }
            if read_more(stream, &mut buf).await? == 0 {
                if buf.is_empty() {
                    return Ok(()); // closed between requests
                }
                bail!("connection closed inside a request head");
            }
        };
        // Bounded by MAX_BODY_BYTES in parse_head, so this fits in usize.
        let total = head.head_len + usize::try_from(head.content_length)?;
        while buf.len() < total {
            if read_more(stream, &mut buf).await? == 0 {
                bail!("connection closed inside a request body");
            }
        }
        let received = Instant::now();
        let delivery = head.delivery_key(&buf[head.head_len..total]);
        log.lock()
            .unwrap_or_else(PoisonError::into_inner)
            .record(delivery, received);
        tx.send_modify(|n| *n += 1);
        buf.drain(..total);
        tokio::time::timeout(IDLE_TIMEOUT, stream.write_all(OK_RESPONSE))
            .await
            .context("writing the response timed out")??;
        if head.close {
            return Ok(());
        }
    }
}

async fn read_more(stream: &mut TcpStream, buf: &mut Vec<u8>) -> Result<usize> {
    buf.reserve(4096);
    Ok(tokio::time::timeout(IDLE_TIMEOUT, stream.read_buf(buf))
        .await
        .context("the connection was idle too long")??)
}

#[cfg(test)]
mod tests {
    use super::*;

    const DELIVERY: &str = "POST /hook HTTP/1.1\r\n\
        host: 127.0.0.1:4000\r\n\
        content-type: application/json\r\n\
        X-Sigilum-Delivery-Id: dlv_0123456789abcdef01234567\r\n\
        content-length: 2\r\n\r\n{}";

    #[test]
    fn a_delivery_head_is_parsed() {
        let head = parse_head(DELIVERY.as_bytes())
            .expect("valid")
            .expect("complete");
        assert_eq!(head.method, "POST");
        assert_eq!(head.target, "/hook");
        assert_eq!(head.content_length, 2);
        assert_eq!(
            head.delivery_id.as_deref(),
            Some("dlv_0123456789abcdef01234567")
        );
        assert!(!head.close);
        assert_eq!(&DELIVERY.as_bytes()[head.head_len..], b"{}");
    }

    const ATP_BODY: &str = r#"{"notification_id":"0b7c2a52-0000-4000-8000-000000000001","action_id":"pick","response_data":"b"}"#;

    fn atp_webhook(body: &str) -> String {
        format!(
            "POST /hook HTTP/1.1\r\n\
             content-type: application/json\r\n\
             X-ATP-Signature: t=1700000000,v1=00\r\n\
             X-ATP-Request-ID: dlv_atp\r\n\
             content-length: {}\r\n\r\n{body}",
            body.len()
        )
    }

    #[test]
    fn a_sigilum_delivery_is_keyed_by_its_delivery_id() {
        let head = parse_head(DELIVERY.as_bytes())
            .expect("valid")
            .expect("complete");
        assert_eq!(
            head.delivery_key(b"{}").as_deref(),
            Some("dlv_0123456789abcdef01234567")
        );
    }

    #[test]
    fn an_atp_webhook_is_keyed_by_its_notification_id() {
        let raw = atp_webhook(ATP_BODY);
        let head = parse_head(raw.as_bytes())
            .expect("valid")
            .expect("complete");
        assert_eq!(head.atp_request_id.as_deref(), Some("dlv_atp"));
        assert_eq!(head.delivery_id, None);
        let body = &raw.as_bytes()[head.head_len..];
        assert_eq!(
            head.delivery_key(body).as_deref(),
            Some("0b7c2a52-0000-4000-8000-000000000001")
        );
        for bad in [
            &b"not json"[..],
            b"{}",
            br#"{"notification_id":""}"#,
            br#"{"notification_id":7}"#,
        ] {
            assert_eq!(
                head.delivery_key(bad),
                None,
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn a_body_alone_names_no_delivery() {
        let raw = "POST /hook HTTP/1.1\r\ncontent-length: 2\r\n\r\n";
        let head = parse_head(raw.as_bytes())
            .expect("valid")
            .expect("complete");
        assert_eq!(head.delivery_key(ATP_BODY.as_bytes()), None);
    }

    #[test]
    fn an_incomplete_head_asks_for_more() {
        let cut = DELIVERY.find("\r\n\r\n").expect("has a blank line");
        for end in [0, 1, 10, cut, cut + 2, cut + 3] {
            assert_eq!(parse_head(&DELIVERY.as_bytes()[..end]), Ok(None), "{end}");
        }
    }

    #[test]
    fn trailing_bytes_are_left_for_the_next_request() {
        let two = format!("GET / HTTP/1.1\r\nhost: x\r\n\r\n{DELIVERY}");
        let head = parse_head(two.as_bytes())
            .expect("valid")
            .expect("complete");
        assert_eq!(head.content_length, 0);
        assert_eq!(head.delivery_id, None);
        let next = parse_head(&two.as_bytes()[head.head_len..])
            .expect("valid")
            .expect("complete");
        assert_eq!(next.method, "POST");
    }

    #[test]
    fn header_names_are_case_insensitive_and_values_trimmed() {
        let raw =
            "POST /hook HTTP/1.1\r\nCONTENT-LENGTH:\t 7 \r\nx-sigilum-delivery-id:dlv_a\r\n\r\n";
        let head = parse_head(raw.as_bytes())
            .expect("valid")
            .expect("complete");
        assert_eq!(head.content_length, 7);
        assert_eq!(head.delivery_id.as_deref(), Some("dlv_a"));
    }

    #[test]
    fn connection_close_and_http10_defaults() {
        let close = "POST / HTTP/1.1\r\nConnection: keep-alive, Close\r\n\r\n";
        assert!(
            parse_head(close.as_bytes())
                .expect("valid")
                .expect("complete")
                .close
        );
        let http10 = "GET / HTTP/1.0\r\n\r\n";
        assert!(
            parse_head(http10.as_bytes())
                .expect("valid")
                .expect("complete")
                .close
        );
        let http10_keep = "GET / HTTP/1.0\r\nconnection: keep-alive\r\n\r\n";
        assert!(
            !parse_head(http10_keep.as_bytes())
                .expect("valid")
                .expect("complete")
                .close
        );
    }

    #[test]
    fn equal_repeated_lengths_are_accepted() {
        let raw = "POST / HTTP/1.1\r\ncontent-length: 3\r\ncontent-length: 3\r\n\r\n";
        let head = parse_head(raw.as_bytes())
            .expect("valid")
            .expect("complete");
        assert_eq!(head.content_length, 3);
    }

    #[test]
    fn malformed_heads_are_refused() {
        let cases: [(&[u8], HeadError); 11] = [
            (b"POST /hook\r\n\r\n", HeadError::BadRequestLine),
            (b"POST  /hook HTTP/1.1\r\n\r\n", HeadError::BadRequestLine),
            (b"post /hook HTTP/1.1\r\n\r\n", HeadError::BadRequestLine),
            (b"POST /hook HTTP/2\r\n\r\n", HeadError::UnsupportedVersion),
            (
                b"POST / HTTP/1.1\r\nno colon\r\n\r\n",
                HeadError::BadHeaderLine,
            ),
            (
                b"POST / HTTP/1.1\r\nbad name: x\r\n\r\n",
                HeadError::BadHeaderLine,
            ),
            (
                b"POST / HTTP/1.1\r\ncontent-length: -1\r\n\r\n",
                HeadError::BadContentLength,
            ),
            (
                b"POST / HTTP/1.1\r\ncontent-length: 1\r\ncontent-length: 2\r\n\r\n",
                HeadError::BadContentLength,
            ),
            (
                b"POST / HTTP/1.1\r\ntransfer-encoding: chunked\r\n\r\n",
                HeadError::TransferEncoding,
            ),
            (
                b"POST / HTTP/1.1\r\ncontent-length: 99999999\r\n\r\n",
                HeadError::BodyTooLarge,
            ),
            (b"POST /\xff HTTP/1.1\r\n\r\n", HeadError::NotUtf8),
        ];
        for (raw, expected) in cases {
            assert_eq!(
                parse_head(raw),
                Err(expected.clone()),
                "{}",
                String::from_utf8_lossy(raw)
            );
        }
        let huge = format!("POST / HTTP/1.1\r\ncontent-length: {}\r\n\r\n", u64::MAX);
        assert_eq!(
            parse_head(format!("{huge}0").as_bytes()),
            Err(HeadError::BodyTooLarge)
        );
        let overflow = "POST / HTTP/1.1\r\ncontent-length: 99999999999999999999999\r\n\r\n";
        assert_eq!(
            parse_head(overflow.as_bytes()),
            Err(HeadError::BadContentLength)
        );
    }

    #[test]
    fn the_log_counts_distinct_ids_and_duplicates() {
        let mut log = Log::default();
        let t0 = Instant::now();
        let t1 = t0 + Duration::from_millis(5);
        log.record(Some("dlv_a".into()), t0);
        log.record(Some("dlv_b".into()), t1);
        log.record(Some("dlv_a".into()), t1 + Duration::from_millis(1));
        log.record(None, t1);
        assert_eq!(log.distinct(), 2);
        assert_eq!(log.duplicates, 1);
        assert_eq!(log.requests, 4);
        assert_eq!(log.without_id, 1);
        assert_eq!(log.received_at("dlv_a"), Some(t0));
        assert_eq!(log.first_receipt, Some(t0));
        assert_eq!(log.last_new_receipt, Some(t1));
    }

    #[tokio::test]
    async fn the_receiver_answers_keep_alive_requests_and_records_them() {
        let receiver = Receiver::start().await.expect("starts");
        let mut stream = TcpStream::connect(receiver.addr()).await.expect("connects");
        // Two requests in one write (pipelined), then a third after the answers.
        let second = DELIVERY.replace("dlv_0123456789abcdef01234567", "dlv_second");
        stream
            .write_all(format!("{DELIVERY}{second}").as_bytes())
            .await
            .expect("writes");
        let mut answers = vec![0; OK_RESPONSE.len() * 2];
        stream.read_exact(&mut answers).await.expect("two answers");
        assert_eq!(answers, [OK_RESPONSE, OK_RESPONSE].concat());
        stream.write_all(DELIVERY.as_bytes()).await.expect("writes");
        let mut answer = vec![0; OK_RESPONSE.len()];
        stream.read_exact(&mut answer).await.expect("an answer");
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        assert!(receiver.wait_until(deadline, |log| log.requests == 3).await);
        receiver.with_log(|log| {
            assert_eq!(log.distinct(), 2);
            assert_eq!(log.duplicates, 1);
        });
    }

    #[tokio::test]
    async fn the_receiver_records_an_atp_webhook_by_notification_id() {
        let receiver = Receiver::start().await.expect("starts");
        let mut stream = TcpStream::connect(receiver.addr()).await.expect("connects");
        stream
            .write_all(atp_webhook(ATP_BODY).as_bytes())
            .await
            .expect("writes");
        let mut answer = vec![0; OK_RESPONSE.len()];
        stream.read_exact(&mut answer).await.expect("an answer");
        assert_eq!(answer, OK_RESPONSE);
        // Recorded before the answer is written.
        receiver.with_log(|log| {
            assert!(
                log.received_at("0b7c2a52-0000-4000-8000-000000000001")
                    .is_some()
            );
            assert_eq!((log.requests, log.without_id), (1, 0));
        });
    }

    #[tokio::test]
    async fn a_malformed_request_gets_400_and_is_counted() {
        let receiver = Receiver::start().await.expect("starts");
        let mut stream = TcpStream::connect(receiver.addr()).await.expect("connects");
        stream
            .write_all(b"POST / HTTP/1.1\r\ntransfer-encoding: chunked\r\n\r\n")
            .await
            .expect("writes");
        let mut answer = Vec::new();
        stream.read_to_end(&mut answer).await.expect("reads");
        assert!(answer.starts_with(b"HTTP/1.1 400 "));
        // The count is taken before the answer is written, so it is there by now.
        receiver.with_log(|log| assert_eq!((log.malformed, log.requests), (1, 0)));
    }
}
