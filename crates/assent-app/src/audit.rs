//! The owner's audit log: who changed what in the namespace, newest first.

use assent_store::{Account, AuditRecord};

use crate::pagination::{self, Page};
use crate::{App, Error};

/// One page of the owner's audit log, newest first: `limit` 1 to 200 (default 50), the
/// cursor the `seq` of the previous page's last entry.
pub async fn page(
    app: &App,
    owner: &Account,
    limit: Option<&str>,
    cursor: Option<String>,
) -> Result<Page<AuditRecord>, Error> {
    let limit = pagination::limit(limit)?;
    let before = cursor
        .map(|raw| raw.parse::<i64>().map_err(|_| pagination::bad_cursor()))
        .transpose()?;
    let namespace = owner.namespace.clone();
    let mut items = app
        .run(move |store| store.list_audit_log(&namespace, limit + 1, before))
        .await?;
    let next_cursor = pagination::finish(&mut items, limit, |r| r.seq.to_string());
    Ok(Page { items, next_cursor })
}
