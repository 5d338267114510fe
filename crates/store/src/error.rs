//! The one error type of this crate.

use std::path::PathBuf;

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
}

passport_jose::error_codes! {
    StoreError {
        StoreError::Database(_) => "store_failed":
            "The local state database could not be opened, read or written.",
        StoreError::Busy => "store_busy":
            "Another process held the local state database's write lock longer than the busy timeout.",
        StoreError::NewerSchema { .. } => "store_schema_newer":
            "The local state database was written by a newer version of this program.",
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
