//! `assent-bench`: starts the real `assent` server, drives concurrent keep-alive connections
//! at one endpoint for a fixed time and prints requests/s, latency percentiles, errors by
//! status and the server's resident memory. It measures; it never asserts.
//!
//! `cargo run --release -p assent-bench -- --scenario health --connections 64 --duration 10s`
//!
//! `--scenario deliveries` instead measures webhook delivery: a backlog's throughput and the
//! latency of single deliveries, into a receiver inside the bench (see `deliveries`).
//! `--scenario verify` sets up an approved agent over the API and loads `GET /v1/verify` with
//! signed requests (see `verify`); `--scenario did` loads a namespace's DID document (see
//! `did`). Both first measure `GET /health` on the same server, and report against it.
//! `--scenario notify` registers an ATP service over the API and loads
//! `POST /api/v1/notifications` with its API key (see `atp`); `--scenario respond` measures,
//! one notification at a time, from a user's `POST /api/v1/client/respond` to the receipt of
//! the signed `notification.responded` webhook (see `respond`). `--scenario mail` times claims
//! to their mail at an SMTP sink inside the bench, then checks a burst's digest (see `mail`).

mod api;
mod atp;
mod claims;
mod cli;
mod deliveries;
mod did;
mod load;
mod mail;
mod mcp;
mod metrics;
mod receiver;
mod report;
mod respond;
mod scenario;
mod server;
mod stats;
mod verify;

use std::fmt;
use std::num::NonZero;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, anyhow, bail};
use clap::{CommandFactory, Parser};
use tokio::runtime::Runtime;

use crate::cli::Args;
use crate::deliveries::DeliveryPlan;
use crate::load::{LoadPlan, Requests, Target};
use crate::report::{Baseline, DeliveryReport, Figures, Report, RespondReport, Run};
use crate::respond::RespondPlan;
use crate::scenario::{Load, Scenario, ScenarioContext};
use crate::server::{ServerConfig, ServerGuard};
use crate::stats::Recording;
use crate::verify::SigningFigures;

/// A spawned server may still be migrating its database; a `--url` one should be up already.
const READY_TIMEOUT_SPAWNED: Duration = Duration::from_secs(30);
const READY_TIMEOUT_EXTERNAL: Duration = Duration::from_secs(5);
/// How long blocking work (a bulk enqueue) may keep the process alive after an error.
const RUNTIME_SHUTDOWN: Duration = Duration::from_secs(2);
/// `register`: services one namespace may hold, far above what a run registers.
const REGISTER_SERVICE_QUOTA: u32 = 1_000_000_000;
/// `deliveries` (and `respond`'s samples): defaults of its flags.
const DEFAULT_EVENTS: u32 = 20_000;
const DEFAULT_LATENCY_SAMPLES: u32 = 200;
const DEFAULT_DELIVERY_CONCURRENCY: u32 = 64;

fn main() -> ExitCode {
    let args = Args::parse();
    if let Err(message) = args.check() {
        Args::command()
            .error(clap::error::ErrorKind::ArgumentConflict, message)
            .exit();
    }
    match run(&args) {
        Ok(Verdict::Measured) => ExitCode::SUCCESS,
        Ok(Verdict::Unusable(why)) => {
            eprintln!("assent-bench: {why}");
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

/// Whether the printed figures are a measurement.
#[derive(Debug)]
enum Verdict {
    Measured,
    /// Printed, but not usable: why.
    Unusable(&'static str),
}

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
    signing: Option<SigningFigures>,
    baseline: Option<Baseline>,
}

/// Runs the benchmark.
fn run(args: &Args) -> Result<Verdict> {
    if cfg!(debug_assertions) {
        eprintln!(
            "warning: this is a debug build; the client's own overhead skews the figures (use --release)"
        );
    }
    // The SMTP sink's address goes into the spawned server's settings.
    let smtp_url = if args.scenario == Scenario::Mail {
        Some(mail::bind_sink()?)
    } else {
        None
    };
    let setup = setup(args, smtp_url)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the tokio runtime")?;
    let verdict = match args.scenario {
        Scenario::Deliveries => run_deliveries(args, setup, &runtime),
        Scenario::Respond => run_respond(args, setup, &runtime),
        Scenario::Mcp => run_mcp(args, setup, &runtime),
        Scenario::Mail => run_mail(args, setup, &runtime),
        Scenario::Health
        | Scenario::Register
        | Scenario::Verify
        | Scenario::Notify
        | Scenario::Claims
        | Scenario::ClaimsRules
        | Scenario::ClaimsAuto
        | Scenario::Did => run_load(args, setup, &runtime),
    };
    // A bulk enqueue abandoned at its deadline must not hold the process.
    runtime.shutdown_timeout(RUNTIME_SHUTDOWN);
    verdict
}

/// `health`, `register`, `verify` and `notify`: N connections for a fixed time.
fn run_load(args: &Args, setup: Setup, runtime: &Runtime) -> Result<Verdict> {
    let Setup {
        target,
        description,
        backend,
        mut server,
    } = setup;
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
        duration: args.duration(),
        run: Run {
            target: description,
            backend,
            cpus: cpus(),
            rss_idle_mb: measured.rss_idle_mb,
            rss_end_mb: measured.rss_end_mb,
        },
        figures: Figures::from_recording(measured.recording),
        signing: measured.signing,
        baseline: measured.baseline,
    };
    // With --json, stdout carries only the JSON line so it can be piped.
    print_report(args.json, &report.human(), &report.json());
    Ok(if report.figures.requests > 0 {
        Verdict::Measured
    } else {
        Verdict::Unusable("no request succeeded, so there are no figures")
    })
}

/// `deliveries`: a backlog's throughput, then single deliveries at low load.
fn run_deliveries(args: &Args, setup: Setup, runtime: &Runtime) -> Result<Verdict> {
    let (mut server, target, description, backend) = spawned(args, setup)?;
    let database_url = match (&args.database_url, server.data_dir()) {
        (Some(url), _) => url.clone(),
        (None, Some(dir)) => format!("sqlite://{}", dir.join("assent.db").display()),
        (None, None) => bail!("the server's data directory is gone"),
    };
    let plan = DeliveryPlan {
        events: args.events.unwrap_or(DEFAULT_EVENTS),
        latency_samples: latency_samples(args),
        deadline: args.duration(),
        database_url,
        run_id: run_id(),
    };
    let outcome = runtime.block_on(interruptible(measure_spawned(
        &target,
        &mut server,
        deliveries::run(&plan, &target),
    )));
    let (figures, rss_idle_mb, rss_end_mb) = match outcome {
        Ok(measured) => measured,
        Err(e) => return Err(with_server_log(e, Some(server))),
    };
    // A backlog that did not drain is explained, if at all, by the server's log: keep it.
    let kept_log = stop_or_keep_log(server, figures.complete())?;
    let report = DeliveryReport {
        run: Run {
            target: description,
            backend,
            cpus: cpus(),
            rss_idle_mb,
            rss_end_mb,
        },
        delivery_concurrency: delivery_concurrency(args),
        deadline: plan.deadline,
        figures,
    };
    print_report(args.json, &report.human(), &report.json());
    Ok(verdict_after(
        kept_log,
        "not every enqueued delivery arrived before the deadline (--duration)",
    ))
}

/// `respond`: notifications answered one after the other, each timed to its webhook.
fn run_respond(args: &Args, setup: Setup, runtime: &Runtime) -> Result<Verdict> {
    let (mut server, target, description, backend) = spawned(args, setup)?;
    // The second replica: the same binary, database and settings, another port.
    // Started once the first is ready: both would otherwise race to create the admin token.
    let mut replica = None;
    if args.stream_replica {
        let ready = runtime.block_on(load::wait_ready(
            &target,
            Some(&mut server),
            READY_TIMEOUT_SPAWNED,
        ));
        if let Err(e) = ready {
            return Err(with_server_log(e, Some(server)));
        }
        replica = Some(start_replica(args, &target)?);
    }
    let plan = RespondPlan {
        samples: latency_samples(args),
        run_id: run_id(),
        stream_base: replica.as_ref().map(|(_, target)| target.base.clone()),
    };
    let outcome = runtime.block_on(interruptible(async {
        if let Some((guard, replica_target)) = replica.as_mut() {
            load::wait_ready(replica_target, Some(guard), READY_TIMEOUT_SPAWNED).await?;
        }
        measure_spawned(&target, &mut server, respond::run(&plan, &target)).await
    }));
    let description = match &replica {
        Some((_, replica_target)) => {
            format!(
                "{description}; stream on a second replica {}",
                replica_target.base
            )
        }
        None => description,
    };
    if let Some((guard, _)) = replica {
        // Its log is kept too when the run is incomplete.
        let complete = outcome.as_ref().is_ok_and(|(f, _, _)| f.complete());
        if let Some(note) = stop_or_keep_log(guard, complete)? {
            eprintln!("second replica: {note}");
        }
    }
    let (figures, rss_idle_mb, rss_end_mb) = match outcome {
        Ok(measured) => measured,
        Err(e) => return Err(with_server_log(e, Some(server))),
    };
    // A webhook that never came is explained, if at all, by the server's log: keep it.
    let kept_log = stop_or_keep_log(server, figures.complete())?;
    let report = RespondReport {
        run: Run {
            target: description,
            backend,
            cpus: cpus(),
            rss_idle_mb,
            rss_end_mb,
        },
        figures,
    };
    print_report(args.json, &report.human(), &report.json());
    Ok(verdict_after(
        kept_log,
        "a notification.responded webhook did not arrive in time",
    ))
}

/// `mcp`: decision-to-result latency of waiting MCP calls, then many waiting calls' cost.
fn run_mcp(args: &Args, setup: Setup, runtime: &Runtime) -> Result<Verdict> {
    let (mut server, target, description, _backend) = spawned(args, setup)?;
    let samples = args.latency_samples.unwrap_or(100);
    let pid = server.pid();
    let outcome = runtime.block_on(interruptible(async {
        load::wait_ready(&target, Some(&mut server), READY_TIMEOUT_SPAWNED).await?;
        mcp::run(&target, &run_id(), samples, pid, || server.rss_mb()).await
    }));
    let figures = match outcome {
        Ok(figures) => figures,
        Err(e) => return Err(with_server_log(e, Some(server))),
    };
    let kept_log = stop_or_keep_log(server, true)?;
    let human = format!("{description}, {} CPUs\n{}", cpus(), figures.human());
    print_report(args.json, &human, &figures.json());
    Ok(verdict_after(kept_log, "the server did not stop cleanly"))
}

/// `mail`: claim-to-mail latency, then a burst and its digest (see `mail`).
fn run_mail(args: &Args, setup: Setup, runtime: &Runtime) -> Result<Verdict> {
    let (mut server, target, description, backend) = spawned(args, setup)?;
    let window = args.duration();
    let outcome = runtime.block_on(interruptible(measure_spawned(
        &target,
        &mut server,
        mail::run(&target, &args.namespace, window),
    )));
    let (figures, rss_idle_mb, rss_end_mb) = match outcome {
        Ok(measured) => measured,
        Err(e) => return Err(with_server_log(e, Some(server))),
    };
    let kept_log = stop_or_keep_log(server, figures.holds())?;
    let run = Run {
        target: description,
        backend,
        cpus: cpus(),
        rss_idle_mb,
        rss_end_mb,
    };
    let human = format!(
        "{}\n{}",
        run.target_text("the server and the bench (client and SMTP sink)"),
        figures.human()
    );
    let mut line = figures.json();
    run.insert_json(&mut line);
    print_report(args.json, &human, &line);
    Ok(verdict_after(
        kept_log,
        "a mail was missing, a claim failed, or more mails came than the throttle allows",
    ))
}

/// The secret key both replicas of `--stream-replica` are given.
fn replica_key() -> &'static str {
    static KEY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    KEY.get_or_init(|| {
        assent_auth::SecretKey::generate()
            .to_base64()
            .expose()
            .to_owned()
    })
}

/// A second `assent serve` on the same database as the first (which made the account and the
/// admin token), for `--stream-replica`.
fn start_replica(args: &Args, first: &Target) -> Result<(ServerGuard, Target)> {
    let port = server::free_port()?;
    let base = format!("http://127.0.0.1:{port}");
    let config = ServerConfig {
        bin: server::locate_binary(args.server_bin.as_deref())?,
        port,
        database_url: args.database_url.clone(),
        admin_token: first.admin_token.clone().unwrap_or_default(),
        namespace: args.namespace.clone(),
        create_account: false,
        extra_env: scenario_env(args, &base, None),
    };
    eprintln!("starting a second replica on 127.0.0.1:{port}");
    let guard = ServerGuard::start(&config)?;
    Ok((
        guard,
        Target {
            base,
            admin_token: first.admin_token.clone(),
        },
    ))
}

/// The server of a scenario that must have started it, with the rest of the setup.
fn spawned(args: &Args, setup: Setup) -> Result<(ServerGuard, Arc<Target>, String, &'static str)> {
    let Setup {
        target,
        description,
        backend,
        server,
    } = setup;
    let Some(server) = server else {
        bail!(
            "--scenario {} needs a server it starts itself",
            args.scenario.name()
        );
    };
    Ok((server, target, description, backend))
}

/// After a complete run, stops the server; after an incomplete one, keeps its log and returns
/// a note saying where it is.
fn stop_or_keep_log(mut server: ServerGuard, complete: bool) -> Result<Option<String>> {
    if !complete {
        return Ok(Some(server.keep_log()));
    }
    match server.stop() {
        Ok(()) => Ok(None),
        Err(e) => Err(with_server_log(e, Some(server))),
    }
}

/// Measured, or (with the kept log's note printed) unusable for `why`.
fn verdict_after(kept_log: Option<String>, why: &'static str) -> Verdict {
    match kept_log {
        None => Verdict::Measured,
        Some(note) => {
            eprintln!("{note}");
            Verdict::Unusable(why)
        }
    }
}

/// The human block on stdout, or with `--json` on stderr with the JSON line on stdout.
fn print_report(json: bool, human: &str, line: &serde_json::Value) {
    if json {
        eprint!("{human}");
        println!("{line}");
    } else {
        print!("{human}");
    }
}

fn cpus() -> usize {
    std::thread::available_parallelism().map_or(1, NonZero::get)
}

fn delivery_concurrency(args: &Args) -> u32 {
    args.delivery_concurrency
        .unwrap_or(DEFAULT_DELIVERY_CONCURRENCY)
}

fn latency_samples(args: &Args) -> u32 {
    args.latency_samples.unwrap_or(DEFAULT_LATENCY_SAMPLES)
}

/// Settings the scenario needs from the spawned server, which `base` will reach.
fn scenario_env(args: &Args, base: &str, smtp_url: Option<&str>) -> Vec<(&'static str, String)> {
    match args.scenario {
        Scenario::Health => Vec::new(),
        // Every request registers a service in the bench namespace: the default quota (100)
        // would turn all but the first hundred into 409s.
        Scenario::Register => vec![(
            "ASSENT_MAX_SERVICES_PER_NAMESPACE",
            REGISTER_SERVICE_QUOTA.to_string(),
        )],
        Scenario::Deliveries => vec![
            // The receiver is plain http on loopback.
            ("ASSENT_ALLOW_PRIVATE_WEBHOOKS", "true".to_owned()),
            // The bulk enqueue comes from another process, which does not wake the engine.
            (
                "ASSENT_DELIVERY_POLL_INTERVAL",
                deliveries::POLL_INTERVAL.to_owned(),
            ),
            (
                "ASSENT_DELIVERY_CONCURRENCY",
                delivery_concurrency(args).to_string(),
            ),
        ],
        // The signed `@target-uri` is rebuilt from the public URL: exactly what the bench
        // calls, whatever the Host header or a proxy header says.
        Scenario::Verify
        | Scenario::Claims
        | Scenario::ClaimsRules
        | Scenario::ClaimsAuto
        | Scenario::Did => {
            vec![("ASSENT_PUBLIC_URL", base.to_owned())]
        }
        // One service, whose callback is never called.
        Scenario::Notify => Vec::new(),
        // The callback is the receiver, plain http on loopback. Replicas must share the key
        // that seals webhook secrets: either may send a delivery.
        Scenario::Respond => {
            let mut env = vec![("ASSENT_ALLOW_PRIVATE_WEBHOOKS", "true".to_owned())];
            if args.stream_replica {
                env.push(("ASSENT_SECRET_KEY", replica_key().to_owned()));
            }
            env
        }
        // Mail goes to the sink; claims are signed for the public URL; the burst's reminders
        // (a minute before the expiry) come within the window.
        Scenario::Mail => vec![
            ("ASSENT_SMTP_URL", smtp_url.unwrap_or_default().to_owned()),
            ("ASSENT_PUBLIC_URL", base.to_owned()),
            ("ASSENT_CLAIM_TTL", mail::CLAIM_TTL.to_owned()),
        ],
        // The callback is the receiver; hundreds of requests in a minute are the point.
        Scenario::Mcp => vec![
            ("ASSENT_ALLOW_PRIVATE_WEBHOOKS", "true".to_owned()),
            ("ASSENT_RATE_LIMITS", "off".to_owned()),
        ],
    }
}

/// Either points at the `--url` server or starts one.
fn setup(args: &Args, smtp_url: Option<String>) -> Result<Setup> {
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
    let base = format!("http://127.0.0.1:{port}");
    let config = ServerConfig {
        bin,
        port,
        database_url: args.database_url.clone(),
        admin_token: args
            .admin_token
            .clone()
            .unwrap_or_else(|| server::random_hex(2)),
        namespace: args.namespace.clone(),
        create_account: !matches!(
            args.scenario,
            Scenario::Verify | Scenario::Did | Scenario::Mail
        ) && args.scenario.claims_policy().is_none(),
        extra_env: scenario_env(args, &base, smtp_url.as_deref())
            .into_iter()
            .chain(metrics::server_env(args.metrics))
            .collect(),
    };
    eprintln!(
        "starting {} on 127.0.0.1:{port} ({backend})",
        config.bin.display()
    );
    let server = ServerGuard::start(&config)?;
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

/// Readiness, idle memory, the scenario's setup, the load, and memory at the end.
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
    let (requests, verify) = match args.scenario.load() {
        Some(load) => {
            let run_id = run_id();
            let service_key = match load {
                Load::Notify => Some(notify_service(&target, &run_id).await?),
                Load::Health | Load::Register => None,
            };
            let context = ScenarioContext {
                run_id,
                namespace: args.namespace.clone(),
                service_key,
            };
            (Requests::Described(load, Arc::new(context)), None)
        }
        None if args.scenario == Scenario::Verify => {
            let presigned = args.presigned();
            eprintln!(
                "verify: approving an agent of `{}` for `{}` over the API, then signing {presigned} requests",
                args.namespace,
                verify::SERVICE
            );
            let prepared = Arc::new(verify::prepare(&target, &args.namespace, presigned).await?);
            let signing = prepared.figures();
            eprintln!(
                "signed {} requests in {:.2} s on {} threads: {:.1} µs a request on one core",
                signing.presigned,
                signing.presign_wall.as_secs_f64(),
                signing.threads,
                signing.per_request.as_secs_f64() * 1e6
            );
            (Requests::Verify(Arc::clone(&prepared)), Some(prepared))
        }
        None if args.scenario.claims_policy().is_some() => {
            let policy = args
                .scenario
                .claims_policy()
                .ok_or_else(|| anyhow!("no policy"))?;
            let count = claims::pool_size(args.warmup + args.duration());
            eprintln!(
                "{}: an owner of `{}` with service `{}` over the API, then signing {count} claims",
                args.scenario.name(),
                args.namespace,
                claims::SERVICE
            );
            let prepared = claims::prepare(&target, &args.namespace, policy, count).await?;
            eprintln!(
                "signed {} claims in {:.2} s: {:.1} µs a request on one core",
                prepared.presigned(),
                prepared.presign_wall.as_secs_f64(),
                prepared.per_request.as_secs_f64() * 1e6
            );
            (Requests::Claims(Arc::new(prepared)), None)
        }
        None if args.scenario == Scenario::Did => {
            eprintln!(
                "did: approving {} agents of `{}` over the API",
                did::APPROVED_AGENTS,
                args.namespace
            );
            let path = did::prepare(&target, &args.namespace).await?;
            (Requests::Get(Arc::new(path)), None)
        }
        None => bail!("--scenario {} is not a load", args.scenario.name()),
    };
    let baseline = if args.scenario.compares_to_health() {
        Some(baseline(args, &target).await?)
    } else {
        None
    };
    eprintln!(
        "{}: {} connections, {:.1} s warmup, then {:.1} s measured",
        args.scenario.name(),
        args.connections,
        args.warmup.as_secs_f64(),
        args.duration().as_secs_f64()
    );
    let plan = LoadPlan {
        requests,
        connections: args.connections,
        warmup: args.warmup,
        duration: args.duration(),
    };
    let recording = load::run(&plan, target).await?;
    let rss_end_mb = server.as_deref().and_then(ServerGuard::rss_mb);
    Ok(Measured {
        recording,
        rss_idle_mb,
        rss_end_mb,
        signing: verify.map(|v| v.figures()),
        baseline,
    })
}

/// `GET /health` on the same server and as many connections, right before the scenario's own
/// load; for `verify` also the CPU time of one Ed25519 verification.
async fn baseline(args: &Args, target: &Arc<Target>) -> Result<Baseline> {
    eprintln!(
        "health, this sitting's baseline: {} connections, {:.1} s warmup, then {:.1} s measured",
        args.connections,
        args.warmup.as_secs_f64(),
        args.duration().as_secs_f64()
    );
    let context = ScenarioContext {
        run_id: run_id(),
        namespace: args.namespace.clone(),
        service_key: None,
    };
    let plan = LoadPlan {
        requests: Requests::Described(Load::Health, Arc::new(context)),
        connections: args.connections,
        warmup: args.warmup,
        duration: args.duration(),
    };
    let recording = load::run(&plan, Arc::clone(target)).await?;
    let health_rps = recording.latencies_us.len() as f64 / args.duration().as_secs_f64();
    let ed25519 = if args.scenario == Scenario::Verify {
        let each = tokio::task::spawn_blocking(verify::ed25519_cpu_time)
            .await
            .context("the Ed25519 timing task failed")??;
        Some(each)
    } else {
        None
    };
    Ok(Baseline {
        health_rps,
        ed25519,
    })
}

/// `notify`: registers the ATP service over the API; returns its API key.
async fn notify_service(target: &Target, run_id: &str) -> Result<String> {
    let api = api::Api::new(&target.base)?;
    let service = atp::set_up(&api, target, run_id, scenario::PLACEHOLDER_CALLBACK).await?;
    eprintln!(
        "notify: registered the ATP service `{}` of `{}` over the API",
        service.service_id, service.namespace
    );
    Ok(service.api_key)
}

/// Readiness and idle memory, then `work` (both `deliveries` phases, or the `respond`
/// samples), then memory at the end.
async fn measure_spawned<T>(
    target: &Target,
    server: &mut ServerGuard,
    work: impl Future<Output = Result<T>>,
) -> Result<(T, Option<f64>, Option<f64>)> {
    load::wait_ready(target, Some(&mut *server), READY_TIMEOUT_SPAWNED).await?;
    let rss_idle_mb = server.rss_mb();
    eprintln!(
        "server ready (pid {}, idle RSS {:.1} MiB)",
        server.pid(),
        rss_idle_mb.unwrap_or(f64::NAN)
    );
    let figures = work.await?;
    let rss_end_mb = server.rss_mb();
    // A server that died mid-run would otherwise show up only as missing webhooks.
    if let Some(status) = server.exit_status()? {
        bail!("the server exited during the run ({status})");
    }
    Ok((figures, rss_idle_mb, rss_end_mb))
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
