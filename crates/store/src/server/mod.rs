//! The token service's state (`passport serve`), on SQLite or PostgreSQL.
//!
//! One type, [`Database`], opened from a URL: a file path (SQLite, the
//! embedded default) or `postgres://…` (feature `postgres`). Both hold the
//! same tables, created and upgraded by migrations kept in lockstep
//! (`migrations/sqlite/NNNN_*.sql`, `migrations/postgres/NNNN_*.sql`,
//! recorded in `schema_migrations`), and every operation is written once
//! and runs on either.
//!
//! - **Durable before it returns.** On SQLite a single writer thread takes
//!   every change waiting, runs them in one transaction (each in a
//!   savepoint of its own, so one failure rolls back only itself) and
//!   commits once with `synchronous=FULL` in WAL mode: one fsync for the
//!   whole batch (group commit); each caller gets its answer after that
//!   commit. On PostgreSQL each change is a transaction on a pooled
//!   connection; the server groups concurrent WAL flushes itself.
//! - **Atomic.** A revocation marks the passport and every descendant
//!   (delegated from it, or minted for it as the actor passport) in one
//!   statement; a code or a refresh token is consumed by a conditional
//!   update, so of two concurrent uses exactly one wins; a DPoP proof is
//!   remembered by an insert that conflicts on replay; a status index is
//!   handed out by an upsert. Several instances on one PostgreSQL database
//!   act as one.
//! - **Secrets hashed.** Codes and refresh tokens are stored as SHA-256
//!   hashes ([`TokenHash`]); a client secret arrives already hashed
//!   ([`NewClient::secret_hash`], made and checked in constant time by
//!   passport-server's `client_auth`, the one implementation of client
//!   secrets).
//!
//! ```
//! use passport_store::server::{Database, PassportEntry};
//!
//! # tokio::runtime::Runtime::new()?.block_on(async {
//! let dir = tempfile::tempdir()?;
//! let db = Database::open(dir.path().join("server.db").to_str().unwrap(), 1_700_000_000).await?;
//! db.record_issued(PassportEntry {
//!     jti: "p1".into(),
//!     parent_jti: None,
//!     actor_jti: None,
//!     client_id: "client".into(),
//!     agent_id: "agent".into(),
//!     principal: "alice".into(),
//!     audience: "https://tool.example".into(),
//!     scopes: "read".into(),
//!     iat: 1_700_000_000,
//!     exp: 1_700_000_300,
//!     kid: "k1".into(),
//!     status_uri: Some("https://issuer.example/status/1".into()),
//!     status_idx: Some(db.allocate_status_index("https://issuer.example/status/1").await?),
//!     created_at: 1_700_000_000,
//!     environment: None,
//!     approval_id: None,
//! })
//! .await?;
//! let revoked = db.revoke_cascade("p1", 1_700_000_010).await?;
//! assert_eq!(revoked.len(), 1);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # })?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod exec;
mod ops;
#[cfg(feature = "postgres")]
mod postgres;
mod sql;
mod sqlite;
mod types;

use std::path::Path;

pub use audit::{AuditAppend, AuditHead, AuditRow};
pub use kill::{KillKind, KillSwitch, Lifecycle, NewKillSwitch, RegistryFilter, RegistryListing};
pub use types::{
    ClientKind, ClientRecord, CodeGrant, KeyMaterial, KeyState, NewClient, NewCode,
    NewRefreshToken, NewSigningKey, PassportEntry, PassportState, RefreshFamily, RefreshGrant,
    RefreshSuccessor, RegistryRecord, RevocationReason, Revoked, SigningKeyRecord, TokenHash,
};

use crate::error::StoreError;

/// The token service's state: SQLite or PostgreSQL behind one API.
///
/// Every method is async and cancel-safe in the sense that matters: a
/// change handed to the database is committed or rolled back as a whole,
/// whether or not its caller still waits for the answer.
#[derive(Debug)]
pub struct Database {
    backend: Backend,
}

#[derive(Debug)]
enum Backend {
    Sqlite(sqlite::Sqlite),
    #[cfg(feature = "postgres")]
    Postgres(Box<postgres::Postgres>),
}

/// Runs one operation of `ops` on whichever backend: `write` in a
/// transaction (on SQLite, the writer's next group commit);
/// `single_write` a change made by ONE statement, which PostgreSQL runs
/// outside an explicit transaction (atomic and committed — durably, as
/// every commit here — when it returns: one round trip where `BEGIN` and
/// `COMMIT` made three), SQLite as `write`; `read` on a
/// snapshot; `point_read` a read of a row or two by key, which on SQLite
/// runs on the calling thread (a few microseconds: cheaper than handing it
/// to the blocking pool). The body names its executor `$x`; on SQLite a
/// `write` or `read` runs in a `'static` closure, so it uses owned values
/// only.
macro_rules! on_backend {
    ($self:ident, write, |$x:ident| $body:expr) => {
        match &$self.backend {
            Backend::Sqlite(s) => {
                s.write(move |conn| {
                    let $x = &mut sqlite::SqliteExec(conn);
                    sqlite::run_now($body)
                })
                .await
            }
            #[cfg(feature = "postgres")]
            Backend::Postgres(p) => {
                let mut conn = p.get().await?;
                let (client, statements) = conn.client()?;
                let tx = client.transaction().await.map_err(postgres::pg)?;
                let $x = &mut postgres::PgExec::new(&tx, statements);
                let out = $body.await?;
                tx.commit().await.map_err(postgres::pg)?;
                Ok(out)
            }
        }
    };
    ($self:ident, single_write, |$x:ident| $body:expr) => {
        match &$self.backend {
            Backend::Sqlite(_) => on_backend!($self, write, |$x| $body),
            // on a pooled connection, no transaction: as a read runs
            #[cfg(feature = "postgres")]
            Backend::Postgres(_) => on_backend!($self, point_read, |$x| $body),
        }
    };
    ($self:ident, point_read, |$x:ident| $body:expr) => {
        match &$self.backend {
            Backend::Sqlite(s) => s.read_inline(|conn| {
                let $x = &mut sqlite::SqliteExec(conn);
                sqlite::run_now($body)
            }),
            #[cfg(feature = "postgres")]
            Backend::Postgres(p) => {
                let mut conn = p.get().await?;
                let (client, statements) = conn.client()?;
                let $x = &mut postgres::PgExec::new(&*client, statements);
                $body.await
            }
        }
    };
    ($self:ident, read, |$x:ident| $body:expr) => {
        match &$self.backend {
            Backend::Sqlite(s) => {
                s.read(move |conn| {
                    let $x = &mut sqlite::SqliteExec(conn);
                    sqlite::run_now($body)
                })
                .await
            }
            #[cfg(feature = "postgres")]
            Backend::Postgres(p) => {
                let mut conn = p.get().await?;
                let (client, statements) = conn.client()?;
                let $x = &mut postgres::PgExec::new(&*client, statements);
                $body.await
            }
        }
    };
}

/// `key` with its `%XX` escapes decoded (an invalid one kept as written),
/// as tokio-postgres decodes a URL's query keys.
fn percent_decoded(key: &str) -> Vec<u8> {
    let bytes = key.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    out
}

/// `s` with whatever follows a `password` key (any case, `=` after
/// optional whitespace) shown as `***`: a libpq `key=value` string or a
/// path never shows a password given that way.
fn hide_after_password(s: &str) -> String {
    let lower = s.to_ascii_lowercase();
    let mut from = 0;
    while let Some(at) = lower[from..].find("password").map(|i| from + i) {
        let after = &s[at + "password".len()..];
        if after.trim_start().starts_with('=') {
            return format!("{}password=***", &s[..at]);
        }
        from = at + 1;
    }
    s.to_owned()
}

/// The SQLite file `url` names: `sqlite://PATH` or a plain path; anything
/// else (another `scheme://`, a libpq `key=value` string) is refused.
fn sqlite_path(url: &str) -> Result<&Path, StoreError> {
    let path = url.strip_prefix("sqlite://").unwrap_or(url);
    if looks_like_conninfo(path) {
        // never taken as a file name (the password would name a file) nor
        // echoed
        return Err(StoreError::DatabaseUrl(
            "(a libpq `key=value` string, not shown)".to_owned(),
        ));
    }
    if path.is_empty() || path.contains("://") {
        return Err(StoreError::database_url(url));
    }
    Ok(Path::new(path))
}

/// A libpq `key=value` connection string (`host=… user=… password=…`),
/// which [`Database::open`] would otherwise take as a file name: an `=`,
/// whitespace, and no `/`.
fn looks_like_conninfo(path: &str) -> bool {
    path.contains('=') && path.contains(char::is_whitespace) && !path.contains('/')
}

mod audit;
mod governance;
mod kill;
mod status_query;
pub use status_query::StatusListVersion;

pub use governance::{
    AgentIdentity, ApprovalRecord, ApprovalRequest, ApprovalState, Decision, IdentityState,
    MAX_LISTED, MAX_PENDING_PER_REQUESTER,
};
mod sessions;

pub use sessions::{AdminSessionRecord, NewAdminSession, RoleClaim};

impl Database {
    /// `url` as shown to people (a report's source, an error): for any
    /// `scheme://` URL but `sqlite://`, the password in its user info or in
    /// a `password` query parameter (its key read percent-decoded, as the
    /// PostgreSQL driver reads it) is `***`; in anything else (a file path,
    /// or a mistaken libpq `key=value` string) whatever follows `password`
    /// is `***`. Everything else is kept as given.
    pub fn display_url(url: &str) -> String {
        let Some((scheme, rest)) = url.split_once("://") else {
            return hide_after_password(url);
        };
        if scheme.eq_ignore_ascii_case("sqlite") {
            return hide_after_password(url);
        }
        // the user info ends at the last `@`: a password holding a raw `@`
        // is hidden whole (an `@` in the query hides more than needed)
        let rest = match rest.rsplit_once('@') {
            Some((creds, host)) => match creds.split_once(':') {
                Some((user, _)) => format!("{user}:***@{host}"),
                None => format!("{creds}@{host}"),
            },
            None => rest.to_owned(),
        };
        let rest = match rest.split_once('?') {
            Some((before, query)) => {
                let query: Vec<&str> = query
                    .split('&')
                    .map(|pair| match pair.split_once('=') {
                        Some((key, _))
                            if percent_decoded(key).eq_ignore_ascii_case(b"password") =>
                        {
                            "password=***"
                        }
                        _ => pair,
                    })
                    .collect();
                format!("{before}?{}", query.join("&"))
            }
            None => rest,
        };
        format!("{scheme}://{rest}")
    }

    /// Opens the database `url` names, creating and migrating it:
    /// `postgres://…` or `postgresql://…` (feature `postgres`), `sqlite://PATH`
    /// or a plain file path (SQLite: the file is created `0600`, its
    /// directory `0700` when missing and refused when others may write to
    /// it). `now` stamps the migrations applied.
    ///
    /// The PostgreSQL client has no TLS yet: a host that is not loopback
    /// (`127.0.0.0/8`, `::1`, `localhost`) nor a Unix socket directory, and
    /// an explicit `sslmode=require`, `verify-ca` or `verify-full`, are
    /// refused before connecting ([`StoreError::PostgresTlsRequired`]).
    pub async fn open(url: &str, now: i64) -> Result<Database, StoreError> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            #[cfg(feature = "postgres")]
            return Ok(Database {
                backend: Backend::Postgres(Box::new(postgres::Postgres::open(url, now).await?)),
            });
            #[cfg(not(feature = "postgres"))]
            return Err(StoreError::PostgresUnsupported);
        }
        let path = sqlite_path(url)?.to_owned();
        let handle = tokio::runtime::Handle::try_current().map_err(|_| StoreError::NoRuntime)?;
        let sqlite = handle
            .spawn_blocking(move || sqlite::Sqlite::open(&path, now))
            .await
            .map_err(|_| StoreError::Closed)??;
        Ok(Database {
            backend: Backend::Sqlite(sqlite),
        })
    }

    /// As [`Database::open`], for a command that only reads the audit
    /// trail (`passport audit verify`, `audit export`): a SQLite file that
    /// does not exist is [`StoreError::Io`] naming it (`NotFound`), never
    /// created. Neither backend is migrated (review S14, fourth pass, V4-4,
    /// and session 15 for SQLite: no DDL on a production database, and on
    /// PostgreSQL a read-only role suffices): one whose schema is newer
    /// than this program knows is [`StoreError::NewerSchema`], one without
    /// the audit trail's (migration 0009, or no schema at all)
    /// [`StoreError::OlderSchema`]. `now` is unused (kept for callers).
    pub async fn open_existing(url: &str, now: i64) -> Result<Database, StoreError> {
        let _ = now;
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            #[cfg(feature = "postgres")]
            {
                let (db, versions) = postgres::Postgres::open_unmigrated(url).await?;
                readable_audit_schema(&versions)?;
                return Ok(Database {
                    backend: Backend::Postgres(Box::new(db)),
                });
            }
            #[cfg(not(feature = "postgres"))]
            return Err(StoreError::PostgresUnsupported);
        }
        let path = sqlite_path(url)?.to_owned();
        let handle = tokio::runtime::Handle::try_current().map_err(|_| StoreError::NoRuntime)?;
        let (sqlite, versions) = handle
            .spawn_blocking(move || sqlite::Sqlite::open_unmigrated(&path))
            .await
            .map_err(|_| StoreError::Closed)??;
        readable_audit_schema(&versions)?;
        Ok(Database {
            backend: Backend::Sqlite(sqlite),
        })
    }

    /// Test support, not API (hidden, may change): creates an empty
    /// database with a random name on the PostgreSQL cluster `url` names
    /// (a loopback one, as [`Database::open`] requires) and returns its URL
    /// (the cluster's, query kept, naming the new database), for a test to
    /// open. Shared by passport-store's and passport-server's
    /// tests. Without feature `postgres`,
    /// [`StoreError::PostgresUnsupported`].
    #[doc(hidden)]
    pub async fn create_scratch_postgres_database(url: &str) -> Result<String, StoreError> {
        #[cfg(feature = "postgres")]
        return postgres::Postgres::create_scratch_database(url).await;
        #[cfg(not(feature = "postgres"))]
        {
            let _ = url;
            Err(StoreError::PostgresUnsupported)
        }
    }

    /// Test support, not API (hidden, may change): drops a database that
    /// [`Database::create_scratch_postgres_database`] created, given the
    /// URL it returned, ending any connection still open to it, so a test
    /// run does not keep hundreds of them on disk. Any other database name
    /// is refused ([`StoreError::DatabaseUrl`]); a database already gone is
    /// not an error.
    #[doc(hidden)]
    pub async fn drop_scratch_postgres_database(url: &str) -> Result<(), StoreError> {
        #[cfg(feature = "postgres")]
        return postgres::Postgres::drop_scratch_database(url).await;
        #[cfg(not(feature = "postgres"))]
        {
            let _ = url;
            Err(StoreError::PostgresUnsupported)
        }
    }

    /// `"sqlite"` or `"postgres"`.
    pub fn backend_name(&self) -> &'static str {
        match &self.backend {
            Backend::Sqlite(_) => "sqlite",
            #[cfg(feature = "postgres")]
            Backend::Postgres(_) => "postgres",
        }
    }

    /// The newest schema version this crate knows.
    pub const SCHEMA_VERSION: i64 = ops::SCHEMA_VERSION;

    /// The schema versions applied, oldest first.
    pub async fn schema_versions(&self) -> Result<Vec<i64>, StoreError> {
        on_backend!(self, write, |x| ops::applied_versions(x))
    }

    // ---- registry ----

    /// Records a passport just minted, durably, before it is handed out.
    /// A delegated passport whose parent is revoked is refused
    /// ([`StoreError::ParentRevoked`]), and a passport whose actor passport
    /// ([`PassportEntry::actor_jti`]) is revoked likewise
    /// ([`StoreError::ActorRevoked`]); an unknown parent or actor passport
    /// is [`StoreError::UnknownRecord`]. So a passport minted during the
    /// revocation of one it depends on cannot escape the cascade. The
    /// signing key's `max_exp` follows the passport's `exp` in the same
    /// transaction.
    pub async fn record_issued(&self, entry: PassportEntry) -> Result<(), StoreError> {
        if !ops::is_linked(&entry) {
            // one statement on PostgreSQL: no revocation lock to hold
            return on_backend!(self, single_write, |x| ops::record_issued(x, &entry));
        }
        #[cfg(feature = "postgres")]
        if let Backend::Postgres(p) = &self.backend {
            // the lock, then the checked insert, in one transaction sent
            // in one write: one round trip
            let values = ops::passport_values(&entry)?;
            let rows = p
                .pipelined(
                    &ops::shared_revocation_lock(),
                    sql::RECORD_PASSPORT_POSTGRES,
                    &values,
                )
                .await?;
            return ops::recorded_postgres(&entry, rows.first());
        }
        on_backend!(self, write, |x| ops::record_issued(x, &entry))
    }

    /// Revokes the passport `jti` and every passport that depends on it,
    /// directly or not, in one transaction: those delegated from it and
    /// those minted for it as the actor passport (bound to its key), and
    /// theirs, by either link; returns those this call revoked
    /// (the named one first, `Direct`; the descendants `Cascaded`),
    /// for the status lists. Idempotent: passports already revoked are not
    /// returned again, so a second call returns only descendants recorded
    /// since (usually none). An unknown `jti` is
    /// [`StoreError::UnknownRecord`].
    pub async fn revoke_cascade(&self, jti: &str, now: i64) -> Result<Vec<Revoked>, StoreError> {
        let jti = jti.to_owned();
        on_backend!(self, write, |x| ops::revoke_cascade(x, &jti, now))
    }

    /// The indices of the status list `uri` whose passports are revoked,
    /// ascending: what the list publishes, read from the registry (the
    /// source of truth), so that a revocation whose
    /// [`revoke_cascade`](Database::revoke_cascade) answer was lost (a
    /// crash before publishing) or made by another instance still reaches
    /// the list.
    pub async fn revoked_status_indices(&self, uri: &str) -> Result<Vec<u64>, StoreError> {
        let uri = uri.to_owned();
        on_backend!(self, read, |x| ops::revoked_status_indices(x, &uri))
    }

    /// The registry row of `jti`.
    pub async fn passport(&self, jti: &str) -> Result<Option<RegistryRecord>, StoreError> {
        on_backend!(self, point_read, |x| ops::passport(x, jti))
    }

    /// The passport `jti` and its ancestors by delegation (`parent_jti`;
    /// not its actor passport), root first (empty if unknown).
    pub async fn chain(&self, jti: &str) -> Result<Vec<RegistryRecord>, StoreError> {
        let jti = jti.to_owned();
        on_backend!(self, read, |x| ops::chain(x, &jti))
    }

    // ---- clients ----

    /// Registers a client ([`StoreError::DuplicateClient`] if its id is
    /// taken). Its secret, if any, arrives hashed.
    pub async fn insert_client(&self, client: NewClient) -> Result<(), StoreError> {
        on_backend!(self, write, |x| ops::insert_client(x, &client))
    }

    /// The client `client_id`.
    pub async fn client(&self, client_id: &str) -> Result<Option<ClientRecord>, StoreError> {
        let id = client_id.to_owned();
        on_backend!(self, read, |x| ops::client(x, &id))
    }

    /// The client `client_id` (`None` if unknown) and the
    /// [revocation epoch](Database::revocation_epoch), read by one
    /// statement: a request that authenticates its client learns the epoch
    /// with it, read after the request arrived, without a round trip of its
    /// own.
    pub async fn client_and_epoch(
        &self,
        client_id: &str,
    ) -> Result<(Option<ClientRecord>, i64), StoreError> {
        on_backend!(self, point_read, |x| ops::client_and_epoch(x, client_id))
    }

    /// Removes the client `client_id`; whether it existed.
    pub async fn delete_client(&self, client_id: &str) -> Result<bool, StoreError> {
        let id = client_id.to_owned();
        on_backend!(self, write, |x| ops::delete_client(x, &id))
    }

    // ---- authorization codes ----

    /// Remembers an authorization code (by hash) until it is used.
    pub async fn insert_code(&self, code: NewCode) -> Result<(), StoreError> {
        on_backend!(self, write, |x| ops::insert_code(x, &code))
    }

    /// Uses an authorization code once, recording the `jti`s the server is
    /// about to issue for it. A second use is [`StoreError::CodeReused`]
    /// carrying those `jti`s (revoke them: the code leaked); an expired code
    /// [`StoreError::CodeExpired`]; an unknown one
    /// [`StoreError::UnknownCode`]. Of concurrent uses exactly one wins.
    pub async fn consume_code(
        &self,
        code: &TokenHash,
        now: i64,
        issued_jtis: &[String],
    ) -> Result<CodeGrant, StoreError> {
        let code = code.clone();
        let issued = issued_jtis.to_vec();
        let answer: Result<CodeGrant, StoreError> =
            on_backend!(self, write, |x| ops::consume_code(x, &code, now, &issued))?;
        answer
    }

    /// Whether a second use of the code was refused: the winner of a
    /// reuse race re-reads this after recording its passport, and revokes
    /// that passport itself if so (the loser's revocation may have run
    /// before the passport was recorded). `false` for an unknown code.
    pub async fn code_reused(&self, code: &TokenHash) -> Result<bool, StoreError> {
        let code = code.clone();
        on_backend!(self, read, |x| ops::code_reused(x, &code))
    }

    /// Whether the code was used already (a further use is a reuse),
    /// without using it: a grant asks before the checks that would refuse
    /// without spending a live code, so that a reuse is still taken as one.
    /// `false` for an unknown code.
    pub async fn code_spent(&self, code: &TokenHash) -> Result<bool, StoreError> {
        let code = code.clone();
        on_backend!(self, read, |x| ops::code_spent(x, &code))
    }

    /// What the authorization code `code` grants, whatever its state (used,
    /// expired or not), without using it: to check the request before
    /// [`consume_code`](Database::consume_code), which alone decides.
    pub async fn code(&self, code: &TokenHash) -> Result<Option<CodeGrant>, StoreError> {
        let code = code.clone();
        on_backend!(self, read, |x| ops::code(x, &code))
    }

    // ---- refresh tokens ----

    /// The family of the refresh token `token` (whatever its state), with
    /// the first passport issued in it, without using the token: to check who
    /// presents it before [`rotate_refresh`](Database::rotate_refresh), or
    /// to revoke the family (RFC 7009).
    pub async fn refresh_family(
        &self,
        token: &TokenHash,
    ) -> Result<Option<RefreshFamily>, StoreError> {
        let token = token.clone();
        on_backend!(self, read, |x| ops::refresh_family(x, &token))
    }

    /// Whether the refresh token `token` was used (rotated) or revoked,
    /// without using it: as [`code_spent`](Database::code_spent) for a
    /// refresh. `false` for an unknown token.
    pub async fn refresh_spent(&self, token: &TokenHash) -> Result<bool, StoreError> {
        let token = token.clone();
        on_backend!(self, read, |x| ops::refresh_spent(x, &token))
    }

    /// Whether the refresh token `token` is revoked (its family ended by a
    /// reuse or an RFC 7009 revocation): the rotation that issued it
    /// re-reads this after recording its passport. `false` for an unknown
    /// token.
    pub async fn refresh_revoked(&self, token: &TokenHash) -> Result<bool, StoreError> {
        let token = token.clone();
        on_backend!(self, read, |x| ops::refresh_revoked(x, &token))
    }

    /// The refresh family that issued the passport `jti` (by the code
    /// grant that started it or by a rotation), whatever its state, as
    /// [`refresh_family`](Database::refresh_family) gives it for the token
    /// issued beside that passport; `None` for a passport no refresh
    /// family issued. Revoking such a passport ends its family.
    pub async fn refresh_family_of(&self, jti: &str) -> Result<Option<RefreshFamily>, StoreError> {
        let jti = jti.to_owned();
        on_backend!(self, read, |x| ops::refresh_family_of(x, &jti))
    }

    /// Remembers the first refresh token of a new family.
    pub async fn insert_refresh_token(&self, token: NewRefreshToken) -> Result<(), StoreError> {
        on_backend!(self, write, |x| ops::insert_refresh(x, &token))
    }

    /// Uses a refresh token once and records its successor in the same
    /// family and grant. A token used before is
    /// [`StoreError::RefreshReused`]: its whole family ends in the same
    /// transaction (as [`end_refresh_family`](Database::end_refresh_family))
    /// and the passports revoked are named, to be recorded. Otherwise
    /// [`StoreError::RefreshRevoked`], [`StoreError::RefreshExpired`] or
    /// [`StoreError::UnknownRefreshToken`].
    pub async fn rotate_refresh(
        &self,
        presented: &TokenHash,
        next: RefreshSuccessor,
        now: i64,
    ) -> Result<RefreshGrant, StoreError> {
        let presented = presented.clone();
        let answer: Result<RefreshGrant, StoreError> =
            on_backend!(self, write, |x| ops::rotate_refresh(
                x, &presented, &next, now
            ))?;
        answer
    }

    /// Ends the refresh family `family`, in one transaction: revokes its
    /// refresh tokens and every passport issued in it with their
    /// descendants (as [`revoke_cascade`](Database::revoke_cascade) for
    /// each, in one statement whatever the family's size), and moves the
    /// revocation epoch; the passports revoked (the family's `Direct`).
    /// Idempotent.
    pub async fn end_refresh_family(
        &self,
        family: &str,
        now: i64,
    ) -> Result<Vec<Revoked>, StoreError> {
        let family = family.to_owned();
        on_backend!(self, write, |x| ops::end_family(x, &family, now))
    }

    // ---- DPoP replay ----

    /// Remembers a DPoP proof (the key's thumbprint and the proof's `jti`,
    /// stored hashed) until `expires_at`; [`StoreError::DpopReplayed`] if
    /// it was seen before and has not expired. Shared by every instance on
    /// one PostgreSQL database.
    pub async fn remember_dpop_proof(
        &self,
        jkt: &str,
        jti: &str,
        expires_at: i64,
        now: i64,
    ) -> Result<(), StoreError> {
        let (jkt, jti) = (jkt.to_owned(), jti.to_owned());
        on_backend!(self, single_write, |x| ops::remember_dpop(
            x, &jkt, &jti, expires_at, now
        ))
    }

    /// Remembers the `jti` of a `private_key_jwt` client assertion of
    /// `client_id` (RFC 7523 §3 item 7) until `expires_at`, in the DPoP
    /// replay table under a key no proof can have;
    /// [`StoreError::DpopReplayed`] if this client used it before and it has
    /// not expired. Shared by every instance on the database.
    pub async fn remember_assertion_jti(
        &self,
        client_id: &str,
        jti: &str,
        expires_at: i64,
        now: i64,
    ) -> Result<(), StoreError> {
        let (key, jti) = (ops::assertion_replay_key(client_id), jti.to_owned());
        on_backend!(self, single_write, |x| ops::remember_dpop(
            x, &key, &jti, expires_at, now
        ))
    }

    /// The registry's revocation epoch: a number every revocation of a
    /// passport ([`revoke_cascade`](Database::revoke_cascade), by any
    /// instance on this database) increments in its own transaction. A
    /// passport read active while the epoch was `e` is still active while
    /// it reads `e`: read the epoch first, then the passport, and cache
    /// the answer under that epoch. One indexed read of one row.
    pub async fn revocation_epoch(&self) -> Result<i64, StoreError> {
        on_backend!(self, point_read, |x| ops::revocation_epoch(x))
    }

    /// Deletes what expired by `now`: DPoP replay entries, authorization
    /// codes and refresh tokens. How many rows went. A code or refresh
    /// token presented after its row is gone is only `unknown_code` /
    /// `unknown_refresh_token` (its reuse no longer names what it issued):
    /// purge codes and tokens some time after they expire, e.g. with a
    /// `now` an hour behind.
    pub async fn purge_expired(&self, now: i64) -> Result<u64, StoreError> {
        on_backend!(self, write, |x| ops::purge_expired(x, now))
    }

    // ---- signing keys ----

    /// Adds a key in state `next` (published, not signing):
    /// [`StoreError::DuplicateKey`] if its `kid` is taken or another key
    /// is already next.
    pub async fn add_next_key(&self, key: NewSigningKey) -> Result<(), StoreError> {
        on_backend!(self, write, |x| ops::add_next_key(x, &key))
    }

    /// Adds the database's first key, in state `next`, only while no key is
    /// `current` or `next` (instances starting together on a new database:
    /// one key is added, the others find it). `false` when another key was
    /// there.
    pub async fn add_first_key(&self, key: NewSigningKey) -> Result<bool, StoreError> {
        on_backend!(self, write, |x| ops::add_first_key(x, &key))
    }

    /// Makes the next key current and retires the current one (it stays
    /// published until its `max_exp`); the new current key, or
    /// [`StoreError::NoNextKey`] — also while the next key's `not_before`
    /// is after `now` (unless no key is current yet).
    pub async fn promote_next_key(&self, now: i64) -> Result<SigningKeyRecord, StoreError> {
        on_backend!(self, write, |x| ops::promote_next_key(x, now))
    }

    /// Every signing key, oldest first.
    pub async fn signing_keys(&self) -> Result<Vec<SigningKeyRecord>, StoreError> {
        on_backend!(self, read, |x| ops::signing_keys(x))
    }

    /// Deletes retired keys whose last passport expired before `before`.
    pub async fn delete_retired_keys(&self, before: i64) -> Result<u64, StoreError> {
        on_backend!(self, write, |x| ops::delete_retired_keys(x, before))
    }

    // ---- status lists ----

    /// `n` random free indices of the status list `uri` (as
    /// [`allocate_status_index`](Database::allocate_status_index) draws
    /// them), in one transaction: a server hands them out from memory, so
    /// a mint costs no write of its own for its index. An index taken and
    /// never used stays taken (it is never handed out twice).
    pub async fn allocate_status_indices(
        &self,
        uri: &str,
        n: usize,
    ) -> Result<Vec<u64>, StoreError> {
        let uri = uri.to_owned();
        on_backend!(self, write, |x| ops::allocate_status_indices(x, &uri, n))
    }

    /// A random free index of the status list `uri`, drawn from an index
    /// space kept at most half full (so an index reveals no issuance count),
    /// never handed out twice, whichever instance asks.
    pub async fn allocate_status_index(&self, uri: &str) -> Result<u64, StoreError> {
        let uri = uri.to_owned();
        on_backend!(self, write, |x| ops::allocate_status_index(x, &uri))
    }

    // ---- shared secrets ----

    /// The secret every instance on this database shares under `name`
    /// (base64url text): the first caller's `candidate` is stored and every
    /// later call, from any instance, returns it. One write per start, none
    /// per request. The caller keeps it out of logs.
    pub async fn shared_secret(
        &self,
        name: &str,
        candidate: &str,
        now: i64,
    ) -> Result<String, StoreError> {
        let (name, candidate) = (name.to_owned(), candidate.to_owned());
        on_backend!(self, write, |x| ops::shared_secret(
            x, &name, &candidate, now
        ))
    }
}

/// The schema versions `applied` hold the audit trail (migration 0009) and
/// nothing newer than this program knows.
fn readable_audit_schema(applied: &[i64]) -> Result<(), StoreError> {
    let found = applied.iter().max().copied().unwrap_or(0);
    if found > Database::SCHEMA_VERSION {
        return Err(StoreError::NewerSchema {
            found,
            known: Database::SCHEMA_VERSION,
        });
    }
    if !applied.contains(&ops::AUDIT_SCHEMA_VERSION) {
        return Err(StoreError::OlderSchema {
            found,
            needs: ops::AUDIT_SCHEMA_VERSION,
        });
    }
    Ok(())
}

#[cfg(test)]
mod display_url_tests {
    use super::Database;

    /// Review S14: `passport audit verify --database postgres://user:pw@…`
    /// printed the password as the report's source.
    #[test]
    fn a_database_url_is_shown_without_its_password() {
        for (url, shown) in [
            (
                "postgres://passport:s3cret@127.0.0.1:5432/passport",
                "postgres://passport:***@127.0.0.1:5432/passport",
            ),
            (
                "postgresql://passport:s3@c:r/et@localhost/db?sslmode=disable",
                "postgresql://passport:***@localhost/db?sslmode=disable",
            ),
            (
                "postgres://127.0.0.1/db?user=passport&password=s3cret&application_name=t",
                "postgres://127.0.0.1/db?user=passport&password=***&application_name=t",
            ),
            (
                "POSTGRES://u:s3cret@127.0.0.1/db?PASSWORD=s3cret",
                "POSTGRES://u:***@127.0.0.1/db?password=***",
            ),
            // nothing to hide
            (
                "postgres://passport@127.0.0.1/db",
                "postgres://passport@127.0.0.1/db",
            ),
            ("/var/lib/passport/server.db", "/var/lib/passport/server.db"),
            ("sqlite://server.db", "sqlite://server.db"),
        ] {
            assert_eq!(Database::display_url(url), shown, "{url}");
            assert!(!Database::display_url(url).contains("s3"), "{url}");
        }
    }

    /// Re-review of 9e2b66a9: a URL whose scheme is not exactly
    /// `postgres://` (a typo, `POSTGRES://`, which display_url itself treats
    /// as postgres) is refused as `invalid_database_url` quoting the raw
    /// URL, password included: this error does not go through display_url.
    #[tokio::test]
    async fn a_refused_database_url_is_shown_without_its_password() {
        for url in [
            "POSTGRES://passport:s3cret@127.0.0.1/db",
            "postgress://passport:s3cret@127.0.0.1/db",
        ] {
            let err = Database::open(url, 0).await.expect_err("refused");
            assert!(!err.to_string().contains("s3cret"), "{err}");
        }
    }

    /// Review S14 re-review: tokio-postgres percent-decodes query keys
    /// (config.rs `parse_params`: `self.decode(key)`), so `pass%77ord=`
    /// IS the password; display_url compares the raw key and prints it.
    #[test]
    fn a_percent_encoded_password_key_is_still_hidden() {
        let url = "postgres://passport@127.0.0.1/db?pass%77ord=s3cret";
        let config: tokio_postgres::Config = url.parse().unwrap();
        assert_eq!(
            config.get_password(),
            Some(&b"s3cret"[..]),
            "the driver reads it"
        );
        let shown = Database::display_url(url);
        assert!(!shown.contains("s3cret"), "{shown}");
    }

    /// Review S14 re-review: any `scheme://` URL but `sqlite://` shows no
    /// password; a libpq `key=value` string shows nothing after
    /// `password=`; a path is kept as given.
    #[test]
    fn any_url_or_conninfo_is_shown_without_its_password() {
        for (url, shown) in [
            (
                "postgress://passport:s3cret@127.0.0.1/db?Pass%57ord=s3cret",
                "postgress://passport:***@127.0.0.1/db?password=***",
            ),
            ("mysql://u:s3cret@h/db", "mysql://u:***@h/db"),
            (
                "host=127.0.0.1 user=passport password=s3cret dbname=db",
                "host=127.0.0.1 user=passport password=***",
            ),
            ("host=h PASSWORD = 's3 cret'", "host=h password=***"),
            (
                "/var/lib/passwords/server.db",
                "/var/lib/passwords/server.db",
            ),
        ] {
            assert_eq!(Database::display_url(url), shown, "{url}");
        }
    }

    /// Review S14 re-review: a libpq `key=value` string was taken as a
    /// SQLite file name, creating files named after the password in the
    /// working directory. It is refused, naming the accepted forms and
    /// never echoing the string.
    #[tokio::test]
    async fn a_conninfo_string_is_refused_not_taken_as_a_file_name() {
        let conninfo = "host=127.0.0.1 user=passport password=s3cret dbname=review_s14";
        let err = Database::open(conninfo, 0).await.expect_err("refused");
        let shown = err.to_string();
        assert_eq!(err.code(), "invalid_database_url", "{shown}");
        assert!(
            !shown.contains("s3cret") && !shown.contains("127.0.0.1"),
            "{shown}"
        );
        assert!(shown.contains("postgres://"), "{shown}");
        assert!(!std::path::Path::new(conninfo).exists());
    }
}
