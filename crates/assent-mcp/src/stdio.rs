//! `assent mcp`: MCP over stdio for a local agent, as a bridge to a server's `/mcp`. Each
//! line of stdin is one JSON-RPC message, posted with the service API key; what the server
//! answers (a JSON response, or the events of a stream: progress, then the response) goes to
//! stdout, one message a line. Requests run concurrently, so a call waiting for a human does
//! not hold up a `ping`. The process keeps nothing: the decision lives on the server.

use std::sync::Arc;

use anyhow::Context;
use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::sync::Mutex;

/// The largest line accepted on stdin; the server refuses larger bodies anyway.
const MAX_LINE: usize = 4 * 1024 * 1024;

/// Bridges stdin and stdout to `endpoint` (the server's `/mcp` URL) until stdin closes.
pub async fn run(endpoint: url::Url, api_key: String) -> anyhow::Result<()> {
    let client = reqwest::Client::builder()
        .build()
        .context("cannot build the HTTP client")?;
    let stdout = Arc::new(Mutex::new(tokio::io::stdout()));
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    let mut calls = tokio::task::JoinSet::new();
    while let Some(line) = lines.next_line().await.context("cannot read stdin")? {
        if line.trim().is_empty() {
            continue;
        }
        let client = client.clone();
        let endpoint = endpoint.clone();
        let api_key = api_key.clone();
        let stdout = Arc::clone(&stdout);
        calls.spawn(async move {
            let id = serde_json::from_str::<Value>(&line)
                .ok()
                .and_then(|m| m.get("id").cloned());
            let write = |message: Value| {
                let stdout = Arc::clone(&stdout);
                async move {
                    let mut text = message.to_string();
                    text.push('\n');
                    let mut stdout = stdout.lock().await;
                    let _ = stdout.write_all(text.as_bytes()).await;
                    let _ = stdout.flush().await;
                }
            };
            if line.len() > MAX_LINE {
                write(error(id, -32600, "The message is too large.")).await;
                return;
            }
            if let Err(e) = forward(&client, &endpoint, &api_key, line, &write).await {
                tracing::warn!(error = %format!("{e:#}"), "an MCP message could not be forwarded");
                // A request must be answered, or the agent waits for ever.
                if id.is_some() {
                    write(error(id, -32603, &format!("{e:#}"))).await;
                }
            }
        });
        while calls.try_join_next().is_some() {}
    }
    // stdin closed: the agent is gone; calls still waiting end with the process.
    calls.abort_all();
    Ok(())
}

fn error(id: Option<Value>, code: i64, message: &str) -> Value {
    json!({ "jsonrpc": "2.0", "id": id.unwrap_or(Value::Null), "error": { "code": code, "message": message } })
}

async fn forward<W, F>(
    client: &reqwest::Client,
    endpoint: &url::Url,
    api_key: &str,
    line: String,
    write: &W,
) -> anyhow::Result<()>
where
    W: Fn(Value) -> F,
    F: Future<Output = ()>,
{
    let mut response = client
        .post(endpoint.clone())
        .header(AUTHORIZATION, format!("Bearer {api_key}"))
        .header(CONTENT_TYPE, "application/json")
        .header(ACCEPT, "application/json, text/event-stream")
        .body(line)
        .send()
        .await
        .with_context(|| format!("cannot reach {endpoint}"))?;
    let status = response.status();
    let content_type = response
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    if status == reqwest::StatusCode::ACCEPTED {
        return Ok(());
    }
    if content_type.starts_with("text/event-stream") {
        let mut events = EventParser::default();
        while let Some(chunk) = response.chunk().await.context("the stream broke")? {
            for data in events.push(&chunk) {
                if let Ok(message) = serde_json::from_str::<Value>(&data) {
                    write(message).await;
                }
            }
        }
        return Ok(());
    }
    let body = response.bytes().await.context("cannot read the response")?;
    match serde_json::from_slice::<Value>(&body) {
        // A JSON-RPC message (a result, or an error the server wrote as one).
        Ok(message) if message.get("jsonrpc").is_some() => {
            write(message).await;
            Ok(())
        }
        // Anything else is the HTTP layer refusing (a wrong key is a 401 with an ATP error).
        Ok(other) => anyhow::bail!(
            "the server answered {status}: {}",
            other
                .get("error")
                .or_else(|| other.get("message"))
                .and_then(Value::as_str)
                .unwrap_or("no message")
        ),
        Err(_) => anyhow::bail!("the server answered {status}"),
    }
}

/// The `data` of Server-Sent Events, from chunks as they arrive. Written by hand: the one
/// field of the format MCP uses, in a dozen lines, where a crate would add a stream stack.
#[derive(Debug, Default)]
struct EventParser {
    buffer: Vec<u8>,
    data: Vec<String>,
}

impl EventParser {
    fn push(&mut self, chunk: &[u8]) -> Vec<String> {
        self.buffer.extend_from_slice(chunk);
        let mut complete = Vec::new();
        while let Some(end) = self.buffer.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = self.buffer.drain(..=end).collect();
            let line = String::from_utf8_lossy(&line);
            let line = line.trim_end_matches(['\n', '\r']);
            if line.is_empty() {
                if !self.data.is_empty() {
                    complete.push(self.data.join("\n"));
                    self.data.clear();
                }
            } else if let Some(data) = line.strip_prefix("data:") {
                self.data
                    .push(data.strip_prefix(' ').unwrap_or(data).to_owned());
            }
        }
        complete
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_read_across_chunks_and_comments_are_skipped() {
        let mut parser = EventParser::default();
        assert!(
            parser
                .push(b": keep-alive\n\nevent: message\ndata: {\"a\"")
                .is_empty()
        );
        assert_eq!(parser.push(b":1}\n\ndata: 2\r\n\r\n"), ["{\"a\":1}", "2"]);
        assert!(parser.push(b"data: 3\n").is_empty());
        assert_eq!(parser.push(b"\n"), ["3"]);
    }
}
