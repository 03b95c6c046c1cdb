//! The operator commands: migrate, admin tokens, accounts.

use std::io::BufRead;

use anyhow::Context;
use assent_auth::{MintedToken, TokenKind, hash_password};
use assent_store::{Actor, NewAccount, NewUserToken, Store, StoreError};
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
}

pub fn account(storage: &StorageConfig, action: AccountAction) -> anyhow::Result<()> {
    let AccountAction::Create {
        email,
        namespace,
        password,
    } = action;
    let email = assent_core::account::parse_email(&email)
        .map_err(|_| anyhow::anyhow!("`{}` is not an email address", email.trim()))?;
    assent_core::Namespace::parse(&namespace)
        .map_err(|why| anyhow::anyhow!("the namespace `{namespace}` {why}"))?;
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
}

pub fn token(storage: &StorageConfig, action: TokenAction) -> anyhow::Result<()> {
    let TokenAction::Create { namespace, name } = action;
    let store = open_store(storage)?;
    let account = store
        .find_account_by_namespace(&namespace)?
        .ok_or_else(|| anyhow::anyhow!("no account owns the namespace `{namespace}`"))?;
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
