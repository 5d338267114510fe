//! [`PassportAuth::trusting`]: a resource server that trusts one issuer by
//! its URL, in one line.

use std::fmt;
use std::sync::Arc;

use passport_claims::SystemClock;
use passport_dpop::{DpopPolicy, DpopVerifier};
use passport_remote::{RemoteKeys, RemoteKeysBuilder};
use passport_status::{RefresherOptions, StatusListSource, StatusRefresher};
use passport_verifier::{KeyStore, VerificationPolicy, Verifier};

use crate::{AuthError, PassportAuth, PassportAuthBuilder};

type Adjust<T> = Box<dyn FnOnce(T) -> T + Send>;

/// What [`PassportAuth::trusting`] started: the remote key store and the
/// status-list refresher, for their health. They run as long as the
/// [`PassportAuth`] (or a clone, or a layer taken from it) lives.
#[derive(Clone)]
pub struct Trust {
    keys: RemoteKeys,
    status: StatusRefresher,
}

impl fmt::Debug for Trust {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Trust").finish_non_exhaustive()
    }
}

impl Trust {
    /// The issuer's keys: [`RemoteKeys::health`] tells when they were last
    /// fetched and whether they are stale or failed closed.
    pub fn keys(&self) -> &RemoteKeys {
        &self.keys
    }

    /// The status lists: [`StatusRefresher::health`] per list.
    pub fn status(&self) -> &StatusRefresher {
        &self.status
    }

    /// Whether every trusted issuer's keys are usable and fresh and every
    /// watched status list is held and unexpired.
    pub fn is_healthy(&self) -> bool {
        self.keys
            .health()
            .iter()
            .all(|h| !h.stale && !h.failed_closed)
            && self.status.is_healthy()
    }
}

/// Configures a [`PassportAuth`] that trusts one issuer by URL; see
/// [`PassportAuth::trusting`].
#[must_use]
pub struct TrustingBuilder {
    issuer: String,
    resource: Option<String>,
    status_base: Option<String>,
    dpop: bool,
    keys: Adjust<RemoteKeysBuilder>,
    status: Adjust<RefresherOptions>,
    policy: Adjust<VerificationPolicy>,
    auth: Adjust<PassportAuthBuilder>,
}

impl fmt::Debug for TrustingBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TrustingBuilder")
            .field("issuer", &self.issuer)
            .field("resource", &self.resource)
            .field("status_base", &self.status_base)
            .field("dpop", &self.dpop)
            .finish_non_exhaustive()
    }
}

impl TrustingBuilder {
    pub(crate) fn new(issuer: impl Into<String>) -> TrustingBuilder {
        TrustingBuilder {
            issuer: issuer.into(),
            resource: None,
            status_base: None,
            dpop: true,
            keys: Box::new(|b| b),
            status: Box::new(|o| o),
            policy: Box::new(|p| p),
            auth: Box::new(|b| b),
        }
    }

    /// This server's resource URL (required): the audience its passports
    /// must name exactly, and the `resource` of its RFC 9728 metadata.
    pub fn resource(mut self, resource: impl Into<String>) -> Self {
        self.resource = Some(resource.into());
        self
    }

    /// The URI prefix under which the issuer publishes its status lists
    /// (default: the issuer URL itself). A passport naming a list outside
    /// it is refused. It must be https when the issuer is (plain http only
    /// for an issuer on a loopback host, [`passport_status::check_status_url`]):
    /// [`TrustingBuilder::build`] refuses it otherwise (`insecure_url`),
    /// before any request.
    pub fn status_base(mut self, base: impl Into<String>) -> Self {
        self.status_base = Some(base.into());
        self
    }

    /// Refuses the `DPoP` scheme, so DPoP-bound passports are refused too
    /// (default: bearer and DPoP-bound passports are both accepted, each
    /// under its own rules).
    pub fn bearer_only(mut self) -> Self {
        self.dpop = false;
        self
    }

    /// Adjusts the remote key store (cache bounds, cooldown, clock, HTTP
    /// client); the issuer is already trusted.
    pub fn configure_keys(
        mut self,
        adjust: impl FnOnce(RemoteKeysBuilder) -> RemoteKeysBuilder + Send + 'static,
    ) -> Self {
        self.keys = Box::new(adjust);
        self
    }

    /// Adjusts the status-list refresher (lists to fetch before the first
    /// request, timing).
    pub fn configure_status(
        mut self,
        adjust: impl FnOnce(RefresherOptions) -> RefresherOptions + Send + 'static,
    ) -> Self {
        self.status = Box::new(adjust);
        self
    }

    /// Adjusts the verification policy (assurance floors, a required scope,
    /// lifetimes); it starts as `VerificationPolicy::new(issuer, resource)`.
    pub fn policy(
        mut self,
        adjust: impl FnOnce(VerificationPolicy) -> VerificationPolicy + Send + 'static,
    ) -> Self {
        self.policy = Box::new(adjust);
        self
    }

    /// Adjusts the layer's builder (scopes supported, resource name, proof
    /// of possession required, …) before it is built.
    pub fn configure(
        mut self,
        adjust: impl FnOnce(PassportAuthBuilder) -> PassportAuthBuilder + Send + 'static,
    ) -> Self {
        self.auth = Box::new(adjust);
        self
    }

    /// Fetches the issuer's metadata and keys (failing if they cannot be
    /// fetched: a server must not start trusting half an issuer), starts the
    /// background key and status-list refreshers, and builds the
    /// [`PassportAuth`]. Needs a tokio runtime. A status base its issuer's
    /// lists may not be fetched from is refused first (`insecure_url`).
    pub async fn build(self) -> Result<PassportAuth, AuthError> {
        let resource = self.resource.ok_or_else(|| {
            AuthError::InvalidConfig(
                "`resource` is required: the URL this server's passports name as their audience"
                    .into(),
            )
        })?;
        let untrusted = |e: passport_status::StatusError| AuthError::TrustUnavailable {
            code: e.code(),
            source: Box::new(e),
        };
        let base = self.status_base.unwrap_or_else(|| self.issuer.clone());
        passport_status::check_status_url(&self.issuer, &base).map_err(untrusted)?;
        let keys = (self.keys)(RemoteKeys::builder().trust_issuer(self.issuer.clone()))
            .build()
            .await
            .map_err(|e| AuthError::TrustUnavailable {
                code: e.code(),
                source: Box::new(e),
            })?;
        let store: Arc<dyn KeyStore> = Arc::new(keys.clone());
        let source = StatusListSource::new(Arc::clone(&store))
            .trust_issuer(&self.issuer, base)
            .map_err(untrusted)?;
        let status =
            StatusRefresher::start(Arc::new(source), (self.status)(RefresherOptions::default()))
                .await
                .map_err(untrusted)?;
        let policy = (self.policy)(VerificationPolicy::new(&self.issuer, &resource));
        let verifier = Verifier::with_key_store(policy, store)
            .map_err(|e| AuthError::InvalidConfig(format!("verification policy: {e}")))?
            .with_status_source(Arc::new(status.clone()));
        let mut builder = PassportAuth::builder(Arc::new(verifier))
            .resource(resource)
            .authorization_servers([self.issuer])
            .refetch(keys.clone())
            .refetch(status.clone());
        if self.dpop {
            builder = builder.dpop(DpopVerifier::new(
                DpopPolicy::default(),
                Arc::new(SystemClock),
            ));
        }
        let mut builder = (self.auth)(builder);
        builder.trust = Some(Trust { keys, status });
        builder.build()
    }
}
