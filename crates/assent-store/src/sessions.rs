//! Owners' dashboard sessions: server-side rows found by the SHA-256 of the session token, so
//! logging out (deleting the row) ends a session everywhere at once.

use assent_auth::TokenHash;
use assent_core::Timestamp;
use diesel::prelude::*;

use crate::accounts::{Account, AccountRow};
use crate::db::Store;
use crate::error::{StoreError, conflict_as};
use crate::schema::{accounts, sessions};

/// A live session and its account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub id: String,
    pub account: Account,
    pub expires_at: Timestamp,
}

impl Store {
    /// Opens a session for `account_id` until `expires_at`. Expired rows of every account are
    /// swept here, where a write happens anyway.
    pub fn create_session(
        &self,
        id: &str,
        hash: &TokenHash,
        account_id: &str,
        expires_at: Timestamp,
    ) -> Result<(), StoreError> {
        let now = Timestamp::now().as_millis();
        self.write(|conn| {
            diesel::delete(sessions::table.filter(sessions::expires_at.le(now))).execute(conn)?;
            diesel::insert_into(sessions::table)
                .values((
                    sessions::id.eq(id),
                    sessions::token_hash.eq(hash.as_str()),
                    sessions::account_id.eq(account_id),
                    sessions::created_at.eq(now),
                    sessions::expires_at.eq(expires_at.as_millis()),
                ))
                .execute(conn)
                .map_err(conflict_as("session"))?;
            Ok(())
        })
    }

    /// The unexpired session with this token hash.
    pub fn find_session(&self, hash: &TokenHash) -> Result<Option<Session>, StoreError> {
        let now = Timestamp::now().as_millis();
        self.read(|conn| {
            Ok(sessions::table
                .inner_join(accounts::table)
                .filter(sessions::token_hash.eq(hash.as_str()))
                .filter(sessions::expires_at.gt(now))
                .select((sessions::id, sessions::expires_at, AccountRow::as_select()))
                .first::<(String, i64, AccountRow)>(conn)
                .optional()?
                .map(|(id, expires_at, account)| Session {
                    id,
                    account: account.into(),
                    expires_at: Timestamp::from_millis(expires_at),
                }))
        })
    }

    /// Ends a session. Ending one that is already gone is not an error.
    pub fn delete_session(&self, id: &str) -> Result<(), StoreError> {
        self.write(|conn| {
            diesel::delete(sessions::table.find(id)).execute(conn)?;
            Ok(())
        })
    }
}
