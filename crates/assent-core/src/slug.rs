//! Service slugs: the stable, URL-safe name of a service inside its namespace. In the ATP
//! dialect the slug is the `service_id`.

use std::fmt;

use serde::Serialize;

/// 1 to 64 characters of `a-z`, `0-9` and `-`, starting and ending with a letter or digit.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct Slug(String);

pub const SLUG_MAX_LEN: usize = 64;

impl Slug {
    /// Accepts a slug exactly as given, or says why not.
    pub fn parse(value: &str) -> Result<Self, &'static str> {
        if value.is_empty() || value.len() > SLUG_MAX_LEN {
            return Err("must be 1 to 64 characters long");
        }
        if !value
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            return Err("may contain only lowercase letters, digits and hyphens");
        }
        if value.starts_with('-') || value.ends_with('-') {
            return Err("must start and end with a letter or digit");
        }
        Ok(Self(value.to_owned()))
    }

    /// Derives a slug from a human name: `Lovelace IDE` becomes `lovelace-ide`. ASCII letters
    /// and digits are kept (lowercased), every other run of characters becomes one hyphen, and
    /// the result is cut to 64 characters. `None` when the name has no ASCII letter or digit.
    pub fn from_name(name: &str) -> Option<Self> {
        let mut slug = String::with_capacity(name.len());
        let mut pending_hyphen = false;
        for c in name.chars() {
            if c.is_ascii_alphanumeric() {
                if pending_hyphen && !slug.is_empty() {
                    slug.push('-');
                }
                pending_hyphen = false;
                slug.push(c.to_ascii_lowercase());
            } else {
                pending_hyphen = true;
            }
        }
        slug.truncate(SLUG_MAX_LEN);
        let slug = slug.trim_end_matches('-');
        Self::parse(slug).ok()
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

impl fmt::Display for Slug {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derives_the_seed_example() {
        assert_eq!(
            Slug::from_name("Lovelace IDE").map(Slug::into_string),
            Some("lovelace-ide".to_owned())
        );
    }

    #[test]
    fn collapses_separators_and_trims_edges() {
        let slug = Slug::from_name("  --Ada's  Büro__Tool 2!-- ").map(Slug::into_string);
        assert_eq!(slug, Some("ada-s-b-ro-tool-2".to_owned()));
    }

    #[test]
    fn names_without_ascii_alphanumerics_have_no_slug() {
        assert_eq!(Slug::from_name("!!! ***"), None);
        assert_eq!(Slug::from_name("日本語"), None);
    }

    #[test]
    fn long_names_are_cut_without_a_trailing_hyphen() {
        let name = format!("{} b", "a".repeat(63));
        let slug = Slug::from_name(&name)
            .map(Slug::into_string)
            .unwrap_or_default();
        assert_eq!(slug, "a".repeat(63));
    }

    #[test]
    fn parse_enforces_the_rules() {
        assert!(Slug::parse("lovelace-ide").is_ok());
        assert!(Slug::parse("a").is_ok());
        assert!(Slug::parse("").is_err());
        assert!(Slug::parse("Lovelace").is_err());
        assert!(Slug::parse("-x").is_err());
        assert!(Slug::parse("x-").is_err());
        assert!(Slug::parse("a b").is_err());
        assert!(Slug::parse(&"a".repeat(65)).is_err());
    }
}
