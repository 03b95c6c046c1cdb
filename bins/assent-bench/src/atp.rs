//! The setup of the ATP scenarios (`notify`, `respond`), over the API as an operator and a
//! user would do it: sign up the owner of a fresh namespace `atp-<run id>` (so a reused
//! database needs no other `--namespace`), then register an ATP service in it with the admin
//! token. The service's API key sends notifications; the owner's session makes user tokens.

use anyhow::{Context, Result};

use crate::api::Api;
use crate::load::Target;

/// The service a run registers, and its namespace's owner.
#[derive(Debug)]
pub struct AtpService {
    pub namespace: String,
    /// The owner's session token.
    pub session: String,
    /// The ATP `service_id` (the slug of its name).
    pub service_id: String,
    pub api_key: String,
}

/// Signs up the owner of `atp-<run_id>` and registers a service there whose
/// `notification.responded` webhooks go to `callback_url`.
pub async fn set_up(
    api: &Api,
    target: &Target,
    run_id: &str,
    callback_url: &str,
) -> Result<AtpService> {
    let admin_token = target
        .admin_token
        .as_deref()
        .context("registering an ATP service needs the admin token")?;
    let namespace = format!("atp-{run_id}");
    let session = api.signup(&namespace).await?;
    let (service_id, api_key) = api
        .register_atp_service(
            admin_token,
            &namespace,
            &format!("assent-bench {run_id}"),
            callback_url,
        )
        .await?;
    Ok(AtpService {
        namespace,
        session,
        service_id,
        api_key,
    })
}
