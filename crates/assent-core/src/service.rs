//! Services, and the rules of ATP service registration (`POST /api/v1/services`).

use serde::Serialize;
use url::Url;

use crate::field::{self, FieldError};
use crate::namespace::Namespace;
use crate::outbound::{self, UrlRejection, WebhookUrlPolicy};
use crate::slug::Slug;
use crate::time::Timestamp;

pub const NAME_MAX_CHARS: usize = 100;
pub const DESCRIPTION_MAX_CHARS: usize = 500;
/// ATP lets the service choose its webhook secret; assent sets a floor (`docs/decisions.md`, "ATP registration").
pub const WEBHOOK_SECRET_MIN_CHARS: usize = 16;
pub const WEBHOOK_SECRET_MAX_CHARS: usize = 256;

/// A registered AI service: one row, whichever dialect created it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Service {
    /// A UUID.
    pub id: String,
    pub namespace: String,
    pub slug: String,
    pub name: String,
    pub description: Option<String>,
    pub icon_url: Option<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// The registration body as it arrived: every field optional, so that a missing one becomes a
/// precise `MISSING_REQUIRED_FIELD` instead of a generic parse error.
#[derive(Debug, Clone, Default)]
pub struct AtpRegistrationInput {
    pub name: Option<String>,
    pub description: Option<String>,
    pub callback_url: Option<String>,
    pub webhook_secret: Option<String>,
    pub icon_url: Option<String>,
    pub namespace: Option<String>,
}

/// A registration that passed every rule that needs no database.
#[derive(Clone, PartialEq, Eq)]
pub struct AtpRegistration {
    pub name: String,
    pub slug: Slug,
    pub description: String,
    pub callback_url: Url,
    pub webhook_secret: String,
    pub icon_url: Option<Url>,
    /// The namespace the body asked for; `None` means "the configured default".
    pub namespace: Option<Namespace>,
}

impl std::fmt::Debug for AtpRegistration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AtpRegistration")
            .field("name", &self.name)
            .field("slug", &self.slug)
            .field("callback_url", &self.callback_url.as_str())
            .field("webhook_secret", &"<redacted>")
            .field("namespace", &self.namespace)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegistrationError {
    Field(FieldError),
    CallbackUrl(UrlRejection),
}

impl From<FieldError> for RegistrationError {
    fn from(e: FieldError) -> Self {
        Self::Field(e)
    }
}

impl std::fmt::Display for RegistrationError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Field(e) => e.fmt(f),
            Self::CallbackUrl(r) => write!(f, "the field `callback_url` {r}"),
        }
    }
}

impl std::error::Error for RegistrationError {}

impl AtpRegistrationInput {
    /// Applies the registration rules in the order a client fixes them: required fields
    /// first (in the documented order), then each field's own rules.
    pub fn validate(self, policy: WebhookUrlPolicy) -> Result<AtpRegistration, RegistrationError> {
        let name = field::required("name", self.name.as_deref())?;
        let description = field::required("description", self.description.as_deref())?;
        let callback_url = field::required("callback_url", self.callback_url.as_deref())?;
        // Secrets are taken exactly as given: trimming would change the HMAC key.
        let webhook_secret = match self.webhook_secret {
            Some(s) if !s.is_empty() => s,
            _ => {
                return Err(FieldError::Missing {
                    field: "webhook_secret",
                }
                .into());
            }
        };

        let name = service_name(name)?;
        let slug = Slug::from_name(&name).ok_or_else(|| {
            FieldError::invalid("name", "must contain at least one ASCII letter or digit")
        })?;
        let description = service_description(description)?;
        let callback_url = outbound::check_webhook_url(&callback_url, policy)
            .map_err(RegistrationError::CallbackUrl)?;
        let secret_chars = webhook_secret.chars().count();
        if !(WEBHOOK_SECRET_MIN_CHARS..=WEBHOOK_SECRET_MAX_CHARS).contains(&secret_chars) {
            return Err(FieldError::invalid(
                "webhook_secret",
                format!(
                    "must be {WEBHOOK_SECRET_MIN_CHARS} to {WEBHOOK_SECRET_MAX_CHARS} characters long"
                ),
            )
            .into());
        }
        let icon_url = field::optional(self.icon_url.as_deref())
            .map(|raw| parse_icon_url(&raw))
            .transpose()?;
        let namespace = field::optional(self.namespace.as_deref())
            .map(|raw| Namespace::parse(&raw).map_err(|why| FieldError::invalid("namespace", why)))
            .transpose()?;

        Ok(AtpRegistration {
            name,
            slug,
            description,
            callback_url,
            webhook_secret,
            icon_url,
            namespace,
        })
    }
}

/// A Sigilum-style `POST /v1/services` body as it arrived.
#[derive(Debug, Clone, Default)]
pub struct ServiceInput {
    pub slug: Option<String>,
    pub name: Option<String>,
    pub description: Option<String>,
}

/// A service an owner may create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewServiceFields {
    pub slug: Slug,
    pub name: String,
    pub description: Option<String>,
}

impl ServiceInput {
    pub fn validate(self) -> Result<NewServiceFields, FieldError> {
        let slug = field::required("slug", self.slug.as_deref())?;
        let name = field::required("name", self.name.as_deref())?;
        let slug = Slug::parse(&slug).map_err(|why| FieldError::invalid("slug", why))?;
        let name = service_name(name)?;
        let description = field::optional(self.description.as_deref())
            .map(service_description)
            .transpose()?;
        Ok(NewServiceFields {
            slug,
            name,
            description,
        })
    }
}

/// A checked service name.
pub fn service_name(name: String) -> Result<String, FieldError> {
    field::max_chars("name", &name, NAME_MAX_CHARS)?;
    Ok(name)
}

/// A checked service description.
pub fn service_description(description: String) -> Result<String, FieldError> {
    field::max_chars("description", &description, DESCRIPTION_MAX_CHARS)?;
    Ok(description)
}

/// Icons are shown by client apps, never fetched by the server, so any http(s) URL will do.
fn parse_icon_url(raw: &str) -> Result<Url, FieldError> {
    let invalid = || FieldError::invalid("icon_url", "must be an http or https URL");
    if raw.len() > outbound::MAX_URL_LEN {
        return Err(invalid());
    }
    let url = Url::parse(raw).map_err(|_| invalid())?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(invalid());
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seed() -> AtpRegistrationInput {
        AtpRegistrationInput {
            name: Some("Lovelace IDE".into()),
            description: Some("AI-powered integrated development environment".into()),
            callback_url: Some("https://lovelace.dev/atp/webhook".into()),
            webhook_secret: Some("your-secure-random-string".into()),
            icon_url: None,
            namespace: None,
        }
    }

    const STRICT: WebhookUrlPolicy = WebhookUrlPolicy {
        allow_private: false,
    };

    #[test]
    fn the_seed_request_is_valid() {
        let reg = seed().validate(STRICT).unwrap();
        assert_eq!(reg.slug.as_str(), "lovelace-ide");
        assert_eq!(reg.webhook_secret, "your-secure-random-string");
        assert_eq!(reg.namespace, None);
    }

    #[test]
    fn missing_fields_are_reported_in_documented_order() {
        let err = AtpRegistrationInput::default()
            .validate(STRICT)
            .unwrap_err();
        assert_eq!(
            err,
            RegistrationError::Field(FieldError::Missing { field: "name" })
        );
        let input = AtpRegistrationInput {
            callback_url: None,
            webhook_secret: None,
            ..seed()
        };
        assert_eq!(
            input.validate(STRICT).unwrap_err(),
            RegistrationError::Field(FieldError::Missing {
                field: "callback_url"
            })
        );
        let input = AtpRegistrationInput {
            webhook_secret: Some(String::new()),
            ..seed()
        };
        assert_eq!(
            input.validate(STRICT).unwrap_err(),
            RegistrationError::Field(FieldError::Missing {
                field: "webhook_secret"
            })
        );
    }

    #[test]
    fn callback_must_be_https_and_public() {
        let input = AtpRegistrationInput {
            callback_url: Some("http://lovelace.dev/hook".into()),
            ..seed()
        };
        assert_eq!(
            input.validate(STRICT).unwrap_err(),
            RegistrationError::CallbackUrl(UrlRejection::NotHttps)
        );
    }

    #[test]
    fn short_secrets_and_bad_namespaces_are_invalid() {
        let input = AtpRegistrationInput {
            webhook_secret: Some("short".into()),
            ..seed()
        };
        let err = input.validate(STRICT).unwrap_err();
        assert!(matches!(
            err,
            RegistrationError::Field(FieldError::Invalid {
                field: "webhook_secret",
                ..
            })
        ));
        let input = AtpRegistrationInput {
            namespace: Some("Not A Namespace".into()),
            ..seed()
        };
        let err = input.validate(STRICT).unwrap_err();
        assert!(matches!(
            err,
            RegistrationError::Field(FieldError::Invalid {
                field: "namespace",
                ..
            })
        ));
    }

    #[test]
    fn a_name_without_a_slug_is_invalid() {
        let input = AtpRegistrationInput {
            name: Some("!!!".into()),
            ..seed()
        };
        let err = input.validate(STRICT).unwrap_err();
        assert!(matches!(
            err,
            RegistrationError::Field(FieldError::Invalid { field: "name", .. })
        ));
    }

    #[test]
    fn icon_urls_must_be_web_urls() {
        let input = AtpRegistrationInput {
            icon_url: Some("javascript:alert(1)".into()),
            ..seed()
        };
        let err = input.validate(STRICT).unwrap_err();
        assert!(matches!(
            err,
            RegistrationError::Field(FieldError::Invalid {
                field: "icon_url",
                ..
            })
        ));
        let input = AtpRegistrationInput {
            icon_url: Some("https://lovelace.dev/icon.png".into()),
            ..seed()
        };
        assert!(input.validate(STRICT).is_ok());
    }

    #[test]
    fn debug_output_never_shows_the_secret() {
        let reg = seed().validate(STRICT).unwrap();
        assert!(!format!("{reg:?}").contains("your-secure-random-string"));
    }
}

#[cfg(test)]
mod service_input_tests {
    use super::*;

    #[test]
    fn slug_and_name_are_required_and_checked() {
        let ok = ServiceInput {
            slug: Some("billing".into()),
            name: Some(" Billing ".into()),
            description: Some("  ".into()),
        }
        .validate()
        .unwrap();
        assert_eq!(
            (ok.slug.as_str(), ok.name.as_str(), ok.description),
            ("billing", "Billing", None)
        );
        let field = |slug: &str, name: &str| {
            ServiceInput {
                slug: Some(slug.into()),
                name: Some(name.into()),
                description: None,
            }
            .validate()
            .unwrap_err()
            .field()
        };
        assert_eq!(field("", "x"), "slug");
        assert_eq!(field("Not_A_Slug", "x"), "slug");
        assert_eq!(field("ok", ""), "name");
        assert_eq!(field("ok", &"n".repeat(101)), "name");
    }
}
