//! What the operations need of a database, written once for both backends:
//! run a statement with positional values, read rows of integers and text.

use std::future::Future;

use crate::error::StoreError;

/// A value bound to a statement or read from a row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Val {
    Null,
    Int(i64),
    Text(String),
}

impl From<i64> for Val {
    fn from(v: i64) -> Val {
        Val::Int(v)
    }
}

impl From<&str> for Val {
    fn from(v: &str) -> Val {
        Val::Text(v.to_owned())
    }
}

impl From<String> for Val {
    fn from(v: String) -> Val {
        Val::Text(v)
    }
}

impl<T: Into<Val>> From<Option<T>> for Val {
    fn from(v: Option<T>) -> Val {
        v.map_or(Val::Null, Into::into)
    }
}

/// One row, by column position.
#[derive(Debug)]
pub(super) struct Row(pub(super) Vec<Val>);

impl Row {
    fn at(&self, i: usize) -> Result<&Val, StoreError> {
        self.0
            .get(i)
            .ok_or_else(|| StoreError::Corrupt(format!("a row lacks column {i}")))
    }

    pub(super) fn text(&self, i: usize) -> Result<String, StoreError> {
        self.opt_text(i)?
            .ok_or_else(|| StoreError::Corrupt(format!("column {i} is NULL")))
    }

    pub(super) fn opt_text(&self, i: usize) -> Result<Option<String>, StoreError> {
        match self.at(i)? {
            Val::Null => Ok(None),
            Val::Text(s) => Ok(Some(s.clone())),
            Val::Int(_) => Err(StoreError::Corrupt(format!("column {i} is not text"))),
        }
    }

    pub(super) fn int(&self, i: usize) -> Result<i64, StoreError> {
        self.opt_int(i)?
            .ok_or_else(|| StoreError::Corrupt(format!("column {i} is NULL")))
    }

    pub(super) fn opt_int(&self, i: usize) -> Result<Option<i64>, StoreError> {
        match self.at(i)? {
            Val::Null => Ok(None),
            Val::Int(v) => Ok(Some(*v)),
            Val::Text(_) => Err(StoreError::Corrupt(format!("column {i} is not an integer"))),
        }
    }
}

/// Which database a statement runs on, for the few statements that differ
/// (PostgreSQL's row and advisory locks; SQLite has one writer anyway).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Dialect {
    Sqlite,
    #[cfg_attr(not(feature = "postgres"), allow(dead_code))]
    Postgres,
}

/// A connection or transaction the operations run on.
pub(super) trait Exec: Send {
    fn dialect(&self) -> Dialect;

    /// Runs `sql`; the number of rows it changed. Without parameters `sql`
    /// may be a script of several statements (a migration), and PostgreSQL
    /// then reports no count (0): count only parameterised statements.
    fn exec(
        &mut self,
        sql: &str,
        params: &[Val],
    ) -> impl Future<Output = Result<u64, StoreError>> + Send;

    /// Runs `sql`; the rows it returned.
    fn query(
        &mut self,
        sql: &str,
        params: &[Val],
    ) -> impl Future<Output = Result<Vec<Row>, StoreError>> + Send;
}
