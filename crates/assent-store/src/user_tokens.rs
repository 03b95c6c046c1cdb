//! User tokens: a human's credential for the ATP client API, issued from a session or the CLI,
//! shown once, stored as SHA-256, revocable.

use assent_auth::TokenHash;
use assent_core::Timestamp;
use diesel::prelude::*;
use serde_json::json;

use crate::accounts::{Account, AccountRow};
use crate::audit::{self, Actor, AuditEntry};
use crate::db::Store;
use crate::error::{StoreError, conflict_as};
use crate::schema::{accounts, user_tokens};

#[derive(Debug, Clone)]
pub struct NewUserToken {
    pub id: String,
    pub name: String,
    pub prefix: String,
    pub hash: TokenHash,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserToken {
    pub id: String,
    pub name: String,
    pub prefix: String,
    pub created_at: Timestamp,
    pub last_used_at: Option<Timestamp>,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = user_tokens)]
struct UserTokenRow {
    id: String,
    name: String,
    prefix: String,
    created_at: i64,
    last_used_at: Option<i64>,
}

impl From<UserTokenRow> for UserToken {
    fn from(row: UserTokenRow) -> Self {
        Self {
            id: row.id,
            name: row.name,
            prefix: row.prefix,
            created_at: Timestamp::from_millis(row.created_at),
            last_used_at: row.last_used_at.map(Timestamp::from_millis),
        }
    }
}

impl Store {
    pub fn create_user_token(
        &self,
        account: &Account,
        token: &NewUserToken,
        actor: &Actor,
    ) -> Result<UserToken, StoreError> {
        let now = Timestamp::now().as_millis();
        self.write(|conn| {
            diesel::insert_into(user_tokens::table)
                .values((
                    user_tokens::id.eq(&token.id),
                    user_tokens::account_id.eq(&account.id),
                    user_tokens::name.eq(&token.name),
                    user_tokens::prefix.eq(&token.prefix),
                    user_tokens::token_hash.eq(token.hash.as_str()),
                    user_tokens::created_at.eq(now),
                ))
                .execute(conn)
                .map_err(conflict_as("user token"))?;
            audit::record(
                conn,
                AuditEntry {
                    namespace: &account.namespace,
                    actor,
                    action: "user_token.created",
                    target_id: &token.id,
                    details: json!({ "name": token.name, "prefix": token.prefix }),
                },
            )?;
            Ok(UserToken {
                id: token.id.clone(),
                name: token.name.clone(),
                prefix: token.prefix.clone(),
                created_at: Timestamp::from_millis(now),
                last_used_at: None,
            })
        })
    }

    /// An account's active tokens, newest first.
    pub fn list_user_tokens(&self, account_id: &str) -> Result<Vec<UserToken>, StoreError> {
        self.read(|conn| {
            Ok(user_tokens::table
                .filter(user_tokens::account_id.eq(account_id))
                .filter(user_tokens::revoked_at.is_null())
                .order((user_tokens::created_at.desc(), user_tokens::id.desc()))
                .select(UserTokenRow::as_select())
                .load(conn)?
                .into_iter()
                .map(UserToken::from)
                .collect())
        })
    }

    /// Revokes one of the account's active tokens; `NotFound` for any other id.
    pub fn revoke_user_token(
        &self,
        account: &Account,
        token_id: &str,
        actor: &Actor,
    ) -> Result<(), StoreError> {
        let now = Timestamp::now().as_millis();
        self.write(|conn| {
            let revoked = diesel::update(
                user_tokens::table
                    .filter(user_tokens::id.eq(token_id))
                    .filter(user_tokens::account_id.eq(&account.id))
                    .filter(user_tokens::revoked_at.is_null()),
            )
            .set(user_tokens::revoked_at.eq(now))
            .execute(conn)?;
            if revoked == 0 {
                return Err(StoreError::NotFound);
            }
            audit::record(
                conn,
                AuditEntry {
                    namespace: &account.namespace,
                    actor,
                    action: "user_token.revoked",
                    target_id: token_id,
                    details: json!({}),
                },
            )?;
            Ok(())
        })
    }

    /// The enabled account behind an active user token.
    pub fn find_user_token(&self, hash: &TokenHash) -> Result<Option<Account>, StoreError> {
        self.read(|conn| {
            Ok(user_tokens::table
                .inner_join(accounts::table)
                .filter(user_tokens::token_hash.eq(hash.as_str()))
                .filter(user_tokens::revoked_at.is_null())
                .filter(accounts::disabled_at.is_null())
                .select(AccountRow::as_select())
                .first::<AccountRow>(conn)
                .optional()?
                .map(Account::from))
        })
    }
}
