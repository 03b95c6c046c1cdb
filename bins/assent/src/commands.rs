//! The operator commands: migrate, admin tokens, accounts (create, list, disable, enable,
//! delete, invite, reset a password), user tokens.

use std::io::BufRead;

use anyhow::Context;
use assent_auth::{MintedToken, TokenKind, hash_password};
use assent_core::account::{INVITE_TTL, PASSWORD_RESET_TTL};
use assent_core::{FieldError, Timestamp};
use assent_store::{Account, Actor, NewAccount, NewUserToken, Store, StoreError};
use clap::Subcommand;

use crate::config::StorageConfig;

/// Opens the database and applies pending migrations.
pub fn open_store(storage: &StorageConfig) -> anyhow::Result<Store> {
    let store =
        Store::connect(&storage.database_url, &storage.pool).context("cannot open the database")?;
    let applied = store.migrate().context("cannot migrate the database")?;
    for version in &applied {
        tracing::info!(%version, "applied migration");
    }
    Ok(store)
}

pub fn migrate(storage: &StorageConfig) -> anyhow::Result<()> {
    open_store(storage)?;
    println!("The database is up to date.");
    Ok(())
}

#[derive(Debug, Subcommand)]
pub enum AdminTokenAction {
    /// Create an admin token and print it once.
    Create {
        /// What the token is for, shown in `list`.
        #[arg(long, default_value = "cli")]
        label: String,
    },
    /// List admin tokens (ids and dates, never the tokens).
    List,
    /// Revoke an admin token by id; it stops working at once.
    Revoke {
        /// The token's id, as shown by `list`.
        id: String,
    },
}

pub fn admin_token(storage: &StorageConfig, action: AdminTokenAction) -> anyhow::Result<()> {
    let store = open_store(storage)?;
    match action {
        AdminTokenAction::Create { label } => {
            let token = MintedToken::new(TokenKind::Admin);
            let created = store.create_admin_token(&token.hash, &label)?;
            println!("Admin token {} created. It is shown only now:", created.id);
            println!("{}", token.plaintext.expose());
        }
        AdminTokenAction::List => {
            for token in store.list_admin_tokens()? {
                let state = token
                    .revoked_at
                    .map_or_else(|| "active".to_owned(), |at| format!("revoked {at}"));
                println!(
                    "{}  {}  created {}  {}",
                    token.id, token.label, token.created_at, state
                );
            }
        }
        AdminTokenAction::Revoke { id } => match store.revoke_admin_token(&id) {
            Ok(()) => println!("Admin token {id} revoked."),
            Err(StoreError::NotFound) => anyhow::bail!("no active admin token has the id {id}"),
            Err(e) => return Err(e.into()),
        },
    }
    Ok(())
}

#[derive(Debug, Subcommand)]
pub enum AccountAction {
    /// Create a namespace owner's account.
    Create {
        #[arg(long)]
        email: String,
        /// The namespace the account owns (3-64 of a-z, 0-9 and -).
        #[arg(long)]
        namespace: String,
        /// The password (8-256 characters). Read from standard input when omitted, which
        /// keeps it out of the shell history and the process list.
        #[arg(long, env = "ASSENT_ACCOUNT_PASSWORD", hide_env_values = true)]
        password: Option<String>,
    },
    /// List every account: id, email, namespace, created, and whether it is disabled.
    List,
    /// Disable an account: it cannot log in, its sessions end and its user tokens are refused
    /// at once. Its services keep working.
    Disable {
        #[arg(long)]
        email: String,
    },
    /// Enable a disabled account again (its old sessions stay ended).
    Enable {
        #[arg(long)]
        email: String,
    },
    /// Delete an account and everything its namespace holds (services, keys, webhooks,
    /// claims, notifications, sessions, tokens). The audit log keeps a record.
    Delete {
        #[arg(long)]
        email: String,
        /// Confirms the deletion, which cannot be undone.
        #[arg(long)]
        yes: bool,
    },
    /// Print a single-use signup link for an email, valid for 7 days. Works when
    /// `ASSENT_SIGNUP` is `open` or `invite`.
    Invite {
        #[arg(long)]
        email: String,
        /// The URL users reach the server at, to print a whole link.
        #[arg(long, env = "ASSENT_PUBLIC_URL", value_name = "URL")]
        public_url: Option<String>,
    },
    /// Print a single-use link, valid for an hour, where the owner sets a new password; with
    /// --password-stdin, set it directly instead. Either way every session of the account ends.
    ResetPassword {
        #[arg(long)]
        email: String,
        /// Read the new password from standard input and set it now.
        #[arg(long)]
        password_stdin: bool,
        /// The URL users reach the server at, to print a whole link.
        #[arg(long, env = "ASSENT_PUBLIC_URL", value_name = "URL")]
        public_url: Option<String>,
    },
}

pub fn account(storage: &StorageConfig, action: AccountAction) -> anyhow::Result<()> {
    match action {
        AccountAction::Create {
            email,
            namespace,
            password,
        } => create_account(storage, &email, namespace, password),
        AccountAction::List => {
            let store = open_store(storage)?;
            for account in store.list_accounts()? {
                let state = account
                    .disabled_at
                    .map_or_else(|| "active".to_owned(), |at| format!("disabled {at}"));
                println!(
                    "{}  {}  {}  created {}  {}",
                    account.id, account.email, account.namespace, account.created_at, state
                );
            }
            Ok(())
        }
        AccountAction::Disable { email } => set_disabled(storage, &email, true),
        AccountAction::Enable { email } => set_disabled(storage, &email, false),
        AccountAction::Delete { email, yes } => {
            if !yes {
                anyhow::bail!(
                    "deleting an account removes its namespace's services, keys, webhooks, \
                     claims and notifications for good; add --yes to confirm"
                );
            }
            let store = open_store(storage)?;
            let account = find_account(&store, &email)?;
            store.delete_account(&account.id, &Actor::Cli)?;
            println!(
                "Account {} ({}, namespace {}) deleted.",
                account.id, account.email, account.namespace
            );
            Ok(())
        }
        AccountAction::Invite { email, public_url } => {
            let email = parse_email(&email)?;
            let store = open_store(storage)?;
            let minted = MintedToken::new(TokenKind::Invite);
            let expires_at = Timestamp::now().after(INVITE_TTL);
            store.create_invite(&minted.hash, &email, expires_at, &Actor::Cli)?;
            println!("Invite for {email}, usable once until {expires_at}. It is shown only now:");
            println!(
                "{}",
                link(
                    public_url.as_deref(),
                    "/dashboard/signup?invite=",
                    minted.plaintext.expose()
                )
            );
            Ok(())
        }
        AccountAction::ResetPassword {
            email,
            password_stdin,
            public_url,
        } => {
            let store = open_store(storage)?;
            let account = find_account(&store, &email)?;
            if password_stdin {
                let password = read_password_line()?;
                assent_core::account::check_password(&password)
                    .map_err(|e| anyhow::anyhow!("the password: {e}"))?;
                store.set_password(&account, &hash_password(&password)?, None, &Actor::Cli)?;
                println!(
                    "The password of {} is set; every session of the account has ended.",
                    account.email
                );
                return Ok(());
            }
            let minted = MintedToken::new(TokenKind::PasswordReset);
            let expires_at = Timestamp::now().after(PASSWORD_RESET_TTL);
            store.create_password_reset(&minted.hash, &account, expires_at, &Actor::Cli)?;
            println!(
                "Password reset for {}, usable once until {expires_at}. It is shown only now:",
                account.email
            );
            println!(
                "{}",
                link(
                    public_url.as_deref(),
                    "/dashboard/reset-password?token=",
                    minted.plaintext.expose()
                )
            );
            Ok(())
        }
    }
}

fn create_account(
    storage: &StorageConfig,
    email: &str,
    namespace: String,
    password: Option<String>,
) -> anyhow::Result<()> {
    let email = parse_email(email)?;
    let parsed = assent_core::Namespace::parse(&namespace)
        .map_err(|why| anyhow::anyhow!("the namespace `{namespace}` {why}"))?;
    if parsed.is_reserved() {
        anyhow::bail!("the namespace `{namespace}` is reserved: the API's own paths use it");
    }
    let password = match password {
        Some(p) => p,
        None => read_password_line()?,
    };
    let password_hash = hash_password(&password)?;
    let store = open_store(storage)?;
    let account = store
        .create_account(
            NewAccount {
                email,
                namespace,
                password_hash,
            },
            Some(&Actor::Cli),
        )
        .map_err(|e| match e {
            StoreError::Conflict(what) => anyhow::anyhow!("that {what} is already registered"),
            other => other.into(),
        })?;
    println!(
        "Account {} created for {} with namespace {}.",
        account.id, account.email, account.namespace
    );
    Ok(())
}

/// An email as the store keeps it, or why it is not one.
fn parse_email(email: &str) -> anyhow::Result<String> {
    assent_core::account::parse_email(email).map_err(|e| match e {
        FieldError::Invalid { reason, .. } if reason != "must be an email address" => {
            anyhow::anyhow!(
                "`{}` is not a usable email address: it {reason}",
                email.trim()
            )
        }
        _ => anyhow::anyhow!("`{}` is not an email address", email.trim()),
    })
}

fn find_account(store: &Store, email: &str) -> anyhow::Result<Account> {
    let email = parse_email(email)?;
    store
        .find_account_by_email(&email)?
        .ok_or_else(|| anyhow::anyhow!("no account has the email {email}"))
}

fn set_disabled(storage: &StorageConfig, email: &str, disabled: bool) -> anyhow::Result<()> {
    let store = open_store(storage)?;
    let account = find_account(&store, email)?;
    store.set_account_disabled(&account.id, disabled, &Actor::Cli)?;
    let done = if disabled {
        "disabled; its sessions have ended and its user tokens are refused"
    } else {
        "enabled"
    };
    println!("Account {} ({}) {done}.", account.id, account.email);
    Ok(())
}

/// `public_url` (without a trailing slash) + `path` + `token`, or the path alone.
fn link(public_url: Option<&str>, path: &str, token: &str) -> String {
    let base = public_url.unwrap_or_default().trim_end_matches('/');
    format!("{base}{path}{token}")
}

#[derive(Debug, Subcommand)]
pub enum TokenAction {
    /// Create a user token for an owner's ATP client app and print it once.
    Create {
        /// The namespace whose owner the token acts for.
        #[arg(long)]
        namespace: String,
        /// What the token is for, shown in listings.
        #[arg(long, default_value = "cli")]
        name: String,
    },
    /// List a namespace owner's active user tokens (ids and dates, never the tokens).
    List {
        #[arg(long)]
        namespace: String,
    },
    /// Revoke one of a namespace owner's user tokens by id; it stops working at once.
    Revoke {
        #[arg(long)]
        namespace: String,
        /// The token's id, as shown by `list`.
        id: String,
    },
}

pub fn token(storage: &StorageConfig, action: TokenAction) -> anyhow::Result<()> {
    let store = open_store(storage)?;
    let owner = |namespace: &str| {
        store
            .find_account_by_namespace(namespace)?
            .ok_or_else(|| anyhow::anyhow!("no account owns the namespace `{namespace}`"))
    };
    match action {
        TokenAction::Create { namespace, name } => {
            let account = owner(&namespace)?;
            let minted = MintedToken::new(TokenKind::User);
            let new = NewUserToken {
                id: assent_auth::random::Id::UserToken.mint(),
                name,
                prefix: minted.display_prefix(),
                hash: minted.hash.clone(),
            };
            let created = store.create_user_token(&account, &new, &Actor::Cli)?;
            println!(
                "User token {} created for {namespace}. It is shown only now:",
                created.id
            );
            println!("{}", minted.plaintext.expose());
        }
        TokenAction::List { namespace } => {
            let account = owner(&namespace)?;
            for token in store.list_user_tokens(&account.id)? {
                let used = token
                    .last_used_at
                    .map_or_else(|| "never used".to_owned(), |at| format!("last used {at}"));
                println!(
                    "{}  {}  {}  created {}  {}",
                    token.id, token.name, token.prefix, token.created_at, used
                );
            }
        }
        TokenAction::Revoke { namespace, id } => {
            let account = owner(&namespace)?;
            match store.revoke_user_token(&account, &id, &Actor::Cli) {
                Ok(()) => println!("User token {id} revoked."),
                Err(StoreError::NotFound) => {
                    anyhow::bail!("{namespace} has no active user token with the id {id}")
                }
                Err(e) => return Err(e.into()),
            }
        }
    }
    Ok(())
}

fn read_password_line() -> anyhow::Result<String> {
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .context("cannot read the password from standard input")?;
    Ok(line.trim_end_matches(['\r', '\n']).to_owned())
}
