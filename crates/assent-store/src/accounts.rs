//! Accounts: the humans who own namespaces.

use assent_auth::TokenHash;
use assent_core::Timestamp;
use diesel::prelude::*;

use serde_json::json;

use crate::audit::{self, Actor, AuditEntry};
use crate::db::Store;
use crate::error::{StoreError, conflict_as};
use crate::one_time_tokens::OneTimePurpose;
use crate::schema::{accounts, changes, claim_history, claims, events, notifications, sessions};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub id: String,
    pub email: String,
    pub namespace: String,
    pub created_at: Timestamp,
    /// When an operator disabled it: it cannot log in, and its sessions and tokens are refused.
    pub disabled_at: Option<Timestamp>,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = accounts)]
pub(crate) struct AccountRow {
    id: String,
    email: String,
    namespace: String,
    created_at: i64,
    disabled_at: Option<i64>,
}

impl From<AccountRow> for Account {
    fn from(row: AccountRow) -> Self {
        Self {
            id: row.id,
            email: row.email,
            namespace: row.namespace,
            created_at: Timestamp::from_millis(row.created_at),
            disabled_at: row.disabled_at.map(Timestamp::from_millis),
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
        let (email, namespace) = (new.email.to_lowercase(), new.namespace.clone());
        let created = self.write(|conn| insert_account(conn, &new, actor));
        self.which_conflict(created, &email, &namespace)
    }

    /// Creates an account with a signup invite, which is used up in the same transaction:
    /// `NotFound` when the invite is unknown, used, expired or for another email (and nothing
    /// changes), else as [`Store::create_account`].
    pub fn create_account_with_invite(
        &self,
        new: NewAccount,
        invite: &TokenHash,
    ) -> Result<Account, StoreError> {
        let (email, namespace) = (new.email.to_lowercase(), new.namespace.clone());
        let created = self.write(|conn| {
            let used = crate::one_time_tokens::use_token(conn, OneTimePurpose::Invite, invite)?;
            if used.email.as_deref() != Some(email.as_str()) {
                return Err(StoreError::NotFound);
            }
            insert_account(conn, &new, None)
        });
        self.which_conflict(created, &email, &namespace)
    }

    /// A unique index refused the insert (two signups raced past the checks), or the
    /// namespace check saw a winner that committed after the email check had run. Read again,
    /// now that the winner has committed, which of the two is taken, so that the loser learns
    /// the same answer as if it had come second (the email first, as in `insert_account`).
    fn which_conflict(
        &self,
        created: Result<Account, StoreError>,
        email: &str,
        namespace: &str,
    ) -> Result<Account, StoreError> {
        match created {
            Err(StoreError::Conflict("account" | "namespace")) => self.read(|conn| {
                if email_exists(conn, email)? {
                    Err(StoreError::Conflict("email"))
                } else if namespace_exists(conn, namespace)? {
                    Err(StoreError::Conflict("namespace"))
                } else {
                    Err(StoreError::Conflict("account"))
                }
            }),
            other => other,
        }
    }

    /// The enabled account with this email (any case) and its password hash, for logging in.
    pub fn find_login(&self, email: &str) -> Result<Option<(Account, String)>, StoreError> {
        let email = email.to_lowercase();
        self.read(|conn| {
            Ok(accounts::table
                .filter(accounts::email.eq(&email))
                .filter(accounts::disabled_at.is_null())
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

    /// The account with this (normalised) email, enabled or not.
    pub fn find_account_by_email(&self, email: &str) -> Result<Option<Account>, StoreError> {
        self.read(|conn| {
            Ok(accounts::table
                .filter(accounts::email.eq(email))
                .select(AccountRow::as_select())
                .first::<AccountRow>(conn)
                .optional()?
                .map(Account::from))
        })
    }

    /// The account's password hash, for checking the current password before a change.
    pub fn password_hash(&self, account_id: &str) -> Result<String, StoreError> {
        self.read(|conn| {
            accounts::table
                .find(account_id)
                .select(accounts::password_hash)
                .first::<String>(conn)
                .optional()?
                .ok_or(StoreError::NotFound)
        })
    }

    /// Every account, oldest first, for the operator.
    pub fn list_accounts(&self) -> Result<Vec<Account>, StoreError> {
        self.read(|conn| {
            Ok(accounts::table
                .order((accounts::created_at.asc(), accounts::id.asc()))
                .select(AccountRow::as_select())
                .load::<AccountRow>(conn)?
                .into_iter()
                .map(Account::from)
                .collect())
        })
    }

    /// Sets a new password hash and ends the account's sessions, all of them or all but
    /// `keep` (the session that changed it), in one transaction.
    pub fn set_password(
        &self,
        account: &Account,
        password_hash: &str,
        keep: Option<&str>,
        actor: &Actor,
    ) -> Result<(), StoreError> {
        self.write(|conn| set_password(conn, account, password_hash, keep, actor))
    }

    /// Disables (`true`) or enables an account. Disabling ends its sessions at once; its user
    /// tokens are refused while it is disabled. `NotFound` when no such account.
    pub fn set_account_disabled(
        &self,
        account_id: &str,
        disabled: bool,
        actor: &Actor,
    ) -> Result<Account, StoreError> {
        let now = Timestamp::now().as_millis();
        self.write(|conn| {
            let account: Account = accounts::table
                .find(account_id)
                .select(AccountRow::as_select())
                .first::<AccountRow>(conn)
                .optional()?
                .ok_or(StoreError::NotFound)?
                .into();
            let disabled_at = disabled.then_some(now);
            diesel::update(accounts::table.find(account_id))
                .set((
                    accounts::disabled_at.eq(disabled_at),
                    accounts::updated_at.eq(now),
                ))
                .execute(conn)?;
            if disabled {
                diesel::delete(sessions::table.filter(sessions::account_id.eq(account_id)))
                    .execute(conn)?;
            }
            audit::record(
                conn,
                AuditEntry {
                    namespace: &account.namespace,
                    actor,
                    action: if disabled {
                        "account.disabled"
                    } else {
                        "account.enabled"
                    },
                    target_id: account_id,
                    details: json!({ "email": account.email }),
                },
            )?;
            Ok(Account {
                disabled_at: disabled_at.map(Timestamp::from_millis),
                ..account
            })
        })
    }

    /// Deletes an account and everything its namespace holds: services (with their keys,
    /// webhooks and deliveries), events, claims, notifications, sessions, tokens. Only the
    /// audit log keeps a record, with an `account.deleted` entry. The namespace and the email
    /// are free again afterwards. `NotFound` when no such account.
    pub fn delete_account(&self, account_id: &str, actor: &Actor) -> Result<Account, StoreError> {
        self.write(|conn| {
            let account: Account = accounts::table
                .find(account_id)
                .select(AccountRow::as_select())
                .first::<AccountRow>(conn)
                .optional()?
                .ok_or(StoreError::NotFound)?
                .into();
            let ns = account.namespace.as_str();
            // No foreign keys tie these to the account: remove them by namespace first.
            diesel::delete(events::table.filter(events::namespace.eq(ns))).execute(conn)?;
            diesel::delete(claim_history::table.filter(claim_history::namespace.eq(ns)))
                .execute(conn)?;
            diesel::delete(claims::table.filter(claims::namespace.eq(ns))).execute(conn)?;
            diesel::delete(notifications::table.filter(notifications::namespace.eq(ns)))
                .execute(conn)?;
            diesel::delete(changes::table.filter(changes::namespace.eq(ns))).execute(conn)?;
            // Services, keys, webhooks, deliveries, sessions, tokens: by cascade.
            diesel::delete(accounts::table.find(account_id)).execute(conn)?;
            audit::record(
                conn,
                AuditEntry {
                    namespace: ns,
                    actor,
                    action: "account.deleted",
                    target_id: account_id,
                    details: json!({ "email": account.email }),
                },
            )?;
            Ok(account)
        })
    }
}

pub(crate) fn set_password(
    conn: &mut crate::AnyConnection,
    account: &Account,
    password_hash: &str,
    keep: Option<&str>,
    actor: &Actor,
) -> Result<(), StoreError> {
    let now = Timestamp::now().as_millis();
    let updated = diesel::update(accounts::table.find(&account.id))
        .set((
            accounts::password_hash.eq(password_hash),
            accounts::updated_at.eq(now),
        ))
        .execute(conn)?;
    if updated == 0 {
        return Err(StoreError::NotFound);
    }
    let mut ended = diesel::delete(sessions::table)
        .filter(sessions::account_id.eq(&account.id))
        .into_boxed();
    if let Some(keep) = keep {
        ended = ended.filter(sessions::id.ne(keep));
    }
    ended.execute(conn)?;
    audit::record(
        conn,
        AuditEntry {
            namespace: &account.namespace,
            actor,
            action: "account.password_changed",
            target_id: &account.id,
            details: json!({}),
        },
    )?;
    Ok(())
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

fn email_exists(conn: &mut crate::AnyConnection, email: &str) -> Result<bool, StoreError> {
    Ok(diesel::select(diesel::dsl::exists(
        accounts::table.filter(accounts::email.eq(email)),
    ))
    .get_result::<bool>(conn)?)
}

/// Inserts an account and its audit entry. Checks the email, then the namespace, first so the
/// caller learns which is taken; the unique indexes still decide races (`Conflict("account")`).
fn insert_account(
    conn: &mut crate::AnyConnection,
    new: &NewAccount,
    actor: Option<&Actor>,
) -> Result<Account, StoreError> {
    let now = Timestamp::now().as_millis();
    let email = new.email.to_lowercase();
    if email_exists(conn, &email)? {
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
        disabled_at: None,
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
        .map_err(conflict_as("account"))?;
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
}
