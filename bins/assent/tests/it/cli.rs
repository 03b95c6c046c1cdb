//! The `assent` binary as an operator uses it: real processes, real files, real signals.

use crate::common;

use std::io::Write;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use assent_store::NewAccount;
use assent_store::testing::{Engine, TestDatabase};
use common::{ADMIN_TOKEN, assent, run, serve, serve_with, text};
use serde_json::{Value, json};

fn create_account(dir: &Path, database_url: Option<&str>) {
    let mut command = assent(dir);
    command.args([
        "account",
        "create",
        "--email",
        "ada@example.com",
        "--namespace",
        "ada",
        "--password",
        "correct horse battery",
    ]);
    if let Some(url) = database_url {
        command.env("ASSENT_DATABASE_URL", url);
    }
    let out = run(&mut command);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("with namespace ada"));
}

/// Runs `command` with `input` on its standard input.
fn run_with_stdin(command: &mut std::process::Command, input: &[u8]) -> std::process::Output {
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input)
        .expect("write");
    child.wait_with_output().expect("wait")
}

fn seed_body() -> Value {
    json!({
        "name": "Lovelace IDE",
        "description": "AI-powered integrated development environment",
        "callback_url": "https://lovelace.dev/atp/webhook",
        "webhook_secret": "your-secure-random-string",
    })
}

async fn post_registration(url: &str, token: &str) -> (u16, Value) {
    let response = reqwest::Client::new()
        .post(url)
        .bearer_auth(token)
        .header("content-type", "application/json")
        .body(seed_body().to_string())
        .send()
        .await
        .expect("request");
    let status = response.status().as_u16();
    (status, response.json().await.expect("JSON"))
}

/// The README's quick start: create an account, serve with a known admin token and a default
/// namespace, register the example service (201), and again (409). Logs must not hold secrets.
async fn quick_start(engine: Engine) {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = (engine == Engine::Postgres).then(|| TestDatabase::new(engine));
    let database_url = db.as_ref().map(|db| db.url.as_str());
    create_account(dir.path(), database_url);

    let mut command = assent(dir.path());
    command
        .env("ASSENT_ADMIN_TOKEN", ADMIN_TOKEN)
        .env("ASSENT_DEFAULT_NAMESPACE", "ada");
    if let Some(url) = database_url {
        command.env("ASSENT_DATABASE_URL", url);
    }
    let server = serve(command);
    let url = server.url("/api/v1/services");

    let (status, body) = post_registration(&url, ADMIN_TOKEN).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["service_id"], "lovelace-ide");
    assert_eq!(body["webhook_secret"], "your-secure-random-string");
    let api_key = body["api_key"].as_str().expect("api_key").to_owned();
    assert!(api_key.starts_with("sk_live_"));

    let (status, body) = post_registration(&url, ADMIN_TOKEN).await;
    assert_eq!(status, 409);
    assert_eq!(body["code"], "SERVICE_ALREADY_EXISTS");

    let (exit, stdout, stderr) = server.terminate();
    assert!(exit.success(), "graceful exit: {exit:?}\n{stderr}");
    assert!(stderr.contains("stopped"), "{stderr}");
    for secret in [
        ADMIN_TOKEN,
        api_key.as_str(),
        "your-secure-random-string",
        "correct horse battery",
    ] {
        assert!(
            !stdout.contains(secret) && !stderr.contains(secret),
            "a secret was printed"
        );
    }
}

#[tokio::test]
async fn quick_start_on_sqlite() {
    quick_start(Engine::Sqlite).await;
}

#[tokio::test]
async fn quick_start_on_postgres() {
    quick_start(Engine::Postgres).await;
}

/// With nothing configured, `serve` makes ./data/assent.db and a private key file, prints a
/// generated admin token once, and that token works. A second start prints none.
#[tokio::test]
async fn serve_starts_on_the_embedded_default_and_prints_the_first_admin_token_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    create_account(dir.path(), None);
    let server = serve(assent(dir.path()));
    let health = reqwest::get(server.url("/health")).await.expect("health");
    assert_eq!(health.status().as_u16(), 200);
    let (exit, stdout, _) = server.terminate();
    assert!(exit.success());

    assert!(dir.path().join("data/assent.db").is_file());
    let key_file = dir.path().join("data/secret.key");
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&key_file)
        .expect("key file")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600, "the key file is owner-only");

    let token = stdout.lines().last().unwrap_or_default().to_owned();
    assert!(token.starts_with("adm_") && token.len() == 52, "{stdout}");

    let mut command = assent(dir.path());
    command.env("ASSENT_DEFAULT_NAMESPACE", "ada");
    let server = serve(command);
    let (status, _) = post_registration(&server.url("/api/v1/services"), &token).await;
    assert_eq!(status, 201, "the printed token is an admin token");
    let (exit, stdout, _) = server.terminate();
    assert!(exit.success());
    assert!(
        !stdout.contains("adm_"),
        "no second token on a second start: {stdout}"
    );
}

/// With a mail server configured, `serve` starts and stops cleanly: the SMTP transport is
/// built on the runtime (its connection pool spawns a task; built before it, serve aborted).
#[tokio::test]
async fn serve_starts_with_an_smtp_server_configured() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut command = assent(dir.path());
    command.env("ASSENT_SMTP_URL", "smtp://127.0.0.1:2525");
    let server = serve(command);
    let health = reqwest::get(server.url("/health")).await.expect("health");
    assert_eq!(health.status().as_u16(), 200);
    let (exit, _, stderr) = server.terminate();
    assert!(exit.success(), "{stderr}");
}

/// A taken port fails before anything is created: no admin token is printed (or stored) for
/// a server that never ran, so the next start on a free port still prints the first one.
#[test]
fn a_taken_port_fails_before_the_first_admin_token_is_made() {
    let dir = tempfile::tempdir().expect("tempdir");
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let address = taken.local_addr().expect("address").to_string();

    let out = run(assent(dir.path()).arg("serve").env("ASSENT_BIND", &address));
    assert!(!out.status.success(), "serve on a taken port must fail");
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains(&format!("cannot listen on {address}")),
        "{stderr}"
    );
    assert!(!text(&out.stdout).contains("adm_"), "no token printed");
    assert!(
        !dir.path().join("data").exists(),
        "nothing is created for a server that cannot listen"
    );
    drop(taken);

    let server = serve(assent(dir.path()));
    let (exit, stdout, _) = server.terminate();
    assert!(exit.success());
    assert!(
        stdout.lines().any(|l| l.starts_with("adm_")),
        "the first start that listens prints the first token: {stdout}"
    );
}

#[test]
fn invalid_configuration_is_a_clear_error_not_a_panic() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("bad.toml"), "bnid = \"127.0.0.1:1\"\n").expect("write");
    let cases: [(&str, &str, &str); 7] = [
        ("ASSENT_BIND", "not-an-address", "ASSENT_BIND"),
        (
            "ASSENT_DATABASE_URL",
            "mysql://localhost/x",
            "ASSENT_DATABASE_URL",
        ),
        ("ASSENT_ADMIN_TOKEN", "short", "ASSENT_ADMIN_TOKEN"),
        ("ASSENT_SECRET_KEY", "not-base64!", "ASSENT_SECRET_KEY"),
        ("ASSENT_LOG", "assent=loud[", "ASSENT_LOG"),
        // Parsed by clap, which names the flag and exits with its usage code, 2.
        (
            "ASSENT_ALLOW_PRIVATE_WEBHOOKS",
            "maybe",
            "--allow-private-webhooks",
        ),
        ("ASSENT_CONFIG", "bad.toml", "bnid"),
    ];
    for (name, value, expected) in cases {
        let out = run(assent(dir.path())
            .arg("serve")
            .env("ASSENT_BIND", "127.0.0.1:0")
            .env(name, value));
        let stderr = text(&out.stderr);
        assert_eq!(
            out.status.code(),
            Some(if name == "ASSENT_ALLOW_PRIVATE_WEBHOOKS" {
                2
            } else {
                1
            }),
            "{name}: {stderr}"
        );
        assert!(stderr.contains(expected), "{name}: {stderr}");
        assert!(!stderr.contains("panicked"), "{name}: {stderr}");
        assert!(
            !stderr.contains(value) || name != "ASSENT_ADMIN_TOKEN",
            "the token is not echoed"
        );
    }
}

/// A flag wins over the environment, which wins over the file. Each case makes one layer's
/// address the bad one, so the error shows which layer was read.
#[test]
fn a_flag_wins_over_the_environment_which_wins_over_the_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("assent.toml"),
        "bind = \"file-address\"\nmax_body_bytes = 10\n",
    )
    .expect("write");
    let serve = |environment: Option<&str>, flag: Option<&str>| {
        let mut command = assent(dir.path());
        command.args(["--config", "assent.toml", "serve"]);
        if let Some(address) = environment {
            command.env("ASSENT_BIND", address);
        }
        if let Some(address) = flag {
            command.args(["--bind", address]);
        }
        run(&mut command)
    };
    let cases = [
        (None, None, "`file-address`"),
        (Some("environment-address"), None, "`environment-address`"),
        (
            Some("environment-address"),
            Some("flag-address"),
            "`flag-address`",
        ),
    ];
    for (environment, flag, expected) in cases {
        let out = serve(environment, flag);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        assert!(stderr.contains(expected), "{expected}: {stderr}");
    }
    // The file's other keys are still read beneath the environment.
    let out = serve(Some("127.0.0.1:0"), None);
    assert!(
        text(&out.stderr).contains("ASSENT_MAX_BODY_BYTES must be at least 1024"),
        "{}",
        text(&out.stderr)
    );
}

/// `--allow-private-webhooks` is a switch: alone it turns the development mode on, which the
/// server warns about at start; `=false` leaves it off.
#[tokio::test]
async fn allow_private_webhooks_works_as_a_bare_switch() {
    for (args, on) in [
        (&["--allow-private-webhooks"][..], true),
        (&["--allow-private-webhooks=false"][..], false),
        (&[][..], false),
    ] {
        let dir = tempfile::tempdir().expect("tempdir");
        let server = serve_with(assent(dir.path()), args);
        let warned = server
            .startup
            .iter()
            .any(|line| line.contains("ASSENT_ALLOW_PRIVATE_WEBHOOKS is on"));
        assert_eq!(warned, on, "{args:?}: {:#?}", server.startup);
        // Once it answers, it has its signal handlers: SIGTERM is a graceful stop.
        let health = reqwest::get(server.url("/health")).await.expect("health");
        assert_eq!(health.status().as_u16(), 200);
        let (exit, _, stderr) = server.terminate();
        assert!(exit.success(), "{args:?} {exit:?}: {stderr}");
    }
}

/// Secrets can come from the files their `ASSENT_*_FILE` variables name, as container
/// platforms mount them: the admin token and the key are read from files ending in a newline,
/// the token works, and no key file is generated. A secret given both ways is refused.
#[tokio::test]
async fn secrets_are_read_from_the_files_their_file_variables_name() {
    let dir = tempfile::tempdir().expect("tempdir");
    create_account(dir.path(), None);
    let token_file = dir.path().join("admin-token");
    std::fs::write(&token_file, format!("{ADMIN_TOKEN}\n")).expect("write");
    let key_file = dir.path().join("key");
    std::fs::write(&key_file, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n").expect("write");

    let mut command = assent(dir.path());
    command
        .env("ASSENT_ADMIN_TOKEN_FILE", &token_file)
        .env("ASSENT_SECRET_KEY_FILE", &key_file)
        .env("ASSENT_DEFAULT_NAMESPACE", "ada");
    let server = serve(command);
    let (status, body) = post_registration(&server.url("/api/v1/services"), ADMIN_TOKEN).await;
    assert_eq!(
        status, 201,
        "the token from the file is the admin token: {body}"
    );
    let (exit, _, stderr) = server.terminate();
    assert!(exit.success(), "{stderr}");
    assert!(
        !dir.path().join("data/secret.key").exists(),
        "the key came from its file"
    );

    let out = run(assent(dir.path())
        .arg("serve")
        .env("ASSENT_ADMIN_TOKEN", ADMIN_TOKEN)
        .env("ASSENT_ADMIN_TOKEN_FILE", &token_file));
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("ASSENT_ADMIN_TOKEN_FILE and ASSENT_ADMIN_TOKEN"),
        "{stderr}"
    );
    assert!(!stderr.contains(ADMIN_TOKEN), "the token is not echoed");
}

#[test]
fn an_unreachable_database_fails_fast_with_the_reason() {
    let dir = tempfile::tempdir().expect("tempdir");
    let started = std::time::Instant::now();
    let out = run(assent(dir.path())
        .arg("migrate")
        .env("ASSENT_DATABASE_URL", "postgres://postgres@127.0.0.1:1/x"));
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("Connection refused"),
        "{}",
        text(&out.stderr)
    );
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "no pool retry loop"
    );
}

#[test]
fn admin_tokens_are_created_listed_and_revoked() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = run(assent(dir.path()).args(["admin-token", "create", "--label", "ci"]));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let token = stdout.lines().last().unwrap_or_default();
    assert!(token.starts_with("adm_") && token.len() == 52, "{stdout}");

    let out = run(assent(dir.path()).args(["admin-token", "list"]));
    let listing = text(&out.stdout);
    assert!(
        listing.contains("ci") && listing.contains("active"),
        "{listing}"
    );
    assert!(!listing.contains(token), "listing never shows the token");
    let id = listing
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_owned();

    let out = run(assent(dir.path()).args(["admin-token", "revoke", &id]));
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&run(assent(dir.path()).args(["admin-token", "list"])).stdout).contains("revoked")
    );
    let out = run(assent(dir.path()).args(["admin-token", "revoke", &id]));
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("no active admin token"));
}

#[test]
fn accounts_validate_and_read_the_password_from_stdin() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut command = assent(dir.path());
    command.args([
        "account",
        "create",
        "--email",
        "grace@example.com",
        "--namespace",
        "grace",
    ]);
    let out = run_with_stdin(&mut command, b"a long enough password\n");
    assert!(out.status.success(), "{}", text(&out.stderr));

    for (args, expected) in [
        (
            ["--email", "grace@example.com", "--namespace", "other"],
            "email is already registered",
        ),
        (
            ["--email", "x@example.com", "--namespace", "grace"],
            "namespace is already registered",
        ),
        (
            ["--email", "not-an-email", "--namespace", "valid"],
            "not an email address",
        ),
        (
            ["--email", "y@example.com", "--namespace", "No"],
            "namespace `No`",
        ),
    ] {
        let out = run(assent(dir.path())
            .args(["account", "create"])
            .args(args)
            .args(["--password", "long enough pw"]));
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        assert!(
            text(&out.stderr).contains(expected),
            "{args:?}: {}",
            text(&out.stderr)
        );
    }
    let out = run(assent(dir.path()).args([
        "account",
        "create",
        "--email",
        "z@example.com",
        "--namespace",
        "zed",
        "--password",
        "short",
    ]));
    assert!(
        text(&out.stderr).contains("8 to 256 characters"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn serve_help_documents_every_setting() {
    let out = run(assent(Path::new(".")).args(["serve", "--help"]));
    let help = text(&out.stdout);
    for name in [
        "ASSENT_CONFIG",
        "ASSENT_BIND",
        "ASSENT_DATA_DIR",
        "ASSENT_DATABASE_URL",
        "ASSENT_DATABASE_POOL_SIZE",
        "ASSENT_PUBLIC_URL",
        "ASSENT_ADMIN_TOKEN",
        "ASSENT_DEFAULT_NAMESPACE",
        "ASSENT_ALLOW_PRIVATE_WEBHOOKS",
        "ASSENT_SECRET_KEY",
        "ASSENT_MAX_BODY_BYTES",
        "ASSENT_WORKERS",
        "ASSENT_LOG",
        "ASSENT_LOG_FORMAT",
        "ASSENT_SESSION_TTL",
        "ASSENT_RATE_LIMITS",
        "ASSENT_MAX_SERVICES_PER_NAMESPACE",
        "ASSENT_MAX_KEYS_PER_SERVICE",
        "ASSENT_MAX_WEBHOOKS_PER_SERVICE",
        "ASSENT_WEBHOOK_RETRY_SCHEDULE",
        "ASSENT_DELIVERY_LEASE",
        "ASSENT_DELIVERY_TIMEOUT",
        "ASSENT_DELIVERY_CONCURRENCY",
        "ASSENT_DELIVERY_POLL_INTERVAL",
        "ASSENT_WEBHOOK_DISABLE_AFTER",
        "ASSENT_WEBHOOK_SECRET_GRACE",
        "ASSENT_CLAIM_TTL",
    ] {
        assert!(help.contains(name), "{name} missing from serve --help");
    }
}

#[test]
fn user_tokens_are_created_for_a_namespace_owner() {
    let dir = tempfile::tempdir().expect("tempdir");
    create_account(dir.path(), None);
    let out =
        run(assent(dir.path()).args(["token", "create", "--namespace", "ada", "--name", "laptop"]));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let token = stdout.lines().last().unwrap_or_default();
    assert!(token.starts_with("ut_") && token.len() == 51, "{stdout}");
    assert!(stdout.contains("created for ada"));

    let out = run(assent(dir.path()).args(["token", "create", "--namespace", "nobody"]));
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("no account owns the namespace `nobody`"));
}

#[test]
fn migrate_runs_on_postgres() {
    let db = TestDatabase::new(Engine::Postgres);
    let dir = tempfile::tempdir().expect("tempdir");
    let out = run(assent(dir.path())
        .arg("migrate")
        .env("ASSENT_DATABASE_URL", &db.url));
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("up to date"));
}

/// A malformed request is the client's fault: it is answered with a 4xx and logs nothing at
/// WARN or ERROR (actix-http logs a bad request line at ERROR on its own).
#[tokio::test]
async fn malformed_requests_log_nothing_at_warn_or_error() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let dir = tempfile::tempdir().expect("tempdir");
    let server = serve(assent(dir.path()));
    for raw in [
        "GET / HTTP/1.1\r\nHost: x\r\nthis is no header\r\n\r\n",
        "GET /\x01 HTTP/1.1\r\nHost: x\r\n\r\n",
        "POST /v1/auth/login HTTP/1.1\r\nHost: x\r\nContent-Length: zz\r\n\r\n",
    ] {
        let mut connection = tokio::net::TcpStream::connect(&server.address)
            .await
            .expect("connect");
        connection.write_all(raw.as_bytes()).await.expect("write");
        let mut answer = Vec::new();
        let _ = connection.read_to_end(&mut answer).await;
        let answer = text(&answer);
        assert!(answer.starts_with("HTTP/1.1 400"), "{raw:?}: {answer}");
    }
    let client = reqwest::Client::new();
    for (content_type, body, status) in [
        ("application/json", "{\"email\": ", 400),
        (
            "text/plain",
            "{\"email\": \"a@b.c\", \"password\": \"x\"}",
            415,
        ),
    ] {
        let response = client
            .post(server.url("/v1/auth/login"))
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .expect("login");
        assert_eq!(response.status().as_u16(), status, "{content_type}");
    }
    let (exit, _, stderr) = server.terminate();
    assert!(exit.success());
    assert!(
        stderr.contains("handled"),
        "the requests were logged: {stderr}"
    );
    for line in stderr.lines() {
        assert!(
            !line.contains(" ERROR ") && !line.contains(" WARN "),
            "{line}"
        );
    }
}

/// The operator's account commands on one engine: list, disable and enable, user tokens,
/// invites, password resets (a link, or set from stdin), reserved names, and deletion.
fn the_operator_manages_accounts(engine: Engine) {
    let db = TestDatabase::new(engine);
    let dir = tempfile::tempdir().expect("tempdir");
    let cli = |args: &[&str]| {
        let out = run(assent(dir.path())
            .args(args)
            .env("ASSENT_DATABASE_URL", &db.url));
        (out.status.code(), text(&out.stdout), text(&out.stderr))
    };
    create_account(dir.path(), Some(&db.url));
    let ada = db
        .store
        .find_account_by_email("ada@example.com")
        .unwrap()
        .unwrap();

    let (code, listing, _) = cli(&["account", "list"]);
    assert_eq!(code, Some(0));
    assert!(
        listing.contains(&ada.id)
            && listing.contains("ada@example.com  ada")
            && listing.contains("active"),
        "{listing}"
    );

    // User tokens: listed without the token, revoked once.
    let (_, created, _) = cli(&["token", "create", "--namespace", "ada", "--name", "laptop"]);
    let token = created.lines().last().unwrap_or_default().to_owned();
    let (code, listing, _) = cli(&["token", "list", "--namespace", "ada"]);
    assert_eq!(code, Some(0));
    assert!(
        listing.contains("laptop") && !listing.contains(&token),
        "{listing}"
    );
    let id = listing
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_owned();
    assert_eq!(
        cli(&["token", "revoke", "--namespace", "ada", &id]).0,
        Some(0)
    );
    let (code, _, stderr) = cli(&["token", "revoke", "--namespace", "ada", &id]);
    assert_eq!(code, Some(1));
    assert!(stderr.contains("no active user token"), "{stderr}");

    // Disable (found by any case of the email), then enable.
    let (code, out, stderr) = cli(&["account", "disable", "--email", "ADA@example.com"]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(out.contains("disabled"), "{out}");
    assert!(db.store.find_login("ada@example.com").unwrap().is_none());
    assert!(cli(&["account", "list"]).1.contains("disabled"));
    assert_eq!(
        cli(&["account", "enable", "--email", "ada@example.com"]).0,
        Some(0)
    );
    assert!(db.store.find_login("ada@example.com").unwrap().is_some());
    let (code, _, stderr) = cli(&["account", "disable", "--email", "nobody@example.com"]);
    assert_eq!(code, Some(1));
    assert!(
        stderr.contains("no account has the email nobody@example.com"),
        "{stderr}"
    );

    // An invite link, whole with the public URL, that signs up the invited email once.
    let (code, out, stderr) = cli(&[
        "account",
        "invite",
        "--email",
        "grace@example.com",
        "--public-url",
        "https://assent.example.com/",
    ]);
    assert_eq!(code, Some(0), "{stderr}");
    let link = out.lines().last().unwrap_or_default();
    let invite = link
        .strip_prefix("https://assent.example.com/dashboard/signup?invite=")
        .unwrap_or_else(|| panic!("{out}"));
    assert!(invite.starts_with("inv_"), "{link}");
    let new = NewAccount {
        email: "grace@example.com".to_owned(),
        namespace: "grace".to_owned(),
        password_hash: "$argon2id$stand-in".to_owned(),
    };
    let hash = assent_auth::TokenHash::of(invite);
    assert!(
        db.store
            .create_account_with_invite(new.clone(), &hash)
            .is_ok()
    );
    assert!(
        db.store.create_account_with_invite(new, &hash).is_err(),
        "single use"
    );

    // A reset link for the account, and a password set from stdin.
    let (code, out, _) = cli(&["account", "reset-password", "--email", "ada@example.com"]);
    assert_eq!(code, Some(0));
    let link = out.lines().last().unwrap_or_default();
    let reset = link
        .strip_prefix("/dashboard/reset-password?token=")
        .unwrap_or_else(|| panic!("{out}"));
    let found = db
        .store
        .find_password_reset(&assent_auth::TokenHash::of(reset))
        .unwrap();
    assert_eq!(found.map(|a| a.id), Some(ada.id.clone()));
    let mut command = assent(dir.path());
    command
        .args([
            "account",
            "reset-password",
            "--email",
            "ada@example.com",
            "--password-stdin",
        ])
        .env("ASSENT_DATABASE_URL", &db.url);
    let out = run_with_stdin(&mut command, b"a new long password\n");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stored = db.store.password_hash(&ada.id).unwrap();
    assert!(assent_auth::verify_password("a new long password", &stored));

    // A reserved namespace is refused.
    let (code, _, stderr) = cli(&[
        "account",
        "create",
        "--email",
        "c@example.com",
        "--namespace",
        "claims",
        "--password",
        "long enough pw",
    ]);
    assert_eq!(code, Some(1));
    assert!(stderr.contains("reserved"), "{stderr}");

    // Deleting needs --yes.
    let (code, _, stderr) = cli(&["account", "delete", "--email", "ada@example.com"]);
    assert_eq!(code, Some(1));
    assert!(stderr.contains("--yes"), "{stderr}");
    assert!(
        db.store
            .find_account_by_email("ada@example.com")
            .unwrap()
            .is_some()
    );
    let (code, out, _) = cli(&["account", "delete", "--email", "ada@example.com", "--yes"]);
    assert_eq!(code, Some(0));
    assert!(out.contains("deleted"), "{out}");
    assert!(
        db.store
            .find_account_by_email("ada@example.com")
            .unwrap()
            .is_none()
    );
    assert!(!cli(&["account", "list"]).1.contains("ada@example.com"));
}

#[test]
fn the_operator_manages_accounts_on_sqlite() {
    the_operator_manages_accounts(Engine::Sqlite);
}

#[test]
fn the_operator_manages_accounts_on_postgres() {
    the_operator_manages_accounts(Engine::Postgres);
}
