//! The `did` scenario: `GET /.well-known/did/did:sigilum:<namespace>`, the public DID document,
//! of a namespace with [`APPROVED_AGENTS`] approved agent keys (the shape the issue measured).
//! Setup goes over the API as for `verify` ([`crate::verify::approved_agents`]); the document
//! must list every approved key before any load is sent.

use anyhow::{Result, bail};
use reqwest::StatusCode;

use crate::api::Api;
use crate::load::Target;
use crate::verify;

/// Approved agent keys in the namespace, so in the document.
pub const APPROVED_AGENTS: usize = 5;

/// Sets the namespace up; returns the path every request gets.
pub async fn prepare(target: &Target, namespace: &str) -> Result<String> {
    let api = Api::new(&target.base)?;
    let agents = verify::approved_agents(&api, namespace, APPROVED_AGENTS).await?;
    let path = document_path(namespace);
    let document = api
        .expect(
            &format!("GET {path}"),
            api.client.get(api.url(&path)),
            StatusCode::OK,
        )
        .await?;
    let listed = document["verificationMethod"]
        .as_array()
        .map_or(0, Vec::len);
    if listed != agents.len() {
        bail!(
            "the DID document lists {listed} keys, not the {} approved: {document}",
            agents.len()
        );
    }
    Ok(path)
}

/// `/.well-known/did/did:sigilum:<namespace>`.
pub fn document_path(namespace: &str) -> String {
    format!("/.well-known/did/did:sigilum:{namespace}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_document_is_at_the_well_known_path_of_the_namespace() {
        assert_eq!(document_path("bench"), "/.well-known/did/did:sigilum:bench");
    }
}
