//! `assent`: the server and its operator commands. This binary only composes the library
//! crates: configuration, wiring, start and stop.

mod commands;
mod config;
mod operations;
mod serve;

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::{CommandFactory, Parser, Subcommand};

use crate::config::{FileConfig, LogFormat, ServeArgs, StorageArgs};

#[derive(Debug, Parser)]
#[command(
    name = "assent",
    version,
    about = "A control plane for human decisions about AI agents"
)]
struct Cli {
    /// A TOML file with settings (keys as the long flags, in snake_case). Flags and
    /// environment variables win over it.
    #[arg(long, env = "ASSENT_CONFIG", value_name = "FILE", global = true)]
    config: Option<PathBuf>,

    #[command(flatten)]
    storage: StorageArgs,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the server (migrates the database first).
    Serve(Box<ServeArgs>),
    /// Apply pending database migrations and exit.
    Migrate,
    /// Create, list or revoke admin tokens.
    AdminToken {
        #[command(subcommand)]
        action: commands::AdminTokenAction,
    },
    /// Manage namespace owners' accounts: create, list, disable, enable, delete, invite,
    /// reset a password.
    Account {
        #[command(subcommand)]
        action: commands::AccountAction,
    },
    /// Create, list or revoke user tokens of owners' ATP client apps.
    Token {
        #[command(subcommand)]
        action: commands::TokenAction,
    },
    /// Serve the Model Context Protocol over stdio for a local agent (Claude Code, an IDE),
    /// bridged to an assent server's /mcp endpoint with a service API key.
    Mcp {
        /// The assent server's URL (`/mcp` is added unless the URL already ends with it).
        #[arg(long, env = "ASSENT_URL", value_name = "URL")]
        url: url::Url,
        /// A service API key of that server (prefer the environment variable: arguments are
        /// visible to other users of the machine).
        #[arg(
            long,
            env = "ASSENT_API_KEY",
            value_name = "KEY",
            hide_env_values = true
        )]
        api_key: String,
    },
    /// Write a consistent copy of the SQLite database to a new file while the server runs.
    Backup(operations::BackupArgs),
    /// Copy every row of one database into another, empty one (SQLite ⇄ PostgreSQL), then
    /// verify row counts and checksums.
    Copy(operations::CopyArgs),
    /// Print the OpenAPI document.
    Openapi,
    /// Print the settings reference of docs/configuration.md, generated from the settings
    /// table (with --write, replace the generated part of that file instead).
    ConfigReference {
        /// The document whose generated part to replace.
        #[arg(long, value_name = "FILE")]
        write: Option<PathBuf>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let file = cli
        .config
        .as_deref()
        .map(FileConfig::load)
        .transpose()?
        .unwrap_or_default();
    let storage = config::secret_files::from_environment(cli.storage)?
        .or(file.storage)
        .resolve()?;
    init_logging(&storage.log, storage.log_format)?;
    match cli.command {
        Command::Serve(args) => {
            let args = config::secret_files::from_environment(*args)?;
            serve::run(storage, args.or(file.serve).resolve()?)
        }
        Command::Migrate => commands::migrate(&storage),
        Command::AdminToken { action } => commands::admin_token(&storage, action),
        Command::Account { action } => commands::account(&storage, action),
        Command::Token { action } => commands::token(&storage, action),
        Command::Mcp { url, api_key } => mcp(url, api_key),
        Command::Backup(args) => operations::backup(&storage, &args),
        Command::Copy(args) => operations::copy(&storage, &args),
        Command::Openapi => {
            print!("{}", assent_http::openapi::document_json());
            Ok(())
        }
        Command::ConfigReference { write } => config_reference(write.as_deref()),
    }
}

/// `assent mcp`: stdin and stdout bridged to the server's `/mcp` until stdin closes.
fn mcp(url: url::Url, api_key: String) -> anyhow::Result<()> {
    let endpoint = if url.path().trim_end_matches('/').ends_with("/mcp") {
        url
    } else {
        let mut base = url;
        if !base.path().ends_with('/') {
            base.set_path(&format!("{}/", base.path()));
        }
        base.join("mcp")
            .context("the server URL cannot take a path")?
    };
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the runtime")?
        .block_on(assent_mcp::stdio::run(endpoint, api_key))
}

fn config_reference(write: Option<&Path>) -> anyhow::Result<()> {
    let generated = config::reference::markdown(&Cli::command())?;
    let Some(path) = write else {
        print!("{generated}");
        return Ok(());
    };
    let document =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let updated = config::reference::splice(&document, &generated)
        .with_context(|| format!("cannot update {}", path.display()))?;
    std::fs::write(path, updated).with_context(|| format!("cannot write {}", path.display()))
}

/// Logs go to stderr; stdout is kept for what a command prints for the user (a new token).
fn init_logging(filter: &str, format: LogFormat) -> anyhow::Result<()> {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;

    let filter = tracing_subscriber::EnvFilter::try_new(filter)
        .map_err(|e| anyhow::anyhow!("ASSENT_LOG: `{filter}` is not a valid filter: {e}"))?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    let client_faults = tracing_subscriber::filter::filter_fn(|event| !is_client_fault(event));
    match format {
        LogFormat::Text => builder.finish().with(client_faults).init(),
        LogFormat::Json => builder.json().finish().with(client_faults).init(),
    }
    Ok(())
}

/// actix-http's connection errors: a malformed request (bad request line or header, a head
/// too large) or a client gone mid-write. Each is the client's doing, already answered (400,
/// 431) and logged by actix-http at TRACE; its second line, at ERROR, would page an operator
/// for someone else's bad request. The server's own failures are logged by assent itself.
fn is_client_fault(event: &tracing::Metadata<'_>) -> bool {
    *event.level() == tracing::Level::ERROR && event.target() == "actix_http::h1::dispatcher"
}
