//! Accounts: the humans who own namespaces, and the rules of signing up.

use crate::field::{self, FieldError};
use crate::namespace::Namespace;

pub const EMAIL_MAX_CHARS: usize = 254;
pub const PASSWORD_MIN_CHARS: usize = 8;
pub const PASSWORD_MAX_CHARS: usize = 256;

/// A signup body as it arrived.
#[derive(Debug, Clone, Default)]
pub struct SignupInput {
    pub email: Option<String>,
    pub namespace: Option<String>,
    pub password: Option<String>,
}

/// A signup that passed every rule that needs no database.
#[derive(Clone, PartialEq, Eq)]
pub struct Signup {
    /// Trimmed and lowercased.
    pub email: String,
    pub namespace: Namespace,
    pub password: String,
}

impl std::fmt::Debug for Signup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signup")
            .field("email", &self.email)
            .field("namespace", &self.namespace)
            .field("password", &"<redacted>")
            .finish()
    }
}

impl SignupInput {
    pub fn validate(self) -> Result<Signup, FieldError> {
        let email = field::required("email", self.email.as_deref())?;
        let namespace = field::required("namespace", self.namespace.as_deref())?;
        // Passwords are taken exactly as typed.
        let password = match self.password {
            Some(p) if !p.is_empty() => p,
            _ => return Err(FieldError::Missing { field: "password" }),
        };
        let email = parse_email(&email)?;
        let namespace =
            Namespace::parse(&namespace).map_err(|why| FieldError::invalid("namespace", why))?;
        check_password(&password)?;
        Ok(Signup {
            email,
            namespace,
            password,
        })
    }
}

/// One `@` with something on both sides, a dot in the domain, no spaces: enough to catch
/// typos; the address is never mailed. Returns it lowercased.
pub fn parse_email(raw: &str) -> Result<String, FieldError> {
    let invalid = || FieldError::invalid("email", "must be an email address");
    let email = raw.trim();
    if email.chars().count() > EMAIL_MAX_CHARS || email.chars().any(char::is_whitespace) {
        return Err(invalid());
    }
    let (local, domain) = email.split_once('@').ok_or_else(invalid)?;
    let domain_ok = domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains('@');
    if local.is_empty() || !domain_ok {
        return Err(invalid());
    }
    Ok(email.to_lowercase())
}

pub fn check_password(password: &str) -> Result<(), FieldError> {
    let chars = password.chars().count();
    if !(PASSWORD_MIN_CHARS..=PASSWORD_MAX_CHARS).contains(&chars) {
        return Err(FieldError::invalid(
            "password",
            format!("must be {PASSWORD_MIN_CHARS} to {PASSWORD_MAX_CHARS} characters long"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(email: &str, namespace: &str, password: &str) -> SignupInput {
        SignupInput {
            email: Some(email.into()),
            namespace: Some(namespace.into()),
            password: Some(password.into()),
        }
    }

    #[test]
    fn a_valid_signup_is_normalised() {
        let signup = input(" Ada@Example.COM ", "ada", "correct horse")
            .validate()
            .unwrap();
        assert_eq!(signup.email, "ada@example.com");
        assert_eq!(signup.namespace.as_str(), "ada");
        assert!(!format!("{signup:?}").contains("correct horse"));
    }

    #[test]
    fn each_rule_names_its_field() {
        let field = |i: SignupInput| i.validate().unwrap_err().field();
        assert_eq!(field(SignupInput::default()), "email");
        assert_eq!(field(input("ada", "ada", "correct horse")), "email");
        assert_eq!(
            field(input("ada@example.com", "A!", "correct horse")),
            "namespace"
        );
        assert_eq!(field(input("ada@example.com", "ada", "short")), "password");
        assert_eq!(field(input("ada@example.com", "ada", "")), "password");
    }

    #[test]
    fn email_plausibility() {
        assert!(parse_email("ada@example.com").is_ok());
        for bad in [
            "ada",
            "@example.com",
            "ada@",
            "ada@example",
            "a b@example.com",
            "a@b@c.com",
            "ada@.com",
        ] {
            assert!(parse_email(bad).is_err(), "{bad}");
        }
    }
}
