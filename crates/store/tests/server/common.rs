use passport_store::server::{Database, PassportEntry};

pub(crate) const NOW: i64 = 1_800_000_000;

/// A database of one backend, with whatever keeps it alive.
pub(crate) struct Fixture {
    pub(crate) db: std::sync::Arc<Database>,
    pub(crate) url: String,
    _dir: Option<tempfile::TempDir>,
    /// declared after `db`, so dropped after it
    _scratch: Option<Scratch>,
}

impl Fixture {
    pub(crate) async fn sqlite() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let url = dir.path().join("data").join("server.db");
        let url = url.to_str().unwrap().to_owned();
        Fixture {
            db: std::sync::Arc::new(Database::open(&url, NOW).await.unwrap()),
            url,
            _dir: Some(dir),
            _scratch: None,
        }
    }

    /// A fresh PostgreSQL database, or `None` when skipping was asked for.
    pub(crate) async fn postgres() -> Option<Fixture> {
        let url = postgres_url()?;
        let url = match Database::create_scratch_postgres_database(&url).await {
            Ok(url) => url,
            Err(e) if e.code() == "postgres_unsupported" => panic!(
                "PASSPORT_TEST_DATABASE_URL is set but passport-store was built without \
                 PostgreSQL: run with `--features passport-store/postgres`"
            ),
            Err(e) => panic!("creating a test database: {e}"),
        };
        let db = match Database::open(&url, NOW).await {
            Ok(db) => db,
            Err(e) if e.code() == "postgres_unsupported" => panic!(
                "PASSPORT_TEST_DATABASE_URL is set but passport-store was built without \
                 PostgreSQL: run with `--features passport-store/postgres`"
            ),
            Err(e) => panic!("opening {url}: {e}"),
        };
        Some(Fixture {
            db: std::sync::Arc::new(db),
            _scratch: Some(Scratch(url.clone())),
            url,
            _dir: None,
        })
    }
}

/// A PostgreSQL test's database, dropped when the test ends (passed or
/// not), so a run does not leave ~8 MB per test on the cluster's disk.
pub(crate) struct Scratch(pub(crate) String);

impl Drop for Scratch {
    fn drop(&mut self) {
        let url = self.0.clone();
        // on a thread of its own: a runtime cannot be blocked on from the
        // test's runtime
        let dropped = std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| e.to_string())?
                .block_on(Database::drop_scratch_postgres_database(&url))
                .map_err(|e| e.to_string())
        })
        .join();
        match dropped {
            Ok(Ok(())) => {}
            Ok(Err(e)) => eprintln!("the test database was not dropped: {e}"),
            Err(_) => eprintln!("the test database was not dropped: its thread panicked"),
        }
    }
}

/// The cluster to test against; a failure naming how to get one, unless
/// `PASSPORT_SKIP_POSTGRES=1`.
pub(crate) fn postgres_url() -> Option<String> {
    if let Ok(url) = std::env::var("PASSPORT_TEST_DATABASE_URL")
        && !url.is_empty()
    {
        return Some(url);
    }
    if std::env::var("PASSPORT_SKIP_POSTGRES").as_deref() == Ok("1") {
        eprintln!("skipped: the PostgreSQL half of this test (PASSPORT_SKIP_POSTGRES=1)");
        return None;
    }
    panic!(
        "this test also runs on PostgreSQL and PASSPORT_TEST_DATABASE_URL is not set: \
         start a throwaway cluster with `export PASSPORT_TEST_DATABASE_URL=$(scripts/postgres.sh \
         start)` (Debian's `postgresql` package), or set PASSPORT_SKIP_POSTGRES=1 to skip \
         the PostgreSQL half explicitly"
    );
}

/// Runs `$name(&Database)` on SQLite and on PostgreSQL, as two tests.
macro_rules! on_both {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn sqlite() {
                    let f = crate::common::Fixture::sqlite().await;
                    super::$name(std::sync::Arc::clone(&f.db)).await;
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn postgres() {
                    let Some(f) = crate::common::Fixture::postgres().await else {
                        return;
                    };
                    super::$name(std::sync::Arc::clone(&f.db)).await;
                }
            }
        )*
    };
}
pub(crate) use on_both;

pub(crate) fn entry(jti: &str, parent: Option<&str>) -> PassportEntry {
    PassportEntry {
        jti: jti.into(),
        parent_jti: parent.map(Into::into),
        actor_jti: None,
        client_id: "client-1".into(),
        agent_id: format!("agent-{jti}"),
        principal: "alice".into(),
        audience: "https://tool.example".into(),
        scopes: "read write".into(),
        iat: NOW,
        exp: NOW + 300,
        kid: "k1".into(),
        status_uri: Some("https://issuer.example/status/1".into()),
        status_idx: None,
        created_at: NOW,
        environment: None,
        approval_id: None,
    }
}
