//! The token service: [`Server`] (its state and configuration), built by
//! [`ServerBuilder`], answering over HTTP through [`Server::router`] or
//! [`Server::serve`].

use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};

use passport_claims::{Clock, ScopeSet, SystemClock};
use passport_dpop::DpopVerifier;
use passport_jose::JoseError;
use passport_oidc::Provider;
use passport_store::StoreError;
use passport_store::server::{ClientKind, Database, NewClient};

use crate::active_cache::{ActiveCache, EpochGate};
use crate::client_auth::ClientSecret;
use crate::client_metadata::{ClientMetadataFetcher, Resolver, SystemResolver};
use crate::endpoints::clients::ClientSettings;
use crate::governance::policy::PolicyHandle;
pub use crate::governance::policy::{DEFAULT_POLICY_RELOAD_INTERVAL, PolicyError, PolicyStatus};
use crate::key_reloads::{FORCED_READ_LIMIT, FORCED_RELOAD_SPACING, KeyReloads};
use crate::keys::{KEY_RELOAD_INTERVAL, KeySet, KeySetConfig, ScheduledKey};
use crate::metadata::{Issuer, MetadataError};
use crate::rate_limit::{RateLimit, RateLimiter};
use crate::status_pool::StatusPool;

/// The default lifetime of a passport minted by `client_credentials`, in
/// seconds (15 minutes).
pub const DEFAULT_PASSPORT_TTL: u64 = 15 * 60;
/// The default lifetime of a refresh token, in seconds (24 hours). Each
/// use rotates it: the successor lives this long again from its issue, so
/// a family left unused this long dies.
pub const DEFAULT_REFRESH_TTL: u64 = 24 * 60 * 60;
/// The default longest life of a refresh grant, in seconds (30 days):
/// however often its tokens rotate, none outlives the grant's start by
/// more; the principal then logs in again.
pub const DEFAULT_REFRESH_GRANT_MAX_LIFETIME: u64 = 30 * 24 * 60 * 60;
/// The default `ttl` of a status list (how long a client may cache it), in
/// seconds.
pub const DEFAULT_STATUS_TTL: u64 = 60;
/// The default per-client and per-address limit on `/token`: a burst of 60,
/// then 20 requests a second.
pub const DEFAULT_TOKEN_RATE: RateLimit = RateLimit {
    burst: 60,
    per_second: 20.0,
};
/// The default per-address limit on `/authorize`, its login callback and
/// its consent form (one authorization is three requests): a burst of 30,
/// then one request a second.
pub const DEFAULT_AUTHORIZE_RATE: RateLimit = RateLimit {
    burst: 30,
    per_second: 1.0,
};
/// The default per-client and per-address limit on `/introspect`: a burst
/// of 2,000, then 1,000 requests a second — room for a resource server
/// that introspects on every call it serves (raise it for more; the load
/// run of docs/performance.md sets its own).
pub const DEFAULT_INTROSPECTION_RATE: RateLimit = RateLimit {
    burst: 2_000,
    per_second: 1_000.0,
};
/// The default per-client and per-address limit on `/revoke`: a burst of
/// 200, then 50 requests a second (its own buckets: introspecting never
/// spends a client's revocations).
pub const DEFAULT_REVOCATION_RATE: RateLimit = RateLimit {
    burst: 200,
    per_second: 50.0,
};
/// The default per-address limit on `/register`: a burst of 10, then one
/// registration a minute.
pub const DEFAULT_REGISTRATION_RATE: RateLimit = RateLimit {
    burst: 10,
    per_second: 1.0 / 60.0,
};
/// The default limit on the administrators' actions, per administrator
/// (its upstream principal), from the admin API and the dashboard alike
/// (every action that changes the governance state: kill-switch engages
/// and lifts, revocations, approvers' decisions, identity changes; not a
/// logout): a burst of 60, then one a second. Far above what an operator
/// sends by hand; a script engaging more switches than that at once is
/// answered 429 with `Retry-After` (review S15-3: nothing bounded the
/// engages one operator sent). An administrator's kill-switch engages
/// have a bucket of their own at this rate, beside the one of its other
/// actions: those never use up its emergency stop (review S15c-2).
pub const DEFAULT_ADMIN_RATE: RateLimit = RateLimit {
    burst: 60,
    per_second: 1.0,
};
/// How long a request may take by default, its body and any upstream call
/// included (30 seconds).
pub const DEFAULT_REQUEST_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);
/// The most connections [`Server::serve`] serves at once (4,096); more wait
/// in the listener's backlog until one ends. Keep it below the process's
/// open-file limit, less a few hundred for the database and outbound
/// calls ([`ServerBuilder::max_connections`]).
pub const DEFAULT_MAX_CONNECTIONS: usize = 4096;
/// The most connections [`Server::serve`] serves at once from one client
/// address (an IPv4 address, an IPv6 /64), trusted proxies and loopback
/// excepted (256);
/// more are closed as they are accepted
/// ([`ServerBuilder::max_connections_per_address`]).
pub const DEFAULT_MAX_CONNECTIONS_PER_ADDRESS: usize = 256;
/// How long [`Server::shutdown`] waits for the actions and revocations
/// still running on tasks of their own to end (30 seconds): past it, what
/// remains is logged (at error level, by what each does) and the shutdown
/// goes on.
pub const SHUTDOWN_GRACE: std::time::Duration = std::time::Duration::from_secs(30);
/// How much longer than the request deadline [`Server::serve`] waits for
/// the open connections after its shutdown signal.
const DRAIN_MARGIN: std::time::Duration = std::time::Duration::from_secs(1);

/// The longest [`Server::serve`] waits for the open connections after its
/// shutdown signal, whatever the request deadline (review S15e-4: a
/// deadline of `Duration::MAX` made the drain unbounded again).
const MAX_DRAIN: std::time::Duration = std::time::Duration::from_secs(300);

/// What beginning the shutdown touches ([`Server::begin_shutdown`]): the
/// places among the running actions, closed, and the streams' signal.
struct Closer {
    places: Arc<tokio::sync::Semaphore>,
    closing: tokio::sync::watch::Sender<bool>,
}

impl Closer {
    fn close(&self) {
        self.places.close();
        self.closing.send_replace(true);
    }
}
/// How many rate-limit buckets are kept in memory.
const MAX_RATE_KEYS: usize = 100_000;

/// Why the server could not start or an operator action failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServerError {
    /// The issuer identifier is not acceptable.
    #[error(transparent)]
    Issuer(#[from] MetadataError),
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A key could not be generated, parsed or used.
    #[error(transparent)]
    Key(#[from] JoseError),
    /// No signing key could be established (instances kept racing).
    #[error("no current signing key could be established in the database")]
    NoSigningKey,
    /// A workload client's owner is empty or too long.
    #[error("a workload client's owner must be 1 to 256 characters without controls")]
    InvalidOwner,
    /// A workload client's scopes are not valid scope patterns.
    #[error("invalid scope for a workload client: {0}")]
    InvalidScope(String),
    /// Auto-consent was asked for on a listener that is not loopback only.
    #[error("auto-consent is refused on {0}, which is not a loopback address")]
    AutoConsentNotLoopback(SocketAddr),
    /// Binding or serving the listening socket failed.
    #[error("cannot serve: {0}")]
    Io(#[from] std::io::Error),
    /// The governance policy file is refused.
    #[error("the policy file is refused: {0}")]
    Policy(#[from] PolicyError),
}

passport_jose::error_codes! {
    ServerError {
        ServerError::NoSigningKey => "server_no_signing_key":
            "The token service could not establish a current signing key in its database.",
        ServerError::InvalidOwner => "workload_owner_invalid":
            "A workload client is registered without a valid owner (1 to 256 characters, no controls).",
        ServerError::InvalidScope(_) => "workload_scope_invalid":
            "A workload client is registered with scopes that are not valid scope patterns.",
        ServerError::AutoConsentNotLoopback(_) => "auto_consent_not_loopback":
            "Auto-consent (authorization without a consent page) is refused unless the server listens on loopback only.",
        ServerError::Io(_) => "server_io":
            "The token service could not bind or serve its listening socket.",
    }
    wraps {
        ServerError::Issuer(e) => e.code(),
        ServerError::Store(e) => e.code(),
        ServerError::Key(e) => e.code(),
        ServerError::Policy(e) => e.code(),
    }
}

/// A workload client just registered: its id, and its secret, shown once.
/// `Debug` never prints the secret.
#[derive(Clone)]
#[non_exhaustive]
pub struct WorkloadClient {
    /// The `client_id`.
    pub client_id: String,
    /// The secret (256 random bits, base64url); the database keeps only its
    /// hash.
    pub secret: ClientSecret,
}

impl std::fmt::Debug for WorkloadClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WorkloadClient")
            .field("client_id", &self.client_id)
            .finish_non_exhaustive()
    }
}

/// Configures a [`Server`].
#[must_use]
pub struct ServerBuilder {
    issuer: String,
    database: Database,
    clock: Arc<dyn Clock>,
    token_rate: RateLimit,
    introspection_rate: RateLimit,
    revocation_rate: RateLimit,
    admin_rate: RateLimit,
    dpop_nonces: bool,
    passport_ttl: u64,
    refresh_ttl: u64,
    refresh_grant_max_lifetime: u64,
    status_ttl: u64,
    max_depth: usize,
    upstream: Option<Arc<Provider>>,
    request_timeout: std::time::Duration,
    max_connections: usize,
    max_connections_per_address: usize,
    authorize_rate: RateLimit,
    auto_consent: bool,
    clients: ClientOptions,
    policy_file: Option<std::path::PathBuf>,
    policy_reload_interval: std::time::Duration,
    admin_roles: Option<String>,
    addresses: crate::client_address::AddressRules,
}

/// The builder's client options (registration, metadata documents).
struct ClientOptions {
    registration: bool,
    registration_scopes: String,
    registration_rate: RateLimit,
    resolver: Arc<dyn Resolver>,
    metadata_test_mode: bool,
}

impl Default for ClientOptions {
    fn default() -> ClientOptions {
        ClientOptions {
            registration: true,
            registration_scopes: String::new(),
            registration_rate: DEFAULT_REGISTRATION_RATE,
            resolver: Arc::new(SystemResolver),
            metadata_test_mode: false,
        }
    }
}

impl std::fmt::Debug for ServerBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerBuilder")
            .field("issuer", &self.issuer)
            .field("database", &self.database.backend_name())
            .finish_non_exhaustive()
    }
}

impl ServerBuilder {
    /// Trusts `proxies` (reverse proxies, by address or network) to name
    /// the address a request comes from in `X-Forwarded-For`, for every
    /// per-address limit (see [`crate::client_address`]). Default: none —
    /// a request's address is its connection's, whatever it sends. Name
    /// only the proxies' own addresses: a client that can connect from a
    /// trusted address chooses the address it is limited by.
    ///
    /// ```
    /// # async fn run(db: passport_store::server::Database) -> Result<(), Box<dyn std::error::Error>> {
    /// use passport_server::Server;
    /// use passport_server::client_address::TrustedProxy;
    ///
    /// let lb: TrustedProxy = "10.0.0.0/8".parse()?;
    /// let server = Server::builder("https://passport.example", db)
    ///     .trusted_proxies([lb])
    ///     .build()
    ///     .await?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn trusted_proxies(
        mut self,
        proxies: impl IntoIterator<Item = crate::client_address::TrustedProxy>,
    ) -> ServerBuilder {
        self.addresses.proxies = proxies.into_iter().collect();
        self
    }

    /// Reads an address in one of `prefixes` (NAT64 translators' prefixes,
    /// RFC 6052) as the IPv4 client it carries, for every per-address
    /// limit: behind a translator in front of an IPv6-only server, each
    /// IPv4 client then has its own limits (see
    /// [`crate::client_address`]). The well-known `64:ff9b::/96` is always
    /// read so. Default: no other.
    pub fn nat64_prefixes(
        mut self,
        prefixes: impl IntoIterator<Item = crate::client_address::Nat64Prefix>,
    ) -> ServerBuilder {
        self.addresses.nat64 = prefixes.into_iter().collect();
        self
    }

    /// Uses `clock` instead of the system clock (tests).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> ServerBuilder {
        self.clock = clock;
        self
    }

    /// The per-client and per-address limit on `/token`
    /// (default [`DEFAULT_TOKEN_RATE`]).
    pub fn token_rate_limit(mut self, limit: RateLimit) -> ServerBuilder {
        self.token_rate = limit;
        self
    }

    /// The per-client and per-address limit on `/introspect`
    /// (default [`DEFAULT_INTROSPECTION_RATE`]).
    pub fn introspection_rate_limit(mut self, limit: RateLimit) -> ServerBuilder {
        self.introspection_rate = limit;
        self
    }

    /// The per-client and per-address limit on `/revoke`
    /// (default [`DEFAULT_REVOCATION_RATE`]).
    pub fn revocation_rate_limit(mut self, limit: RateLimit) -> ServerBuilder {
        self.revocation_rate = limit;
        self
    }

    /// The per-administrator limit on the administrators' actions, from
    /// the admin API and the dashboard alike (default
    /// [`DEFAULT_ADMIN_RATE`]; a logout is never limited). Applied to two
    /// buckets per administrator: its kill-switch engages, and its other
    /// actions.
    pub fn admin_rate_limit(mut self, limit: RateLimit) -> ServerBuilder {
        self.admin_rate = limit;
        self
    }

    /// Requires RFC 9449 §8 server nonces in the DPoP proofs sent to
    /// `/token` (default off). A proof without a current nonce is refused
    /// with `use_dpop_nonce` and a `DPoP-Nonce` header; every `/token`
    /// answer carries a fresh one. Nonces are derived from the time and a
    /// secret kept in the database, so every instance on one database
    /// accepts the others' without writing anything per request.
    pub fn dpop_nonces(mut self, required: bool) -> ServerBuilder {
        self.dpop_nonces = required;
        self
    }

    /// The lifetime of the passports `client_credentials` mints, in seconds
    /// (default [`DEFAULT_PASSPORT_TTL`]).
    pub fn passport_ttl(mut self, seconds: u64) -> ServerBuilder {
        self.passport_ttl = seconds;
        self
    }

    /// The lifetime of a refresh token, in seconds (default
    /// [`DEFAULT_REFRESH_TTL`], 24 hours), counted from its issue: each
    /// refresh rotates the token and the successor gets this lifetime anew.
    pub fn refresh_ttl(mut self, seconds: u64) -> ServerBuilder {
        self.refresh_ttl = seconds.max(1);
        self
    }

    /// The longest a refresh grant lives, in seconds, counted from the
    /// authorization that started it (default
    /// [`DEFAULT_REFRESH_GRANT_MAX_LIFETIME`], 30 days): every refresh
    /// token of the family expires by then, however often it is rotated,
    /// and a refresh past it is `invalid_grant` — the principal, who was
    /// authenticated upstream once at the start, logs in again.
    pub fn refresh_grant_max_lifetime(mut self, seconds: u64) -> ServerBuilder {
        self.refresh_grant_max_lifetime = seconds.max(1);
        self
    }

    /// The status lists' `ttl` and `Cache-Control: max-age`, in seconds
    /// (default [`DEFAULT_STATUS_TTL`]).
    pub fn status_ttl(mut self, seconds: u64) -> ServerBuilder {
        self.status_ttl = seconds.max(1);
        self
    }

    /// The longest bundle token exchange may build (default
    /// `passport_verifier::DEFAULT_MAX_DEPTH`; at most
    /// `passport_claims::MAX_BUNDLE_LINKS`, the longest bundle anyone can
    /// parse — which also keeps every chain within the kill-switch's walk
    /// up the registry, 64 links).
    pub fn max_depth(mut self, links: usize) -> ServerBuilder {
        self.max_depth = links.min(passport_claims::MAX_BUNDLE_LINKS);
        self
    }

    /// How long a request may take once its head is read, to its answer,
    /// its body and any upstream call included (default
    /// [`DEFAULT_REQUEST_TIMEOUT`]); past it, 408 and the connection
    /// closes. [`Server::serve`] gives the head the same time (capped at
    /// 5 minutes), from when it starts reading it, and closes a connection
    /// whose writes make no progress for that long (its client reads
    /// nothing). At least one millisecond.
    pub fn request_timeout(mut self, timeout: std::time::Duration) -> ServerBuilder {
        self.request_timeout = timeout.max(std::time::Duration::from_millis(1));
        self
    }

    /// The most connections [`Server::serve`] serves at once (default
    /// [`DEFAULT_MAX_CONNECTIONS`]); at the bound none is accepted until
    /// one ends (they wait in the listener's backlog). At least one. Where
    /// the system tells the process's open-file limit (Linux), `serve`
    /// lowers the bound to that limit less 256, with a warning in the log
    /// (review R16b-2: past the limit every accept fails, and the database
    /// with it).
    pub fn max_connections(mut self, connections: usize) -> ServerBuilder {
        self.max_connections = connections.max(1);
        self
    }

    /// The most connections [`Server::serve`] serves at once from one
    /// client address — an IPv4 address (an IPv4-mapped or NAT64 one
    /// read as the IPv4 address it carries) or an IPv6 /64 — (default
    /// [`DEFAULT_MAX_CONNECTIONS_PER_ADDRESS`]); one more is closed as it
    /// is accepted (review R16b-1: one address could take every place).
    /// The [`trusted proxies`](ServerBuilder::trusted_proxies) and loopback
    /// addresses are held to none: their clients share their address (on
    /// the default loopback-only deployment every client is local). At
    /// least one. Raise it for many clients behind one NAT address.
    pub fn max_connections_per_address(mut self, connections: usize) -> ServerBuilder {
        self.max_connections_per_address = connections.max(1);
        self
    }

    /// The upstream OpenID provider principals log in at (the `CSP_*`
    /// configuration of `passport serve`): `/authorize` sends them there,
    /// and token exchange accepts its ID tokens as subject tokens. Without
    /// one, neither is offered.
    pub fn upstream(mut self, provider: Provider) -> ServerBuilder {
        self.upstream = Some(Arc::new(provider));
        self
    }

    /// Test and demo support, not API (hidden, may change): the
    /// administrators' role mapping as the TOML of a policy file's
    /// `[administrators]` table (`claim = "roles"` and `[roles]`), until
    /// the policy file gives it.
    ///
    /// # Errors
    /// The TOML error when the text is not such a table.
    #[doc(hidden)]
    pub fn admin_role_mapping(self, toml_text: &str) -> Result<ServerBuilder, toml::de::Error> {
        let _: crate::governance::roles::RoleMapping = toml::from_str(toml_text)?;
        Ok(self.admin_roles(toml_text))
    }

    /// The per-address limit on `/authorize`, its login callback and its
    /// consent form (default [`DEFAULT_AUTHORIZE_RATE`]).
    pub fn authorize_rate_limit(mut self, limit: RateLimit) -> ServerBuilder {
        self.authorize_rate = limit;
        self
    }

    /// Skips the consent page: once the principal has logged in upstream,
    /// `/authorize` issues the code at once (for tests and demos) — for a
    /// client an operator registered, or to a redirect URI on a loopback IP
    /// literal; a client that registered itself (a metadata document,
    /// dynamic registration) with any other redirect URI still gets the
    /// consent page, since it could name an attacker's. Anyone who can make
    /// a logged-in browser open an authorization URL then gets a code for
    /// any operator-registered client, so [`Server::serve`] refuses it
    /// unless its listener is on a loopback address
    /// ([`ServerError::AutoConsentNotLoopback`]), and `passport serve
    /// --auto-consent` refuses a non-loopback `--listen`. Whoever serves
    /// [`Server::router`] some other way must make the same check.
    pub fn auto_consent(mut self, skip_consent: bool) -> ServerBuilder {
        self.auto_consent = skip_consent;
        self
    }

    /// Whether `/register` (RFC 7591 dynamic registration, open to anyone)
    /// is served and advertised. Default on: MCP clients that cannot use a
    /// client ID metadata document register themselves. A client
    /// registered there may use `authorization_code` and `refresh_token`
    /// only, and be granted at most [`ServerBuilder::registration_scopes`].
    pub fn registration(mut self, open: bool) -> ServerBuilder {
        self.clients.registration = open;
        self
    }

    /// The scopes (space-separated patterns) a client nobody vouches for —
    /// registered at `/register`, or described by a client ID metadata
    /// document — may be granted at most, each authorization with the
    /// principal's consent. Such a client is registered with all of these
    /// whatever its `scope` asked (RFC 7591 §2 lets the server decide, and
    /// its answer says which): an MCP client registers with its first scope
    /// and steps up to others later. RFC 6749 scope tokens only
    /// ([`ServerError::InvalidScope`] otherwise). Default none: such a
    /// client is granted nothing until the operator says what strangers may
    /// ask a person to consent to.
    pub fn registration_scopes(mut self, scopes: &str) -> ServerBuilder {
        self.clients.registration_scopes = scopes.to_owned();
        self
    }

    /// The per-address limit on `/register` (default
    /// [`DEFAULT_REGISTRATION_RATE`]).
    pub fn registration_rate_limit(mut self, limit: RateLimit) -> ServerBuilder {
        self.clients.registration_rate = limit;
        self
    }

    /// The resolver client ID metadata documents and `jwks_uri`s are looked
    /// up with (default the system's): tests inject one, so that no test
    /// sends traffic to a private range.
    pub fn client_metadata_resolver(mut self, resolver: Arc<dyn Resolver>) -> ServerBuilder {
        self.clients.resolver = resolver;
        self
    }

    /// **Test mode** for client ID metadata documents: `http` URLs on
    /// loopback addresses, and loopback addresses, are fetched too
    /// ([`ClientMetadataFetcher::dangerous_test_mode`]). For tests and local
    /// demos, never for a server others reach.
    pub fn dangerous_client_metadata_test_mode(mut self) -> ServerBuilder {
        self.clients.metadata_test_mode = true;
        self
    }

    /// Governs issuance with the policy file `path` (TOML: environments
    /// with their TTL caps, audiences, grants and approval; the
    /// administrators' role mapping). It is read by
    /// [`build`](ServerBuilder::build), which refuses a bad file
    /// ([`ServerError::Policy`], naming the file, the line when known and
    /// the rule), and read again whenever its modification time or size
    /// changes: a bad new file keeps the running policy and is reported by
    /// [`Server::policy_status`]. Without a policy file nothing is governed.
    pub fn policy_file(mut self, path: impl Into<std::path::PathBuf>) -> ServerBuilder {
        self.policy_file = Some(path.into());
        self
    }

    /// How often the policy file is checked for a change (default
    /// [`DEFAULT_POLICY_RELOAD_INTERVAL`], 2 seconds; at least 10 ms).
    pub fn policy_reload_interval(mut self, interval: std::time::Duration) -> ServerBuilder {
        self.policy_reload_interval = interval.max(std::time::Duration::from_millis(10));
        self
    }

    /// Test support, not API (hidden, may change): the administrators'
    /// role mapping, as TOML (`claim = "roles"`, `[roles]` table: the
    /// policy file's `[administrators]`), for a server without a policy
    /// file. Refused at [`build`](ServerBuilder::build) when invalid.
    #[doc(hidden)]
    pub fn admin_roles(mut self, mapping: &str) -> ServerBuilder {
        self.admin_roles = Some(mapping.to_owned());
        self
    }

    /// Validates the issuer and loads (or, on the first start, generates and
    /// stores) the signing key, and the policy file if one is set.
    pub async fn build(self) -> Result<Server, ServerError> {
        let issuer = Issuer::new(&self.issuer)?;
        let policy = match &self.policy_file {
            Some(path) => Some(Arc::new(PolicyHandle::load(path, self.clock.clone())?)),
            None => None,
        };
        let now = self.clock.now();
        let status_uri = issuer.endpoint(STATUS_LIST_PATH);
        let records = crate::keys::load(&self.database, now).await?;
        let keys = KeySet::build(
            &records,
            now,
            &KeySetConfig {
                issuer: issuer.as_str(),
                clock: &self.clock,
                max_depth: self.max_depth,
                status_uri: &status_uri,
            },
        )?;
        let dpop =
            crate::endpoints::nonce::dpop_verifier(&self.database, &self.clock, self.dpop_nonces)
                .await?;
        let limiter = RateLimiter::new(self.token_rate, MAX_RATE_KEYS, self.clock.clone());
        let authorize_limiter =
            RateLimiter::new(self.authorize_rate, MAX_RATE_KEYS, self.clock.clone());
        let introspection_limiter =
            RateLimiter::new(self.introspection_rate, MAX_RATE_KEYS, self.clock.clone());
        let revocation_limiter =
            RateLimiter::new(self.revocation_rate, MAX_RATE_KEYS, self.clock.clone());
        let admin_limiter = RateLimiter::new(self.admin_rate, MAX_RATE_KEYS, self.clock.clone());
        let admin_roles = self
            .admin_roles
            .as_deref()
            .map(toml::from_str::<crate::governance::roles::RoleMapping>)
            .transpose()
            .map_err(|e| ServerError::InvalidScope(format!("administrators' roles: {e}")))?
            .map(Arc::new);
        let c = self.clients;
        let open_scopes = ScopeSet::parse(c.registration_scopes.split_ascii_whitespace())
            .map_err(|e| ServerError::InvalidScope(e.to_string()))?;
        // granted through OAuth parameters: RFC 6749 scope tokens only
        if let Some(bad) = open_scopes
            .iter()
            .find(|p| !passport_claims::scope::is_oauth_scope(p.as_str()))
        {
            return Err(ServerError::InvalidScope(format!(
                "{:?} is not an RFC 6749 scope token",
                bad.as_str()
            )));
        }
        let mut fetcher = ClientMetadataFetcher::new(c.resolver, self.clock.clone());
        if c.metadata_test_mode {
            fetcher = fetcher.dangerous_test_mode();
        }
        let clients = ClientSettings::new(
            c.registration,
            open_scopes,
            RateLimiter::new(c.registration_rate, MAX_RATE_KEYS, self.clock.clone()),
            fetcher,
        );
        let reload_interval = self.policy_reload_interval;
        let server = Server {
            inner: Arc::new(Inner {
                status_pool: StatusPool::new(&status_uri),
                status_uri,
                issuer,
                db: self.database,
                clock: self.clock,
                keys: RwLock::new(Arc::new(keys)),
                next_key_reload: AtomicI64::new(now.saturating_add(KEY_RELOAD_INTERVAL)),
                key_reloads: KeyReloads::default(),
                active: ActiveCache::default(),
                epoch: EpochGate::default(),
                dpop,
                limiter,
                introspection_limiter,
                revocation_limiter,
                passport_ttl: self.passport_ttl,
                refresh_ttl: self.refresh_ttl,
                refresh_grant_max_lifetime: self.refresh_grant_max_lifetime,
                status_ttl: self.status_ttl,
                max_depth: self.max_depth,
                upstream: self.upstream,
                request_timeout: self.request_timeout,
                max_connections: self.max_connections,
                max_connections_per_address: self.max_connections_per_address,
                addresses: self.addresses,
                authorize_limiter,
                auto_consent: self.auto_consent,
                authorizations: crate::endpoints::authorize::PendingAuthorizations::new(
                    crate::endpoints::authorize::MAX_PENDING,
                    "authorizations",
                ),
                admin_actions: Arc::new(tokio::sync::Semaphore::new(
                    crate::governance::MAX_RUNNING_ACTIONS,
                )),
                running: Arc::default(),
                closing: tokio::sync::watch::Sender::new(false),
                admin_limiter,
                admin_limited: Default::default(),
                switch_revocations: Default::default(),
                clients,
                policy,
                admin_roles,
                audit: crate::governance::audit::AuditLog::new().map_err(|e| {
                    ServerError::Store(StoreError::RandomUnavailable(e.to_string()))
                })?,
                events: Default::default(),
                status_list: Default::default(),
                admin_logins: crate::endpoints::admin_session::PendingAdminLogins::new(
                    crate::endpoints::admin_session::MAX_PENDING,
                    "administrator logins",
                ),
            }),
        };
        // each reload audited in the server's trail
        crate::governance::policy::watch(&server, reload_interval);
        Ok(server)
    }
}

/// The path of the one status list this version publishes.
pub(crate) const STATUS_LIST_PATH: &str = "/status/1";

pub(crate) struct Inner {
    pub(crate) issuer: Issuer,
    pub(crate) db: Database,
    pub(crate) clock: Arc<dyn Clock>,
    /// The issuer, verifiers and JWKS of the database's keys, swapped whole
    /// when they change.
    keys: RwLock<Arc<KeySet>>,
    /// When the keys are read again (Unix seconds).
    next_key_reload: AtomicI64,
    /// The reloads of the keys, one at a time (every swap of `keys` is
    /// made by one).
    key_reloads: KeyReloads,
    /// Status indices taken from the database by blocks.
    pub(crate) status_pool: StatusPool,
    /// Passports introspection found active, per revocation epoch.
    pub(crate) active: ActiveCache,
    /// Reads of the registry's revocation epoch, shared by concurrent
    /// introspections.
    pub(crate) epoch: EpochGate,
    pub(crate) dpop: DpopVerifier,
    pub(crate) limiter: RateLimiter,
    /// `/introspect`'s buckets.
    pub(crate) introspection_limiter: RateLimiter,
    /// `/revoke`'s buckets.
    pub(crate) revocation_limiter: RateLimiter,
    pub(crate) passport_ttl: u64,
    pub(crate) refresh_ttl: u64,
    /// The longest life of a refresh family, from its start.
    pub(crate) refresh_grant_max_lifetime: u64,
    pub(crate) status_ttl: u64,
    pub(crate) max_depth: usize,
    pub(crate) status_uri: String,
    /// The provider principals log in at, if configured.
    pub(crate) upstream: Option<Arc<Provider>>,
    /// The longest a request may take (the `deadline` layer).
    pub(crate) request_timeout: std::time::Duration,
    /// The most connections [`Server::serve`] serves at once.
    pub(crate) max_connections: usize,
    /// The most from one client address.
    pub(crate) max_connections_per_address: usize,
    /// The reverse proxies whose `X-Forwarded-For` names a request's
    /// address, and the NAT64 prefixes (see [`crate::client_address`]).
    pub(crate) addresses: crate::client_address::AddressRules,
    /// The per-address limit of `/authorize` and its follow-ups.
    pub(crate) authorize_limiter: RateLimiter,
    /// Approve right after the upstream login (loopback only).
    pub(crate) auto_consent: bool,
    /// Authorizations between `/authorize` and the code (this instance's).
    pub(crate) authorizations: crate::endpoints::authorize::PendingAuthorizations,
    /// Administrators' actions running to their end
    /// ([`crate::governance::to_completion`]): at most
    /// [`crate::governance::MAX_RUNNING_ACTIONS`] at once.
    /// Closed by [`Server::shutdown`]: no action starts after.
    pub(crate) admin_actions: Arc<tokio::sync::Semaphore>,
    /// The actions and revocations running to their end on tasks of their
    /// own ([`crate::governance::spawn_to_end`]), which
    /// [`Server::shutdown`] waits for.
    pub(crate) running: Arc<crate::governance::Running>,
    /// Set once the server shuts down ([`Server::serve`]'s signal, or
    /// [`Server::shutdown`]): what serves a connection without end (the
    /// dashboard's event stream) ends then.
    pub(crate) closing: tokio::sync::watch::Sender<bool>,
    /// The administrators' buckets ([`ServerBuilder::admin_rate_limit`]):
    /// two each, its engages' and its other actions'.
    pub(crate) admin_limiter: RateLimiter,
    /// The administrators refused by it whose refusal is recorded and who
    /// have had no action accepted since
    /// ([`crate::governance::to_completion`]).
    pub(crate) admin_limited: crate::governance::Limited,
    /// The kill-switches whose revocation is waiting for a place or
    /// running (`kill_switch::engage`): an engage of one queues none.
    pub(crate) switch_revocations: crate::governance::kill_switch::Revoking,
    /// Registration, metadata documents, open clients' scopes.
    pub(crate) clients: ClientSettings,
    /// The governance policy in force, if a policy file is set.
    pub(crate) policy: Option<Arc<PolicyHandle>>,
    /// The administrators' roles set by [`ServerBuilder::admin_roles`].
    pub(crate) admin_roles: Option<Arc<crate::governance::roles::RoleMapping>>,
    /// This process's audit chain (governance::audit).
    pub(crate) audit: crate::governance::audit::AuditLog,
    /// The signed status list kept between requests.
    pub(crate) status_list: crate::endpoints::published::StatusListCache,
    /// Registry changes, for the dashboard's server-sent events.
    pub(crate) events: crate::governance::events::Events,
    /// Administrators' logins between `/admin/login` and the callback.
    pub(crate) admin_logins: crate::endpoints::admin_session::PendingAdminLogins,
}

/// The token service (SPEC §7): its issuer, database, signing key and
/// limits. Cheap to clone (one `Arc`).
///
/// ```no_run
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// use passport_server::Server;
/// use passport_store::server::Database;
///
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
/// let issuer = format!("http://{}", listener.local_addr()?);
/// let db = Database::open("/var/lib/passport/server.db", 1_700_000_000).await?;
/// let server = Server::builder(&issuer, db).build().await?;
/// let workload = server.register_workload_client("alice", "files:read").await?;
/// println!("{}", workload.client_id);
/// server.serve(listener, std::future::pending()).await?;
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct Server {
    pub(crate) inner: Arc<Inner>,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("issuer", &self.inner.issuer.as_str())
            .field("kid", &self.kid())
            .finish_non_exhaustive()
    }
}

impl Server {
    /// A server named `issuer` (its RFC 8414 issuer identifier: `https`, or
    /// `http` on a loopback address) keeping its state in `database`.
    pub fn builder(issuer: &str, database: Database) -> ServerBuilder {
        ServerBuilder {
            issuer: issuer.to_owned(),
            database,
            clock: Arc::new(SystemClock),
            token_rate: DEFAULT_TOKEN_RATE,
            introspection_rate: DEFAULT_INTROSPECTION_RATE,
            revocation_rate: DEFAULT_REVOCATION_RATE,
            admin_rate: DEFAULT_ADMIN_RATE,
            dpop_nonces: false,
            passport_ttl: DEFAULT_PASSPORT_TTL,
            refresh_ttl: DEFAULT_REFRESH_TTL,
            refresh_grant_max_lifetime: DEFAULT_REFRESH_GRANT_MAX_LIFETIME,
            status_ttl: DEFAULT_STATUS_TTL,
            max_depth: passport_verifier::DEFAULT_MAX_DEPTH,
            upstream: None,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            max_connections_per_address: DEFAULT_MAX_CONNECTIONS_PER_ADDRESS,
            authorize_rate: DEFAULT_AUTHORIZE_RATE,
            auto_consent: false,
            clients: ClientOptions::default(),
            policy_file: None,
            policy_reload_interval: DEFAULT_POLICY_RELOAD_INTERVAL,
            admin_roles: None,
            addresses: crate::client_address::AddressRules::default(),
        }
    }

    /// The issuer identifier.
    pub fn issuer(&self) -> &str {
        self.inner.issuer.as_str()
    }

    /// The `kid` of the key it signs with now.
    pub fn kid(&self) -> String {
        self.keys().kid().to_owned()
    }

    /// Schedules a rotation of the signing key (for every instance on the
    /// database, see [`crate::rotate_signing_key`]) and publishes the new
    /// key at once on this instance; it signs once its time has come.
    pub async fn rotate_signing_key(&self) -> Result<ScheduledKey, ServerError> {
        let scheduled =
            crate::keys::rotate_signing_key(&self.inner.db, self.inner.clock.now()).await?;
        self.inner.key_reloads.in_turn(self.reload_keys()).await?;
        Ok(scheduled)
    }

    /// What it signs and verifies with now.
    pub(crate) fn keys(&self) -> Arc<KeySet> {
        Arc::clone(
            &self
                .inner
                .keys
                .read()
                .unwrap_or_else(PoisonError::into_inner),
        )
    }

    /// Reads the database's keys again (promoting a next key whose time
    /// has come) and swaps in a new key set if they changed. Only run
    /// through `key_reloads` (one at a time: an older read never
    /// overwrites a newer one's keys).
    async fn reload_keys(&self) -> Result<(), ServerError> {
        let inner = &self.inner;
        let now = inner.clock.now();
        let records = crate::keys::load(&inner.db, now).await?;
        if self.keys().fingerprint == crate::keys::fingerprint(&records, now) {
            return Ok(());
        }
        let keys = KeySet::build(
            &records,
            now,
            &KeySetConfig {
                issuer: inner.issuer.as_str(),
                clock: &inner.clock,
                max_depth: inner.max_depth,
                status_uri: &inner.status_uri,
            },
        )?;
        tracing::info!(kid = %keys.kid(), "signing keys reloaded");
        *inner.keys.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(keys);
        Ok(())
    }

    /// Reloads the keys if [`KEY_RELOAD_INTERVAL`] has passed since the
    /// last reload (one request does it; the others go on with the keys
    /// they have). Never waits: while another reload runs it skips. A
    /// failure, or a read longer than [`FORCED_READ_LIMIT`], is logged;
    /// the keys in memory stay in use.
    pub(crate) async fn reload_keys_if_due(&self) {
        let inner = &self.inner;
        let now = inner.clock.now();
        if inner.next_key_reload.load(Ordering::Relaxed) > now {
            return;
        }
        // checked again once the turn is taken: another may have just
        // reloaded
        let due = || inner.next_key_reload.load(Ordering::Relaxed) <= now;
        let reload = async { self.reload_keys_logged().await.is_ok() };
        inner
            .key_reloads
            .unless_running(due, FORCED_READ_LIMIT, reload)
            .await;
    }

    /// For a caller that met a `kid` it does not know (a key another
    /// instance may just have promoted): whether the keys were read by a
    /// reload that *began after this call* — never a reload already
    /// running or just finished, which may predate the promotion. `false`
    /// when that read failed (the keys in memory may lack one the database
    /// has): the caller cannot tell and answers 503.
    ///
    /// The caller waits for the running reload, then for the next, which
    /// it runs or shares with every caller that queued meanwhile: one
    /// reload at a time. Forced reloads still begin at least
    /// [`FORCED_RELOAD_SPACING`] (1 s) apart, so tokens with made-up
    /// `kid`s cannot turn each request into a database read; but the
    /// caller waits for its turn rather than taking an older read. The
    /// price is latency, not correctness: under such a flood, or within a
    /// second of another forced reload, the caller waits for the running
    /// read, the spacing and its own read; a turn or a read that takes
    /// longer than [`FORCED_READ_LIMIT`] (5 s) is `false` (503).
    pub(crate) async fn reload_keys_for_unknown_kid(&self) -> bool {
        let server = self.clone();
        let reload = async move { server.reload_keys_logged().await.is_ok() };
        self.inner
            .key_reloads
            .current(FORCED_RELOAD_SPACING, FORCED_READ_LIMIT, reload)
            .await
    }

    /// [`Server::reload_keys`], its failure logged, and the next periodic
    /// reload scheduled.
    async fn reload_keys_logged(&self) -> Result<(), ServerError> {
        let inner = &self.inner;
        inner.next_key_reload.store(
            inner.clock.now().saturating_add(KEY_RELOAD_INTERVAL),
            Ordering::Relaxed,
        );
        let reloaded = self.reload_keys().await;
        if let Err(e) = &reloaded {
            tracing::warn!(error = %e, "the signing keys could not be reloaded");
        }
        reloaded
    }

    /// The policy in force: its file, version, when it was loaded, and why
    /// the last reload failed if it did; `None` without a policy file.
    pub fn policy_status(&self) -> Option<PolicyStatus> {
        self.inner.policy.as_ref().map(|p| p.status())
    }

    /// Reads the policy file now, changed or not (an operator's reload,
    /// and tests), with the effect of a change seen by the periodic check;
    /// the status after. `None` without a policy file.
    pub async fn reload_policy_now(&self) -> Option<PolicyStatus> {
        crate::governance::policy::reload_now(self).await
    }

    /// The database.
    pub fn database(&self) -> &Database {
        &self.inner.db
    }

    /// Registers a workload client acting for `owner` (the principal of the
    /// passports it obtains with `client_credentials`) that may be granted
    /// `scopes` (space-separated scope patterns). Its secret is returned
    /// once; the database keeps its SHA-256 (`client_auth::SecretHash`). It authenticates with
    /// `client_secret_basic` or `client_secret_post`, and may use
    /// `client_credentials` and token exchange.
    pub async fn register_workload_client(
        &self,
        owner: &str,
        scopes: &str,
    ) -> Result<WorkloadClient, ServerError> {
        if owner.is_empty() || owner.len() > 256 || owner.chars().any(char::is_control) {
            return Err(ServerError::InvalidOwner);
        }
        let parsed = ScopeSet::parse(scopes.split_ascii_whitespace())
            .map_err(|e| ServerError::InvalidScope(e.to_string()))?;
        if parsed.is_empty() {
            return Err(ServerError::InvalidScope("no scope".into()));
        }
        let canonical: Vec<&str> = parsed.iter().map(|p| p.as_str()).collect();
        let (secret, hash) = ClientSecret::generate()
            .map_err(|e| ServerError::Store(StoreError::RandomUnavailable(e.to_string())))?;
        let client_id = format!("workload-{}", random_id()?);
        self.inner
            .db
            .insert_client(NewClient {
                client_id: client_id.clone(),
                kind: ClientKind::Workload,
                secret_hash: Some(hash.to_b64()),
                auth_method: "client_secret_basic".into(),
                redirect_uris: Vec::new(),
                grant_types: vec![
                    "client_credentials".into(),
                    crate::token_request::TOKEN_EXCHANGE.into(),
                ],
                scopes: canonical.join(" "),
                owner: Some(owner.to_owned()),
                jwks: None,
                metadata: "{}".into(),
                created_at: self.inner.clock.now(),
            })
            .await?;
        Ok(WorkloadClient { client_id, secret })
    }

    /// The HTTP endpoints. Serve it with connection information
    /// (`into_make_service_with_connect_info::<SocketAddr>()`, or a
    /// [`ConnectInfo`](axum::extract::ConnectInfo) in each request's
    /// extensions, as [`Server::serve`] does) so that `/token` limits each
    /// address; without it every request counts against one shared address
    /// bucket. The request deadline starts once a request's head is read
    /// and does not cover sending the answer: serving it yourself, bound
    /// the head (hyper's `header_read_timeout`, which needs a timer;
    /// `axum::serve` sets none), writes that make no progress, and the
    /// number of connections too — or prefer [`Server::serve`], which
    /// does.
    pub fn router(&self) -> axum::Router {
        crate::endpoints::router(self.clone())
    }

    /// Serves [`Server::router`] over HTTP/1.1 on `listener` until
    /// `shutdown` completes, at most [`ServerBuilder::max_connections`]
    /// connections at once and
    /// [`ServerBuilder::max_connections_per_address`] from one address.
    /// Each request's head must arrive within the
    /// request deadline ([`ServerBuilder::request_timeout`], at most 5
    /// minutes), from when the server starts reading it: a connection
    /// that sends half a head, or nothing, or stays idle between requests
    /// that long, is closed (session 16: heads were read with no time
    /// limit) — a proxy or client pool in front should close idle
    /// connections sooner. A connection whose writes make no progress for
    /// that long (its client reads nothing) is closed too (review R16-1;
    /// a client reading a little at a time is not). Limit: the next
    /// head's time starts once an answer is handed to hyper, not once it
    /// is sent, so an answer that takes longer than the deadline to reach
    /// its client is cut (review R16-3). Then it shuts down gracefully:
    /// once `shutdown` completes no
    /// administrator's action starts (answered 503), the dashboards' event
    /// streams end, no connection is accepted, and the open connections'
    /// requests are answered — for at most the request deadline (capped at
    /// 5 minutes) and a second more, within which every request whose head
    /// was read before the signal is answered when the deadline is not
    /// capped; a connection still open then (a head that
    /// was still arriving, an answer being sent) is aborted (review
    /// S15c-1: the drain had no bound; S15d-3: such a connection kept
    /// running in the caller's runtime). [`Server::shutdown`]
    /// then waits (at most [`SHUTDOWN_GRACE`]) for what was handed over to
    /// tasks of its own — an action past its request's deadline, a
    /// kill-switch's revocation, a reused refresh token's or code's
    /// revocation — before this returns. The caller may then drop its
    /// runtime.
    pub async fn serve(
        self,
        listener: tokio::net::TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), ServerError> {
        if self.inner.auto_consent {
            let local = listener.local_addr()?;
            if !local.ip().is_loopback() {
                return Err(ServerError::AutoConsentNotLoopback(local));
            }
        }
        // the signal holds what it closes, not the server (review S15e-3)
        let closer = self.closer();
        let signal = async move {
            // the shutdown begins when `shutdown` completes, and also if it
            // panics (review S15d-5: the drain then started with nothing
            // closed and no bound); not when the future is merely dropped
            // unfinished (review S15e-5)
            let ended =
                futures_util::FutureExt::catch_unwind(std::panic::AssertUnwindSafe(shutdown)).await;
            if ended.is_err() {
                tracing::error!("the shutdown signal panicked: shutting down");
            }
            closer.close();
        };
        // both bounded whatever the deadline (a deadline of Duration::MAX
        // means none: review S15d-4, S15e-4)
        let limits = crate::connections::Limits {
            head: self.inner.request_timeout.min(MAX_DRAIN),
            connections: self.inner.max_connections,
            per_address: self.inner.max_connections_per_address,
            rules: self.inner.addresses.clone(),
            exempt_loopback: true,
            drain: self
                .inner
                .request_timeout
                .min(MAX_DRAIN)
                .saturating_add(DRAIN_MARGIN),
        };
        crate::connections::serve(listener, self.router(), limits, signal).await;
        // what was handed over runs to its end
        self.shutdown().await;
        Ok(())
    }

    /// Begins the shutdown, at once: no administrator's action starts from
    /// now on (503 `temporarily_unavailable`, nothing done) and the
    /// dashboards' event streams end, so a graceful drain of the
    /// connections can end. An embedder serving [`Server::router`] with
    /// its own graceful shutdown calls it when its shutdown signal comes
    /// (review S15d-2: an open dashboard otherwise held its drain without
    /// bound), then [`Server::shutdown`] once the connections have ended.
    /// [`Server::serve`] does both. Calling it again changes nothing.
    pub fn begin_shutdown(&self) {
        self.closer().close();
    }

    fn closer(&self) -> Closer {
        Closer {
            places: Arc::clone(&self.inner.admin_actions),
            closing: self.inner.closing.clone(),
        }
    }

    /// Ends the server's own work, for an embedder serving
    /// [`Server::router`] itself (and [`Server::serve`], which calls it):
    /// from the call on, no administrator's action starts (each is
    /// answered 503 `temporarily_unavailable`, nothing done, including one
    /// waiting for a place); then it waits, at most [`SHUTDOWN_GRACE`],
    /// for the tasks the server handed work to — actions past their request's
    /// deadline, kill-switches' revocations (which no longer wait for a
    /// place), reused refresh tokens' and codes' revocations — and logs
    /// (at error level) what is still running then. Call it once the
    /// listener has stopped and the connections have ended (a token
    /// request served after it may start a revocation it does not wait
    /// for), before dropping the runtime: a task the runtime drops stops
    /// at its next await, its action half done. Calling it again waits
    /// again. Returns how many tasks were still running (0: all ended).
    pub async fn shutdown(&self) -> usize {
        self.begin_shutdown();
        let running = &self.inner.running;
        if tokio::time::timeout(SHUTDOWN_GRACE, running.all_ended())
            .await
            .is_ok()
        {
            return 0;
        }
        let unfinished = running.unfinished();
        tracing::error!(
            ?unfinished,
            "shutting down with {} task(s) still running: what each did is in the state \
             and the audit trail as far as it got",
            unfinished.len()
        );
        unfinished.len()
    }
}

/// 256 random bits, base64url: codes, refresh tokens, login state.
pub(crate) fn random_token() -> Result<String, getrandom::Error> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)?;
    Ok(passport_jose::b64::encode(bytes))
}

/// 128 random bits, base64url.
pub(crate) fn random_id() -> Result<String, ServerError> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes)
        .map_err(|e| ServerError::Store(StoreError::RandomUnavailable(e.to_string())))?;
    Ok(passport_jose::b64::encode(bytes))
}
