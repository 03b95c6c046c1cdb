//! Single-use nonces for signed requests, in the database so that every replica sees every
//! use. A nonce is accepted once per scope until it expires; expired ones are purged.

use std::collections::HashSet;

use assent_core::Timestamp;
use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Text};

use crate::AnyConnection;
use crate::db::Store;
use crate::error::StoreError;
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
/// The same for a whole batch in one statement, so one round trip in autocommit (no
/// `BEGIN`/`COMMIT`), `RETURNING` the nonces whose row changed. The arrays are unnested in their order, which is the canonical order
/// below, so concurrent batches lock rows in the same sequence and cannot deadlock.
const TAKE_POSTGRES: &str = "INSERT INTO nonces (scope, value, expires_at) \
     SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[]) \
     ON CONFLICT (scope, value) DO UPDATE SET expires_at = excluded.expires_at \
     WHERE nonces.expires_at <= $4 \
     RETURNING scope, value";

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
    /// nonce twice in one batch is accepted the first time only. On SQLite one transaction of
    /// one statement a nonce; on PostgreSQL one statement for the batch.
    pub fn use_nonces(
        &self,
        batch: &[(String, String, Timestamp)],
    ) -> Result<Vec<bool>, StoreError> {
        if batch.is_empty() {
            return Ok(Vec::new());
        }
        let now = Timestamp::now().as_millis();
        // Rows in one canonical order: concurrent batches then take their row locks in the same
        // sequence and cannot deadlock (PostgreSQL), whatever order their callers came in. A
        // repeat within the batch is left out (its verdict stays `false`): PostgreSQL refuses
        // to change one row twice in a statement, and the first use is the one that counts.
        let mut order: Vec<usize> = (0..batch.len()).collect();
        order.sort_by(|&a, &b| (&batch[a].0, &batch[a].1, a).cmp(&(&batch[b].0, &batch[b].1, b)));
        order.dedup_by(|&mut later, &mut first| {
            (&batch[later].0, &batch[later].1) == (&batch[first].0, &batch[first].1)
        });
        if self.backend() == crate::Backend::Postgres {
            let scopes: Vec<&str> = order.iter().map(|&i| batch[i].0.as_str()).collect();
            let values: Vec<&str> = order.iter().map(|&i| batch[i].1.as_str()).collect();
            let expiries: Vec<i64> = order.iter().map(|&i| batch[i].2.as_millis()).collect();
            let taken: Vec<Taken> = self.read(|conn| {
                let AnyConnection::Postgresql(pg) = conn else {
                    return Err(StoreError::Unsupported("the backend changed"));
                };
                Ok(diesel::sql_query(TAKE_POSTGRES)
                    .bind::<Array<Text>, _>(&scopes)
                    .bind::<Array<Text>, _>(&values)
                    .bind::<Array<BigInt>, _>(&expiries)
                    .bind::<BigInt, _>(now)
                    .load(pg)?)
            })?;
            return Ok(verdicts_of(batch, &order, &taken));
        }
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
