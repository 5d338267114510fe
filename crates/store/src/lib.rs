//! # passport-store
//!
//! The issuing side's local state, for the `passport` command line and the
//! token service — never needed by a resource server, which depends on
//! `passport-verifier` and `passport-status` only.
//!
//! Today it holds [`LocalStatus`]: the local issuer's own revocation state
//! (an [`IndexAllocator`]) answering a verifier's status questions directly,
//! with no list to sign, publish or fetch.
//!
//! ```
//! use std::sync::Arc;
//! use passport_status::IndexAllocator;
//! use passport_store::LocalStatus;
//!
//! let dir = tempfile::tempdir()?;
//! let allocator = IndexAllocator::open(dir.path().join("status.json"), "https://issuer.local/status/1")?;
//! let source = LocalStatus::new(Arc::new(allocator));
//! # let _ = source;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

use std::sync::Arc;

use passport_claims::PassportClaims;
use passport_status::IndexAllocator;
use passport_verifier::{LinkStatus, StatusSource, StatusUnavailable};

/// The local issuer's allocator answering for the passports it issued.
///
/// A passport without a `status` claim (minted before revocation was
/// configured, or by csp-agent-passport) is valid as far as this source
/// goes. A passport naming another list, or an index that was not issued
/// to its `jti`, cannot be answered for and is refused by the verifier.
#[derive(Debug, Clone)]
pub struct LocalStatus {
    allocator: Arc<IndexAllocator>,
}

impl LocalStatus {
    /// A source answering from `allocator`'s records.
    pub fn new(allocator: Arc<IndexAllocator>) -> LocalStatus {
        LocalStatus { allocator }
    }
}

impl StatusSource for LocalStatus {
    fn status(
        &self,
        passport: &PassportClaims,
        _now: i64,
    ) -> Result<LinkStatus, StatusUnavailable> {
        let Some(reference) = &passport.status else {
            return Ok(LinkStatus::Valid);
        };
        if reference.uri() != self.allocator.uri() {
            return Err(StatusUnavailable::new(
                "status_uri_unknown",
                format!(
                    "the passport's status list {} is not this issuer's",
                    passport_jose::clip(reference.uri(), 128)
                ),
            ));
        }
        let record = self
            .allocator
            .lookup_idx(reference.idx())
            .map_err(|e| StatusUnavailable::new("status_state_unreadable", e.to_string()))?;
        match record {
            Some(r) if r.jti == passport.jti => Ok(LinkStatus::from(r.status)),
            _ => Err(StatusUnavailable::new(
                "unknown_status_index",
                format!("index {} was not issued to this passport", reference.idx()),
            )),
        }
    }
}
