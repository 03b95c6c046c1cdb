//! `assent serve`: open and migrate the database, make sure an admin token exists, start the
//! HTTP server and the webhook delivery engine, and stop both gracefully on SIGTERM or SIGINT.

use std::net::TcpListener;
use std::path::Path;

use anyhow::Context;
use assent_auth::web_push::VapidKey;
use assent_auth::{MintedToken, SecretKey, TokenKind};
use assent_core::WebhookUrlPolicy;
use assent_http::{AppState, HttpSettings, ServerOptions};
use assent_store::{Backend, Store};

use crate::commands::open_store;
use crate::config::{ServeConfig, StorageConfig};

pub fn run(storage: StorageConfig, config: ServeConfig) -> anyhow::Result<()> {
    // The port first: a taken port must fail before the first admin token is created and
    // printed, or that token would be shown for a server that never ran (and never again).
    let listener = TcpListener::bind(config.bind)
        .with_context(|| format!("cannot listen on {}", config.bind))?;
    let address = listener.local_addr()?;
    let metrics_listener = config
        .metrics_bind
        .map(|bind| {
            TcpListener::bind(bind).with_context(|| format!("cannot listen on {bind} for /metrics"))
        })
        .transpose()?;
    std::fs::create_dir_all(&storage.data_dir).with_context(|| {
        format!(
            "cannot create the data directory {}",
            storage.data_dir.display()
        )
    })?;
    let store = open_store(&storage)?;
    bootstrap_admin_token(&store, &config)?;
    let secret_key = match config.secret_key.clone() {
        Some(key) => key,
        None => {
            if store.backend() == Backend::Postgres {
                tracing::warn!(
                    "ASSENT_SECRET_KEY is not set: using a key file in the data directory. \
                     Every replica that shares this database must use the same key."
                );
            }
            load_or_create_key(&storage.data_dir.join("secret.key"))?
        }
    };
    let vapid_key = match config.vapid_key.clone() {
        Some(key) => key,
        None => {
            if store.backend() == Backend::Postgres {
                tracing::warn!(
                    "ASSENT_VAPID_PRIVATE_KEY is not set: using a key file in the data directory. \
                     Every replica that shares this database must use the same key."
                );
            }
            load_or_create_vapid_key(&storage.data_dir.join("vapid.key"))?
        }
    };
    if config.allow_private_webhooks {
        tracing::warn!(
            "ASSENT_ALLOW_PRIVATE_WEBHOOKS is on: webhooks may target http and private or \
             loopback addresses. Never use this in production."
        );
    }

    if !config.rate_limits {
        tracing::warn!(
            "ASSENT_RATE_LIMITS is off: no rate limit applies, logins are not throttled"
        );
    }
    let settings = HttpSettings {
        public_url: config.public_url.clone(),
        default_namespace: config.default_namespace.as_ref().map(ToString::to_string),
        signup: config.signup,
        webhook_policy: WebhookUrlPolicy {
            allow_private: config.allow_private_webhooks,
        },
        max_body_bytes: config.max_body_bytes,
        session_ttl: config.session_ttl,
        quotas: config.quotas,
        rate_limits: config.rate_limits,
        secret_grace: config.secret_grace,
        claim_ttl: config.claim_ttl,
        rate: config.rate,
        stream_heartbeat: config.stream_heartbeat,
        stream_idle_timeout: config.stream_idle_timeout,
        feed_poll: config.change_poll_interval,
        trusted_proxies: config.trusted_proxies.clone(),
        cors_origins: config.cors_origins.clone(),
        metrics: config.metrics.clone(),
        vapid_public_key: Some(vapid_key.public_key()),
    };
    let public_url = match &config.public_url {
        Some(url) => url.clone(),
        None => url::Url::parse(&format!("http://{}", config.bind))
            .context("the bind address makes no URL")?,
    };
    let push_subject = web_push_subject(&config.mail_from, &public_url);
    let (messenger_store, messenger_key) = (store.clone(), secret_key.clone());
    // On PostgreSQL, other replicas' commits wake this one's change feed, delivery engine and
    // message sender at once; polling stays as the fallback. Held until the server stops.
    let _listener = store
        .listen()
        .context("cannot start the PostgreSQL listener thread")?;
    let upkeep_store = store.clone();
    let engine_store = store.clone();
    let state = AppState::new(store, secret_key.clone(), settings);
    let engine = assent_delivery::Engine::new(engine_store, secret_key, config.engine.clone())
        .context("cannot build the webhook client")?
        .count_attempts(state.metrics.delivery_attempts());
    let decisions = state.app.decisions().clone();
    let retention = config.retention;
    let feed = state.feed.clone();
    let mut options = ServerOptions::default();
    if let Some(workers) = config.workers {
        options.workers = workers;
    }

    actix_web::rt::System::new().block_on(async move {
        // Built on the runtime: the SMTP transport's connection pool spawns a task.
        let messenger = assent_delivery::Messenger::new(
            messenger_store,
            assent_delivery::MessengerConfig {
                smtp_url: config.smtp_url.clone(),
                mail_from: config.mail_from.clone(),
                public_url,
                schedule: config.engine.schedule.clone(),
                lease: config.engine.lease,
                timeout: config.engine.timeout,
                concurrency: config.engine.concurrency,
                poll_interval: config.engine.poll_interval,
                policy: config.engine.policy,
            },
        )
        .context("cannot set up sending to owners' channels")?
        .with_web_push(assent_delivery::WebPushConfig {
            key: messenger_key,
            vapid: vapid_key,
            subject: push_subject,
        });
        let metrics_server = match metrics_listener {
            Some(listener) => {
                let metrics_address = listener.local_addr()?;
                let server = assent_http::start_metrics(state.clone(), listener)?;
                tracing::info!(%metrics_address, "metrics on http://{metrics_address}/metrics");
                Some(server)
            }
            None => None,
        };
        let metrics_handle = metrics_server.as_ref().map(actix_web::dev::Server::handle);
        let metrics_running = metrics_server.map(actix_web::rt::spawn);
        let server = assent_http::start(state, listener, &options)?;
        let handle = server.handle();
        // Installed before "listening" is said, so a supervisor that signals as soon as it
        // reads that line gets a graceful stop, not the default kill.
        let stopped = shutdown_signal()?;
        tracing::info!(%address, "listening on http://{address}");
        if let Some(public_url) = &config.public_url {
            tracing::info!(%public_url, "public URL");
        }
        let running = actix_web::rt::spawn(server);
        let (stop_delivery, delivery_stopped) = tokio::sync::watch::channel(false);
        let delivery = engine.spawn(delivery_stopped.clone());
        let messages = messenger.spawn(delivery_stopped.clone());
        let upkeep = actix_web::rt::spawn(maintenance(
            upkeep_store,
            retention,
            decisions,
            delivery_stopped,
        ));
        stopped.await?;
        tracing::info!("shutting down: finishing in-flight requests and delivery attempts");
        // Open client streams end now (their clients reconnect), or they would hold the
        // graceful stop for its whole timeout.
        feed.close_all();
        handle.stop(true).await;
        if let Some(metrics) = metrics_handle {
            metrics.stop(true).await;
        }
        // In-flight attempts finish and are recorded; nothing new is claimed.
        let _ = stop_delivery.send(true);
        delivery.await.context("the delivery engine failed")?;
        messages.await.context("the message sender failed")?;
        upkeep.await.context("the maintenance task failed")?;
        running.await.context("the server task failed")??;
        if let Some(metrics) = metrics_running {
            metrics.await.context("the metrics server task failed")??;
        }
        tracing::info!("stopped");
        Ok(())
    })
}

/// On first start with an empty database, create the admin token: the configured one, or a
/// generated one printed once on stdout.
fn bootstrap_admin_token(store: &Store, config: &ServeConfig) -> anyhow::Result<()> {
    let token = match &config.admin_token {
        Some(configured) => MintedToken::from_plaintext(configured.clone()),
        None => MintedToken::new(TokenKind::Admin),
    };
    if store.bootstrap_admin_token(&token.hash)? {
        if config.admin_token.is_some() {
            tracing::info!("created the admin token from ASSENT_ADMIN_TOKEN");
        } else {
            println!("Created the first admin token. It is shown only now; keep it safe:");
            println!("{}", token.plaintext.expose());
        }
    } else if config.admin_token.is_some() && store.find_admin_token(&token.hash)?.is_none() {
        tracing::warn!(
            "ASSENT_ADMIN_TOKEN is ignored: admin tokens already exist and it is not one of \
             them (it is used only on first start; see `assent admin-token create`)"
        );
    }
    Ok(())
}

/// Reads the key file, or creates it (owner-only permissions) on first start.
fn load_or_create_key(path: &Path) -> anyhow::Result<SecretKey> {
    match std::fs::read_to_string(path) {
        Ok(text) => SecretKey::from_base64(&text)
            .with_context(|| format!("the key file {} is corrupt", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let key = SecretKey::generate();
            write_private_file(path, key.to_base64().expose())
                .with_context(|| format!("cannot write the key file {}", path.display()))?;
            tracing::info!(path = %path.display(), "generated the key that encrypts webhook secrets");
            Ok(key)
        }
        Err(e) => Err(e).with_context(|| format!("cannot read the key file {}", path.display())),
    }
}

/// Reads the VAPID key file, or creates it (owner-only permissions) on first start.
fn load_or_create_vapid_key(path: &Path) -> anyhow::Result<VapidKey> {
    match std::fs::read_to_string(path) {
        Ok(text) => VapidKey::from_base64url(&text)
            .with_context(|| format!("the VAPID key file {} is corrupt", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let key = VapidKey::generate();
            write_private_file(path, key.to_base64url().expose())
                .with_context(|| format!("cannot write the VAPID key file {}", path.display()))?;
            tracing::info!(path = %path.display(), "generated the VAPID key that signs Web Push messages");
            Ok(key)
        }
        Err(e) => {
            Err(e).with_context(|| format!("cannot read the VAPID key file {}", path.display()))
        }
    }
}

/// The contact a VAPID JWT names (RFC 8292, section 2.1): the sender address as `mailto:`,
/// or the public URL when the sender is the placeholder `assent@localhost`.
fn web_push_subject(mail_from: &str, public_url: &url::Url) -> String {
    let address = mail_from
        .rsplit_once('<')
        .map_or(mail_from, |(_, rest)| rest.trim_end_matches('>'))
        .trim();
    if address.is_empty() || address.ends_with("@localhost") {
        public_url.origin().ascii_serialization()
    } else {
        format!("mailto:{address}")
    }
}

#[cfg(unix)]
fn write_private_file(path: &Path, contents: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(contents.as_bytes())?;
    file.sync_all()
}

#[cfg(not(unix))]
fn write_private_file(path: &Path, contents: &str) -> std::io::Result<()> {
    std::fs::write(path, contents)
}

/// Periodic upkeep, on every replica (each step is safe to run concurrently): pending claims
/// and notifications past their expiry or deadline become `expired` with their event or
/// status update (reads also expire them lazily; these count as decisions `by="expiry"`),
/// notification changes older than a day are purged (clients resuming from before that are
/// sent the current state instead), expired rate buckets, failed-login windows and stream
/// leases are deleted, and what `retention` no longer keeps is pruned in small batches (see
/// `Store::prune`), a bounded amount per tick.
async fn maintenance(
    store: Store,
    retention: assent_store::Retention,
    decisions: assent_app::metrics::Decisions,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(30));
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.changed() => return,
        }
        if *stop.borrow() {
            return;
        }
        let store = store.clone();
        let result = tokio::task::spawn_blocking(move || {
            let now = assent_core::Timestamp::now();
            let day_ago = assent_core::Timestamp::from_millis(now.as_millis() - CHANGES_KEPT_MS);
            let claims = store.expire_due_claims(now, 1000)?;
            let notifications = store.expire_due_notifications(now, 1000)?;
            let changes = store.purge_changes(day_ago)?;
            let limits = store.purge_expired_limits(now)?;
            let pruned = store.prune(&retention, now, PRUNE_BATCH, PRUNE_BATCHES)?;
            Ok::<_, assent_store::StoreError>((claims, notifications, changes, limits, pruned))
        })
        .await;
        match result {
            Ok(Ok((claims, notifications, changes, limits, pruned))) => {
                decisions.add("claim", "expiry", claims as u64);
                decisions.add("notification", "expiry", notifications as u64);
                if claims + notifications + changes + pruned.total() > 0 {
                    tracing::info!(
                        expired = claims + notifications,
                        changes,
                        limits,
                        deliveries = pruned.deliveries,
                        response_bodies = pruned.response_bodies,
                        events = pruned.events,
                        notifications = pruned.notifications,
                        claim_history = pruned.claim_history,
                        nonces = pruned.nonces,
                        audit_log = pruned.audit_log,
                        "expired requests and pruned old rows"
                    );
                }
            }
            Ok(Err(e)) => tracing::warn!(error = %e, "maintenance failed; it runs again shortly"),
            Err(e) => tracing::error!(error = %e, "maintenance task panicked"),
        }
    }
}

/// Rows per pruning transaction: short enough that SQLite's writer is never held for long.
const PRUNE_BATCH: i64 = 500;
/// Transactions per kind of row and tick: a backlog is worked off over several ticks.
const PRUNE_BATCHES: usize = 20;

/// How long notification changes are kept for clients that resume a stream.
const CHANGES_KEPT_MS: i64 = 24 * 3600 * 1000;

/// Installs the SIGTERM and SIGINT handlers now; the future resolves at the first signal.
fn shutdown_signal() -> anyhow::Result<impl Future<Output = anyhow::Result<()>>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut terminate = signal(SignalKind::terminate())?;
    let mut interrupt = signal(SignalKind::interrupt())?;
    Ok(async move {
        tokio::select! {
            _ = terminate.recv() => {}
            _ = interrupt.recv() => {}
        }
        Ok(())
    })
}
