//! The behaviour of the configuration as a whole: defaults, layering, checks.

use std::path::PathBuf;
use std::time::Duration;

use super::settings::Switch;
use super::*;

#[test]
fn defaults_are_the_embedded_setup() {
    let storage = StorageArgs::default().resolve().unwrap();
    assert_eq!(storage.data_dir, PathBuf::from("./data"));
    assert_eq!(storage.database_url, "sqlite://./data/assent.db");
    assert_eq!(storage.log, "info");
    let serve = ServeArgs::default().resolve().unwrap();
    assert_eq!(serve.bind.to_string(), "127.0.0.1:8080");
    assert!(!serve.allow_private_webhooks);
    assert_eq!(serve.max_body_bytes, 1024 * 1024);
    assert!(serve.admin_token.is_none());
}

#[test]
fn flags_and_environment_win_over_the_file() {
    let file: FileConfig = toml::from_str(
        "bind = \"0.0.0.0:9000\"\ndefault_namespace = \"ada\"\ndata_dir = \"/srv/assent\"",
    )
    .unwrap();
    let cli = ServeArgs {
        bind: Some("127.0.0.1:7000".into()),
        ..ServeArgs::default()
    };
    let serve = cli.or(file.serve).resolve().unwrap();
    assert_eq!(serve.bind.to_string(), "127.0.0.1:7000");
    assert_eq!(
        serve.default_namespace.map(|n| n.to_string()),
        Some("ada".into())
    );
    let storage = StorageArgs::default().or(file.storage).resolve().unwrap();
    assert_eq!(storage.database_url, "sqlite:///srv/assent/assent.db");
}

#[test]
fn durations_and_switches() {
    let serve = ServeArgs {
        rate_limits: Some(Switch::Off),
        session_ttl: Some("12h".into()),
        ..Default::default()
    }
    .resolve()
    .unwrap();
    assert!(!serve.rate_limits);
    assert_eq!(serve.session_ttl, Duration::from_secs(43_200));
    assert!(ServeArgs::default().resolve().unwrap().rate_limits);
    assert!(
        ServeArgs {
            session_ttl: Some("10s".into()),
            ..Default::default()
        }
        .resolve()
        .is_err()
    );
    assert!(
        ServeArgs {
            max_keys_per_service: Some(0),
            ..Default::default()
        }
        .resolve()
        .is_err()
    );
}

#[test]
fn delivery_settings_are_checked() {
    let fast = ServeArgs {
        webhook_retry_schedule: Some("0s,100ms".into()),
        delivery_lease: Some("2s".into()),
        delivery_timeout: Some("500ms".into()),
        ..Default::default()
    }
    .resolve()
    .unwrap();
    assert_eq!(fast.engine.schedule.attempts(), 2);
    assert_eq!(fast.engine.timeout, Duration::from_millis(500));
    let error = ServeArgs {
        delivery_lease: Some("5s".into()),
        ..Default::default()
    }
    .resolve()
    .unwrap_err();
    assert!(
        format!("{error:#}").contains("ASSENT_DELIVERY_LEASE"),
        "the lease must outlast an attempt"
    );
    for bad in [
        ServeArgs {
            webhook_retry_schedule: Some("soon".into()),
            ..Default::default()
        },
        ServeArgs {
            delivery_concurrency: Some(0),
            ..Default::default()
        },
        ServeArgs {
            claim_ttl: Some("0s".into()),
            ..Default::default()
        },
        ServeArgs {
            delivery_poll_interval: Some("1ms".into()),
            ..Default::default()
        },
    ] {
        assert!(bad.resolve().is_err());
    }
}

/// Every setting can come from the file: a field missing from `merge_fields!` would stay
/// `None` here (and show in the Debug output), whatever its name.
#[test]
fn every_setting_is_read_from_the_file() {
    let file: FileConfig = toml::from_str(
        r#"
        data_dir = "/srv/assent"
        database_url = "sqlite:///srv/assent/a.db"
        database_pool_size = 4
        log = "debug"
        log_format = "json"
        bind = "127.0.0.1:9000"
        public_url = "https://assent.example.com"
        trusted_proxies = "10.0.0.0/8, ::1"
        cors_origins = "https://app.example.com"
        admin_token = "adm_file_token_0123456789"
        default_namespace = "ada"
        allow_private_webhooks = false
        secret_key = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
        max_body_bytes = 4096
        workers = 2
        session_ttl = "12h"
        signup = "invite"
        rate_limits = "off"
        max_services_per_namespace = 5
        max_keys_per_service = 5
        max_webhooks_per_service = 5
        webhook_retry_schedule = "0s,1s"
        delivery_lease = "20s"
        delivery_timeout = "5s"
        delivery_concurrency = 8
        delivery_poll_interval = "2s"
        webhook_disable_after = "1d"
        webhook_secret_grace = "1h"
        claim_ttl = "2h"
        rate_limit_registration = "5/1h"
        rate_limit_notifications = "50/1m"
        rate_limit_status_updates = "60/1m"
        rate_limit_polling = "30/1m"
        rate_limit_responses = "20/1m"
        max_websockets_per_user = 3
        max_event_streams_per_user = 4
        stream_heartbeat = "15s"
        stream_idle_timeout = "45s"
        change_poll_interval = "250ms"
        metrics = "on"
        metrics_token = "metrics_file_token_0123"
        metrics_bind = "127.0.0.1:9464"
        retain_deliveries = "7d"
        retain_response_bodies = "forever"
        retain_events = "7d"
        retain_notifications = "30d"
        retain_claim_history = "90d"
        retain_expired_nonces = "1h"
        retain_audit_log = "3650d"
        smtp_url = "smtps://assent:pw@mail.example.com"
        mail_from = "assent <assent@example.com>"
        vapid_private_key = "yfWPiYE-n46HLnH0KqZOF1fJJU3MYrct3AELtAQ-oRw"
        "#,
    )
    .unwrap();
    let storage = StorageArgs::default().or(file.storage);
    let serve = ServeArgs::default().or(file.serve);
    assert!(!format!("{storage:?}").contains("None"), "{storage:?}");
    assert!(!format!("{serve:?}").contains("None"), "{serve:?}");
    let resolved = serve.resolve().unwrap();
    assert!(resolved.metrics.enabled && resolved.metrics.separate);
    assert_eq!(
        resolved.metrics_bind,
        Some("127.0.0.1:9464".parse().unwrap())
    );
    assert_eq!(
        resolved.retention.deliveries,
        Some(Duration::from_secs(7 * 86_400))
    );
    assert_eq!(resolved.retention.response_bodies, None, "forever");
    assert_eq!(resolved.retention.nonces, Some(Duration::from_secs(3600)));
    assert_eq!(resolved.session_ttl, Duration::from_secs(43_200));
    assert_eq!(resolved.signup, assent_core::SignupPolicy::Invite);
    assert!(!resolved.rate_limits);
    assert_eq!(resolved.claim_ttl, Duration::from_secs(7200));
    // RFC 8291's example key: its public half is the RFC's too.
    assert_eq!(
        resolved.vapid_key.map(|k| k.public_key()).as_deref(),
        Some(
            "BP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A8"
        )
    );
    assert_eq!(
        (resolved.smtp_url.as_deref(), resolved.mail_from.as_str()),
        (
            Some("smtps://assent:pw@mail.example.com"),
            "assent <assent@example.com>"
        )
    );
    assert_eq!(resolved.engine.concurrency, 8);
    assert_eq!(
        resolved.rate.submission,
        assent_http::rate_limit::Rate::per_minute(50)
    );
    assert_eq!(resolved.rate.websockets_per_user, 3);
    assert_eq!(resolved.stream_idle_timeout, Duration::from_secs(45));
    assert_eq!(resolved.change_poll_interval, Duration::from_millis(250));
    assert_eq!(
        resolved.trusted_proxies,
        assent_http::TrustedProxies::parse("10.0.0.0/8,::1").unwrap()
    );
    assert_eq!(resolved.cors_origins, ["https://app.example.com"]);
}

#[test]
fn trusted_proxies_and_cors_origins_are_none_by_default_and_checked() {
    let defaults = ServeArgs::default().resolve().unwrap();
    assert!(defaults.trusted_proxies.is_empty());
    assert!(defaults.cors_origins.is_empty());
    let origins = ServeArgs {
        cors_origins: Some("https://App.Example.com:443, http://localhost:3000".into()),
        ..Default::default()
    };
    assert_eq!(
        origins.resolve().unwrap().cors_origins,
        ["https://app.example.com", "http://localhost:3000"]
    );
    for bad in [
        "*",
        "app.example.com",
        "https://app.example.com/",
        "https://app.example.com/path",
        "https://app.example.com?x=1",
        "https://user@app.example.com",
        "ftp://app.example.com",
        "null",
    ] {
        let args = ServeArgs {
            cors_origins: Some(bad.into()),
            ..Default::default()
        };
        let error = format!("{:#}", args.resolve().unwrap_err());
        assert!(error.contains("ASSENT_CORS_ORIGINS"), "{bad}: {error}");
    }
    for bad in ["10.0.0.0/33", "proxy.internal", "10.0.0.0/8;"] {
        let args = ServeArgs {
            trusted_proxies: Some(bad.into()),
            ..Default::default()
        };
        let error = format!("{:#}", args.resolve().unwrap_err());
        assert!(error.contains("ASSENT_TRUSTED_PROXIES"), "{bad}: {error}");
    }
}

#[test]
fn rates_and_connection_limits_are_checked() {
    for bad in [
        ServeArgs {
            rate_limit_notifications: Some("many".into()),
            ..Default::default()
        },
        ServeArgs {
            rate_limit_polling: Some("0/1m".into()),
            ..Default::default()
        },
        ServeArgs {
            max_websockets_per_user: Some(0),
            ..Default::default()
        },
        ServeArgs {
            stream_heartbeat: Some("1ms".into()),
            ..Default::default()
        },
    ] {
        assert!(bad.resolve().is_err());
    }
    let defaults = ServeArgs::default().resolve().unwrap();
    assert_eq!(
        defaults.rate,
        assent_http::rate_limit::RateLimits::default()
    );
}

#[test]
fn unknown_file_keys_are_errors() {
    assert!(toml::from_str::<FileConfig>("bnid = \"x\"").is_err());
}

#[test]
fn invalid_values_name_the_setting() {
    let cases: [(ServeArgs, &str); 6] = [
        (
            ServeArgs {
                bind: Some("nonsense".into()),
                ..Default::default()
            },
            "ASSENT_BIND",
        ),
        (
            ServeArgs {
                admin_token: Some("short".into()),
                ..Default::default()
            },
            "ASSENT_ADMIN_TOKEN",
        ),
        (
            ServeArgs {
                default_namespace: Some("Not Valid".into()),
                ..Default::default()
            },
            "ASSENT_DEFAULT_NAMESPACE",
        ),
        (
            ServeArgs {
                secret_key: Some("abc".into()),
                ..Default::default()
            },
            "ASSENT_SECRET_KEY",
        ),
        (
            ServeArgs {
                public_url: Some("ftp://x".into()),
                ..Default::default()
            },
            "ASSENT_PUBLIC_URL",
        ),
        (
            ServeArgs {
                max_body_bytes: Some(10),
                ..Default::default()
            },
            "ASSENT_MAX_BODY_BYTES",
        ),
    ];
    for (args, name) in cases {
        let error = format!("{:#}", args.resolve().unwrap_err());
        assert!(error.contains(name), "{error}");
    }
    let storage = StorageArgs {
        database_url: Some("mysql://x/y".into()),
        ..Default::default()
    };
    assert!(format!("{:#}", storage.resolve().unwrap_err()).contains("ASSENT_DATABASE_URL"));
}

/// The table's defaults are the library crates' own: a default changed on one side only shows
/// here.
#[test]
fn the_table_defaults_are_the_library_defaults() {
    let storage = StorageArgs::default().resolve().unwrap();
    let pool = assent_store::PoolOptions::default();
    assert_eq!(storage.pool.max_connections, pool.max_connections);
    assert_eq!(storage.pool.checkout_timeout, pool.checkout_timeout);
    let serve = ServeArgs::default().resolve().unwrap();
    assert_eq!(serve.quotas, assent_http::Quotas::default());
    assert_eq!(serve.signup, assent_http::HttpSettings::default().signup);
    assert_eq!(serve.rate, assent_http::rate_limit::RateLimits::default());
    let engine = assent_delivery::EngineConfig::default();
    assert_eq!(serve.engine.schedule, engine.schedule);
    assert_eq!(serve.engine.lease, engine.lease);
    assert_eq!(serve.engine.timeout, engine.timeout);
    assert_eq!(serve.engine.concurrency, engine.concurrency);
    assert_eq!(serve.engine.poll_interval, engine.poll_interval);
    assert_eq!(serve.engine.disable_after, engine.disable_after);
    assert_eq!(serve.engine.policy, engine.policy);
    assert_eq!(serve.retention, assent_store::Retention::default());
    assert!(!serve.metrics.enabled && serve.metrics.token.is_none() && !serve.metrics.separate);
}

/// A minimum in the table in the TOML syntax of its setting: a number, or a quoted duration.
fn toml_value(text: &str) -> String {
    if text.parse::<u64>().is_ok() {
        text.to_owned()
    } else {
        format!("{text:?}")
    }
}

/// The value just below `min`: one less, or a millisecond less; `None` below zero.
fn just_below(min: &str) -> Option<String> {
    match min.parse::<u64>() {
        Ok(n) => n.checked_sub(1).map(|n| n.to_string()),
        Err(_) => {
            let millis = assent_core::time::parse_duration(min)?.as_millis();
            millis.checked_sub(1).map(|ms| format!("{ms}ms"))
        }
    }
}

fn resolve_file(text: &str) -> anyhow::Result<()> {
    let file: FileConfig = toml::from_str(text)?;
    file.storage.resolve()?;
    file.serve.resolve()?;
    Ok(())
}

#[test]
fn every_minimum_in_the_table_is_accepted_and_anything_below_it_is_refused_by_name() {
    let settings = StorageArgs::SETTINGS.iter().chain(ServeArgs::SETTINGS);
    let mut checked = 0;
    for setting in settings {
        let Some(min) = setting.at_least else {
            continue;
        };
        let at_min = format!("{} = {}", setting.key, toml_value(min));
        // The lease must also outlast the timeout, whose minimum is the same: the lease's own
        // minimum is never enough (the cross check names the lease as well).
        if setting.key != "delivery_lease" {
            resolve_file(&at_min).unwrap_or_else(|e| panic!("{at_min}: {e:#}"));
        }
        let below = just_below(min).unwrap_or_else(|| panic!("{}: minimum {min}", setting.key));
        let below = format!("{} = {}", setting.key, toml_value(&below));
        let error = format!("{:#}", resolve_file(&below).unwrap_err());
        assert!(error.contains(setting.env), "{below}: {error}");
        checked += 1;
    }
    assert!(checked >= 15, "only {checked} minimums");
}

#[test]
fn the_admin_token_must_have_the_minimum_length_of_the_table() {
    let token = |text: &str| ServeArgs {
        admin_token: Some(text.into()),
        ..Default::default()
    };
    assert!(token("adm_0123456789ab").resolve().is_ok(), "16 characters");
    let error = token("adm_0123456789a").resolve().unwrap_err();
    assert_eq!(
        error.to_string(),
        "ASSENT_ADMIN_TOKEN must be at least 16 characters, without surrounding spaces"
    );
    assert!(
        token(" adm_0123456789abc").resolve().is_err(),
        "a leading space"
    );
}

#[test]
fn names_are_derived_from_the_field_name() {
    let lease = &settings::setting::delivery_lease;
    assert_eq!(lease.key, "delivery_lease");
    assert_eq!(lease.flag(), "--delivery-lease");
    assert_eq!(lease.env, "ASSENT_DELIVERY_LEASE");
    for setting in StorageArgs::SETTINGS.iter().chain(ServeArgs::SETTINGS) {
        assert_eq!(
            setting.env,
            format!("ASSENT_{}", setting.key.to_uppercase())
        );
        assert!(!setting.help().is_empty(), "{} has no help", setting.key);
        assert!(
            setting.default.is_some() || !setting.unset.is_empty(),
            "{} says nothing about its default",
            setting.key
        );
    }
}

/// Parses `args` after `serve` with clap, as the binary does.
fn parse_serve(args: &[&str]) -> Result<ServeArgs, clap::Error> {
    use clap::{Args, FromArgMatches};
    let command = ServeArgs::augment_args(clap::Command::new("serve"));
    let matches =
        command.try_get_matches_from(std::iter::once("serve").chain(args.iter().copied()))?;
    ServeArgs::from_arg_matches(&matches)
}

#[test]
fn a_switch_alone_means_true_and_still_takes_a_value() {
    let switch = |args: &[&str]| parse_serve(args).map(|serve| serve.allow_private_webhooks);
    assert_eq!(switch(&["--allow-private-webhooks"]).unwrap(), Some(true));
    assert_eq!(
        switch(&["--allow-private-webhooks", "--bind", "127.0.0.1:1"]).unwrap(),
        Some(true),
        "the next flag is not taken for its value"
    );
    assert_eq!(
        switch(&["--allow-private-webhooks=true"]).unwrap(),
        Some(true)
    );
    assert_eq!(
        switch(&["--allow-private-webhooks=false"]).unwrap(),
        Some(false)
    );
    assert_eq!(
        switch(&["--allow-private-webhooks", "false"]).unwrap(),
        Some(false)
    );
    assert!(switch(&["--allow-private-webhooks=maybe"]).is_err());
    assert!(
        parse_serve(&["--allow-private-webhooks"])
            .unwrap()
            .resolve()
            .unwrap()
            .engine
            .policy
            .allow_private
    );
}
