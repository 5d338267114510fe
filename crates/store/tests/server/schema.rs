//! Both databases end up with the same schema; the SQLite file is private.

use std::collections::BTreeMap;
use std::path::Path;

use passport_store::server::Database;

use crate::common::{Fixture, NOW};

/// table → column → (type, nullable), the types mapped to one vocabulary.
type Columns = BTreeMap<String, BTreeMap<String, (String, bool)>>;

fn sqlite_columns(path: &str) -> Columns {
    let conn = rusqlite::Connection::open(path).unwrap();
    let mut tables = conn
        .prepare("SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name")
        .unwrap();
    let names: Vec<String> = tables
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let mut out = Columns::new();
    for table in names {
        let mut info = conn
            .prepare(&format!(
                "SELECT name, type, \"notnull\" FROM pragma_table_info('{table}')"
            ))
            .unwrap();
        let columns = info
            .query_map([], |r| {
                let ty: String = r.get(1)?;
                let not_null: bool = r.get(2)?;
                Ok((r.get::<_, String>(0)?, (ty.to_lowercase(), !not_null)))
            })
            .unwrap()
            .map(Result::unwrap)
            .map(|(name, (ty, nullable))| {
                let ty = match ty.as_str() {
                    "integer" => "int64".to_owned(),
                    other => other.to_owned(),
                };
                (name, (ty, nullable))
            })
            .collect();
        out.insert(table, columns);
    }
    out
}

async fn postgres_columns(url: &str) -> Columns {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    let rows = client
        .query(
            "SELECT table_name::text, column_name::text, data_type::text, is_nullable::text \
             FROM information_schema.columns WHERE table_schema = 'public'",
            &[],
        )
        .await
        .unwrap();
    let mut out = Columns::new();
    for row in rows {
        let ty: String = row.get(2);
        let ty = match ty.as_str() {
            "bigint" => "int64".to_owned(),
            other => other.to_owned(),
        };
        let nullable: String = row.get(3);
        out.entry(row.get(0))
            .or_default()
            .insert(row.get(1), (ty, nullable == "YES"));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_and_postgres_have_the_same_tables_and_columns() {
    let sqlite = Fixture::sqlite().await;
    let Some(postgres) = Fixture::postgres().await else {
        return;
    };
    let left = sqlite_columns(&sqlite.url);
    let right = postgres_columns(&postgres.url).await;
    assert!(left.contains_key("registry") && left.contains_key("schema_migrations"));
    assert_eq!(left.len(), 17, "{:?}", left.keys().collect::<Vec<_>>());
    assert_eq!(left, right);
    assert_eq!(
        sqlite.db.schema_versions().await.unwrap(),
        [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13]
    );
    assert_eq!(
        postgres.db.schema_versions().await.unwrap(),
        [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13]
    );
}

fn migration_names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    names
}

#[test]
fn migrations_are_kept_in_lockstep() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations");
    let sqlite = migration_names(&root.join("sqlite"));
    assert_eq!(sqlite, migration_names(&root.join("postgres")));
    // numbered from 0001, increasing (a number may be taken by parallel
    // work before its neighbours land), and the newest is the schema version
    let numbers: Vec<i64> = sqlite
        .iter()
        .map(|name| {
            assert!(name.ends_with(".sql"), "{name}");
            name.get(..4).unwrap().parse().unwrap()
        })
        .collect();
    assert_eq!(numbers.first(), Some(&1));
    assert!(numbers.windows(2).all(|w| w[0] < w[1]), "{numbers:?}");
    assert_eq!(Database::SCHEMA_VERSION, *numbers.last().unwrap());
}

#[tokio::test]
async fn sqlite_state_is_private_and_reopens_migrated() {
    let f = Fixture::sqlite().await;
    f.db.record_issued(crate::common::entry("kept", None))
        .await
        .unwrap();
    drop(f.db);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        let path = Path::new(&f.url);
        assert_eq!(mode(path), 0o600);
        assert_eq!(mode(path.parent().unwrap()), 0o700);
    }
    // reopened (the writer of the first handle may still be closing)
    let again = Database::open(&f.url, NOW + 1).await.unwrap();
    assert_eq!(
        again.schema_versions().await.unwrap(),
        [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13]
    );
    assert!(again.passport("kept").await.unwrap().is_some());
}

#[tokio::test]
async fn sqlite_refuses_a_group_writable_directory_and_bad_urls() {
    let dir = tempfile::tempdir().unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let open = dir.path().join("open");
        std::fs::create_dir(&open).unwrap();
        std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o777)).unwrap();
        let url = open.join("server.db");
        let err = Database::open(url.to_str().unwrap(), NOW)
            .await
            .unwrap_err();
        assert_eq!(err.code(), "insecure_data_dir");
    }
    let err = Database::open("mysql://localhost/x", NOW)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "invalid_database_url");
    let err = Database::open("", NOW).await.unwrap_err();
    assert_eq!(err.code(), "invalid_database_url");
}

/// A database a newer version migrated is refused, on both backends.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_newer_schema_is_refused() {
    let sqlite = Fixture::sqlite().await;
    rusqlite::Connection::open(&sqlite.url)
        .unwrap()
        .execute(
            "INSERT INTO schema_migrations (version, name, applied_at) VALUES (99, '0099_future', 0)",
            [],
        )
        .unwrap();
    let err = Database::open(&sqlite.url, NOW).await.unwrap_err();
    assert_eq!(err.code(), "store_schema_newer");

    let Some(postgres) = Fixture::postgres().await else {
        return;
    };
    let (client, connection) = tokio_postgres::connect(&postgres.url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    client
        .batch_execute(
            "INSERT INTO schema_migrations (version, name, applied_at) VALUES (99, '0099_future', 0)",
        )
        .await
        .unwrap();
    let err = Database::open(&postgres.url, NOW).await.unwrap_err();
    assert_eq!(err.code(), "store_schema_newer");
}

/// What the PostgreSQL server said reaches the message: tokio-postgres
/// alone displays a refusal as `db error` (what a CI log once showed for
/// 40 tests, with nothing to tell why).
#[cfg(feature = "postgres")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refusal_by_postgres_says_what_the_server_said() {
    let Some(url) = crate::common::postgres_url() else {
        return;
    };
    let missing = naming(&url, "passport_no_such_database");
    let err = Database::open(&missing, NOW).await.unwrap_err();
    assert_eq!(err.code(), "postgres_failed");
    let message = err.to_string();
    assert!(
        message.contains(
            "db error: FATAL 3D000: database \"passport_no_such_database\" does not exist"
        ),
        "{message}"
    );
    // the Debug form is the same line (no DETAIL, which may quote values)
    assert!(format!("{err:?}").contains("3D000"), "{err:?}");
}

/// A connection that never reached a server names its cause too.
#[cfg(feature = "postgres")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_refused_says_so() {
    // a port nobody can listen on: bound, never listened on, held until the
    // test ends (a released port could be taken in between)
    let held = tokio::net::TcpSocket::new_v4().unwrap();
    held.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let port = held.local_addr().unwrap().port();
    let url = format!("postgres://postgres@127.0.0.1:{port}/postgres?connect_timeout=5");
    let err = Database::open(&url, NOW).await.unwrap_err();
    assert_eq!(err.code(), "postgres_failed");
    let message = err.to_string();
    assert!(
        message.contains("error connecting to server: ") && message.contains("refused"),
        "{message}"
    );
    drop(held);
}

/// The tests' cleanup drops only a scratch database, and that one for good.
#[cfg(feature = "postgres")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_a_scratch_database_is_dropped() {
    let Some(cluster) = crate::common::postgres_url() else {
        return;
    };
    for other in [
        cluster.clone(),
        naming(&cluster, "template1"),
        naming(&cluster, "passport_test_"),
        naming(&cluster, "passport_test_0123456789abcdef0"),
        naming(&cluster, "passport_test_0123456789abcdeg"),
        // upper case: unquoted, PostgreSQL would fold it to another
        // (lower-case) scratch database
        naming(&cluster, "passport_test_0123456789ABCDEF"),
    ] {
        let err = Database::drop_scratch_postgres_database(&other)
            .await
            .unwrap_err();
        assert_eq!(err.code(), "invalid_database_url", "{other}");
    }
    let scratch = Database::create_scratch_postgres_database(&cluster)
        .await
        .unwrap();
    let open = Database::open(&scratch, NOW).await.unwrap();
    // dropped while a connection is open to it
    Database::drop_scratch_postgres_database(&scratch)
        .await
        .unwrap();
    drop(open);
    let err = Database::open(&scratch, NOW).await.unwrap_err();
    assert!(err.to_string().contains("3D000"), "{err}");
    // gone already: not an error
    Database::drop_scratch_postgres_database(&scratch)
        .await
        .unwrap();
}

/// The cluster URL `url` (with a path, as the suite's are) naming database
/// `name`, its query kept (`?host=/socket/dir` has slashes of its own).
#[cfg(feature = "postgres")]
fn naming(url: &str, name: &str) -> String {
    let (head, query) = url.split_once('?').map_or((url, ""), |(h, q)| (h, q));
    let base = head.rsplit_once('/').unwrap().0;
    let query = if query.is_empty() {
        String::new()
    } else {
        format!("?{query}")
    };
    format!("{base}/{name}{query}")
}

/// Review S14, fourth pass, V4-4: `Database::open_existing` (for `passport
/// audit verify` and `audit export`, which only read) connected to a
/// PostgreSQL database and migrated it: DDL applied to a production
/// database by a read-only command, or a failure under a read-only role.
/// It now changes nothing: a database without the passport schema (or
/// without the audit trail's migration) is `store_schema_older`, one newer
/// than this program knows `store_schema_newer`, and one it can read opens
/// — each left as it was.
#[cfg(feature = "postgres")]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_read_only_open_never_migrates_a_postgres_database() {
    let Some(cluster) = crate::common::postgres_url() else {
        return;
    };
    let url = Database::create_scratch_postgres_database(&cluster)
        .await
        .unwrap();
    let _scratch = crate::common::Scratch(url.clone());
    let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    let tables = || async {
        client
            .query_one(
                "SELECT count(*) FROM pg_catalog.pg_tables WHERE schemaname = 'public'",
                &[],
            )
            .await
            .unwrap()
            .get::<_, i64>(0)
    };
    let code = |r: Result<Database, passport_store::StoreError>| match r {
        Ok(_) => "opened".to_owned(),
        Err(e) => e.code().to_owned(),
    };
    // no schema at all: refused, and nothing created
    assert_eq!(
        code(Database::open_existing(&url, NOW).await),
        "store_schema_older"
    );
    assert_eq!(tables().await, 0, "a read-only open created tables");
    // migrated by the server: it opens
    drop(Database::open(&url, NOW).await.unwrap());
    let migrated = tables().await;
    let reader = Database::open_existing(&url, NOW).await.unwrap();
    let report = reader.verify_audit().await.unwrap();
    assert!(report.findings.is_empty(), "{:?}", report.findings);
    drop(reader);
    // newer than this program: refused
    client
        .batch_execute(
            "INSERT INTO schema_migrations (version, name, applied_at) VALUES (99, '0099_future', 0)",
        )
        .await
        .unwrap();
    assert_eq!(
        code(Database::open_existing(&url, NOW).await),
        "store_schema_newer"
    );
    // older than the audit trail (its migration not applied): refused,
    // and not migrated
    client
        .batch_execute("DELETE FROM schema_migrations WHERE version >= 9")
        .await
        .unwrap();
    assert_eq!(
        code(Database::open_existing(&url, NOW).await),
        "store_schema_older"
    );
    let versions = client
        .query_one("SELECT max(version) FROM schema_migrations", &[])
        .await
        .unwrap()
        .get::<_, i64>(0);
    assert_eq!(versions, 8, "a read-only open migrated the database");
    assert_eq!(tables().await, migrated);
}

/// Session 15 (the SQLite half of review S14's V4-4): `open_existing` on a
/// SQLite file migrated it, so `passport audit verify --database FILE`
/// applied DDL to the file it was asked only to read (a live server's, or
/// an auditor's copy of an older one). It now changes nothing there either:
/// a file without the passport schema or without the audit trail's
/// migration is `store_schema_older`, one newer than this program knows
/// `store_schema_newer`, and one it can read opens — each left as it was.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_only_open_never_migrates_a_sqlite_file() {
    use std::os::unix::fs::OpenOptionsExt as _;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("passport.db");
    let url = path.to_str().unwrap().to_owned();
    let code = |r: Result<Database, passport_store::StoreError>| match r {
        Ok(_) => "opened".to_owned(),
        Err(e) => e.code().to_owned(),
    };
    let tables = || {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.query_row(
            "SELECT count(*) FROM sqlite_schema WHERE type = 'table'",
            [],
            |r| r.get::<_, i64>(0),
        )
        .unwrap()
    };
    // an empty private file (not a passport database yet): refused, and
    // nothing created in it
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)
        .unwrap();
    assert_eq!(
        code(Database::open_existing(&url, NOW).await),
        "store_schema_older"
    );
    assert_eq!(tables(), 0, "a read-only open created tables");
    // migrated by the server: it opens, and its trail verifies
    drop(Database::open(&url, NOW).await.unwrap());
    let migrated = tables();
    let reader = Database::open_existing(&url, NOW).await.unwrap();
    let report = reader.verify_audit().await.unwrap();
    assert!(report.findings.is_empty(), "{:?}", report.findings);
    drop(reader);
    let conn = rusqlite::Connection::open(&path).unwrap();
    // newer than this program: refused
    conn.execute_batch(
        "INSERT INTO schema_migrations (version, name, applied_at) VALUES (99, '0099_future', 0)",
    )
    .unwrap();
    assert_eq!(
        code(Database::open_existing(&url, NOW).await),
        "store_schema_newer"
    );
    // older than the audit trail (its migration not applied): refused,
    // and not migrated
    conn.execute_batch("DELETE FROM schema_migrations WHERE version >= 9")
        .unwrap();
    assert_eq!(
        code(Database::open_existing(&url, NOW).await),
        "store_schema_older"
    );
    let newest: i64 = conn
        .query_row("SELECT max(version) FROM schema_migrations", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(newest, 8, "a read-only open migrated the file");
    assert_eq!(tables(), migrated);
}

/// Review S15c-4: a read-only open of a file with no `-wal` beside it
/// goes through an SQLite URI (immutable); a name holding the characters
/// a URI gives meaning to (`?`, `#`, `%`, a space) is still that file's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_only_open_reads_a_file_whose_name_a_uri_would_misread() {
    let dir = tempfile::tempdir().unwrap();
    let odd = dir.path().join("a?b#c%41 d");
    std::fs::create_dir(&odd).unwrap();
    std::fs::set_permissions(&odd, std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
    let path = odd.join("server?immutable=0#x.db");
    let url = path.to_str().unwrap().to_owned();
    drop(Database::open(&url, NOW).await.unwrap());
    // the server's connection closes on its own thread: wait for its -wal
    let wal = without_wal(&path).await;
    let reader = Database::open_existing(&url, NOW).await.unwrap();
    let report = reader.verify_audit().await.unwrap();
    assert!(report.findings.is_empty(), "{:?}", report.findings);
    assert!(!wal.exists(), "a read-only open created a -wal");
}

/// Review S15d-8: the immutable open went through `file:` and the path as
/// given, so a path beginning `//` was read as a URI authority
/// (`//localhost/p` opened `/p`). It is now an absolute path after an
/// empty authority: the file named is the file read.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_only_open_of_a_path_beginning_with_two_slashes_reads_that_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("server.db");
    drop(Database::open(path.to_str().unwrap(), NOW).await.unwrap());
    without_wal(&path).await;
    let doubled = format!("/{}", path.display());
    assert!(doubled.starts_with("//"));
    let reader = Database::open_existing(&doubled, NOW).await.unwrap();
    let report = reader.verify_audit().await.unwrap();
    assert!(report.findings.is_empty(), "{:?}", report.findings);
}

/// Review S15d-6: a copy in rollback-journal mode with a hot `-journal`
/// beside it (copied mid-transaction) was opened immutable, which does not
/// roll the journal back: half-written pages were read as committed. With
/// a `-journal` beside it the open is read-only, and SQLite refuses to read
/// what it cannot roll back. (This copy's half-written pages also broke
/// the immutable read before the fix, with a different error: the test
/// guards the outcome — never a report from such a copy — and does not
/// tell the two opens apart.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_only_open_never_reads_past_a_hot_journal() {
    let dir = tempfile::tempdir().unwrap();
    let live = dir.path().join("live.db");
    drop(Database::open(live.to_str().unwrap(), NOW).await.unwrap());
    let conn = rusqlite::Connection::open(&live).unwrap();
    // the server's connections close on their own threads
    let mut mode = String::new();
    for _ in 0..200 {
        if let Ok(m) = conn.query_row("PRAGMA journal_mode = DELETE", [], |r| r.get(0)) {
            mode = m;
            if mode == "delete" {
                break;
            }
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    assert_eq!(mode, "delete");
    // a transaction larger than the page cache: pages reach the file
    // before the commit, the originals saved in the journal
    conn.execute_batch(
        "PRAGMA cache_size = 2; BEGIN; \
         CREATE TABLE filler (x BLOB); \
         WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 400) \
         INSERT INTO filler SELECT randomblob(2000) FROM n;",
    )
    .unwrap();
    let copy = dir.path().join("copy");
    std::fs::create_dir(&copy).unwrap();
    std::fs::set_permissions(&copy, std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
    let journal = dir.path().join("live.db-journal");
    assert!(journal.exists(), "no journal mid-transaction");
    std::fs::copy(&live, copy.join("c.db")).unwrap();
    std::fs::copy(&journal, copy.join("c.db-journal")).unwrap();
    drop(conn);
    let url = copy.join("c.db").to_str().unwrap().to_owned();
    let read = async {
        let db = Database::open_existing(&url, NOW).await?;
        db.verify_audit().await
    }
    .await;
    assert!(
        read.is_err(),
        "read a copy with a hot journal as if it were committed: {read:?}"
    );
}

/// Waits (a few seconds at most) until no `-wal` is beside `path`: the
/// server's writer closes its connection on its own thread. The `-wal`'s
/// path.
async fn without_wal(path: &Path) -> std::path::PathBuf {
    let mut wal = path.as_os_str().to_owned();
    wal.push("-wal");
    let wal = std::path::PathBuf::from(wal);
    for _ in 0..200 {
        if !wal.exists() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    wal
}
