//! Accounts: the humans who own namespaces, and the rules of signing up.

use unicode_normalization::UnicodeNormalization;
use unicode_properties::{GeneralCategory, UnicodeGeneralCategory};
use unicode_security::MixedScript;

use crate::field::{self, FieldError};
use crate::namespace::Namespace;

pub const EMAIL_MAX_CHARS: usize = 254;
pub const PASSWORD_MIN_CHARS: usize = 8;
pub const PASSWORD_MAX_CHARS: usize = 256;

/// How long an invite made by `assent account invite` stays usable.
pub const INVITE_TTL: std::time::Duration = std::time::Duration::from_secs(7 * 24 * 3600);

/// How long a password reset link stays usable.
pub const PASSWORD_RESET_TTL: std::time::Duration = std::time::Duration::from_secs(3600);

/// Who may sign up by themselves (`ASSENT_SIGNUP`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum SignupPolicy {
    /// Anyone who can reach the server.
    #[default]
    Open,
    /// Only with an invite (`assent account invite`), for the invited email.
    Invite,
    /// Nobody: accounts are made with `assent account create`.
    Closed,
}

/// A signup body as it arrived.
#[derive(Debug, Clone, Default)]
pub struct SignupInput {
    pub email: Option<String>,
    pub namespace: Option<String>,
    pub password: Option<String>,
    /// An invite token (`inv_…`): required when signup is by invite only.
    pub invite: Option<String>,
}

/// A signup that passed every rule that needs no database.
#[derive(Clone, PartialEq, Eq)]
pub struct Signup {
    /// Normalised by [`normalize_email`].
    pub email: String,
    pub namespace: Namespace,
    pub password: String,
    pub invite: Option<String>,
}

impl std::fmt::Debug for Signup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signup")
            .field("email", &self.email)
            .field("namespace", &self.namespace)
            .field("password", &"<redacted>")
            .field("invite", &self.invite.as_ref().map(|_| "<redacted>"))
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
            invite: field::optional(self.invite.as_deref()),
        })
    }
}

/// One `@` with something on both sides, a dot in the domain, no spaces: enough to catch
/// typos; the address is never mailed. Returns it normalised by [`normalize_email`].
///
/// Two addresses that look alike must not become two accounts, so an address is refused
/// when it holds an invisible character (a control, a format character such as a zero-width
/// space or a bidi control, or any default-ignorable code point), and when its local part or
/// its domain mixes scripts (a Cyrillic `а` among Latin letters). An address written wholly in
/// another script is accepted.
pub fn parse_email(raw: &str) -> Result<String, FieldError> {
    let invalid = || FieldError::invalid("email", "must be an email address");
    if raw.trim().chars().any(is_invisible) {
        return Err(FieldError::invalid(
            "email",
            "must not contain invisible or control characters",
        ));
    }
    let email = normalize_email(raw);
    if email.chars().count() > EMAIL_MAX_CHARS || email.chars().any(char::is_whitespace) {
        return Err(invalid());
    }
    // Compatibility mappings may produce what the raw text did not show.
    if email.chars().any(is_invisible) {
        return Err(FieldError::invalid(
            "email",
            "must not contain invisible or control characters",
        ));
    }
    let (local, domain) = email.split_once('@').ok_or_else(invalid)?;
    let domain_ok = domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains('@');
    if local.is_empty() || !domain_ok {
        return Err(invalid());
    }
    if !local.is_single_script() || !domain.is_single_script() {
        return Err(FieldError::invalid(
            "email",
            "must not mix scripts in its local part or its domain",
        ));
    }
    Ok(email)
}

/// The one form an email is stored and compared in: trimmed, Unicode NFKC, lowercased (so
/// that a full-width `Ａ` and `a` are the same letter). Logging in uses it without the rules
/// of [`parse_email`], so an address that could never be stored simply finds no account.
pub fn normalize_email(raw: &str) -> String {
    raw.trim().nfkc().collect::<String>().to_lowercase()
}

/// A character that shows nothing, or changes how its neighbours show: Unicode controls
/// (`Cc`), format characters (`Cf`: zero-width spaces and joiners, bidi controls, the BOM)
/// and default-ignorable code points (variation selectors, fillers).
fn is_invisible(c: char) -> bool {
    c.is_control() || c.general_category() == GeneralCategory::Format || is_default_ignorable(c)
}

/// `Default_Ignorable_Code_Point` of Unicode's DerivedCoreProperties.txt (stable since 2007;
/// no crate we use exposes it).
fn is_default_ignorable(c: char) -> bool {
    const RANGES: &[(char, char)] = &[
        ('\u{00AD}', '\u{00AD}'),
        ('\u{034F}', '\u{034F}'),
        ('\u{061C}', '\u{061C}'),
        ('\u{115F}', '\u{1160}'),
        ('\u{17B4}', '\u{17B5}'),
        ('\u{180B}', '\u{180F}'),
        ('\u{200B}', '\u{200F}'),
        ('\u{202A}', '\u{202E}'),
        ('\u{2060}', '\u{206F}'),
        ('\u{3164}', '\u{3164}'),
        ('\u{FE00}', '\u{FE0F}'),
        ('\u{FEFF}', '\u{FEFF}'),
        ('\u{FFA0}', '\u{FFA0}'),
        ('\u{FFF0}', '\u{FFF8}'),
        ('\u{1BCA0}', '\u{1BCA3}'),
        ('\u{1D173}', '\u{1D17A}'),
        ('\u{E0000}', '\u{E0FFF}'),
    ];
    RANGES.iter().any(|&(low, high)| (low..=high).contains(&c))
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
            invite: None,
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

    #[test]
    fn emails_are_normalised_to_one_form() {
        // Full-width letters and a compatibility ligature become their plain forms.
        assert_eq!(
            parse_email(" ＡＤＡ@example.com "),
            Ok("ada@example.com".into())
        );
        assert_eq!(parse_email("ﬁ@example.com"), Ok("fi@example.com".into()));
        assert_eq!(normalize_email("ＡＤＡ@Example.com"), "ada@example.com");
        // A whole address in one other script is a real address.
        assert_eq!(parse_email("иван@пример.рф"), Ok("иван@пример.рф".into()));
    }

    #[test]
    fn invisible_characters_are_refused() {
        let refused =
            FieldError::invalid("email", "must not contain invisible or control characters");
        for bad in [
            "a\u{200B}da@example.com",  // zero-width space
            "ada\u{200D}@example.com",  // zero-width joiner
            "ada@exa\u{00AD}mple.com",  // soft hyphen
            "\u{202E}ada@example.com",  // right-to-left override
            "ada@example.com\u{FEFF}",  // byte order mark
            "ad\u{FE0F}a@example.com",  // variation selector
            "ada\u{7}@example.com",     // a control
            "ada@ex\u{E0061}ample.com", // a tag character
            "ada\u{2060}@example.com",  // word joiner
        ] {
            assert_eq!(parse_email(bad), Err(refused.clone()), "{bad:?}");
        }
    }

    #[test]
    fn mixed_scripts_are_refused() {
        let refused = FieldError::invalid(
            "email",
            "must not mix scripts in its local part or its domain",
        );
        // A Cyrillic а (U+0430) among Latin letters, in the local part and in the domain.
        assert_eq!(parse_email("\u{430}da@example.com"), Err(refused.clone()));
        assert_eq!(parse_email("ada@ex\u{430}mple.com"), Err(refused));
    }
}
