//! Limits across replicas, with the real binary: a replica that dies (SIGKILL) gives its open
//! streams' places back within the documented time (three stream heartbeats), because each
//! place is a lease in PostgreSQL that only a live replica renews.

use crate::common;

use std::time::{Duration, Instant};

use assent_auth::SecretKey;
use assent_store::testing::{Engine, TestDatabase};
use common::{Running, assent, run, serve, text};

const HEARTBEAT: Duration = Duration::from_millis(500);

fn server(dir: &std::path::Path, database_url: &str, key: &SecretKey) -> Running {
    let mut command = assent(dir);
    command
        .env("ASSENT_DATABASE_URL", database_url)
        .env("ASSENT_SECRET_KEY", key.to_base64().expose())
        .env("ASSENT_MAX_EVENT_STREAMS_PER_USER", "1")
        .env("ASSENT_STREAM_HEARTBEAT", "500ms");
    serve(command)
}

async fn open_events(running: &Running, token: &str) -> reqwest::Response {
    reqwest::Client::new()
        .get(running.url("/api/v1/client/events"))
        .bearer_auth(token)
        .send()
        .await
        .expect("the server answers")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_replicas_streams_free_their_places_within_three_heartbeats() {
    let db = TestDatabase::new(Engine::Postgres);
    let key = SecretKey::generate();
    let dir = tempfile::tempdir().expect("tempdir");
    let cli = |args: &[&str]| {
        let out = run(assent(dir.path())
            .args(args)
            .env("ASSENT_DATABASE_URL", &db.url));
        assert!(out.status.success(), "{}", text(&out.stderr));
        text(&out.stdout)
    };
    cli(&[
        "account",
        "create",
        "--email",
        "ada@example.com",
        "--namespace",
        "ada",
        "--password",
        "correct horse battery",
    ]);
    let created = cli(&["token", "create", "--namespace", "ada"]);
    let token = created.lines().last().unwrap_or_default().to_owned();

    let (a, b) = (
        tempfile::tempdir().expect("tempdir"),
        tempfile::tempdir().expect("tempdir"),
    );
    let doomed = server(a.path(), &db.url, &key);
    let survivor = server(b.path(), &db.url, &key);
    let held = open_events(&doomed, &token).await;
    assert_eq!(held.status(), reqwest::StatusCode::OK);
    // The one place is taken on every replica, for longer than a lease lives unrenewed.
    let start = Instant::now();
    while start.elapsed() < HEARTBEAT * 4 {
        let refused = open_events(&survivor, &token).await;
        assert_eq!(refused.status(), reqwest::StatusCode::TOO_MANY_REQUESTS);
        tokio::time::sleep(HEARTBEAT / 2).await;
    }

    doomed.kill();
    let killed = Instant::now();
    let freed = loop {
        let response = open_events(&survivor, &token).await;
        if response.status() == reqwest::StatusCode::OK {
            break killed.elapsed();
        }
        assert_eq!(response.status(), reqwest::StatusCode::TOO_MANY_REQUESTS);
        assert!(
            killed.elapsed() < HEARTBEAT * 3 + Duration::from_secs(2),
            "the dead replica's place is still taken after {:?}",
            killed.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    // Never before the lease could have expired: at most one heartbeat since its renewal.
    assert!(
        freed >= HEARTBEAT * 2 - Duration::from_millis(100),
        "{freed:?}"
    );
    drop(held);
    let (exit, _, stderr) = survivor.terminate();
    assert!(exit.success(), "{stderr}");
}
