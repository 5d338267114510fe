//! [`Refetch`]: what a server may fetch after a verification failed for want
//! of something remote, before it tries once more.
//!
//! The verifier is synchronous and never does I/O: a key store answers from
//! memory, a status source from lists it already holds. Keys and status lists
//! that live behind a URL are kept fresh in the background by their owners
//! (passport-remote, passport-status); a request only waits for a fetch when
//! it needs something the background has not brought yet — a `kid` the issuer
//! published a moment ago, a status list no passport named before. The
//! resource-server layer then asks each [`Refetch`] for that work, awaits it,
//! and verifies once more; the common case (everything at hand) costs nothing.

use std::future::Future;
use std::pin::Pin;

use passport_claims::UnverifiedBundle;

use crate::VerifyError;

/// A boxed future of a [`Refetch`] (`Send`, borrowing the bundle and error).
pub type RefetchFuture<'a> = Pin<Box<dyn Future<Output = ()> + Send + 'a>>;

/// Something that can fetch what a failed verification lacked.
///
/// Implementations decide from the error's code and link (for example
/// `unknown_kid` at link 1: the key set of that link's issuer;
/// `status_unavailable`: the list that link names) and return `None` when
/// there is nothing useful to do — another kind of failure, or a fetch of the
/// same thing within its cooldown, so a stream of forged tokens never turns
/// into a stream of outbound requests. What they read from the bundle is
/// unverified and only chooses what to fetch: the second verification checks
/// everything again.
///
/// A fetch that fails leaves the state as it was; the second verification
/// then fails closed with the same error.
///
/// ```
/// use passport_claims::UnverifiedBundle;
/// use passport_verifier::{Refetch, RefetchFuture, VerifyError};
///
/// /// Refetches nothing: a store that holds every key it will ever have.
/// struct Static;
///
/// impl Refetch for Static {
///     fn refetch<'a>(
///         &'a self,
///         _bundle: &'a UnverifiedBundle,
///         _error: &'a VerifyError,
///     ) -> Option<RefetchFuture<'a>> {
///         None
///     }
/// }
/// ```
pub trait Refetch: Send + Sync {
    /// The work that may let a second verification of `bundle` succeed after
    /// it failed with `error`, or `None`.
    fn refetch<'a>(
        &'a self,
        bundle: &'a UnverifiedBundle,
        error: &'a VerifyError,
    ) -> Option<RefetchFuture<'a>>;
}

impl<R: Refetch + ?Sized> Refetch for std::sync::Arc<R> {
    fn refetch<'a>(
        &'a self,
        bundle: &'a UnverifiedBundle,
        error: &'a VerifyError,
    ) -> Option<RefetchFuture<'a>> {
        (**self).refetch(bundle, error)
    }
}
