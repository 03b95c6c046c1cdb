//! Configuration: a typed struct from, in order of precedence, command-line flags,
//! `ASSENT_*` environment variables, an optional TOML file (`--config`), and defaults.
//! Every problem is reported at start with the name of the setting, never as a panic.
//!
//! Each setting is declared once, as a row of the table in `settings.rs`; `declare.rs` turns
//! the rows into clap arguments and descriptors, `file.rs` reads the TOML file,
//! `secret_files.rs` the files that `ASSENT_*_FILE` variables name, and
//! `resolve.rs` checks the merged values and builds what the server runs with, and
//! `reference.rs` writes the settings tables of `docs/configuration.md`.

mod declare;
mod file;
pub mod reference;
mod resolve;
pub mod secret_files;
mod settings;

pub use file::FileConfig;
pub use resolve::{ServeConfig, StorageConfig};
pub use settings::{LogFormat, ServeArgs, StorageArgs};

#[cfg(test)]
mod tests;
