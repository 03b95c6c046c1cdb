//! The optional TOML file (`--config`): the same keys as the flags, in snake case, at the top
//! level. It is the lowest layer but the defaults: flags and environment variables win.

use std::path::Path;

use anyhow::Context;
use serde::Deserialize;

use crate::config::settings::{ServeArgs, StorageArgs};

/// The settings a TOML file gives.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    #[serde(flatten)]
    pub storage: StorageArgs,
    #[serde(flatten)]
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
