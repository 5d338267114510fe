//! Where the bundle and the proof key come from.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use passport_claims::UnverifiedBundle;
use passport_dpop::DpopKey;

use crate::ClientError;

/// What a request carries: the passport bundle (`leaf~…~root`) and, for a
/// passport bound to a key (`cnf.jkt`), that key, which signs a DPoP proof
/// per request. Cheap to clone (shared).
///
/// A fixed `Credentials` is itself the simplest [`CredentialSource`].
#[derive(Clone)]
pub struct Credentials {
    bundle: Arc<str>,
    key: Option<Arc<DpopKey>>,
    audience: Option<Arc<str>>,
}

impl fmt::Debug for Credentials {
    // Never the bundle.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("dpop_jkt", &self.key.as_deref().map(DpopKey::jkt))
            .field("audience_origin", &self.audience)
            .finish_non_exhaustive()
    }
}

impl Credentials {
    /// `bundle` with the key its leaf is bound to, or `None` for a bearer
    /// passport (sent as `Authorization: Bearer`).
    pub fn new(bundle: impl Into<Arc<str>>, key: Option<DpopKey>) -> Credentials {
        Credentials::shared(bundle, key.map(Arc::new))
    }

    /// Like [`Credentials::new`], with a key shared with other owners.
    pub fn shared(bundle: impl Into<Arc<str>>, key: Option<Arc<DpopKey>>) -> Credentials {
        let bundle = bundle.into();
        Credentials {
            audience: audience_origin(&bundle).map(Arc::from),
            bundle,
            key,
        }
    }

    /// The origin (`scheme://host[:port]`) of the leaf passport's `aud`,
    /// when it is an http(s) URL: the one origin
    /// [`crate::PassportMiddleware`] sends these credentials to by default.
    /// `None` when the `aud` is not such a URL (use
    /// [`crate::PassportClientBuilder::allow_origin`]).
    ///
    /// Read from the agent's own bundle without verifying it: it only
    /// decides where the agent sends its passport, never whether anything
    /// is trusted.
    pub fn audience_origin(&self) -> Option<&str> {
        self.audience.as_deref()
    }

    /// The bundle.
    pub fn bundle(&self) -> &str {
        &self.bundle
    }

    /// The proof key, if the passport is bound to one.
    pub fn key(&self) -> Option<&DpopKey> {
        self.key.as_deref()
    }
}

/// The future a [`CredentialSource`] answers with.
pub type CredentialsFuture<'a> =
    Pin<Box<dyn Future<Output = Result<Credentials, ClientError>> + Send + 'a>>;

/// Gives the credentials for the next request. Asked once per request
/// (not per retry of a nonce challenge: both attempts carry the same bundle),
/// so a source that renews passports before they expire — a rotating cache —
/// plugs in without changing the client.
///
/// ```
/// use passport_agent::{ClientError, CredentialSource, Credentials, CredentialsFuture};
/// use std::sync::{Arc, RwLock};
///
/// /// Credentials another task replaces when it renews the passport.
/// struct Swappable(RwLock<Credentials>);
///
/// impl CredentialSource for Swappable {
///     fn credentials(&self) -> CredentialsFuture<'_> {
///         let current = self.0.read().map(|c| c.clone()).map_err(|_| {
///             ClientError::Credentials("the credential lock is poisoned".into())
///         });
///         Box::pin(std::future::ready(current))
///     }
/// }
/// # let _ = Swappable(RwLock::new(Credentials::new("bundle", None)));
/// ```
pub trait CredentialSource: Send + Sync + 'static {
    /// The credentials to send now; an error fails the request with it
    /// (use [`ClientError::Credentials`]).
    fn credentials(&self) -> CredentialsFuture<'_>;

    /// Step-up (the MCP authorization specification's answer to
    /// `insufficient_scope`): credentials that also cover `scopes` — the
    /// scopes a resource server's challenge named, in addition to those
    /// `current` was granted. `None` (the default) when this source cannot
    /// obtain more: the refusal is then returned as is.
    ///
    /// [`crate::PassportMiddleware`] asks at most once per request, sends
    /// the request once more with the answer, and returns that second
    /// answer whatever it is. A source must ask only for what `current`
    /// had plus `scopes` (never anything the challenge did not name), and
    /// answer `None` when `scopes` adds nothing (asking again could not
    /// help).
    fn step_up<'a>(
        &'a self,
        current: &'a Credentials,
        scopes: &'a [String],
    ) -> Option<CredentialsFuture<'a>> {
        let _ = (current, scopes);
        None
    }
}

impl CredentialSource for Credentials {
    fn credentials(&self) -> CredentialsFuture<'_> {
        Box::pin(std::future::ready(Ok(self.clone())))
    }
}

/// The origin of the leaf's `aud`, read unverified (see
/// [`Credentials::audience_origin`]).
fn audience_origin(bundle: &str) -> Option<String> {
    let bundle = UnverifiedBundle::parse(bundle).ok()?;
    let leaf = bundle.inspect_unverified().into_iter().next()?.ok()?;
    origin_of(&leaf.claims.aud)
}

/// The ASCII origin of an http(s) URL; `None` for anything else (an opaque
/// origin never matches).
pub(crate) fn origin_of(url: &str) -> Option<String> {
    let url = reqwest::Url::parse(url).ok()?;
    if !matches!(url.scheme(), "https" | "http") {
        return None;
    }
    let origin = url.origin();
    origin.is_tuple().then(|| origin.ascii_serialization())
}
