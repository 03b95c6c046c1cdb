//! The append-only audit log: who changed what, written in the same transaction as the change.
//! The database refuses updates and deletes of its rows (triggers in the migration).

use std::cell::Cell;
use std::fmt;
use std::net::IpAddr;

use assent_core::Timestamp;
use diesel::prelude::*;

use crate::AnyConnection;
use crate::db::Store;
use crate::error::StoreError;
use crate::schema::audit_log;

/// Who did it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Actor {
    Account(String),
    AdminToken(String),
    /// The operator's command line.
    Cli,
    /// An automatic decision, named by what made it: `policy:<rule id>`, `grant:<grant id>`,
    /// `limit:max_pending`.
    Automatic(String),
}

impl fmt::Display for Actor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Account(id) => write!(f, "account:{id}"),
            Self::AdminToken(id) => write!(f, "admin_token:{id}"),
            Self::Cli => f.write_str("cli"),
            Self::Automatic(by) => f.write_str(by),
        }
    }
}

/// One entry to write.
#[derive(Debug, Clone)]
pub struct AuditEntry<'a> {
    pub namespace: &'a str,
    pub actor: &'a Actor,
    /// `<thing>.<past tense>`: `service.created`, `api_key.revoked`, …
    pub action: &'static str,
    pub target_id: &'a str,
    /// A JSON object of non-secret facts (names, slugs, URLs).
    pub details: serde_json::Value,
}

thread_local! {
    /// The client address of the request whose store work runs on this thread, if any.
    static CLIENT_ADDR: Cell<Option<IpAddr>> = const { Cell::new(None) };
}

/// Runs `work` with `client_addr` as the address every audit entry it writes came from.
///
/// The address is request context, like a tracing span: passing it through every operation
/// that may audit would add a parameter to each of them for one column. The application layer
/// sets it around the store work of a request (`assent_app::App::run`); work outside one (the
/// command line, the delivery engine) writes none. It is written out only with an entry, so
/// store work that audits nothing (a verify) pays nothing for it.
pub fn with_client_addr<T>(client_addr: Option<IpAddr>, work: impl FnOnce() -> T) -> T {
    struct Restore(Option<IpAddr>);
    impl Drop for Restore {
        fn drop(&mut self) {
            CLIENT_ADDR.set(self.0);
        }
    }
    let _restore = Restore(CLIENT_ADDR.replace(client_addr));
    work()
}

/// One entry as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRecord {
    pub seq: i64,
    pub actor: String,
    pub action: String,
    pub target_id: String,
    pub details: serde_json::Value,
    pub created_at: Timestamp,
    /// Where the change came from (see [`with_client_addr`]); `None` for the command line.
    pub client_addr: Option<String>,
}

pub(crate) fn record(conn: &mut AnyConnection, entry: AuditEntry<'_>) -> QueryResult<()> {
    diesel::insert_into(audit_log::table)
        .values((
            audit_log::namespace.eq(entry.namespace),
            audit_log::actor.eq(entry.actor.to_string()),
            audit_log::action.eq(entry.action),
            audit_log::target_id.eq(entry.target_id),
            audit_log::details.eq(entry.details.to_string()),
            audit_log::created_at.eq(Timestamp::now().as_millis()),
            audit_log::client_addr.eq(CLIENT_ADDR.get().map(|addr| addr.to_string())),
        ))
        .execute(conn)
        .map(|_| ())
}

/// seq, actor, action, target_id, details, created_at, client_addr.
type AuditRow = (i64, String, String, String, String, i64, Option<String>);

impl Store {
    /// A namespace's audit log, newest first; `before` is the `seq` to continue below.
    pub fn list_audit_log(
        &self,
        namespace: &str,
        limit: i64,
        before: Option<i64>,
    ) -> Result<Vec<AuditRecord>, StoreError> {
        self.read(|conn| {
            let mut query = audit_log::table
                .filter(audit_log::namespace.eq(namespace))
                .into_boxed();
            if let Some(before) = before {
                query = query.filter(audit_log::seq.lt(before));
            }
            let rows: Vec<AuditRow> = query
                .order(audit_log::seq.desc())
                .limit(limit)
                .select((
                    audit_log::seq,
                    audit_log::actor,
                    audit_log::action,
                    audit_log::target_id,
                    audit_log::details,
                    audit_log::created_at,
                    audit_log::client_addr,
                ))
                .load(conn)?;
            rows.into_iter()
                .map(
                    |(seq, actor, action, target_id, details, created_at, client_addr)| {
                        Ok(AuditRecord {
                            seq,
                            actor,
                            action,
                            target_id,
                            details: serde_json::from_str(&details)
                                .map_err(|_| StoreError::Corrupt(format!("audit entry {seq}")))?,
                            created_at: Timestamp::from_millis(created_at),
                            client_addr,
                        })
                    },
                )
                .collect()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Blocking threads are reused across requests: a request's address must not outlive its
    /// work, or a later entry on the same thread (the delivery engine's, the CLI's) would
    /// claim it. Restored after a panic too.
    #[test]
    fn a_client_address_is_set_only_for_its_work() {
        let addr: IpAddr = "203.0.113.9".parse().unwrap();
        assert_eq!(
            with_client_addr(Some(addr), || CLIENT_ADDR.get()),
            Some(addr)
        );
        assert_eq!(CLIENT_ADDR.get(), None);
        let outer: IpAddr = "198.51.100.1".parse().unwrap();
        with_client_addr(Some(outer), || {
            with_client_addr(None, || assert_eq!(CLIENT_ADDR.get(), None));
            assert_eq!(CLIENT_ADDR.get(), Some(outer));
        });
        let panicked = std::panic::catch_unwind(|| with_client_addr(Some(addr), || panic!("work")));
        assert!(panicked.is_err());
        assert_eq!(CLIENT_ADDR.get(), None);
    }
}
