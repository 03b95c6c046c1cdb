//! The operator's production commands on the real binary: `/metrics` on its own listener
//! behind a token, `assent backup` while the server runs, `assent copy` (dry run, a wrong key,
//! the copy, a refused second copy).

use crate::common;

use assent_store::testing::{Engine, TestDatabase};
use common::{ADMIN_TOKEN, assent, run, serve, text};
use serde_json::json;

const METRICS_TOKEN: &str = "scrape-me-0123456789";

#[tokio::test]
async fn metrics_backup_and_copy_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let mut command = assent(dir.path());
    command
        .env("ASSENT_ADMIN_TOKEN", ADMIN_TOKEN)
        .env("ASSENT_DEFAULT_NAMESPACE", "ada")
        .env("ASSENT_METRICS_BIND", "127.0.0.1:0")
        .env("ASSENT_METRICS_TOKEN", METRICS_TOKEN);
    let account = run(assent(dir.path()).args([
        "account",
        "create",
        "--email",
        "ada@example.com",
        "--namespace",
        "ada",
        "--password",
        "correct horse battery",
    ]));
    assert!(account.status.success(), "{}", text(&account.stderr));
    let server = serve(command);
    let metrics_address = server
        .startup
        .iter()
        .find_map(|line| line.split("metrics on http://").nth(1))
        .and_then(|rest| rest.split("/metrics").next())
        .expect("the metrics address is logged")
        .to_owned();
    let client = reqwest::Client::new();
    // Some traffic: an ATP registration (which creates a webhook with a sealed secret).
    let registered = client
        .post(server.url("/api/v1/services"))
        .bearer_auth(ADMIN_TOKEN)
        .json(&json!({
            "name": "Lovelace IDE",
            "description": "AI-powered integrated development environment",
            "callback_url": "https://lovelace.dev/atp/webhook",
            "webhook_secret": "your-secure-random-string",
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(registered.status().as_u16(), 201);

    // /metrics is on its own listener only, behind its token.
    let main = client.get(server.url("/metrics")).send().await.unwrap();
    assert_eq!(main.status().as_u16(), 404);
    let url = format!("http://{metrics_address}");
    let refused = client.get(format!("{url}/metrics")).send().await.unwrap();
    assert_eq!(refused.status().as_u16(), 401);
    let scraped = client
        .get(format!("{url}/metrics"))
        .bearer_auth(METRICS_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(scraped.status().as_u16(), 200);
    let body = scraped.text().await.unwrap();
    assert!(
        body.contains(
            "assent_http_request_duration_seconds_count{route=\"/api/v1/services\",method=\"POST\",status=\"2xx\"} 1"
        ),
        "{body}"
    );
    assert!(body.ends_with("# EOF\n"));

    // A backup while the server runs; never over an existing file.
    let backup = dir.path().join("backup.db");
    let backed = run(assent(dir.path()).args(["backup", "--to", backup.to_str().unwrap()]));
    assert!(backed.status.success(), "{}", text(&backed.stderr));
    let again = run(assent(dir.path()).args(["backup", "--to", backup.to_str().unwrap()]));
    assert!(!again.status.success());
    assert!(
        text(&again.stderr).contains("exists already"),
        "{}",
        text(&again.stderr)
    );
    let (exit, _, stderr) = server.terminate();
    assert!(exit.success(), "{stderr}");

    // Copy the backup into PostgreSQL: a wrong key is refused before anything is written.
    let target = TestDatabase::unmigrated(Engine::Postgres);
    let from = format!("sqlite://{}", backup.display());
    let wrong = run(assent(dir.path())
        .args(["copy", "--from", &from, "--to", &target.url])
        .env(
            "ASSENT_SECRET_KEY",
            assent_auth::SecretKey::generate().to_base64().expose(),
        ));
    assert!(!wrong.status.success());
    assert!(
        text(&wrong.stderr).contains("does not open"),
        "{}",
        text(&wrong.stderr)
    );
    assert!(
        target.store.pending_migrations().unwrap() > 0,
        "nothing written"
    );

    // The key file of the data directory is used when no key is given.
    let dry =
        run(assent(dir.path()).args(["copy", "--from", &from, "--to", &target.url, "--dry-run"]));
    assert!(dry.status.success(), "{}", text(&dry.stderr));
    assert!(
        text(&dry.stdout).contains("Dry run"),
        "{}",
        text(&dry.stdout)
    );
    assert!(
        target.store.pending_migrations().unwrap() > 0,
        "a dry run writes nothing"
    );

    let copied = run(assent(dir.path()).args(["copy", "--from", &from, "--to", &target.url]));
    assert!(copied.status.success(), "{}", text(&copied.stderr));
    let out = text(&copied.stdout);
    assert!(out.contains("Copied and verified"), "{out}");
    assert!(
        out.contains("webhook_endpoints") && out.contains("sha256sum:"),
        "{out}"
    );
    let twice = run(assent(dir.path()).args(["copy", "--from", &from, "--to", &target.url]));
    assert!(!twice.status.success());
    assert!(
        text(&twice.stderr).contains("not empty"),
        "{}",
        text(&twice.stderr)
    );

    // PostgreSQL has pg_dump for backups.
    let pg_backup = run(assent(dir.path())
        .args(["backup", "--to", "x.db"])
        .env("ASSENT_DATABASE_URL", &target.url));
    assert!(!pg_backup.status.success());
    assert!(text(&pg_backup.stderr).contains("pg_dump"));
}
