//! Owners' dashboard sessions: server-side rows found by the SHA-256 of the session token, so
//! logging out (deleting the row) ends a session everywhere at once. Each row also records
//! what it was opened from and when it was last used, for the owner's list of sessions.

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
    pub last_seen_at: Option<Timestamp>,
}

/// Where a session was opened from, as the request said; both are shown to the owner only.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SessionOrigin {
    pub user_agent: Option<String>,
    pub address: Option<String>,
}

/// A session as the owner's list shows it (never the token).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionInfo {
    pub id: String,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
    pub last_seen_at: Option<Timestamp>,
    pub user_agent: Option<String>,
    pub address: Option<String>,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = sessions)]
struct SessionRow {
    id: String,
    created_at: i64,
    expires_at: i64,
    last_seen_at: Option<i64>,
    user_agent: Option<String>,
    address: Option<String>,
}

impl From<SessionRow> for SessionInfo {
    fn from(row: SessionRow) -> Self {
        Self {
            id: row.id,
            created_at: Timestamp::from_millis(row.created_at),
            expires_at: Timestamp::from_millis(row.expires_at),
            last_seen_at: row.last_seen_at.map(Timestamp::from_millis),
            user_agent: row.user_agent,
            address: row.address,
        }
    }
}

impl Store {
    /// Opens a session for `account_id` until `expires_at`, with no recorded origin.
    pub fn create_session(
        &self,
        id: &str,
        hash: &TokenHash,
        account_id: &str,
        expires_at: Timestamp,
    ) -> Result<(), StoreError> {
        self.create_session_from(id, hash, account_id, expires_at, &SessionOrigin::default())
    }

    /// Opens a session for `account_id` until `expires_at`, recording where it came from.
    /// Expired rows of every account are swept here, where a write happens anyway.
    pub fn create_session_from(
        &self,
        id: &str,
        hash: &TokenHash,
        account_id: &str,
        expires_at: Timestamp,
        origin: &SessionOrigin,
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
                    sessions::last_seen_at.eq(now),
                    sessions::user_agent.eq(origin.user_agent.as_deref()),
                    sessions::address.eq(origin.address.as_deref()),
                ))
                .execute(conn)
                .map_err(conflict_as("session"))?;
            Ok(())
        })
    }

    /// The unexpired session with this token hash, of an enabled account.
    pub fn find_session(&self, hash: &TokenHash) -> Result<Option<Session>, StoreError> {
        let now = Timestamp::now().as_millis();
        self.read(|conn| {
            Ok(sessions::table
                .inner_join(accounts::table)
                .filter(sessions::token_hash.eq(hash.as_str()))
                .filter(sessions::expires_at.gt(now))
                .filter(accounts::disabled_at.is_null())
                .select((
                    sessions::id,
                    sessions::expires_at,
                    sessions::last_seen_at,
                    AccountRow::as_select(),
                ))
                .first::<(String, i64, Option<i64>, AccountRow)>(conn)
                .optional()?
                .map(|(id, expires_at, last_seen_at, account)| Session {
                    id,
                    account: account.into(),
                    expires_at: Timestamp::from_millis(expires_at),
                    last_seen_at: last_seen_at.map(Timestamp::from_millis),
                }))
        })
    }

    /// Records that a session was used at `at`.
    pub fn touch_session(&self, id: &str, at: Timestamp) -> Result<(), StoreError> {
        self.write(|conn| {
            diesel::update(sessions::table.find(id))
                .set(sessions::last_seen_at.eq(at.as_millis()))
                .execute(conn)?;
            Ok(())
        })
    }

    /// The account's unexpired sessions, most recently used first.
    pub fn list_sessions(&self, account_id: &str) -> Result<Vec<SessionInfo>, StoreError> {
        let now = Timestamp::now().as_millis();
        self.read(|conn| {
            Ok(sessions::table
                .filter(sessions::account_id.eq(account_id))
                .filter(sessions::expires_at.gt(now))
                .order((
                    sessions::last_seen_at.desc(),
                    sessions::created_at.desc(),
                    sessions::id.desc(),
                ))
                .select(SessionRow::as_select())
                .load::<SessionRow>(conn)?
                .into_iter()
                .map(SessionInfo::from)
                .collect())
        })
    }

    /// Ends one of the account's sessions; `NotFound` for any other id (another owner's
    /// included), and nothing changes.
    pub fn end_session(&self, account_id: &str, id: &str) -> Result<(), StoreError> {
        self.write(|conn| {
            let ended = diesel::delete(
                sessions::table
                    .filter(sessions::id.eq(id))
                    .filter(sessions::account_id.eq(account_id)),
            )
            .execute(conn)?;
            match ended {
                0 => Err(StoreError::NotFound),
                _ => Ok(()),
            }
        })
    }

    /// Ends every session of the account but `keep`; returns how many ended.
    pub fn end_other_sessions(&self, account_id: &str, keep: &str) -> Result<usize, StoreError> {
        self.write(|conn| {
            Ok(diesel::delete(
                sessions::table
                    .filter(sessions::account_id.eq(account_id))
                    .filter(sessions::id.ne(keep)),
            )
            .execute(conn)?)
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
