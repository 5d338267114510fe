//! The SQLite backend: one writer thread that commits concurrent changes
//! together (group commit), and a few reader connections used from tokio's
//! blocking pool.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, Waker};

use rusqlite::types::ValueRef;
use rusqlite::{Connection, OpenFlags};

use super::exec::{Dialect, Exec, Row, Val};
use crate::dir::{create_new_private, ensure_private_dir, private_file, refuse_symlink};
use crate::error::StoreError;
use crate::store::{DEFAULT_BUSY_TIMEOUT, enter_wal};

/// The most changes one commit carries: enough to amortise the fsync,
/// few enough that no caller waits behind a long batch.
const MAX_BATCH: usize = 512;

/// Prepared statements kept per connection (the operations use fewer).
const STATEMENT_CACHE: usize = 64;

/// Idle reader connections kept open.
const MAX_IDLE_READERS: usize = 8;

/// Reads that may run off the async workers at once, each on its own
/// connection (a few file handles): more wait for a turn.
const MAX_READERS: usize = 32;

type Done = Box<dyn FnOnce(Option<&Arc<rusqlite::Error>>) + Send>;
type Job = Box<dyn FnOnce(Result<&mut Connection, &Arc<rusqlite::Error>>) -> Done + Send>;

/// The SQLite server state.
#[derive(Debug)]
pub(super) struct Sqlite {
    jobs: mpsc::Sender<Job>,
    readers: Arc<Readers>,
    /// Transactions the writer committed (for the group-commit test).
    #[cfg_attr(not(test), allow(dead_code))]
    commits: Arc<AtomicU64>,
}

#[derive(Debug)]
struct Readers {
    path: PathBuf,
    /// How connections to `path` are opened.
    access: Access,
    idle: Mutex<Vec<Connection>>,
    /// Turns for reads off the async workers ([`MAX_READERS`]).
    turns: Arc<tokio::sync::Semaphore>,
}

impl Readers {
    /// Runs `query` on an idle reader connection, or a new one, on the
    /// calling thread; keeps the connection for the next read while fewer
    /// than [`MAX_IDLE_READERS`] are idle.
    fn with_connection<T>(
        &self,
        query: impl FnOnce(&mut Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let idle = self
            .idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop();
        let mut conn = match idle {
            Some(c) => c,
            None => open_connection(&self.path, self.access)?,
        };
        let out = query(&mut conn);
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        if idle.len() < MAX_IDLE_READERS {
            idle.push(conn);
        }
        out
    }
}

/// Runs a future that never waits (every [`SqliteExec`] call is ready at
/// once) to its end on the current thread.
pub(super) fn run_now<T>(
    future: impl Future<Output = Result<T, StoreError>>,
) -> Result<T, StoreError> {
    let mut future = pin!(future);
    match future
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()))
    {
        Poll::Ready(out) => out,
        Poll::Pending => Err(StoreError::Corrupt(
            "a SQLite operation waited on something".into(),
        )),
    }
}

/// [`Exec`] on a SQLite connection, inside the writer's transaction or a
/// reader's.
pub(super) struct SqliteExec<'a>(pub(super) &'a mut Connection);

fn bind(params: &[Val]) -> Vec<rusqlite::types::Value> {
    params
        .iter()
        .map(|v| match v {
            Val::Null => rusqlite::types::Value::Null,
            Val::Int(i) => rusqlite::types::Value::Integer(*i),
            Val::Text(s) => rusqlite::types::Value::Text(s.clone()),
        })
        .collect()
}

fn exec_now(conn: &Connection, sql: &str, params: &[Val]) -> Result<u64, StoreError> {
    if params.is_empty() {
        // migrations are scripts of several statements
        let before = conn.total_changes();
        conn.execute_batch(sql)?;
        return Ok(conn.total_changes().saturating_sub(before));
    }
    let mut statement = conn.prepare_cached(sql)?;
    let changed = statement.execute(rusqlite::params_from_iter(bind(params)))?;
    Ok(changed as u64)
}

fn query_now(conn: &Connection, sql: &str, params: &[Val]) -> Result<Vec<Row>, StoreError> {
    let mut statement = conn.prepare_cached(sql)?;
    let width = statement.column_count();
    let mut rows = statement.query(rusqlite::params_from_iter(bind(params)))?;
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        let mut values = Vec::with_capacity(width);
        for i in 0..width {
            values.push(match row.get_ref(i)? {
                ValueRef::Null => Val::Null,
                ValueRef::Integer(v) => Val::Int(v),
                ValueRef::Text(t) => Val::Text(
                    String::from_utf8(t.to_vec())
                        .map_err(|_| StoreError::Corrupt(format!("column {i} is not UTF-8")))?,
                ),
                ValueRef::Real(_) | ValueRef::Blob(_) => {
                    return Err(StoreError::Corrupt(format!(
                        "column {i} has a foreign type"
                    )));
                }
            });
        }
        out.push(Row(values));
    }
    Ok(out)
}

impl Exec for SqliteExec<'_> {
    fn dialect(&self) -> Dialect {
        Dialect::Sqlite
    }

    fn exec(
        &mut self,
        sql: &str,
        params: &[Val],
    ) -> impl Future<Output = Result<u64, StoreError>> + Send {
        std::future::ready(exec_now(self.0, sql, params))
    }

    fn query(
        &mut self,
        sql: &str,
        params: &[Val],
    ) -> impl Future<Output = Result<Vec<Row>, StoreError>> + Send {
        std::future::ready(query_now(self.0, sql, params))
    }
}

/// How a database file is opened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Access {
    /// The server's: read-write, in WAL mode, every commit synced.
    Serve,
    /// A command's that only reads (`open_existing`): read-only, and the
    /// file's journal mode left as it is (review S15b-4: setting WAL
    /// rewrote an auditor's rollback-journal copy).
    ReadOnly,
    /// The same for a file without a `-wal` beside it (a stopped server's,
    /// or a copy of the file alone): opened `immutable`, so SQLite creates
    /// no `-wal`/`-shm` beside it (review S15c-4) and reads it in a
    /// directory it may not write (S15c-5). Nothing may write the file
    /// meanwhile: immutable connections take no lock and never see a
    /// change, so a server started on the file during the read makes what
    /// is read a mix of before and after (review S15d-7: verify a stopped
    /// server's file, or a copy).
    Immutable,
}

fn open_connection(path: &Path, access: Access) -> Result<Connection, StoreError> {
    refuse_symlink(path)?;
    let flags = OpenFlags::SQLITE_OPEN_NO_MUTEX | OpenFlags::SQLITE_OPEN_NOFOLLOW;
    let conn = match access {
        Access::Serve => {
            Connection::open_with_flags(path, flags | OpenFlags::SQLITE_OPEN_READ_WRITE)?
        }
        Access::ReadOnly => {
            Connection::open_with_flags(path, flags | OpenFlags::SQLITE_OPEN_READ_ONLY)?
        }
        Access::Immutable => Connection::open_with_flags(
            immutable_uri(path)?,
            flags | OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_URI,
        )?,
    };
    conn.busy_timeout(DEFAULT_BUSY_TIMEOUT)?;
    // every statement is prepared once per connection
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    if access == Access::Serve {
        // FULL: a commit is on disk when it returns (the WAL is synced at
        // every commit).
        enter_wal(&conn, DEFAULT_BUSY_TIMEOUT)?;
        conn.pragma_update(None, "synchronous", "FULL")?;
    }
    Ok(conn)
}

/// `path` as an SQLite URI opening it immutable: `file://`, an empty
/// authority, and the path made absolute (symbolic links left as they
/// are: `NOFOLLOW` refuses them), every byte but an unreserved one or `/`
/// percent-encoded (so `?`, `#` and `%` in a name are the name's), then
/// `?immutable=1`. With `file:` and the path as given, a path beginning
/// `//` was read as an authority (review S15d-8: `//localhost/p` opened
/// `/p`).
fn immutable_uri(path: &Path) -> Result<String, StoreError> {
    use std::fmt::Write as _;
    use std::os::unix::ffi::OsStrExt as _;
    let absolute = std::path::absolute(path).map_err(|e| StoreError::io(path, e))?;
    let mut uri = String::from("file://");
    for &b in absolute.as_os_str().as_bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
            uri.push(char::from(b));
        } else {
            let _ = write!(uri, "%{b:02X}");
        }
    }
    uri.push_str("?immutable=1");
    Ok(uri)
}

/// The connection to the existing file at `path`, after checking that it
/// (and its WAL, which SQLite creates with the file's mode) is this user's
/// alone: it holds the signing keys' private halves. Never creates the file.
fn open_private(path: &Path, access: Access) -> Result<Connection, StoreError> {
    if private_file(path)?.is_none() {
        return Err(StoreError::io(
            path,
            std::io::Error::from(std::io::ErrorKind::NotFound),
        ));
    }
    for suffix in ["-wal", "-shm"] {
        let mut side = path.as_os_str().to_owned();
        side.push(suffix);
        private_file(Path::new(&side))?;
    }
    open_connection(path, access)
}

impl Sqlite {
    /// Opens (creating, mode `0600`, in a private directory) the database
    /// at `path`, migrates it, and starts its writer.
    pub(super) fn open(path: &Path, now: i64) -> Result<Sqlite, StoreError> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            ensure_private_dir(parent)?;
        }
        refuse_symlink(path)?;
        match create_new_private(path) {
            Ok(_) | Err(StoreError::InsecurePath { .. }) => {}
            Err(e) => return Err(e),
        }
        let mut conn = open_private(path, Access::Serve)?;
        // one transaction per migration (the write lock taken first, so
        // two processes opening at once apply each migration once)
        for m in super::ops::MIGRATIONS {
            conn.execute_batch("BEGIN IMMEDIATE")?;
            match run_now(super::ops::apply(&mut SqliteExec(&mut conn), m, now)) {
                Ok(()) => conn.execute_batch("COMMIT")?,
                Err(e) => {
                    let _ = conn.execute_batch("ROLLBACK");
                    return Err(e);
                }
            }
        }
        Sqlite::start(conn, path, Access::Serve)
    }

    /// Opens the existing database at `path` without changing it (no
    /// directory or file created, no migration, read-only connections that
    /// leave its journal mode as it is; [`Access::Immutable`] when no
    /// `-wal` is beside it): the database and the
    /// schema versions applied to it, oldest first (none when it has no
    /// `schema_migrations` table). The file must be this user's alone, as
    /// for [`Sqlite::open`].
    pub(super) fn open_unmigrated(path: &Path) -> Result<(Sqlite, Vec<i64>), StoreError> {
        // immutable only with no journal of either kind beside it: a
        // `-journal` may be a hot one, which immutable mode would not roll
        // back (review S15d-6: half-written pages read as committed);
        // read-only then fails loudly instead
        let mut access = Access::Immutable;
        for suffix in ["-wal", "-journal"] {
            let mut side = path.as_os_str().to_owned();
            side.push(suffix);
            match std::fs::symlink_metadata(Path::new(&side)) {
                Ok(_) => access = Access::ReadOnly,
                // a name too long for the suffix: no such file can exist
                // (review S15e-6; SQLite reads it as absent too)
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::NotFound | std::io::ErrorKind::InvalidFilename
                    ) => {}
                Err(e) => return Err(StoreError::io(Path::new(&side), e)),
            }
        }
        let conn = open_private(path, access)?;
        let versions = {
            let tables: i64 = conn.query_row(
                "SELECT count(*) FROM sqlite_schema \
                 WHERE type = 'table' AND name = 'schema_migrations'",
                [],
                |r| r.get(0),
            )?;
            if tables > 0 {
                let mut query = conn.prepare(super::sql::APPLIED_VERSIONS)?;
                let rows = query.query_map([], |r| r.get::<_, i64>(0))?;
                rows.collect::<Result<Vec<i64>, _>>()?
            } else {
                Vec::new()
            }
        };
        Ok((Sqlite::start(conn, path, access)?, versions))
    }

    /// Starts the writer thread over `conn`, the connection to `path`.
    fn start(conn: Connection, path: &Path, access: Access) -> Result<Sqlite, StoreError> {
        let (jobs, queue) = mpsc::channel::<Job>();
        let commits = Arc::new(AtomicU64::new(0));
        let counted = Arc::clone(&commits);
        std::thread::Builder::new()
            .name("passport-store-writer".into())
            .spawn(move || writer(conn, queue, &counted))
            .map_err(|e| StoreError::io(path, e))?;
        Ok(Sqlite {
            jobs,
            commits,
            readers: Arc::new(Readers {
                path: path.to_owned(),
                access,
                idle: Mutex::new(Vec::new()),
                turns: Arc::new(tokio::sync::Semaphore::new(MAX_READERS)),
            }),
        })
    }

    /// Runs `change` in the writer's next batch; its result once the batch
    /// is committed (durable), or the commit's error.
    pub(super) async fn write<T: Send + 'static>(
        &self,
        change: impl FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let (tell, told) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move |conn| {
            let out = match conn {
                Ok(conn) => in_savepoint(conn, change),
                Err(e) => Err(StoreError::Commit(Arc::clone(e))),
            };
            Box::new(move |commit: Option<&Arc<rusqlite::Error>>| {
                let out = match (out, commit) {
                    (Ok(_), Some(e)) => Err(StoreError::Commit(Arc::clone(e))),
                    (out, _) => out,
                };
                let _ = tell.send(out);
            })
        });
        self.jobs.send(job).map_err(|_| StoreError::Closed)?;
        told.await.map_err(|_| StoreError::Closed)?
    }

    /// Runs `query` on an idle reader connection on the calling thread:
    /// for reads of a row or two by key, which cost a few microseconds
    /// (WAL readers never wait for the writer). As many run at once as
    /// threads call it (the async workers).
    pub(super) fn read_inline<T>(
        &self,
        query: impl FnOnce(&mut Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        self.readers.with_connection(query)
    }

    /// Runs `query` on a reader connection, off the async workers: at most
    /// [`MAX_READERS`] at once (each holds a connection: a burst of reads
    /// must not open one per blocking thread, session 15), the rest wait
    /// for a turn.
    pub(super) async fn read<T: Send + 'static>(
        &self,
        query: impl FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let readers = Arc::clone(&self.readers);
        let handle = tokio::runtime::Handle::try_current().map_err(|_| StoreError::NoRuntime)?;
        // never closed: an error would only mean the store is gone. The
        // turn goes with the blocking task, which runs to its end even if
        // the caller stops waiting
        let turn = Arc::clone(&readers.turns)
            .acquire_owned()
            .await
            .map_err(|_| StoreError::Closed)?;
        handle
            .spawn_blocking(move || {
                let _turn = turn;
                readers.with_connection(query)
            })
            .await
            .map_err(|_| StoreError::Closed)?
    }
}

/// Runs one job inside a savepoint of the batch's transaction: its failure
/// rolls back its own changes only.
fn in_savepoint<T>(
    conn: &mut Connection,
    change: impl FnOnce(&mut Connection) -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    conn.execute_batch("SAVEPOINT job")?;
    match change(conn) {
        Ok(v) => {
            conn.execute_batch("RELEASE job")?;
            Ok(v)
        }
        Err(e) => {
            conn.execute_batch("ROLLBACK TO job; RELEASE job")?;
            Err(e)
        }
    }
}

/// The writer: takes every change waiting (up to [`MAX_BATCH`]), runs them
/// in one transaction, commits once (one fsync), then answers each caller.
/// Stops when the database is dropped.
fn writer(mut conn: Connection, queue: mpsc::Receiver<Job>, commits: &AtomicU64) {
    while let Ok(first) = queue.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match queue.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        if let Err(e) = conn.execute_batch("BEGIN IMMEDIATE") {
            let e = Arc::new(e);
            for job in batch {
                job(Err(&e))(Some(&e));
            }
            continue;
        }
        let done: Vec<Done> = batch.into_iter().map(|job| job(Ok(&mut conn))).collect();
        let commit = conn.execute_batch("COMMIT").map_err(Arc::new);
        if commit.is_err() {
            let _ = conn.execute_batch("ROLLBACK");
        } else {
            commits.fetch_add(1, Ordering::Relaxed);
        }
        let failure = commit.as_ref().err();
        for d in done {
            d(failure);
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use std::sync::Arc;
    use std::sync::atomic::Ordering;

    use super::{SqliteExec, run_now};
    use crate::StoreError;

    /// 64 concurrent changes share commits; one that fails rolls back only
    /// itself.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_changes_share_commits_and_fail_alone() {
        let dir = tempfile::tempdir().unwrap();
        let db = Arc::new(super::Sqlite::open(&dir.path().join("s.db"), 0).unwrap());
        // hold the writer for a moment, so the 64 changes queue behind it
        let blocker = {
            let db = Arc::clone(&db);
            tokio::spawn(async move {
                db.write(|_| {
                    std::thread::sleep(std::time::Duration::from_millis(50));
                    Ok(())
                })
                .await
            })
        };
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        let before = db.commits.load(Ordering::Relaxed);
        let mut tasks = tokio::task::JoinSet::new();
        for i in 0..64i64 {
            let db = Arc::clone(&db);
            tasks.spawn(async move {
                db.write(move |conn| {
                    let x = &mut SqliteExec(conn);
                    run_now(super::super::ops::allocate_status_index(x, "u"))?;
                    if i % 8 == 0 {
                        // this job's allocation must be rolled back
                        return Err(StoreError::Corrupt("refused on purpose".into()));
                    }
                    Ok(i)
                })
                .await
            });
        }
        let mut ok = 0;
        while let Some(done) = tasks.join_next().await {
            match done.unwrap() {
                Ok(_) => ok += 1,
                Err(e) => assert_eq!(e.code(), "corrupt_store"),
            }
        }
        assert_eq!(ok, 56);
        blocker.await.unwrap().unwrap();
        // the blocker's batch, then a few batches for the 64 (one, unless the
        // machine is slow to queue them)
        let commits = db.commits.load(Ordering::Relaxed) - before;
        assert!(commits <= 8, "{commits} commits for 64 changes");
        // the refused jobs' allocations were rolled back: 56 indices used
        let used = db
            .write(|conn| {
                let taken: i64 = conn.query_row(
                    "SELECT count(*) FROM status_index WHERE uri = 'u'",
                    [],
                    |r| r.get(0),
                )?;
                let counted: i64 = conn.query_row(
                    "SELECT next_idx FROM status_allocation WHERE uri = 'u'",
                    [],
                    |r| r.get(0),
                )?;
                Ok((taken, counted))
            })
            .await
            .unwrap();
        assert_eq!(used, (56, 56));
    }

    /// Session 15: reads off the async workers each took an idle reader
    /// connection or opened one more, with nothing bounding how many were
    /// open at once but tokio's blocking pool (512 threads): a burst of
    /// reads opened hundreds of connections (each a few file handles), and
    /// under a low open-file limit a read failed (a 500 for the request).
    /// At most `MAX_READERS` are open at once; the rest wait their turn.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_burst_of_reads_opens_a_bounded_number_of_connections() {
        use std::sync::atomic::AtomicUsize;
        let dir = tempfile::tempdir().unwrap();
        let db = Arc::new(super::Sqlite::open(&dir.path().join("s.db"), 0).unwrap());
        let (now, most) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let mut reads = tokio::task::JoinSet::new();
        for _ in 0..(4 * super::MAX_READERS) {
            let (db, now, most) = (Arc::clone(&db), Arc::clone(&now), Arc::clone(&most));
            reads.spawn(async move {
                db.read(move |_| {
                    let at_once = now.fetch_add(1, Ordering::SeqCst) + 1;
                    most.fetch_max(at_once, Ordering::SeqCst);
                    std::thread::sleep(std::time::Duration::from_millis(20));
                    now.fetch_sub(1, Ordering::SeqCst);
                    Ok(())
                })
                .await
            });
        }
        while let Some(done) = reads.join_next().await {
            done.unwrap().unwrap();
        }
        let most = most.load(Ordering::SeqCst);
        assert!(
            most <= super::MAX_READERS,
            "{most} reads ran at once (at most {} may)",
            super::MAX_READERS
        );
    }
}
