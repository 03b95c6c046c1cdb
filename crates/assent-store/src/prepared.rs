//! Hand-written SQL that each connection prepares once.
//!
//! diesel never keeps a statement made by `sql_query` (a text built at run time could be
//! anything), so every run of one is prepared again: SQLite compiles it, PostgreSQL parses
//! and plans it. On a hot path that can cost more than the work: in a profile of verify on
//! PostgreSQL, parsing and planning its batch's one statement was most of the database's CPU.
//! A [`Prepared`] statement has a fixed text, and diesel's statement cache keeps it per
//! connection, keyed by that text and the bind types.
//!
//! Written by hand because diesel offers no cached form of a raw statement; its DSL cannot
//! express what these statements do (unnested arrays, data-modifying CTEs, `RETURNING` from an
//! upsert with a condition).

use diesel::backend::Backend;
use diesel::pg::Pg;
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
use diesel::sql_types::{Array, BigInt, Nullable, Text, Untyped};
use diesel::sqlite::Sqlite;
use diesel::{QueryResult, RunQueryDsl};

/// One value a [`Prepared`] statement binds.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Param<'a> {
    BigInt(i64),
    /// PostgreSQL only, as are the other arrays.
    Texts(&'a [&'a str]),
    NullableTexts(&'a [Option<&'a str>]),
    BigInts(&'a [i64]),
}

/// A statement written with `$1`, `$2`, … (PostgreSQL's placeholders) and its parameters:
/// `$n` binds `params[n - 1]`, as often as it appears, on either engine. Every `$` in the text
/// is a placeholder: the statements here hold no `$` in a literal.
#[derive(Debug)]
pub(crate) struct Prepared<'a> {
    sql: &'static str,
    params: Vec<Param<'a>>,
}

impl<'a> Prepared<'a> {
    pub(crate) fn new(sql: &'static str, params: Vec<Param<'a>>) -> Self {
        Self { sql, params }
    }

    /// Walks the text, handing each `$n` to `bind` and the rest to the query as it is.
    fn walk<'b, DB: Backend>(
        &'b self,
        out: &mut AstPass<'_, 'b, DB>,
        mut bind: impl FnMut(&mut AstPass<'_, 'b, DB>, &'b Param<'a>) -> QueryResult<()>,
    ) -> QueryResult<()> {
        let mut rest = self.sql;
        while let Some(at) = rest.find('$') {
            out.push_sql(&rest[..at]);
            let digits = rest[at + 1..]
                .find(|c: char| !c.is_ascii_digit())
                .map_or(rest.len() - at - 1, |end| end);
            let param = rest[at + 1..at + 1 + digits]
                .parse::<usize>()
                .ok()
                .and_then(|n| self.params.get(n.checked_sub(1)?))
                .ok_or_else(|| {
                    diesel::result::Error::QueryBuilderError(
                        format!("a placeholder without a parameter in: {}", self.sql).into(),
                    )
                })?;
            bind(out, param)?;
            rest = &rest[at + 1 + digits..];
        }
        out.push_sql(rest);
        Ok(())
    }
}

impl QueryFragment<Pg> for Prepared<'_> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        self.walk(&mut out, |out, param| match param {
            Param::BigInt(v) => out.push_bind_param::<BigInt, _>(v),
            Param::Texts(v) => out.push_bind_param::<Array<Text>, _>(*v),
            Param::NullableTexts(v) => out.push_bind_param::<Array<Nullable<Text>>, _>(*v),
            Param::BigInts(v) => out.push_bind_param::<Array<BigInt>, _>(*v),
        })
    }
}

impl QueryFragment<Sqlite> for Prepared<'_> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Sqlite>) -> QueryResult<()> {
        self.walk(&mut out, |out, param| match param {
            Param::BigInt(v) => out.push_bind_param::<BigInt, _>(v),
            Param::Texts(_) | Param::NullableTexts(_) | Param::BigInts(_) => Err(
                diesel::result::Error::QueryBuilderError("SQLite binds no arrays".into()),
            ),
        })
    }
}

/// Not a static id: diesel then keys its cache by the statement's text and bind types.
impl QueryId for Prepared<'_> {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

/// Rows come back by name ([`diesel::QueryableByName`]), as from `sql_query`.
impl Query for Prepared<'_> {
    type SqlType = Untyped;
}

impl<Conn> RunQueryDsl<Conn> for Prepared<'_> {}

#[cfg(test)]
mod tests {
    use diesel::{Connection, QueryableByName, RunQueryDsl, SqliteConnection};

    use super::{Param, Prepared};

    #[derive(QueryableByName, Debug, PartialEq)]
    struct Value {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        v: i64,
    }

    fn run(sql: &'static str, params: Vec<Param<'_>>) -> diesel::QueryResult<Vec<Value>> {
        let mut conn = SqliteConnection::establish(":memory:").expect("an in-memory database");
        Prepared::new(sql, params).load(&mut conn)
    }

    #[test]
    fn each_placeholder_binds_its_own_parameter_however_often_it_appears() {
        let params = || vec![Param::BigInt(1), Param::BigInt(10), Param::BigInt(100)];
        assert_eq!(
            run("SELECT $2 - $1 + $2 * $3 AS v", params()),
            Ok(vec![Value { v: 1009 }])
        );
        assert_eq!(run("SELECT $3 AS v", params()), Ok(vec![Value { v: 100 }]));
    }

    #[test]
    fn a_placeholder_without_its_parameter_or_an_array_on_sqlite_is_an_error() {
        assert!(run("SELECT $2 AS v", vec![Param::BigInt(1)]).is_err());
        assert!(run("SELECT $0 AS v", vec![Param::BigInt(1)]).is_err());
        assert!(run("SELECT $1 AS v", vec![Param::BigInts(&[1])]).is_err());
    }
}
