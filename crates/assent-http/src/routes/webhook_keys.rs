//! The Ed25519 public keys a namespace's webhooks sign with (Standard Webhooks `v1a`), as a
//! JWK Set (RFC 7517, with RFC 8037 `OKP` keys) and as verification methods of its DID
//! document, so a receiver can verify deliveries with no shared secret.

use actix_web::http::header::CACHE_CONTROL;
use actix_web::{HttpResponse, web};
use assent_app::webhooks;
use assent_auth::standard_webhooks::{jwk_x, public_key_bytes};
use assent_core::{FieldError, Namespace};
use assent_store::PublishedKey;
use serde::Serialize;
use serde_json::{Value, json};
use utoipa::ToSchema;

use crate::error::{ApiError, SigilumError};
use crate::state::AppState;

/// One public key (RFC 8037): `kty` `OKP`, `crv` `Ed25519`, `x` the raw key in base64url.
#[derive(Debug, Serialize, ToSchema)]
pub struct Jwk {
    #[schema(example = "OKP")]
    pub kty: &'static str,
    #[schema(example = "Ed25519")]
    pub crv: &'static str,
    #[schema(example = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo")]
    pub x: String,
    /// The webhook's id.
    #[schema(example = "wh_3f9a0c1d2e4b5a6978695a4b")]
    pub kid: String,
    #[schema(example = "sig")]
    #[serde(rename = "use")]
    pub usage: &'static str,
    #[schema(example = "EdDSA")]
    pub alg: &'static str,
}

/// A JWK Set: the namespace's webhook keys, oldest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct Jwks {
    pub keys: Vec<Jwk>,
}

impl Jwk {
    fn of(key: &PublishedKey) -> Option<Self> {
        Some(Self {
            kty: "OKP",
            crv: "Ed25519",
            x: jwk_x(&key.public_key)?,
            kid: key.webhook_id.clone(),
            usage: "sig",
            alg: "EdDSA",
        })
    }
}

/// The public keys that sign a namespace's webhooks (`v1a`), as a JWK Set (public).
#[utoipa::path(get, path = "/v1/namespaces/{namespace}/jwks.json", operation_id = "getWebhookJwks", tag = "webhooks",
    params(("namespace" = String, Path, description = "The namespace")),
    responses(
        (status = 200, description = "The JWK Set", body = Jwks, content_type = "application/jwk-set+json"),
        (status = 400, description = "`VALIDATION_ERROR`", body = SigilumError),
        (status = 404, description = "`NOT_FOUND`", body = SigilumError),
    ))]
pub async fn jwks(
    state: web::Data<AppState>,
    namespace: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let namespace = Namespace::parse(&namespace)
        .map_err(|why| ApiError::validation(&FieldError::invalid("namespace", why)))?;
    let keys = webhooks::published_keys(&state.app, &namespace).await?;
    let set = Jwks {
        keys: keys.iter().filter_map(Jwk::of).collect(),
    };
    Ok(HttpResponse::Ok()
        .insert_header((CACHE_CONTROL, "public, max-age=300"))
        .content_type("application/jwk-set+json")
        .body(serde_json::to_string(&set).unwrap_or_default()))
}

/// The DID document's verification methods for the webhook keys: `#webhook-<id>`, an
/// `Ed25519VerificationKey2020` with the key as a `did:key`-style multibase, as for agent keys.
pub fn verification_methods(did: &str, keys: &[PublishedKey]) -> Vec<Value> {
    keys.iter()
        .filter_map(|key| {
            let bytes = public_key_bytes(&key.public_key)?;
            let did_key = assent_auth::rfc9421::did_key(&bytes);
            Some(json!({
                "id": format!("{did}#webhook-{}", key.webhook_id),
                "type": "Ed25519VerificationKey2020",
                "controller": did,
                "publicKeyMultibase": did_key.trim_start_matches("did:key:"),
            }))
        })
        .collect()
}
