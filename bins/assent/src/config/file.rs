//! The optional TOML file (`--config`): the same keys as the flags, in snake case, at the top
//! level. It is the lowest layer but the defaults: flags and environment variables win.
//!
//! The file is read key by key into the groups of settings, rather than with serde's
//! `flatten`, which buffers the values and so loses their positions: every error names the
//! line and column of the key or value at fault.

use std::fmt;
use std::path::Path;
use std::sync::LazyLock;

use anyhow::Context;
use serde::Deserialize;
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, Visitor};

use crate::config::settings::{ServeArgs, StorageArgs};

/// The settings a TOML file gives.
#[derive(Debug, Default)]
pub struct FileConfig {
    pub storage: StorageArgs,
    pub serve: ServeArgs,
}

impl FileConfig {
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the configuration file {}", path.display()))?;
        toml::from_str(&text)
            .with_context(|| format!("invalid configuration file {}", path.display()))
    }
}

/// Every key a file may have.
static KEYS: LazyLock<Vec<&'static str>> = LazyLock::new(|| {
    StorageArgs::SETTINGS
        .iter()
        .chain(ServeArgs::SETTINGS)
        .map(|setting| setting.key)
        .collect()
});

impl<'de> Deserialize<'de> for FileConfig {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(Settings)
    }
}

struct Settings;

impl<'de> Visitor<'de> for Settings {
    type Value = FileConfig;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a table of settings")
    }

    fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<FileConfig, M::Error> {
        let mut file = FileConfig::default();
        while let Some(key) = map.next_key_seed(Key)? {
            if !file.storage.read_toml_value(&key, &mut map)?
                && !file.serve.read_toml_value(&key, &mut map)?
            {
                return Err(de::Error::custom(format!("`{key}` has no group")));
            }
        }
        Ok(file)
    }
}

/// A key, refused while it is read if it is no setting's, so that the error points at it.
struct Key;

impl<'de> DeserializeSeed<'de> for Key {
    type Value = String;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<String, D::Error> {
        let key = String::deserialize(deserializer)?;
        if KEYS.contains(&key.as_str()) {
            return Ok(key);
        }
        let hint = closest(&key)
            .map(|known| format!(" (did you mean `{known}`?)"))
            .unwrap_or_default();
        Err(de::Error::custom(format!("unknown field `{key}`{hint}")))
    }
}

/// The known key at most two edits away from `key`, if any.
fn closest(key: &str) -> Option<&'static str> {
    KEYS.iter()
        .map(|known| (edit_distance(key, known), *known))
        .filter(|(distance, _)| *distance <= 2)
        .min()
        .map(|(_, known)| known)
}

/// Levenshtein distance, by characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = (above + 1)
                .min(row[j] + 1)
                .min(diagonal + usize::from(ca != *cb));
            diagonal = above;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error_of(text: &str) -> String {
        toml::from_str::<FileConfig>(text).unwrap_err().to_string()
    }

    #[test]
    fn a_wrong_value_is_reported_at_its_own_line() {
        let error = error_of("bind = \"127.0.0.1:1\"\nlog = \"info\"\n\nworkers = \"two\"\n");
        assert!(error.contains("line 4, column 11"), "{error}");
        assert!(error.contains("expected usize"), "{error}");
    }

    #[test]
    fn an_unknown_key_is_reported_at_its_line_with_the_closest_known_one() {
        let error = error_of("log = \"info\"\nbnid = \"127.0.0.1:1\"\n");
        assert!(error.contains("line 2, column 1"), "{error}");
        assert!(
            error.contains("unknown field `bnid` (did you mean `bind`?)"),
            "{error}"
        );
        let error = error_of("bind = \"127.0.0.1:1\"\nconfig = \"other.toml\"\n");
        assert!(error.contains("line 2"), "{error}");
        assert!(error.contains("unknown field `config`"), "{error}");
        assert!(!error.contains("did you mean"), "{error}");
    }

    #[test]
    fn keys_of_both_groups_are_read() {
        let file: FileConfig = toml::from_str("log = \"debug\"\nbind = \"0.0.0.0:1\"").unwrap();
        assert_eq!(file.storage.log.as_deref(), Some("debug"));
        assert_eq!(file.serve.bind.as_deref(), Some("0.0.0.0:1"));
    }
}
