//! Account safety in the store, on SQLite and PostgreSQL: concurrent signups learn what is
//! taken, one-time tokens are used once under concurrent use, disabling and deleting accounts.

use std::sync::{Arc, Barrier};

use assent_auth::{MintedToken, TokenKind};
use assent_core::Timestamp;
use assent_store::testing::{Engine, TestDatabase};
use assent_store::{Actor, NewAccount, Store, StoreError};

use crate::owners::{account, new_service};

fn new_account(email: &str, namespace: &str) -> NewAccount {
    NewAccount {
        email: email.to_owned(),
        namespace: namespace.to_owned(),
        password_hash: "$argon2id$stand-in".to_owned(),
    }
}

fn in_an_hour() -> Timestamp {
    Timestamp::from_millis(Timestamp::now().as_millis() + 3_600_000)
}

/// Runs `work(i)` for `0..n` on `n` threads released at once; returns the results in order.
fn race<T: Send>(n: usize, work: impl Fn(usize) -> T + Sync) -> Vec<T> {
    let barrier = Arc::new(Barrier::new(n));
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..n)
            .map(|i| {
                let barrier = Arc::clone(&barrier);
                let work = &work;
                scope.spawn(move || {
                    barrier.wait();
                    work(i)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("no panic"))
            .collect()
    })
}

/// 300 signups at once, colliding on the namespace, on the email, or on both: one of each
/// group is created, and every other learns exactly what is taken (the email first when both
/// are), never the other one.
fn concurrent_signups_name_what_is_taken(engine: Engine) {
    let db = TestDatabase::new(engine);
    let results = race(300, |i| {
        let n = i / 3;
        let new = match i % 3 {
            0 => new_account(&format!("ns{n}@example.com"), "race-ns"),
            1 => new_account("race@example.com", &format!("em{n}")),
            _ => new_account("both@example.com", "both-ns"),
        };
        db.store.create_account(new, None)
    });
    let mut created = [0; 3];
    for (i, result) in results.iter().enumerate() {
        match (i % 3, result) {
            (group, Ok(_)) => created[group] += 1,
            (0, Err(StoreError::Conflict("namespace"))) => {}
            (1 | 2, Err(StoreError::Conflict("email"))) => {}
            (group, Err(e)) => panic!("signup {i} of group {group}: {e:?}"),
        }
    }
    assert_eq!(created, [1, 1, 1]);
}

fn reset(store: &Store, email: &str) -> MintedToken {
    let account = store
        .find_account_by_email(email)
        .unwrap()
        .expect("account");
    let minted = MintedToken::new(TokenKind::PasswordReset);
    store
        .create_password_reset(&minted.hash, &account, in_an_hour(), &Actor::Cli)
        .unwrap();
    minted
}

/// A password reset and an invite used by many at once: exactly one use succeeds.
fn one_time_tokens_are_used_once_under_concurrent_use(engine: Engine) {
    let db = TestDatabase::new(engine);
    account(&db.store, "ada");
    let minted = reset(&db.store, "ada@example.com");
    assert!(
        db.store
            .find_password_reset(&minted.hash)
            .unwrap()
            .is_some()
    );
    let results = race(16, |_| {
        db.store.reset_password(&minted.hash, "$argon2id$new")
    });
    assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 1);
    assert!(
        results
            .iter()
            .all(|r| matches!(r, Ok(_) | Err(StoreError::NotFound)))
    );
    assert_eq!(
        db.store
            .password_hash(&results.iter().find_map(|r| r.as_ref().ok()).unwrap().id)
            .unwrap(),
        "$argon2id$new"
    );
    assert!(
        db.store
            .find_password_reset(&minted.hash)
            .unwrap()
            .is_none()
    );

    // A newer reset replaces an older unused one.
    let older = reset(&db.store, "ada@example.com");
    let newer = reset(&db.store, "ada@example.com");
    assert!(matches!(
        db.store.reset_password(&older.hash, "$argon2id$x"),
        Err(StoreError::NotFound)
    ));
    assert!(db.store.reset_password(&newer.hash, "$argon2id$x").is_ok());

    let invite = MintedToken::new(TokenKind::Invite);
    db.store
        .create_invite(&invite.hash, "grace@example.com", in_an_hour(), &Actor::Cli)
        .unwrap();
    let results = race(16, |i| {
        db.store.create_account_with_invite(
            new_account("grace@example.com", &format!("grace{i}")),
            &invite.hash,
        )
    });
    assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 1);
    assert!(
        results
            .iter()
            .all(|r| matches!(r, Ok(_) | Err(StoreError::NotFound))),
        "{results:?}"
    );
}

/// Disabling ends the sessions and hides the account from logins, sessions and user tokens;
/// deleting removes what its namespace holds, keeps the audit log and frees the names.
fn disabling_and_deleting_accounts(engine: Engine) {
    let db = TestDatabase::new(engine);
    let ada = account(&db.store, "ada");
    let grace = account(&db.store, "grace");
    let session = MintedToken::new(TokenKind::Session);
    db.store
        .create_session("s1", &session.hash, &ada.id, in_an_hour())
        .unwrap();
    let grace_session = MintedToken::new(TokenKind::Session);
    db.store
        .create_session("s2", &grace_session.hash, &grace.id, in_an_hour())
        .unwrap();

    let disabled = db
        .store
        .set_account_disabled(&ada.id, true, &Actor::Cli)
        .unwrap();
    assert!(disabled.disabled_at.is_some());
    assert!(db.store.find_session(&session.hash).unwrap().is_none());
    assert!(db.store.find_login("ada@example.com").unwrap().is_none());
    assert!(db.store.list_sessions(&ada.id).unwrap().is_empty());
    db.store
        .set_account_disabled(&ada.id, false, &Actor::Cli)
        .unwrap();
    assert!(db.store.find_login("ada@example.com").unwrap().is_some());

    db.store
        .create_service(new_service("ada", "ide"), &Actor::Cli, 10)
        .unwrap();
    db.store.delete_account(&ada.id, &Actor::Cli).unwrap();
    assert!(
        db.store
            .find_account_by_email("ada@example.com")
            .unwrap()
            .is_none()
    );
    assert!(db.store.list_services("ada").unwrap().is_empty());
    let actions: Vec<String> = db
        .store
        .list_audit_log("ada", 20, None)
        .unwrap()
        .into_iter()
        .map(|r| r.action)
        .collect();
    assert_eq!(
        actions.first().map(String::as_str),
        Some("account.deleted"),
        "{actions:?}"
    );
    assert!(matches!(
        db.store.delete_account(&ada.id, &Actor::Cli),
        Err(StoreError::NotFound)
    ));
    // Grace is untouched, and ada's names are free again.
    assert!(
        db.store
            .find_session(&grace_session.hash)
            .unwrap()
            .is_some()
    );
    account(&db.store, "ada");
}

assent_store::on_both_engines!(
    concurrent_signups_name_what_is_taken,
    one_time_tokens_are_used_once_under_concurrent_use,
    disabling_and_deleting_accounts,
);
