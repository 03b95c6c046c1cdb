//! Accounts: the humans who own namespaces.

use assent_core::Timestamp;
use diesel::prelude::*;

use serde_json::json;

use crate::audit::{self, Actor, AuditEntry};
use crate::db::Store;
use crate::error::{StoreError, is_unique_violation};
use crate::schema::accounts;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub id: String,
    pub email: String,
    pub namespace: String,
    pub created_at: Timestamp,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = accounts)]
pub(crate) struct AccountRow {
    id: String,
    email: String,
    namespace: String,
    created_at: i64,
}

impl From<AccountRow> for Account {
    fn from(row: AccountRow) -> Self {
        Self {
            id: row.id,
            email: row.email,
            namespace: row.namespace,
            created_at: Timestamp::from_millis(row.created_at),
        }
    }
}

/// A new account. `email` is stored lowercased; `password_hash` is an argon2id PHC string.
#[derive(Debug, Clone)]
pub struct NewAccount {
    pub email: String,
    pub namespace: String,
    pub password_hash: String,
}

impl Store {
    /// Creates an account. `Conflict("email")` or `Conflict("namespace")` when either is taken.
    /// `actor` is who created it; `None` for a self-service signup (the account itself).
    pub fn create_account(
        &self,
        new: NewAccount,
        actor: Option<&Actor>,
    ) -> Result<Account, StoreError> {
        let now = Timestamp::now().as_millis();
        let email = new.email.to_lowercase();
        self.write(|conn| {
            // Checked first so the caller learns which of the two is taken; the unique
            // indexes still decide races.
            let email_taken = diesel::select(diesel::dsl::exists(
                accounts::table.filter(accounts::email.eq(&email)),
            ))
            .get_result::<bool>(conn)?;
            if email_taken {
                return Err(StoreError::Conflict("email"));
            }
            if namespace_exists(conn, &new.namespace)? {
                return Err(StoreError::Conflict("namespace"));
            }
            let account = Account {
                id: assent_auth::random::Id::Account.mint(),
                email: email.clone(),
                namespace: new.namespace.clone(),
                created_at: Timestamp::from_millis(now),
            };
            diesel::insert_into(accounts::table)
                .values((
                    accounts::id.eq(&account.id),
                    accounts::email.eq(&email),
                    accounts::namespace.eq(&new.namespace),
                    accounts::password_hash.eq(&new.password_hash),
                    accounts::created_at.eq(now),
                    accounts::updated_at.eq(now),
                ))
                .execute(conn)
                .map_err(|e| {
                    if is_unique_violation(&e) {
                        StoreError::Conflict("account")
                    } else {
                        StoreError::from(e)
                    }
                })?;
            let itself = Actor::Account(account.id.clone());
            audit::record(
                conn,
                AuditEntry {
                    namespace: &account.namespace,
                    actor: actor.unwrap_or(&itself),
                    action: "account.created",
                    target_id: &account.id,
                    details: json!({ "email": account.email }),
                },
            )?;
            Ok(account)
        })
    }

    /// The account with this email (any case) and its password hash, for logging in.
    pub fn find_login(&self, email: &str) -> Result<Option<(Account, String)>, StoreError> {
        let email = email.to_lowercase();
        self.read(|conn| {
            Ok(accounts::table
                .filter(accounts::email.eq(&email))
                .select((AccountRow::as_select(), accounts::password_hash))
                .first::<(AccountRow, String)>(conn)
                .optional()?
                .map(|(account, hash)| (account.into(), hash)))
        })
    }

    pub fn find_account_by_namespace(
        &self,
        namespace: &str,
    ) -> Result<Option<Account>, StoreError> {
        self.read(|conn| {
            Ok(accounts::table
                .filter(accounts::namespace.eq(namespace))
                .select(AccountRow::as_select())
                .first::<AccountRow>(conn)
                .optional()?
                .map(Account::from))
        })
    }

    pub fn namespace_exists(&self, namespace: &str) -> Result<bool, StoreError> {
        self.read(|conn| namespace_exists(conn, namespace))
    }
}

pub(crate) fn namespace_exists(
    conn: &mut crate::AnyConnection,
    namespace: &str,
) -> Result<bool, StoreError> {
    Ok(diesel::select(diesel::dsl::exists(
        accounts::table.filter(accounts::namespace.eq(namespace)),
    ))
    .get_result::<bool>(conn)?)
}
