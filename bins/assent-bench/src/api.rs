//! The owner API as the scenarios use it to set themselves up: JSON in, JSON out, one expected
//! status per call, and an error that quotes the answer when it is not that status.

use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use reqwest::{Client, RequestBuilder, StatusCode};
use serde_json::{Value, json};

use crate::load;
use crate::scenario;
use crate::server;

/// One API call (signup hashes a password).
const API_TIMEOUT: Duration = Duration::from_secs(30);
/// Characters of an unexpected API answer kept for the error message.
const SAMPLE_CHARS: usize = 300;

/// A client of the server's API for setup calls (not the load).
#[derive(Debug)]
pub struct Api {
    pub client: Client,
    /// Without a trailing slash; paths are appended.
    pub base: String,
}

impl Api {
    pub fn new(base: &str) -> Result<Self> {
        Ok(Self {
            client: load::client(Some(API_TIMEOUT))?,
            base: base.to_owned(),
        })
    }

    /// The absolute URL of `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Signs up an owner of `namespace` (email `<namespace>@bench.example.com`, a random
    /// password); returns the session token.
    pub async fn signup(&self, namespace: &str) -> Result<String> {
        let signup = self
            .post(
                "/v1/auth/signup",
                None,
                json!({
                    "email": format!("{namespace}@bench.example.com"),
                    "namespace": namespace,
                    "password": server::random_hex(2),
                }),
                StatusCode::CREATED,
            )
            .await?;
        string_at(&signup, "/session/token")
    }

    /// Creates a service of the session's namespace; returns its id.
    pub async fn create_service(&self, token: &str, slug: &str, name: &str) -> Result<String> {
        let service = self
            .post(
                "/v1/services",
                Some(token),
                json!({"slug": slug, "name": name}),
                StatusCode::CREATED,
            )
            .await?;
        string_at(&service, "/id")
    }

    /// Registers an ATP service named `name` in `namespace` with the admin token
    /// (`POST /api/v1/services`), its callback at `callback_url`; returns the service id (its
    /// slug) and its API key.
    pub async fn register_atp_service(
        &self,
        admin_token: &str,
        namespace: &str,
        name: &str,
        callback_url: &str,
    ) -> Result<(String, String)> {
        let registered = self
            .post(
                "/api/v1/services",
                Some(admin_token),
                scenario::registration(name, "assent-bench ATP service", callback_url, namespace),
                StatusCode::CREATED,
            )
            .await?;
        Ok((
            string_at(&registered, "/service_id")?,
            string_at(&registered, "/api_key")?,
        ))
    }

    /// Creates a user token for the ATP client endpoints with the owner's session
    /// (`POST /v1/auth/tokens`); returns the token.
    pub async fn create_user_token(&self, session: &str, name: &str) -> Result<String> {
        let created = self
            .post(
                "/v1/auth/tokens",
                Some(session),
                json!({"name": name}),
                StatusCode::CREATED,
            )
            .await?;
        string_at(&created, "/token")
    }

    /// Sends [`scenario::notification`] titled `title` with a service's API key; returns the
    /// notification's id.
    pub async fn notify(&self, api_key: &str, title: &str) -> Result<String> {
        let created = self
            .post(
                "/api/v1/notifications",
                Some(api_key),
                scenario::notification(title),
                StatusCode::CREATED,
            )
            .await?;
        string_at(&created, "/notification_id")
    }

    /// POSTs JSON and expects `expected` with a JSON body.
    pub async fn post(
        &self,
        path: &str,
        token: Option<&str>,
        body: Value,
        expected: StatusCode,
    ) -> Result<Value> {
        let mut request = self.client.post(self.url(path)).json(&body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        self.expect(&format!("POST {path}"), request, expected)
            .await
    }

    /// Sends `request` (described by `what`, e.g. `POST /v1/claims`) and expects `expected`
    /// with a JSON body.
    pub async fn expect(
        &self,
        what: &str,
        request: RequestBuilder,
        expected: StatusCode,
    ) -> Result<Value> {
        let response = request.send().await.with_context(|| what.to_owned())?;
        let status = response.status();
        let text = response
            .text()
            .await
            .with_context(|| format!("reading the answer to {what}"))?;
        if status != expected {
            let sample: String = text.chars().take(SAMPLE_CHARS).collect();
            bail!("{what} answered {status} (expected {expected}): {sample}");
        }
        serde_json::from_str(&text).with_context(|| format!("{what} answered non-JSON"))
    }
}

/// The string at a JSON pointer, or an error naming it.
pub fn string_at(value: &Value, pointer: &str) -> Result<String> {
    value
        .pointer(pointer)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .ok_or_else(|| anyhow!("the answer has no string at {pointer}: {value}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_are_read_by_pointer() {
        let value = json!({"session": {"token": "ses_x"}, "id": ""});
        assert_eq!(
            string_at(&value, "/session/token").ok().as_deref(),
            Some("ses_x")
        );
        assert!(string_at(&value, "/id").is_err());
        assert!(string_at(&value, "/missing").is_err());
    }
}
