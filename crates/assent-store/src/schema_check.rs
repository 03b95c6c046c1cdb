//! Proves that the hand-written `schema.rs` says what the migrations make, on both engines:
//! every table, every column, its nullability and its type. diesel trusts `schema.rs`
//! blindly, so a migration that adds, drops or changes a column without it would otherwise
//! surface only as a runtime error in whichever query touches it.

use std::collections::BTreeMap;

use diesel::prelude::*;
use diesel::sql_types::{Bool, Text};

use crate::db::AnyConnection;
use crate::testing::{Engine, TestDatabase};

/// One column: its diesel type as `schema.rs` writes it (`Nullable<…>` unwrapped) and whether
/// it may be null.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Column {
    sql_type: String,
    nullable: bool,
}

type Tables = BTreeMap<String, BTreeMap<String, Column>>;

/// The tables of `schema.rs`, read from its `diesel::table!` blocks.
fn declared() -> Tables {
    let mut tables = Tables::new();
    let mut current: Option<String> = None;
    for line in include_str!("schema.rs").lines().map(str::trim) {
        if let Some(name) = line.strip_suffix('{').and_then(|l| l.split_once(" (")) {
            current = Some(name.0.trim().to_owned());
        } else if line == "}" {
            current = None;
        } else if let (Some(table), Some((column, ty))) = (&current, line.split_once(" -> ")) {
            let ty = ty.trim_end_matches(',');
            let (sql_type, nullable) = match ty.strip_prefix("Nullable<") {
                Some(inner) => (inner.trim_end_matches('>'), true),
                None => (ty, false),
            };
            tables.entry(table.clone()).or_default().insert(
                column.to_owned(),
                Column {
                    sql_type: sql_type.to_owned(),
                    nullable,
                },
            );
        }
    }
    tables
}

#[derive(QueryableByName)]
struct Described {
    #[diesel(sql_type = Text)]
    table_name: String,
    #[diesel(sql_type = Text)]
    column_name: String,
    #[diesel(sql_type = Text)]
    data_type: String,
    #[diesel(sql_type = Bool)]
    nullable: bool,
}

/// The tables the migrations made, as the database describes them (diesel's own bookkeeping
/// table left out), each column's type named as diesel would for this engine.
fn migrated(db: &TestDatabase, engine: Engine) -> Tables {
    let mut conn = db.store.conn().unwrap_or_else(|e| panic!("connect: {e}"));
    let rows: Vec<Described> = match &mut *conn {
        AnyConnection::Sqlite(c) => diesel::sql_query(
            "SELECT m.name AS table_name, p.name AS column_name, p.type AS data_type, \
                    (p.\"notnull\" = 0 AND p.pk = 0) AS nullable \
             FROM sqlite_master m, pragma_table_info(m.name) p \
             WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' \
               AND m.name NOT LIKE '__diesel%'",
        )
        .load(c),
        AnyConnection::Postgresql(c) => diesel::sql_query(
            "SELECT table_name::text, column_name::text, data_type::text, \
                    (is_nullable = 'YES') AS nullable \
             FROM information_schema.columns \
             WHERE table_schema = current_schema() AND table_name NOT LIKE '__diesel%'",
        )
        .load(c),
    }
    .unwrap_or_else(|e| panic!("describe the schema: {e}"));
    let mut tables = Tables::new();
    for row in rows {
        tables.entry(row.table_name).or_default().insert(
            row.column_name,
            Column {
                sql_type: diesel_type(engine, &row.data_type),
                nullable: row.nullable,
            },
        );
    }
    tables
}

/// The diesel type a column of this SQL type maps to on `engine`. SQLite has one 64-bit
/// integer type whatever the declaration says, so there both integer types are `BigInt`.
fn diesel_type(engine: Engine, sql: &str) -> String {
    match (engine, sql.to_ascii_lowercase().as_str()) {
        (_, "text" | "character varying") => "Text",
        (_, "bigint") | (Engine::Sqlite, "integer") => "BigInt",
        (Engine::Postgres, "integer") => "Integer",
        (_, "boolean") => "Bool",
        (_, other) => return format!("unknown SQL type {other}"),
    }
    .to_owned()
}

fn matches_the_migrations(engine: Engine) {
    let db = TestDatabase::new(engine);
    let mut migrated = migrated(&db, engine);
    let declared = declared();
    assert!(declared.len() >= 10, "schema.rs was not read: {declared:?}");
    for (table, columns) in &declared {
        let Some(actual) = migrated.remove(table) else {
            panic!("{engine}: schema.rs declares `{table}`, which the migrations do not make");
        };
        for (name, column) in columns {
            let found = actual.get(name).unwrap_or_else(|| {
                panic!("{engine}: `{table}.{name}` is in schema.rs but not in the database")
            });
            let same_type = found.sql_type == column.sql_type
                || (engine == Engine::Sqlite
                    && found.sql_type == "BigInt"
                    && column.sql_type == "Integer");
            assert!(
                same_type && found.nullable == column.nullable,
                "{engine}: `{table}.{name}` is {found:?} in the database, {column:?} in schema.rs"
            );
        }
        let extra: Vec<&String> = actual
            .keys()
            .filter(|c| !columns.contains_key(*c))
            .collect();
        assert!(
            extra.is_empty(),
            "{engine}: `{table}` has columns schema.rs lacks: {extra:?}"
        );
    }
    assert!(
        migrated.is_empty(),
        "{engine}: the migrations make tables schema.rs lacks: {:?}",
        migrated.keys()
    );
}

#[test]
fn schema_rs_matches_the_migrated_sqlite_database() {
    matches_the_migrations(Engine::Sqlite);
}

#[test]
fn schema_rs_matches_the_migrated_postgres_database() {
    matches_the_migrations(Engine::Postgres);
}

#[test]
fn the_reader_of_schema_rs_sees_types_and_nullability() {
    let tables = declared();
    let admin = &tables["admin_tokens"];
    assert_eq!(
        admin["revoked_at"],
        Column {
            sql_type: "BigInt".into(),
            nullable: true
        }
    );
    assert_eq!(
        admin["label"],
        Column {
            sql_type: "Text".into(),
            nullable: false
        }
    );
}
