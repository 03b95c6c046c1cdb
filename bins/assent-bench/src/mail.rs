//! The `mail` scenario: owner email through a real SMTP conversation with a sink inside the
//! bench (a minimal SMTP server on 127.0.0.1 that accepts every mail and records when its
//! `DATA` ended, its recipients and its text). The spawned server gets `ASSENT_SMTP_URL` to it.
//!
//! Over the API it signs the owner up, creates a service, an API key and signed claims (as
//! `claims` does), then:
//!
//! 1. **Latency.** An email channel with `throttle_seconds: 0`, confirmed from its mail; then
//!    [`LATENCY_CLAIMS`] claims one after the other, each timed from just before its
//!    `POST /v1/claims` to the end of the `DATA` of the mail naming it.
//! 2. **Burst.** That channel removed, another with the default throttle (60 s), confirmed; then
//!    [`BURST_CLAIMS`] claims from [`BURST_CONNECTIONS`] connections at once. For `--duration`
//!    (default 70 s) from the first submission it counts the mails that arrive, the claims
//!    each lists and counts ("And N more"), apart for `claim.submitted` and for the
//!    `item.expiring` reminders (the server's `ASSENT_CLAIM_TTL` is [`CLAIM_TTL`], so with the
//!    channel's lead of 60 s they fall in the window), and checks the digest:
//!    mails of each topic ≤ 1 + ⌈window / throttle⌉.

use std::fmt::Write as _;
use std::net::TcpListener as StdListener;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

use crate::api::{Api, string_at};
use crate::claims::{self, ClaimsLoad, Policy};
use crate::load::Target;
use crate::stats::Percentiles;

/// Claims of the latency phase.
pub const LATENCY_CLAIMS: usize = 40;
/// Claims of the burst, and the connections sending them.
pub const BURST_CLAIMS: usize = 1_000;
pub const BURST_CONNECTIONS: usize = 16;
/// The burst channel's throttle: the default.
const THROTTLE: Duration = Duration::from_secs(60);
/// The spawned server's claim lifetime: long enough for every phase, short enough that the
/// burst's reminders (a minute before the expiry) come within the window.
pub const CLAIM_TTL: &str = "90s";
/// How long one mail may take in the latency phase before the run gives up.
const MAIL_TIMEOUT: Duration = Duration::from_secs(30);
const POLL: Duration = Duration::from_millis(2);

/// The sink's socket, bound before the server starts (its URL is in the server's settings).
static SINK: OnceLock<StdListener> = OnceLock::new();

/// Binds the sink on a free port of 127.0.0.1; returns `ASSENT_SMTP_URL` for it.
pub fn bind_sink() -> Result<String> {
    let listener = StdListener::bind("127.0.0.1:0").context("binding the SMTP sink")?;
    let port = listener.local_addr().context("the sink's port")?.port();
    listener
        .set_nonblocking(true)
        .context("making the sink's socket non-blocking")?;
    SINK.set(listener)
        .map_err(|_| anyhow!("the SMTP sink is bound already"))?;
    Ok(format!("smtp://127.0.0.1:{port}"))
}

/// One mail as the sink received it.
#[derive(Debug, Clone)]
struct Mail {
    /// When its `DATA` ended (just before the sink's `250`).
    at: Instant,
    to: Vec<String>,
    /// The message, dot-unstuffed and with quoted-printable undone.
    text: String,
}

impl Mail {
    fn subject(&self) -> &str {
        self.text
            .lines()
            .find_map(|l| l.strip_prefix("Subject: "))
            .unwrap_or("")
    }

    fn reminder(&self) -> bool {
        self.subject().starts_with("Expires soon")
    }

    /// Claims listed with their links, and those counted as "And N more".
    fn claims(&self) -> (usize, usize) {
        let listed = self.text.matches("\nApprove: ").count();
        let more = self
            .text
            .split("And ")
            .skip(1)
            .find_map(more_count)
            .unwrap_or(0);
        (listed, more)
    }
}

/// `N more in the dashboard` at the start of `text`: N.
fn more_count(text: &str) -> Option<usize> {
    let (n, rest) = text.split_once(' ')?;
    if rest.starts_with("more in the dashboard") {
        n.parse().ok()
    } else {
        None
    }
}

type Mails = Arc<Mutex<Vec<Mail>>>;

/// Serves SMTP on the bound socket until the runtime ends.
fn start_sink() -> Result<Mails> {
    let listener = SINK
        .get()
        .ok_or_else(|| anyhow!("the SMTP sink was not bound"))?
        .try_clone()
        .context("taking the sink's socket")?;
    let listener = TcpListener::from_std(listener).context("serving the SMTP sink")?;
    let mails: Mails = Arc::default();
    let kept = Arc::clone(&mails);
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            let kept = Arc::clone(&kept);
            tokio::spawn(async move {
                if let Err(e) = converse(socket, kept).await {
                    eprintln!("warning: SMTP sink: {e:#}");
                }
            });
        }
    });
    Ok(mails)
}

/// One SMTP session: every command accepted, every mail kept.
async fn converse(socket: tokio::net::TcpStream, mails: Mails) -> Result<()> {
    let (read, mut write) = socket.into_split();
    let mut lines = BufReader::new(read);
    write.write_all(b"220 assent-bench ESMTP\r\n").await?;
    let mut to = Vec::new();
    let mut line = String::new();
    loop {
        line.clear();
        if lines.read_line(&mut line).await? == 0 {
            return Ok(());
        }
        let verb = line.get(..4).unwrap_or("").to_ascii_uppercase();
        let reply: &[u8] = match verb.as_str() {
            "EHLO" => b"250-assent-bench\r\n250 8BITMIME\r\n",
            "MAIL" => {
                to.clear();
                b"250 OK\r\n"
            }
            "RCPT" => {
                let address = line
                    .split_once('<')
                    .and_then(|(_, rest)| rest.split_once('>'))
                    .map_or("", |(address, _)| address);
                to.push(address.to_owned());
                b"250 OK\r\n"
            }
            "DATA" => {
                write.write_all(b"354 go on\r\n").await?;
                let mut data = String::new();
                loop {
                    line.clear();
                    if lines.read_line(&mut line).await? == 0 {
                        return Ok(());
                    }
                    let body = line.trim_end_matches(['\r', '\n']);
                    if body == "." {
                        break;
                    }
                    data.push_str(body.strip_prefix('.').unwrap_or(body));
                    data.push('\n');
                }
                let mail = Mail {
                    at: Instant::now(),
                    to: std::mem::take(&mut to),
                    text: unquote(&data),
                };
                mails.lock().map_err(|_| anyhow!("poisoned"))?.push(mail);
                b"250 queued\r\n"
            }
            "QUIT" => {
                write.write_all(b"221 bye\r\n").await?;
                return Ok(());
            }
            "HELO" | "RSET" | "NOOP" => b"250 OK\r\n",
            _ => b"502 not here\r\n",
        };
        write.write_all(reply).await?;
    }
}

/// Undoes quoted-printable soft breaks and `=XX` escapes; other text is left as it is.
fn unquote(text: &str) -> String {
    let joined = text.replace("=\n", "");
    let bytes = joined.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .filter(|h| {
                h.bytes()
                    .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_lowercase())
            })
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'=', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// What a `mail` run measured.
#[derive(Debug)]
pub struct MailFigures {
    pub latency: Option<Percentiles>,
    pub latency_received: usize,
    pub burst_submit: Duration,
    pub burst_errors: usize,
    pub window: Duration,
    pub submitted: Topic,
    pub reminders: Topic,
}

/// The mails of one topic in the burst's window.
#[derive(Debug, Default)]
pub struct Topic {
    /// Each mail: seconds after the first submission, claims listed, claims counted.
    pub mails: Vec<(f64, usize, usize)>,
}

impl Topic {
    fn told(&self) -> usize {
        self.mails.iter().map(|(_, l, m)| l + m).sum()
    }

    /// At most one mail at once and one per throttle period after.
    fn bound(window: Duration) -> usize {
        1 + window.as_secs().div_ceil(THROTTLE.as_secs()) as usize
    }

    fn text(&self, window: Duration) -> String {
        let bound = Self::bound(window);
        let each: Vec<String> = self
            .mails
            .iter()
            .map(|(at, listed, more)| format!("{at:.1} s: {listed} listed + {more} counted"))
            .collect();
        format!(
            "{} mails (bound {bound}: {}), {} claims told; {}",
            self.mails.len(),
            if self.mails.len() <= bound {
                "holds"
            } else {
                "BROKEN"
            },
            self.told(),
            if each.is_empty() {
                "none".to_owned()
            } else {
                each.join("; ")
            }
        )
    }
}

impl MailFigures {
    /// Whether the digest held for both topics and every burst claim was told in the window.
    pub fn holds(&self) -> bool {
        let bound = Topic::bound(self.window);
        self.submitted.mails.len() <= bound
            && self.reminders.mails.len() <= bound
            && self.burst_errors == 0
            && self.latency_received == LATENCY_CLAIMS
    }

    pub fn human(&self) -> String {
        let mut out = String::new();
        let mut line = |label: &str, text: String| {
            let _ = writeln!(out, "{label:<11}{text}");
        };
        line(
            "scenario",
            format!(
                "mail: {LATENCY_CLAIMS} claims one after the other (throttle 0), then \
                 {BURST_CLAIMS} at once from {BURST_CONNECTIONS} connections (throttle {} s)",
                THROTTLE.as_secs()
            ),
        );
        line(
            "latency",
            crate::report::percentiles_text(self.latency.as_ref(), "no mail arrived"),
        );
        line(
            "",
            format!(
                "{} of {LATENCY_CLAIMS} mails arrived; from just before POST /v1/claims to the \
                 end of the mail's DATA at the sink",
                self.latency_received
            ),
        );
        line(
            "burst",
            format!(
                "{BURST_CLAIMS} claims submitted in {:.2} s ({} errors); window {:.0} s from the \
                 first submission",
                self.burst_submit.as_secs_f64(),
                self.burst_errors,
                self.window.as_secs_f64()
            ),
        );
        line("submitted", self.submitted.text(self.window));
        line("reminders", self.reminders.text(self.window));
        out
    }

    pub fn json(&self) -> Value {
        let topic = |t: &Topic| {
            json!({
                "mails": t.mails.len(),
                "told": t.told(),
                "listed": t.mails.iter().map(|(_, l, _)| l).collect::<Vec<_>>(),
                "counted": t.mails.iter().map(|(_, _, m)| m).collect::<Vec<_>>(),
            })
        };
        let mut line = json!({
            "scenario": "mail",
            "latency_received": self.latency_received,
            "burst_claims": BURST_CLAIMS,
            "burst_submit_s": self.burst_submit.as_secs_f64(),
            "burst_errors": self.burst_errors,
            "window_s": self.window.as_secs_f64(),
            "bound": Topic::bound(self.window),
            "submitted": topic(&self.submitted),
            "reminders": topic(&self.reminders),
            "holds": self.holds(),
        });
        crate::report::insert_percentiles(&mut line, "latency_", self.latency.as_ref());
        line
    }
}

/// Both phases; `window` is `--duration`.
pub async fn run(target: &Target, namespace: &str, window: Duration) -> Result<MailFigures> {
    let mails = start_sink()?;
    let api = Api::new(&target.base)?;
    eprintln!(
        "mail: an owner of `{namespace}`, service `{}`, {} signed claims",
        claims::SERVICE,
        LATENCY_CLAIMS + BURST_CLAIMS
    );
    let load = claims::prepare(
        target,
        namespace,
        Policy::None,
        LATENCY_CLAIMS + BURST_CLAIMS,
    )
    .await?;
    let session = load.session.clone();

    // 1. Latency.
    let first = add_channel(&api, &session, &mails, "latency", 0).await?;
    let mut latencies = Vec::with_capacity(LATENCY_CLAIMS);
    for _ in 0..LATENCY_CLAIMS {
        let started = Instant::now();
        let claim = submit(&api, &load).await?;
        let deadline = started + MAIL_TIMEOUT;
        let arrived = loop {
            let found = locked(&mails)?
                .iter()
                .find(|m| m.at >= started && m.text.contains(&claim))
                .map(|m| m.at);
            if let Some(at) = found {
                break Some(at);
            }
            if Instant::now() > deadline {
                break None;
            }
            tokio::time::sleep(POLL).await;
        };
        match arrived {
            Some(at) => latencies
                .push(u64::try_from(at.duration_since(started).as_micros()).unwrap_or(u64::MAX)),
            None => eprintln!("warning: no mail named claim {claim} within {MAIL_TIMEOUT:?}"),
        }
    }
    let latency_received = latencies.len();
    let latency = Percentiles::compute(&mut latencies);
    let removed = api
        .client
        .delete(api.url(&format!("/v1/auth/channels/{first}")))
        .bearer_auth(&session)
        .send()
        .await
        .context("DELETE /v1/auth/channels/{id}")?
        .status();
    if removed != StatusCode::NO_CONTENT {
        bail!("DELETE /v1/auth/channels/{{id}} answered {removed}");
    }

    // 2. Burst.
    let address = "burst@bench.example.com";
    add_channel(&api, &session, &mails, "burst", THROTTLE.as_secs()).await?;
    eprintln!(
        "mail: {BURST_CLAIMS} claims from {BURST_CONNECTIONS} connections, then mails counted \
         for {:.0} s",
        window.as_secs_f64()
    );
    let load = Arc::new(load);
    let api = Arc::new(api);
    let started = Instant::now();
    let mut senders = tokio::task::JoinSet::new();
    for connection in 0..BURST_CONNECTIONS {
        let (load, api) = (Arc::clone(&load), Arc::clone(&api));
        senders.spawn(async move {
            let mut errors = 0;
            for _ in (connection..BURST_CLAIMS).step_by(BURST_CONNECTIONS) {
                if let Err(e) = submit(&api, &load).await {
                    if errors == 0 {
                        eprintln!("warning: a burst claim failed: {e:#}");
                    }
                    errors += 1;
                }
            }
            errors
        });
    }
    let mut burst_errors = 0;
    while let Some(errors) = senders.join_next().await {
        burst_errors += errors.context("a burst connection panicked")?;
    }
    let burst_submit = started.elapsed();
    tokio::time::sleep(window.saturating_sub(started.elapsed())).await;
    let end = started + window;
    let mut submitted = Topic::default();
    let mut reminders = Topic::default();
    for mail in locked(&mails)?.iter() {
        if mail.at < started || mail.at > end || !mail.to.iter().any(|t| t == address) {
            continue;
        }
        let (listed, more) = mail.claims();
        let entry = (mail.at.duration_since(started).as_secs_f64(), listed, more);
        if mail.reminder() {
            reminders.mails.push(entry);
        } else {
            submitted.mails.push(entry);
        }
    }
    Ok(MailFigures {
        latency,
        latency_received,
        burst_submit,
        burst_errors,
        window,
        submitted,
        reminders,
    })
}

fn locked(mails: &Mails) -> Result<std::sync::MutexGuard<'_, Vec<Mail>>> {
    mails
        .lock()
        .map_err(|_| anyhow!("the sink's mails are poisoned"))
}

/// Adds a verified email channel `<name>@bench.example.com` for claims and reminders, confirmed
/// with the link of its mail; returns its id.
async fn add_channel(
    api: &Api,
    session: &str,
    mails: &Mails,
    name: &str,
    throttle_seconds: u64,
) -> Result<String> {
    let address = format!("{name}@bench.example.com");
    let since = Instant::now();
    let added = api
        .post(
            "/v1/auth/channels",
            Some(session),
            json!({ "kind": "email", "address": address,
                    "events": ["claim.submitted", "item.expiring"],
                    "throttle_seconds": throttle_seconds, "expiry_lead_seconds": 60 }),
            StatusCode::CREATED,
        )
        .await?;
    let id = string_at(&added, "/id")?;
    let deadline = since + MAIL_TIMEOUT;
    let token = loop {
        let token = locked(mails)?
            .iter()
            .filter(|m| m.at >= since && m.to.contains(&address))
            .find_map(|m| {
                let at = m.text.find("/dashboard/links/")? + "/dashboard/links/".len();
                let token: String = m.text[at..]
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-')
                    .collect();
                (!token.is_empty()).then_some(token)
            });
        if let Some(token) = token {
            break token;
        }
        if Instant::now() > deadline {
            bail!("the confirmation mail to {address} did not come within {MAIL_TIMEOUT:?}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    api.post(
        "/v1/auth/channels/verify",
        Some(session),
        json!({ "token": token }),
        StatusCode::OK,
    )
    .await?;
    Ok(id)
}

/// Submits the next signed claim; returns its id.
async fn submit(api: &Api, load: &ClaimsLoad) -> Result<String> {
    let request = load.request(&api.client).map_err(|e| anyhow!(e))?;
    let created = api
        .expect("POST /v1/claims", request, StatusCode::CREATED)
        .await?;
    string_at(&created, "/claim_id")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_printable_is_undone_and_counts_are_read() {
        let text = unquote("Subject: 3 agent claims=\n wait\nAnd 12 more in the dashboard.\n=3D\n");
        assert!(text.contains("Subject: 3 agent claims wait"), "{text}");
        assert!(text.ends_with("=\n"), "{text}");
        let mail = Mail {
            at: Instant::now(),
            to: Vec::new(),
            text: format!("Subject: Expires soon: x\n\nA\nApprove: u\n\nB\nApprove: v\n{text}"),
        };
        assert!(mail.reminder());
        assert_eq!(mail.claims(), (2, 12));
        assert_eq!(Topic::bound(Duration::from_secs(70)), 3);
        assert_eq!(Topic::bound(Duration::from_secs(60)), 2);
    }
}
