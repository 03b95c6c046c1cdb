//! `assent copy`: every row of one database into another, SQLite ⇄ PostgreSQL (or the same
//! engine), ids, timestamps and sealed secrets as they are.
//!
//! The tables and their columns are read from the database catalogs rather than listed here,
//! so a table a later migration adds is copied without a change to this file. Rows travel
//! as JSON, which both engines write and read natively (`json_object`/`json_each` on
//! SQLite, `row_to_json`/`json_populate_recordset` on PostgreSQL): one code path for every
//! table and both directions, with each value typed by the target's own column.
//!
//! Safety: the source is read in one snapshot (a read transaction), so the copy is the
//! database as of one moment even if a server still writes to it. The target is written in
//! ONE transaction, and verified inside it (row counts and per-table checksums read back from
//! the target) before it commits: a crash, an error or a mismatch rolls everything back, and
//! the target is left migrated and empty, ready for another run. It is never half-written.

use std::collections::{BTreeMap, BTreeSet};

use assent_auth::SecretKey;
use diesel::QueryableByName;
use diesel::connection::{DefaultLoadingMode, LoadConnection, SimpleConnection};
use diesel::pg::{PgConnection, PgRowByRowLoadingMode};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};
use diesel::sqlite::SqliteConnection;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::db::{AnyConnection, Store};
use crate::error::StoreError;

/// diesel's own bookkeeping: the target's migrations write it, so it is not copied.
const MIGRATIONS_TABLE: &str = "__diesel_schema_migrations";

#[derive(Debug, Clone, Copy)]
pub struct CopyOptions {
    /// Rows per insert statement.
    pub batch: usize,
    /// Read, check and checksum the source and check the target, but write nothing.
    pub dry_run: bool,
}

impl Default for CopyOptions {
    fn default() -> Self {
        Self {
            batch: 1000,
            dry_run: false,
        }
    }
}

/// Where a copy is, for a progress bar.
#[derive(Debug, Clone, Copy)]
pub struct CopyProgress<'a> {
    pub table: &'a str,
    /// Rows of this table copied (or, in a dry run, read) so far.
    pub done: u64,
    /// Rows of this table.
    pub rows: u64,
    /// Rows of every table, and of every table copied so far.
    pub all_done: u64,
    pub all_rows: u64,
}

/// One table, as copied and verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableReport {
    pub table: String,
    pub rows: u64,
    /// An order-independent SHA-256 sum of the table's rows (see `Checksum`).
    pub checksum: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopyReport {
    /// In the order copied (parents before the rows that refer to them).
    pub tables: Vec<TableReport>,
    pub dry_run: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum CopyError {
    #[error(
        "the target database is not empty ({table} has {rows} rows); copy only into a new, empty database"
    )]
    TargetNotEmpty { table: String, rows: i64 },
    #[error(
        "the source database has {0} migrations this version has not applied yet; run `assent migrate` on it first"
    )]
    SourceNotMigrated(usize),
    #[error("the two databases' tables differ: {0}")]
    SchemaMismatch(String),
    #[error(
        "the secret key does not open the source's sealed secrets (webhook {0}): use the key of the server that wrote it"
    )]
    WrongKey(String),
    #[error("verification failed, nothing was committed: {0}")]
    Verification(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl crate::error::WriteError for CopyError {
    fn store_error(&self) -> Option<&StoreError> {
        match self {
            Self::Store(e) => Some(e),
            _ => None,
        }
    }
}

impl From<diesel::result::Error> for CopyError {
    fn from(e: diesel::result::Error) -> Self {
        Self::Store(StoreError::Database(e))
    }
}

#[derive(QueryableByName)]
struct Name {
    #[diesel(sql_type = Text)]
    name: String,
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    count: i64,
}

#[derive(QueryableByName)]
struct JsonRow {
    #[diesel(sql_type = Text)]
    row: String,
}

#[derive(QueryableByName)]
struct Sealed {
    #[diesel(sql_type = Text)]
    id: String,
    #[diesel(sql_type = Text)]
    secret_sealed: String,
}

#[derive(QueryableByName)]
struct SerialColumn {
    #[diesel(sql_type = Text)]
    table_name: String,
    #[diesel(sql_type = Text)]
    column_name: String,
}

/// A table to copy: its name and columns (sorted, so both engines agree).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Table {
    name: String,
    columns: Vec<String>,
}

/// An order-independent digest of a set of rows: the sum, modulo 2^256, of each row's SHA-256
/// over its canonical JSON (RFC 8785). Order-independent because the engines return rows in
/// different orders (and order text differently); booleans count as 0 and 1, the way SQLite
/// stores them. Guards against loss and corruption in the copy, not against an adversary.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Checksum([u64; 4]);

impl Checksum {
    fn add(&mut self, row: &str) -> Result<(), CopyError> {
        let mut value: Value = serde_json::from_str(row)
            .map_err(|e| StoreError::Corrupt(format!("a row did not read as JSON: {e}")))?;
        if let Value::Object(map) = &mut value {
            for field in map.values_mut() {
                if let Value::Bool(b) = field {
                    *field = Value::from(i64::from(*b));
                }
            }
        }
        let hash = Sha256::digest(assent_core::canonical::canonical_json(&value).as_bytes());
        let mut carry = 0_u64;
        for (i, lane) in self.0.iter_mut().enumerate().rev() {
            let mut word = [0_u8; 8];
            word.copy_from_slice(&hash[i * 8..i * 8 + 8]);
            let (sum, over1) = lane.overflowing_add(u64::from_be_bytes(word));
            let (sum, over2) = sum.overflowing_add(carry);
            *lane = sum;
            carry = u64::from(over1) + u64::from(over2);
        }
        Ok(())
    }

    fn hex(&self) -> String {
        let bytes: Vec<u8> = self.0.iter().flat_map(|w| w.to_be_bytes()).collect();
        format!("sha256sum:{}", hex::encode(bytes))
    }
}

fn quote(identifier: &str) -> String {
    format!("\"{}\"", identifier.replace('"', "\"\""))
}

fn tables(conn: &mut AnyConnection) -> Result<Vec<Table>, CopyError> {
    let names: Vec<Name> = match conn {
        AnyConnection::Sqlite(c) => diesel::sql_query(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'",
        )
        .load(c)?,
        AnyConnection::Postgresql(c) => diesel::sql_query(
            "SELECT table_name::text AS name FROM information_schema.tables \
             WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'",
        )
        .load(c)?,
    };
    let mut tables = Vec::new();
    for Name { name } in names {
        if name == MIGRATIONS_TABLE {
            continue;
        }
        let columns: Vec<Name> = match conn {
            AnyConnection::Sqlite(c) => diesel::sql_query("SELECT name FROM pragma_table_info(?)")
                .bind::<Text, _>(&name)
                .load(c)?,
            AnyConnection::Postgresql(c) => diesel::sql_query(
                "SELECT column_name::text AS name FROM information_schema.columns \
                 WHERE table_schema = current_schema() AND table_name = $1",
            )
            .bind::<Text, _>(&name)
            .load(c)?,
        };
        let mut columns: Vec<String> = columns.into_iter().map(|c| c.name).collect();
        columns.sort();
        tables.push(Table { name, columns });
    }
    Ok(dependency_order(conn, tables)?)
}

/// Parents before children, by the foreign keys the catalog lists (names break ties, so the
/// order is the same every run).
fn dependency_order(
    conn: &mut AnyConnection,
    tables: Vec<Table>,
) -> Result<Vec<Table>, StoreError> {
    let mut parents: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for table in &tables {
        let names: Vec<Name> = match conn {
            AnyConnection::Sqlite(c) => diesel::sql_query(
                "SELECT DISTINCT \"table\" AS name FROM pragma_foreign_key_list(?)",
            )
            .bind::<Text, _>(&table.name)
            .load(c)?,
            AnyConnection::Postgresql(c) => diesel::sql_query(
                "SELECT DISTINCT p.relname::text AS name FROM pg_constraint k \
                 JOIN pg_class p ON p.oid = k.confrelid JOIN pg_class t ON t.oid = k.conrelid \
                 WHERE k.contype = 'f' AND t.relname = $1 \
                 AND t.relnamespace = current_schema()::regnamespace",
            )
            .bind::<Text, _>(&table.name)
            .load(c)?,
        };
        parents.insert(
            table.name.clone(),
            names
                .into_iter()
                .map(|n| n.name)
                .filter(|n| *n != table.name)
                .collect(),
        );
    }
    let mut by_name: BTreeMap<String, Table> =
        tables.into_iter().map(|t| (t.name.clone(), t)).collect();
    let mut ordered = Vec::new();
    while !by_name.is_empty() {
        let ready = by_name
            .keys()
            .find(|name| {
                parents
                    .get(*name)
                    .is_none_or(|p| p.iter().all(|p| !by_name.contains_key(p)))
            })
            .cloned();
        let Some(name) = ready else {
            return Err(StoreError::Corrupt(
                "the tables' foreign keys form a cycle".to_owned(),
            ));
        };
        if let Some(table) = by_name.remove(&name) {
            ordered.push(table);
        }
    }
    Ok(ordered)
}

fn count(conn: &mut AnyConnection, table: &str) -> Result<i64, CopyError> {
    let sql = format!("SELECT COUNT(*) AS count FROM {}", quote(table));
    let Count { count } = diesel::sql_query(sql).get_result(conn)?;
    Ok(count)
}

/// The statement that reads every row of `table` as one JSON object.
fn select_json(conn: &AnyConnection, table: &Table) -> String {
    match conn {
        AnyConnection::Sqlite(_) => {
            let pairs: Vec<String> = table
                .columns
                .iter()
                .map(|c| format!("'{}', {}", c.replace('\'', "''"), quote(c)))
                .collect();
            format!(
                "SELECT json_object({}) AS row FROM {}",
                pairs.join(", "),
                quote(&table.name)
            )
        }
        AnyConnection::Postgresql(_) => {
            format!(
                "SELECT row_to_json(t)::text AS row FROM {} t",
                quote(&table.name)
            )
        }
    }
}

/// The statement that inserts a JSON array of such objects (bound as its one parameter).
fn insert_json(conn: &AnyConnection, table: &Table) -> String {
    let columns: Vec<String> = table.columns.iter().map(|c| quote(c)).collect();
    match conn {
        AnyConnection::Sqlite(_) => {
            let values: Vec<String> = table
                .columns
                .iter()
                .map(|c| format!("json_extract(value, '$.\"{}\"')", c.replace('\'', "''")))
                .collect();
            format!(
                "INSERT INTO {} ({}) SELECT {} FROM json_each(?)",
                quote(&table.name),
                columns.join(", "),
                values.join(", ")
            )
        }
        AnyConnection::Postgresql(_) => format!(
            // Ids of identity columns (the audit log's, the change feed's) are kept too.
            "INSERT INTO {t} ({c}) OVERRIDING SYSTEM VALUE \
             SELECT {c} FROM json_populate_recordset(NULL::{t}, $1::json)",
            t = quote(&table.name),
            c = columns.join(", ")
        ),
    }
}

/// Streams every row of `sql` to `each`, without loading the table into memory.
fn for_each_row(
    conn: &mut AnyConnection,
    sql: &str,
    mut each: impl FnMut(String) -> Result<(), CopyError>,
) -> Result<(), CopyError> {
    fn drive<C, M>(
        conn: &mut C,
        sql: &str,
        each: &mut dyn FnMut(String) -> Result<(), CopyError>,
    ) -> Result<(), CopyError>
    where
        C: LoadConnection<M>,
        diesel::query_builder::SqlQuery: diesel::query_dsl::LoadQuery<'static, C, JsonRow, M>,
    {
        for row in diesel::sql_query(sql).load_iter::<JsonRow, M>(conn)? {
            each(row?.row)?;
        }
        Ok(())
    }
    match conn {
        AnyConnection::Sqlite(c) => {
            drive::<SqliteConnection, DefaultLoadingMode>(c, sql, &mut each)
        }
        AnyConnection::Postgresql(c) => {
            drive::<PgConnection, PgRowByRowLoadingMode>(c, sql, &mut each)
        }
    }
}

/// Reads `table` whole, for its count and checksum.
fn digest_table(conn: &mut AnyConnection, table: &Table) -> Result<(u64, Checksum), CopyError> {
    let sql = select_json(conn, table);
    let mut rows = 0;
    let mut sum = Checksum::default();
    for_each_row(conn, &sql, |row| {
        rows += 1;
        sum.add(&row)
    })?;
    Ok((rows, sum))
}

/// Unseals one webhook secret of the source with `key`, if it has any.
fn check_key(conn: &mut AnyConnection, key: &SecretKey) -> Result<(), CopyError> {
    let sealed: Option<Sealed> =
        diesel::sql_query("SELECT id, secret_sealed FROM webhook_endpoints ORDER BY id LIMIT 1")
            .get_result(conn)
            .optional()?;
    if let Some(Sealed { id, secret_sealed }) = sealed
        && key.open(&secret_sealed, &id).is_err()
    {
        return Err(CopyError::WrongKey(id));
    }
    Ok(())
}

/// Moves every PostgreSQL sequence past the largest id copied into its column.
fn set_sequences(conn: &mut AnyConnection) -> Result<(), CopyError> {
    let AnyConnection::Postgresql(pg) = conn else {
        // SQLite's AUTOINCREMENT counter follows the largest inserted id by itself.
        return Ok(());
    };
    let serials: Vec<SerialColumn> = diesel::sql_query(
        "SELECT table_name::text AS table_name, column_name::text AS column_name \
         FROM information_schema.columns WHERE table_schema = current_schema() \
         AND (column_default LIKE 'nextval(%' OR is_identity = 'YES')",
    )
    .load(pg)?;
    for SerialColumn {
        table_name,
        column_name,
    } in serials
    {
        let sql = format!(
            "SELECT setval(pg_get_serial_sequence($1, $2), \
             COALESCE((SELECT MAX({c}) FROM {t}), 1), \
             (SELECT MAX({c}) FROM {t}) IS NOT NULL)",
            c = quote(&column_name),
            t = quote(&table_name)
        );
        diesel::sql_query(sql)
            .bind::<Text, _>(quote(&table_name))
            .bind::<Text, _>(&column_name)
            .execute(pg)?;
    }
    Ok(())
}

impl Store {
    /// Migrations embedded in this version that the database has not applied.
    pub fn pending_migrations(&self) -> Result<usize, StoreError> {
        self.read(crate::db::pending_migrations)
    }

    /// Whether every table of this (migrated) database is empty; the first one that is not,
    /// with its row count, otherwise.
    pub fn first_nonempty_table(&self) -> Result<Option<(String, i64)>, StoreError> {
        self.read(|conn| {
            for table in tables(conn).map_err(into_store)? {
                let rows = count(conn, &table.name).map_err(into_store)?;
                if rows > 0 {
                    return Ok(Some((table.name, rows)));
                }
            }
            Ok(None)
        })
    }

    /// Copies every row of `self` into `target`, which must be empty; `key` must open the
    /// source's sealed secrets. The target is migrated first (unless `dry_run`). See the
    /// module's documentation for what makes it safe to interrupt.
    pub fn copy_to(
        &self,
        target: Option<&Store>,
        key: &SecretKey,
        options: CopyOptions,
        progress: &mut dyn FnMut(CopyProgress<'_>),
    ) -> Result<CopyReport, CopyError> {
        let pending = self.pending_migrations()?;
        if pending > 0 {
            return Err(CopyError::SourceNotMigrated(pending));
        }
        // Before anything is written: the key, the target's emptiness.
        self.read(|conn| check_key(conn, key))?;
        if let Some(target) = target {
            if !options.dry_run {
                target.migrate()?;
            }
            if let Some((table, rows)) = target.first_nonempty_table()? {
                return Err(CopyError::TargetNotEmpty { table, rows });
            }
        }
        if !options.dry_run {
            // Changes a PostgreSQL source committed but has not numbered yet would reach a
            // SQLite target in an inbox that nothing there reads: number them first.
            self.number_committed()?;
        }
        let batch = options.batch.max(1);
        self.read(|source| {
            source.transaction(|source| {
                if let AnyConnection::Postgresql(pg) = source {
                    // One snapshot for every table.
                    pg.batch_execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")?;
                }
                let tables = tables(source)?;
                let mut counts = Vec::with_capacity(tables.len());
                for table in &tables {
                    counts.push(u64::try_from(count(source, &table.name)?).unwrap_or(0));
                }
                let all_rows = counts.iter().sum();
                match target {
                    Some(target) if !options.dry_run => target.write(|sink| {
                        let target_tables = crate::copy::tables(sink)?;
                        if target_tables
                            .iter()
                            .map(|t| (&t.name, &t.columns))
                            .collect::<BTreeMap<_, _>>()
                            != tables
                                .iter()
                                .map(|t| (&t.name, &t.columns))
                                .collect::<BTreeMap<_, _>>()
                        {
                            return Err(CopyError::SchemaMismatch(describe_difference(
                                &tables,
                                &target_tables,
                            )));
                        }
                        let report =
                            copy_tables(source, sink, &tables, &counts, all_rows, batch, progress)?;
                        set_sequences(sink)?;
                        verify(sink, &tables, &report)?;
                        Ok(report)
                    }),
                    _ => {
                        let mut report = Vec::new();
                        let mut all_done = 0;
                        for (table, rows) in tables.iter().zip(&counts) {
                            let (read, sum) = digest_table(source, table)?;
                            all_done += read;
                            progress(CopyProgress {
                                table: &table.name,
                                done: read,
                                rows: *rows,
                                all_done,
                                all_rows,
                            });
                            report.push(TableReport {
                                table: table.name.clone(),
                                rows: read,
                                checksum: sum.hex(),
                            });
                        }
                        Ok(report)
                    }
                }
            })
        })
        .map(|tables| CopyReport {
            tables,
            dry_run: options.dry_run,
        })
    }
}

fn into_store(e: CopyError) -> StoreError {
    match e {
        CopyError::Store(e) => e,
        other => StoreError::Corrupt(other.to_string()),
    }
}

fn describe_difference(source: &[Table], target: &[Table]) -> String {
    let mut differences = Vec::new();
    for table in source {
        match target.iter().find(|t| t.name == table.name) {
            None => differences.push(format!("{} is missing from the target", table.name)),
            Some(t) if t.columns != table.columns => differences.push(format!(
                "{} has columns {:?} in the source but {:?} in the target",
                table.name, table.columns, t.columns
            )),
            Some(_) => {}
        }
    }
    for table in target {
        if !source.iter().any(|t| t.name == table.name) {
            differences.push(format!("{} is missing from the source", table.name));
        }
    }
    differences.join("; ")
}

#[allow(clippy::too_many_arguments)]
fn copy_tables(
    source: &mut AnyConnection,
    sink: &mut AnyConnection,
    tables: &[Table],
    counts: &[u64],
    all_rows: u64,
    batch: usize,
    progress: &mut dyn FnMut(CopyProgress<'_>),
) -> Result<Vec<TableReport>, CopyError> {
    let mut report = Vec::with_capacity(tables.len());
    let mut all_done = 0;
    for (table, rows) in tables.iter().zip(counts) {
        let select = select_json(source, table);
        let insert = insert_json(sink, table);
        let mut pending: Vec<String> = Vec::with_capacity(batch);
        let mut done = 0;
        let mut sum = Checksum::default();
        let flush = |pending: &mut Vec<String>, sink: &mut AnyConnection| {
            if pending.is_empty() {
                return Ok::<_, CopyError>(0);
            }
            let array = format!("[{}]", pending.join(","));
            let inserted = diesel::sql_query(&insert)
                .bind::<Text, _>(array)
                .execute(sink)?;
            if inserted != pending.len() {
                return Err(CopyError::Verification(format!(
                    "{} rows of {} were sent but {inserted} inserted",
                    pending.len(),
                    table.name
                )));
            }
            pending.clear();
            Ok(inserted as u64)
        };
        for_each_row(source, &select, |row| {
            sum.add(&row)?;
            pending.push(row);
            if pending.len() >= batch {
                done += flush(&mut pending, sink)?;
                progress(CopyProgress {
                    table: &table.name,
                    done,
                    rows: *rows,
                    all_done: all_done + done,
                    all_rows,
                });
            }
            Ok(())
        })?;
        done += flush(&mut pending, sink)?;
        all_done += done;
        progress(CopyProgress {
            table: &table.name,
            done,
            rows: *rows,
            all_done,
            all_rows,
        });
        report.push(TableReport {
            table: table.name.clone(),
            rows: done,
            checksum: sum.hex(),
        });
    }
    Ok(report)
}

/// Reads every table back from the target (inside its transaction) and compares.
fn verify(
    sink: &mut AnyConnection,
    tables: &[Table],
    expected: &[TableReport],
) -> Result<(), CopyError> {
    for (table, expected) in tables.iter().zip(expected) {
        let rows = u64::try_from(count(sink, &table.name)?).unwrap_or(0);
        let (read, sum) = digest_table(sink, table)?;
        if rows != expected.rows || read != expected.rows {
            return Err(CopyError::Verification(format!(
                "{} has {rows} rows in the target, {} in the source",
                table.name, expected.rows
            )));
        }
        if sum.hex() != expected.checksum {
            return Err(CopyError::Verification(format!(
                "the rows of {} differ between source and target",
                table.name
            )));
        }
    }
    Ok(())
}
