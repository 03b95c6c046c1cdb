//! `assent-bench`: starts the real `assent` server, drives concurrent keep-alive connections
//! at one endpoint for a fixed time and prints requests/s, latency percentiles, errors by
//! status and the server's resident memory. It measures; it never asserts.
//!
//! `cargo run --release -p assent-bench -- --scenario health --connections 64 --duration 10s`

mod cli;
mod load;
mod report;
mod scenario;
mod server;
mod stats;

use std::fmt;
use std::num::NonZero;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, anyhow, bail};
use clap::Parser;

use crate::cli::Args;
use crate::load::{LoadPlan, Target};
use crate::report::{Figures, Report};
use crate::scenario::ScenarioContext;
use crate::server::{ServerConfig, ServerGuard};
use crate::stats::Recording;

/// A spawned server may still be migrating its database; a `--url` one should be up already.
const READY_TIMEOUT_SPAWNED: Duration = Duration::from_secs(30);
const READY_TIMEOUT_EXTERNAL: Duration = Duration::from_secs(5);

fn main() -> ExitCode {
    let args = Args::parse();
    match run(&args) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => {
            eprintln!("assent-bench: no request succeeded, so there are no figures");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("assent-bench: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// The run was stopped by a signal: no figures, and no server log worth keeping.
#[derive(Debug)]
struct Interrupted(&'static str);

impl fmt::Display for Interrupted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "interrupted by {}", self.0)
    }
}

impl std::error::Error for Interrupted {}

/// The server side of a run, decided before any load.
#[derive(Debug)]
struct Setup {
    target: Arc<Target>,
    /// For the report, e.g. `http://127.0.0.1:41234 (spawned, sqlite)`.
    description: String,
    backend: &'static str,
    /// `None` when targeting a server given with `--url`.
    server: Option<ServerGuard>,
}

/// What the load produced, before it becomes a report.
#[derive(Debug)]
struct Measured {
    recording: Recording,
    rss_idle_mb: Option<f64>,
    rss_end_mb: Option<f64>,
}

/// Runs the benchmark; `Ok(false)` when nothing succeeded.
fn run(args: &Args) -> Result<bool> {
    if cfg!(debug_assertions) {
        eprintln!(
            "warning: this is a debug build; the client's own overhead skews the figures (use --release)"
        );
    }
    let Setup {
        target,
        description,
        backend,
        mut server,
    } = setup(args)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the tokio runtime")?;
    let outcome = runtime.block_on(interruptible(measure(
        args,
        Arc::clone(&target),
        server.as_mut(),
    )));
    let measured = match outcome {
        Ok(measured) => measured,
        Err(e) => return Err(with_server_log(e, server)),
    };
    if let Some(guard) = server.as_mut()
        && let Err(e) = guard.stop()
    {
        return Err(with_server_log(e, server));
    }

    let report = Report {
        scenario: args.scenario,
        connections: args.connections,
        warmup: args.warmup,
        duration: args.duration,
        target: description,
        backend,
        cpus: std::thread::available_parallelism().map_or(1, NonZero::get),
        figures: Figures::from_recording(measured.recording),
        rss_idle_mb: measured.rss_idle_mb,
        rss_end_mb: measured.rss_end_mb,
    };
    // With --json, stdout carries only the JSON line so it can be piped.
    if args.json {
        eprint!("{}", report.human());
        println!("{}", report.json());
    } else {
        print!("{}", report.human());
    }
    Ok(report.figures.requests > 0)
}

/// Either points at the `--url` server or starts one.
fn setup(args: &Args) -> Result<Setup> {
    if let Some(url) = &args.url {
        if args.scenario.needs_admin_token() && args.admin_token.is_none() {
            bail!(
                "--scenario {} needs --admin-token when targeting --url",
                args.scenario.name()
            );
        }
        let base = cli::base_url(url);
        return Ok(Setup {
            description: format!("{base} (external)"),
            target: Arc::new(Target {
                base,
                admin_token: args.admin_token.clone(),
            }),
            backend: "external",
            server: None,
        });
    }

    let bin = server::locate_binary(args.server_bin.as_deref())?;
    let port = match args.port {
        Some(port) => port,
        None => server::free_port()?,
    };
    let backend = backend_name(args.database_url.as_deref());
    let config = ServerConfig {
        bin,
        port,
        database_url: args.database_url.clone(),
        admin_token: args
            .admin_token
            .clone()
            .unwrap_or_else(|| server::random_hex(2)),
        namespace: args.namespace.clone(),
    };
    eprintln!(
        "starting {} on 127.0.0.1:{port} ({backend})",
        config.bin.display()
    );
    let server = ServerGuard::start(&config)?;
    let base = format!("http://127.0.0.1:{port}");
    Ok(Setup {
        description: format!("{base} (spawned, {backend})"),
        target: Arc::new(Target {
            base,
            admin_token: Some(config.admin_token),
        }),
        backend,
        server: Some(server),
    })
}

/// Names the database without printing its URL, which may hold a password.
fn backend_name(database_url: Option<&str>) -> &'static str {
    match database_url {
        None => "sqlite",
        Some(url) if url.starts_with("sqlite:") => "sqlite",
        Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
            "postgres"
        }
        Some(_) => "other",
    }
}

/// Readiness, idle memory, the load, and memory at the end.
async fn measure(
    args: &Args,
    target: Arc<Target>,
    mut server: Option<&mut ServerGuard>,
) -> Result<Measured> {
    let ready_timeout = match server {
        Some(_) => READY_TIMEOUT_SPAWNED,
        None => READY_TIMEOUT_EXTERNAL,
    };
    load::wait_ready(&target, server.as_deref_mut(), ready_timeout).await?;
    let rss_idle_mb = server.as_deref().and_then(ServerGuard::rss_mb);
    if let Some(guard) = server.as_deref() {
        eprintln!(
            "server ready (pid {}, idle RSS {:.1} MiB)",
            guard.pid(),
            rss_idle_mb.unwrap_or(f64::NAN)
        );
    }
    eprintln!(
        "{}: {} connections, {:.1} s warmup, then {:.1} s measured",
        args.scenario.name(),
        args.connections,
        args.warmup.as_secs_f64(),
        args.duration.as_secs_f64()
    );
    let plan = LoadPlan {
        scenario: args.scenario,
        connections: args.connections,
        warmup: args.warmup,
        duration: args.duration,
        context: ScenarioContext {
            run_id: run_id(),
            namespace: args.namespace.clone(),
        },
    };
    let recording = load::run(&plan, target).await?;
    let rss_end_mb = server.as_deref().and_then(ServerGuard::rss_mb);
    Ok(Measured {
        recording,
        rss_idle_mb,
        rss_end_mb,
    })
}

/// Runs `work` unless SIGINT or SIGTERM comes first; then the error unwinds to the server
/// guard, which stops the server instead of orphaning it.
async fn interruptible<T>(work: impl Future<Output = Result<T>>) -> Result<T> {
    tokio::select! {
        result = work => result,
        signal = shutdown_signal() => Err(anyhow::Error::new(Interrupted(signal?))),
    }
}

#[cfg(unix)]
async fn shutdown_signal() -> Result<&'static str> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut terminate = signal(SignalKind::terminate()).context("listening for SIGTERM")?;
    tokio::select! {
        result = tokio::signal::ctrl_c() => result.context("listening for SIGINT").map(|()| "SIGINT"),
        _ = terminate.recv() => Ok("SIGTERM"),
    }
}

#[cfg(not(unix))]
async fn shutdown_signal() -> Result<&'static str> {
    tokio::signal::ctrl_c()
        .await
        .context("listening for Ctrl-C")?;
    Ok("Ctrl-C")
}

/// On failure, keeps the server's data directory and adds its log to the error; on an
/// interruption just lets the guard stop the server.
fn with_server_log(error: anyhow::Error, server: Option<ServerGuard>) -> anyhow::Error {
    match server {
        Some(guard) if !error.is::<Interrupted>() => anyhow!("{error:#}\n{}", guard.keep_log()),
        _ => error,
    }
}

/// Distinguishes this run's registrations from earlier runs' in a reused database.
fn run_id() -> String {
    let millis = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    format!("{millis:x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backends_are_named_without_their_urls() {
        assert_eq!(backend_name(None), "sqlite");
        assert_eq!(
            backend_name(Some("postgres://u:secret@127.0.0.1/db")),
            "postgres"
        );
        assert_eq!(backend_name(Some("postgresql://127.0.0.1/db")), "postgres");
        assert_eq!(backend_name(Some("sqlite:///tmp/x.db")), "sqlite");
        assert_eq!(backend_name(Some("mysql://127.0.0.1/db")), "other");
    }
}
