//! Single-use nonces for signed requests, in the database so that every replica sees every
//! use. A nonce is accepted once per scope until it expires; expired ones are purged.

use assent_core::Timestamp;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};

use crate::AnyConnection;
use crate::db::Store;
use crate::error::StoreError;
use crate::schema::nonces;

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

    /// [`Store::use_nonce`] for many nonces in one transaction (group commit): the verdicts in
    /// order. A nonce twice in one batch is accepted the first time only.
    pub fn use_nonces(
        &self,
        batch: &[(String, String, Timestamp)],
    ) -> Result<Vec<bool>, StoreError> {
        let now = Timestamp::now().as_millis();
        // Rows in one canonical order: concurrent batches then take their row locks in the same
        // sequence and cannot deadlock (PostgreSQL), whatever order their callers came in.
        let mut order: Vec<usize> = (0..batch.len()).collect();
        order.sort_by(|&a, &b| (&batch[a].0, &batch[a].1, a).cmp(&(&batch[b].0, &batch[b].1, b)));
        self.write(|conn| {
            let mut verdicts = vec![false; batch.len()];
            for &i in &order {
                let (scope, value, expires_at) = &batch[i];
                // Insert, or take over the row of the same nonce only if it has expired: a row
                // changes exactly when the nonce may be used now.
                let changed = match &mut *conn {
                        AnyConnection::Postgresql(pg) => diesel::sql_query(
                            "INSERT INTO nonces (scope, value, expires_at) VALUES ($1, $2, $3) \
                             ON CONFLICT (scope, value) DO UPDATE SET expires_at = excluded.expires_at \
                             WHERE nonces.expires_at <= $4",
                        )
                        .bind::<Text, _>(scope)
                        .bind::<Text, _>(value)
                        .bind::<BigInt, _>(expires_at.as_millis())
                        .bind::<BigInt, _>(now)
                        .execute(pg)?,
                        AnyConnection::Sqlite(sqlite) => diesel::sql_query(
                            "INSERT INTO nonces (scope, value, expires_at) VALUES (?, ?, ?) \
                             ON CONFLICT (scope, value) DO UPDATE SET expires_at = excluded.expires_at \
                             WHERE nonces.expires_at <= ?",
                        )
                        .bind::<Text, _>(scope)
                        .bind::<Text, _>(value)
                        .bind::<BigInt, _>(expires_at.as_millis())
                        .bind::<BigInt, _>(now)
                        .execute(sqlite)?,
                };
                verdicts[i] = changed == 1;
            }
            Ok(verdicts)
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
