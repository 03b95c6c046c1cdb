//! One-time tokens: signup invites and password resets. Stored as SHA-256, they expire, and
//! using one is a single conditional update, so that of two concurrent uses only one wins.

use assent_auth::TokenHash;
use assent_core::Timestamp;
use diesel::prelude::*;
use serde_json::json;

use crate::accounts::Account;
use crate::audit::{self, Actor, AuditEntry};
use crate::db::Store;
use crate::error::{StoreError, conflict_as};
use crate::schema::one_time_tokens;

/// What a one-time token is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OneTimePurpose {
    /// Sign up one account with the invited email.
    Invite,
    /// Set a new password for one account.
    PasswordReset,
}

impl OneTimePurpose {
    const fn as_str(self) -> &'static str {
        match self {
            Self::Invite => "invite",
            Self::PasswordReset => "password_reset",
        }
    }
}

/// A one-time token just used.
#[derive(Debug, Clone)]
pub(crate) struct UsedToken {
    pub email: Option<String>,
    pub account_id: Option<String>,
}

impl Store {
    /// Stores an invite for `email` (normalised) until `expires_at`.
    pub fn create_invite(
        &self,
        hash: &TokenHash,
        email: &str,
        expires_at: Timestamp,
        actor: &Actor,
    ) -> Result<String, StoreError> {
        let id = assent_auth::random::Id::OneTimeToken.mint();
        let now = Timestamp::now().as_millis();
        self.write(|conn| {
            diesel::insert_into(one_time_tokens::table)
                .values((
                    one_time_tokens::id.eq(&id),
                    one_time_tokens::purpose.eq(OneTimePurpose::Invite.as_str()),
                    one_time_tokens::token_hash.eq(hash.as_str()),
                    one_time_tokens::email.eq(email),
                    one_time_tokens::created_at.eq(now),
                    one_time_tokens::expires_at.eq(expires_at.as_millis()),
                ))
                .execute(conn)
                .map_err(conflict_as("invite"))?;
            // An invite belongs to no namespace yet; the log files it under none.
            audit::record(
                conn,
                AuditEntry {
                    namespace: "",
                    actor,
                    action: "invite.created",
                    target_id: &id,
                    details: json!({ "email": email }),
                },
            )?;
            Ok(id.clone())
        })
    }

    /// Stores a password reset for `account` until `expires_at`; earlier unused resets of the
    /// account stop working.
    pub fn create_password_reset(
        &self,
        hash: &TokenHash,
        account: &Account,
        expires_at: Timestamp,
        actor: &Actor,
    ) -> Result<(), StoreError> {
        let id = assent_auth::random::Id::OneTimeToken.mint();
        let now = Timestamp::now().as_millis();
        self.write(|conn| {
            diesel::delete(
                one_time_tokens::table
                    .filter(one_time_tokens::account_id.eq(&account.id))
                    .filter(one_time_tokens::purpose.eq(OneTimePurpose::PasswordReset.as_str())),
            )
            .execute(conn)?;
            diesel::insert_into(one_time_tokens::table)
                .values((
                    one_time_tokens::id.eq(&id),
                    one_time_tokens::purpose.eq(OneTimePurpose::PasswordReset.as_str()),
                    one_time_tokens::token_hash.eq(hash.as_str()),
                    one_time_tokens::account_id.eq(&account.id),
                    one_time_tokens::created_at.eq(now),
                    one_time_tokens::expires_at.eq(expires_at.as_millis()),
                ))
                .execute(conn)
                .map_err(conflict_as("password reset"))?;
            audit::record(
                conn,
                AuditEntry {
                    namespace: &account.namespace,
                    actor,
                    action: "password_reset.created",
                    target_id: &account.id,
                    details: json!({}),
                },
            )?;
            Ok(())
        })
    }

    /// The account an unused, unexpired password reset is for (the reset page shows it
    /// before the new password is chosen). Uses nothing up.
    pub fn find_password_reset(&self, hash: &TokenHash) -> Result<Option<Account>, StoreError> {
        use crate::accounts::AccountRow;
        use crate::schema::accounts;
        let now = Timestamp::now().as_millis();
        self.read(|conn| {
            Ok(one_time_tokens::table
                .inner_join(
                    accounts::table.on(one_time_tokens::account_id.eq(accounts::id.nullable())),
                )
                .filter(one_time_tokens::token_hash.eq(hash.as_str()))
                .filter(one_time_tokens::purpose.eq(OneTimePurpose::PasswordReset.as_str()))
                .filter(one_time_tokens::used_at.is_null())
                .filter(one_time_tokens::expires_at.gt(now))
                .select(AccountRow::as_select())
                .first::<AccountRow>(conn)
                .optional()?
                .map(Account::from))
        })
    }

    /// Uses a password reset: sets the new password hash and ends every session of the
    /// account, in one transaction. `NotFound` when the reset is unknown, used or expired.
    pub fn reset_password(
        &self,
        hash: &TokenHash,
        password_hash: &str,
    ) -> Result<Account, StoreError> {
        use crate::accounts::AccountRow;
        use crate::schema::accounts;
        self.write(|conn| {
            let used = use_token(conn, OneTimePurpose::PasswordReset, hash)?;
            let account_id = used.account_id.ok_or(StoreError::NotFound)?;
            let account: Account = accounts::table
                .find(&account_id)
                .select(AccountRow::as_select())
                .first::<AccountRow>(conn)?
                .into();
            let actor = Actor::Account(account.id.clone());
            crate::accounts::set_password(conn, &account, password_hash, None, &actor)?;
            Ok(account)
        })
    }
}

/// Marks an unused, unexpired token of `purpose` used. The condition is in the update itself,
/// so two concurrent uses cannot both succeed. `NotFound` otherwise.
pub(crate) fn use_token(
    conn: &mut crate::AnyConnection,
    purpose: OneTimePurpose,
    hash: &TokenHash,
) -> Result<UsedToken, StoreError> {
    let now = Timestamp::now().as_millis();
    let unused = one_time_tokens::table
        .filter(one_time_tokens::token_hash.eq(hash.as_str()))
        .filter(one_time_tokens::purpose.eq(purpose.as_str()))
        .filter(one_time_tokens::used_at.is_null())
        .filter(one_time_tokens::expires_at.gt(now));
    let updated = diesel::update(unused)
        .set(one_time_tokens::used_at.eq(now))
        .execute(conn)?;
    if updated != 1 {
        return Err(StoreError::NotFound);
    }
    let (email, account_id) = one_time_tokens::table
        .filter(one_time_tokens::token_hash.eq(hash.as_str()))
        .select((one_time_tokens::email, one_time_tokens::account_id))
        .first::<(Option<String>, Option<String>)>(conn)?;
    Ok(UsedToken { email, account_id })
}
