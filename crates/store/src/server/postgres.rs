//! The PostgreSQL backend: tokio-postgres over a small pool of its own.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Mutex, PoisonError};

use tokio::sync::{Semaphore, SemaphorePermit};
use tokio_postgres::config::Host;
use tokio_postgres::types::{IsNull, ToSql, Type, to_sql_checked};
use tokio_postgres::{Client, Config, GenericClient, NoTls, Statement};

use super::exec::{Dialect, Exec, Row, Val};
use crate::error::StoreError;

/// Connections per instance: enough for the commits of concurrent requests
/// to overlap (PostgreSQL groups their WAL flushes), few enough that several
/// instances stay under the server's `max_connections` (100 by default).
const POOL_SIZE: usize = 16;

/// The name of every scratch database starts so (test support).
const SCRATCH_PREFIX: &str = "passport_test_";

pub(super) fn pg(e: tokio_postgres::Error) -> StoreError {
    StoreError::Postgres(Box::new(PgError(e)))
}

/// A tokio-postgres error whose message says what the server said.
///
/// tokio-postgres displays a server's refusal as only `db error`, and a
/// failed connection as `error connecting to server`, with the reason in
/// the error's source, which most logs and our own messages never print.
/// This one line carries it: for an error the server sent, its severity,
/// SQLSTATE code and message (`db error: FATAL 53300: sorry, too many
/// clients already`); otherwise the cause (`error connecting to server:
/// Connection refused (os error 111)`). A server error's DETAIL is left
/// out: it may quote row values (a token hash in a key conflict).
struct PgError(tokio_postgres::Error);

impl std::fmt::Display for PgError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if let Some(db) = self.0.as_db_error() {
            return write!(
                f,
                "{}: {} {}: {}",
                self.0,
                db.severity(),
                db.code().code(),
                db.message()
            );
        }
        match std::error::Error::source(&self.0) {
            Some(cause) => write!(f, "{}: {cause}", self.0),
            None => write!(f, "{}", self.0),
        }
    }
}

impl std::fmt::Debug for PgError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(self, f)
    }
}

/// Its message already holds the cause: no source, so a chain printer
/// does not say it twice.
impl std::error::Error for PgError {}

impl ToSql for Val {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut tokio_postgres::types::private::BytesMut,
    ) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        match self {
            Val::Null => Ok(IsNull::Yes),
            Val::Int(v) => v.to_sql(ty, out),
            Val::Text(s) => s.as_str().to_sql(ty, out),
        }
    }

    fn accepts(ty: &Type) -> bool {
        <i64 as ToSql>::accepts(ty) || <&str as ToSql>::accepts(ty)
    }

    to_sql_checked!();
}

fn read_row(row: &tokio_postgres::Row) -> Result<Row, StoreError> {
    let mut values = Vec::with_capacity(row.len());
    for (i, column) in row.columns().iter().enumerate() {
        let ty = column.type_();
        let v = if *ty == Type::INT8 {
            row.try_get::<_, Option<i64>>(i).map_err(pg)?.map(Val::Int)
        } else if *ty == Type::INT4 {
            row.try_get::<_, Option<i32>>(i)
                .map_err(pg)?
                .map(|v| Val::Int(v.into()))
        } else if *ty == Type::TEXT || *ty == Type::VARCHAR {
            row.try_get::<_, Option<String>>(i)
                .map_err(pg)?
                .map(Val::Text)
        } else {
            return Err(StoreError::Corrupt(format!(
                "column {} has type {ty}",
                column.name()
            )));
        };
        values.push(v.unwrap_or(Val::Null));
    }
    Ok(Row(values))
}

/// [`Exec`] on a pooled client or one of its transactions.
/// The statements prepared on one connection, by their text: each is
/// prepared (a round trip) once per connection, not at every use.
pub(super) type Statements = HashMap<String, Statement>;

/// Statements kept per connection (the operations use fewer).
const MAX_STATEMENTS: usize = 128;

/// [`Exec`] on a pooled connection or one of its transactions, with the
/// connection's prepared statements.
pub(super) struct PgExec<'a, C> {
    conn: &'a C,
    statements: &'a mut Statements,
}

impl<'a, C: GenericClient + Sync> PgExec<'a, C> {
    pub(super) fn new(conn: &'a C, statements: &'a mut Statements) -> PgExec<'a, C> {
        PgExec { conn, statements }
    }
}

/// The prepared statement of `sql` on `conn`, prepared now if new (the
/// operations' statements are a fixed set: the cache stays small).
async fn prepared<C: GenericClient + Sync>(
    conn: &C,
    statements: &mut Statements,
    sql: &str,
) -> Result<Statement, StoreError> {
    if let Some(statement) = statements.get(sql) {
        return Ok(statement.clone());
    }
    let statement = conn.prepare(sql).await.map_err(pg)?;
    if statements.len() < MAX_STATEMENTS {
        statements.insert(sql.to_owned(), statement.clone());
    }
    Ok(statement)
}

impl<C: GenericClient + Sync> Exec for PgExec<'_, C> {
    fn dialect(&self) -> Dialect {
        Dialect::Postgres
    }

    fn exec(
        &mut self,
        sql: &str,
        params: &[Val],
    ) -> impl Future<Output = Result<u64, StoreError>> + Send {
        let client = self.conn;
        let statements = &mut *self.statements;
        async move {
            if params.is_empty() {
                client.batch_execute(sql).await.map_err(pg)?;
                return Ok(0);
            }
            let statement = prepared(client, statements, sql).await?;
            let refs: Vec<&(dyn ToSql + Sync)> =
                params.iter().map(|v| v as &(dyn ToSql + Sync)).collect();
            client.execute(&statement, &refs).await.map_err(pg)
        }
    }

    fn query(
        &mut self,
        sql: &str,
        params: &[Val],
    ) -> impl Future<Output = Result<Vec<Row>, StoreError>> + Send {
        let client = self.conn;
        let statements = &mut *self.statements;
        async move {
            let statement = prepared(client, statements, sql).await?;
            let refs: Vec<&(dyn ToSql + Sync)> =
                params.iter().map(|v| v as &(dyn ToSql + Sync)).collect();
            let rows = client.query(&statement, &refs).await.map_err(pg)?;
            rows.iter().map(read_row).collect()
        }
    }
}

pub(super) struct Postgres {
    config: Config,
    idle: Mutex<Vec<(Client, Statements)>>,
    permits: Semaphore,
}

impl std::fmt::Debug for Postgres {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // the configuration may carry a password: not printed
        f.debug_struct("Postgres").finish_non_exhaustive()
    }
}

/// A pooled connection, back in the pool when dropped (unless broken).
pub(super) struct Pooled<'a> {
    client: Option<(Client, Statements)>,
    pool: &'a Postgres,
    _permit: SemaphorePermit<'a>,
}

impl Pooled<'_> {
    /// The connection and its prepared statements.
    pub(super) fn client(&mut self) -> Result<(&mut Client, &mut Statements), StoreError> {
        self.client
            .as_mut()
            .map(|(c, s)| (c, s))
            .ok_or(StoreError::Closed)
    }
}

impl Drop for Pooled<'_> {
    fn drop(&mut self) {
        if let Some(client) = self.client.take()
            && !client.0.is_closed()
        {
            self.pool
                .idle
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(client);
        }
    }
}

impl Postgres {
    /// The database `url` names, not yet connected to.
    fn at(url: &str) -> Result<Postgres, StoreError> {
        // before parsing: tokio-postgres does not parse `verify-ca` or
        // `verify-full`, and those deserve the TLS error, not a syntax one
        refuse_tls_mode(url)?;
        let mut config: Config = url.parse().map_err(|_| StoreError::database_url(url))?;
        refuse_network(&config)?;
        password_from(&mut config, std::env::var("PGPASSWORD").ok());
        Ok(Postgres {
            config,
            idle: Mutex::new(Vec::new()),
            permits: Semaphore::new(POOL_SIZE),
        })
    }

    /// Connects to `url` without changing anything in it (no migration):
    /// the database and the schema versions applied to it, oldest first
    /// (none when it has no `schema_migrations` table), read in a
    /// read-only transaction.
    pub(super) async fn open_unmigrated(url: &str) -> Result<(Postgres, Vec<i64>), StoreError> {
        let db = Postgres::at(url)?;
        let versions = {
            let mut conn = db.get().await?;
            let (client, statements) = conn.client()?;
            let tx = client
                .build_transaction()
                .read_only(true)
                .start()
                .await
                .map_err(pg)?;
            let mut x = PgExec::new(&tx, statements);
            let tables = x.query(super::sql::MIGRATIONS_TABLE_EXISTS, &[]).await?;
            let versions = match tables.first().map(|r| r.int(0)).transpose()? {
                Some(n) if n > 0 => x
                    .query(super::sql::APPLIED_VERSIONS, &[])
                    .await?
                    .iter()
                    .map(|r| r.int(0))
                    .collect::<Result<Vec<i64>, StoreError>>()?,
                _ => Vec::new(),
            };
            tx.commit().await.map_err(pg)?;
            versions
        };
        Ok((db, versions))
    }

    /// Connects to `url` and migrates the database.
    pub(super) async fn open(url: &str, now: i64) -> Result<Postgres, StoreError> {
        let db = Postgres::at(url)?;
        for m in super::ops::MIGRATIONS {
            let mut conn = db.get().await?;
            let (client, statements) = conn.client()?;
            let tx = client.transaction().await.map_err(pg)?;
            super::ops::apply(&mut PgExec::new(&tx, statements), m, now).await?;
            tx.commit().await.map_err(pg)?;
        }
        Ok(db)
    }

    /// Test support: creates a database named `passport_test_<random>` on
    /// the cluster of `url` (loopback only, like [`Postgres::open`]); its URL.
    pub(super) async fn create_scratch_database(url: &str) -> Result<String, StoreError> {
        refuse_tls_mode(url)?;
        let config: Config = url.parse().map_err(|_| StoreError::database_url(url))?;
        refuse_network(&config)?;
        let (client, connection) = config.connect(NoTls).await.map_err(pg)?;
        let handle = tokio::runtime::Handle::try_current().map_err(|_| StoreError::NoRuntime)?;
        handle.spawn(connection);
        let mut bytes = [0u8; 8];
        getrandom::fill(&mut bytes).map_err(|e| StoreError::RandomUnavailable(e.to_string()))?;
        let name: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        let name = format!("{SCRATCH_PREFIX}{name}");
        client
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await
            .map_err(pg)?;
        scratch_url(url, &name)
    }

    /// Drops a database [`Postgres::create_scratch_database`] made, from
    /// the cluster's `postgres` database; refuses any other name.
    pub(super) async fn drop_scratch_database(url: &str) -> Result<(), StoreError> {
        refuse_tls_mode(url)?;
        let config: Config = url.parse().map_err(|_| StoreError::database_url(url))?;
        refuse_network(&config)?;
        let name = config.get_dbname().unwrap_or_default().to_owned();
        let scratch = name.strip_prefix(SCRATCH_PREFIX).is_some_and(|hex| {
            // Lower case only: PostgreSQL folds an unquoted name to
            // lower case, so `…ABCDEF…` would drop `…abcdef…`.
            hex.len() == 16 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        });
        if !scratch {
            return Err(StoreError::database_url(url));
        }
        let mut admin = config;
        admin.dbname("postgres");
        let (client, connection) = admin.connect(NoTls).await.map_err(pg)?;
        let handle = tokio::runtime::Handle::try_current().map_err(|_| StoreError::NoRuntime)?;
        handle.spawn(connection);
        client
            .batch_execute(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
            .await
            .map_err(pg)
    }

    /// Runs `first` (no parameters, its rows ignored) then `second` in ONE
    /// transaction, sent together (pipelined): `BEGIN`, both statements
    /// and `COMMIT` are written before any answer is awaited, and the
    /// server runs them in that order — one round trip where four were
    /// (a statement new to the connection is prepared first). Under READ
    /// COMMITTED `second` still takes its snapshot when it starts, after
    /// `first` finished. Everything is sent at the first poll, so a caller
    /// that stops waiting leaves a transaction that commits or rolls back
    /// whole, as with [`Transaction`](tokio_postgres::Transaction). The rows
    /// of `second`; if a statement fails, the server rolls the transaction
    /// back (its `COMMIT` answers `ROLLBACK`) and the first error returns.
    pub(super) async fn pipelined(
        &self,
        first: &str,
        second: &str,
        params: &[Val],
    ) -> Result<Vec<Row>, StoreError> {
        let mut conn = self.get().await?;
        let (client, statements) = conn.client()?;
        let client = &*client;
        let first = prepared(client, statements, first).await?;
        let second = prepared(client, statements, second).await?;
        let refs: Vec<&(dyn ToSql + Sync)> =
            params.iter().map(|v| v as &(dyn ToSql + Sync)).collect();
        // biased: polled in this order, so sent in this order
        let (begin, first, second, commit) = tokio::join!(
            biased;
            client.batch_execute("BEGIN"),
            client.query(&first, &[]),
            client.query(&second, &refs),
            client.batch_execute("COMMIT"),
        );
        begin.map_err(pg)?;
        first.map_err(pg)?;
        let rows = second.map_err(pg)?;
        commit.map_err(pg)?;
        rows.iter().map(read_row).collect()
    }

    /// A connection of the pool (waiting while all are busy).
    pub(super) async fn get(&self) -> Result<Pooled<'_>, StoreError> {
        let permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| StoreError::Closed)?;
        let idle = {
            let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
            std::iter::from_fn(|| idle.pop()).find(|c| !c.0.is_closed())
        };
        let client = match idle {
            Some(c) => c,
            None => {
                let (client, connection) = self.config.connect(NoTls).await.map_err(pg)?;
                let handle =
                    tokio::runtime::Handle::try_current().map_err(|_| StoreError::NoRuntime)?;
                // ends when the client is dropped or the server goes away
                handle.spawn(connection);
                (client, Statements::new())
            }
        };
        Ok(Pooled {
            client: Some(client),
            pool: self,
            _permit: permit,
        })
    }
}

/// Refuses a URL whose `sslmode` asks for TLS (`require`, `verify-ca`,
/// `verify-full`): the connection would be plain text or fail later.
fn refuse_tls_mode(url: &str) -> Result<(), StoreError> {
    let mode = url
        .split(['?', '&', ' ', '\t', '\n'])
        .find_map(|part| part.trim().strip_prefix("sslmode="));
    match mode {
        Some(m @ ("require" | "verify-ca" | "verify-full")) => Err(
            StoreError::PostgresTlsRequired(format!("the database URL asks for sslmode={m}")),
        ),
        _ => Ok(()),
    }
}

/// The password of a URL without one, from `PGPASSWORD` (libpq's
/// variable): a password in the URL is in the command line of `passport
/// serve --database`, which other local users can read. One in the URL
/// wins.
fn password_from(config: &mut Config, env: Option<String>) {
    if config.get_password().is_none()
        && let Some(password) = env.filter(|p| !p.is_empty())
    {
        config.password(password);
    }
}

/// The cluster's connection string `url` with its database replaced by
/// `name`, everything else kept: a URL's query (`?host=/run/postgresql`)
/// without its `dbname`, which would override the path; a key=value string
/// with `dbname` appended (the last value wins). The result is parsed back
/// and must name `name`, so whatever form `url` takes, a test never gets
/// the cluster's own database in place of its scratch one.
fn scratch_url(url: &str, name: &str) -> Result<String, StoreError> {
    let bad = || StoreError::database_url(url);
    let scratch = match url.split_once("://") {
        Some((scheme, rest)) => {
            let (before_query, query) = rest.split_once('?').unwrap_or((rest, ""));
            let authority = before_query
                .split_once('/')
                .map_or(before_query, |(a, _)| a);
            let kept: Vec<&str> = query
                .split('&')
                .filter(|p| !p.is_empty() && !p.starts_with("dbname="))
                .collect();
            let query = if kept.is_empty() {
                String::new()
            } else {
                format!("?{}", kept.join("&"))
            };
            format!("{scheme}://{authority}/{name}{query}")
        }
        None => format!("{} dbname={name}", url.trim_end()),
    };
    let config: Config = scratch.parse().map_err(|_| bad())?;
    if config.get_dbname() != Some(name) {
        return Err(bad());
    }
    Ok(scratch)
}

/// Refuses a configuration that would reach a host other than loopback
/// (`127.0.0.0/8`, `::1`, `localhost`) or a Unix socket directory: without
/// TLS, the signing keys would cross the network in clear.
fn refuse_network(config: &Config) -> Result<(), StoreError> {
    for host in config.get_hosts() {
        if let Host::Tcp(name) = host
            && !is_loopback_name(name)
        {
            return Err(StoreError::PostgresTlsRequired(format!(
                "host {:?} is neither loopback nor a Unix socket",
                crate::error::shorten(name)
            )));
        }
    }
    if let Some(addr) = config.get_hostaddrs().iter().find(|a| !a.is_loopback()) {
        return Err(StoreError::PostgresTlsRequired(format!(
            "hostaddr {addr} is not loopback"
        )));
    }
    Ok(())
}

fn is_loopback_name(name: &str) -> bool {
    let bare = name
        .strip_prefix('[')
        .and_then(|n| n.strip_suffix(']'))
        .unwrap_or(name);
    bare.eq_ignore_ascii_case("localhost")
        || bare
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod scratch_url_tests {
    use super::*;

    const NAME: &str = "passport_test_0123456789abcdef";

    #[test]
    fn the_database_is_replaced_and_everything_else_kept() {
        for (cluster, scratch) in [
            (
                "postgres://u@127.0.0.1:5432/postgres",
                format!("postgres://u@127.0.0.1:5432/{NAME}"),
            ),
            // no database at all
            (
                "postgres://u@127.0.0.1",
                format!("postgres://u@127.0.0.1/{NAME}"),
            ),
            // a socket directory in the query: its slashes are not the path
            (
                "postgresql://u@localhost/postgres?host=/tmp/pg&connect_timeout=5",
                format!("postgresql://u@localhost/{NAME}?host=/tmp/pg&connect_timeout=5"),
            ),
            // a dbname in the query would override the path: dropped
            (
                "postgres://u@127.0.0.1/postgres?dbname=postgres&application_name=t",
                format!("postgres://u@127.0.0.1/{NAME}?application_name=t"),
            ),
            (
                "host=127.0.0.1 user=u dbname=postgres ",
                format!("host=127.0.0.1 user=u dbname=postgres dbname={NAME}"),
            ),
        ] {
            let url = scratch_url(cluster, NAME).unwrap();
            assert_eq!(url, scratch, "{cluster}");
            let config: Config = url.parse().unwrap();
            assert_eq!(config.get_dbname(), Some(NAME), "{cluster}");
        }
    }

    #[test]
    fn a_string_that_does_not_name_the_scratch_database_is_refused() {
        // a quoted value swallows the appended dbname: never the cluster's
        // own database in its place
        for cluster in ["host=127.0.0.1 options='-c a=b", "postgres://u@[::1"] {
            let err = scratch_url(cluster, NAME).unwrap_err();
            assert_eq!(err.code(), "invalid_database_url", "{cluster}");
        }
    }
}

#[cfg(test)]
mod password_tests {
    use super::*;

    #[test]
    fn the_password_comes_from_pgpassword_unless_the_url_has_one() {
        let mut bare: Config = "postgres://passport@127.0.0.1/db".parse().unwrap();
        password_from(&mut bare, Some("s3cret".into()));
        assert_eq!(bare.get_password(), Some(&b"s3cret"[..]));
        let mut given: Config = "postgres://passport:inurl@127.0.0.1/db".parse().unwrap();
        password_from(&mut given, Some("s3cret".into()));
        assert_eq!(given.get_password(), Some(&b"inurl"[..]));
        for env in [None, Some(String::new())] {
            let mut none: Config = "postgres://passport@127.0.0.1/db".parse().unwrap();
            password_from(&mut none, env);
            assert_eq!(none.get_password(), None);
        }
    }
}
