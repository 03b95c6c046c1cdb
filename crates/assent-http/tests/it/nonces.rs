//! Group-committed nonces on SQLite and PostgreSQL: many concurrent consumptions, some of them
//! replays, each get exactly the verdict they would get one at a time.

use std::sync::Arc;

use assent_core::Timestamp;
use assent_http::nonces::NonceBatcher;
use assent_store::testing::{Engine, TestDatabase};

async fn concurrent_nonces_get_exact_verdicts(engine: Engine) {
    let db = TestDatabase::new(engine);
    let batcher = Arc::new(NonceBatcher::default());
    let later = Timestamp::from_millis(Timestamp::now().as_millis() + 600_000);
    // 100 distinct nonces, each used three times at once (and one in another scope).
    let calls = (0..300).map(|i| {
        let batcher = Arc::clone(&batcher);
        let store = db.store.clone();
        async move {
            let nonce = format!("n-{}", i % 100);
            let verdict = batcher
                .use_nonce(&store, "sig:ada".to_owned(), nonce.clone(), later)
                .await;
            (nonce, verdict.expect("a verdict"))
        }
    });
    let results = futures_util::future::join_all(calls).await;
    for n in 0..100 {
        let accepted = results
            .iter()
            .filter(|(nonce, ok)| *nonce == format!("n-{n}") && *ok)
            .count();
        assert_eq!(accepted, 1, "n-{n} is accepted exactly once");
    }
    let other = batcher
        .use_nonce(&db.store, "sig:grace".to_owned(), "n-1".to_owned(), later)
        .await;
    assert_eq!(other, Ok(true), "scopes are separate");
    let replay = batcher
        .use_nonce(&db.store, "sig:ada".to_owned(), "n-1".to_owned(), later)
        .await;
    assert_eq!(replay, Ok(false));
}

mod sqlite {
    #[actix_web::test]
    async fn concurrent_nonces_get_exact_verdicts() {
        super::concurrent_nonces_get_exact_verdicts(assent_store::testing::Engine::Sqlite).await;
    }
}

mod postgres {
    #[actix_web::test]
    async fn concurrent_nonces_get_exact_verdicts() {
        super::concurrent_nonces_get_exact_verdicts(assent_store::testing::Engine::Postgres).await;
    }
}
