//! The `mcp` scenario: how soon a waiting MCP `request_approval` call returns once the human
//! decides, and what 500 waiting calls cost the server.
//!
//! 1. An ATP service (see `crate::atp`) and its owner's user token.
//! 2. Samples, one after the other: `POST /mcp` `tools/call request_approval` (Streamable HTTP,
//!    an event stream), read until its first progress notification (the call is then waiting,
//!    subscribed to the change feed), find the request in the user's inbox (not timed), then
//!    answer it (`POST /api/v1/client/respond`) and time from just before that call to the
//!    arrival of the tool's result on the still-open stream.
//! 3. [`WAITERS`] calls opened at once, each waiting; once all have reported progress, the
//!    server's resident memory and its CPU time over [`IDLE_WINDOW`] while they wait.
//!
//! It measures; it never asserts.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::api::Api;
use crate::atp;
use crate::load::{Target, micros};
use crate::receiver::Receiver;
use crate::stats::Percentiles;

/// Concurrent waiting calls of the second part.
pub const WAITERS: usize = 500;
/// How long the waiting calls are watched for CPU.
const IDLE_WINDOW: Duration = Duration::from_secs(10);
/// Samples sent first and not recorded.
const WARMUP_SAMPLES: u32 = 5;
/// How long one step may take before the run gives up.
const STEP_TIMEOUT: Duration = Duration::from_secs(30);
/// Clock ticks per second of `/proc/<pid>/stat` (USER_HZ, 100 on Linux).
const TICKS_PER_SECOND: f64 = 100.0;

/// What a run measured.
#[derive(Debug, Default)]
pub struct McpFigures {
    pub samples: u32,
    /// From just before the respond call to the tool result, in microseconds.
    pub decision_to_result: Option<Percentiles>,
    pub waiters: usize,
    /// Resident memory before the waiting calls opened and while they all wait, in MiB.
    pub rss_before_mb: Option<f64>,
    pub rss_waiting_mb: Option<f64>,
    /// The server's CPU over [`IDLE_WINDOW`] while they wait, in % of one core.
    pub cpu_waiting_percent: Option<f64>,
}

impl McpFigures {
    pub fn human(&self) -> String {
        let ms = |us: u64| us as f64 / 1000.0;
        let mut out = String::new();
        if let Some(p) = self.decision_to_result {
            out.push_str(&format!(
                "decision -> waiting call returns ({} samples): p50 {:.1} ms, p90 {:.1} ms, p99 {:.1} ms, max {:.1} ms\n",
                self.samples,
                ms(p.p50),
                ms(p.p90),
                ms(p.p99),
                ms(p.max)
            ));
        }
        out.push_str(&format!(
            "{} waiting calls: RSS {:.1} MiB -> {:.1} MiB, CPU {:.1}% of a core over {} s\n",
            self.waiters,
            self.rss_before_mb.unwrap_or(f64::NAN),
            self.rss_waiting_mb.unwrap_or(f64::NAN),
            self.cpu_waiting_percent.unwrap_or(f64::NAN),
            IDLE_WINDOW.as_secs()
        ));
        out
    }

    pub fn json(&self) -> Value {
        json!({
            "scenario": "mcp",
            "samples": self.samples,
            "decision_to_result_us": self.decision_to_result.map(|p| json!({"p50": p.p50, "p90": p.p90, "p99": p.p99, "max": p.max})),
            "waiters": self.waiters,
            "rss_before_mb": self.rss_before_mb,
            "rss_waiting_mb": self.rss_waiting_mb,
            "cpu_waiting_percent": self.cpu_waiting_percent,
        })
    }
}

/// A `tools/call request_approval` that waits up to `wait` seconds.
fn call(n: usize, wait: u64) -> Value {
    json!({
        "jsonrpc": "2.0", "id": n, "method": "tools/call",
        "params": {
            "name": "request_approval",
            "_meta": { "progressToken": n },
            "arguments": {
                "title": format!("Deploy build {n}"),
                "description": "assent-bench mcp",
                "action": { "name": "deploy", "args": { "build": n } },
                "wait_seconds": wait,
            },
        },
    })
}

/// An open call's event stream, read message by message.
struct Stream {
    response: reqwest::Response,
    buffer: String,
}

impl Stream {
    async fn open(
        client: &reqwest::Client,
        url: &str,
        api_key: &str,
        body: &Value,
    ) -> Result<Self> {
        let response = client
            .post(url)
            .bearer_auth(api_key)
            .header("accept", "application/json, text/event-stream")
            .json(body)
            .send()
            .await
            .context("POST /mcp")?;
        if response.status() != StatusCode::OK {
            bail!("POST /mcp answered {}", response.status());
        }
        Ok(Self {
            response,
            buffer: String::new(),
        })
    }

    /// The next JSON-RPC message of the stream.
    async fn next(&mut self) -> Result<Value> {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let event: String = self.buffer.drain(..end + 2).collect();
                if let Some(data) = event.lines().find_map(|l| l.strip_prefix("data: ")) {
                    return serde_json::from_str(data).context("an event that is not JSON");
                }
                continue;
            }
            let chunk = self
                .response
                .chunk()
                .await
                .context("reading the stream")?
                .context("the stream ended")?;
            self.buffer.push_str(&String::from_utf8_lossy(&chunk));
        }
    }

    /// Reads until the first progress notification: the call is waiting.
    async fn waiting(&mut self) -> Result<()> {
        let message = self.next().await?;
        if message["method"] != "notifications/progress" {
            bail!("expected progress, got {message}");
        }
        Ok(())
    }
}

/// The server's CPU time so far, in seconds (utime + stime of `/proc/<pid>/stat`).
fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name, which is in parentheses and may hold spaces.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / TICKS_PER_SECOND)
}

/// Runs both parts against a spawned server (`pid`, with `rss` reading its memory).
pub async fn run(
    target: &Target,
    run_id: &str,
    samples: u32,
    pid: u32,
    rss: impl Fn() -> Option<f64>,
) -> Result<McpFigures> {
    let receiver = Receiver::start().await?;
    let api = Api::new(&target.base)?;
    let callback = format!("http://{}/hook", receiver.addr());
    let service = atp::set_up(&api, target, run_id, &callback).await?;
    let user_token = api
        .create_user_token(&service.session, "assent-bench mcp")
        .await?;
    let client = reqwest::Client::new();
    let url = api.url("/mcp");
    let mut figures = McpFigures {
        samples,
        waiters: WAITERS,
        ..Default::default()
    };

    let mut latencies = Vec::new();
    for n in 0..(samples + WARMUP_SAMPLES) as usize {
        let mut stream = Stream::open(&client, &url, &service.api_key, &call(n, 60)).await?;
        tokio::time::timeout(STEP_TIMEOUT, stream.waiting())
            .await
            .context("no progress")??;
        let inbox = api
            .expect(
                "GET /api/v1/client/notifications",
                client
                    .get(api.url("/api/v1/client/notifications?limit=5"))
                    .bearer_auth(&user_token),
                StatusCode::OK,
            )
            .await?;
        let title = format!("Deploy build {n}");
        let Some(id) = inbox["notifications"]
            .as_array()
            .and_then(|list| {
                list.iter()
                    .find(|note| note["context"]["title"] == title.as_str())
            })
            .and_then(|note| note["id"].as_str())
            .map(ToOwned::to_owned)
        else {
            bail!("the request of sample {n} is not in the inbox");
        };
        let started = Instant::now();
        api.post(
            "/api/v1/client/respond",
            Some(&user_token),
            json!({ "notification_id": id, "action_id": "approve" }),
            StatusCode::OK,
        )
        .await?;
        let result = tokio::time::timeout(STEP_TIMEOUT, stream.next())
            .await
            .context("no result")??;
        let elapsed = started.elapsed();
        if result["result"]["structuredContent"]["status"] != "approved" {
            bail!("sample {n} returned {result}");
        }
        if n >= WARMUP_SAMPLES as usize {
            latencies.push(micros(elapsed));
        }
    }
    figures.decision_to_result = Percentiles::compute(&mut latencies);
    eprintln!(
        "{} latency samples taken; opening {WAITERS} waiting calls",
        samples
    );

    figures.rss_before_mb = rss();
    let mut open = Vec::with_capacity(WAITERS);
    for n in 0..WAITERS {
        let body = call(100_000 + n, 300);
        let mut stream = Stream::open(&client, &url, &service.api_key, &body).await?;
        tokio::time::timeout(STEP_TIMEOUT, stream.waiting())
            .await
            .context("a waiting call reported no progress")??;
        open.push(stream);
    }
    let before = cpu_seconds(pid);
    tokio::time::sleep(IDLE_WINDOW).await;
    let after = cpu_seconds(pid);
    figures.rss_waiting_mb = rss();
    figures.cpu_waiting_percent = before
        .zip(after)
        .map(|(b, a)| (a - b) / IDLE_WINDOW.as_secs_f64() * 100.0);
    drop(open);
    Ok(figures)
}
