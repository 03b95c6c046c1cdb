//! The operator commands: migrate, admin tokens, accounts.

use std::io::BufRead;

use anyhow::Context;
use assent_auth::{MintedToken, TokenKind, hash_password};
use assent_store::{NewAccount, Store, StoreError};
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
    let email = email.trim().to_owned();
    if !plausible_email(&email) {
        anyhow::bail!("`{email}` is not an email address");
    }
    assent_core::Namespace::parse(&namespace)
        .map_err(|why| anyhow::anyhow!("the namespace `{namespace}` {why}"))?;
    let password = match password {
        Some(p) => p,
        None => read_password_line()?,
    };
    let password_hash = hash_password(&password)?;
    let store = open_store(storage)?;
    let account = store
        .create_account(NewAccount {
            email,
            namespace,
            password_hash,
        })
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

fn read_password_line() -> anyhow::Result<String> {
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .context("cannot read the password from standard input")?;
    Ok(line.trim_end_matches(['\r', '\n']).to_owned())
}

/// One `@` with something on both sides and a dot in the domain: enough to catch typos.
fn plausible_email(email: &str) -> bool {
    email.len() <= 254
        && email.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !domain.contains('@')
                && !email.chars().any(char::is_whitespace)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn email_plausibility() {
        assert!(plausible_email("ada@example.com"));
        for bad in [
            "ada",
            "@example.com",
            "ada@",
            "ada@example",
            "a b@example.com",
            "a@b@c.com",
            "ada@.com",
        ] {
            assert!(!plausible_email(bad), "{bad}");
        }
    }
}
