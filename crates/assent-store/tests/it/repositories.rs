//! Repository behaviour, on SQLite and on PostgreSQL.

use std::sync::{Arc, Barrier};

use assent_auth::{MintedToken, TokenHash, TokenKind};
use assent_core::{EndpointFormat, EventType};
use assent_store::testing::{Engine, TestDatabase};
use assent_store::{
    Actor, NewAccount, NewApiKey, NewService, NewWebhookEndpoint, RegisterError, Store, StoreError,
};

static ADMIN: std::sync::LazyLock<Actor> =
    std::sync::LazyLock::new(|| Actor::AdminToken("tests".to_owned()));

fn account(store: &Store, email: &str, namespace: &str) {
    store
        .create_account(
            NewAccount {
                email: email.to_owned(),
                namespace: namespace.to_owned(),
                password_hash: "$argon2id$stand-in".to_owned(),
            },
            Some(&Actor::Cli),
        )
        .expect("create account");
}

fn service(namespace: &str, slug: &str, name: &str) -> NewService {
    NewService {
        namespace: namespace.to_owned(),
        slug: slug.to_owned(),
        name: name.to_owned(),
        description: Some("does things".to_owned()),
        icon_url: None,
    }
}

fn key(token: &MintedToken) -> NewApiKey {
    NewApiKey {
        id: assent_auth::random::id("key_"),
        name: "default".to_owned(),
        prefix: token.display_prefix(),
        hash: token.hash.clone(),
    }
}

fn endpoint() -> NewWebhookEndpoint {
    NewWebhookEndpoint {
        id: assent_auth::random::id("wh_"),
        url: "https://lovelace.dev/atp/webhook".to_owned(),
        format: EndpointFormat::Atp,
        signing_key: None,
        events: vec![EventType::NotificationResponded],
        secret_sealed: "v1.sealed".to_owned(),
    }
}

fn migrations_are_idempotent(engine: Engine) {
    let db = TestDatabase::new(engine);
    assert_eq!(
        db.store.migrate().expect("migrate again"),
        Vec::<String>::new()
    );
}

fn concurrent_migrations_take_turns(engine: Engine) {
    let db = TestDatabase::unmigrated(engine);
    let racers = 4;
    let barrier = Arc::new(Barrier::new(racers));
    let applied: Vec<Vec<String>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..racers)
            .map(|_| {
                let barrier = Arc::clone(&barrier);
                // Separate pools, as separate replicas would have.
                let store = Store::connect(&db.url, &assent_store::PoolOptions::default())
                    .expect("connect");
                scope.spawn(move || {
                    barrier.wait();
                    store.migrate().expect("every replica's migration succeeds")
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("thread"))
            .collect()
    });
    let appliers = applied
        .iter()
        .filter(|versions| !versions.is_empty())
        .count();
    assert_eq!(appliers, 1, "one replica applied everything: {applied:?}");
    let mut versions: Vec<&String> = applied.iter().flatten().collect();
    let total = versions.len();
    versions.dedup();
    assert_eq!(versions.len(), total, "no migration ran twice");
    assert_eq!(
        db.store.migrate().expect("migrate again"),
        Vec::<String>::new()
    );
    account(&db.store, "ada@example.com", "ada");
}

fn accounts_conflict_on_email_case_insensitively_and_on_namespace(engine: Engine) {
    let db = TestDatabase::new(engine);
    account(&db.store, "Ada@Example.com", "ada");
    let by_email = db.store.create_account(
        NewAccount {
            email: "ada@example.COM".to_owned(),
            namespace: "other".to_owned(),
            password_hash: "x".to_owned(),
        },
        None,
    );
    assert!(matches!(by_email, Err(StoreError::Conflict("email"))));
    let by_namespace = db.store.create_account(
        NewAccount {
            email: "grace@example.com".to_owned(),
            namespace: "ada".to_owned(),
            password_hash: "x".to_owned(),
        },
        None,
    );
    assert!(matches!(
        by_namespace,
        Err(StoreError::Conflict("namespace"))
    ));
    assert!(db.store.namespace_exists("ada").expect("query"));
    assert!(!db.store.namespace_exists("grace").expect("query"));
}

fn registration_stores_service_key_and_endpoint_together(engine: Engine) {
    let db = TestDatabase::new(engine);
    account(&db.store, "ada@example.com", "ada");
    let token = MintedToken::new(TokenKind::ApiKey);
    let endpoint = endpoint();
    let created = db
        .store
        .register_service(
            service("ada", "lovelace-ide", "Lovelace IDE"),
            key(&token),
            endpoint.clone(),
            &ADMIN,
            100,
        )
        .expect("register");
    assert_eq!(created.slug, "lovelace-ide");
    assert_eq!(created.namespace, "ada");
    assert_eq!(
        db.store.get_service(&created.id).expect("get"),
        Some(created.clone())
    );
    assert_eq!(
        db.store.list_services("ada").expect("list"),
        vec![created.clone()]
    );

    let owner = db
        .store
        .find_api_key(&token.hash)
        .expect("lookup")
        .expect("key found");
    assert_eq!(owner.service_id, created.id);
    assert_eq!(
        (owner.namespace.as_str(), owner.slug.as_str()),
        ("ada", "lovelace-ide")
    );
    assert_eq!(
        db.store
            .find_api_key(&TokenHash::of("sk_live_nope"))
            .expect("lookup"),
        None
    );

    let endpoints = db
        .store
        .list_webhook_endpoints(&created.id)
        .expect("list endpoints");
    assert_eq!(endpoints.len(), 1);
    assert_eq!(endpoints[0].id, endpoint.id);
    assert_eq!(endpoints[0].format, EndpointFormat::Atp);
    assert_eq!(endpoints[0].events, vec![EventType::NotificationResponded]);
    assert_eq!(endpoints[0].secret_sealed, "v1.sealed");
    assert!(endpoints[0].enabled);
}

fn registration_needs_an_existing_namespace(engine: Engine) {
    let db = TestDatabase::new(engine);
    let token = MintedToken::new(TokenKind::ApiKey);
    let result = db.store.register_service(
        service("ghost", "x", "X"),
        key(&token),
        endpoint(),
        &ADMIN,
        100,
    );
    assert!(matches!(result, Err(RegisterError::NamespaceNotFound(ns)) if ns == "ghost"));
}

fn a_taken_slug_or_name_is_a_conflict_only_within_the_namespace(engine: Engine) {
    let db = TestDatabase::new(engine);
    account(&db.store, "ada@example.com", "ada");
    account(&db.store, "grace@example.com", "grace");
    let register = |ns: &str, slug: &str, name: &str| {
        let token = MintedToken::new(TokenKind::ApiKey);
        db.store.register_service(
            service(ns, slug, name),
            key(&token),
            endpoint(),
            &ADMIN,
            100,
        )
    };
    register("ada", "lovelace-ide", "Lovelace IDE").expect("first");
    assert!(matches!(
        register("ada", "lovelace-ide", "Other"),
        Err(RegisterError::ServiceExists)
    ));
    assert!(matches!(
        register("ada", "other", "Lovelace IDE"),
        Err(RegisterError::ServiceExists)
    ));
    register("grace", "lovelace-ide", "Lovelace IDE").expect("another namespace");
}

fn a_failed_registration_leaves_nothing_behind(engine: Engine) {
    let db = TestDatabase::new(engine);
    account(&db.store, "ada@example.com", "ada");
    let token = MintedToken::new(TokenKind::ApiKey);
    db.store
        .register_service(
            service("ada", "first", "First"),
            key(&token),
            endpoint(),
            &ADMIN,
            100,
        )
        .expect("first");
    // The same key hash again fails on the api_keys insert, after the service row went in.
    let result = db.store.register_service(
        service("ada", "second", "Second"),
        key(&token),
        endpoint(),
        &ADMIN,
        100,
    );
    assert!(matches!(result, Err(RegisterError::Store(_))));
    let slugs: Vec<String> = db
        .store
        .list_services("ada")
        .expect("list")
        .into_iter()
        .map(|s| s.slug)
        .collect();
    assert_eq!(slugs, vec!["first".to_owned()]);
}

fn concurrent_registrations_of_one_name_let_exactly_one_win(engine: Engine) {
    let db = TestDatabase::new(engine);
    account(&db.store, "ada@example.com", "ada");
    let racers = 8;
    let barrier = Arc::new(Barrier::new(racers));
    let results: Vec<Result<_, RegisterError>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..racers)
            .map(|_| {
                let barrier = Arc::clone(&barrier);
                let store = db.store.clone();
                scope.spawn(move || {
                    let token = MintedToken::new(TokenKind::ApiKey);
                    barrier.wait();
                    store.register_service(
                        service("ada", "race", "Race"),
                        key(&token),
                        endpoint(),
                        &ADMIN,
                        100,
                    )
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("thread"))
            .collect()
    });
    let wins = results.iter().filter(|r| r.is_ok()).count();
    let conflicts = results
        .iter()
        .filter(|r| matches!(r, Err(RegisterError::ServiceExists)))
        .count();
    assert_eq!((wins, conflicts), (1, racers - 1), "{results:?}");
}

fn the_bootstrap_admin_token_is_created_once(engine: Engine) {
    let db = TestDatabase::new(engine);
    let first = MintedToken::new(TokenKind::Admin);
    assert!(
        db.store
            .bootstrap_admin_token(&first.hash)
            .expect("bootstrap")
    );
    let second = MintedToken::new(TokenKind::Admin);
    assert!(
        !db.store
            .bootstrap_admin_token(&second.hash)
            .expect("bootstrap again")
    );
    assert!(
        db.store
            .find_admin_token(&first.hash)
            .expect("find")
            .is_some()
    );
    assert!(
        db.store
            .find_admin_token(&second.hash)
            .expect("find")
            .is_none()
    );
}

fn revoked_admin_tokens_stop_matching(engine: Engine) {
    let db = TestDatabase::new(engine);
    let token = MintedToken::new(TokenKind::Admin);
    let created = db
        .store
        .create_admin_token(&token.hash, "ci")
        .expect("create");
    assert_eq!(
        db.store.find_admin_token(&token.hash).expect("find"),
        Some(created.clone())
    );
    db.store.revoke_admin_token(&created.id).expect("revoke");
    assert_eq!(db.store.find_admin_token(&token.hash).expect("find"), None);
    assert!(matches!(
        db.store.revoke_admin_token(&created.id),
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        db.store.revoke_admin_token("no-such-id"),
        Err(StoreError::NotFound)
    ));
    let listed = db.store.list_admin_tokens().expect("list");
    assert_eq!(listed.len(), 1);
    assert!(listed[0].revoked_at.is_some());
}

assent_store::on_both_engines!(
    migrations_are_idempotent,
    concurrent_migrations_take_turns,
    accounts_conflict_on_email_case_insensitively_and_on_namespace,
    registration_stores_service_key_and_endpoint_together,
    registration_needs_an_existing_namespace,
    a_taken_slug_or_name_is_a_conflict_only_within_the_namespace,
    a_failed_registration_leaves_nothing_behind,
    concurrent_registrations_of_one_name_let_exactly_one_win,
    the_bootstrap_admin_token_is_created_once,
    revoked_admin_tokens_stop_matching,
);
