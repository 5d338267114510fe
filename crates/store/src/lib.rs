//! # passport-store
//!
//! The issuing side's local state, for the `passport` command line and the
//! token service — never needed by a resource server, which depends on
//! `passport-verifier` and `passport-status` only.
//!
//! - [`Store`]: one SQLite database (rusqlite, SQLite compiled in) holding
//!   the local issuer's signing-key metadata, its status-list allocation
//!   and its revocations; every change in one `BEGIN IMMEDIATE`
//!   transaction, so concurrent processes lose no update.
//!   [`Store::sign_with_current_key`] signs a passport with the key that
//!   is current in the same transaction that records its status index and
//!   the key's `max_exp`.
//! - [`LocalStatus`]: the store answering a verifier's status questions
//!   directly, with no list to sign, publish or fetch.
//! - [`server::Database`]: the token service's state (`passport serve`) on
//!   SQLite or, with the `postgres` feature, PostgreSQL — the registry of
//!   every passport minted, clients, codes, refresh tokens, DPoP replay
//!   entries, signing keys and status-index allocation, with group commit
//!   on SQLite.
//! - [`ensure_private_dir`] and [`write_private`]: a data directory trusted
//!   only when it is this user's and closed to others, and files written
//!   through exclusive temporary files that never follow a symbolic link.
//!
//! The CLI's private keys are not in its database: they stay in `0600` key
//! files the caller names by `kid` (see `passport-cli`). The token
//! service's keys are in its own database (see [`server`]).
//!
//! ```
//! use std::sync::Arc;
//! use passport_store::{LocalStatus, Store};
//!
//! let dir = tempfile::tempdir()?;
//! let store = Arc::new(Store::open(dir.path().join("state.db"))?);
//! let source = LocalStatus::new(store, "https://issuer.local/status/1");
//! # let _ = source;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod dir;
mod error;
mod keys;
mod legacy;
pub mod server;
mod status;
mod store;

use std::sync::Arc;

use passport_claims::PassportClaims;
use passport_status::RecordRef;
use passport_verifier::{LinkStatus, StatusSource, StatusUnavailable};

pub use dir::{ensure_private_dir, private_file, refuse_symlink, write_private};
pub use error::StoreError;
pub use keys::{KeyRecord, RETENTION_SKEW, Signed};
pub use legacy::Imported;
pub use status::{INITIAL_INDEX_SPACE, MAX_INDEX_SPACE, Pruned, StatusRecord, Transition};
pub use store::{DEFAULT_BUSY_TIMEOUT, Store};

/// The local issuer's store answering for the passports it issued on one
/// status list.
///
/// A passport without a `status` claim (minted before revocation was
/// configured, or by csp-agent-passport) is valid as far as this source
/// goes. A passport naming another list, or an index that was not issued
/// to its `jti`, cannot be answered for and is refused by the verifier.
#[derive(Debug, Clone)]
pub struct LocalStatus {
    store: Arc<Store>,
    uri: String,
}

impl LocalStatus {
    /// A source answering from `store`'s records of the list `uri`.
    pub fn new(store: Arc<Store>, uri: impl Into<String>) -> LocalStatus {
        LocalStatus {
            store,
            uri: uri.into(),
        }
    }

    /// The codes of the [`StatusUnavailable`] errors this source reports,
    /// with the condition each names.
    pub const UNAVAILABLE_CODES: &'static [(&'static str, &'static str)] = &[
        (
            "status_uri_not_allowed",
            "A status list URI is not one this source trusts or may fetch.",
        ),
        (
            "status_state_unreadable",
            "The local issuer's status state could not be read.",
        ),
        (
            "unknown_status_index",
            "The passport's status index was not issued to its `jti`.",
        ),
    ];
}

impl StatusSource for LocalStatus {
    /// It answers from the status list a passport's `status` names.
    fn answers_status_references(&self) -> bool {
        true
    }

    fn status(
        &self,
        passport: &PassportClaims,
        _now: i64,
    ) -> Result<LinkStatus, StatusUnavailable> {
        let Some(reference) = &passport.status else {
            return Ok(LinkStatus::Valid);
        };
        if reference.uri() != self.uri {
            return Err(StatusUnavailable::new(
                "status_uri_not_allowed",
                format!(
                    "the passport's status list {} is not this issuer's",
                    passport_jose::clip(reference.uri(), 128)
                ),
            ));
        }
        let record = self
            .store
            .status_record(&self.uri, RecordRef::Index(reference.idx()))
            .map_err(|e| StatusUnavailable::caused_by("status_state_unreadable", e))?;
        match record {
            Some(r) if r.jti == passport.jti => Ok(LinkStatus::from(r.status)),
            _ => Err(StatusUnavailable::new(
                "unknown_status_index",
                format!("index {} was not issued to this passport", reference.idx()),
            )),
        }
    }
}
