//! A throw-away PostgreSQL cluster for fault tests: its own data directory and port, so a test
//! may restart or stop it without touching the machine's shared server that other tests use.
//! The binaries are PostgreSQL 15's (`/usr/lib/postgresql/15/bin`); tests run as root, and
//! PostgreSQL refuses to, so every command runs as the `postgres` user. Missing binaries fail
//! the test: the fault tests are never skipped.

use std::path::{Path, PathBuf};
use std::process::Command;

const BIN: &str = "/usr/lib/postgresql/15/bin";

pub struct Cluster {
    dir: tempfile::TempDir,
    port: u16,
}

impl Cluster {
    /// Creates and starts a cluster with trust authentication on a free local port.
    pub fn start() -> Self {
        assert!(
            Path::new(BIN).join("pg_ctl").exists(),
            "the fault tests need PostgreSQL 15's initdb and pg_ctl in {BIN}"
        );
        let dir = tempfile::tempdir().expect("tempdir");
        as_root(
            "chown",
            &["postgres:postgres", &dir.path().display().to_string()],
        );
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let cluster = Self { dir, port };
        let data = cluster.data().display().to_string();
        cluster.pg(
            "initdb",
            &["-D", &data, "-A", "trust", "-U", "postgres", "--no-sync"],
        );
        cluster.ctl(&["start"]);
        cluster
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// Stops the server (ending every connection at once, as a crash of the database would)
    /// and starts it again; returns once it accepts connections.
    pub fn restart(&self) {
        self.ctl(&["restart", "-m", "immediate"]);
    }

    fn ctl(&self, action: &[&str]) {
        let data = self.data().display().to_string();
        let log = self.dir.path().join("server.log").display().to_string();
        let options = format!(
            "-p {} -c listen_addresses=127.0.0.1 -k {} -c fsync=off",
            self.port,
            self.dir.path().display()
        );
        let mut args = vec!["-D", &data, "-l", &log, "-w", "-o", &options];
        args.extend_from_slice(action);
        self.pg("pg_ctl", &args);
    }

    fn pg(&self, program: &str, args: &[&str]) {
        let output = Command::new("runuser")
            .args(["-u", "postgres", "--"])
            .arg(Path::new(BIN).join(program))
            .args(args)
            .output()
            .expect("run a PostgreSQL command");
        let log = std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default();
        assert!(
            output.status.success(),
            "{program} {args:?} failed: {}{}\n{log}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr),
        );
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let data = self.data().display().to_string();
        let _ = Command::new("runuser")
            .args(["-u", "postgres", "--"])
            .arg(Path::new(BIN).join("pg_ctl"))
            .args(["-D", &data, "-m", "immediate", "-w", "stop"])
            .output();
    }
}

fn as_root(program: &str, args: &[&str]) {
    let status = Command::new(program).args(args).status().expect(program);
    assert!(status.success(), "{program} {args:?} failed");
}
