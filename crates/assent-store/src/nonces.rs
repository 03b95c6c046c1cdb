//! Single-use nonces for signed requests, in the database so that every replica sees every
//! use. A nonce is accepted once per scope until it expires; expired ones are purged.

use std::collections::HashSet;

use assent_core::Timestamp;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Nullable, Text};

use crate::AnyConnection;
use crate::claims::ClaimQuestion;
use crate::db::Store;
use crate::error::StoreError;
use crate::prepared::{Param, Prepared};
use crate::schema::nonces;

/// A nonce the batch's one statement took (inserted, or took over an expired row of).
#[derive(QueryableByName)]
struct Taken {
    #[diesel(sql_type = Text)]
    scope: String,
    #[diesel(sql_type = Text)]
    value: String,
}

/// The most nonces in one SQLite statement (three variables each, far under SQLite's limit
/// of 32,766).
const SQLITE_ROWS_PER_STATEMENT: usize = 1000;

/// Insert, or take over the row of the same nonce only if it has expired: a row changes
/// exactly when the nonce may be used now. One statement for `rows` nonces, `RETURNING` those
/// whose row changed: prepared once a batch, not once a nonce (diesel keeps no prepared
/// statement for a query written as text, so each statement is prepared again).
fn take_sqlite(rows: usize) -> String {
    let values = vec!["(?, ?, ?)"; rows].join(", ");
    format!(
        "INSERT INTO nonces (scope, value, expires_at) VALUES {values} \
         ON CONFLICT (scope, value) DO UPDATE SET expires_at = excluded.expires_at \
         WHERE nonces.expires_at <= ? RETURNING scope, value"
    )
}

/// [`Store::use_nonces`] and [`Store::use_nonces_and_find`] on PostgreSQL: the batch's nonces
/// (inserted, or taking over the row of the same nonce only if it has expired) and the
/// questions of the nonces it took, in one statement, so one round trip a batch, in
/// autocommit. The nonces are inserted in their canonical order, so concurrent batches lock
/// rows in the same sequence and cannot deadlock. The nonces and their questions
/// come as parallel arrays (a nonce without a question has nulls); `q.ord` is a row's place in
/// them, from 1. A taken nonce gives one row, with its approved claim or nulls. The claims read
/// are those committed before the statement started, as a lookup of its own would read them.
const TAKE_AND_FIND_POSTGRES: &str = "WITH q AS (\
       SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::text[], $5::text[], \
           $6::text[]) WITH ORDINALITY \
           AS q(scope, value, expires_at, namespace, public_key, service_slug, ord)), \
     taken AS (\
       INSERT INTO nonces (scope, value, expires_at) \
       SELECT scope, value, expires_at FROM q ORDER BY ord \
       ON CONFLICT (scope, value) DO UPDATE SET expires_at = excluded.expires_at \
       WHERE nonces.expires_at <= $7 \
       RETURNING scope, value) \
     SELECT q.ord, c.id, c.approved_at FROM taken t \
     JOIN q ON q.scope = t.scope AND q.value = t.value \
     LEFT JOIN services s ON s.namespace = q.namespace AND s.slug = q.service_slug \
     LEFT JOIN claims c ON c.service_id = s.id AND c.namespace = q.namespace \
         AND c.public_key = q.public_key AND c.status = 'approved'";

/// A row of [`TAKE_AND_FIND_POSTGRES`]: a nonce it took, and the approved claim its question
/// found.
#[derive(QueryableByName)]
struct TakenAndFound {
    #[diesel(sql_type = BigInt)]
    ord: i64,
    #[diesel(sql_type = Nullable<Text>)]
    id: Option<String>,
    #[diesel(sql_type = Nullable<BigInt>)]
    approved_at: Option<i64>,
}

/// What [`Store::use_nonces_and_find`] learned of a batch, in its order.
#[derive(Debug)]
pub struct NoncesFound {
    /// `true` for a nonce the batch took (fresh), `false` for a replay.
    pub fresh: Vec<bool>,
    /// The approved claim that answers each fresh nonce's question, read after the nonces were
    /// written; `None` for a replay, a nonce without a question, or no approved claim. `Err`
    /// if that read failed: the nonces stay used.
    pub found: Result<Vec<Option<(String, Timestamp)>>, StoreError>,
}

/// The batch's nonces in one canonical order (the positions in `batch`), without repeats:
/// concurrent batches then take their row locks in the same sequence and cannot deadlock
/// (PostgreSQL), whatever order their callers came in. A repeat within the batch is left out
/// (its verdict stays `false`): PostgreSQL refuses to change one row twice in a statement, and
/// the first use is the one that counts.
fn canonical_order(batch: &[(String, String, Timestamp)]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..batch.len()).collect();
    order.sort_by(|&a, &b| (&batch[a].0, &batch[a].1, a).cmp(&(&batch[b].0, &batch[b].1, b)));
    order.dedup_by(|&mut later, &mut first| {
        (&batch[later].0, &batch[later].1) == (&batch[first].0, &batch[first].1)
    });
    order
}

/// The verdicts of `batch` in its order: `true` for the nonces a statement took. `order` holds
/// the batch's positions without repeats (a repeat stays `false`).
fn verdicts_of(
    batch: &[(String, String, Timestamp)],
    order: &[usize],
    taken: &[Taken],
) -> Vec<bool> {
    let taken: HashSet<(&str, &str)> = taken
        .iter()
        .map(|row| (row.scope.as_str(), row.value.as_str()))
        .collect();
    let mut verdicts = vec![false; batch.len()];
    for &i in order {
        verdicts[i] = taken.contains(&(batch[i].0.as_str(), batch[i].1.as_str()));
    }
    verdicts
}

impl Store {
    /// Records `value` as used in `scope` until `expires_at`. `Ok(true)` the first time,
    /// `Ok(false)` for a replay. A used nonce that has expired may be used again.
    pub fn use_nonce(
        &self,
        scope: &str,
        value: &str,
        expires_at: Timestamp,
    ) -> Result<bool, StoreError> {
        let batch = [(scope.to_owned(), value.to_owned(), expires_at)];
        Ok(self.use_nonces(&batch)?.first().copied().unwrap_or(false))
    }

    /// [`Store::use_nonce`] for many nonces at once (group commit): the verdicts in order. A
    /// nonce twice in one batch is accepted the first time only. One statement for the batch
    /// (on SQLite, one per thousand nonces) in one transaction.
    pub fn use_nonces(
        &self,
        batch: &[(String, String, Timestamp)],
    ) -> Result<Vec<bool>, StoreError> {
        if batch.is_empty() {
            return Ok(Vec::new());
        }
        if self.backend() == crate::Backend::Postgres {
            let no_questions = vec![None; batch.len()];
            return Ok(self.use_nonces_and_find(batch, &no_questions)?.fresh);
        }
        let now = Timestamp::now().as_millis();
        let order = canonical_order(batch);
        self.write(|conn| {
            let AnyConnection::Sqlite(sqlite) = conn else {
                return Err(StoreError::Unsupported("the backend changed"));
            };
            let mut taken: Vec<Taken> = Vec::new();
            for chunk in order.chunks(SQLITE_ROWS_PER_STATEMENT) {
                let mut query = diesel::sql_query(take_sqlite(chunk.len())).into_boxed();
                for &i in chunk {
                    let (scope, value, expires_at) = &batch[i];
                    query = query
                        .bind::<Text, _>(scope)
                        .bind::<Text, _>(value)
                        .bind::<BigInt, _>(expires_at.as_millis());
                }
                taken.extend(query.bind::<BigInt, _>(now).load::<Taken>(sqlite)?);
            }
            Ok(verdicts_of(batch, &order, &taken))
        })
    }

    /// [`Store::use_nonces`], then for each fresh nonce that has a question (`questions` is
    /// parallel to `batch`), the approved claim that answers it, as
    /// [`Store::find_approved_claims`] reads it after the nonces are written. On PostgreSQL
    /// both are one statement ([`TAKE_AND_FIND_POSTGRES`]), whose failure leaves every nonce
    /// unused; on SQLite the nonces' write, then one read.
    pub fn use_nonces_and_find(
        &self,
        batch: &[(String, String, Timestamp)],
        questions: &[Option<ClaimQuestion>],
    ) -> Result<NoncesFound, StoreError> {
        if batch.len() != questions.len() {
            return Err(StoreError::Corrupt(
                "a question list not parallel to its nonces".into(),
            ));
        }
        if batch.is_empty() || self.backend() == crate::Backend::Sqlite {
            let fresh = self.use_nonces(batch)?;
            let asked: Vec<(usize, ClaimQuestion)> = questions
                .iter()
                .zip(&fresh)
                .enumerate()
                .filter_map(|(i, (question, &fresh))| {
                    Some((i, question.clone().filter(|_| fresh)?))
                })
                .collect();
            let lookups: Vec<ClaimQuestion> = asked.iter().map(|(_, q)| q.clone()).collect();
            let found = self.find_approved_claims(&lookups).map(|answers| {
                let mut found = vec![None; batch.len()];
                for ((i, _), answer) in asked.into_iter().zip(answers) {
                    found[i] = answer;
                }
                found
            });
            return Ok(NoncesFound { fresh, found });
        }
        let now = Timestamp::now().as_millis();
        let order = canonical_order(batch);
        let column = |pick: fn(&ClaimQuestion) -> &str| -> Vec<Option<&str>> {
            order
                .iter()
                .map(|&i| questions[i].as_ref().map(pick))
                .collect()
        };
        let (namespaces, keys, slugs) = (
            column(|q| q.namespace.as_str()),
            column(|q| q.public_key.as_str()),
            column(|q| q.service_slug.as_str()),
        );
        let scopes: Vec<&str> = order.iter().map(|&i| batch[i].0.as_str()).collect();
        let values: Vec<&str> = order.iter().map(|&i| batch[i].1.as_str()).collect();
        let expiries: Vec<i64> = order.iter().map(|&i| batch[i].2.as_millis()).collect();
        let rows: Vec<TakenAndFound> = self.read(|conn| {
            let AnyConnection::Postgresql(pg) = conn else {
                return Err(StoreError::Unsupported("the backend changed"));
            };
            Ok(Prepared::new(
                TAKE_AND_FIND_POSTGRES,
                vec![
                    Param::Texts(&scopes),
                    Param::Texts(&values),
                    Param::BigInts(&expiries),
                    Param::NullableTexts(&namespaces),
                    Param::NullableTexts(&keys),
                    Param::NullableTexts(&slugs),
                    Param::BigInt(now),
                ],
            )
            .load(pg)?)
        })?;
        let mut fresh = vec![false; batch.len()];
        let mut found = vec![None; batch.len()];
        for row in rows {
            let i = usize::try_from(row.ord - 1)
                .ok()
                .and_then(|at| order.get(at).copied())
                .ok_or_else(|| StoreError::Corrupt("a nonce the batch did not hold".into()))?;
            fresh[i] = true;
            found[i] = row.id.map(|id| {
                (
                    id,
                    Timestamp::from_millis(row.approved_at.unwrap_or_default()),
                )
            });
        }
        Ok(NoncesFound {
            fresh,
            found: Ok(found),
        })
    }

    /// Deletes every nonce that has expired by `now`; returns how many.
    pub fn purge_expired_nonces(&self, now: Timestamp) -> Result<usize, StoreError> {
        self.write(|conn| {
            Ok(
                diesel::delete(nonces::table.filter(nonces::expires_at.le(now.as_millis())))
                    .execute(conn)?,
            )
        })
    }
}
