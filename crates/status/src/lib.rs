//! # passport-status
//!
//! Revocation for Agent Passports with Token Status Lists
//! (draft-ietf-oauth-status-list, JWT form), and the revocation sources a
//! `passport-verifier` consults for every link of a bundle.
//!
//! - [`StatusList`]: the packed array of 1-, 2-, 4- or 8-bit entries
//!   (`0x00` valid, `0x01` invalid, `0x02` suspended), its ZLIB +
//!   base64url encoding `lst`, and a hostile-input-proof decoder (bad
//!   base64, bad ZLIB, a size cap that stops zip bombs, `bits` outside
//!   {1, 2, 4, 8}, an index past the end).
//! - [`StatusListToken`]: signs and verifies the Status List Token (`typ:
//!   statuslist+jwt`, `sub` = the list URI, `iat`, `exp`, `ttl`,
//!   `status_list: {bits, lst}`), verified like a passport: trusted key by
//!   `kid`, explicit `typ`, `sub` equal to the referenced URI, time window.
//! - [`IndexAllocator`]: the issuer's side. A
//!   [`passport_claims::StatusAllocator`] handing out random, never reused,
//!   persisted indices; keeps each passport's status; builds and signs the
//!   list to publish.
//! - [`StatusListSource`] and [`DenyListSource`]: implementations of
//!   [`passport_verifier::StatusSource`].
//! - [`StatusRefresher`]: keeps a [`StatusListSource`]'s remote lists fresh
//!   in the background (fetched before the first request, refreshed before
//!   they expire, with jitter and backoff), reports their health, and is a
//!   cooldown-bounded [`passport_verifier::Refetch`].
//!
//! ## Revoking a root refuses its whole chain
//!
//! ```
//! use std::sync::Arc;
//! use passport_claims::{AgentId, AgentModel, Audience, IdentityAssertion, ScopeSet};
//! use passport_issuer::{IssuanceRequest, Issuer};
//! use passport_jose::{Algorithm, SigningKey};
//! use passport_status::{IndexAllocator, Status, StatusListSource};
//! use passport_verifier::{InMemoryKeyStore, KeyStore, VerificationPolicy, Verifier};
//!
//! let dir = tempfile::tempdir()?;
//! let key = SigningKey::generate(Algorithm::EdDSA)?;
//! let keys = Arc::new(InMemoryKeyStore::new());
//! keys.insert("https://issuer.local", key.verifying_key())?;
//!
//! let uri = "https://issuer.local/status/1";
//! let allocator = Arc::new(IndexAllocator::open(dir.path().join("status.json"), uri)?);
//! let issuer = Issuer::new("https://issuer.local", key.try_clone()?).with_status(allocator.clone());
//! let root = issuer.issue(IssuanceRequest::new(
//!     IdentityAssertion::new("https://idp.example", "alice"),
//!     Audience::new("https://tool.example")?,
//!     AgentId::new("planner")?,
//!     AgentModel::new("model-a")?,
//!     ScopeSet::parse(["files:*"])?,
//! ))?;
//!
//! allocator.set_status(root.claims().jti.as_str(), Status::Invalid)?;
//! let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_secs() as i64;
//! let token = allocator.publish(&key, now, 300, 3600)?;
//!
//! let source = StatusListSource::new(keys.clone() as Arc<dyn KeyStore>)
//!     .trust_issuer("https://issuer.local", "https://issuer.local/status")?;
//! source.add_token(&token)?;
//! let verifier = Verifier::with_key_store(
//!     VerificationPolicy::new("https://issuer.local", "https://tool.example"), keys)?
//!     .with_status_source(Arc::new(source));
//! assert_eq!(verifier.verify_str(root.bundle()).unwrap_err().code(), "revoked");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! ## Keeping lists fresh in the background
//!
//! A server starts a [`StatusRefresher`] over its source and verifies with
//! it; it never answers `status_unavailable` because nobody refreshed a
//! list. (Here the list is handed over as a token; a server names the lists
//! to fetch with [`RefresherOptions::watch`], and lists its passports name
//! join by themselves.)
//!
//! ```
//! use std::sync::Arc;
//! use passport_claims::{AgentId, AgentModel, Audience, IdentityAssertion, ScopeSet};
//! use passport_issuer::{IssuanceRequest, Issuer};
//! use passport_jose::{Algorithm, SigningKey};
//! use passport_status::{IndexAllocator, RefresherOptions, StatusListSource, StatusRefresher};
//! use passport_verifier::{InMemoryKeyStore, KeyStore, VerificationPolicy, Verifier};
//!
//! # let dir = tempfile::tempdir()?;
//! # let key = SigningKey::generate(Algorithm::EdDSA)?;
//! # let keys = Arc::new(InMemoryKeyStore::new());
//! # keys.insert("https://issuer.local", key.verifying_key())?;
//! # let allocator = Arc::new(IndexAllocator::open(dir.path().join("status.json"), "https://issuer.local/status/1")?);
//! # let issuer = Issuer::new("https://issuer.local", key.try_clone()?).with_status(allocator.clone());
//! # let passport = issuer.issue(IssuanceRequest::new(
//! #     IdentityAssertion::new("https://idp.example", "alice"),
//! #     Audience::new("https://tool.example")?,
//! #     AgentId::new("planner")?,
//! #     AgentModel::new("model-a")?,
//! #     ScopeSet::parse(["files:*"])?,
//! # ))?;
//! # let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_secs() as i64;
//! # let token = allocator.publish(&key, now, 300, 3600)?;
//! # let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
//! # runtime.block_on(async {
//! let source = Arc::new(
//!     StatusListSource::new(keys.clone() as Arc<dyn KeyStore>)
//!         .trust_issuer("https://issuer.local", "https://issuer.local/status")?,
//! );
//! source.add_token(&token)?;
//! let refresher = StatusRefresher::start(source, RefresherOptions::default()).await?;
//! assert!(refresher.is_healthy());
//! let health = refresher.health();
//! assert_eq!(health.lists[0].uri, "https://issuer.local/status/1");
//!
//! let verifier = Verifier::with_key_store(
//!     VerificationPolicy::new("https://issuer.local", "https://tool.example"), keys)?
//!     .with_status_source(Arc::new(refresher.clone()));
//! verifier.verify_str(passport.bundle())?;
//! // The background task stops when the last handle (this one, the
//! // verifier's) is dropped.
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # })?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod allocator;
mod deny;
mod error;
mod list;
mod refresher;
mod source;
mod token;

pub use allocator::{
    ALLOCATOR_BITS, INITIAL_INDEX_SPACE, IndexAllocator, MAX_INDEX_SPACE, Record, RecordRef,
};
pub use deny::{DenyListSource, MAX_DENY_LIST_BYTES};
pub use error::StatusError;
pub use list::{DEFAULT_MAX_DECOMPRESSED, Status, StatusList};
pub use refresher::{
    DEFAULT_CHECK_INTERVAL, DEFAULT_JITTER, DEFAULT_MAX_BACKOFF, DEFAULT_MIN_REFRESH_INTERVAL,
    DEFAULT_REFETCH_COOLDOWN, DEFAULT_REFRESH_FRACTION, ListHealth, MAX_REFETCHES_PER_COOLDOWN,
    RefresherHealth, RefresherOptions, StatusRefresher,
};
pub use source::{
    DEFAULT_HTTP_TIMEOUT, DEFAULT_MAX_LISTS, DEFAULT_RETRY_AFTER, FailurePolicy, MAX_PREFETCH_URIS,
    StatusListSource, check_status_url,
};
pub use token::{
    DEFAULT_LIST_CLOCK_SKEW, DEFAULT_MAX_LIST_LIFETIME, DEFAULT_MAX_LIST_TOKEN_LEN,
    ListExpectations, STATUS_LIST_TYP, StatusListToken, VerifiedStatusList,
};
