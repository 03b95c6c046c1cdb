//! The application layer on its own, as a Rust program that embeds assent would use it: no
//! web server, a real database on each engine, and the same rules and codes the front ends
//! answer with.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test that cannot go on should fail at once, where it stands"
)]

use std::future::Future;

use assent_app::{App, Error, Kind, Settings, accounts, agents, claims, code, credentials};
use assent_app::{keys, services, webhooks};
use assent_auth::{SecretKey, TokenHash};
use assent_core::claim::Decision;
use assent_core::{ServiceInput, SignupInput};
use assent_store::testing::{Engine, TestDatabase};
use assent_store::{Account, NewClaim, Submitted};

/// Runs `test` on a fresh database of `engine`, on a runtime of its own.
fn with_app<F, Fut>(engine: Engine, test: F)
where
    F: FnOnce(App) -> Fut,
    Fut: Future<Output = Result<(), Error>>,
{
    let db = TestDatabase::new(engine);
    let app = App::new(db.store.clone(), SecretKey::generate(), Settings::default());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("runtime: {e}"));
    if let Err(e) = runtime.block_on(test(app)) {
        panic!("{e}");
    }
}

/// A login's origin: only its client address.
fn from(address: &str) -> assent_store::SessionOrigin {
    assent_store::SessionOrigin {
        user_agent: None,
        address: Some(address.to_owned()),
    }
}

async fn owner(app: &App, namespace: &str) -> Result<Account, Error> {
    let signup = SignupInput {
        email: Some(format!("{namespace}@example.com")),
        namespace: Some(namespace.to_owned()),
        password: Some("correct horse battery".to_owned()),
        invite: None,
    };
    Ok(accounts::sign_up(app, signup, Default::default()).await?.0)
}

async fn service(app: &App, owner: &Account, slug: &str) -> Result<assent_core::Service, Error> {
    let input = ServiceInput {
        slug: Some(slug.to_owned()),
        name: Some(format!("The {slug}")),
        description: None,
    };
    services::create(app, owner, input).await
}

/// A claim for agent key number `n` on `service` of `ada`.
fn claim_for(service: &assent_core::Service, n: u32) -> NewClaim {
    NewClaim {
        namespace: "ada".into(),
        service_id: service.id.clone(),
        service_slug: service.slug.clone(),
        public_key: format!("ed25519:{n:0>43}="),
        agent_key: format!("did:key:z6Mk{n}"),
        agent_ip: None,
        subject: None,
        agent_id: None,
        agent_name: None,
    }
}

fn refused<T: std::fmt::Debug>(result: Result<T, Error>) -> Error {
    match result {
        Ok(value) => panic!("expected a refusal, got {value:?}"),
        Err(e) => e,
    }
}

fn a_minted_key_identifies_its_service_until_revoked(engine: Engine) {
    with_app(engine, |app| async move {
        let ada = owner(&app, "ada").await?;
        let api = service(&app, &ada, "api").await?;
        let minted = keys::mint(&app, &ada, api.id.clone(), Some("ci".into())).await?;
        assert!(minted.key.starts_with("sk_live_"), "{}", minted.key);
        assert_eq!(minted.record.name, "ci");

        let caller = credentials::service(&app, TokenHash::of(&minted.key)).await?;
        assert_eq!(
            (caller.service_id.as_str(), caller.namespace.as_str()),
            (api.id.as_str(), "ada")
        );

        keys::revoke(&app, &ada, api.id.clone(), minted.record.id.clone()).await?;
        let e = refused(credentials::service(&app, TokenHash::of(&minted.key)).await);
        assert_eq!(
            (e.kind(), e.code()),
            (Kind::Unauthenticated, code::AUTH_INVALID_TOKEN)
        );
        assert!(keys::list(&app, &ada, api.id).await?.is_empty());
        Ok(())
    });
}

fn a_credential_of_another_kind_is_forbidden_not_unknown(engine: Engine) {
    with_app(engine, |app| async move {
        let ada = owner(&app, "ada").await?;
        let token = accounts::mint_user_token(&app, &ada, None).await?;
        let e = refused(credentials::service(&app, TokenHash::of(&token.token)).await);
        assert_eq!(
            (e.kind(), e.code()),
            (Kind::Forbidden, code::AUTH_INSUFFICIENT_PERMISSIONS)
        );
        assert_eq!(
            credentials::human(&app, TokenHash::of(&token.token))
                .await?
                .id,
            ada.id
        );
        Ok(())
    });
}

fn another_owners_service_looks_like_no_service(engine: Engine) {
    with_app(engine, |app| async move {
        let ada = owner(&app, "ada").await?;
        let lin = owner(&app, "lin").await?;
        let api = service(&app, &ada, "api").await?;
        for e in [
            refused(services::get(&app, &lin, api.id.clone()).await),
            refused(services::delete(&app, &lin, api.id.clone()).await),
            refused(keys::mint(&app, &lin, api.id.clone(), None).await),
        ] {
            assert_eq!((e.kind(), e.code()), (Kind::NotFound, code::NOT_FOUND));
        }
        // Nothing changed for its owner.
        assert!(keys::list(&app, &ada, api.id.clone()).await?.is_empty());
        assert_eq!(services::get(&app, &ada, api.id).await?.slug, "api");
        Ok(())
    });
}

fn a_taken_slug_and_bad_fields_are_refused_with_their_codes(engine: Engine) {
    with_app(engine, |app| async move {
        let ada = owner(&app, "ada").await?;
        service(&app, &ada, "api").await?;
        let e = refused(service(&app, &ada, "api").await);
        assert_eq!(
            (e.kind(), e.code()),
            (Kind::Conflict, code::SERVICE_ALREADY_EXISTS)
        );
        let e = refused(service(&app, &ada, "Not A Slug").await);
        assert_eq!(
            (e.code(), e.field()),
            (code::VALIDATION_ERROR, Some("slug"))
        );
        let e = refused(services::change(&app, &ada, "x".into(), None, None).await);
        assert_eq!(
            (e.code(), e.field()),
            (code::VALIDATION_ERROR, Some("name"))
        );
        assert_eq!(services::list(&app, &ada).await?.len(), 1);
        Ok(())
    });
}

fn a_private_webhook_target_is_refused_and_nothing_is_stored(engine: Engine) {
    with_app(engine, |app| async move {
        let ada = owner(&app, "ada").await?;
        let api = service(&app, &ada, "api").await?;
        for url in [
            "http://127.0.0.1/hook",
            "https://10.0.0.1/hook",
            "https://localhost/x",
        ] {
            let e = refused(
                webhooks::add(
                    &app,
                    &ada,
                    api.id.clone(),
                    webhooks::NewWebhook {
                        url: Some(url.into()),
                        ..Default::default()
                    },
                )
                .await,
            );
            assert_eq!(
                (e.code(), e.field()),
                (code::INVALID_WEBHOOK_URL, Some("url")),
                "{url}"
            );
        }
        let e = refused(
            webhooks::add(
                &app,
                &ada,
                api.id.clone(),
                webhooks::NewWebhook {
                    url: Some("https://example.com/hook".into()),
                    events: Some(vec!["request.nope".into()]),
                    ..Default::default()
                },
            )
            .await,
        );
        assert_eq!(
            (e.code(), e.field()),
            (code::INVALID_EVENT_TYPE, Some("events"))
        );
        assert!(webhooks::list(&app, &ada, api.id).await?.is_empty());
        Ok(())
    });
}

fn failed_logins_lock_the_email_even_for_the_right_password(engine: Engine) {
    with_app(engine, |app| async move {
        owner(&app, "ada").await?;
        let email = || Some("ada@example.com".to_owned());
        for _ in 0..assent_app::throttle::MAX_FAILURES {
            let e = refused(
                accounts::log_in(&app, email(), Some("wrong".into()), from("192.0.2.1")).await,
            );
            assert_eq!(
                (e.kind(), e.code()),
                (Kind::Unauthenticated, code::INVALID_CREDENTIALS)
            );
        }
        let right = Some("correct horse battery".to_owned());
        let e = refused(accounts::log_in(&app, email(), right, from("192.0.2.2")).await);
        assert_eq!(
            (e.kind(), e.code()),
            (Kind::TooManyRequests, code::RATE_LIMIT_EXCEEDED)
        );
        assert!(e.retry_after().is_some_and(|wait| wait.as_secs() >= 1));
        Ok(())
    });
}

fn of_concurrent_decisions_on_a_claim_exactly_one_wins(engine: Engine) {
    with_app(engine, |app| async move {
        let ada = owner(&app, "ada").await?;
        let api = service(&app, &ada, "api").await?;
        let new = claim_for(&api, 0);
        let Submitted::Created(claim) = agents::submit(&app, new.clone(), "n-1".into()).await?
        else {
            panic!("a new claim");
        };
        let e = refused(agents::submit(&app, new, "n-1".into()).await);
        assert_eq!((e.kind(), e.code()), (Kind::Conflict, code::NONCE_REPLAY));

        let decisions = [
            Decision::Approve,
            Decision::Reject,
            Decision::Approve,
            Decision::Reject,
        ];
        let handles: Vec<_> = decisions
            .into_iter()
            .map(|decision| {
                let (app, ada, id) = (app.clone(), ada.clone(), claim.id.clone());
                tokio::spawn(async move { claims::decide(&app, &ada, id, decision).await })
            })
            .collect();
        let mut won = 0;
        for handle in handles {
            match handle.await.unwrap_or_else(|e| panic!("{e}")) {
                Ok(_) => won += 1,
                Err(e) => {
                    assert_eq!(e.code(), code::CLAIM_STATE_CONFLICT);
                    assert!(e.detail("status").is_some(), "{e:?}");
                }
            }
        }
        assert_eq!(won, 1);
        Ok(())
    });
}

fn the_pages_of_a_claim_listing_walk_every_claim_once(engine: Engine) {
    with_app(engine, |app| async move {
        let ada = owner(&app, "ada").await?;
        let api = service(&app, &ada, "api").await?;
        let mut submitted = Vec::new();
        for n in 0..5 {
            let new = claim_for(&api, n);
            let Submitted::Created(claim) = agents::submit(&app, new, format!("n-{n}")).await?
            else {
                panic!("a new claim");
            };
            submitted.push(claim.id);
        }
        let mut seen = Vec::new();
        let mut cursor = None;
        for _ in 0..5 {
            let query = claims::ListQuery {
                limit: Some("2".into()),
                cursor: cursor.clone(),
                ..claims::ListQuery::default()
            };
            let page = claims::list(&app, &ada, "ada", query).await?;
            assert!(page.items.len() <= 2);
            seen.extend(page.items.into_iter().map(|c| c.id));
            cursor = page.next_cursor;
            if cursor.is_none() {
                break;
            }
        }
        assert!(cursor.is_none(), "the listing ends");
        seen.sort();
        submitted.sort();
        assert_eq!(seen, submitted, "every claim once");
        Ok(())
    });
}

assent_store::on_both_engines!(
    the_pages_of_a_claim_listing_walk_every_claim_once,
    a_minted_key_identifies_its_service_until_revoked,
    a_credential_of_another_kind_is_forbidden_not_unknown,
    another_owners_service_looks_like_no_service,
    a_taken_slug_and_bad_fields_are_refused_with_their_codes,
    a_private_webhook_target_is_refused_and_nothing_is_stored,
    failed_logins_lock_the_email_even_for_the_right_password,
    of_concurrent_decisions_on_a_claim_exactly_one_wins,
);
