//! The spawned `assent` server: setup, readiness, resident memory and a guaranteed stop.

use std::fs::{self, File};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use tempfile::TempDir;

/// `account create` hashes a password; generous, but bounded.
const ACCOUNT_CREATE_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a SIGTERM'd server gets to finish gracefully before it is killed.
const STOP_TIMEOUT: Duration = Duration::from_secs(10);
const POLL_INTERVAL: Duration = Duration::from_millis(20);
/// Log lines shown when something fails.
const LOG_TAIL_LINES: usize = 30;

/// How to start the server.
#[derive(Debug)]
pub struct ServerConfig {
    pub bin: PathBuf,
    pub port: u16,
    pub database_url: Option<String>,
    pub admin_token: String,
    pub namespace: String,
    /// Create the owner account of `namespace` before serving (`assent account create`);
    /// `verify` signs its owner up over the API instead.
    pub create_account: bool,
    /// Further `ASSENT_*` settings a scenario needs, e.g. `ASSENT_DELIVERY_CONCURRENCY`.
    pub extra_env: Vec<(&'static str, String)>,
}

/// A running `assent serve`. Dropping it stops the server, so an error anywhere in the run
/// never leaves an orphan behind.
#[derive(Debug)]
pub struct ServerGuard {
    child: Option<Child>,
    pid: u32,
    log_path: PathBuf,
    /// Holds the data directory (and the log) until the guard goes.
    dir: Option<TempDir>,
}

/// The `assent` binary next to this executable, as `cargo build -p assent -p assent-bench`
/// leaves them, or `explicit` when given.
pub fn locate_binary(explicit: Option<&Path>) -> Result<PathBuf> {
    let bin = match explicit {
        Some(path) => path.to_owned(),
        None => std::env::current_exe()
            .context("locating the assent-bench executable")?
            .with_file_name(format!("assent{}", std::env::consts::EXE_SUFFIX)),
    };
    if !bin.is_file() {
        bail!(
            "the assent server binary was not found at {}; build it with \
             `cargo build --release -p assent` (the same profile as assent-bench) or pass --server-bin PATH",
            bin.display()
        );
    }
    Ok(bin)
}

/// A port that was free a moment ago. Another process could take it before the server binds,
/// but then the server fails to start and says so; good enough for a local tool.
pub fn free_port() -> Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0").context("finding a free port")?;
    Ok(listener
        .local_addr()
        .context("reading the free port")?
        .port())
}

impl ServerGuard {
    /// Creates the bench account (if asked to), then starts `assent serve` in a fresh data
    /// directory.
    pub fn start(config: &ServerConfig) -> Result<Self> {
        let dir = tempfile::Builder::new()
            .prefix("assent-bench-")
            .tempdir()
            .context("creating a temporary data directory")?;
        let log_path = dir.path().join("assent.log");
        let log =
            File::create(&log_path).with_context(|| format!("creating {}", log_path.display()))?;

        if config.create_account
            && let Err(e) = create_account(config, dir.path(), &log)
        {
            // A reused database already has the account; anything else is fatal.
            if config.database_url.is_none() {
                return Err(anyhow!("{e:#}\n{}", kept_log_note(dir, &log_path)));
            }
            eprintln!("warning: {e:#} (continuing: the database may already hold the account)");
        }

        let child = server_command(config, dir.path(), &log, ["serve"])?
            .spawn()
            .with_context(|| format!("starting {} serve", config.bin.display()))?;
        Ok(Self {
            pid: child.id(),
            child: Some(child),
            log_path,
            dir: Some(dir),
        })
    }

    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// The server's data directory (its SQLite database is `assent.db` in it by default).
    pub fn data_dir(&self) -> Option<&Path> {
        self.dir.as_ref().map(TempDir::path)
    }

    /// `Some(status)` once the server has exited on its own.
    pub fn exit_status(&mut self) -> Result<Option<ExitStatus>> {
        match self.child.as_mut() {
            Some(child) => child.try_wait().context("checking the server process"),
            None => Ok(None),
        }
    }

    /// The server's resident memory in MiB, from `/proc` (Linux only).
    pub fn rss_mb(&self) -> Option<f64> {
        let status = fs::read_to_string(format!("/proc/{}/status", self.pid)).ok()?;
        parse_vm_rss_kb(&status).map(|kb| kb as f64 / 1024.0)
    }

    /// Stops the server gracefully. An error means it had already exited, i.e. crashed.
    pub fn stop(&mut self) -> Result<()> {
        let Some(mut child) = self.child.take() else {
            return Ok(());
        };
        if let Some(status) = child.try_wait().context("checking the server process")? {
            // A clean exit is a graceful shutdown: something else sent it SIGTERM or SIGINT.
            let hint = if status.success() {
                "; something else asked it to stop"
            } else {
                ""
            };
            bail!("the server exited during the run ({status}){hint}");
        }
        terminate(&mut child)
    }

    /// Stops the server and keeps the data directory so its log can be read; returns a note
    /// with the log's path and last lines.
    pub fn keep_log(mut self) -> String {
        if let Some(mut child) = self.child.take()
            && let Err(e) = terminate(&mut child)
        {
            eprintln!("warning: stopping the server: {e:#}");
        }
        match self.dir.take() {
            Some(dir) => kept_log_note(dir, &self.log_path),
            None => format!("server log: {}", self.log_path.display()),
        }
    }
}

impl Drop for ServerGuard {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take()
            && let Err(e) = terminate(&mut child)
        {
            eprintln!("warning: stopping the server (pid {}): {e:#}", self.pid);
        }
    }
}

/// `assent account create` for the bench namespace, run to completion.
fn create_account(config: &ServerConfig, data_dir: &Path, log: &File) -> Result<()> {
    let email = format!("{}@bench.example.com", config.namespace);
    let password = random_hex(2);
    let args = [
        "account",
        "create",
        "--email",
        &email,
        "--namespace",
        &config.namespace,
        "--password",
        &password,
    ];
    let mut child = server_command(config, data_dir, log, args)?
        .spawn()
        .with_context(|| format!("running {} account create", config.bin.display()))?;
    match wait_timeout(&mut child, ACCOUNT_CREATE_TIMEOUT)? {
        Some(status) if status.success() => Ok(()),
        Some(status) => Err(anyhow!("`assent account create` failed ({status})")),
        None => {
            child.kill().context("killing `assent account create`")?;
            child.wait().context("reaping `assent account create`")?;
            bail!("`assent account create` did not finish within {ACCOUNT_CREATE_TIMEOUT:?}")
        }
    }
}

/// The server binary with the bench environment and output going to the log.
fn server_command<'a>(
    config: &ServerConfig,
    data_dir: &Path,
    log: &File,
    args: impl IntoIterator<Item = &'a str>,
) -> Result<Command> {
    let mut command = Command::new(&config.bin);
    command.args(args);
    // Inherited ASSENT_* settings (say a shell's ASSENT_DATABASE_URL) would silently change
    // what is measured; the bench sets exactly what it means.
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("ASSENT_") {
            command.env_remove(key);
        }
    }
    command
        .env("ASSENT_BIND", format!("127.0.0.1:{}", config.port))
        .env("ASSENT_DATA_DIR", data_dir)
        .env("ASSENT_ADMIN_TOKEN", &config.admin_token)
        .env("ASSENT_DEFAULT_NAMESPACE", &config.namespace)
        // Logging each request and rate limiting would both distort the figures.
        .env("ASSENT_LOG", "warn")
        .env("ASSENT_RATE_LIMITS", "off");
    if let Some(url) = &config.database_url {
        command.env("ASSENT_DATABASE_URL", url);
    }
    for (key, value) in &config.extra_env {
        command.env(key, value);
    }
    let stdout = log.try_clone().context("sharing the log file")?;
    let stderr = log.try_clone().context("sharing the log file")?;
    command.stdin(Stdio::null()).stdout(stdout).stderr(stderr);
    Ok(command)
}

/// SIGTERM, up to [`STOP_TIMEOUT`] for a graceful exit, then SIGKILL.
fn terminate(child: &mut Child) -> Result<()> {
    // Until it is reaped, an exited child stays a zombie, so its pid cannot have been reused.
    if child
        .try_wait()
        .context("checking the server process")?
        .is_some()
    {
        return Ok(());
    }
    // `kill` rather than libc: the workspace forbids unsafe code.
    let sent = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success());
    if sent {
        match wait_timeout(child, STOP_TIMEOUT)? {
            Some(status) if status.success() => return Ok(()),
            Some(status) => {
                eprintln!("warning: the server exited with {status} after SIGTERM");
                return Ok(());
            }
            None => eprintln!(
                "warning: the server did not exit within {STOP_TIMEOUT:?} of SIGTERM; killing it"
            ),
        }
    }
    child.kill().context("killing the server")?;
    child.wait().context("reaping the server")?;
    Ok(())
}

/// Waits for `child` to exit, at most `timeout`; `None` if it is still running.
fn wait_timeout(child: &mut Child, timeout: Duration) -> Result<Option<ExitStatus>> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait().context("waiting for a child process")? {
            return Ok(Some(status));
        }
        if Instant::now() >= deadline {
            return Ok(None);
        }
        thread::sleep(POLL_INTERVAL);
    }
}

/// Keeps the data directory and describes where its log is, with the log's last lines.
fn kept_log_note(dir: TempDir, log_path: &Path) -> String {
    let tail = log_tail(log_path, LOG_TAIL_LINES);
    // Not deleted on exit: the log and database are what explain the failure.
    let kept = dir.keep();
    format!(
        "server log kept at {} (data directory {}); its last lines:\n{tail}",
        log_path.display(),
        kept.display()
    )
}

/// The last `lines` lines of a log, or a note why there are none.
fn log_tail(path: &Path, lines: usize) -> String {
    match fs::read_to_string(path) {
        Ok(text) if text.trim().is_empty() => "(the log is empty)".to_owned(),
        Ok(text) => {
            let all: Vec<&str> = text.lines().collect();
            all[all.len().saturating_sub(lines)..].join("\n")
        }
        Err(e) => format!("(could not read the log: {e})"),
    }
}

/// The `VmRSS:` figure of a `/proc/<pid>/status` file, in kB.
pub fn parse_vm_rss_kb(status: &str) -> Option<u64> {
    let line = status.lines().find_map(|l| l.strip_prefix("VmRSS:"))?;
    let mut fields = line.split_whitespace();
    let kb = fields.next()?.parse().ok()?;
    (fields.next() == Some("kB")).then_some(kb)
}

/// `words` × 16 hex digits from std's randomly keyed hasher. The token guards a throwaway
/// server on loopback for a few seconds, so this is enough and avoids a `rand` dependency.
pub fn random_hex(words: usize) -> String {
    use std::hash::{BuildHasher, RandomState};
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    (0..words)
        .map(|i| {
            format!(
                "{:016x}",
                RandomState::new().hash_one((nanos, std::process::id(), i))
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vm_rss_is_read_from_proc_status() {
        let status = "Name:\tassent\nVmPeak:\t  99999 kB\nVmRSS:\t   12345 kB\nThreads:\t4\n";
        assert_eq!(parse_vm_rss_kb(status), Some(12_345));
        assert_eq!(parse_vm_rss_kb("Name:\tassent\n"), None);
        assert_eq!(parse_vm_rss_kb("VmRSS:\tlots kB\n"), None);
    }

    #[test]
    fn own_rss_is_readable_on_linux() {
        if cfg!(target_os = "linux") {
            let status = fs::read_to_string("/proc/self/status").expect("procfs");
            assert!(parse_vm_rss_kb(&status).is_some_and(|kb| kb > 0));
        }
    }

    #[test]
    fn random_hex_is_long_enough_and_varies() {
        let a = random_hex(2);
        assert_eq!(a.len(), 32);
        assert!(a.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_ne!(a, random_hex(2));
    }

    #[test]
    fn log_tail_keeps_the_last_lines() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("log");
        fs::write(&path, "a\nb\nc\nd\n").expect("write");
        assert_eq!(log_tail(&path, 2), "c\nd");
        assert_eq!(log_tail(&path, 10), "a\nb\nc\nd");
        assert!(log_tail(&dir.path().join("missing"), 2).contains("could not read"));
    }
}
