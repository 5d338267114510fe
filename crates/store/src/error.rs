//! The one error type of this crate.

use std::path::PathBuf;
use std::sync::Arc;

use passport_status::StatusError;

/// Everything that can go wrong with the local state.
///
/// Each variant has a stable, machine-readable [`StoreError::code`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The database could not be opened, read or written.
    #[error("local state database: {0}")]
    Database(#[source] rusqlite::Error),
    /// Another process held the database's write lock for longer than the
    /// busy timeout.
    #[error("the local state database is busy: another process held it past the busy timeout")]
    Busy,
    /// The database was written by a newer version of this crate.
    #[error("local state database schema version {found} is newer than this program's ({known})")]
    NewerSchema {
        /// The database's `user_version`.
        found: i64,
        /// The newest version this crate knows.
        known: i64,
    },
    /// A command that only reads found a database whose schema it cannot
    /// read: none (`found` 0: no passport server ever migrated it), or one
    /// older than it needs; it changes nothing (review S14, fourth pass).
    #[error(
        "local state database schema version {found} is older than this command reads \
         ({needs}; 0: no passport schema): run this version's `passport serve` on it first, \
         or name the right database"
    )]
    OlderSchema {
        /// The newest version applied (0: none).
        found: i64,
        /// The version this command needs at least.
        needs: i64,
    },
    /// A row is not what this crate writes.
    #[error("local state database: {0}")]
    Corrupt(String),
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The data directory is not owned by this user, or is writable by
    /// group or others.
    #[error("data directory {path} cannot be trusted: {reason}")]
    InsecureDirectory {
        /// The directory.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A path where a file is about to be created or replaced is a symbolic
    /// link (or a temporary file is already there).
    #[error("refusing {path}: {reason}")]
    InsecurePath {
        /// The path.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// No key is current (none was ever created, or the current one was
    /// revoked).
    #[error("the local issuer has no current signing key")]
    NoCurrentKey,
    /// No key with this `kid` is in the store.
    #[error("no key {0:?} in the local issuer's key store")]
    UnknownKey(String),
    /// A second key with the same `kid`.
    #[error("a key {0:?} is already in the local issuer's key store")]
    DuplicateKey(String),
    /// A `jti` already has a status index.
    #[error("jti {0:?} already has a status index")]
    DuplicateJti(String),
    /// Every index of the status list is taken.
    #[error("the status index space is exhausted ({allocated} indices allocated)")]
    IndexSpaceExhausted {
        /// How many were ever allocated.
        allocated: u64,
    },
    /// The operating system's random number generator failed.
    #[error("random number generator unavailable: {0}")]
    RandomUnavailable(String),
    /// No status record has this `jti` or index.
    #[error("no status record for {0}")]
    UnknownRecord(String),
    /// The JSON state of an older version could not be imported.
    #[error("cannot import {path}: {reason}")]
    LegacyState {
        /// The old file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// Building the status list failed.
    #[error(transparent)]
    Status(#[from] StatusError),
    /// The PostgreSQL database could not be reached, read or written.
    #[error("server state database (PostgreSQL): {0}")]
    Postgres(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// A group commit failed: every change of the batch was rolled back.
    #[error("server state database: the commit failed: {0}")]
    Commit(#[source] Arc<rusqlite::Error>),
    /// The server state's writer has stopped (the database was closed).
    #[error("the server state database is closed")]
    Closed,
    /// An async operation was called outside a tokio runtime.
    #[error("the server state database needs a tokio runtime")]
    NoRuntime,
    /// A database URL is neither a file path nor a `postgres://` URL (a
    /// libpq `key=value` string included). It is shown quoted, without its
    /// password.
    #[error(
        "invalid database URL {0}: give a file path, sqlite://PATH or postgres://USER@HOST/DATABASE"
    )]
    DatabaseUrl(String),
    /// A `postgres://` URL this build would reach in plain text: a host not
    /// on loopback nor a Unix socket, or an explicit `sslmode` asking for
    /// TLS. TLS to PostgreSQL is not supported yet, and the state carries the
    /// private signing keys.
    #[error("TLS to PostgreSQL is not supported yet: {0}")]
    PostgresTlsRequired(String),
    /// A `postgres://` URL, and this build was made without PostgreSQL.
    #[error("this build has no PostgreSQL support (passport-store feature `postgres`)")]
    PostgresUnsupported,
    /// A passport with this `jti` is already in the registry.
    #[error("passport {0:?} is already in the registry")]
    DuplicatePassport(String),
    /// The parent of a delegated passport is revoked.
    #[error("the parent passport {0:?} is revoked")]
    ParentRevoked(String),
    /// The actor passport a passport is being minted for (RFC 8693
    /// `actor_token`) is revoked.
    #[error("the actor passport {0:?} is revoked")]
    ActorRevoked(String),
    /// An authorization code was used before; its first use issued these
    /// passports (revoke them).
    #[error("the authorization code was already used")]
    CodeReused {
        /// The `jti`s the first use issued.
        issued: Vec<String>,
    },
    /// An authorization code has expired.
    #[error("the authorization code has expired")]
    CodeExpired,
    /// No such authorization code.
    #[error("unknown authorization code")]
    UnknownCode,
    /// A refresh token was used before: its whole family is now revoked,
    /// its refresh tokens and the passports it issued (with their
    /// descendants), in the transaction that saw the reuse.
    #[error("the refresh token was already used; its family is revoked")]
    RefreshReused {
        /// The family, now revoked.
        family: String,
        /// The passports this revoked (record them).
        revoked: Vec<crate::server::Revoked>,
    },
    /// A refresh token has expired.
    #[error("the refresh token has expired")]
    RefreshExpired,
    /// A refresh token's family was revoked.
    #[error("the refresh token's family is revoked")]
    RefreshRevoked,
    /// No such refresh token.
    #[error("unknown refresh token")]
    UnknownRefreshToken,
    /// This DPoP proof (key thumbprint and `jti`) was seen before.
    #[error("the DPoP proof was already used")]
    DpopReplayed,
    /// No client with this id.
    #[error("unknown client {0:?}")]
    UnknownClient(String),
    /// A client with this id is already registered.
    #[error("client {0:?} is already registered")]
    DuplicateClient(String),
    /// No signing key is waiting to become current.
    #[error("no next signing key to promote")]
    NoNextKey,
}

passport_jose::error_codes! {
    StoreError {
        StoreError::Database(_) => "store_failed":
            "The local state database could not be opened, read or written.",
        StoreError::Busy => "store_busy":
            "Another process held the local state database's write lock longer than the busy timeout.",
        StoreError::NewerSchema { .. } => "store_schema_newer":
            "The local state database was written by a newer version of this program.",
        StoreError::OlderSchema { .. } => "store_schema_older":
            "A command that only reads found no schema it can read in the database (none, or an older one).",
        StoreError::Corrupt(_) => "corrupt_store":
            "A row of the local state database is not what this program writes.",
        StoreError::Io { .. } => "io_error":
            "A file could not be read or written.",
        StoreError::InsecureDirectory { .. } => "insecure_data_dir":
            "The data directory is owned by another user, or writable by group or others.",
        StoreError::InsecurePath { .. } => "insecure_path":
            "A file about to be written is a symbolic link, or its temporary file already exists.",
        StoreError::NoCurrentKey => "no_current_key":
            "The local issuer has no current signing key.",
        StoreError::UnknownKey(_) => "unknown_key":
            "No key with this `kid` is in the local issuer's key store.",
        StoreError::DuplicateKey(_) => "duplicate_key":
            "A key with this `kid` is already in the local issuer's key store.",
        StoreError::DuplicateJti(_) => "duplicate_jti":
            "A passport `jti` already has a status index.",
        StoreError::IndexSpaceExhausted { .. } => "index_space_exhausted":
            "Every status index the allocator may hand out is taken.",
        StoreError::RandomUnavailable(_) => "random_unavailable":
            "The operating system's random source failed.",
        StoreError::UnknownRecord(_) => "unknown_passport":
            "No passport with this `jti` (or status index) was issued here.",
        StoreError::LegacyState { .. } => "corrupt_legacy_state":
            "A JSON state file of an older version (issuer-keys.json, status.json) could not be imported.",
        StoreError::Postgres(_) => "postgres_failed":
            "The token service's PostgreSQL database could not be reached, read or written.",
        StoreError::Commit(_) => "store_commit_failed":
            "A group commit of the token service's SQLite database failed; the whole batch was rolled back.",
        StoreError::Closed => "store_closed":
            "The token service's database was closed (its writer has stopped).",
        StoreError::NoRuntime => "store_no_runtime":
            "The token service's database was used outside a tokio runtime.",
        StoreError::DatabaseUrl(_) => "invalid_database_url":
            "A database URL is neither a file path nor a `postgres://` URL.",
        StoreError::PostgresTlsRequired(_) => "postgres_tls_required":
            "A PostgreSQL database not on loopback or a Unix socket, or a URL asking for TLS: TLS to PostgreSQL is not supported yet.",
        StoreError::PostgresUnsupported => "postgres_unsupported":
            "A `postgres://` database was asked of a build without PostgreSQL support.",
        StoreError::DuplicatePassport(_) => "duplicate_passport":
            "A passport with this `jti` is already in the token service's registry.",
        StoreError::ParentRevoked(_) => "parent_revoked":
            "The parent of a passport being delegated is revoked.",
        StoreError::ActorRevoked(_) => "actor_revoked":
            "The actor passport a passport is being minted for (RFC 8693 `actor_token`) is revoked.",
        StoreError::CodeReused { .. } => "code_reused":
            "An authorization code was presented a second time (what its first use issued is revoked).",
        StoreError::CodeExpired => "code_expired":
            "An authorization code has expired.",
        StoreError::UnknownCode => "unknown_code":
            "An authorization code was never issued here.",
        StoreError::RefreshReused { .. } => "refresh_token_reused":
            "A rotated refresh token was presented again; its whole family is revoked.",
        StoreError::RefreshExpired => "refresh_token_expired":
            "A refresh token has expired.",
        StoreError::RefreshRevoked => "refresh_token_revoked":
            "A refresh token's family was revoked.",
        StoreError::UnknownRefreshToken => "unknown_refresh_token":
            "A refresh token was never issued here.",
        StoreError::DpopReplayed => "dpop_replayed":
            "A DPoP proof (the same key and `jti`) was presented a second time.",
        StoreError::UnknownClient(_) => "unknown_client":
            "No client with this `client_id` is registered.",
        StoreError::DuplicateClient(_) => "duplicate_client":
            "A client with this `client_id` is already registered.",
        StoreError::NoNextKey => "no_next_key":
            "No signing key is waiting to become current.",
    }
    wraps {
        StoreError::Status(e) => e.code(),
    }
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> StoreError {
        match e.sqlite_error_code() {
            Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked) => {
                StoreError::Busy
            }
            _ => StoreError::Database(e),
        }
    }
}

impl StoreError {
    /// [`StoreError::DatabaseUrl`] for `url`: shown as
    /// [`Database::display_url`](crate::server::Database::display_url)
    /// shows it (never a password), and short. Every such error is built
    /// here.
    pub(crate) fn database_url(url: &str) -> StoreError {
        StoreError::DatabaseUrl(format!(
            "{:?}",
            shorten(&crate::server::Database::display_url(url))
        ))
    }

    pub(crate) fn io(path: &std::path::Path, source: std::io::Error) -> StoreError {
        StoreError::Io {
            path: path.to_owned(),
            source,
        }
    }
}

/// Keeps caller-chosen strings in errors short.
pub(crate) fn shorten(s: &str) -> String {
    passport_jose::clip(s, 64)
}
