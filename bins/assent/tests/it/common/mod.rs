//! Running the real `assent` binary: clean environments, output collected as it comes.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

pub mod cluster;

pub const BIN: &str = env!("CARGO_BIN_EXE_assent");
/// The README quick start's token.
pub const ADMIN_TOKEN: &str = "adm_quickstart_0123456789abcdef";

/// A command with a clean `ASSENT_*` environment, run in `dir`.
pub fn assent(dir: &Path) -> Command {
    let mut command = Command::new(BIN);
    for (name, _) in std::env::vars() {
        if name.starts_with("ASSENT_") {
            command.env_remove(name);
        }
    }
    command.current_dir(dir);
    command
}

pub fn run(command: &mut Command) -> Output {
    command.stdin(Stdio::null()).output().expect("run assent")
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A running `assent serve`: its address, and its output collected as it comes.
pub struct Running {
    pub address: String,
    /// What the server logged before it listened.
    pub startup: Vec<String>,
    child: Child,
    stderr: mpsc::Receiver<String>,
    stdout: mpsc::Receiver<String>,
}

fn collect(stream: impl std::io::Read + Send + 'static) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

pub fn serve(command: Command) -> Running {
    serve_with(command, &[])
}

/// `assent serve` with `args` after the subcommand.
pub fn serve_with(mut command: Command, args: &[&str]) -> Running {
    let mut child = command
        .arg("serve")
        .args(args)
        .env("ASSENT_BIND", "127.0.0.1:0")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start assent serve");
    let stderr = child.stderr.take().map(collect);
    let stdout = child.stdout.take().map(collect);
    let (Some(stderr), Some(stdout)) = (stderr, stdout) else {
        let _ = child.kill();
        let _ = child.wait();
        panic!("no pipes to the server");
    };
    let mut running = Running {
        child,
        address: String::new(),
        startup: Vec::new(),
        stderr,
        stdout,
    };
    while let Ok(line) = running.stderr.recv_timeout(Duration::from_secs(30)) {
        let address = line
            .split("listening on http://")
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next());
        if let Some(address) = address {
            running.address = address.to_owned();
            return running;
        }
        running.startup.push(line);
    }
    let seen = std::mem::take(&mut running.startup);
    let (exit, _, _) = running.terminate();
    panic!("the server did not start ({exit:?}): {seen:#?}");
}

impl Running {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.address)
    }

    /// SIGTERM, then the exit status and everything the process wrote.
    pub fn terminate(mut self) -> (std::process::ExitStatus, String, String) {
        let pid = self.child.id().to_string();
        let status = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill");
        assert!(status.success());
        let exit = self.child.wait().expect("wait");
        let drain = |rx: &mpsc::Receiver<String>| {
            let mut lines = Vec::new();
            while let Ok(line) = rx.recv_timeout(Duration::from_secs(2)) {
                lines.push(line);
            }
            lines.join("\n")
        };
        let stdout = drain(&self.stdout);
        let stderr = drain(&self.stderr);
        (exit, stdout, stderr)
    }
}

impl Running {
    /// SIGKILL: no shutdown, no cleanup, as a crash.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
