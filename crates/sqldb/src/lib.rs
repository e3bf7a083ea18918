//! The SQL seam of the factory's registry and the seat server's records: one small interface
//! ([`Sql`]) over the embedded SQLite database and a PostgreSQL server, so that every rule
//! (issuance, revocation, the audit chain, the seat decision, a floating seat) is written once
//! and runs on both.
//!
//! Statements are written once, with `?1`-style parameters and the SQL both engines share
//! (`ON CONFLICT ... DO NOTHING`, partial indexes, `LIMIT`); PostgreSQL gets `$1`. Every
//! integer is 64-bit, text is UTF-8 and bytes are bytes on both sides.
//!
//! Writers serialize the same way on both: SQLite takes its write lock at `BEGIN IMMEDIATE`;
//! PostgreSQL takes one transaction-scoped advisory lock first thing in every write
//! transaction, so that two service nodes (two processes, two hosts) decide seats one after
//! the other exactly as two processes on one SQLite file do.

use anyhow::{anyhow, bail, Context, Result};
use std::cell::RefCell;
use std::collections::HashMap;

/// A statement parameter.
#[derive(Debug, Clone, Copy)]
pub enum Arg<'a> {
    /// A 64-bit integer.
    Int(i64),
    /// UTF-8 text.
    Text(&'a str),
    /// Bytes.
    Blob(&'a [u8]),
    /// NULL.
    Null,
}

impl From<i64> for Arg<'_> {
    fn from(v: i64) -> Self {
        Arg::Int(v)
    }
}

impl From<u64> for Arg<'_> {
    fn from(v: u64) -> Self {
        Arg::Int(i64::try_from(v).unwrap_or(i64::MAX))
    }
}

impl<'a> From<&'a str> for Arg<'a> {
    fn from(v: &'a str) -> Self {
        Arg::Text(v)
    }
}

impl<'a> From<&'a String> for Arg<'a> {
    fn from(v: &'a String) -> Self {
        Arg::Text(v)
    }
}

impl<'a> From<&'a [u8]> for Arg<'a> {
    fn from(v: &'a [u8]) -> Self {
        Arg::Blob(v)
    }
}

impl<'a> From<&'a Vec<u8>> for Arg<'a> {
    fn from(v: &'a Vec<u8>) -> Self {
        Arg::Blob(v)
    }
}

impl<'a, T: Into<Arg<'a>>> From<Option<T>> for Arg<'a> {
    fn from(v: Option<T>) -> Self {
        v.map_or(Arg::Null, Into::into)
    }
}

impl<'a> From<&'a Option<String>> for Arg<'a> {
    fn from(v: &'a Option<String>) -> Self {
        v.as_deref().map_or(Arg::Null, Arg::Text)
    }
}

/// `args![a, b, c]`: a parameter list.
#[macro_export]
#[doc(hidden)]
macro_rules! args {
    ($($e:expr),* $(,)?) => { &[$($crate::Arg::from($e)),*][..] };
}

/// One result row, read by column index.
pub trait SqlRow {
    /// An integer column (NULL is an error).
    fn int(&self, i: usize) -> Result<i64>;
    /// An integer column that may be NULL.
    fn opt_int(&self, i: usize) -> Result<Option<i64>>;
    /// A text column that may be NULL.
    fn opt_text(&self, i: usize) -> Result<Option<String>>;
    /// A bytes column that may be NULL.
    fn opt_blob(&self, i: usize) -> Result<Option<Vec<u8>>>;

    /// A text column (NULL is an error).
    fn text(&self, i: usize) -> Result<String> {
        self.opt_text(i)?
            .ok_or_else(|| anyhow!("column {i} is NULL, expected text"))
    }
}

/// Which engine answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// The embedded SQLite file.
    Sqlite,
    /// A PostgreSQL server.
    Postgres,
}

impl Dialect {
    /// `sqlite` or `postgres`.
    pub fn as_str(self) -> &'static str {
        match self {
            Dialect::Sqlite => "sqlite",
            Dialect::Postgres => "postgres",
        }
    }
}

/// A connection (inside a transaction or not) that runs statements.
pub trait Sql {
    /// Runs a statement; the number of rows it changed.
    fn exec(&self, sql: &str, args: &[Arg<'_>]) -> Result<u64>;
    /// Runs a query and calls `f` for each row, in order.
    fn each(
        &self,
        sql: &str,
        args: &[Arg<'_>],
        f: &mut dyn FnMut(&dyn SqlRow) -> Result<()>,
    ) -> Result<()>;
    /// The engine.
    fn dialect(&self) -> Dialect;
    /// Runs statements without parameters in one round trip (transaction control).
    fn batch(&self, sql: &str) -> Result<()>;
}

/// `sql` with every placeholder `?N` moved to `?(N + by)` (outside quotes).
fn renumber(sql: &str, by: usize) -> String {
    let mut out = String::with_capacity(sql.len() + 8);
    let (mut quoted, mut chars) = (false, sql.chars().peekable());
    while let Some(c) = chars.next() {
        out.push(c);
        match c {
            '\'' => quoted = !quoted,
            '?' if !quoted => {
                let mut n = String::new();
                while let Some(d) = chars.peek().filter(|d| d.is_ascii_digit()) {
                    n.push(*d);
                    chars.next();
                }
                let n: usize = n.parse().unwrap_or(0);
                out.push_str(&(n + by).to_string());
            }
            _ => {}
        }
    }
    out
}

/// Rolls an unfinished write transaction back (an error or a panic inside it).
struct Rollback<'a> {
    sql: &'a dyn Sql,
    armed: bool,
}

impl Drop for Rollback<'_> {
    fn drop(&mut self) {
        if self.armed {
            let _ = self.sql.exec("ROLLBACK", &[]);
        }
    }
}

/// Runs `f` in one write transaction on `sql`: committed when `f` returns `Ok`, rolled back
/// when it fails (or panics). Writers wait for each other: SQLite's `BEGIN IMMEDIATE`, or on
/// PostgreSQL the transaction-scoped advisory lock `lock`, taken first thing (every process
/// writing the same records takes the same lock).
pub fn write<T>(sql: &dyn Sql, lock: i64, f: impl FnOnce(&dyn Sql) -> Result<T>) -> Result<T> {
    match sql.dialect() {
        Dialect::Sqlite => sql.exec("BEGIN IMMEDIATE", &[])?,
        Dialect::Postgres => sql.exec("BEGIN", &[])?,
    };
    let mut guard = Rollback { sql, armed: true };
    if sql.dialect() == Dialect::Postgres {
        sql.exec("SELECT pg_advisory_xact_lock(?1)", args![lock])?;
    }
    let out = f(sql)?;
    sql.exec("COMMIT", &[])?;
    guard.armed = false;
    Ok(out)
}

impl dyn Sql + '_ {
    /// Runs several writes of one operation: on SQLite one after the other, on PostgreSQL as
    /// one statement (each write a data-modifying `WITH` member), one round trip to the server.
    /// The writes must touch distinct rows (one statement sees one snapshot).
    pub fn exec_all(&self, writes: &[(&str, Vec<Arg<'_>>)]) -> Result<()> {
        if self.dialect() == Dialect::Sqlite || writes.len() < 2 {
            for (sql, args) in writes {
                self.exec(sql, args)?;
            }
            return Ok(());
        }
        let mut text = String::from("WITH ");
        let mut all: Vec<Arg<'_>> = Vec::new();
        for (i, (sql, args)) in writes.iter().enumerate() {
            if i > 0 {
                text.push_str(", ");
            }
            text.push_str(&format!(
                "w{i} AS ({} RETURNING 1)",
                renumber(sql, all.len())
            ));
            all.extend_from_slice(args);
        }
        text.push_str(" SELECT 1");
        self.exec(&text, &all)?;
        Ok(())
    }

    /// The first row, read by `f`, if any.
    pub fn opt<T>(
        &self,
        sql: &str,
        args: &[Arg<'_>],
        f: impl Fn(&dyn SqlRow) -> Result<T>,
    ) -> Result<Option<T>> {
        let mut out = None;
        self.each(sql, args, &mut |r| {
            if out.is_none() {
                out = Some(f(r)?);
            }
            Ok(())
        })?;
        Ok(out)
    }

    /// The first row, read by `f`; no row is an error.
    pub fn one<T>(
        &self,
        sql: &str,
        args: &[Arg<'_>],
        f: impl Fn(&dyn SqlRow) -> Result<T>,
    ) -> Result<T> {
        self.opt(sql, args, f)?
            .ok_or_else(|| anyhow!("the query returned no row: {sql}"))
    }

    /// Every row, read by `f`.
    pub fn all<T>(
        &self,
        sql: &str,
        args: &[Arg<'_>],
        f: impl Fn(&dyn SqlRow) -> Result<T>,
    ) -> Result<Vec<T>> {
        let mut out = Vec::new();
        self.each(sql, args, &mut |r| {
            out.push(f(r)?);
            Ok(())
        })?;
        Ok(out)
    }

    /// The integer in the first column of the first row.
    pub fn int(&self, sql: &str, args: &[Arg<'_>]) -> Result<i64> {
        self.one(sql, args, |r| r.int(0))
    }
}

// ---- SQLite -------------------------------------------------------------------------------

impl rusqlite::ToSql for Arg<'_> {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        use rusqlite::types::{ToSqlOutput, ValueRef};
        Ok(ToSqlOutput::Borrowed(match *self {
            Arg::Int(v) => ValueRef::Integer(v),
            Arg::Text(v) => ValueRef::Text(v.as_bytes()),
            Arg::Blob(v) => ValueRef::Blob(v),
            Arg::Null => ValueRef::Null,
        }))
    }
}

impl SqlRow for rusqlite::Row<'_> {
    fn int(&self, i: usize) -> Result<i64> {
        Ok(self.get(i)?)
    }
    fn opt_int(&self, i: usize) -> Result<Option<i64>> {
        Ok(self.get(i)?)
    }
    fn opt_text(&self, i: usize) -> Result<Option<String>> {
        Ok(self.get(i)?)
    }
    fn opt_blob(&self, i: usize) -> Result<Option<Vec<u8>>> {
        Ok(self.get(i)?)
    }
}

impl Sql for rusqlite::Connection {
    fn exec(&self, sql: &str, args: &[Arg<'_>]) -> Result<u64> {
        let n = self
            .prepare_cached(sql)?
            .execute(rusqlite::params_from_iter(args.iter()))?;
        Ok(n as u64)
    }

    fn each(
        &self,
        sql: &str,
        args: &[Arg<'_>],
        f: &mut dyn FnMut(&dyn SqlRow) -> Result<()>,
    ) -> Result<()> {
        let mut st = self.prepare_cached(sql)?;
        let mut rows = st.query(rusqlite::params_from_iter(args.iter()))?;
        while let Some(r) = rows.next()? {
            f(r)?;
        }
        Ok(())
    }

    fn dialect(&self) -> Dialect {
        Dialect::Sqlite
    }

    fn batch(&self, sql: &str) -> Result<()> {
        self.execute_batch(sql)?;
        Ok(())
    }
}

// ---- PostgreSQL ---------------------------------------------------------------------------

/// A PostgreSQL connection with its prepared statements.
pub struct Pg {
    client: RefCell<postgres::Client>,
    statements: RefCell<HashMap<String, postgres::Statement>>,
}

/// The advisory lock every write transaction of the factory's registry takes first
/// ("Airlock" in ASCII).
pub const PG_WRITE_LOCK: i64 = 0x0041_6972_6c6f_636b;

/// Whether `location` names a PostgreSQL server rather than a file.
pub fn is_postgres_url(location: &str) -> bool {
    location.starts_with("postgres://") || location.starts_with("postgresql://")
}

/// `?1` → `$1`, outside quoted text.
fn to_dollar(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut quoted = false;
    for c in sql.chars() {
        match c {
            '\'' => {
                quoted = !quoted;
                out.push(c);
            }
            '?' if !quoted => out.push('$'),
            _ => out.push(c),
        }
    }
    out
}

struct PgArg<'a>(Arg<'a>);

impl std::fmt::Debug for PgArg<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl postgres::types::ToSql for PgArg<'_> {
    fn to_sql(
        &self,
        ty: &postgres::types::Type,
        out: &mut postgres::types::private::BytesMut,
    ) -> std::result::Result<postgres::types::IsNull, Box<dyn std::error::Error + Sync + Send>>
    {
        use postgres::types::{IsNull, Type};
        match self.0 {
            Arg::Null => Ok(IsNull::Yes),
            Arg::Int(v) if *ty == Type::INT8 => v.to_sql(ty, out),
            Arg::Int(v) if *ty == Type::INT4 => i32::try_from(v)?.to_sql(ty, out),
            Arg::Int(v) if *ty == Type::INT2 => i16::try_from(v)?.to_sql(ty, out),
            Arg::Text(v) => v.to_sql(ty, out),
            Arg::Blob(v) => v.to_sql(ty, out),
            Arg::Int(_) => Err(format!("an integer for a parameter of type {ty}").into()),
        }
    }

    fn accepts(_: &postgres::types::Type) -> bool {
        true
    }

    postgres::types::to_sql_checked!();
}

struct PgRow(postgres::Row);

impl SqlRow for PgRow {
    fn int(&self, i: usize) -> Result<i64> {
        self.opt_int(i)?
            .ok_or_else(|| anyhow!("column {i} is NULL, expected an integer"))
    }
    fn opt_int(&self, i: usize) -> Result<Option<i64>> {
        use postgres::types::Type;
        let ty = self
            .0
            .columns()
            .get(i)
            .with_context(|| format!("no column {i}"))?
            .type_()
            .clone();
        Ok(if ty == Type::INT8 {
            self.0.try_get::<_, Option<i64>>(i)?
        } else if ty == Type::INT4 {
            self.0.try_get::<_, Option<i32>>(i)?.map(i64::from)
        } else if ty == Type::INT2 {
            self.0.try_get::<_, Option<i16>>(i)?.map(i64::from)
        } else {
            bail!("column {i} is {ty}, expected an integer")
        })
    }
    fn opt_text(&self, i: usize) -> Result<Option<String>> {
        Ok(self.0.try_get(i)?)
    }
    fn opt_blob(&self, i: usize) -> Result<Option<Vec<u8>>> {
        let bytea = self
            .0
            .columns()
            .get(i)
            .is_some_and(|c| *c.type_() == postgres::types::Type::BYTEA);
        if bytea {
            return Ok(self.0.try_get(i)?);
        }
        // A bare `NULL` in a select list is text to PostgreSQL.
        match self.0.try_get::<_, Option<String>>(i)? {
            None => Ok(None),
            Some(_) => bail!("column {i} is not bytes"),
        }
    }
}

impl Pg {
    /// Connects to `url` (`postgres://user@host/db?...`; no TLS: a local socket or a trusted
    /// network, see OPERATIONS).
    pub fn connect(url: &str) -> Result<Pg> {
        let client = postgres::Client::connect(url, postgres::NoTls)
            .with_context(|| format!("PostgreSQL {}", redact(url)))?;
        Ok(Pg {
            client: RefCell::new(client),
            statements: RefCell::new(HashMap::new()),
        })
    }

    fn client(&self) -> Result<std::cell::RefMut<'_, postgres::Client>> {
        self.client
            .try_borrow_mut()
            .map_err(|_| anyhow!("PostgreSQL connection used from inside one of its own queries"))
    }

    /// Runs statements without parameters (schema, transaction control).
    pub fn batch(&self, sql: &str) -> Result<()> {
        self.client()?.batch_execute(sql)?;
        Ok(())
    }

    /// The prepared statement for `sql`. PostgreSQL infers each parameter's type from where
    /// it is used; one that a statement does not use (a view that ignores the time) is
    /// declared from the argument given.
    fn statement(&self, sql: &str, args: &[Arg<'_>]) -> Result<postgres::Statement> {
        use postgres::types::Type;
        if let Some(s) = self.statements.borrow().get(sql) {
            return Ok(s.clone());
        }
        let text = to_dollar(sql);
        let first = self.client()?.prepare(&text);
        let st = match first {
            Ok(st) => st,
            Err(e) if e.code() == Some(&postgres::error::SqlState::INDETERMINATE_DATATYPE) => {
                let types: Vec<Type> = args
                    .iter()
                    .map(|a| match a {
                        Arg::Int(_) => Type::INT8,
                        Arg::Blob(_) => Type::BYTEA,
                        Arg::Text(_) | Arg::Null => Type::TEXT,
                    })
                    .collect();
                self.client()?.prepare_typed(&text, &types)?
            }
            Err(e) => return Err(e).with_context(|| format!("preparing {sql}")),
        };
        self.statements
            .borrow_mut()
            .insert(sql.to_string(), st.clone());
        Ok(st)
    }
}

/// The URL without its password (in the authority or a `password=` parameter), for messages.
pub fn redact(url: &str) -> String {
    let url = match url.find("password=") {
        Some(i) => {
            let end = url[i..].find('&').map_or(url.len(), |e| i + e);
            format!("{}password=***{}", &url[..i], &url[end..])
        }
        None => url.to_string(),
    };
    let url = url.as_str();
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            match creds.find(':') {
                Some(c) => format!("{}{}:***{}", &url[..s + 3], &creds[..c], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

impl Sql for Pg {
    fn exec(&self, sql: &str, args: &[Arg<'_>]) -> Result<u64> {
        let st = self.statement(sql, args)?;
        let params: Vec<PgArg<'_>> = args.iter().map(|a| PgArg(*a)).collect();
        let refs: Vec<&(dyn postgres::types::ToSql + Sync)> = params
            .iter()
            .map(|p| p as &(dyn postgres::types::ToSql + Sync))
            .collect();
        Ok(self.client()?.execute(&st, &refs)?)
    }

    fn each(
        &self,
        sql: &str,
        args: &[Arg<'_>],
        f: &mut dyn FnMut(&dyn SqlRow) -> Result<()>,
    ) -> Result<()> {
        let st = self.statement(sql, args)?;
        let params: Vec<PgArg<'_>> = args.iter().map(|a| PgArg(*a)).collect();
        let refs: Vec<&(dyn postgres::types::ToSql + Sync)> = params
            .iter()
            .map(|p| p as &(dyn postgres::types::ToSql + Sync))
            .collect();
        // Rows are read whole before `f` runs, so that `f` may query the same connection.
        let rows = self.client()?.query(&st, &refs)?;
        for r in rows {
            f(&PgRow(r))?;
        }
        Ok(())
    }

    fn dialect(&self) -> Dialect {
        Dialect::Postgres
    }

    fn batch(&self, sql: &str) -> Result<()> {
        Pg::batch(self, sql)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_renumbered_outside_quotes() {
        assert_eq!(
            renumber("UPDATE t SET a = ?1, b = '?2' WHERE c = ?12", 3),
            "UPDATE t SET a = ?4, b = '?2' WHERE c = ?15"
        );
    }

    #[test]
    fn placeholders_become_dollars_outside_quotes() {
        assert_eq!(
            to_dollar("SELECT '?x' FROM t WHERE a = ?1 AND b = ?12"),
            "SELECT '?x' FROM t WHERE a = $1 AND b = $12"
        );
    }

    #[test]
    fn passwords_are_not_shown() {
        assert_eq!(
            redact("postgres://airlock:s3cret@db.example:5432/airlock"),
            "postgres://airlock:***@db.example:5432/airlock"
        );
        assert_eq!(
            redact("postgres://airlock@/airlock?host=/run/pg"),
            "postgres://airlock@/airlock?host=/run/pg"
        );
        assert_eq!(
            redact("postgres://db/airlock?user=a&password=s3cret&sslmode=disable"),
            "postgres://db/airlock?user=a&password=***&sslmode=disable"
        );
    }

    #[test]
    fn sqlite_reads_and_writes_through_the_seam() {
        let c = rusqlite::Connection::open_in_memory().unwrap();
        let db: &dyn Sql = &c;
        db.exec("CREATE TABLE t (a INTEGER, b TEXT, c BLOB)", &[])
            .unwrap();
        let none: Option<String> = None;
        assert_eq!(
            db.exec(
                "INSERT INTO t VALUES (?1, ?2, ?3), (?1, ?4, NULL)",
                args![7i64, "x", &b"y"[..], &none]
            )
            .unwrap(),
            2
        );
        let rows = db
            .all("SELECT a, b, c FROM t ORDER BY b", &[], |r| {
                Ok((r.int(0)?, r.opt_text(1)?, r.opt_blob(2)?))
            })
            .unwrap();
        assert_eq!(rows[0], (7, None, None));
        assert_eq!(rows[1], (7, Some("x".into()), Some(b"y".to_vec())));
        assert_eq!(db.int("SELECT count(*) FROM t", &[]).unwrap(), 2);
        assert!(db
            .opt("SELECT a FROM t WHERE b = ?1", args!["z"], |r| r.int(0))
            .unwrap()
            .is_none());
    }
}
