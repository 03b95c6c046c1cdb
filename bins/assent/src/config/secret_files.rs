//! Secret settings read from files: for each setting marked `secret` in the table,
//! `ASSENT_<NAME>_FILE` may name a file that holds the value (as container platforms mount
//! secrets), so that a credential is in neither the process list nor the environment. The
//! file's text, less one trailing newline, counts as the environment variable would: a flag or
//! the variable itself given as well is an error, and either wins over the TOML file.

use std::ffi::OsString;
use std::path::PathBuf;

use anyhow::{Context, bail};

use crate::config::declare::Group;

/// `args` (from flags and the environment) with its secrets filled from the files that the
/// process environment names.
pub fn from_environment<G: Group>(args: G) -> anyhow::Result<G> {
    read(args, |name| std::env::var_os(name))
}

/// `args` with its secrets filled from the files that `env` names.
pub fn read<G: Group>(mut args: G, env: impl Fn(&str) -> Option<OsString>) -> anyhow::Result<G> {
    for setting in G::settings().iter().filter(|setting| setting.secret) {
        let Some(path) = env(setting.env_file).map(PathBuf::from) else {
            continue;
        };
        if args.is_set(setting.key) {
            bail!(
                "{} and {} (or {}) are both set: set only one",
                setting.env_file,
                setting.env,
                setting.flag()
            );
        }
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("{}: cannot read {}", setting.env_file, path.display()))?;
        if !args.set_text(setting.key, without_one_newline(&text)) {
            bail!(
                "{}: {} holds no valid value",
                setting.env_file,
                path.display()
            );
        }
    }
    Ok(args)
}

/// `text` less one trailing `\n` or `\r\n`, which editors and `echo` add.
fn without_one_newline(text: &str) -> &str {
    text.strip_suffix("\r\n")
        .or_else(|| text.strip_suffix('\n'))
        .unwrap_or(text)
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;
    use crate::config::{FileConfig, ServeArgs, StorageArgs};

    fn environment(
        pairs: &[(&str, &std::path::Path)],
    ) -> impl Fn(&str) -> Option<OsString> + use<> {
        let map: HashMap<String, OsString> = pairs
            .iter()
            .map(|(name, path)| ((*name).to_owned(), path.as_os_str().to_owned()))
            .collect();
        move |name| map.get(name).cloned()
    }

    #[test]
    fn a_secret_is_the_file_text_less_one_trailing_newline() {
        let dir = tempfile::tempdir().unwrap();
        let token = dir.path().join("token");
        std::fs::write(&token, "adm_from_a_file_0123456789\n").unwrap();
        let url = dir.path().join("url");
        std::fs::write(&url, "sqlite:///srv/a.db\r\n").unwrap();
        let key = dir.path().join("key");
        std::fs::write(&key, "two newlines\n\n").unwrap();
        let env = environment(&[
            ("ASSENT_ADMIN_TOKEN_FILE", &token),
            ("ASSENT_SECRET_KEY_FILE", &key),
            ("ASSENT_DATABASE_URL_FILE", &url),
        ]);
        let serve = read(ServeArgs::default(), &env).unwrap();
        assert_eq!(
            serve.admin_token.as_deref(),
            Some("adm_from_a_file_0123456789")
        );
        assert_eq!(serve.secret_key.as_deref(), Some("two newlines\n"));
        let storage = read(StorageArgs::default(), &env).unwrap();
        assert_eq!(storage.database_url.as_deref(), Some("sqlite:///srv/a.db"));
    }

    #[test]
    fn a_secret_file_wins_over_the_configuration_file() {
        let dir = tempfile::tempdir().unwrap();
        let token = dir.path().join("token");
        std::fs::write(&token, "adm_from_a_file_0123456789").unwrap();
        let file: FileConfig = toml::from_str("admin_token = \"adm_from_the_toml_file\"").unwrap();
        let env = environment(&[("ASSENT_ADMIN_TOKEN_FILE", &token)]);
        let serve = read(ServeArgs::default(), env).unwrap().or(file.serve);
        assert_eq!(
            serve.admin_token.as_deref(),
            Some("adm_from_a_file_0123456789")
        );
    }

    #[test]
    fn a_secret_given_both_ways_is_an_error_naming_both() {
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("key");
        std::fs::write(&key, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=").unwrap();
        let given = ServeArgs {
            secret_key: Some("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=".into()),
            ..Default::default()
        };
        let error = read(given, environment(&[("ASSENT_SECRET_KEY_FILE", &key)]))
            .unwrap_err()
            .to_string();
        assert!(error.contains("ASSENT_SECRET_KEY_FILE"), "{error}");
        assert!(error.contains("ASSENT_SECRET_KEY "), "{error}");
    }

    #[test]
    fn an_unreadable_secret_file_is_an_error_naming_its_variable() {
        let missing = std::path::Path::new("/nonexistent/assent/token");
        let env = environment(&[("ASSENT_ADMIN_TOKEN_FILE", missing)]);
        let error = format!("{:#}", read(ServeArgs::default(), env).unwrap_err());
        assert!(
            error.starts_with("ASSENT_ADMIN_TOKEN_FILE: cannot read /nonexistent/assent/token"),
            "{error}"
        );
    }

    #[test]
    fn only_secret_settings_have_a_file_variable() {
        let env = |name: &str| (name == "ASSENT_BIND_FILE").then(|| OsString::from("/x"));
        let serve = read(ServeArgs::default(), env).unwrap();
        assert!(serve.bind.is_none());
        let secrets: Vec<&str> = StorageArgs::SETTINGS
            .iter()
            .chain(ServeArgs::SETTINGS)
            .filter(|setting| setting.secret)
            .map(|setting| setting.env_file)
            .collect();
        assert_eq!(
            secrets,
            [
                "ASSENT_DATABASE_URL_FILE",
                "ASSENT_ADMIN_TOKEN_FILE",
                "ASSENT_SECRET_KEY_FILE",
                "ASSENT_METRICS_TOKEN_FILE",
                "ASSENT_SMTP_URL_FILE",
                "ASSENT_VAPID_PRIVATE_KEY_FILE",
            ]
        );
    }
}
